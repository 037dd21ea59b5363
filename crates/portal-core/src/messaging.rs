//! Secure messaging ("My Messages", seed 001): who may write to whom, about which patient, and
//! what a message may hold. Pure rules; the use cases are in portal-messaging.
//!
//! Two kinds of conversation exist. A **portal** conversation joins exactly one staff member and
//! exactly one portal user (a patient, guardian, guarantor or designated user) about one patient.
//! A **staff** conversation joins two or more staff members, optionally about a patient. The
//! participants are fixed when the conversation starts, so every message of a conversation is
//! "sent to or by" each of its participants, and nobody else ever reads it (seed 001: "regardless
//! of your user permissions": no role, Super Admin included, opens someone else's messages).

use serde::{Deserialize, Serialize};

use crate::access::StaffPrincipal;
use crate::fields::FieldErrors;
use crate::patient::{InvalidValue, text_type};
use crate::staff::{Permission, PortalPermission};

/// The kind of a conversation: the "Type" radio buttons of seed 001's New Message window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Portal,
    Staff,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "portal" => Ok(Self::Portal),
            "staff" => Ok(Self::Staff),
            _ => Err(InvalidValue::NotOneOf { allowed: "portal, staff" }),
        }
    }
}

/// Who takes part in a conversation: a staff member or a portal account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantKind {
    Staff,
    Portal,
}

impl ParticipantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Portal => "portal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "staff" => Some(Self::Staff),
            "portal" => Some(Self::Portal),
            _ => None,
        }
    }
}

/// The two sections of the inbox (seed 001, "Archive Conversations").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InboxFolder {
    #[default]
    Active,
    Archived,
}

impl InboxFolder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "" | "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            _ => Err(InvalidValue::NotOneOf { allowed: "active, archived" }),
        }
    }
}

/// The instance setting that says which staff portal users may write to (seed 001's FAQ: "users
/// with the Available for Portal Messages role or ... assigned to their care team, depending on
/// how the system has been configured").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PortalMessagingRecipients {
    /// Every staff member with Available for Portal Messages who can see the patient.
    #[default]
    AvailableForPortalMessages,
    /// Only those of them on the patient's care team.
    CareTeam,
}

impl PortalMessagingRecipients {
    pub const ALL: [Self; 2] = [Self::AvailableForPortalMessages, Self::CareTeam];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvailableForPortalMessages => "available_for_portal_messages",
            Self::CareTeam => "care_team",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AvailableForPortalMessages => "Staff available for portal messages",
            Self::CareTeam => "The patient's care team",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "available_for_portal_messages, care_team" })
    }
}

text_type!(
    /// A message's text: plain text (shown exactly as typed, escaped; no markup, no attachments:
    /// seed 001 "no attachments can be added"), 1 to 10,000 characters after trimming (about four
    /// printed pages: room for any non-urgent question, seed 001's FAQ, while a request stays
    /// small), line ends normalised to `\n`.
    MessageBody,
    10_000,
    crate::patient::Lines::Many
);

text_type!(
    /// An optional subject line (seed 001: "Create an optional subject line"): one line of at most
    /// 200 characters. Blank means none ([`MessageSubject::parse_optional`]).
    MessageSubject,
    200
);

impl MessageSubject {
    /// `Ok(None)` for a blank subject.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, InvalidValue> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => Self::parse(t).map(Some),
        }
    }
}

/// The `Idempotency-Key` of a send: a retried request with the same key returns the message the
/// first one created instead of sending it twice. 1-200 visible ASCII characters, unique per
/// sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(InvalidValue::Missing);
        }
        if t.len() > Self::MAX {
            return Err(InvalidValue::TooLong { max: Self::MAX });
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidValue::BadCharacters);
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidValue;
    fn try_from(v: String) -> Result<Self, InvalidValue> {
        Self::parse(&v)
    }
}

impl From<IdempotencyKey> for String {
    fn from(v: IdempotencyKey) -> String {
        v.0
    }
}

/// Why a search term was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SearchTermRefused {
    #[error("enter at least {min} characters")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("enter a name or a word of letters or digits")]
    NoWords,
}

