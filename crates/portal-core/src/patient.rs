//! The facts of a patient's facesheet, each parsed once. The portal relies on three of them to
//! recognise a patient (seed 002): the e-mail address, the date of birth and the home ZIP code.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, Month};

/// Why a value typed by a person was refused. The text is shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("is required")]
    Missing,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must be at least {min} characters")]
    TooShort { min: usize },
    #[error("contains characters that are not allowed")]
    BadCharacters,
    #[error("is not a valid e-mail address")]
    Email,
    #[error("must be a 5-digit ZIP code, optionally followed by -1234")]
    ZipCode,
    #[error("must be a date written as YYYY-MM-DD")]
    DateFormat,
    #[error("cannot be in the future")]
    DateInFuture,
    #[error("must be after 1900-01-01")]
    DateTooOld,
    #[error("must be a phone number of 7 to 15 digits")]
    Phone,
    #[error("must be one of: {allowed}")]
    NotOneOf { allowed: &'static str },
}

/// Whether a free text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// Names, labels, subjects: any control character is refused.
    One,
    /// Messages and notes: line breaks (normalised to `\n`) and tabs are kept.
    Many,
}

/// Trims and bounds a free-text value; refuses control characters (other than the line breaks
/// and tabs of a multi-line text), which have no place in names and would corrupt e-mail
/// headers and CSV exports. The one check behind every text type of the domain.
pub(crate) fn clean_text(raw: &str, max: usize, lines: Lines) -> Result<String, InvalidValue> {
    let normalised;
    let raw = if lines == Lines::Many && raw.contains('\r') {
        normalised = raw.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        raw
    };
    let t = raw.trim();
    if t.is_empty() {
        return Err(InvalidValue::Missing);
    }
    if t.chars().count() > max {
        return Err(InvalidValue::TooLong { max });
    }
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\t');
    if t.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(InvalidValue::BadCharacters);
    }
    Ok(t.to_owned())
}

/// A validated text newtype: `parse` (trim, not empty, at most `$max` characters, see
/// [`clean_text`]), `as_str`, `Display`, and serde through `String`. `Lines::Many` for texts that
/// keep line breaks.
macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, $max:expr) => {
        text_type!($(#[$meta])* $name, $max, $crate::patient::Lines::One);
    };
    ($(#[$meta:meta])* $name:ident, $max:expr, $lines:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, $crate::patient::InvalidValue> {
                $crate::patient::clean_text(raw, Self::MAX, $lines).map(Self)
            }

            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::patient::InvalidValue;
            fn try_from(v: String) -> Result<Self, $crate::patient::InvalidValue> {
                Self::parse(&v)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}
pub(crate) use text_type;

text_type!(
    /// A given or family name of a person.
    PersonName,
    100
);
text_type!(
    /// One line of a postal address, a city or a state.
    AddressLine,
    200
);
text_type!(
    /// A short free-text label, such as a contact's relation or a care-team role.
    ShortLabel,
    80
);

/// An e-mail address, lowercased. Deliberately simple (one `@`, a dotted domain, no spaces or
/// control characters): the confirmation e-mail is the real proof that an address works.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        if t.len() > Self::MAX {
            return Err(InvalidValue::TooLong { max: Self::MAX });
        }
        let ok_chars =
            t.chars().all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | ',' | ';' | '"'));
        let (local, domain) = t.rsplit_once('@').ok_or(InvalidValue::Email)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if !ok_chars || local.is_empty() || local.contains('@') || local.len() > 64 || !domain_ok {
            return Err(InvalidValue::Email);
        }
        Ok(Self(t.to_lowercase()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

/// A US ZIP code: five digits, or ZIP+4. Matching for self-registration compares the first five
/// digits only, since patients rarely remember the +4 the clinic typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZipCode(String);

impl ZipCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        let b = t.as_bytes();
        let five = b.len() >= 5 && b[..5].iter().all(u8::is_ascii_digit);
        let ok = five && (b.len() == 5 || (b.len() == 10 && b[5] == b'-' && b[6..].iter().all(u8::is_ascii_digit)));
        if ok { Ok(Self(t.to_owned())) } else { Err(InvalidValue::ZipCode) }
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The five-digit part used when matching a patient's own statement against the record.
    pub fn five_digits(&self) -> &str {
        &self.0[..5.min(self.0.len())]
    }
}

impl fmt::Display for ZipCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ZipCode {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<ZipCode> for String {
    fn from(v: ZipCode) -> String {
        v.0
    }
}

/// A phone number as typed (kept for display), accepted when it holds 7 to 15 digits (E.164's
/// bound) and only the usual punctuation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        let digits = t.chars().filter(char::is_ascii_digit).count();
        let allowed = t.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '+' | '.'));
        if allowed && (7..=15).contains(&digits) && t.len() <= 30 {
            Ok(Self(t.to_owned()))
        } else {
            Err(InvalidValue::Phone)
        }
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<Phone> for String {
    fn from(v: Phone) -> String {
        v.0
    }
}

