//! Patients, contacts and care teams over the API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portal_practice::audit_log;
use portal_practice::patients;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{
    AuditEventDto, CareTeamMemberDto, CareTeamRequest, ContactDto, ContactRequest, FacesheetDto, PatientDto,
    PatientPageDto, PatientRequest,
};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_patients, create_patient))
        .routes(routes!(get_patient, update_patient))
        .routes(routes!(add_contact))
        .routes(routes!(update_contact, remove_contact))
        .routes(routes!(put_care_team_member, remove_care_team_member))
        .routes(routes!(list_audit_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientSearchParams {
    /// A name (any words), a date of birth (`YYYY-MM-DD` or `MM/DD/YYYY`) or a record number.
    pub q: Option<String>,
    pub location_id: Option<String>,
    /// `active`, `inactive` or `deceased`.
    pub status: Option<String>,
    /// 1-based page number.
    pub page: Option<i64>,
    /// 1 to 100; default 25.
    pub per_page: Option<i64>,
}

/// Searches the patients of the caller's locations.
#[utoipa::path(get, path = "/api/v1/patients", operation_id = "searchPatients", tag = "patients",
    security(("session" = [])), params(PatientSearchParams),
    responses((status = 200, body = PatientPageDto), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn search_patients(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<PatientSearchParams>,
) -> ApiResult<Json<PatientPageDto>> {
    let input = patients::SearchInput {
        q: p.q,
        location_id: p.location_id,
        status: p.status,
        page: p.page,
        per_page: p.per_page,
    };
    Ok(Json(patients::search(state.db(), &s.actor, &input).await?.into()))
}

/// Creates a patient at one of the caller's locations.
#[utoipa::path(post, path = "/api/v1/patients", operation_id = "createPatient", tag = "patients",
    security(("session" = [])), request_body = PatientRequest,
    responses((status = 201, body = PatientDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_patient(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<PatientRequest>,
) -> ApiResult<(StatusCode, Json<PatientDto>)> {
    let p = patients::create(state.db(), &s.actor, req.into()).await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// The facesheet: the patient, their contacts and care team. Audited.
#[utoipa::path(get, path = "/api/v1/patients/{id}", operation_id = "getPatient", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = FacesheetDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_patient(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<FacesheetDto>> {
    Ok(Json(patients::facesheet(state.db(), &s.actor, &id).await?.into()))
}

/// Edits the facesheet. Changing the e-mail address can hand portal access to whoever reads it:
/// confirm it with the patient first.
#[utoipa::path(put, path = "/api/v1/patients/{id}", operation_id = "updatePatient", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")), request_body = PatientRequest,
    responses((status = 200, body = PatientDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_patient(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PatientRequest>,
) -> ApiResult<Json<PatientDto>> {
    Ok(Json(patients::update(state.db(), &s.actor, &id, req.into()).await?.into()))
}

/// Adds a contact (guardian, guarantor, emergency or other).
#[utoipa::path(post, path = "/api/v1/patients/{id}/contacts", operation_id = "addPatientContact", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")), request_body = ContactRequest,
    responses((status = 201, body = ContactDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn add_contact(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ContactRequest>,
) -> ApiResult<(StatusCode, Json<ContactDto>)> {
    let c = patients::add_contact(state.db(), &s.actor, &id, req.into()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Edits a contact.
#[utoipa::path(put, path = "/api/v1/patients/{id}/contacts/{contact_id}", operation_id = "updatePatientContact", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id"), ("contact_id" = String, Path, description = "Contact id")),
    request_body = ContactRequest,
    responses((status = 200, body = ContactDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_contact(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, contact_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<ContactRequest>,
) -> ApiResult<Json<ContactDto>> {
    Ok(Json(patients::update_contact(state.db(), &s.actor, &id, &contact_id, req.into()).await?.into()))
}

/// Removes a contact.
#[utoipa::path(delete, path = "/api/v1/patients/{id}/contacts/{contact_id}", operation_id = "removePatientContact", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id"), ("contact_id" = String, Path, description = "Contact id")),
    responses((status = 204, description = "Removed"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_contact(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, contact_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    patients::remove_contact(state.db(), &s.actor, &id, &contact_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts a staff member on the patient's care team, or changes their team role.
#[utoipa::path(put, path = "/api/v1/patients/{id}/care-team/{staff_id}", operation_id = "putCareTeamMember", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id"), ("staff_id" = String, Path, description = "Staff user id")),
    request_body = CareTeamRequest,
    responses((status = 200, body = Vec<CareTeamMemberDto>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn put_care_team_member(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, staff_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<CareTeamRequest>,
) -> ApiResult<Json<Vec<CareTeamMemberDto>>> {
    let team = patients::add_care_team_member(state.db(), &s.actor, &id, &staff_id, &req.team_role).await?;
    Ok(Json(team.into_iter().map(Into::into).collect()))
}

/// Takes a staff member off the patient's care team.
#[utoipa::path(delete, path = "/api/v1/patients/{id}/care-team/{staff_id}", operation_id = "removeCareTeamMember", tag = "patients",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id"), ("staff_id" = String, Path, description = "Staff user id")),
    responses((status = 200, body = Vec<CareTeamMemberDto>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove_care_team_member(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, staff_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<CareTeamMemberDto>>> {
    let team = patients::remove_care_team_member(state.db(), &s.actor, &id, &staff_id).await?;
    Ok(Json(team.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub patient_id: Option<String>,
    /// A staff user id.
    pub actor_id: Option<String>,
    /// An action name such as `patient_viewed`.
    pub action: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC), inclusive.
    pub to: Option<String>,
    /// Rows with a sequence number below this one (the next page).
    pub before: Option<i64>,
    /// 1 to 500; default 100.
    pub limit: Option<i64>,
}

/// Audit events, newest first (Super Admin). Reading the log is itself audited.
#[utoipa::path(get, path = "/api/v1/audit-events", operation_id = "listAuditEvents", tag = "audit",
    security(("session" = [])), params(AuditParams),
    responses((status = 200, body = Vec<AuditEventDto>), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn list_audit_events(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditEventDto>>> {
    let q = audit_log::AuditQuery {
        patient_id: p.patient_id,
        actor_id: p.actor_id,
        action: p.action,
        from: p.from,
        to: p.to,
        before: p.before,
        limit: p.limit,
    };
    Ok(Json(audit_log::list(state.db(), &s.actor, &q).await?.into_iter().map(Into::into).collect()))
}
