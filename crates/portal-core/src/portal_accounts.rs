//! Portal accounts and their grants (seed 003: patients, contacts and designated users can hold
//! accounts; one account reaches every patient it has been given access to), the signed-in
//! portal user, the links sent by e-mail, and the facts a person states to be recognised.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, Duration};

use crate::access::AccessError;
use crate::events::{LinkPurpose, Relation};
use crate::fields::FieldErrors;
use crate::ids::PatientId;
use crate::patient::{DateOfBirth, Email, InvalidValue, ZipCode, parse_iso_date, text_type};
use crate::username::Username;

/// The id of a portal account: a random UUID like every id that appears in a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortalAccountId(String);

impl PortalAccountId {
    pub fn parse(raw: &str) -> Result<Self, crate::ids::InvalidId> {
        // The shape check of the other ids, reused through one of them.
        PatientId::parse(raw).map(|p| Self(p.into_string()))
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PortalAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PortalAccountId {
    type Error = crate::ids::InvalidId;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<PortalAccountId> for String {
    fn from(v: PortalAccountId) -> String {
        v.0
    }
}

/// Parses a relation typed in a form or sent in the API.
pub fn parse_relation(raw: &str) -> Result<Relation, InvalidValue> {
    Relation::parse(raw).ok_or(InvalidValue::NotOneOf { allowed: "self, guardian, guarantor, other" })
}

/// A part of the portal a grant may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    Messages,
    Requests,
    Documents,
    Appointments,
    Billing,
}

impl GrantScope {
    pub const ALL: [GrantScope; 5] =
        [Self::Messages, Self::Requests, Self::Documents, Self::Appointments, Self::Billing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Requests => "requests",
            Self::Documents => "documents",
            Self::Appointments => "appointments",
            Self::Billing => "billing",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Messages => "Secure messages",
            Self::Requests => "Requests",
            Self::Documents => "Documents and forms",
            Self::Appointments => "Appointments",
            Self::Billing => "Billing and payments",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == t)
            .ok_or(InvalidValue::NotOneOf { allowed: "messages, requests, documents, appointments, billing" })
    }
}

/// The parts a grant covers: a non-empty set, all five unless staff chose fewer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GrantScopes(Vec<GrantScope>);

impl Default for GrantScopes {
    fn default() -> Self {
        Self::all()
    }
}

impl GrantScopes {
    pub fn all() -> Self {
        Self(GrantScope::ALL.to_vec())
    }

    /// `None` (not given) means every part; an empty list is refused, since a grant to nothing
    /// is a revocation and has its own action.
    pub fn parse(raw: Option<&[String]>) -> Result<Self, InvalidValue> {
        let Some(raw) = raw else { return Ok(Self::all()) };
        let mut v = Vec::new();
        for r in raw {
            let s = GrantScope::parse(r)?;
            if !v.contains(&s) {
                v.push(s);
            }
        }
        if v.is_empty() {
            return Err(InvalidValue::Missing);
        }
        v.sort();
        Ok(Self(v))
    }

    /// The stored form: names joined by commas, in a fixed order.
    pub fn to_stored(&self) -> String {
        self.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Reads the stored form; unknown names (a newer version's scope) are ignored rather than
    /// widening the grant.
    pub fn from_stored(raw: &str) -> Self {
        let mut v: Vec<GrantScope> = raw.split(',').filter_map(|s| GrantScope::parse(s).ok()).collect();
        v.sort();
        v.dedup();
        Self(v)
    }

    pub fn covers(&self, s: GrantScope) -> bool {
        self.0.contains(&s)
    }

    pub fn as_slice(&self) -> &[GrantScope] {
        &self.0
    }
}

/// Why a grant's end date was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantEndRefused {
    #[error("must be a date written as YYYY-MM-DD")]
    Format,
    #[error("cannot be in the past")]
    InThePast,
}

/// A grant's last day (inclusive, UTC): today or later.
pub fn parse_grant_end(raw: &str, today: Date) -> Result<Date, GrantEndRefused> {
    let d = parse_iso_date(raw.trim()).ok_or(GrantEndRefused::Format)?;
    if d < today { Err(GrantEndRefused::InThePast) } else { Ok(d) }
}

/// Is a grant in force on `today`? Not revoked, and not past its end date (the end date is the
/// last day of access, in UTC).
pub fn grant_in_force(revoked: bool, ends_on: Option<Date>, today: Date) -> bool {
    !revoked && ends_on.is_none_or(|d| today <= d)
}

/// One patient a portal user may reach, as loaded for the current request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalGrant {
    pub grant_id: String,
    pub patient_id: PatientId,
    pub relation: Relation,
    pub scopes: GrantScopes,
    pub ends_on: Option<Date>,
}

/// A signed-in portal user, loaded fresh at the start of every request with the grants in force
/// at that moment: a grant revoked (or a patient's access disabled) a moment ago is already gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalPrincipal {
    pub account_id: PortalAccountId,
    pub username: Username,
    pub email: Email,
    /// Set when staff chose the password at the desk (seed 002, method 2): until the user picks
    /// their own, no patient's record opens.
    pub must_change_password: bool,
    pub grants: Vec<PortalGrant>,
}

