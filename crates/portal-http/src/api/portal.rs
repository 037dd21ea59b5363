//! The portal users' own API (tag `portal`): sign-in, their account, their sessions and the
//! patients they hold grants for; and the public routes a person uses before signing in
//! (registration, forgot password, the links sent by e-mail), limited per client address.
//!
//! Staff tokens are not portal sessions: every signed-in route answers them 401. A patient the
//! caller holds no grant in force for answers 404, exactly like a missing one.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use portal_auth::PortalError;
use portal_auth::portal_home::PatientHome;
use portal_auth::portal_sessions::{self as portal_sessions, PortalPatient, PortalSessionView};
use portal_auth::registration::{ForgotPasswordInput, IdentityInput};
use portal_core::time_util::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiPortal, ClientIp};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
        .routes(routes!(me))
        .routes(routes!(patient))
        .routes(routes!(change_password))
        .routes(routes!(request_email_change))
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(request_registration))
        .routes(routes!(request_password_reset))
        .routes(routes!(inspect_link, accept_link))
        .routes(routes!(confirm_email))
}

/// The one answer of registration and forgot password, whatever matched (ASVS 6.3.8).
pub const SAME_ANSWER: &str = "If these details match our records, we have sent an e-mail with a link to the address \
     we have on file. The link works once; check your spam folder if it does not arrive within a few minutes.";

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalSignInRequest {
    pub username: String,
    pub password: String,
}

/// A patient the portal user may open.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalPatientDto {
    pub patient_id: String,
    pub first_name: String,
    pub last_name: String,
    /// `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
    /// Parts of the portal the grant covers: `messages`, `requests`, `documents`,
    /// `appointments`, `billing`.
    pub scopes: Vec<String>,
}

