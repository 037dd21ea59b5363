//! The portal side: a portal user makes a request for a patient they hold a grant (covering
//! requests) for, lists the requests of their patients and follows one's status and timeline.

use portal_core::access::{Actor, Principal};
use portal_core::audit::AuditAction;
use portal_core::events::DomainEvent;
use portal_core::ids::PatientId;
use portal_core::messaging::IdempotencyKey;
use portal_core::portal_accounts::{GrantScope, PortalPrincipal};
use portal_core::requests::{RawRequestDetails, RequestDetails, RequestRefused, RequestStatus, TimelineKind};
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::requests::{self as store, NewEvent, NewRequest};
use portal_store::{
    Db, DbConn, StoreError, ids::new_id, org, outbox, portal_access, portal_accounts, staff as staff_store,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::QueueError;
use crate::view::{RequestView, TimelineEntry};

/// A request as a portal user sends it: the patient, the kind and its fields (flat: each kind
/// reads its own), and an optional idempotency key.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewRequestInput {
    pub patient_id: String,
    #[serde(flatten)]
    pub details: RawRequestDetails,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A request made (or, for a retried submission, the one the first submission made).
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub request: RequestView,
    pub replayed: bool,
}

/// One choice of a select list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub id: String,
    pub name: String,
}

/// What an appointment request may name: the clinic's locations and the providers (active
/// clinicians) who see patients at the patient's location.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentChoices {
    pub locations: Vec<Choice>,
    pub providers: Vec<Choice>,
}

/// A request with its timeline, as a portal user reads it.
#[derive(Debug, Clone, Serialize)]
pub struct MyRequest {
    pub request: RequestView,
    pub timeline: Vec<TimelineEntry>,
}

/// The audit entry of a portal user's action (the actor is the portal account).
pub(crate) fn portal_entry(principal: &PortalPrincipal, ip: Option<String>, action: AuditAction) -> AuditEntry {
    let mut e = AuditEntry::by(&Actor::new(Principal::System, ip), action);
    e.actor_kind = "portal";
    e.actor_id = Some(principal.account_id.to_string());
    e.actor_name = principal.username.to_string();
    e
}

/// The patient, when this portal user may make and read its requests; `NotFound` for a patient
/// they hold no grant for (it answers exactly like a missing one).
fn require_requests(principal: &PortalPrincipal, patient_id: &str) -> Result<PatientId, QueueError> {
    let pid = PatientId::parse(patient_id.trim()).map_err(|_| AccessError::NotFound)?;
    principal.require(&pid, GrantScope::Requests)?;
    Ok(pid)
}

/// The patients whose requests this portal user may read now.
fn request_patients(principal: &PortalPrincipal) -> Vec<String> {
    principal
        .grants
        .iter()
        .filter(|g| principal.require(&g.patient_id, GrantScope::Requests).is_ok())
        .map(|g| g.patient_id.to_string())
        .collect()
}

