//! The organisation: company, locations, the "Use Portal" instance setting and its fee.

use serde::{Deserialize, Serialize};

use crate::patient::InvalidValue;

/// Seed 000: "enabling the portal will incur a monthly fee of $200 per location".
pub const PORTAL_FEE_CENTS_PER_LOCATION: i64 = 20_000;

/// The fee a clinic acknowledges when it turns the portal on, computed from its location count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortalFee {
    pub locations: i64,
    pub per_location_cents: i64,
    pub monthly_total_cents: i64,
}

impl PortalFee {
    pub fn for_locations(locations: i64) -> Self {
        Self {
            locations,
            per_location_cents: PORTAL_FEE_CENTS_PER_LOCATION,
            monthly_total_cents: PORTAL_FEE_CENTS_PER_LOCATION * locations,
        }
    }
}

/// Formats cents as US dollars ("$1,400.00").
pub fn dollars(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsePortalRefused {
    /// Turning the portal on without acknowledging the fee (seed 000, step 4).
    #[error("turning the portal on requires acknowledging the monthly fee of {fee} for {locations} location(s)")]
    FeeNotAcknowledged { fee: String, locations: i64 },
    #[error("add a location before turning the portal on")]
    NoLocations,
}

/// Checks a change of the Use Portal setting.
pub fn check_use_portal_change(turn_on: bool, acknowledged_fee: bool, fee: PortalFee) -> Result<(), UsePortalRefused> {
    if !turn_on {
        return Ok(());
    }
    if fee.locations == 0 {
        return Err(UsePortalRefused::NoLocations);
    }
    if !acknowledged_fee {
        return Err(UsePortalRefused::FeeNotAcknowledged {
            fee: dollars(fee.monthly_total_cents),
            locations: fee.locations,
        });
    }
    Ok(())
}

/// An IANA time zone name. The list is the set of zones US clinics (and their territories) use,
/// plus UTC; a zone outside it is refused with the list of choices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

pub const TIME_ZONES: &[&str] = &[
    "America/New_York",
    "America/Detroit",
    "America/Indiana/Indianapolis",
    "America/Kentucky/Louisville",
    "America/Chicago",
    "America/Indiana/Knox",
    "America/Menominee",
    "America/North_Dakota/Center",
    "America/Denver",
    "America/Boise",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Juneau",
    "America/Adak",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/St_Thomas",
    "Pacific/Guam",
    "Pacific/Pago_Pago",
    "UTC",
];

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        TIME_ZONES
            .iter()
            .find(|z| **z == t)
            .map(|z| Self((*z).to_owned()))
            .ok_or(InvalidValue::NotOneOf { allowed: "a US time zone such as America/New_York" })
    }

    pub fn from_trusted(v: String) -> Self {
        Self(v)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<TimeZoneName> for String {
    fn from(v: TimeZoneName) -> String {
        v.0
    }
}

/// An uploaded logo, accepted only when its bytes are a PNG or a JPEG (whatever the file name or
/// the declared type says) and it is at most `MAX_BYTES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoImage {
    content_type: &'static str,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoRefused {
    #[error("the logo is empty")]
    Empty,
    #[error("the logo must be at most {max_kib} KiB")]
    TooLarge { max_kib: usize },
    #[error("the logo must be a PNG or JPEG image")]
    NotAnImage,
}

impl LogoImage {
    pub const MAX_BYTES: usize = 512 * 1024;

    pub fn parse(bytes: Vec<u8>) -> Result<Self, LogoRefused> {
        if bytes.is_empty() {
            return Err(LogoRefused::Empty);
        }
        if bytes.len() > Self::MAX_BYTES {
            return Err(LogoRefused::TooLarge { max_kib: Self::MAX_BYTES / 1024 });
        }
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        let content_type = if bytes.starts_with(PNG) && bytes.len() > 24 {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) && bytes.ends_with(&[0xFF, 0xD9]) {
            "image/jpeg"
        } else {
            return Err(LogoRefused::NotAnImage);
        };
        Ok(Self { content_type, bytes })
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_and_acknowledgement() {
        let fee = PortalFee::for_locations(3);
        assert_eq!(fee.monthly_total_cents, 60_000);
        assert_eq!(dollars(fee.monthly_total_cents), "$600.00");
        assert_eq!(dollars(123_456_789), "$1,234,567.89");
        assert!(check_use_portal_change(true, false, fee).is_err());
        assert!(check_use_portal_change(true, true, fee).is_ok());
        assert!(check_use_portal_change(false, false, fee).is_ok());
        assert_eq!(
            check_use_portal_change(true, true, PortalFee::for_locations(0)),
            Err(UsePortalRefused::NoLocations)
        );
    }

    #[test]
    fn logos_are_checked_by_content() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend([0u8; 32]);
        assert_eq!(LogoImage::parse(png).unwrap().content_type(), "image/png");
        assert_eq!(
            LogoImage::parse(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xD9]).unwrap().content_type(),
            "image/jpeg"
        );
        assert_eq!(LogoImage::parse(b"<svg onload=alert(1)>".to_vec()), Err(LogoRefused::NotAnImage));
        assert_eq!(LogoImage::parse(vec![]), Err(LogoRefused::Empty));
        assert!(matches!(LogoImage::parse(vec![0; LogoImage::MAX_BYTES + 1]), Err(LogoRefused::TooLarge { .. })));
    }

    #[test]
    fn time_zones() {
        assert!(TimeZoneName::parse("America/Chicago").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }
}
