//! A patient's portal access (seed 002, "Enable Patient Portal Access" and "View Patient's Portal
//! Status"; seed 004, the Onboarding Tool): the access level staff set, the rule for enabling
//! it, the auto-enable setting, and the status colour derived from the facts on file.

use serde::{Deserialize, Serialize};

use crate::patient::InvalidValue;

/// The "Patient's Access Level" toggle of the facesheet's Patient Portal tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalAccessLevel {
    NoAccess,
    CanAccess,
}

impl PortalAccessLevel {
    pub fn from_enabled(enabled: bool) -> Self {
        if enabled { Self::CanAccess } else { Self::NoAccess }
    }

    pub fn is_enabled(self) -> bool {
        self == Self::CanAccess
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAccess => "no_access",
            Self::CanAccess => "can_access",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NoAccess => "No Access to Portal",
            Self::CanAccess => "Patient Can Access Portal",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "no_access" => Ok(Self::NoAccess),
            "can_access" => Ok(Self::CanAccess),
            _ => Err(InvalidValue::NotOneOf { allowed: "no_access, can_access" }),
        }
    }
}

/// Why portal access cannot be enabled: the facts the portal needs to recognise the patient are
/// missing (seed 002: "you will need to have a home zip code and email address on file").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum EnableRefused {
    #[error("add the patient's e-mail address before enabling portal access")]
    MissingEmail,
    #[error("add the patient's home ZIP code before enabling portal access")]
    MissingZip,
    #[error("add the patient's e-mail address and home ZIP code before enabling portal access")]
    MissingEmailAndZip,
}

/// May portal access be enabled for a patient with these facts on file?
pub fn check_enable(has_email: bool, has_zip: bool) -> Result<(), EnableRefused> {
    match (has_email, has_zip) {
        (true, true) => Ok(()),
        (false, true) => Err(EnableRefused::MissingEmail),
        (true, false) => Err(EnableRefused::MissingZip),
        (false, false) => Err(EnableRefused::MissingEmailAndZip),
    }
}

/// The auto-enable setting ("Should the patient be able to activate portal without further
/// confirmation") that applies to a location: its own override when it has one, else the
/// instance's.
pub fn effective_auto_enable(instance: bool, location_override: Option<bool>) -> bool {
    location_override.unwrap_or(instance)
}

/// Whether a patient added by staff starts with portal access: only when auto-enable applies
/// and the patient has what enabling needs. Patients who sign themselves up (electronic
/// registration) are never auto-enabled: their e-mail confirmation enables them.
pub fn access_on_creation(auto_enable: bool, has_email: bool, has_zip: bool) -> bool {
    auto_enable && check_enable(has_email, has_zip).is_ok()
}

/// The facts a patient's portal status is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalFacts {
    pub access_enabled: bool,
    pub has_email: bool,
    pub has_zip: bool,
    pub invited: bool,
    pub signed_in: bool,
}

/// The four colours of seed 004's Onboarding Tool (seed 002 shows the same as an icon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalAccessStatus {
    /// Red: access not enabled, or no e-mail, or no ZIP code on file.
    NotEnabled,
    /// Gray: access enabled, never invited.
    EnabledNotInvited,
    /// Orange: invited, never signed in.
    InvitedNotSignedIn,
    /// Green: has signed in.
    SignedIn,
}

/// Why a patient is red, for the status's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotEnabledReason {
    AccessNotEnabled,
    NoEmail,
    NoZip,
}

impl NotEnabledReason {
    pub fn words(self) -> &'static str {
        match self {
            Self::AccessNotEnabled => "Patient Portal access is not enabled",
            Self::NoEmail => "no email address on file",
            Self::NoZip => "no zip code on file",
        }
    }
}

impl PortalAccessStatus {
    pub const ALL: [PortalAccessStatus; 4] =
        [Self::NotEnabled, Self::EnabledNotInvited, Self::InvitedNotSignedIn, Self::SignedIn];

    /// Derives the status. Having signed in wins over everything but the red conditions: a
    /// patient given credentials at the desk is green after signing in without any invitation.
    pub fn derive(f: &PortalFacts) -> Self {
        if !(f.access_enabled && f.has_email && f.has_zip) {
            Self::NotEnabled
        } else if f.signed_in {
            Self::SignedIn
        } else if f.invited {
            Self::InvitedNotSignedIn
        } else {
            Self::EnabledNotInvited
        }
    }