impl PortalPrincipal {
    pub fn patient_ids(&self) -> impl Iterator<Item = &PatientId> {
        self.grants.iter().map(|g| &g.patient_id)
    }

    /// The grant for `patient`, or `NotFound` (a patient one holds no grant for answers exactly
    /// like a missing one).
    pub fn grant_for(&self, patient: &PatientId) -> Result<&PortalGrant, AccessError> {
        self.grants.iter().find(|g| &g.patient_id == patient).ok_or(AccessError::NotFound)
    }

    /// May this user use `scope` of `patient`'s portal now? Deny by default.
    pub fn require(&self, patient: &PatientId, scope: GrantScope) -> Result<&PortalGrant, AccessError> {
        if self.must_change_password {
            return Err(AccessError::Forbidden { needs: "a password of your own (choose a new password first)" });
        }
        let g = self.grant_for(patient)?;
        if g.scopes.covers(scope) { Ok(g) } else { Err(AccessError::Forbidden { needs: scope_permission_name(scope) }) }
    }
}

fn scope_permission_name(s: GrantScope) -> &'static str {
    match s {
        GrantScope::Messages => "access to this patient's messages",
        GrantScope::Requests => "access to this patient's requests",
        GrantScope::Documents => "access to this patient's documents",
        GrantScope::Appointments => "access to this patient's appointments",
        GrantScope::Billing => "access to this patient's billing",
    }
}

/// How long a link sent by e-mail stays usable (SECURITY.md): invitations 24 h, resets 1 h,
/// e-mail confirmations (registration, e-mail change) 24 h.
pub fn link_lifetime(p: LinkPurpose) -> Duration {
    match p {
        LinkPurpose::Invitation => Duration::hours(24),
        LinkPurpose::Reset => Duration::hours(1),
        LinkPurpose::Registration | LinkPurpose::EmailChange => Duration::hours(24),
    }
}

/// Reads a stored link purpose.
pub fn parse_link_purpose(raw: &str) -> Option<LinkPurpose> {
    [LinkPurpose::Invitation, LinkPurpose::Reset, LinkPurpose::Registration, LinkPurpose::EmailChange]
        .into_iter()
        .find(|p| p.as_str() == raw)
}

/// Seeds 003 and 004: shown to staff before any grant is made.
pub const GRANT_PHI_WARNING: &str = "A portal invitation grants the recipient access to the patient's protected \
     health information. Only invite people who are authorized to see it, and verify that only they can read the \
     e-mail address the invitation goes to.";

/// Why an invitation or a grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum InviteRefused {
    /// Seed 000: while the portal is off no invitation can be sent.
    #[error("the portal is turned off: no invitation can be sent until it is turned on in the instance settings")]
    PortalOff,
    #[error("enable the patient's portal access before inviting anyone to it")]
    AccessNotEnabled,
    /// Access is enabled but the record lost what the portal needs (the status is red).
    #[error("{missing}")]
    PatientRecordIncomplete { missing: crate::portal_access::EnableRefused },
    #[error("the {whom} has no e-mail address on file")]
    NoEmail { whom: &'static str },
    /// Seeds 003, 004: a grant shows the patient's health information to its holder.
    #[error("confirm that the recipient is authorized to see the patient's health information")]
    PhiWarningNotAcknowledged,
    #[error("only the patient can hold the relation \"self\"")]
    SelfIsForThePatient,
    #[error("an emergency contact is not given portal access by that role alone: choose guardian, guarantor or other")]
    RelationNeeded,
    #[error("this portal account is deactivated")]
    AccountInactive,
    #[error("the patient already holds a portal account of their own")]
    PatientHasAccount,
}