/// A search of one's own conversations by name or keyword (seed 001: "You must enter at least 3
/// characters"), split into the words of letters and digits it holds. Every word must match
/// (as a prefix, so that "Ann" finds "Annabel"), in the subject, a message or a participant's
/// name. The words are all the store ever sees: no operator of either full-text dialect can be
/// typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    words: Vec<String>,
}

impl SearchTerm {
    pub const MIN: usize = 3;
    pub const MAX: usize = 100;
    /// More words add nothing but work.
    pub const MAX_WORDS: usize = 8;

    pub fn parse(raw: &str) -> Result<Self, SearchTermRefused> {
        let t = raw.trim();
        let n = t.chars().count();
        if n < Self::MIN {
            return Err(SearchTermRefused::TooShort { min: Self::MIN });
        }
        if n > Self::MAX {
            return Err(SearchTermRefused::TooLong { max: Self::MAX });
        }
        let mut words: Vec<String> = Vec::new();
        for w in t.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let w = w.to_lowercase();
            if !words.contains(&w) {
                words.push(w);
            }
        }
        words.truncate(Self::MAX_WORDS);
        if words.is_empty() {
            return Err(SearchTermRefused::NoWords);
        }
        Ok(Self { words })
    }

    /// Lowercase words of letters and digits only.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

/// The staff-side facts of a portal conversation, as loaded at the moment of sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffFacts {
    pub name: String,
    pub active: bool,
    /// Holds "Available for Portal Messages".
    pub available_for_portal_messages: bool,
    /// Holds View Patients and may access the patient's location.
    pub sees_patient: bool,
    pub on_care_team: bool,
}

impl StaffFacts {
    /// The facts of a signed-in staff member about a patient at `location`.
    pub fn of_principal(s: &StaffPrincipal, location: &crate::ids::LocationId, on_care_team: bool) -> StaffFacts {
        StaffFacts {
            name: s.name.clone(),
            active: true,
            available_for_portal_messages: s.portal.has(PortalPermission::AvailableForPortalMessages),
            sees_patient: s.has(Permission::ViewPatients) && s.may_access_location(location),
            on_care_team,
        }
    }
}

/// The state of a portal account's grant to the conversation's patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFacts {
    /// No live grant, or one revoked or past its last day.
    None,
    /// In force, but limited to parts other than messages.
    WithoutMessages,
    /// In force and covering messages.
    Messages,
}

/// The portal-side facts of a portal conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalFacts {
    pub name: String,
    pub account_active: bool,
    /// The invitation was accepted and a password set (seed 001: only "active portal accounts").
    pub password_set: bool,
    pub grant: GrantFacts,
    /// The patient's portal status is not red (access enabled, e-mail and ZIP code on file).
    pub patient_portal_open: bool,
}

/// Why a staff member and a portal user cannot (or can no longer) exchange messages about a
/// patient, or why a staff member cannot be written to about one. Each says so in words that
/// name the person, for the refusal and for the read-only thread (seed 001's "Important" note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ineligible {
    #[error("the patient portal is turned off")]
    PortalOff,
    #[error("{who}'s account is deactivated")]
    StaffInactive { who: String },
    #[error("{who} is not available for portal messages")]
    NotAvailableForPortalMessages { who: String },
    #[error("{who} cannot see this patient's records (location access or permissions)")]
    CannotSeePatient { who: String },
    #[error("{who} is not on this patient's care team")]
    NotOnCareTeam { who: String },
    #[error("{who} has no active portal account (the invitation must be accepted and a password set)")]
    NoActivePortalAccount { who: String },
    #[error("{who} no longer has portal access to this patient")]
    NoPortalAccess { who: String },
    #[error("{who}'s portal access to this patient does not include messages")]
    MessagesNotIncluded { who: String },
    #[error("the patient's portal access is turned off or their record lacks an e-mail address or ZIP code")]
    PatientPortalClosed,
}