    pub fn colour(self) -> &'static str {
        match self {
            Self::NotEnabled => "red",
            Self::EnabledNotInvited => "gray",
            Self::InvitedNotSignedIn => "orange",
            Self::SignedIn => "green",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotEnabled => "not_enabled",
            Self::EnabledNotInvited => "enabled_not_invited",
            Self::InvitedNotSignedIn => "invited_not_signed_in",
            Self::SignedIn => "signed_in",
        }
    }

    /// Accepts the status name or its colour (the Onboarding Tool filters by colour).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        Self::ALL.into_iter().find(|s| s.as_str() == t || s.colour() == t).ok_or(InvalidValue::NotOneOf {
            allowed: "red, gray, orange, green (or not_enabled, enabled_not_invited, invited_not_signed_in, signed_in)",
        })
    }

    /// The status in words (seed 004's legend).
    pub fn words(self) -> &'static str {
        match self {
            Self::NotEnabled => "Patient cannot access the Patient Portal",
            Self::EnabledNotInvited => "Patient Portal access is enabled, but no invitation has been sent",
            Self::InvitedNotSignedIn => "Patient has been invited but has never signed in to the Patient Portal",
            Self::SignedIn => "Patient is set up on the Patient Portal and has signed in",
        }
    }

    /// What staff should do, from seed 002's "Troubleshooting Patient Portal access".
    pub fn hint(self) -> &'static str {
        match self {
            Self::NotEnabled => {
                "Open the patient's information, Patient Portal tab, and make sure that \"Patient Can Access Portal\" \
                 is selected. On the basic data tab, make sure that the patient has both an email address and a zip \
                 code on file."
            }
            Self::EnabledNotInvited | Self::InvitedNotSignedIn => {
                "Send an invitation, or direct the patient to click on \"I am a registered patient. Create my Patient \
                 Portal account\" on the Patient Portal sign-in page. The patient will need to enter his or her email \
                 address, last name, date of birth, and zip code, all of which must match the information on file."
            }
            Self::SignedIn => {
                "Direct the patient to click on \"I forgot my password\" on the Patient Portal sign-in page to reset \
                 his or her password. The patient will need to enter his or her email address, last name, date of \
                 birth, and zip code, all of which must match the information on file."
            }
        }
    }
}

/// Added to every hint: seed 002's note on mismatched verification facts.
pub const MISMATCH_HINT: &str = "If the patient is told that the account could not be verified, the email address, \
     last name, date of birth or zip code entered likely differs from the information on file: check it with the \
     patient.";

/// Seed 002 and 004's privacy note, shown before enabling access or changing the e-mail address
/// of a patient whose portal access is enabled.
pub const EMAIL_PRIVACY_WARNING: &str = "Before granting access to the patient portal, verify with the patient that \
     only he or she has access to the listed email account. Anyone else with access to it could gain unauthorized \
     access to protected health information. Be very cautious when changing the email address of a patient with \
     portal access: make sure that the change is authorized and not an attempt by a third party to gain access.";

/// A status with everything a page shows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalStatusView {
    pub status: PortalAccessStatus,
    pub colour: &'static str,
    pub words: &'static str,
    /// For red: which of the three conditions hold.
    pub reasons: Vec<NotEnabledReason>,
    pub hint: &'static str,
}

impl PortalStatusView {
    pub fn of(f: &PortalFacts) -> Self {
        let status = PortalAccessStatus::derive(f);
        let mut reasons = Vec::new();
        if status == PortalAccessStatus::NotEnabled {
            if !f.access_enabled {
                reasons.push(NotEnabledReason::AccessNotEnabled);
            }
            if !f.has_email {
                reasons.push(NotEnabledReason::NoEmail);
            }
            if !f.has_zip {
                reasons.push(NotEnabledReason::NoZip);
            }
        }
        Self { status, colour: status.colour(), words: status.words(), reasons, hint: status.hint() }
    }
}

/// Why the Onboarding Tool's bulk action passed over a patient (its end-of-run summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkSkip {
    /// Unknown, or of a location the staff member cannot access.
    NotFound,
    NoEmail,
    NoZip,
    NoEmailAndZip,
    /// Inviting only, access not enabled, and auto-enable is off at the patient's location.
    AccessNotEnabled,
    /// Enabling only, and access was already enabled.
    AlreadyEnabled,
    /// The patient's own portal account is deactivated.
    AccountInactive,
}

impl BulkSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NoEmail => "no_email",
            Self::NoZip => "no_zip",
            Self::NoEmailAndZip => "no_email_and_zip",
            Self::AccessNotEnabled => "access_not_enabled",
            Self::AlreadyEnabled => "already_enabled",
            Self::AccountInactive => "account_inactive",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::NoEmail => "no email address on file",
            Self::NoZip => "no zip code on file",
            Self::NoEmailAndZip => "no email address or zip code on file",
            Self::AccessNotEnabled => "portal access not enabled (and auto-enable is off)",
            Self::AlreadyEnabled => "portal access was already enabled",
            Self::AccountInactive => "the patient's portal account is deactivated",
        }
    }
}

impl From<EnableRefused> for BulkSkip {
    fn from(e: EnableRefused) -> Self {
        match e {
            EnableRefused::MissingEmail => Self::NoEmail,
            EnableRefused::MissingZip => Self::NoZip,
            EnableRefused::MissingEmailAndZip => Self::NoEmailAndZip,
        }
    }
}