/// Decides the relation of a grant made for a contact: from the contact's kind unless staff
/// chose one; an emergency contact needs an explicit choice (its role alone grants nothing).
pub fn relation_for_contact(
    kind: crate::patient::ContactKind,
    chosen: Option<Relation>,
) -> Result<Relation, InviteRefused> {
    use crate::patient::ContactKind;
    match (chosen, kind) {
        (Some(Relation::Myself), _) => Err(InviteRefused::SelfIsForThePatient),
        (Some(r), _) => Ok(r),
        (None, ContactKind::Guardian) => Ok(Relation::Guardian),
        (None, ContactKind::Guarantor) => Ok(Relation::Guarantor),
        (None, ContactKind::Other) => Ok(Relation::Other),
        (None, ContactKind::Emergency) => Err(InviteRefused::RelationNeeded),
    }
}

text_type!(
    /// The message staff may attach to an invitation with intake forms (seed 003). Shown in the
    /// portal, never in the e-mail (no PHI in e-mails).
    InvitationMessage,
    2000,
    crate::patient::Lines::Many
);

/// What a person states to be recognised as a patient (seed 002: e-mail address, last name,
/// date of birth and ZIP code, "all of which must match the corresponding information on file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityClaim {
    pub email: Email,
    /// Trimmed and lowercased.
    pub last_name: String,
    pub date_of_birth: Date,
    /// The first five digits.
    pub zip5: String,
}

/// The same facts as the record holds them.
#[derive(Debug, Clone, Copy)]
pub struct IdentityOnFile<'a> {
    pub email: Option<&'a str>,
    pub last_name: &'a str,
    pub date_of_birth: Date,
    pub zip: Option<&'a str>,
}