/// The portal-side half of the pair rule: may this account receive and send messages about the
/// patient? (seed 001: "Only users with active portal accounts (meaning they have accepted the
/// portal invitation and created a password) will appear in this list".)
pub fn portal_side_eligible(p: &PortalFacts) -> Result<(), Ineligible> {
    if !p.account_active || !p.password_set {
        return Err(Ineligible::NoActivePortalAccount { who: p.name.clone() });
    }
    if !p.patient_portal_open {
        return Err(Ineligible::PatientPortalClosed);
    }
    match p.grant {
        GrantFacts::None => Err(Ineligible::NoPortalAccess { who: p.name.clone() }),
        GrantFacts::WithoutMessages => Err(Ineligible::MessagesNotIncluded { who: p.name.clone() }),
        GrantFacts::Messages => Ok(()),
    }
}

/// The staff-side half of the pair rule: may this staff member exchange portal messages about
/// the patient? Active, "Available for Portal Messages", able to see the patient (View Patients
/// and the patient's location), and, when the instance limits portal messages to care teams, on
/// the patient's care team. The permission is needed in both modes: it is what makes a staff
/// member a portal correspondent at all (seed 001: "EMR users who are set up to message portal
/// users"); the setting narrows who among them portal users reach.
pub fn staff_side_eligible(mode: PortalMessagingRecipients, s: &StaffFacts) -> Result<(), Ineligible> {
    if !s.active {
        return Err(Ineligible::StaffInactive { who: s.name.clone() });
    }
    if !s.available_for_portal_messages {
        return Err(Ineligible::NotAvailableForPortalMessages { who: s.name.clone() });
    }
    if !s.sees_patient {
        return Err(Ineligible::CannotSeePatient { who: s.name.clone() });
    }
    if mode == PortalMessagingRecipients::CareTeam && !s.on_care_team {
        return Err(Ineligible::NotOnCareTeam { who: s.name.clone() });
    }
    Ok(())
}

/// May this staff member and this portal user exchange messages about the patient now? Checked
/// when a portal conversation starts and again at every reply, by either side (seed 001:
/// "Changes to portal user connections, the EMR user's location access or permissions, and/or
/// care team member assignment may disable the ability to reply").
pub fn portal_pair_eligible(
    portal_on: bool,
    mode: PortalMessagingRecipients,
    staff: &StaffFacts,
    portal: &PortalFacts,
) -> Result<(), Ineligible> {
    if !portal_on {
        return Err(Ineligible::PortalOff);
    }
    staff_side_eligible(mode, staff)?;
    portal_side_eligible(portal)
}

/// The message types a staff member is offered (seed 001: "Only users with the Available for
/// portal messages role enabled will have message type options"). Everyone else writes to staff
/// only, without a choice.
pub fn message_types_offered(s: &StaffPrincipal) -> &'static [ConversationKind] {
    if s.portal.has(PortalPermission::AvailableForPortalMessages) {
        &[ConversationKind::Portal, ConversationKind::Staff]
    } else {
        &[ConversationKind::Staff]
    }
}

/// Why a send or a reply was refused by a rule (the input itself was well formed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum MessagingRefused {
    #[error("you need the Available for Portal Messages permission to send portal messages")]
    NeedPortalMessagesPermission,
    #[error("choose at least one recipient")]
    NoRecipients,
    #[error("a message can have at most {max} recipients")]
    TooManyRecipients { max: usize },
    #[error("you cannot send a message to yourself")]
    MessageToSelf,
    /// The chosen recipient does not exist or is not among those offered (said the same way, so
    /// that a guessed id tells nothing).
    #[error("this recipient is not available for messages")]
    RecipientNotAvailable,
    /// A person in the conversation cannot take part (any more); the reason names them.
    #[error("{0}")]
    Ineligible(Ineligible),
    /// The same idempotency key was used for a different message.
    #[error("this Idempotency-Key was already used for a different message")]
    IdempotencyKeyReused,
}

/// The most staff recipients of one staff message.
pub const MAX_STAFF_RECIPIENTS: usize = 50;

