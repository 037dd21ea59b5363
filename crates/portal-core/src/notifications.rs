//! Staff notification rules (seed 000, "Set up Notifications"): per location, a Super Admin
//! says which portal event alerts whom, how urgently, in which words, and by which means (a
//! toast in the app, an e-mail, or both). Pure rules: what a rule may hold, whether it applies
//! to an event, who receives it, and the words it renders.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::FieldErrors;
use crate::patient::{InvalidValue, parse_iso_date};
use crate::staff::StaffRole;

/// The events a rule can react to: seed 000's six, and the two clinics ask for most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    RegistrationCompleted,
    DocumentCompleted,
    FileUploaded,
    TreatmentPlanSigned,
    EmailChanged,
    ConsentRevoked,
    NewMessage,
    NewRequest,
}

impl NotificationEvent {
    pub const ALL: [NotificationEvent; 8] = [
        Self::RegistrationCompleted,
        Self::DocumentCompleted,
        Self::FileUploaded,
        Self::TreatmentPlanSigned,
        Self::EmailChanged,
        Self::ConsentRevoked,
        Self::NewMessage,
        Self::NewRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationCompleted => "registration_completed",
            Self::DocumentCompleted => "document_completed",
            Self::FileUploaded => "file_uploaded",
            Self::TreatmentPlanSigned => "treatment_plan_signed",
            Self::EmailChanged => "email_changed",
            Self::ConsentRevoked => "consent_revoked",
            Self::NewMessage => "new_message",
            Self::NewRequest => "new_request",
        }
    }

    /// The seed's names.
    pub fn label(self) -> &'static str {
        match self {
            Self::RegistrationCompleted => "Portal Registration Completed",
            Self::DocumentCompleted => "Portal Document Completed",
            Self::FileUploaded => "Portal File Uploaded",
            Self::TreatmentPlanSigned => "Portal Treatment Plan Signed",
            Self::EmailChanged => "Portal Email Changed",
            Self::ConsentRevoked => "Portal Consent Revoked",
            Self::NewMessage => "New Portal Message",
            Self::NewRequest => "New Portal Request",
        }
    }

    /// What activates it, as the seed says it.
    pub fn description(self) -> &'static str {
        match self {
            Self::RegistrationCompleted => "The patient or a contact completed the portal account registration.",
            Self::DocumentCompleted => {
                "A portal user signed or completed a consent, evaluation or outcomes assessment."
            }
            Self::FileUploaded => "A portal user uploaded a file to My Files.",
            Self::TreatmentPlanSigned => "A portal user signed a treatment plan.",
            Self::EmailChanged => "A portal user changed the e-mail address of their portal account.",
            Self::ConsentRevoked => "A portal user revoked a consent form.",
            Self::NewMessage => "A portal user sent a secure message.",
            Self::NewRequest => "A portal user made a request (refill, appointment, records, billing, question).",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw.trim()).ok_or(InvalidValue::NotOneOf {
            allowed: "registration_completed, document_completed, file_uploaded, treatment_plan_signed, \
                      email_changed, consent_revoked, new_message, new_request",
        })
    }

    /// The placeholders this event fills (seed 000: Consent Revoked carries the patient, the
    /// user's relation to the patient and the document name).
    pub fn placeholders(self) -> &'static [Placeholder] {
        use Placeholder::*;
        match self {
            Self::DocumentCompleted | Self::TreatmentPlanSigned | Self::ConsentRevoked | Self::FileUploaded => {
                &[PatientName, Relation, DocumentName, Location]
            }
            Self::RegistrationCompleted | Self::EmailChanged | Self::NewMessage | Self::NewRequest => {
                &[PatientName, Relation, Location]
            }
        }
    }
}

/// Severity (seed 000: "Critical is red, Warning is yellow, and Information is blue").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
    Information,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Critical, Self::Warning, Self::Information];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Information => "information",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Critical => "Critical",
            Self::Warning => "Warning",
            Self::Information => "Information",
        }
    }

    /// The colour the pages give it.
    pub fn colour(self) -> &'static str {
        match self {
            Self::Critical => "red",
            Self::Warning => "yellow",
            Self::Information => "blue",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "critical, warning, information" })
    }
}