/// What the bulk action does to one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkStep {
    pub enable: bool,
    pub invite: bool,
}

/// Decides the bulk action for one patient: enable access (when asked, or when inviting and
/// auto-enable applies at the patient's location) if the record has what enabling needs; invite
/// when asked and access is (or becomes) enabled.
pub fn bulk_step(
    f: &PortalFacts,
    want_enable: bool,
    want_invite: bool,
    auto_enable: bool,
) -> Result<BulkStep, BulkSkip> {
    if !f.access_enabled {
        if want_enable || (want_invite && auto_enable) {
            check_enable(f.has_email, f.has_zip)?;
            return Ok(BulkStep { enable: true, invite: want_invite });
        }
        return Err(BulkSkip::AccessNotEnabled);
    }
    check_enable(f.has_email, f.has_zip)?;
    if want_invite { Ok(BulkStep { enable: false, invite: true }) } else { Err(BulkSkip::AlreadyEnabled) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(access_enabled: bool, has_email: bool, has_zip: bool, invited: bool, signed_in: bool) -> PortalFacts {
        PortalFacts { access_enabled, has_email, has_zip, invited, signed_in }
    }

    #[test]
    fn red_whenever_access_email_or_zip_is_missing() {
        for (a, e, z) in [(false, true, true), (true, false, true), (true, true, false), (false, false, false)] {
            for (i, s) in [(false, false), (true, false), (true, true)] {
                assert_eq!(PortalAccessStatus::derive(&facts(a, e, z, i, s)), PortalAccessStatus::NotEnabled);
            }
        }
        let v = PortalStatusView::of(&facts(false, false, true, false, false));
        assert_eq!(v.colour, "red");
        assert_eq!(v.reasons, vec![NotEnabledReason::AccessNotEnabled, NotEnabledReason::NoEmail]);
    }

    #[test]
    fn gray_orange_green() {
        assert_eq!(PortalAccessStatus::derive(&facts(true, true, true, false, false)).colour(), "gray");
        assert_eq!(PortalAccessStatus::derive(&facts(true, true, true, true, false)).colour(), "orange");
        assert_eq!(PortalAccessStatus::derive(&facts(true, true, true, true, true)).colour(), "green");
        // Credentials set at the desk: signed in without an invitation.
        assert_eq!(PortalAccessStatus::derive(&facts(true, true, true, false, true)).colour(), "green");
        assert!(PortalStatusView::of(&facts(true, true, true, false, true)).reasons.is_empty());
    }

    #[test]
    fn enabling_names_what_is_missing() {
        assert_eq!(check_enable(true, true), Ok(()));
        assert_eq!(check_enable(false, true), Err(EnableRefused::MissingEmail));
        assert_eq!(check_enable(true, false), Err(EnableRefused::MissingZip));
        assert_eq!(check_enable(false, false), Err(EnableRefused::MissingEmailAndZip));
        assert!(EnableRefused::MissingZip.to_string().contains("ZIP"));
    }

    #[test]
    fn auto_enable_follows_the_location_override() {
        assert!(effective_auto_enable(true, None));
        assert!(!effective_auto_enable(true, Some(false)));
        assert!(effective_auto_enable(false, Some(true)));
        assert!(access_on_creation(true, true, true));
        assert!(!access_on_creation(true, false, true));
        assert!(!access_on_creation(false, true, true));
    }

    #[test]
    fn statuses_parse_by_name_or_colour() {
        for s in PortalAccessStatus::ALL {
            assert_eq!(PortalAccessStatus::parse(s.as_str()), Ok(s));
            assert_eq!(PortalAccessStatus::parse(s.colour()), Ok(s));
        }
        assert!(PortalAccessStatus::parse("blue").is_err());
        assert_eq!(PortalAccessLevel::parse("can_access"), Ok(PortalAccessLevel::CanAccess));
        assert!(PortalAccessLevel::parse("yes").is_err());
    }

    #[test]
    fn bulk_steps() {
        let red = facts(false, true, true, false, false);
        assert_eq!(bulk_step(&red, true, true, false), Ok(BulkStep { enable: true, invite: true }));
        assert_eq!(bulk_step(&red, true, false, false), Ok(BulkStep { enable: true, invite: false }));
        assert_eq!(bulk_step(&red, false, true, false), Err(BulkSkip::AccessNotEnabled));
        assert_eq!(bulk_step(&red, false, true, true), Ok(BulkStep { enable: true, invite: true }));
        assert_eq!(bulk_step(&facts(false, false, true, false, false), true, true, true), Err(BulkSkip::NoEmail));
        assert_eq!(bulk_step(&facts(true, true, false, false, false), false, true, false), Err(BulkSkip::NoZip));
        let gray = facts(true, true, true, false, false);
        assert_eq!(bulk_step(&gray, true, false, false), Err(BulkSkip::AlreadyEnabled));
        assert_eq!(bulk_step(&gray, true, true, false), Ok(BulkStep { enable: false, invite: true }));
    }
}
