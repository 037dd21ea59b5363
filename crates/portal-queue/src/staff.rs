//! The staff side (seed 002): the Patient Portal Queue of open requests at one's locations, the
//! searchable archive of dismissed ones, one request with its timeline, dismissal from the list,
//! un-archiving ("mark as un-reviewed") and recording a reply sent by secure message.
//!
//! Reading and working the queue needs View Patients and the request's location (a billing
//! question is answered by billing staff); the helpers' clinical tasks need Edit Patients too
//! (see [`crate::helpers`]). A request at a location one cannot access answers 404.

use portal_core::access::{Actor, StaffPrincipal};
use portal_core::audit::AuditAction;
use portal_core::ids::LocationId;
use portal_core::messaging::SearchTerm;
use portal_core::requests::{
    Dismissal, Disposition, RequestRefused, RequestStatus, StatusChange, TimelineKind, next_status, status_after_reply,
};
use portal_core::staff::Permission;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::requests::{self as store, ListQuery, NewEvent, RequestRow};
use portal_store::{Db, DbConn, ids::new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::QueueError;
use crate::view::{Reader, RequestView, TaskView, TimelineEntry};

/// Requests shown per page of the queue and of the archive.
pub const PAGE: i64 = 25;

/// The staff member behind a request, with View Patients; the system principal has no queue.
pub(crate) fn staff_of(actor: &Actor) -> Result<&StaffPrincipal, QueueError> {
    let s = actor.principal.staff().ok_or(AccessError::Forbidden { needs: "a staff account" })?;
    s.require(Permission::ViewPatients)?;
    Ok(s)
}

/// The locations whose requests this staff member works, `None` for all.
fn scope(actor: &Actor) -> Option<Vec<String>> {
    actor.principal.location_scope().map(|l| l.iter().map(|x| x.to_string()).collect())
}

/// The request, when this staff member may work it; `NotFound` otherwise.
pub(crate) fn check_location(staff: &StaffPrincipal, row: &RequestRow) -> Result<(), QueueError> {
    if staff.may_access_location(&LocationId::from_trusted(row.location_id.clone())) {
        Ok(())
    } else {
        Err(AccessError::NotFound.into())
    }
}

/// A page of the queue or of the archive.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub requests: Vec<RequestView>,
    /// Where the next page starts (`before` of the next call), when there is one.
    pub next_before: Option<i64>,
    /// Open requests at the caller's locations (the queue block's count).
    pub open_count: i64,
}

async fn page(
    db: &Db,
    actor: &Actor,
    archived: bool,
    words: Vec<String>,
    before: Option<i64>,
    limit: i64,
) -> Result<QueuePage, QueueError> {
    let limit = limit.clamp(1, 100);
    let locations = scope(actor);
    let mut conn = db.read().await?;
    let (mut rows, open_count) =
        store::page(&mut conn, &ListQuery { archived, locations, words, before_seq: before, limit: limit + 1 }).await?;
    drop(conn);
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_before = if more { rows.last().map(|r| r.seq) } else { None };
    Ok(QueuePage { requests: RequestView::many(rows)?, next_before, open_count })
}

/// The Patient Portal Queue: open requests of the caller's locations, newest first.
pub async fn queue(db: &Db, actor: &Actor, before: Option<i64>, limit: i64) -> Result<QueuePage, QueueError> {
    staff_of(actor)?;
    let p = page(db, actor, false, vec![], before, limit).await?;
    if !p.requests.is_empty() {
        db.audit_read(
            AuditEntry::by(actor, AuditAction::RequestQueueViewed).detail(json!({ "shown": p.requests.len() })),
        )
        .await?;
    }
    Ok(p)
}

/// The number of open requests of the caller's locations (the home page's block).
pub async fn open_count(db: &Db, actor: &Actor) -> Result<i64, QueueError> {
    staff_of(actor)?;
    let mut conn = db.read().await?;
    Ok(store::open_count(&mut conn, scope(actor).as_deref()).await?)
}