/// A word in braces that a rule's title or message may hold, replaced at delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    PatientName,
    Relation,
    DocumentName,
    Location,
}

impl Placeholder {
    pub const ALL: [Placeholder; 4] = [Self::PatientName, Self::Relation, Self::DocumentName, Self::Location];

    /// As written in a template: `{patient_name}`.
    pub fn token(self) -> &'static str {
        match self {
            Self::PatientName => "{patient_name}",
            Self::Relation => "{relation}",
            Self::DocumentName => "{document_name}",
            Self::Location => "{location}",
        }
    }
}

/// The facts of one event that fill a rule's placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFacts {
    pub patient_name: String,
    /// "Self", "Guardian", ... (`Relation::label`).
    pub relation: String,
    pub document_name: Option<String>,
    pub location: String,
}

/// A title or message with its placeholders replaced; a placeholder without a value (a
/// document name for an event without a document) reads as nothing.
pub fn render(template: &str, facts: &EventFacts) -> String {
    template
        .replace(Placeholder::PatientName.token(), &facts.patient_name)
        .replace(Placeholder::Relation.token(), &facts.relation)
        .replace(Placeholder::DocumentName.token(), facts.document_name.as_deref().unwrap_or(""))
        .replace(Placeholder::Location.token(), &facts.location)
}

/// Every `{word}` of a template must be a placeholder the event fills.
fn check_placeholders(template: &str, event: NotificationEvent) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            return Err("has a \"{\" without its \"}\"".to_owned());
        };
        let token = &after[..=close];
        if !event.placeholders().iter().any(|p| p.token() == token) {
            let allowed: Vec<&str> = event.placeholders().iter().map(|p| p.token()).collect();
            return Err(format!("uses {token}, which this event does not fill (it fills {})", allowed.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// Who receives a rule's notifications, in any mix (seed 000: "by individual User, Care Team,
/// and Role").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipients {
    /// Staff ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// The patient's care team.
    #[serde(default)]
    pub care_team: bool,
    #[serde(default)]
    pub roles: Vec<StaffRole>,
}

impl Recipients {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && !self.care_team && self.roles.is_empty()
    }
}

/// A rule as typed (the page's form, the API's JSON), before parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRule {
    pub location_id: String,
    pub event: String,
    pub name: String,
    pub starts_on: String,
    #[serde(default)]
    pub ends_on: Option<String>,
    pub severity: String,
    #[serde(default)]
    pub recipient_users: Vec<String>,
    #[serde(default)]
    pub recipient_care_team: bool,
    #[serde(default)]
    pub recipient_roles: Vec<String>,
    pub title: String,
    pub message: String,
    #[serde(default)]
    pub toast: bool,
    #[serde(default)]
    pub email: bool,
}

/// A rule, every field checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub location_id: String,
    pub event: NotificationEvent,
    pub name: String,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub severity: Severity,
    pub recipients: Recipients,
    pub title: String,
    pub message: String,
    pub toast: bool,
    pub email: bool,
}

pub const NAME_MAX: usize = 100;
pub const TITLE_MAX: usize = 120;
pub const MESSAGE_MAX: usize = 1_000;
/// More named users than this is a role's job.
pub const USERS_MAX: usize = 50;

fn one_line(raw: &str, max: usize) -> Result<String, InvalidValue> {
    crate::patient::clean_text(raw, max, crate::patient::Lines::One)
}