/// The providers of a location: active clinicians who may see its patients, by name.
pub(crate) async fn providers_at(conn: &mut DbConn, location_id: &str) -> Result<Vec<Choice>, StoreError> {
    let links = staff_store::all_location_links(conn).await?;
    let mut out: Vec<Choice> = staff_store::list(conn)
        .await?
        .into_iter()
        .filter(|s| s.active && StaffRole::parse(&s.role).is_ok_and(|r| r == StaffRole::Clinician))
        .filter(|s| links.iter().any(|(sid, lid)| *sid == s.id && lid == location_id))
        .map(|s| Choice { id: s.id, name: s.name })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The choices of the appointment request form for one of the user's patients.
pub async fn appointment_choices(
    db: &Db,
    principal: &PortalPrincipal,
    patient_id: &str,
) -> Result<AppointmentChoices, QueueError> {
    require_requests(principal, patient_id)?;
    let mut conn = db.read().await?;
    let patient = portal_access::patient(&mut conn, patient_id.trim()).await?;
    let locations =
        org::list_locations(&mut conn).await?.into_iter().map(|l| Choice { id: l.id, name: l.name }).collect();
    let providers = providers_at(&mut conn, &patient.location_id).await?;
    Ok(AppointmentChoices { locations, providers })
}

/// Checks what the store must confirm: an appointment's location and provider are among those
/// offered.
async fn check_choices(conn: &mut DbConn, details: &RequestDetails, patient_location: &str) -> Result<(), QueueError> {
    let RequestDetails::Appointment { location_id, preferred_provider_id, .. } = details else {
        return Ok(());
    };
    let mut errors = FieldErrors::new();
    if let Some(l) = location_id
        && !org::list_locations(conn).await?.iter().any(|x| &x.id == l)
    {
        errors.push("location_id", "is not one of the clinic's locations");
    }
    if let Some(p) = preferred_provider_id
        && !providers_at(conn, patient_location).await?.iter().any(|x| &x.id == p)
    {
        errors.push("preferred_provider_id", "is not one of the providers offered");
    }
    Ok(errors.into_result()?)
}

/// A portal user makes a request (seed 002's queue receives it). Needs a grant in force covering
/// requests and the portal switched on; the request goes to the patient's location's queue.
pub async fn submit(
    db: &Db,
    principal: &PortalPrincipal,
    ip: Option<String>,
    input: NewRequestInput,
) -> Result<Submitted, QueueError> {
    let pid = require_requests(principal, &input.patient_id)?;
    let mut errors = FieldErrors::new();
    let details = match input.details.parse() {
        Ok(d) => Some(d),
        Err(e) => {
            errors.0.extend(e.0);
            None
        }
    };
    let key = errors.check_optional("idempotency_key", &input.idempotency_key, IdempotencyKey::parse);
    let details = match details {
        Some(d) if errors.is_empty() => d,
        _ => return Err(errors.into()),
    };
    let account_id = principal.account_id.to_string();
    let mut conn = db.read().await?;
    if let Some(k) = &key
        && let Some(first) = store::by_idempotency_key(&mut conn, &account_id, k.as_str()).await?
    {
        return replayed(first, &details);
    }
    if !org::organization(&mut conn).await?.use_portal {
        return Err(RequestRefused::PortalOff.into());
    }
    let patient = portal_access::patient(&mut conn, pid.as_str()).await?;
    check_choices(&mut conn, &details, &patient.location_id).await?;
    let account = portal_accounts::find_account(&mut conn, &account_id).await?.ok_or(AccessError::NotFound)?;
    drop(conn);
    let grant = principal.grant_for(&pid)?;
    let relation_kind = grant.relation;
    let relation = relation_kind.as_str();
    let patient_name = format!("{} {}", patient.first_name, patient.last_name);
    let kind = details.kind();
    let details_json =
        serde_json::to_string(&details).map_err(|e| StoreError::Corrupt(format!("request details: {e}")))?;
    let search_text = format!("{patient_name} {} {}", kind.label(), details.search_text());
    let summary = details.summary();
    let audit = portal_entry(principal, ip, AuditAction::RequestSubmitted).patient(&patient.id);
    let outcome = db
        .write(move |tx| {
            Box::pin(async move {
                if let Some(k) = &key
                    && let Some(first) = store::by_idempotency_key(tx, &account_id, k.as_str()).await?
                {
                    return replayed(first, &details);
                }
                let id = new_id();
                let at = now_utc();
                let row = store::insert_request(
                    tx,
                    &NewRequest {
                        id: &id,
                        patient_id: &patient.id,
                        location_id: &patient.location_id,
                        patient_name: &patient_name,
                        account_id: &account_id,
                        requester_name: &account.display_name,
                        relation,
                        kind: kind.as_str(),
                        details: &details_json,
                        summary: &summary,
                        search_text: &search_text,
                        status: RequestStatus::Submitted.as_str(),
                        archived: false,
                        created_at: at,
                        updated_at: at,
                        idempotency_key: key.as_ref().map(|k| k.as_str()),
                    },
                )
                .await?;
                store::add_event(
                    tx,
                    &NewEvent {
                        id: &new_id(),
                        request_id: &id,
                        kind: TimelineKind::Submitted.as_str(),
                        actor_kind: "portal",
                        actor_id: &account_id,
                        actor_name: &account.display_name,
                        conversation_id: None,
                        message_id: None,
                        created_at: at,
                    },
                )
                .await?;
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::PortalRequestSubmitted {
                        request_id: id.clone(),
                        account_id: account_id.clone(),
                        patient_id: patient.id.clone(),
                        relation: relation_kind,
                        request_kind: kind.as_str().to_owned(),
                    },
                )
                .await?;
                let entry = audit.target("request", &id).detail(json!({ "kind": kind.as_str() }));
                audit::append(tx, &entry).await?;
                Ok::<_, QueueError>(Submitted { request: RequestView::of(row)?, replayed: false })
            })
        })
        .await;
    match outcome {
        // Two submissions with one key at once (PostgreSQL): the unique index let one through.
        Err(QueueError::Store(StoreError::Conflict { .. })) => {
            let mut conn = db.read().await?;
            let k = input.idempotency_key.unwrap_or_default();
            match store::by_idempotency_key(&mut conn, principal.account_id.as_str(), k.trim()).await? {
                Some(first) => Ok(Submitted { request: RequestView::of(first)?, replayed: true }),
                None => Err(QueueError::Store(StoreError::Corrupt("idempotency conflict without a request".into()))),
            }
        }
        other => other,
    }
}