/// The staff side of a staff-to-staff message, as loaded at sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecipientFacts {
    pub name: String,
    pub active: bool,
    /// When the conversation is about a patient: holds View Patients and may access the
    /// patient's location. Ignored otherwise.
    pub sees_patient: bool,
}

/// Staff-to-staff messages (seed 001, "Message EMR Users"): one or more staff recipients, not
/// oneself; when the message is about a patient (it then carries a View Patient link), every
/// recipient must be allowed to see that patient. Checked at the start and at every reply (for
/// the others in the conversation).
pub fn staff_recipients_eligible(
    about_patient: bool,
    recipients: &[StaffRecipientFacts],
) -> Result<(), MessagingRefused> {
    if recipients.is_empty() {
        return Err(MessagingRefused::NoRecipients);
    }
    if recipients.len() > MAX_STAFF_RECIPIENTS {
        return Err(MessagingRefused::TooManyRecipients { max: MAX_STAFF_RECIPIENTS });
    }
    for r in recipients {
        if !r.active {
            return Err(MessagingRefused::Ineligible(Ineligible::StaffInactive { who: r.name.clone() }));
        }
        if about_patient && !r.sees_patient {
            return Err(MessagingRefused::Ineligible(Ineligible::CannotSeePatient { who: r.name.clone() }));
        }
    }
    Ok(())
}