impl RawRule {
    /// Every problem reported at once, by field. Whether the location, the users and the roles
    /// exist is the use case's to check (it reads them).
    pub fn parse(&self) -> Result<Rule, FieldErrors> {
        let mut e = FieldErrors::new();
        let location_id = self.location_id.trim().to_owned();
        if location_id.is_empty() {
            e.push("location_id", InvalidValue::Missing);
        }
        let event = e.check("event", NotificationEvent::parse(&self.event));
        let name = e.check("name", one_line(&self.name, NAME_MAX));
        let starts_on = e.check("starts_on", parse_iso_date(self.starts_on.trim()).ok_or(InvalidValue::DateFormat));
        let ends_on = match self.ends_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(None),
            Some(raw) => e.check("ends_on", parse_iso_date(raw).ok_or(InvalidValue::DateFormat)).map(Some),
        };
        if let (Some(s), Some(Some(end))) = (starts_on, ends_on)
            && end < s
        {
            e.push("ends_on", "must be on or after the start date");
        }
        let severity = e.check("severity", Severity::parse(&self.severity));
        let mut roles = Vec::new();
        for r in &self.recipient_roles {
            if let Some(role) = e.check("recipient_roles", StaffRole::parse(r))
                && !roles.contains(&role)
            {
                roles.push(role);
            }
        }
        let mut users: Vec<String> = Vec::new();
        for u in &self.recipient_users {
            let u = u.trim();
            if u.is_empty() {
                continue;
            }
            if crate::ids::StaffId::parse(u).is_err() {
                e.push("recipient_users", "holds an id that is not a staff member's");
            } else if !users.iter().any(|x| x == u) {
                users.push(u.to_owned());
            }
        }
        if users.len() > USERS_MAX {
            e.push("recipient_users", format!("may name at most {USERS_MAX} users; use a role for more"));
        }
        let recipients = Recipients { users, care_team: self.recipient_care_team, roles };
        if recipients.is_empty() {
            e.push("recipients", "choose at least one recipient: a user, the care team or a role");
        }
        let title = e.check("title", one_line(&self.title, TITLE_MAX));
        let message =
            e.check("message", crate::patient::clean_text(&self.message, MESSAGE_MAX, crate::patient::Lines::Many));
        if let Some(ev) = event {
            for (field, text) in [("title", &title), ("message", &message)] {
                if let Some(t) = text
                    && let Err(why) = check_placeholders(t, ev)
                {
                    e.push(field, why);
                }
            }
        }
        if !self.toast && !self.email {
            e.push("delivery", "choose a toast, an e-mail, or both");
        }
        match (event, name, starts_on, ends_on, severity, title, message) {
            (Some(event), Some(name), Some(starts_on), Some(ends_on), Some(severity), Some(title), Some(message))
                if e.is_empty() =>
            {
                Ok(Rule {
                    location_id,
                    event,
                    name,
                    starts_on,
                    ends_on,
                    severity,
                    recipients,
                    title,
                    message,
                    toast: self.toast,
                    email: self.email,
                })
            }
            _ => Err(e),
        }
    }
}

/// Seed 000: setting up notifications "can only be completed by a Super Admin" (their rules,
/// their test notifications).
pub fn may_manage_rules(staff: &crate::StaffPrincipal) -> Result<(), crate::AccessError> {
    if staff.role == StaffRole::SuperAdmin {
        Ok(())
    } else {
        Err(crate::AccessError::SuperAdminOnly { action: "set up notifications" })
    }
}

/// Sample facts for a rule's test notification: a preview, about nobody.
pub fn sample_facts(event: NotificationEvent, location: &str) -> EventFacts {
    EventFacts {
        patient_name: "Test Patient".to_owned(),
        relation: "Guardian".to_owned(),
        document_name: event
            .placeholders()
            .contains(&Placeholder::DocumentName)
            .then(|| "Sample consent form".to_owned()),
        location: location.to_owned(),
    }
}

/// Does a rule apply to an event of `event` at `location` on `day` (the location's date)?
/// Within its dates, both ends included.
pub fn applies(rule: &Rule, event: NotificationEvent, location: &str, day: Date) -> bool {
    rule.event == event
        && rule.location_id == location
        && rule.starts_on <= day
        && rule.ends_on.is_none_or(|e| day <= e)
}

/// A staff member as delivery sees them, read fresh when the event is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub active: bool,
    pub role: Option<StaffRole>,
    /// May access the event's location (their location list, or All Locations).
    pub at_location: bool,
    pub on_care_team: bool,
}