/// The archive: dismissed requests of the caller's locations, newest request first; with `q`
/// (at least 3 characters), those whose patient name, type or text holds every word.
pub async fn archive(
    db: &Db,
    actor: &Actor,
    q: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<QueuePage, QueueError> {
    staff_of(actor)?;
    let words = match q.map(str::trim).filter(|q| !q.is_empty()) {
        None => vec![],
        Some(raw) => SearchTerm::parse(raw).map_err(|e| FieldErrors::single("q", e))?.words().to_vec(),
    };
    let searched = !words.is_empty();
    let p = page(db, actor, true, words, before, limit).await?;
    let action = if searched { AuditAction::RequestArchiveSearched } else { AuditAction::RequestQueueViewed };
    // The words are not recorded: a patient's name typed into the search is health information.
    db.audit_read(
        AuditEntry::by(actor, action)
            .detail(json!({ "archive": true, "searched": searched, "shown": p.requests.len() })),
    )
    .await?;
    Ok(p)
}

/// One request as staff see it: the request, its timeline and the tasks helpers opened.
#[derive(Debug, Clone, Serialize)]
pub struct RequestDetail {
    pub request: RequestView,
    pub timeline: Vec<TimelineEntry>,
    pub tasks: Vec<TaskView>,
}

pub async fn view(db: &Db, actor: &Actor, id: &str) -> Result<RequestDetail, QueueError> {
    let staff = staff_of(actor)?;
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, id.trim()).await?.ok_or(AccessError::NotFound)?;
    check_location(staff, &row)?;
    let detail = detail_of(&mut conn, staff, row).await?;
    drop(conn);
    db.audit_read(
        AuditEntry::by(actor, AuditAction::RequestViewed)
            .patient(&detail.request.patient_id)
            .target("request", &detail.request.id),
    )
    .await?;
    Ok(detail)
}

async fn detail_of(conn: &mut DbConn, staff: &StaffPrincipal, row: RequestRow) -> Result<RequestDetail, QueueError> {
    let me = staff.id.to_string();
    let timeline = store::timeline(conn, &row.id)
        .await?
        .into_iter()
        .filter_map(|e| TimelineEntry::of(e, Reader::Staff { id: &me }))
        .collect();
    let tasks =
        store::tasks_of_request(conn, &row.id).await?.into_iter().map(TaskView::of).collect::<Result<_, _>>()?;
    Ok(RequestDetail { request: RequestView::of(row)?, timeline, tasks })
}

/// Writes a change of status and its timeline entry (nothing when the status stays).
pub(crate) async fn change_status(
    tx: &mut DbConn,
    staff: &StaffPrincipal,
    row: &RequestRow,
    to: RequestStatus,
    at: time::PrimitiveDateTime,
) -> Result<(), QueueError> {
    if row.status == to.as_str() {
        return Ok(());
    }
    let dismissed_by = (!to.is_open()).then_some(staff.name.as_str());
    store::set_status(tx, &row.id, to.as_str(), !to.is_open(), at, dismissed_by).await?;
    store::add_event(
        tx,
        &NewEvent {
            id: &new_id(),
            request_id: &row.id,
            kind: TimelineKind::of_status(to).as_str(),
            actor_kind: "staff",
            actor_id: staff.id.as_str(),
            actor_name: &staff.name,
            conversation_id: None,
            message_id: None,
            created_at: at,
        },
    )
    .await?;
    Ok(())
}

/// One change of status in one transaction: the request locked, the rule checked, the change, its
/// timeline entry and the audit row.
async fn apply(db: &Db, actor: &Actor, id: &str, change: StatusChange) -> Result<RequestView, QueueError> {
    let staff = staff_of(actor)?.clone();
    let actor = actor.clone();
    let id = id.trim().to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            let row = store::find_for_update(tx, &id).await?.ok_or(AccessError::NotFound)?;
            check_location(&staff, &row)?;
            let from = RequestStatus::parse(&row.status).map_err(|_| AccessError::NotFound)?;
            let to = next_status(from, change)?;
            let at = now_utc();
            change_status(tx, &staff, &row, to, at).await?;
            let action = match change {
                StatusChange::Reopen => AuditAction::RequestReopened,
                StatusChange::Dismiss(_) => AuditAction::RequestDismissed,
                StatusChange::Review => AuditAction::RequestViewed,
            };
            audit::append(
                tx,
                &AuditEntry::by(&actor, action)
                    .patient(&row.patient_id)
                    .target("request", &row.id)
                    .detail(json!({ "from": from.as_str(), "to": to.as_str() })),
            )
            .await?;
            let row = store::find(tx, &id).await?.ok_or(AccessError::NotFound)?;
            Ok(RequestView::of(row)?)
        })
    })
    .await
}

