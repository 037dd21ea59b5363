//! Instance settings, company and locations over the API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portal_core::staff::Permission;
use portal_practice::{company, settings};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{CompanyDto, CompanyRequest, InstanceSettingsDto, LocationDto, LocationRequest, UsePortalRequest};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiBytes, ApiJson, ApiPath, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_instance_settings))
        .routes(routes!(set_use_portal))
        .routes(routes!(get_company, update_company))
        .routes(routes!(upload_company_logo))
        .routes(routes!(list_locations, create_location))
        .routes(routes!(get_location, update_location))
        .routes(routes!(upload_location_logo))
}

/// The instance settings: Use Portal, the fee it costs now and the history of changes
/// (Manage Portal Settings).
#[utoipa::path(get, path = "/api/v1/settings/instance", operation_id = "getInstanceSettings", tag = "settings",
    security(("session" = [])),
    responses((status = 200, body = InstanceSettingsDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn get_instance_settings(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ApiResult<Json<InstanceSettingsDto>> {
    Ok(Json(settings::instance_settings(state.db(), &s.actor).await?.into()))
}

/// Turns the portal on (the monthly fee must be acknowledged) or off.
#[utoipa::path(put, path = "/api/v1/settings/instance/use-portal", operation_id = "setUsePortal", tag = "settings",
    security(("session" = [])), request_body = UsePortalRequest,
    responses((status = 200, body = InstanceSettingsDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Fee not acknowledged, or no location", body = Problem, content_type = "application/problem+json")))]
async fn set_use_portal(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<UsePortalRequest>,
) -> ApiResult<Json<InstanceSettingsDto>> {
    Ok(Json(settings::set_use_portal(state.db(), &s.actor, req.enabled, req.acknowledge_fee).await?.into()))
}

/// The company (any signed-in staff user).
#[utoipa::path(get, path = "/api/v1/company", operation_id = "getCompany", tag = "company",
    security(("session" = [])),
    responses((status = 200, body = CompanyDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn get_company(State(state): State<AppState>, ApiStaff(_staff): ApiStaff) -> ApiResult<Json<CompanyDto>> {
    Ok(Json(company::company(state.db()).await?.into()))
}

/// Edits the company's name, phone and branding mode (Super Admin).
#[utoipa::path(put, path = "/api/v1/company", operation_id = "updateCompany", tag = "company",
    security(("session" = [])), request_body = CompanyRequest,
    responses((status = 200, body = CompanyDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_company(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<CompanyRequest>,
) -> ApiResult<Json<CompanyDto>> {
    let input = company::CompanyInput { name: req.name, phone: req.phone, brand_by_location: req.brand_by_location };
    Ok(Json(company::update_company(state.db(), &s.actor, input).await?.into()))
}

/// Replaces the company logo: the body is the PNG or JPEG file itself (at most 512 KiB),
/// checked by its content.
#[utoipa::path(put, path = "/api/v1/company/logo", operation_id = "uploadCompanyLogo", tag = "company",
    security(("session" = [])), request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 204, description = "Stored"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn upload_company_logo(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiBytes(body): ApiBytes,
) -> ApiResult<StatusCode> {
    company::set_company_logo(state.db(), &s.actor, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every location (any signed-in staff user).
#[utoipa::path(get, path = "/api/v1/locations", operation_id = "listLocations", tag = "company",
    security(("session" = [])),
    responses((status = 200, body = Vec<LocationDto>), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn list_locations(
    State(state): State<AppState>,
    ApiStaff(_staff): ApiStaff,
) -> ApiResult<Json<Vec<LocationDto>>> {
    Ok(Json(company::locations(state.db()).await?.into_iter().map(Into::into).collect()))
}

/// Adds a location (Super Admin).
#[utoipa::path(post, path = "/api/v1/locations", operation_id = "createLocation", tag = "company",
    security(("session" = [])), request_body = LocationRequest,
    responses((status = 201, body = LocationDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_location(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<LocationRequest>,
) -> ApiResult<(StatusCode, Json<LocationDto>)> {
    let l = company::create_location(state.db(), &s.actor, req.into()).await?;
    Ok((StatusCode::CREATED, Json(l.into())))
}

fn location_id(id: &str) -> ApiResult<String> {
    portal_core::ids::LocationId::parse(id).map(|i| i.into_string()).map_err(|_| Problem::not_found())
}

/// One location.
#[utoipa::path(get, path = "/api/v1/locations/{id}", operation_id = "getLocation", tag = "company",
    security(("session" = [])), params(("id" = String, Path, description = "Location id")),
    responses((status = 200, body = LocationDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_location(
    State(state): State<AppState>,
    ApiStaff(_staff): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<LocationDto>> {
    Ok(Json(company::location(state.db(), &location_id(&id)?).await?.into()))
}

/// Edits a location (Super Admin).
#[utoipa::path(put, path = "/api/v1/locations/{id}", operation_id = "updateLocation", tag = "company",
    security(("session" = [])), params(("id" = String, Path, description = "Location id")), request_body = LocationRequest,
    responses((status = 200, body = LocationDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_location(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<LocationRequest>,
) -> ApiResult<Json<LocationDto>> {
    // Permission first: a caller without Manage Company gets 403 whatever the id looks like.
    let id = location_id(&id);
    s.actor.principal.require(Permission::ManageCompany)?;
    let id = id?;
    Ok(Json(company::update_location(state.db(), &s.actor, &id, req.into()).await?.into()))
}

/// Replaces a location's logo (used when branding is by location): a PNG or JPEG body.
#[utoipa::path(put, path = "/api/v1/locations/{id}/logo", operation_id = "uploadLocationLogo", tag = "company",
    security(("session" = [])), params(("id" = String, Path, description = "Location id")),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 204, description = "Stored"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn upload_location_logo(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<StatusCode> {
    let id = location_id(&id);
    s.actor.principal.require(Permission::ManageCompany)?;
    let id = id?;
    company::set_location_logo(state.db(), &s.actor, &id, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT)
}