fn replayed(first: portal_store::requests::RequestRow, details: &RequestDetails) -> Result<Submitted, QueueError> {
    let view = RequestView::of(first)?;
    if &view.details != details {
        return Err(QueueError::KeyReused);
    }
    Ok(Submitted { request: view, replayed: true })
}

/// The requests of this portal user's patients (all of them, or one), newest first.
pub async fn mine(
    db: &Db,
    principal: &PortalPrincipal,
    ip: Option<String>,
    patient_id: Option<&str>,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<RequestView>, QueueError> {
    let patients = match patient_id {
        Some(p) => vec![require_requests(principal, p)?.to_string()],
        None => request_patients(principal),
    };
    let mut conn = db.read().await?;
    let rows = store::of_patients(&mut conn, &patients, before_seq, limit).await?;
    drop(conn);
    let views = RequestView::many(rows)?;
    if !views.is_empty() {
        let mut entry = portal_entry(principal, ip, AuditAction::RequestViewed)
            .detail(json!({ "list": views.len(), "requests": views.iter().map(|v| &v.id).collect::<Vec<_>>() }));
        if let Some(p) = patient_id {
            entry = entry.patient(p.trim());
        }
        db.audit_read(entry).await?;
    }
    Ok(views)
}

/// One request of the user's patients with its timeline. Replies are shown to the portal user
/// they were sent to; others of the patient's portal users read that one was sent.
pub async fn one(
    db: &Db,
    principal: &PortalPrincipal,
    ip: Option<String>,
    request_id: &str,
) -> Result<MyRequest, QueueError> {
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, request_id.trim()).await?.ok_or(AccessError::NotFound)?;
    // Not one of this user's patients (or a grant without requests): as if it did not exist.
    require_requests(principal, &row.patient_id).map_err(|_| AccessError::NotFound)?;
    let events = store::timeline(&mut conn, &row.id).await?;
    drop(conn);
    let me = principal.account_id.to_string();
    let requester = row.account_id.clone();
    let timeline = events
        .into_iter()
        // A reply not linked to the request belongs to the messages, not to the timeline.
        .filter(|e| !(e.event.kind == TimelineKind::Replied.as_str() && e.event.conversation_id.is_none()))
        .filter_map(|e| TimelineEntry::of(e, crate::view::Reader::Portal { account_id: &me, requester: &requester }))
        .collect();
    let request = RequestView::of(row)?;
    db.audit_read(
        portal_entry(principal, ip, AuditAction::RequestViewed)
            .patient(&request.patient_id)
            .target("request", &request.id),
    )
    .await?;
    Ok(MyRequest { request, timeline })
}