impl IdentityClaim {
    /// Parses the four facts; each bad one is reported on its field (the format of what was
    /// typed, which says nothing about any record).
    pub fn parse(
        email: &str,
        last_name: &str,
        date_of_birth: &str,
        zip: &str,
        today: Date,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(email));
        let last = errors.check("last_name", crate::patient::PersonName::parse(last_name));
        let dob = errors.check("date_of_birth", DateOfBirth::parse(date_of_birth, today));
        let zip = errors.check("zip", ZipCode::parse(zip));
        match (email, last, dob, zip) {
            (Some(email), Some(last), Some(dob), Some(zip)) if errors.is_empty() => Ok(Self {
                email,
                last_name: last.as_str().to_lowercase(),
                date_of_birth: dob.date(),
                zip5: zip.five_digits().to_owned(),
            }),
            _ => Err(errors),
        }
    }

    /// Every fact must match: e-mail and last name ignoring case and surrounding spaces, the
    /// date of birth exactly, the ZIP code on its first five digits.
    pub fn matches(&self, r: &IdentityOnFile<'_>) -> bool {
        let email_ok = r.email.is_some_and(|e| e.trim().eq_ignore_ascii_case(self.email.as_str()));
        let last_ok = r.last_name.trim().to_lowercase() == self.last_name;
        let zip_ok = r.zip.is_some_and(|z| z.trim().get(..5) == Some(self.zip5.as_str()));
        email_ok && last_ok && zip_ok && r.date_of_birth == self.date_of_birth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient::ContactKind;
    use time::macros::date;

    fn principal(scopes: GrantScopes, must_change: bool) -> PortalPrincipal {
        PortalPrincipal {
            account_id: PortalAccountId::from_trusted("a".into()),
            username: Username::from_trusted("ann".into()),
            email: Email::from_trusted("ann@example.org".into()),
            must_change_password: must_change,
            grants: vec![PortalGrant {
                grant_id: "g".into(),
                patient_id: PatientId::from_trusted("p1".into()),
                relation: Relation::Guardian,
                scopes,
                ends_on: None,
            }],
        }
    }

    #[test]
    fn a_principal_reaches_only_its_patients_and_scopes() {
        let p = principal(GrantScopes::parse(Some(&["messages".into()])).unwrap(), false);
        let p1 = PatientId::from_trusted("p1".into());
        let p2 = PatientId::from_trusted("p2".into());
        assert!(p.require(&p1, GrantScope::Messages).is_ok());
        assert!(matches!(p.require(&p1, GrantScope::Billing), Err(AccessError::Forbidden { .. })));
        assert_eq!(p.require(&p2, GrantScope::Messages), Err(AccessError::NotFound));
    }

    #[test]
    fn a_temporary_password_opens_nothing() {
        let p = principal(GrantScopes::all(), true);
        let p1 = PatientId::from_trusted("p1".into());
        assert!(matches!(p.require(&p1, GrantScope::Messages), Err(AccessError::Forbidden { .. })));
    }

    #[test]
    fn scopes_parse_store_and_refuse_empty() {
        assert_eq!(GrantScopes::parse(None).unwrap(), GrantScopes::all());
        let s = GrantScopes::parse(Some(&["billing".into(), "messages".into(), "billing".into()])).unwrap();
        assert_eq!(s.to_stored(), "messages,billing");
        assert_eq!(GrantScopes::from_stored(&s.to_stored()), s);
        assert_eq!(GrantScopes::parse(Some(&[])), Err(InvalidValue::Missing));
        assert!(GrantScopes::parse(Some(&["everything".into()])).is_err());
        assert!(!GrantScopes::from_stored("messages,teleport").covers(GrantScope::Billing));
    }

    #[test]
    fn grants_end_after_their_last_day_or_when_revoked() {
        let today = date!(2026 - 11 - 22);
        assert!(grant_in_force(false, None, today));
        assert!(grant_in_force(false, Some(today), today));
        assert!(!grant_in_force(false, Some(date!(2026 - 11 - 21)), today));
        assert!(!grant_in_force(true, None, today));
        assert_eq!(parse_grant_end("2026-11-21", today), Err(GrantEndRefused::InThePast));
        assert_eq!(parse_grant_end("21/11/2026", today), Err(GrantEndRefused::Format));
        assert_eq!(parse_grant_end("2027-01-01", today), Ok(date!(2027 - 01 - 01)));
    }

    #[test]
    fn link_lifetimes_follow_the_baseline() {
        assert_eq!(link_lifetime(LinkPurpose::Invitation), Duration::hours(24));
        assert_eq!(link_lifetime(LinkPurpose::Reset), Duration::hours(1));
        assert_eq!(link_lifetime(LinkPurpose::EmailChange), Duration::hours(24));
        for p in [LinkPurpose::Invitation, LinkPurpose::Reset, LinkPurpose::Registration, LinkPurpose::EmailChange] {
            assert_eq!(parse_link_purpose(p.as_str()), Some(p));
        }
        assert_eq!(parse_link_purpose("login"), None);
    }

    #[test]
    fn contact_relations() {
        assert_eq!(relation_for_contact(ContactKind::Guardian, None), Ok(Relation::Guardian));
        assert_eq!(relation_for_contact(ContactKind::Emergency, None), Err(InviteRefused::RelationNeeded));
        assert_eq!(relation_for_contact(ContactKind::Emergency, Some(Relation::Other)), Ok(Relation::Other));
        assert_eq!(
            relation_for_contact(ContactKind::Guardian, Some(Relation::Myself)),
            Err(InviteRefused::SelfIsForThePatient)
        );
    }

    #[test]
    fn identity_claims_match_only_on_every_fact() {
        let today = date!(2026 - 11 - 22);
        let c = IdentityClaim::parse(" Ann@Example.org ", " lee ", "1980-01-15", "02139-4307", today).unwrap();
        let on_file = IdentityOnFile {
            email: Some("ann@example.org"),
            last_name: "Lee",
            date_of_birth: date!(1980 - 01 - 15),
            zip: Some("02139"),
        };
        assert!(c.matches(&on_file));
        assert!(!c.matches(&IdentityOnFile { email: Some("bob@example.org"), ..on_file }));
        assert!(!c.matches(&IdentityOnFile { last_name: "Leigh", ..on_file }));
        assert!(!c.matches(&IdentityOnFile { date_of_birth: date!(1980 - 01 - 16), ..on_file }));
        assert!(!c.matches(&IdentityOnFile { zip: Some("02138"), ..on_file }));
        assert!(!c.matches(&IdentityOnFile { zip: None, ..on_file }));
        assert!(!c.matches(&IdentityOnFile { email: None, ..on_file }));
        let errs = IdentityClaim::parse("x", "", "1980-13-01", "1", today).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "last_name", "date_of_birth", "zip"]);
    }

    #[test]
    fn invitation_messages() {
        assert!(InvitationMessage::parse("Please fill in\nthe forms.").is_ok());
        assert_eq!(InvitationMessage::parse("a\u{7}b"), Err(InvalidValue::BadCharacters));
        assert_eq!(InvitationMessage::parse(&"x".repeat(2001)), Err(InvalidValue::TooLong { max: 2000 }));
    }
}