impl From<PortalPatient> for PortalPatientDto {
    fn from(p: PortalPatient) -> Self {
        Self {
            patient_id: p.patient_id,
            first_name: p.first_name,
            last_name: p.last_name,
            relation: p.relation.as_str().to_owned(),
            scopes: p.scopes.as_slice().iter().map(|s| s.as_str().to_owned()).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSignInResponse {
    /// The session token: send it as `Authorization: Bearer TOKEN`. Shown once.
    pub token: String,
    /// The session's absolute end (RFC 3339); it ends sooner after 30 idle minutes.
    pub expires_at: String,
    /// Staff set the password at the desk: change it (`PUT /api/v1/portal/me/password`)
    /// before anything else opens.
    pub must_change_password: bool,
    pub patients: Vec<PortalPatientDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalMeDto {
    pub account_id: String,
    pub username: String,
    pub email: String,
    pub must_change_password: bool,
    pub patients: Vec<PortalPatientDto>,
}

/// How to reach the clinic about a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalClinicDto {
    pub name: String,
    pub phone: Option<String>,
    pub location_name: String,
    pub address_line1: Option<String>,
    pub city_line: Option<String>,
    pub location_phone: Option<String>,
}

/// One patient's home in the portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalPatientHomeDto {
    pub patient_id: String,
    pub first_name: String,
    pub last_name: String,
    /// `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
    pub scopes: Vec<String>,
    /// Last day of access (`YYYY-MM-DD`, inclusive), if staff set one.
    pub ends_on: Option<String>,
    pub clinic: PortalClinicDto,
    /// The message staff attached to the invitation (seed 003), if any.
    pub message: Option<String>,
}

impl From<PatientHome> for PortalPatientHomeDto {
    fn from(h: PatientHome) -> Self {
        Self {
            patient_id: h.patient_id,
            first_name: h.first_name,
            last_name: h.last_name,
            relation: h.relation.as_str().to_owned(),
            scopes: h.scopes.as_slice().iter().map(|s| s.as_str().to_owned()).collect(),
            ends_on: h.ends_on.map(|d| d.to_string()),
            clinic: PortalClinicDto {
                name: h.clinic.name,
                phone: h.clinic.phone,
                location_name: h.clinic.location_name,
                address_line1: h.clinic.address_line1,
                city_line: h.clinic.city_line,
                location_phone: h.clinic.location_phone,
            },
            message: h.message,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalPasswordChangeRequest {
    pub current_password: String,
    /// At least 8 characters (15 or more recommended), at most 128; not a common password.
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalEmailChangeRequest {
    /// The account's password, re-entered.
    pub password: String,
    pub new_email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalEmailChangeRequested {
    /// When the confirmation link sent to the new address stops working (RFC 3339).
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSessionDto {
    /// An opaque id (not the token, nor derived from anything a client can see).
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

impl From<PortalSessionView> for PortalSessionDto {
    fn from(s: PortalSessionView) -> Self {
        Self {
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

/// Seed 002's facts: all four must match the record.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalRegistrationRequest {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub last_name: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date_of_birth: String,
    #[serde(default)]
    pub zip: String,
}

/// "I forgot my password": `kind` `patient` with the four facts of registration, or `account`
/// with the username and the account's e-mail address (contacts' and designated users'
/// accounts).
#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalPasswordResetRequest {
    /// `patient` or `account`.
    pub kind: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub date_of_birth: String,
    #[serde(default)]
    pub zip: String,
    #[serde(default)]
    pub username: String,
}

/// The answer of the public requests, the same whatever matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalAcceptedDto {
    pub detail: String,
}

/// What a link from an e-mail is for.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalLinkDto {
    /// `invitation`, `reset` or `registration`.
    pub purpose: String,
    /// The account has no username yet: `POST` must send one.
    pub needs_username: bool,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PortalAcceptLinkRequest {
    /// Required when the link's `needs_username` is true.
    #[serde(default)]
    pub username: Option<String>,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalAcceptedLinkDto {
    /// Sign in with this username and the new password.
    pub username: String,
    pub purpose: String,
    pub registration_completed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalEmailConfirmedDto {
    /// The account's address from now on.
    pub email: String,
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Counts a request against the per-address limit of the portal's public forms.
fn limit_public(state: &AppState, ip: Option<std::net::IpAddr>) -> ApiResult<()> {
    if let Some(ip) = ip
        && let Err(wait) = state.app().portal_forms_limiter.check(ip)
    {
        let secs = wait.as_secs().max(1);
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests from your network. Try again in {secs} seconds."),
        );
        p.retry_after = Some(secs);
        return Err(p);
    }
    Ok(())
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn patients_of(
    state: &AppState,
    p: &portal_core::portal_accounts::PortalPrincipal,
) -> ApiResult<Vec<PortalPatientDto>> {
    Ok(portal_sessions::my_patients(state.db(), p).await?.into_iter().map(Into::into).collect())
}

// ---------------------------------------------------------------------------------------------
// Sessions and the account
// ---------------------------------------------------------------------------------------------

/// Signs a portal user in. One answer for an unknown username, a wrong password and an
/// unfinished or deactivated account.
#[utoipa::path(post, path = "/api/v1/portal/sessions", operation_id = "signInPortal", tag = "portal",
    request_body = PortalSignInRequest,
    responses(
        (status = 201, description = "Signed in", body = PortalSignInResponse),
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PortalSignInRequest>,
) -> ApiResult<(StatusCode, Json<PortalSignInResponse>)> {
    if let Some(ip) = ip
        && let Err(wait) = state.app().sign_in_limiter.check(ip)
    {
        return Err(PortalError::Throttled { retry_after_secs: wait.as_secs().max(1) }.into());
    }
    let signed = portal_sessions::sign_in_portal(
        state.db(),
        &state.app().hasher,
        &state.app().portal_sessions,
        &req.username,
        &req.password,
        ip.map(|i| i.to_string()),
        user_agent(&headers),
    )
    .await?;
    let patients = patients_of(&state, &signed.principal).await?;
    Ok((
        StatusCode::CREATED,
        Json(PortalSignInResponse {
            token: signed.token,
            expires_at: rfc3339(signed.expires_at),
            must_change_password: signed.must_change_password,
            patients,
        }),
    ))
}

/// Ends the portal session that makes this request.
#[utoipa::path(delete, path = "/api/v1/portal/sessions/current", operation_id = "signOutPortal", tag = "portal",
    security(("session" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn sign_out(State(state): State<AppState>, ApiPortal(s): ApiPortal) -> ApiResult<StatusCode> {
    portal_sessions::sign_out_portal(state.db(), &s.session, s.ip.clone()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in portal user's account and the patients they may open now.
#[utoipa::path(get, path = "/api/v1/portal/me", operation_id = "getPortalMe", tag = "portal",
    security(("session" = [])),
    responses((status = 200, body = PortalMeDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(State(state): State<AppState>, ApiPortal(s): ApiPortal) -> ApiResult<Json<PortalMeDto>> {
    let p = s.principal();
    Ok(Json(PortalMeDto {
        account_id: p.account_id.to_string(),
        username: p.username.to_string(),
        email: p.email.to_string(),
        must_change_password: p.must_change_password,
        patients: patients_of(&state, p).await?,
    }))
}

/// One patient's home: name, relation, what the grant covers, the clinic's contact details and
/// the invitation's message. 404 for a patient without a grant in force, like a missing one.
#[utoipa::path(get, path = "/api/v1/portal/patients/{id}", operation_id = "getPortalPatient", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = PortalPatientHomeDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Choose a password of your own first", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn patient(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PortalPatientHomeDto>> {
    let home = portal_auth::portal_home::patient_home(state.db(), &s.session, &id, s.ip.clone()).await?;
    Ok(Json(home.into()))
}

/// Changes the password (also how a temporary one set at the desk is replaced). Ends the
/// account's other sessions and sends a notice to its address.
#[utoipa::path(put, path = "/api/v1/portal/me/password", operation_id = "changePortalPassword", tag = "portal",
    security(("session" = [])), request_body = PortalPasswordChangeRequest,
    responses((status = 204, description = "Changed"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn change_password(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiJson(req): ApiJson<PortalPasswordChangeRequest>,
) -> ApiResult<StatusCode> {
    portal_sessions::change_portal_password(
        state.db(),
        &state.app().hasher,
        &s.session,
        &req.current_password,
        &req.new_password,
        s.ip.clone(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a change of e-mail address: the new address gets a 24-hour confirmation link, the
/// current one a notice. Nothing changes until the link is followed.
#[utoipa::path(post, path = "/api/v1/portal/me/email", operation_id = "requestPortalEmailChange", tag = "portal",
    security(("session" = [])), request_body = PortalEmailChangeRequest,
    responses((status = 202, body = PortalEmailChangeRequested), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn request_email_change(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiJson(req): ApiJson<PortalEmailChangeRequest>,
) -> ApiResult<(StatusCode, Json<PortalEmailChangeRequested>)> {
    let r = portal_auth::email_change::request_email_change(
        state.db(),
        &state.app().hasher,
        &s.session,
        &req.password,
        &req.new_email,
        s.ip.clone(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(PortalEmailChangeRequested { expires_at: r.expires_at })))
}

/// The account's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/portal/me/sessions", operation_id = "listPortalSessions", tag = "portal",
    security(("session" = [])),
    responses((status = 200, body = Vec<PortalSessionDto>), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn list_sessions(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
) -> ApiResult<Json<Vec<PortalSessionDto>>> {
    let list = portal_sessions::my_sessions(state.db(), &state.app().portal_sessions, &s.session).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Ends one of the account's sessions (by its listed id). 404 for an id that is not one of
/// them.
#[utoipa::path(delete, path = "/api/v1/portal/me/sessions/{id}", operation_id = "endPortalSession", tag = "portal",
    security(("session" = [])), params(("id" = String, Path, description = "A session id from the list")),
    responses((status = 204, description = "Ended"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn end_session(
    State(state): State<AppState>,
    ApiPortal(s): ApiPortal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    portal_sessions::end_my_session(state.db(), &s.session, &id, s.ip.clone()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Public routes
// ---------------------------------------------------------------------------------------------

/// "I am a registered patient: create my portal account" (seed 002). 202 with the same body
/// whatever matched; malformed facts are 422 field errors.
#[utoipa::path(post, path = "/api/v1/portal/registrations", operation_id = "requestPortalRegistration", tag = "portal",
    request_body = PortalRegistrationRequest,
    responses((status = 202, body = PortalAcceptedDto), (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn request_registration(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PortalRegistrationRequest>,
) -> ApiResult<(StatusCode, Json<PortalAcceptedDto>)> {
    limit_public(&state, ip)?;
    let input =
        IdentityInput { email: req.email, last_name: req.last_name, date_of_birth: req.date_of_birth, zip: req.zip };
    portal_auth::registration::request_registration(state.db(), &input, ip.map(|i| i.to_string())).await?;
    Ok((StatusCode::ACCEPTED, Json(PortalAcceptedDto { detail: SAME_ANSWER.to_owned() })))
}

/// "I forgot my password". 202 with the same body whatever matched.
#[utoipa::path(post, path = "/api/v1/portal/password-resets", operation_id = "requestPortalPasswordReset", tag = "portal",
    request_body = PortalPasswordResetRequest,
    responses((status = 202, body = PortalAcceptedDto), (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PortalPasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<PortalAcceptedDto>)> {
    limit_public(&state, ip)?;
    let input = match req.kind.trim() {
        "patient" => ForgotPasswordInput::Patient(IdentityInput {
            email: req.email,
            last_name: req.last_name,
            date_of_birth: req.date_of_birth,
            zip: req.zip,
        }),
        "account" => ForgotPasswordInput::Account { username: req.username, email: req.email },
        _ => {
            return Err(Problem::invalid(portal_core::FieldErrors::single("kind", "must be one of: patient, account")));
        }
    };
    portal_auth::registration::request_password_reset(state.db(), &input, ip.map(|i| i.to_string())).await?;
    Ok((StatusCode::ACCEPTED, Json(PortalAcceptedDto { detail: SAME_ANSWER.to_owned() })))
}

/// What a link from an invitation, reset or registration e-mail is for. 410 for a link that is
/// unknown, expired or used (one answer for all three).
#[utoipa::path(get, path = "/api/v1/portal/links/{token}", operation_id = "inspectPortalLink", tag = "portal",
    params(("token" = String, Path, description = "The token from the e-mailed link")),
    responses((status = 200, body = PortalLinkDto), (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn inspect_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<PortalLinkDto>> {
    limit_public(&state, ip)?;
    let v = portal_auth::portal_links::inspect_link(state.db(), &token).await?;
    Ok(Json(PortalLinkDto {
        purpose: v.purpose.as_str().to_owned(),
        needs_username: v.needs_username,
        expires_at: rfc3339(v.expires_at),
    }))
}

/// Completes a link: the username (when the account has none) and the password. Signs nobody
/// in: sign in afterwards with `POST /api/v1/portal/sessions`.
#[utoipa::path(post, path = "/api/v1/portal/links/{token}", operation_id = "acceptPortalLink", tag = "portal",
    params(("token" = String, Path, description = "The token from the e-mailed link")), request_body = PortalAcceptLinkRequest,
    responses((status = 200, body = PortalAcceptedLinkDto), (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn accept_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(token): ApiPath<String>,
    ApiJson(req): ApiJson<PortalAcceptLinkRequest>,
) -> ApiResult<Json<PortalAcceptedLinkDto>> {
    limit_public(&state, ip)?;
    let input = portal_auth::portal_links::AcceptLinkInput { username: req.username, password: req.password };
    let done = portal_auth::portal_links::accept_link(
        state.db(),
        &state.app().hasher,
        &token,
        input,
        ip.map(|i| i.to_string()),
    )
    .await?;
    Ok(Json(PortalAcceptedLinkDto {
        username: done.username,
        purpose: done.purpose.as_str().to_owned(),
        registration_completed: done.registration_completed,
    }))
}

/// Confirms a change of e-mail address with the link sent to the new address. 410 for a link
/// that is unknown, expired or used.
#[utoipa::path(post, path = "/api/v1/portal/email-confirmations/{token}", operation_id = "confirmPortalEmail", tag = "portal",
    params(("token" = String, Path, description = "The token from the e-mailed link")),
    responses((status = 200, body = PortalEmailConfirmedDto), (status = 403, description = "The portal is turned off", body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn confirm_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Json<PortalEmailConfirmedDto>> {
    limit_public(&state, ip)?;
    let done = portal_auth::email_change::confirm_email_change(state.db(), &token, ip.map(|i| i.to_string())).await?;
    Ok(Json(PortalEmailConfirmedDto { email: done.email }))
}
