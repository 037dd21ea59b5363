//! Staff sessions over the API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use portal_core::time_util::rfc3339;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{ChangePasswordRequest, MeDto, SignInRequest, SignInResponse};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiStaff, ClientIp};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

pub fn me_dto(s: &portal_core::StaffPrincipal) -> MeDto {
    MeDto {
        id: s.id.to_string(),
        name: s.name.clone(),
        role: s.role.as_str().to_owned(),
        location_ids: s.locations.iter().map(|l| l.to_string()).collect(),
        portal_permissions: s.portal.granted().iter().map(|p| p.as_str().to_owned()).collect(),
    }
}

/// Signs a staff user in. The answer is the same for an unknown e-mail and a wrong password.
#[utoipa::path(post, path = "/api/v1/staff/sessions", operation_id = "signInStaff", tag = "sessions",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in", body = SignInResponse),
        (status = 401, description = "Wrong e-mail or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<SignInRequest>,
) -> ApiResult<impl IntoResponse> {
    if let Some(ip) = ip
        && let Err(wait) = state.app().sign_in_limiter.check(ip)
    {
        return Err(portal_auth::AuthError::Throttled { retry_after_secs: wait.as_secs().max(1) }.into());
    }
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let signed = portal_auth::sessions::sign_in_staff(
        state.db(),
        &state.app().hasher,
        &state.app().sessions,
        &req.email,
        &req.password,
        ip.map(|i| i.to_string()),
        ua,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SignInResponse {
            token: signed.token,
            expires_at: rfc3339(signed.expires_at),
            staff: me_dto(&signed.staff),
        }),
    ))
}

/// Ends the session that makes this request.
#[utoipa::path(delete, path = "/api/v1/staff/sessions/current", operation_id = "signOutStaff", tag = "sessions",
    security(("session" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn sign_out(State(state): State<AppState>, ApiStaff(s): ApiStaff) -> ApiResult<StatusCode> {
    portal_auth::sessions::sign_out(state.db(), &s.actor, &s.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is signed in, with the locations and portal permissions in force now.
#[utoipa::path(get, path = "/api/v1/staff/me", operation_id = "getCurrentStaff", tag = "sessions",
    security(("session" = [])),
    responses((status = 200, body = MeDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(ApiStaff(s): ApiStaff) -> axum::Json<MeDto> {
    axum::Json(me_dto(&s.staff))
}

/// Changes the caller's password; every other session of theirs ends.
#[utoipa::path(put, path = "/api/v1/staff/me/password", operation_id = "changeOwnPassword", tag = "sessions",
    security(("session" = [])), request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn change_password(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    portal_auth::sessions::change_own_password(
        state.db(),
        &state.app().hasher,
        &s.actor,
        &s.token_hash,
        &req.current_password,
        &req.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