/// A date of birth: an ISO date between 1900-01-01 and `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateOfBirth(Date);

impl DateOfBirth {
    pub fn parse(raw: &str, today: Date) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        let d = parse_iso_date(t).ok_or(InvalidValue::DateFormat)?;
        Self::new(d, today)
    }

    pub fn new(d: Date, today: Date) -> Result<Self, InvalidValue> {
        if d > today {
            return Err(InvalidValue::DateInFuture);
        }
        if d < time::macros::date!(1900 - 01 - 01) {
            return Err(InvalidValue::DateTooOld);
        }
        Ok(Self(d))
    }

    pub fn from_trusted(d: Date) -> Self {
        Self(d)
    }

    pub fn date(&self) -> Date {
        self.0
    }

    /// Whole years of age on `today`.
    pub fn age_on(&self, today: Date) -> i32 {
        let mut age = today.year() - self.0.year();
        if (today.month() as u8, today.day()) < (self.0.month() as u8, self.0.day()) {
            age -= 1;
        }
        age
    }
}

/// Parses `YYYY-MM-DD` strictly (no time, no offset).
pub fn parse_iso_date(t: &str) -> Option<Date> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = t[0..4].parse().ok()?;
    let month: u8 = t[5..7].parse().ok()?;
    let day: u8 = t[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// A clinic's record number ("MRN"). Made by the store for new patients; imported rosters may
/// bring their own, so it is letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordNumber(String);

impl RecordNumber {
    pub const MAX: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        if t.len() > Self::MAX {
            return Err(InvalidValue::TooLong { max: Self::MAX });
        }
        if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(InvalidValue::BadCharacters);
        }
        Ok(Self(t.to_ascii_uppercase()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RecordNumber {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<RecordNumber> for String {
    fn from(v: RecordNumber) -> String {
        v.0
    }
}

/// Whether the clinic still treats the patient. Inactive patients stay searchable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientStatus {
    Active,
    Inactive,
    Deceased,
}

impl PatientStatus {
    pub const ALL: [PatientStatus; 3] = [Self::Active, Self::Inactive, Self::Deceased];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Deceased => "deceased",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
            Self::Deceased => "Deceased",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            "deceased" => Ok(Self::Deceased),
            _ => Err(InvalidValue::NotOneOf { allowed: "active, inactive, deceased" }),
        }
    }
}

/// How a contact relates to a patient (seed 003): guardians and guarantors may later hold portal
/// access to the patient; emergency contacts never do by that role alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Guardian,
    Guarantor,
    Emergency,
    Other,
}

