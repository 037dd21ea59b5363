//! Patient requests from the portal and the staff's Patient Portal Queue (seed 002, "Patient
//! Portal Queue" and "Un-Archiving Patient Portal Requests").
//!
//! A portal user asks for something about a patient they hold a grant for (covering requests): a
//! prescription refill, an appointment, records, a billing question or a general question. The
//! request is open (Submitted, then In review once staff act on it) until staff dismiss it as
//! completed or as will not be completed; a dismissed request sits in the archive until staff
//! mark it un-reviewed, which puts it back in the active queue as Submitted.

use serde::{Deserialize, Serialize};

use crate::FieldErrors;
use crate::patient::InvalidValue;
use crate::patient::text_type;

/// What a portal user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Refill,
    Appointment,
    Records,
    Billing,
    General,
}

impl RequestKind {
    pub const ALL: [RequestKind; 5] = [Self::Refill, Self::Appointment, Self::Records, Self::Billing, Self::General];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refill => "refill",
            Self::Appointment => "appointment",
            Self::Records => "records",
            Self::Billing => "billing",
            Self::General => "general",
        }
    }

    /// The words staff and patients read (and the archive's search finds).
    pub fn label(self) -> &'static str {
        match self {
            Self::Refill => "Prescription refill",
            Self::Appointment => "Appointment request",
            Self::Records => "Records request",
            Self::Billing => "Billing question",
            Self::General => "General question",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "refill, appointment, records, billing, general" })
    }
}

/// Where a request stands. Submitted and In review are open (in the active queue); Completed and
/// Not completed are dismissed (in the archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Submitted,
    InReview,
    Completed,
    NotCompleted,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 4] = [Self::Submitted, Self::InReview, Self::Completed, Self::NotCompleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::Completed => "completed",
            Self::NotCompleted => "not_completed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Submitted => "Submitted",
            Self::InReview => "In review",
            Self::Completed => "Completed",
            Self::NotCompleted => "Not completed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "submitted, in_review, completed, not_completed" })
    }

    /// Open requests are in the active queue; the others in the archive.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Submitted | Self::InReview)
    }
}

/// What a reply from the queue does to its request when it is sent (seed 002: "left open,
/// dismissed as completed, or dismissed because it will not be completed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    #[default]
    LeaveOpen,
    Completed,
    NotCompleted,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [Self::LeaveOpen, Self::Completed, Self::NotCompleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeaveOpen => "leave_open",
            Self::Completed => "completed",
            Self::NotCompleted => "not_completed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::LeaveOpen => "Leave the request open",
            Self::Completed => "Dismiss as completed",
            Self::NotCompleted => "Dismiss as will not be completed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "leave_open, completed, not_completed" })
    }
}

/// How staff dismiss a request from the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dismissal {
    Completed,
    NotCompleted,
}

impl Dismissal {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw.trim() {
            "completed" => Ok(Self::Completed),
            "not_completed" => Ok(Self::NotCompleted),
            _ => Err(InvalidValue::NotOneOf { allowed: "completed, not_completed" }),
        }
    }

    pub fn status(self) -> RequestStatus {
        match self {
            Self::Completed => RequestStatus::Completed,
            Self::NotCompleted => RequestStatus::NotCompleted,
        }
    }
}

/// A change staff make to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// A helper was used or a reply left the request open: Submitted becomes In review.
    Review,
    Dismiss(Dismissal),
    /// "Mark as un-reviewed" from the archive.
    Reopen,
}

/// Why a change of status was refused, in words a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefused {
    #[error("this request was already dismissed; un-archive it first")]
    AlreadyDismissed,
    #[error("this request is still open in the queue")]
    StillOpen,
    #[error("the clinic does not take portal requests at the moment")]
    PortalOff,
    #[error("this request has no portal user to reply to any more")]
    NoRequester,
}

/// The status after `change`, or why it cannot happen. Review of an open request keeps In
/// review; dismissal and review need an open request; reopening needs a dismissed one.
pub fn next_status(from: RequestStatus, change: StatusChange) -> Result<RequestStatus, RequestRefused> {
    match change {
        StatusChange::Review if from.is_open() => Ok(RequestStatus::InReview),
        StatusChange::Dismiss(d) if from.is_open() => Ok(d.status()),
        StatusChange::Review | StatusChange::Dismiss(_) => Err(RequestRefused::AlreadyDismissed),
        StatusChange::Reopen if from.is_open() => Err(RequestRefused::StillOpen),
        StatusChange::Reopen => Ok(RequestStatus::Submitted),
    }
}