/// The staff a rule's notification goes to: each person once (a user named, on the care team and
/// of a chosen role still gets one), inactive users and users without access to the location
/// skipped. In the order of `candidates`.
pub fn recipients_of(rule: &Recipients, candidates: &[Candidate]) -> Vec<String> {
    candidates
        .iter()
        .filter(|c| c.active && c.at_location)
        .filter(|c| {
            rule.users.contains(&c.id)
                || (rule.care_team && c.on_care_team)
                || c.role.is_some_and(|r| rule.roles.contains(&r))
        })
        .map(|c| c.id.clone())
        .fold(Vec::new(), |mut out, id| {
            if !out.contains(&id) {
                out.push(id);
            }
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn raw() -> RawRule {
        RawRule {
            location_id: "loc".into(),
            event: "registration_completed".into(),
            name: "New registrations".into(),
            starts_on: "2026-01-01".into(),
            ends_on: None,
            severity: "warning".into(),
            recipient_users: vec![],
            recipient_care_team: true,
            recipient_roles: vec![],
            title: "{patient_name} registered".into(),
            message: "{patient_name} ({relation}) completed registration at {location}.".into(),
            toast: true,
            email: true,
        }
    }

    #[test]
    fn a_rule_parses_and_renders() {
        let rule = raw().parse().unwrap();
        assert_eq!(rule.severity.colour(), "yellow");
        let facts = EventFacts {
            patient_name: "Ann Lee".into(),
            relation: "Guardian".into(),
            document_name: None,
            location: "Main".into(),
        };
        assert_eq!(render(&rule.message, &facts), "Ann Lee (Guardian) completed registration at Main.");
    }

    #[test]
    fn bad_rules_are_refused_field_by_field() {
        let mut r = raw();
        r.event = "party".into();
        r.severity = "mild".into();
        r.starts_on = "2026-02-30".into();
        r.recipient_care_team = false;
        r.toast = false;
        r.email = false;
        r.title = " ".into();
        let e = r.parse().unwrap_err();
        for field in ["event", "severity", "starts_on", "recipients", "delivery", "title"] {
            assert!(e.get(field).is_some(), "{field}: {e:?}");
        }
        let mut r = raw();
        r.ends_on = Some("2025-12-31".into());
        r.message = "{document_name} was signed".into();
        r.recipient_users = vec!["not-an-id".into()];
        let e = r.parse().unwrap_err();
        assert!(e.get("ends_on").is_some());
        assert!(e.get("message").unwrap().contains("{document_name}"));
        assert!(e.get("recipient_users").is_some());
        let mut r = raw();
        r.event = "consent_revoked".into();
        r.message = "{patient_name} revoked {document_name}".into();
        assert!(r.parse().is_ok(), "consent revoked fills the document name");
        r.title = "unclosed {patient_name".into();
        assert!(r.parse().unwrap_err().get("title").is_some());
    }

    #[test]
    fn a_rule_applies_within_its_dates_at_its_location() {
        let mut rule = raw().parse().unwrap();
        rule.ends_on = Some(date!(2026 - 06 - 30));
        let ev = NotificationEvent::RegistrationCompleted;
        assert!(applies(&rule, ev, "loc", date!(2026 - 01 - 01)));
        assert!(applies(&rule, ev, "loc", date!(2026 - 06 - 30)));
        // Refused side: another location, another event, before or after the dates.
        assert!(!applies(&rule, ev, "other", date!(2026 - 03 - 01)));
        assert!(!applies(&rule, NotificationEvent::EmailChanged, "loc", date!(2026 - 03 - 01)));
        assert!(!applies(&rule, ev, "loc", date!(2025 - 12 - 31)));
        assert!(!applies(&rule, ev, "loc", date!(2026 - 07 - 01)));
    }

    #[test]
    fn each_recipient_once_and_only_active_staff_of_the_location() {
        let spec =
            Recipients { users: vec!["a".into(), "d".into()], care_team: true, roles: vec![StaffRole::FrontDesk] };
        let c = |id: &str, active, role, at_location, on_care_team| Candidate {
            id: id.into(),
            active,
            role: Some(role),
            at_location,
            on_care_team,
        };
        let candidates = vec![
            c("a", true, StaffRole::FrontDesk, true, true),
            c("b", true, StaffRole::Clinician, true, true),
            c("c", true, StaffRole::Billing, true, false),
            c("d", false, StaffRole::Clinician, true, false),
            c("e", true, StaffRole::FrontDesk, false, false),
            c("f", true, StaffRole::FrontDesk, true, false),
        ];
        assert_eq!(recipients_of(&spec, &candidates), vec!["a", "b", "f"]);
    }

    #[test]
    fn names_round_trip() {
        for e in NotificationEvent::ALL {
            assert_eq!(NotificationEvent::parse(e.as_str()), Ok(e));
        }
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Ok(s));
        }
    }
}