impl ContactKind {
    pub const ALL: [ContactKind; 4] = [Self::Guardian, Self::Guarantor, Self::Emergency, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guardian => "guardian",
            Self::Guarantor => "guarantor",
            Self::Emergency => "emergency",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Guardian => "Guardian",
            Self::Guarantor => "Guarantor",
            Self::Emergency => "Emergency contact",
            Self::Other => "Other",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "guardian" => Ok(Self::Guardian),
            "guarantor" => Ok(Self::Guarantor),
            "emergency" => Ok(Self::Emergency),
            "other" => Ok(Self::Other),
            _ => Err(InvalidValue::NotOneOf { allowed: "guardian, guarantor, emergency, other" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(Email::parse(" Ann.Lee@Example.ORG ").unwrap().as_str(), "ann.lee@example.org");
        for bad in ["", "ann", "ann@", "@x.org", "ann@x", "a b@x.org", "a@x..org", "a@b@x.org", "a\r\n@x.org"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn zip_codes() {
        assert_eq!(ZipCode::parse("02139").unwrap().five_digits(), "02139");
        assert_eq!(ZipCode::parse("02139-4307").unwrap().five_digits(), "02139");
        for bad in ["2139", "021394", "02139-43", "abcde", ""] {
            assert!(ZipCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dates_of_birth() {
        let today = date!(2026 - 11 - 21);
        assert!(DateOfBirth::parse("2010-02-28", today).is_ok());
        assert_eq!(DateOfBirth::parse("2030-01-01", today), Err(InvalidValue::DateInFuture));
        assert_eq!(DateOfBirth::parse("1850-01-01", today), Err(InvalidValue::DateTooOld));
        assert_eq!(DateOfBirth::parse("2010-02-30", today), Err(InvalidValue::DateFormat));
        assert_eq!(DateOfBirth::parse("02/03/2010", today), Err(InvalidValue::DateFormat));
        let dob = DateOfBirth::parse("2010-11-22", today).unwrap();
        assert_eq!(dob.age_on(today), 15);
    }

    #[test]
    fn names_refuse_control_characters_and_length() {
        assert!(PersonName::parse("Zoë O'Brien-Smith").is_ok());
        assert_eq!(PersonName::parse("  "), Err(InvalidValue::Missing));
        assert_eq!(PersonName::parse("a\u{0}b"), Err(InvalidValue::BadCharacters));
        assert_eq!(PersonName::parse(&"x".repeat(101)), Err(InvalidValue::TooLong { max: 100 }));
    }

    #[test]
    fn phones_and_record_numbers() {
        assert!(Phone::parse("(617) 555-0100").is_ok());
        assert!(Phone::parse("555").is_err());
        assert!(Phone::parse("call me").is_err());
        assert_eq!(RecordNumber::parse("mrn-001").unwrap().as_str(), "MRN-001");
        assert!(RecordNumber::parse("MRN 001").is_err());
    }
}

/// What a staff member typed in the patient search box, interpreted once: a date of birth
/// (`YYYY-MM-DD` or `MM/DD/YYYY`), a record number (letters, a dash and digits, such as
/// `P-001042`), or words of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientSearchText {
    Everyone,
    DateOfBirth(Date),
    RecordNumber(String),
    NameWords(Vec<String>),
}

impl PatientSearchText {
    pub fn interpret(raw: &str) -> Self {
        let t = raw.trim();
        if t.is_empty() {
            return Self::Everyone;
        }
        if let Some(d) = parse_iso_date(t).or_else(|| parse_us_date(t)) {
            return Self::DateOfBirth(d);
        }
        let record_like =
            t.chars().any(|c| c.is_ascii_digit()) && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if let (true, Ok(r)) = (record_like, RecordNumber::parse(t)) {
            return Self::RecordNumber(r.0);
        }
        let words: Vec<String> = t
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .take(5)
            .map(|w| w.chars().take(50).collect::<String>().to_lowercase())
            .collect();
        if words.is_empty() { Self::Everyone } else { Self::NameWords(words) }
    }
}

fn parse_us_date(t: &str) -> Option<Date> {
    let mut parts = t.split('/');
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    let y: i32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || y < 1000 {
        return None;
    }
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

#[cfg(test)]
mod search_tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn interprets_search_text() {
        assert_eq!(PatientSearchText::interpret("  "), PatientSearchText::Everyone);
        assert_eq!(PatientSearchText::interpret("2010-02-03"), PatientSearchText::DateOfBirth(date!(2010 - 02 - 03)));
        assert_eq!(PatientSearchText::interpret("2/3/2010"), PatientSearchText::DateOfBirth(date!(2010 - 02 - 03)));
        assert_eq!(PatientSearchText::interpret("p-001042"), PatientSearchText::RecordNumber("P-001042".into()));
        assert_eq!(
            PatientSearchText::interpret("Lee, Ann"),
            PatientSearchText::NameWords(vec!["lee".into(), "ann".into()])
        );
        assert_eq!(PatientSearchText::interpret("O'Brien"), PatientSearchText::NameWords(vec!["o'brien".into()]));
    }
}