/// The status a reply leaves its request in.
pub fn status_after_reply(from: RequestStatus, d: Disposition) -> Result<RequestStatus, RequestRefused> {
    match d {
        Disposition::LeaveOpen => next_status(from, StatusChange::Review),
        Disposition::Completed => next_status(from, StatusChange::Dismiss(Dismissal::Completed)),
        Disposition::NotCompleted => next_status(from, StatusChange::Dismiss(Dismissal::NotCompleted)),
    }
}

text_type!(
    /// A short line of a request: a medication, a pharmacy, preferred days and times.
    RequestLine,
    200
);

text_type!(
    /// A request's free text: a note, a reason, a question. Plain text like a message, shorter:
    /// a request asks for something; the conversation happens in messages.
    RequestText,
    2_000,
    crate::patient::Lines::Many
);

/// What a request asks for, by kind, every text parsed. Stored as JSON with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestDetails {
    Refill {
        medication: RequestLine,
        #[serde(default)]
        pharmacy: Option<RequestLine>,
        #[serde(default)]
        note: Option<RequestText>,
    },
    Appointment {
        reason: RequestText,
        #[serde(default)]
        preferred_times: Option<RequestLine>,
        /// A location id, checked against the organisation's locations by the use case.
        #[serde(default)]
        location_id: Option<String>,
        /// A staff id, checked against the providers offered by the use case.
        #[serde(default)]
        preferred_provider_id: Option<String>,
    },
    Records {
        records: RequestText,
        #[serde(default)]
        note: Option<RequestText>,
    },
    Billing {
        question: RequestText,
    },
    General {
        question: RequestText,
    },
}

