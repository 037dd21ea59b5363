//! What the pages and the API show of requests, timelines and tasks.

use portal_core::requests::{RequestDetails, RequestKind, RequestStatus, TaskKind, TimelineKind};
use portal_store::StoreError;
use portal_store::requests::{RequestRow, TaskRow, TimelineRow};
use serde::Serialize;
use time::PrimitiveDateTime;

/// A labelled field of a request ("Medication", "Lisinopril 10 mg").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// One request as staff and its portal users see it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: String,
    /// The keyset position for "the next page" (not shown).
    #[serde(skip)]
    pub seq: i64,
    pub kind: RequestKind,
    pub kind_label: &'static str,
    pub status: RequestStatus,
    pub status_label: &'static str,
    /// Open (in the active queue) or dismissed (in the archive).
    pub open: bool,
    pub patient_id: String,
    pub patient_name: String,
    pub location_id: String,
    pub requester_account_id: String,
    pub requester_name: String,
    pub relation: String,
    pub summary: String,
    pub fields: Vec<Field>,
    pub details: RequestDetails,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub dismissed_at: Option<PrimitiveDateTime>,
    pub dismissed_by_name: Option<String>,
}

impl RequestView {
    pub fn of(row: RequestRow) -> Result<Self, StoreError> {
        let details: RequestDetails = serde_json::from_str(&row.details)
            .map_err(|e| StoreError::Corrupt(format!("request {} has unreadable details: {e}", row.id)))?;
        let status = RequestStatus::parse(&row.status)
            .map_err(|_| StoreError::Corrupt(format!("request {} has an unknown status", row.id)))?;
        let fields = details.fields().into_iter().map(|(label, value)| Field { label, value }).collect();
        let kind = details.kind();
        Ok(Self {
            id: row.id,
            seq: row.seq,
            kind,
            kind_label: kind.label(),
            status,
            status_label: status.label(),
            open: status.is_open(),
            patient_id: row.patient_id,
            patient_name: row.patient_name,
            location_id: row.location_id,
            requester_account_id: row.account_id,
            requester_name: row.requester_name,
            relation: row.relation,
            summary: row.summary,
            fields,
            details,
            created_at: row.created_at,
            updated_at: row.updated_at,
            dismissed_at: row.dismissed_at,
            dismissed_by_name: row.dismissed_by_name,
        })
    }

    pub(crate) fn many(rows: Vec<RequestRow>) -> Result<Vec<Self>, StoreError> {
        rows.into_iter().map(Self::of).collect()
    }
}

/// One entry of a request's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub kind: TimelineKind,
    pub label: &'static str,
    pub at: PrimitiveDateTime,
    /// The staff member or portal user who did it.
    pub by: String,
    /// A reply's text, for the staff member who sent it and the portal user it was sent to
    /// (see [`Reader`]); `None` for everyone else.
    pub reply: Option<String>,
    pub conversation_id: Option<String>,
}

/// Who reads a timeline: a reply's text is shown only to the staff member who sent it and to
/// the portal user it was sent to (seed 001: everyone sees only the messages sent to or by
/// themselves); the others read that a reply was sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader<'a> {
    Staff { id: &'a str },
    Portal { account_id: &'a str, requester: &'a str },
}

impl TimelineEntry {
    pub(crate) fn of(row: TimelineRow, reader: Reader<'_>) -> Option<Self> {
        let kind = TimelineKind::parse(&row.event.kind)?;
        let sees_reply = match reader {
            Reader::Staff { id } => row.event.actor_kind == "staff" && row.event.actor_id == id,
            Reader::Portal { account_id, requester } => account_id == requester,
        };
        Some(Self {
            kind,
            label: kind.label(),
            at: row.event.created_at,
            by: row.event.actor_name,
            reply: if sees_reply { row.reply_body } else { None },
            conversation_id: if sees_reply { row.event.conversation_id } else { None },
        })
    }
}

/// A task a helper opened.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: String,
    pub request_id: String,
    pub patient_id: String,
    pub kind: TaskKind,
    pub kind_label: &'static str,
    pub title: String,
    pub body: String,
    pub done: bool,
    pub created_by_name: String,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub completed_at: Option<PrimitiveDateTime>,
    pub completed_by_name: Option<String>,
}

impl TaskView {
    pub fn of(row: TaskRow) -> Result<Self, StoreError> {
        let kind = TaskKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("task {} has an unknown kind", row.id)))?;
        Ok(Self {
            id: row.id,
            request_id: row.request_id,
            patient_id: row.patient_id,
            kind,
            kind_label: kind.label(),
            title: row.title,
            body: row.body,
            done: row.status == "done",
            created_by_name: row.created_by_name,
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
            completed_by_name: row.completed_by_name,
        })
    }
}
