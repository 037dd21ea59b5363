//! The helper button (seed 002: "the yellow helper button ... takes a different action depending
//! on what the patient requested"): a refill opens a draft encounter note with the requested
//! medication, an appointment request an appointment draft, a records request a release task;
//! a billing or general question opens a reply.
//!
//! The helpers sit behind [`RequestHelpers`], so that an integration with an EMR can replace the
//! built-in tasks (for example by opening the EMR's own encounter) without touching the queue.
//! The built-in [`BuiltInHelpers`] keep their tasks in `portal_request_tasks`: a draft staff edit
//! and mark done on the task page.

use futures_util::future::BoxFuture;
use portal_core::access::Actor;
use portal_core::audit::AuditAction;
use portal_core::requests::{
    RequestDetails, RequestKind, RequestStatus, StatusChange, TaskKind, TaskText, next_status,
};
use portal_core::staff::Permission;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::requests::{self as store, NewTask, RequestRow};
use portal_store::{Db, DbConn, ids::new_id, org, staff as staff_store};
use serde::Serialize;
use serde_json::json;

use crate::QueueError;
use crate::staff::{change_status, check_location, staff_of};
use crate::view::{RequestView, TaskView};

/// What the helper did; the page or the API client goes there next.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum HelperOutcome {
    /// A task to complete (opened now, or the one opened before for this request).
    Task { task: Box<TaskView> },
    /// Nothing to prepare: answer the request with a reply.
    Reply,
}

/// The helper actions of the queue, one per request type. Using a helper puts a Submitted
/// request In review.
pub trait RequestHelpers: Send + Sync + 'static {
    /// The button's words for a request type.
    fn label(&self, kind: RequestKind) -> &'static str;

    /// Takes the next step for the request, as `actor`.
    fn run<'a>(
        &'a self,
        db: &'a Db,
        actor: &'a Actor,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<HelperOutcome, QueueError>>;
}

/// The helpers Portal ships: tasks kept beside the requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltInHelpers;

impl RequestHelpers for BuiltInHelpers {
    fn label(&self, kind: RequestKind) -> &'static str {
        match kind {
            RequestKind::Refill => "Open refill note",
            RequestKind::Appointment => "Open appointment draft",
            RequestKind::Records => "Open release task",
            RequestKind::Billing | RequestKind::General => "Reply",
        }
    }

    fn run<'a>(
        &'a self,
        db: &'a Db,
        actor: &'a Actor,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<HelperOutcome, QueueError>> {
        Box::pin(run_built_in(db, actor, request_id))
    }
}

/// May this staff member open and edit the built-in clinical tasks (a draft note, appointment
/// or release is part of the patient's record)? Edit Patients.
pub fn may_edit_tasks(staff: &portal_core::StaffPrincipal) -> Result<(), AccessError> {
    staff.require(Permission::EditPatients)
}

async fn run_built_in(db: &Db, actor: &Actor, request_id: &str) -> Result<HelperOutcome, QueueError> {
    let staff = staff_of(actor)?.clone();
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, request_id.trim()).await?.ok_or(AccessError::NotFound)?;
    check_location(&staff, &row)?;
    let request = RequestView::of(row)?;
    let Some(task_kind) = TaskKind::for_request(request.kind) else {
        drop(conn);
        mark_in_review(db, actor, &request.id).await?;
        return Ok(HelperOutcome::Reply);
    };
    may_edit_tasks(&staff)?;
    let draft = draft_of(&mut conn, &request).await?;
    drop(conn);
    let actor = actor.clone();
    let id = request.id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let row = store::find_for_update(tx, &id).await?.ok_or(AccessError::NotFound)?;
            check_location(&staff, &row)?;
            let at = now_utc();
            review(tx, &staff, &row, at).await?;
            if let Some(existing) = store::task_of(tx, &id, task_kind.as_str()).await? {
                return Ok(HelperOutcome::Task { task: Box::new(TaskView::of(existing)?) });
            }
            let task_id = new_id();
            let task = store::insert_task(
                tx,
                &NewTask {
                    id: &task_id,
                    request_id: &id,
                    patient_id: &row.patient_id,
                    location_id: &row.location_id,
                    kind: task_kind.as_str(),
                    title: &draft.0,
                    body: &draft.1,
                    status: "draft",
                    created_by_id: staff.id.as_str(),
                    created_by_name: &staff.name,
                    created_at: at,
                    updated_at: at,
                },
            )
            .await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::RequestTaskCreated)
                    .patient(&row.patient_id)
                    .target("request_task", &task_id)
                    .detail(json!({ "request_id": id, "kind": task_kind.as_str() })),
            )
            .await?;
            Ok(HelperOutcome::Task { task: Box::new(TaskView::of(task)?) })
        })
    })
    .await
}

/// Submitted becomes In review (a dismissed request cannot be worked: un-archive it first).
async fn review(
    tx: &mut DbConn,
    staff: &portal_core::StaffPrincipal,
    row: &RequestRow,
    at: time::PrimitiveDateTime,
) -> Result<(), QueueError> {
    let from = RequestStatus::parse(&row.status).map_err(|_| AccessError::NotFound)?;
    let to = next_status(from, StatusChange::Review)?;
    change_status(tx, staff, row, to, at).await
}