/// A request as typed, before parsing: one flat set of fields, of which each kind reads its own
/// (the pages post them as a form, the API as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRequestDetails {
    pub kind: String,
    #[serde(default)]
    pub medication: Option<String>,
    #[serde(default)]
    pub pharmacy: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub preferred_times: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub preferred_provider_id: Option<String>,
    #[serde(default)]
    pub records: Option<String>,
    #[serde(default)]
    pub question: Option<String>,
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn required<T>(
    errors: &mut FieldErrors,
    field: &str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> Option<T> {
    errors.check(field, parse(v.as_deref().unwrap_or("")))
}

fn optional<T>(
    errors: &mut FieldErrors,
    field: &str,
    v: &Option<String>,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> Option<Option<T>> {
    if blank(v) {
        return Some(None);
    }
    errors.check(field, parse(v.as_deref().unwrap_or(""))).map(Some)
}

fn optional_id(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl RawRequestDetails {
    /// Every problem reported at once, by field.
    pub fn parse(&self) -> Result<RequestDetails, FieldErrors> {
        let mut e = FieldErrors::new();
        let Some(kind) = e.check("kind", RequestKind::parse(&self.kind)) else {
            return Err(e);
        };
        let details = match kind {
            RequestKind::Refill => {
                let medication = required(&mut e, "medication", &self.medication, RequestLine::parse);
                let pharmacy = optional(&mut e, "pharmacy", &self.pharmacy, RequestLine::parse);
                let note = optional(&mut e, "note", &self.note, RequestText::parse);
                match (medication, pharmacy, note) {
                    (Some(medication), Some(pharmacy), Some(note)) => {
                        Some(RequestDetails::Refill { medication, pharmacy, note })
                    }
                    _ => None,
                }
            }
            RequestKind::Appointment => {
                let reason = required(&mut e, "reason", &self.reason, RequestText::parse);
                let times = optional(&mut e, "preferred_times", &self.preferred_times, RequestLine::parse);
                match (reason, times) {
                    (Some(reason), Some(preferred_times)) => Some(RequestDetails::Appointment {
                        reason,
                        preferred_times,
                        location_id: optional_id(&self.location_id),
                        preferred_provider_id: optional_id(&self.preferred_provider_id),
                    }),
                    _ => None,
                }
            }
            RequestKind::Records => {
                let records = required(&mut e, "records", &self.records, RequestText::parse);
                let note = optional(&mut e, "note", &self.note, RequestText::parse);
                match (records, note) {
                    (Some(records), Some(note)) => Some(RequestDetails::Records { records, note }),
                    _ => None,
                }
            }
            RequestKind::Billing => required(&mut e, "question", &self.question, RequestText::parse)
                .map(|question| RequestDetails::Billing { question }),
            RequestKind::General => required(&mut e, "question", &self.question, RequestText::parse)
                .map(|question| RequestDetails::General { question }),
        };
        match details {
            Some(d) if e.is_empty() => Ok(d),
            _ => Err(e),
        }
    }
}

impl RequestDetails {
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Refill { .. } => RequestKind::Refill,
            Self::Appointment { .. } => RequestKind::Appointment,
            Self::Records { .. } => RequestKind::Records,
            Self::Billing { .. } => RequestKind::Billing,
            Self::General { .. } => RequestKind::General,
        }
    }

    /// One line for the queue: what is asked, at most 120 characters.
    pub fn summary(&self) -> String {
        let text = match self {
            Self::Refill { medication, .. } => medication.as_str(),
            Self::Appointment { reason, .. } => reason.as_str(),
            Self::Records { records, .. } => records.as_str(),
            Self::Billing { question } | Self::General { question } => question.as_str(),
        };
        let line = text.lines().next().unwrap_or("");
        if line.chars().count() > 120 {
            let cut: String = line.chars().take(119).collect();
            format!("{cut}…")
        } else {
            line.to_owned()
        }
    }

    /// Every text of the request, for the archive's full-text search.
    pub fn search_text(&self) -> String {
        let parts: Vec<&str> = match self {
            Self::Refill { medication, pharmacy, note } => vec![
                medication.as_str(),
                pharmacy.as_ref().map_or("", |p| p.as_str()),
                note.as_ref().map_or("", |n| n.as_str()),
            ],
            Self::Appointment { reason, preferred_times, .. } => {
                vec![reason.as_str(), preferred_times.as_ref().map_or("", |p| p.as_str())]
            }
            Self::Records { records, note } => vec![records.as_str(), note.as_ref().map_or("", |n| n.as_str())],
            Self::Billing { question } | Self::General { question } => vec![question.as_str()],
        };
        parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
    }

    /// The labelled fields shown to staff and to the patient, in order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |label: &'static str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                out.push((label, v.to_owned()));
            }
        };
        match self {
            Self::Refill { medication, pharmacy, note } => {
                push("Medication", Some(medication.as_str()));
                push("Pharmacy", pharmacy.as_ref().map(|p| p.as_str()));
                push("Note", note.as_ref().map(|n| n.as_str()));
            }
            Self::Appointment { reason, preferred_times, .. } => {
                push("Reason", Some(reason.as_str()));
                push("Preferred days and times", preferred_times.as_ref().map(|p| p.as_str()));
            }
            Self::Records { records, note } => {
                push("Records wanted", Some(records.as_str()));
                push("Note", note.as_ref().map(|n| n.as_str()));
            }
            Self::Billing { question } | Self::General { question } => push("Question", Some(question.as_str())),
        }
        out
    }
}

/// What happened to a request, as its timeline shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Submitted,
    InReview,
    Completed,
    NotCompleted,
    /// Marked un-reviewed from the archive: back in the queue as Submitted.
    Reopened,
    /// A reply by secure message linked to the request.
    Replied,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 6] =
        [Self::Submitted, Self::InReview, Self::Completed, Self::NotCompleted, Self::Reopened, Self::Replied];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::Completed => "completed",
            Self::NotCompleted => "not_completed",
            Self::Reopened => "reopened",
            Self::Replied => "replied",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The words the patient and staff read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Submitted => "Submitted",
            Self::InReview => "In review",
            Self::Completed => "Completed",
            Self::NotCompleted => "Not completed",
            Self::Reopened => "Reopened: back with the care team",
            Self::Replied => "Reply",
        }
    }

    /// The entry a change to `status` writes.
    pub fn of_status(status: RequestStatus) -> Self {
        match status {
            RequestStatus::Submitted => Self::Reopened,
            RequestStatus::InReview => Self::InReview,
            RequestStatus::Completed => Self::Completed,
            RequestStatus::NotCompleted => Self::NotCompleted,
        }
    }
}

