//! Staff users and their portal permissions over the API (Manage Users).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portal_auth::staff;
use portal_core::staff::PortalPermission;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{PermissionRequest, StaffDto, StaffRequest};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_staff, create_staff))
        .routes(routes!(get_staff, update_staff))
        .routes(routes!(set_portal_permission))
}

fn staff_id(id: &str) -> ApiResult<String> {
    portal_core::ids::StaffId::parse(id).map(|i| i.into_string()).map_err(|_| Problem::not_found())
}

/// Every staff user.
#[utoipa::path(get, path = "/api/v1/staff-users", operation_id = "listStaffUsers", tag = "staff",
    security(("session" = [])),
    responses((status = 200, body = Vec<StaffDto>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list_staff(State(state): State<AppState>, ApiStaff(s): ApiStaff) -> ApiResult<Json<Vec<StaffDto>>> {
    Ok(Json(staff::list(state.db(), &s.actor).await?.into_iter().map(Into::into).collect()))
}

/// Creates a staff user with a first password. Only a Super Admin can create a Super Admin.
#[utoipa::path(post, path = "/api/v1/staff-users", operation_id = "createStaffUser", tag = "staff",
    security(("session" = [])), request_body = StaffRequest,
    responses((status = 201, body = StaffDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_staff(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<StaffRequest>,
) -> ApiResult<(StatusCode, Json<StaffDto>)> {
    let v = staff::create(state.db(), &state.app().hasher, &s.actor, req.into()).await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// One staff user.
#[utoipa::path(get, path = "/api/v1/staff-users/{id}", operation_id = "getStaffUser", tag = "staff",
    security(("session" = [])), params(("id" = String, Path, description = "Staff user id")),
    responses((status = 200, body = StaffDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_staff(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StaffDto>> {
    let id = staff_id(&id);
    // Permission first, so that a caller without Manage Users learns nothing about ids.
    portal_core::Principal::require(&s.actor.principal, portal_core::staff::Permission::ManageUsers)?;
    Ok(Json(staff::get(state.db(), &s.actor, &id?).await?.into()))
}

/// Edits name, e-mail, role, locations and the active flag. A change of role, locations or a
/// deactivation ends the user's sessions.
#[utoipa::path(put, path = "/api/v1/staff-users/{id}", operation_id = "updateStaffUser", tag = "staff",
    security(("session" = [])), params(("id" = String, Path, description = "Staff user id")), request_body = StaffRequest,
    responses((status = 200, body = StaffDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_staff(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<StaffRequest>,
) -> ApiResult<Json<StaffDto>> {
    let id = staff_id(&id);
    portal_core::Principal::require(&s.actor.principal, portal_core::staff::Permission::ManageUsers)?;
    Ok(Json(staff::update(state.db(), &s.actor, &id?, req.into()).await?.into()))
}

/// Grants or removes one portal permission. `manage_portal_settings` only by a Super Admin.
#[utoipa::path(put, path = "/api/v1/staff-users/{id}/portal-permissions/{permission}", operation_id = "setStaffPortalPermission", tag = "staff",
    security(("session" = [])),
    params(("id" = String, Path, description = "Staff user id"),
        ("permission" = String, Path, description = "allow_document_share, available_for_portal_messages, manage_portal_packages or manage_portal_settings")),
    request_body = PermissionRequest,
    responses((status = 200, body = StaffDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn set_portal_permission(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, permission)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<PermissionRequest>,
) -> ApiResult<Json<StaffDto>> {
    let permission = PortalPermission::parse(&permission).map_err(|_| Problem::not_found())?;
    let id = staff_id(&id);
    match &s.actor.principal {
        portal_core::Principal::Staff(p) => portal_core::access::may_change_portal_permission(p, permission)?,
        portal_core::Principal::System => {}
    }
    Ok(Json(staff::set_portal_permission(state.db(), &s.actor, &id?, permission, req.granted).await?.into()))
}