/// Dismiss as completed or as will not be completed, straight from the list: the request goes
/// to the archive.
pub async fn dismiss(db: &Db, actor: &Actor, id: &str, how: Dismissal) -> Result<RequestView, QueueError> {
    apply(db, actor, id, StatusChange::Dismiss(how)).await
}

/// "Mark as un-reviewed" from the archive: back in the active queue as Submitted; audited.
pub async fn reopen(db: &Db, actor: &Actor, id: &str) -> Result<RequestView, QueueError> {
    apply(db, actor, id, StatusChange::Reopen).await
}

/// Whom a reply from the queue goes to: the portal user who made the request, about its patient.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyTarget {
    pub request: RequestView,
    pub recipient_account_id: String,
    pub patient_id: String,
}

/// The request a reply will answer, when this staff member may work it and it is still open
/// (a dismissed request is un-archived before it is answered again). `idempotency_key`: the
/// reply's key; a retry of a reply that dismissed the request is let through, to be answered with
/// the message the first attempt sent.
pub async fn reply_target(
    db: &Db,
    actor: &Actor,
    id: &str,
    idempotency_key: Option<&str>,
) -> Result<ReplyTarget, QueueError> {
    let staff = staff_of(actor)?;
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, id.trim()).await?.ok_or(AccessError::NotFound)?;
    check_location(staff, &row)?;
    let retried = match idempotency_key.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) if row.archived => store::replied_with_key(&mut conn, &row.id, staff.id.as_str(), k).await?,
        _ => false,
    };
    if row.archived && !retried {
        return Err(RequestRefused::AlreadyDismissed.into());
    }
    let request = RequestView::of(row)?;
    Ok(ReplyTarget {
        recipient_account_id: request.requester_account_id.clone(),
        patient_id: request.patient_id.clone(),
        request,
    })
}

/// A reply sent by secure message (portal-messaging sent it), to record against its request.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RecordReply {
    pub conversation_id: String,
    pub message_id: String,
    /// Associate the message with the request (seed 002's default): the patient sees it in the
    /// request's timeline. Off: the message stands alone in the patient's messages.
    pub linked: bool,
    pub disposition: Disposition,
}

/// Records a reply and applies its disposition, in one transaction. Idempotent per message: a
/// retried reply (the message replayed by its idempotency key) changes nothing twice.
pub async fn record_reply(db: &Db, actor: &Actor, id: &str, reply: RecordReply) -> Result<RequestView, QueueError> {
    let staff = staff_of(actor)?.clone();
    let actor = actor.clone();
    let id = id.trim().to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            let row = store::find_for_update(tx, &id).await?.ok_or(AccessError::NotFound)?;
            check_location(&staff, &row)?;
            if store::reply_recorded(tx, &row.id, &reply.message_id).await? {
                return Ok(RequestView::of(row)?);
            }
            let from = RequestStatus::parse(&row.status).map_err(|_| AccessError::NotFound)?;
            let to = status_after_reply(from, reply.disposition)?;
            let at = now_utc();
            // Recorded also when not linked (without the conversation): that is what makes a
            // retried reply idempotent. The portal user's timeline leaves unlinked replies out.
            store::add_event(
                tx,
                &NewEvent {
                    id: &new_id(),
                    request_id: &row.id,
                    kind: TimelineKind::Replied.as_str(),
                    actor_kind: "staff",
                    actor_id: staff.id.as_str(),
                    actor_name: &staff.name,
                    conversation_id: reply.linked.then_some(reply.conversation_id.as_str()),
                    message_id: Some(&reply.message_id),
                    created_at: at,
                },
            )
            .await?;
            change_status(tx, &staff, &row, to, at).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::RequestReplied)
                    .patient(&row.patient_id)
                    .target("request", &row.id)
                    .detail(json!({
                        "message_id": reply.message_id,
                        "linked": reply.linked,
                        "disposition": reply.disposition.as_str(),
                        "from": from.as_str(),
                        "to": to.as_str(),
                    })),
            )
            .await?;
            let row = store::find(tx, &id).await?.ok_or(AccessError::NotFound)?;
            Ok(RequestView::of(row)?)
        })
    })
    .await
}
