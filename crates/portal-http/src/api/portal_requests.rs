//! Requests for portal users (seed 002; tag `portal`): the requests of their patients, a new
//! request (a prescription refill, an appointment, records, a billing or general question), one
//! request with its status and timeline, and what an appointment request may name.
//!
//! Portal sessions only (a staff token answers 401). A portal user reaches only the requests of
//! the patients for whom they hold a grant in force covering requests: another patient's request
//! answers 404 like a missing one. The shapes are those of the staff side (`requests.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::FieldErrors;
use portal_core::requests::RawRequestDetails;
use portal_queue::portal::{self, AppointmentChoices, NewRequestInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::messaging::shapes::IdempotencyKeyHeader;
use super::requests::{RequestDto, TimelineEntryDto, parse_before};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiPortal, ApiQuery};
use crate::state::AppState;

/// Requests a page of the list holds.
const PAGE: i64 = 25;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests, submit_request))
        .routes(routes!(get_request))
        .routes(routes!(appointment_choices))
}

/// A page of the caller's requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyRequestsDto {
    /// Newest first; 25 a page.
    pub requests: Vec<RequestDto>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyRequestsParams {
    /// Only this patient's requests (one of the caller's patients; 404 otherwise).
    pub patient_id: Option<String>,
    /// The previous page's `next_before`, as given.
    pub before: Option<String>,
}

/// The requests of the caller's patients (those whose grant covers requests), newest first.
/// Audited.
#[utoipa::path(get, path = "/api/v1/portal/requests", operation_id = "listPortalRequests", tag = "portal",
    security(("session" = [])), params(MyRequestsParams),
    responses((status = 200, body = MyRequestsDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`patient_id` is not one of the caller's patients", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A `before` this server did not give out", body = Problem, content_type = "application/problem+json")))]
async fn list_requests(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiQuery(p): ApiQuery<MyRequestsParams>,
) -> ApiResult<Json<MyRequestsDto>> {
    let mut errors = FieldErrors::new();
    let before = parse_before(p.before.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(Problem::invalid(errors));
    }
    let patient = p.patient_id.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let mut list = portal::mine(state.db(), s.principal(), s.ip.clone(), patient, before, PAGE + 1).await?;
    let more = list.len() as i64 > PAGE;
    list.truncate(PAGE as usize);
    let next_before = if more { list.last().map(|r| r.seq.to_string()) } else { None };
    Ok(Json(MyRequestsDto { requests: list.into_iter().map(Into::into).collect(), next_before }))
}

/// A new request: the patient, the kind, and the fields of that kind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalRequest {
    /// One of the caller's patients (a grant in force covering requests).
    pub patient_id: String,
    /// `refill` (needs `medication`; `pharmacy`, `note` optional), `appointment` (needs `reason`;
    /// `preferred_times`, `location_id`, `preferred_provider_id` optional, from
    /// `GET /api/v1/portal/patients/{id}/appointment-choices`), `records` (needs `records`;
    /// `note` optional), `billing` or `general` (need `question`).
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

/// A request made, or, for a retried submission (same `Idempotency-Key`), the one the first made.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmittedRequestDto {
    pub request: RequestDto,
    pub replayed: bool,
}

/// Makes a request about one of the caller's patients; it goes to the queue of the patient's
/// location as Submitted. With an `Idempotency-Key`, a retried submission answers 200 with the
/// request the first one made (the same key with other content: 422).
#[utoipa::path(post, path = "/api/v1/portal/requests", operation_id = "submitPortalRequest", tag = "portal",
    security(("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1-200 visible ASCII characters, unique per portal user: a retry with the same key makes nothing twice")),
    request_body = NewPortalRequest,
    responses((status = 201, description = "Made; `Location` is the request", body = SubmittedRequestDto,
            headers(("location" = String, description = "The request"))),
        (status = 200, description = "A replay of an earlier submission with the same Idempotency-Key", body = SubmittedRequestDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Choose a password of your own first, or the grant does not cover requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the caller's patients", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The clinic does not take portal requests at the moment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields (every one named), a malformed Idempotency-Key, or a key already used for another request", body = Problem, content_type = "application/problem+json")))]
async fn submit_request(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    ApiJson(req): ApiJson<NewPortalRequest>,
) -> ApiResult<Response> {
    let input = NewRequestInput {
        patient_id: req.patient_id,
        details: RawRequestDetails {
            kind: req.kind,
            medication: req.medication,
            pharmacy: req.pharmacy,
            note: req.note,
            reason: req.reason,
            preferred_times: req.preferred_times,
            location_id: req.location_id,
            preferred_provider_id: req.preferred_provider_id,
            records: req.records,
            question: req.question,
        },
        idempotency_key: key,
    };
    let done = portal::submit(state.db(), s.principal(), s.ip.clone(), input).await?;
    let status = if done.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let location = HeaderValue::from_str(&format!("/api/v1/portal/requests/{}", done.request.id))
        .map_err(|e| Problem::internal(&e))?;
    let body = SubmittedRequestDto { request: done.request.into(), replayed: done.replayed };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// One request with its timeline, as a portal user reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyRequestDto {
    pub request: RequestDto,
    /// Oldest first. A reply's text shows to the portal user it was sent to.
    pub timeline: Vec<TimelineEntryDto>,
}

/// One of the caller's requests with its status and timeline. 404 for a request of a patient the
/// caller holds no grant covering requests for, like a missing one. Audited.
#[utoipa::path(get, path = "/api/v1/portal/requests/{id}", operation_id = "getPortalRequest", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = MyRequestDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_request(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MyRequestDto>> {
    let r = portal::one(state.db(), s.principal(), s.ip.clone(), &id).await?;
    Ok(Json(MyRequestDto { request: r.request.into(), timeline: r.timeline.into_iter().map(Into::into).collect() }))
}

/// One choice of a select list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChoiceDto {
    pub id: String,
    pub name: String,
}

/// What an appointment request may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentChoicesDto {
    /// The clinic's locations.
    pub locations: Vec<ChoiceDto>,
    /// The providers who see patients at the patient's location, by name.
    pub providers: Vec<ChoiceDto>,
}

impl From<AppointmentChoices> for AppointmentChoicesDto {
    fn from(c: AppointmentChoices) -> Self {
        let of = |v: Vec<portal::Choice>| v.into_iter().map(|c| ChoiceDto { id: c.id, name: c.name }).collect();
        Self { locations: of(c.locations), providers: of(c.providers) }
    }
}

/// The locations and providers an appointment request for one of the caller's patients may
/// name. 404 for a patient without a grant covering requests.
#[utoipa::path(get, path = "/api/v1/portal/patients/{id}/appointment-choices", operation_id = "getPortalAppointmentChoices", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = AppointmentChoicesDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn appointment_choices(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AppointmentChoicesDto>> {
    Ok(Json(portal::appointment_choices(state.db(), s.principal(), &id).await?.into()))
}