async fn mark_in_review(db: &Db, actor: &Actor, id: &str) -> Result<(), QueueError> {
    let staff = staff_of(actor)?.clone();
    let id = id.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            let row = store::find_for_update(tx, &id).await?.ok_or(AccessError::NotFound)?;
            check_location(&staff, &row)?;
            review(tx, &staff, &row, now_utc()).await
        })
    })
    .await
}

fn or_none(v: Option<&str>) -> &str {
    v.filter(|s| !s.is_empty()).unwrap_or("not given")
}

/// The title and prefilled text of the task a request opens.
async fn draft_of(conn: &mut DbConn, r: &RequestView) -> Result<(String, String), QueueError> {
    let when = portal_core::time_util::rfc3339(r.created_at);
    let date = when.get(..10).unwrap_or(&when);
    let by = format!("{} ({}) on {date}", r.requester_name, r.relation);
    Ok(match &r.details {
        RequestDetails::Refill { medication, pharmacy, note } => (
            format!("Refill: {}", medication.as_str()),
            format!(
                "Encounter note (draft)\nPatient: {}\nReason for encounter: prescription refill requested through the portal by {by}.\n\n\
                 Medication: {}\nPharmacy: {}\nPatient's note: {}\n\nAssessment and plan:\n",
                r.patient_name,
                medication.as_str(),
                or_none(pharmacy.as_ref().map(|p| p.as_str())),
                or_none(note.as_ref().map(|n| n.as_str())),
            ),
        ),
        RequestDetails::Appointment { reason, preferred_times, location_id, preferred_provider_id } => {
            let location = match location_id {
                Some(l) => org::find_location(conn, l).await.ok().map(|l| l.name),
                None => None,
            };
            let provider = match preferred_provider_id {
                Some(p) => staff_store::find(conn, p).await.ok().map(|s| s.name),
                None => None,
            };
            (
                format!("Appointment: {}", r.summary),
                format!(
                    "Appointment (draft)\nPatient: {}\nRequested through the portal by {by}.\n\nReason: {}\n\
                     Preferred days and times: {}\nLocation: {}\nPreferred provider: {}\n\nScheduled for:\n",
                    r.patient_name,
                    reason.as_str(),
                    or_none(preferred_times.as_ref().map(|p| p.as_str())),
                    or_none(location.as_deref()),
                    or_none(provider.as_deref()),
                ),
            )
        }
        RequestDetails::Records { records, note } => (
            "Release of records".to_owned(),
            format!(
                "Release of information (task)\nPatient: {}\nRequested through the portal by {by}.\n\n\
                 Records requested: {}\nNote: {}\n\nBefore releasing: confirm the requester's authorisation for these records.\nReleased on:\n",
                r.patient_name,
                records.as_str(),
                or_none(note.as_ref().map(|n| n.as_str())),
            ),
        ),
        RequestDetails::Billing { .. } | RequestDetails::General { .. } => (r.kind_label.to_owned(), String::new()),
    })
}

/// A task with the request it serves.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    pub task: TaskView,
    pub request: RequestView,
}

/// One task, for staff who may work its request.
pub async fn task(db: &Db, actor: &Actor, id: &str) -> Result<TaskDetail, QueueError> {
    let staff = staff_of(actor)?;
    let mut conn = db.read().await?;
    let t = store::find_task(&mut conn, id.trim()).await?.ok_or(AccessError::NotFound)?;
    let row = store::find(&mut conn, &t.request_id).await?.ok_or(AccessError::NotFound)?;
    check_location(staff, &row)?;
    drop(conn);
    db.audit_read(
        AuditEntry::by(actor, AuditAction::RequestTaskViewed).patient(&row.patient_id).target("request_task", &t.id),
    )
    .await?;
    Ok(TaskDetail { task: TaskView::of(t)?, request: RequestView::of(row)? })
}

/// Saves a task's text, and marks it done when asked (a done task can still be corrected; it
/// stays done).
pub async fn save_task(db: &Db, actor: &Actor, id: &str, body: &str, done: bool) -> Result<TaskDetail, QueueError> {
    let staff = staff_of(actor)?.clone();
    may_edit_tasks(&staff)?;
    let body = TaskText::parse(body).map_err(|e| FieldErrors::single("body", e))?;
    let actor = actor.clone();
    let id = id.trim().to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            let t = store::find_task(tx, &id).await?.ok_or(AccessError::NotFound)?;
            let row = store::find(tx, &t.request_id).await?.ok_or(AccessError::NotFound)?;
            check_location(&staff, &row)?;
            let done_by = if done || t.status == "done" {
                Some(t.completed_by_name.clone().filter(|_| !done).unwrap_or_else(|| staff.name.clone()))
            } else {
                None
            };
            store::update_task(tx, &id, body.as_str(), now_utc(), done_by.as_deref()).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::RequestTaskUpdated)
                    .patient(&row.patient_id)
                    .target("request_task", &id)
                    .detail(json!({ "done": done_by.is_some() })),
            )
            .await?;
            let t = store::find_task(tx, &id).await?.ok_or(AccessError::NotFound)?;
            Ok(TaskDetail { task: TaskView::of(t)?, request: RequestView::of(row)? })
        })
    })
    .await
}