/// The text of a message and its optional subject, parsed together so that a form reports both.
pub fn parse_message(subject: Option<&str>, body: &str) -> Result<(Option<MessageSubject>, MessageBody), FieldErrors> {
    let mut errors = FieldErrors::new();
    let subject = errors.check("subject", MessageSubject::parse_optional(subject));
    let body = errors.check("body", MessageBody::parse(body));
    match (subject, body) {
        (Some(s), Some(b)) if errors.is_empty() => Ok((s, b)),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{LocationId, StaffId};
    use crate::staff::{PortalPermissions, StaffRole};

    fn staff_facts() -> StaffFacts {
        StaffFacts {
            name: "Dr Ada Jones".into(),
            active: true,
            available_for_portal_messages: true,
            sees_patient: true,
            on_care_team: true,
        }
    }

    fn portal_facts() -> PortalFacts {
        PortalFacts {
            name: "Ann Lee".into(),
            account_active: true,
            password_set: true,
            grant: GrantFacts::Messages,
            patient_portal_open: true,
        }
    }

    const MODES: [PortalMessagingRecipients; 2] = PortalMessagingRecipients::ALL;

    #[test]
    fn an_eligible_pair_may_exchange_messages_in_either_mode() {
        for mode in MODES {
            assert_eq!(portal_pair_eligible(true, mode, &staff_facts(), &portal_facts()), Ok(()));
        }
    }

    #[test]
    fn nothing_while_the_portal_is_off() {
        assert_eq!(
            portal_pair_eligible(false, PortalMessagingRecipients::CareTeam, &staff_facts(), &portal_facts()),
            Err(Ineligible::PortalOff)
        );
    }

    #[test]
    fn staff_without_the_permission_are_refused_in_both_modes() {
        let s = StaffFacts { available_for_portal_messages: false, ..staff_facts() };
        for mode in MODES {
            let e = portal_pair_eligible(true, mode, &s, &portal_facts()).unwrap_err();
            assert_eq!(e, Ineligible::NotAvailableForPortalMessages { who: "Dr Ada Jones".into() });
            assert_eq!(e.to_string(), "Dr Ada Jones is not available for portal messages");
        }
    }

    #[test]
    fn staff_who_cannot_see_the_patient_or_are_inactive_are_refused() {
        let s = StaffFacts { sees_patient: false, ..staff_facts() };
        assert_eq!(
            staff_side_eligible(PortalMessagingRecipients::AvailableForPortalMessages, &s),
            Err(Ineligible::CannotSeePatient { who: "Dr Ada Jones".into() })
        );
        let s = StaffFacts { active: false, ..staff_facts() };
        assert_eq!(
            staff_side_eligible(PortalMessagingRecipients::AvailableForPortalMessages, &s),
            Err(Ineligible::StaffInactive { who: "Dr Ada Jones".into() })
        );
    }

    #[test]
    fn care_team_mode_refuses_staff_off_the_team_and_the_other_mode_does_not() {
        let s = StaffFacts { on_care_team: false, ..staff_facts() };
        let e = staff_side_eligible(PortalMessagingRecipients::CareTeam, &s).unwrap_err();
        assert_eq!(e.to_string(), "Dr Ada Jones is not on this patient's care team");
        assert_eq!(staff_side_eligible(PortalMessagingRecipients::AvailableForPortalMessages, &s), Ok(()));
    }

    #[test]
    fn portal_users_without_an_active_account_are_refused() {
        for p in [
            PortalFacts { password_set: false, ..portal_facts() },
            PortalFacts { account_active: false, ..portal_facts() },
        ] {
            let e = portal_side_eligible(&p).unwrap_err();
            assert_eq!(e, Ineligible::NoActivePortalAccount { who: "Ann Lee".into() });
            assert!(e.to_string().contains("password set"));
        }
    }

    #[test]
    fn portal_users_without_a_grant_covering_messages_are_refused() {
        let p = PortalFacts { grant: GrantFacts::None, ..portal_facts() };
        assert_eq!(
            portal_side_eligible(&p).unwrap_err().to_string(),
            "Ann Lee no longer has portal access to this patient"
        );
        let p = PortalFacts { grant: GrantFacts::WithoutMessages, ..portal_facts() };
        assert_eq!(portal_side_eligible(&p), Err(Ineligible::MessagesNotIncluded { who: "Ann Lee".into() }));
        let p = PortalFacts { patient_portal_open: false, ..portal_facts() };
        assert_eq!(portal_side_eligible(&p), Err(Ineligible::PatientPortalClosed));
    }

    fn principal(portal_messages: bool, role: StaffRole, locations: Vec<LocationId>) -> StaffPrincipal {
        let portal = PortalPermissions { available_for_portal_messages: portal_messages, ..Default::default() };
        StaffPrincipal {
            id: StaffId::from_trusted("00000000-0000-4000-8000-000000000001".into()),
            name: "Dr Ada Jones".into(),
            role,
            portal,
            locations,
        }
    }

    #[test]
    fn only_staff_with_the_permission_get_the_type_choice() {
        let here = LocationId::from_trusted("00000000-0000-4000-8000-0000000000aa".into());
        let with = principal(true, StaffRole::Clinician, vec![here.clone()]);
        assert_eq!(message_types_offered(&with), &[ConversationKind::Portal, ConversationKind::Staff]);
        for role in StaffRole::ALL {
            let without = principal(false, role, vec![here.clone()]);
            assert_eq!(message_types_offered(&without), &[ConversationKind::Staff], "{role:?}");
        }
    }

    #[test]
    fn facts_of_a_principal_follow_location_and_permission() {
        let here = LocationId::from_trusted("00000000-0000-4000-8000-0000000000aa".into());
        let there = LocationId::from_trusted("00000000-0000-4000-8000-0000000000bb".into());
        let s = principal(true, StaffRole::Clinician, vec![here.clone()]);
        assert!(StaffFacts::of_principal(&s, &here, false).sees_patient);
        assert!(!StaffFacts::of_principal(&s, &there, false).sees_patient);
        let sa = principal(false, StaffRole::SuperAdmin, vec![]);
        let f = StaffFacts::of_principal(&sa, &there, true);
        assert!(f.sees_patient);
        // A Super Admin without the permission is no portal correspondent.
        assert!(staff_side_eligible(PortalMessagingRecipients::AvailableForPortalMessages, &f).is_err());
    }

    fn recipient(name: &str, active: bool, sees: bool) -> StaffRecipientFacts {
        StaffRecipientFacts { name: name.into(), active, sees_patient: sees }
    }

    #[test]
    fn staff_messages_need_recipients_who_can_see_the_patient() {
        assert_eq!(staff_recipients_eligible(false, &[]), Err(MessagingRefused::NoRecipients));
        let many: Vec<_> = (0..=MAX_STAFF_RECIPIENTS).map(|i| recipient(&format!("s{i}"), true, true)).collect();
        assert_eq!(
            staff_recipients_eligible(false, &many),
            Err(MessagingRefused::TooManyRecipients { max: MAX_STAFF_RECIPIENTS })
        );
        let blind = [recipient("Bo", true, true), recipient("Cy", true, false)];
        let e = staff_recipients_eligible(true, &blind).unwrap_err();
        assert_eq!(e.to_string(), "Cy cannot see this patient's records (location access or permissions)");
        // Without a patient, seeing patients does not matter.
        assert_eq!(staff_recipients_eligible(false, &blind), Ok(()));
        assert!(matches!(
            staff_recipients_eligible(false, &[recipient("Di", false, true)]),
            Err(MessagingRefused::Ineligible(Ineligible::StaffInactive { .. }))
        ));
    }

    #[test]
    fn bodies_are_plain_text_within_bounds() {
        assert_eq!(MessageBody::parse("  \n "), Err(InvalidValue::Missing));
        assert_eq!(MessageBody::parse(&"x".repeat(MessageBody::MAX + 1)), Err(InvalidValue::TooLong { max: 10_000 }));
        assert!(MessageBody::parse(&"é".repeat(MessageBody::MAX)).is_ok());
        assert_eq!(MessageBody::parse("hi\u{0}there"), Err(InvalidValue::BadCharacters));
        assert_eq!(MessageBody::parse("\r\nline one\r\nline two\tend \n").unwrap().as_str(), "line one\nline two\tend");
        // Markup is kept as typed: it is text, escaped wherever it is shown.
        assert_eq!(MessageBody::parse("<b>hi</b>").unwrap().as_str(), "<b>hi</b>");
    }

    #[test]
    fn subjects_are_optional_single_lines() {
        assert_eq!(MessageSubject::parse_optional(None), Ok(None));
        assert_eq!(MessageSubject::parse_optional(Some("   ")), Ok(None));
        assert_eq!(MessageSubject::parse_optional(Some("a\nb")), Err(InvalidValue::BadCharacters));
        assert_eq!(
            MessageSubject::parse_optional(Some(&"s".repeat(201))),
            Err(InvalidValue::TooLong { max: MessageSubject::MAX })
        );
        assert_eq!(MessageSubject::parse_optional(Some(" Refill ")).unwrap().unwrap().as_str(), "Refill");
        let e = parse_message(Some(&"s".repeat(201)), "").unwrap_err();
        assert!(e.get("subject").is_some() && e.get("body").is_some());
    }

    #[test]
    fn search_terms_need_three_characters_and_a_word() {
        assert_eq!(SearchTerm::parse(" ab "), Err(SearchTermRefused::TooShort { min: 3 }));
        assert_eq!(SearchTerm::parse("!!!"), Err(SearchTermRefused::NoWords));
        assert_eq!(SearchTerm::parse(&"a".repeat(101)), Err(SearchTermRefused::TooLong { max: 100 }));
        let t = SearchTerm::parse("Refill, \"pills\" OR NEAR* refill").unwrap();
        // Operators and quotes of the full-text dialects are gone; words are lowercased, once.
        assert_eq!(t.words(), &["refill", "pills", "or", "near"]);
        assert_eq!(SearchTerm::parse("Zoë").unwrap().words(), &["zoë"]);
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(201)).is_err());
        assert_eq!(IdempotencyKey::parse(" 7f3c-1 ").unwrap().as_str(), "7f3c-1");
    }

    #[test]
    fn settings_and_kinds_round_trip() {
        for m in PortalMessagingRecipients::ALL {
            assert_eq!(PortalMessagingRecipients::parse(m.as_str()), Ok(m));
        }
        assert!(PortalMessagingRecipients::parse("everyone").is_err());
        assert_eq!(ConversationKind::parse("portal"), Ok(ConversationKind::Portal));
        assert!(ConversationKind::parse("fax").is_err());
        assert_eq!(InboxFolder::parse(""), Ok(InboxFolder::Active));
        assert!(InboxFolder::parse("trash").is_err());
    }
}