/// The next step a helper takes for a request (seed 002: "the yellow helper button ... takes a
/// different action depending on what the patient requested").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A draft encounter note with the requested medication.
    RefillNote,
    /// A draft appointment with the requested reason, times, location and provider.
    AppointmentDraft,
    /// A release-of-information task for the requested records.
    RecordsRelease,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [Self::RefillNote, Self::AppointmentDraft, Self::RecordsRelease];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefillNote => "refill_note",
            Self::AppointmentDraft => "appointment_draft",
            Self::RecordsRelease => "records_release",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::RefillNote => "Refill encounter note",
            Self::AppointmentDraft => "Appointment draft",
            Self::RecordsRelease => "Records release",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The built-in helper's task for a request kind; `None`: the helper opens a reply.
    pub fn for_request(kind: RequestKind) -> Option<Self> {
        match kind {
            RequestKind::Refill => Some(Self::RefillNote),
            RequestKind::Appointment => Some(Self::AppointmentDraft),
            RequestKind::Records => Some(Self::RecordsRelease),
            RequestKind::Billing | RequestKind::General => None,
        }
    }
}

text_type!(
    /// A task's draft text (the encounter note, the appointment's notes, the release's notes).
    TaskText,
    20_000,
    crate::patient::Lines::Many
);

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: &str) -> RawRequestDetails {
        RawRequestDetails { kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn a_refill_needs_a_medication_and_reports_every_problem() {
        let e = raw("refill").parse().unwrap_err();
        assert!(e.get("medication").is_some());
        let mut r = raw("refill");
        r.medication = Some("x".repeat(201));
        r.note = Some("\u{7}".into());
        let e = r.parse().unwrap_err();
        assert!(e.get("medication").is_some() && e.get("note").is_some());
        r.medication = Some("  Lisinopril 10 mg ".into());
        r.note = Some(" ".into());
        let d = r.parse().unwrap();
        assert_eq!(d.kind(), RequestKind::Refill);
        assert_eq!(d.summary(), "Lisinopril 10 mg");
        assert_eq!(d.fields(), vec![("Medication", "Lisinopril 10 mg".to_owned())]);
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let e = raw("surgery").parse().unwrap_err();
        assert!(e.get("kind").unwrap().contains("refill"));
    }

    #[test]
    fn every_kind_parses_its_own_fields() {
        let mut r = raw("appointment");
        r.reason = Some("Knee pain".into());
        r.preferred_times = Some("Mornings".into());
        r.location_id = Some(" ".into());
        let d = r.parse().unwrap();
        assert!(matches!(d, RequestDetails::Appointment { location_id: None, .. }));
        assert_eq!(d.search_text(), "Knee pain Mornings");
        for kind in ["billing", "general"] {
            assert!(raw(kind).parse().unwrap_err().get("question").is_some());
        }
        assert!(raw("records").parse().unwrap_err().get("records").is_some());
    }

    #[test]
    fn the_summary_is_one_short_line() {
        let mut r = raw("general");
        r.question = Some(format!("{}\nsecond line", "a".repeat(300)));
        let s = r.parse().unwrap().summary();
        assert_eq!(s.chars().count(), 120);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn status_changes_follow_the_queue() {
        use RequestStatus::*;
        use StatusChange::*;
        assert_eq!(next_status(Submitted, Review), Ok(InReview));
        assert_eq!(next_status(InReview, Review), Ok(InReview));
        assert_eq!(next_status(Submitted, Dismiss(Dismissal::Completed)), Ok(Completed));
        assert_eq!(next_status(InReview, Dismiss(Dismissal::NotCompleted)), Ok(NotCompleted));
        // Refused side: dismissed requests take no review or second dismissal; open ones no reopening.
        assert_eq!(next_status(Completed, Review), Err(RequestRefused::AlreadyDismissed));
        assert_eq!(next_status(NotCompleted, Dismiss(Dismissal::Completed)), Err(RequestRefused::AlreadyDismissed));
        assert_eq!(next_status(Submitted, Reopen), Err(RequestRefused::StillOpen));
        assert_eq!(next_status(Completed, Reopen), Ok(Submitted));
        assert_eq!(status_after_reply(Submitted, Disposition::LeaveOpen), Ok(InReview));
        assert_eq!(status_after_reply(InReview, Disposition::NotCompleted), Ok(NotCompleted));
        assert_eq!(status_after_reply(Completed, Disposition::Completed), Err(RequestRefused::AlreadyDismissed));
    }

    #[test]
    fn names_round_trip() {
        for k in RequestKind::ALL {
            assert_eq!(RequestKind::parse(k.as_str()), Ok(k));
        }
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Ok(s));
        }
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Ok(d));
        }
        for t in TimelineKind::ALL {
            assert_eq!(TimelineKind::parse(t.as_str()), Some(t));
        }
        for t in TaskKind::ALL {
            assert_eq!(TaskKind::parse(t.as_str()), Some(t));
        }
    }
}
