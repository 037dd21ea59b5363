//! Staff managing portal access: status and access level, invitations, credentials set in
//! person, grants, and the "Link User by Email" and username look-ups.
//! The Onboarding Tool (list and bulk jobs) is in `portal_admin/onboarding.rs`, the auto-enable
//! settings in `portal_admin/auto_enable.rs`.
//!
//! Every route translates: permissions, location scoping (a foreign patient answers 404 like a
//! missing one) and every rule come from the portal-practice and portal-auth use cases.

mod auto_enable;
mod onboarding;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portal_auth::PortalError;
use portal_auth::invitations::{self, InviteInput, InviteTo};
use portal_auth::portal_grants::{self, GrantChange};
use portal_core::FieldErrors;
use portal_core::portal_access::{PortalAccessLevel, PortalStatusView};
use portal_core::time_util::rfc3339;
use portal_core::username::Username;
use portal_practice::portal_access::{self, PatientPortalStatus};
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_portal_status))
        .routes(routes!(set_portal_access))
        .routes(routes!(send_invitation))
        .routes(routes!(set_credentials))
        .routes(routes!(list_portal_users))
        .routes(routes!(update_grant, revoke_grant))
        .routes(routes!(accounts_by_email))
        .routes(routes!(username_availability))
        .merge(onboarding::router())
        .merge(auto_enable::router())
}

/// The JSON name of a domain enum that serialises as a string (snake_case).
pub(super) fn wire_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn when(t: Option<PrimitiveDateTime>) -> Option<String> {
    t.map(rfc3339)
}

/// Renames fields of a 422 so that `errors` names them as this API's JSON spells them.
fn rename_fields(e: PortalError, renames: &[(&str, &str)]) -> PortalError {
    match e {
        PortalError::Invalid(FieldErrors(errors)) => PortalError::Invalid(FieldErrors(
            errors
                .into_iter()
                .map(|mut f| {
                    if let Some((_, to)) = renames.iter().find(|(from, _)| *from == f.field) {
                        f.field = (*to).to_owned();
                    }
                    f
                })
                .collect(),
        )),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Status and access level
// ---------------------------------------------------------------------------------------------

/// One reason a status is red.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotEnabledReasonDto {
    /// `access_not_enabled`, `no_email` or `no_zip`.
    pub reason: String,
    pub words: String,
}

/// A portal status as the facesheet header and the Onboarding Tool show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalStatusViewDto {
    /// `not_enabled`, `enabled_not_invited`, `invited_not_signed_in` or `signed_in`.
    pub status: String,
    /// `red`, `gray`, `orange` or `green`.
    pub colour: String,
    /// The status in words.
    pub words: String,
    /// For red: which of the conditions hold (access not enabled, no e-mail, no ZIP code).
    pub reasons: Vec<NotEnabledReasonDto>,
    /// What staff should do (seed 002's troubleshooting).
    pub hint: String,
}

impl From<PortalStatusView> for PortalStatusViewDto {
    fn from(v: PortalStatusView) -> Self {
        Self {
            status: v.status.as_str().to_owned(),
            colour: v.colour.to_owned(),
            words: v.words.to_owned(),
            reasons: v
                .reasons
                .iter()
                .map(|r| NotEnabledReasonDto { reason: wire_name(r), words: r.words().to_owned() })
                .collect(),
            hint: v.hint.to_owned(),
        }
    }
}

/// A patient's portal access: level, status and the facts behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalStatusDto {
    pub patient_id: String,
    /// `no_access` or `can_access`.
    pub access_level: String,
    /// "No Access to Portal" or "Patient Can Access Portal".
    pub access_level_label: String,
    pub status: PortalStatusViewDto,
    /// The facesheet's e-mail address, where invitations to the patient go.
    pub email: Option<String>,
    /// The username of the patient's own portal account, once chosen (or set at the desk).
    pub username: Option<String>,
    pub last_invited_at: Option<String>,
    pub last_signed_in_at: Option<String>,
    /// Seed 002's note on mismatched verification facts, for the troubleshooting box.
    pub mismatch_hint: String,
    /// Seed 002's privacy note, to show before enabling access or changing the e-mail address.
    pub email_privacy_warning: String,
}

impl PortalStatusDto {
    fn new(s: PatientPortalStatus, username: Option<String>) -> Self {
        Self {
            patient_id: s.patient_id,
            access_level: s.access_level.as_str().to_owned(),
            access_level_label: s.access_level.label().to_owned(),
            status: s.status.into(),
            email: s.email,
            username,
            last_invited_at: when(s.last_invited_at),
            last_signed_in_at: when(s.last_signed_in_at),
            mismatch_hint: s.mismatch_hint.to_owned(),
            email_privacy_warning: s.email_privacy_warning.to_owned(),
        }
    }
}

/// The patient's portal status (seed 002, "View Patient's Portal Status"): access level, colour,
/// words, troubleshooting hint, username, last invitation and last sign-in. View Patients.
#[utoipa::path(get, path = "/api/v1/patients/{id}/portal", operation_id = "getPatientPortal", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = PortalStatusDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_portal_status(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PortalStatusDto>> {
    let status = portal_access::portal_status(state.db(), &s.actor, &id).await?;
    let username = portal_grants::own_username(state.db(), &s.actor, &status.patient_id).await?;
    Ok(Json(PortalStatusDto::new(status, username)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalAccessRequest {
    /// `true`: "Patient Can Access Portal"; `false`: "No Access to Portal".
    pub enabled: bool,
}

/// Sets the patient's access level. Enabling needs an e-mail address and a ZIP code on file: the
/// 409 names what is missing. Disabling closes the portal for every portal user of the patient
/// from their next request. Edit Patients; audited.
#[utoipa::path(put, path = "/api/v1/patients/{id}/portal/access", operation_id = "setPatientPortalAccess", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")), request_body = PortalAccessRequest,
    responses((status = 200, body = PortalStatusDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail address or ZIP code is missing", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_portal_access(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PortalAccessRequest>,
) -> ApiResult<Json<PortalStatusDto>> {
    let level = PortalAccessLevel::from_enabled(req.enabled);
    let status = portal_access::set_access_level(state.db(), &s.actor, &id, level).await?;
    let username = portal_grants::own_username(state.db(), &s.actor, &status.patient_id).await?;
    Ok(Json(PortalStatusDto::new(status, username)))
}

// ---------------------------------------------------------------------------------------------
// Invitations and credentials
// ---------------------------------------------------------------------------------------------

/// Who an invitation goes to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InviteToDto {
    /// The patient, at the facesheet's e-mail address (relation `self`). A struct variant, not
    /// a unit one, so that unknown fields beside `kind` are refused here too.
    Patient {},
    /// One of the patient's contacts, at the contact's address.
    Contact { contact_id: String },
    /// Someone who is not a contact: always a new account, even on an address already in use.
    Designated { name: String, email: String },
    /// An account found with `GET /api/v1/portal-accounts?email=` ("Link User by Email"): the
    /// grant is added to it.
    ExistingAccount { account_id: String },
}

impl From<InviteToDto> for InviteTo {
    fn from(t: InviteToDto) -> Self {
        match t {
            InviteToDto::Patient {} => InviteTo::Patient,
            InviteToDto::Contact { contact_id } => InviteTo::Contact { contact_id },
            InviteToDto::Designated { name, email } => InviteTo::Designated { name, email },
            InviteToDto::ExistingAccount { account_id } => InviteTo::ExistingAccount { account_id },
        }
    }
}

/// An invitation as staff fill it in (seeds 002, 003).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub to: InviteToDto,
    /// `self`, `guardian`, `guarantor` or `other`. The patient is always `self`; a contact
    /// defaults to its kind (an emergency contact needs one); others default to `other`.
    #[serde(default)]
    pub relation: Option<String>,
    /// What the grant covers: `messages`, `requests`, `documents`, `appointments`, `billing`.
    /// All of them when absent; an empty list is refused.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Last day of access (`YYYY-MM-DD`, inclusive, UTC); none when absent.
    #[serde(default)]
    pub ends_on: Option<String>,
    /// The intake-forms message shown in the portal (never put in the e-mail).
    #[serde(default)]
    pub message: Option<String>,
    /// Selected intake forms (at most 20).
    #[serde(default)]
    pub intake_form_ids: Vec<String>,
    /// Staff confirmed that the recipient is authorized to see the patient's health
    /// information. Required for anyone but the patient.
    #[serde(default)]
    pub phi_warning_acknowledged: bool,
}

/// What was sent: never the link itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationSentDto {
    pub account_id: String,
    pub grant_id: String,
    /// `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
    /// `invitation` (24 hours, for an account without a password) or `reset` (1 hour).
    pub purpose: String,
    /// The address the e-mail goes to.
    pub to: String,
    pub expires_at: String,
    /// A new grant was made (`false`: the live grant of this account was kept or updated).
    pub grant_created: bool,
}

/// Sends the invitation/reset e-mail to the patient, a contact, a designated person or an
/// existing account. The e-mail is queued (202) and delivered by the mail worker. Edit Patients;
/// the portal must be on and the patient's status not red; a grant to anyone but the patient
/// needs `phi_warning_acknowledged`. Refusals are 409 problems that say why.
#[utoipa::path(post, path = "/api/v1/patients/{id}/portal/invitations", operation_id = "sendPortalInvitation", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")), request_body = InviteRequest,
    responses((status = 202, body = InvitationSentDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Portal off, access not enabled, record incomplete, PHI warning not acknowledged...", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn send_invitation(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InvitationSentDto>)> {
    let input = InviteInput {
        to: req.to.into(),
        relation: req.relation,
        scopes: req.scopes,
        ends_on: req.ends_on,
        message: req.message,
        intake_form_ids: req.intake_form_ids,
        phi_warning_acknowledged: req.phi_warning_acknowledged,
    };
    let sent = invitations::invite(state.db(), &s.actor, &id, input)
        .await
        .map_err(|e| rename_fields(e, &[("name", "to.name"), ("email", "to.email")]))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(InvitationSentDto {
            account_id: sent.account_id,
            grant_id: sent.grant_id,
            relation: sent.relation.as_str().to_owned(),
            purpose: sent.purpose.as_str().to_owned(),
            to: sent.to,
            expires_at: sent.expires_at,
            grant_created: sent.grant_created,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// Required while the patient's account has no username; one already set cannot be changed
    /// here (leave it out, or repeat it).
    #[serde(default)]
    pub username: Option<String>,
    /// Given to the patient in person or by phone; they must choose a new one at first sign-in.
    pub temporary_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsSetDto {
    pub account_id: String,
    pub username: String,
    /// The patient had no portal account: it was made, with its `self` grant.
    pub account_created: bool,
    /// Sessions ended because an existing password was replaced.
    pub sessions_ended: usize,
}

/// Seed 002, method 2: sets the patient's username (if none yet) and a temporary password at the
/// desk. Edit Patients; access enabled. A taken username is a 422 on `username`.
#[utoipa::path(put, path = "/api/v1/patients/{id}/portal/credentials", operation_id = "setPatientPortalCredentials", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")), request_body = CredentialsRequest,
    responses((status = 200, body = CredentialsSetDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn set_credentials(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CredentialsRequest>,
) -> ApiResult<Json<CredentialsSetDto>> {
    let hasher = &state.app().hasher;
    let set = invitations::set_credentials_in_person(
        state.db(),
        hasher,
        &s.actor,
        &id,
        req.username.as_deref(),
        &req.temporary_password,
    )
    .await
    .map_err(|e| rename_fields(e, &[("password", "temporary_password")]))?;
    Ok(Json(CredentialsSetDto {
        account_id: set.account_id,
        username: set.username,
        account_created: set.account_created,
        sessions_ended: set.sessions_ended,
    }))
}

// ---------------------------------------------------------------------------------------------
// Portal users and grants
// ---------------------------------------------------------------------------------------------

/// One portal user of a patient: an account and its grant to this patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalUserDto {
    pub grant_id: String,
    pub account_id: String,
    pub username: Option<String>,
    pub email: String,
    pub display_name: String,
    /// `self`, `guardian`, `guarantor` or `other`.
    pub relation: String,
    pub relation_label: String,
    /// What the grant covers.
    pub scopes: Vec<String>,
    /// Last day of access (`YYYY-MM-DD`), if any.
    pub ends_on: Option<String>,
    /// The contact the grant was made for, if any.
    pub contact_id: Option<String>,
    /// Not revoked and not past its last day.
    pub in_force: bool,
    pub revoked_at: Option<String>,
    /// The holder chose a password of their own.
    pub registered: bool,
    pub last_signed_in_at: Option<String>,
    pub created_at: String,
}

impl From<portal_grants::PortalUserView> for PortalUserDto {
    fn from(v: portal_grants::PortalUserView) -> Self {
        Self {
            grant_id: v.grant_id,
            account_id: v.account_id,
            username: v.username,
            email: v.email,
            display_name: v.display_name,
            relation: v.relation.as_str().to_owned(),
            relation_label: v.relation.label().to_owned(),
            scopes: v.scopes.as_slice().iter().map(|s| s.as_str().to_owned()).collect(),
            ends_on: v.ends_on.map(|d| d.to_string()),
            contact_id: v.contact_id,
            in_force: v.in_force,
            revoked_at: when(v.revoked_at),
            registered: v.registered,
            last_signed_in_at: when(v.last_signed_in_at),
            created_at: rfc3339(v.created_at),
        }
    }
}

/// The patient's portal users, revoked grants included (the history), oldest first. View
/// Patients; audited.
#[utoipa::path(get, path = "/api/v1/patients/{id}/portal/users", operation_id = "listPatientPortalUsers", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, body = Vec<PortalUserDto>), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_portal_users(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<PortalUserDto>>> {
    let users = portal_grants::portal_users(state.db(), &s.actor, &id).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantChangeRequest {
    /// The parts the grant covers from now on; unchanged when absent; an empty list is refused
    /// (revoke the grant instead).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The last day (`YYYY-MM-DD`, today or later); `""` removes it; unchanged when absent.
    #[serde(default)]
    pub ends_on: Option<String>,
}

/// Changes what a live grant covers and its last day. Edit Patients; audited.
#[utoipa::path(put, path = "/api/v1/patients/{id}/portal/grants/{grant_id}", operation_id = "updatePortalGrant", tag = "portal-admin",
    security(("session" = [])),
    params(("id" = String, Path, description = "Patient id"), ("grant_id" = String, Path, description = "Grant id")),
    request_body = GrantChangeRequest,
    responses((status = 200, body = PortalUserDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such patient or grant, or the grant was revoked", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_grant(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, grant_id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<GrantChangeRequest>,
) -> ApiResult<Json<PortalUserDto>> {
    let change = GrantChange { scopes: req.scopes, ends_on: req.ends_on };
    Ok(Json(portal_grants::update_grant(state.db(), &s.actor, &id, &grant_id, change).await?.into()))
}

/// Revokes a grant: the holder's next request no longer reaches the patient, and their pending
/// links about the patient stop working. Revoking again changes nothing. Edit Patients; audited.
#[utoipa::path(delete, path = "/api/v1/patients/{id}/portal/grants/{grant_id}", operation_id = "revokePortalGrant", tag = "portal-admin",
    security(("session" = [])),
    params(("id" = String, Path, description = "Patient id"), ("grant_id" = String, Path, description = "Grant id")),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn revoke_grant(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath((id, grant_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    portal_grants::revoke_grant(state.db(), &s.actor, &id, &grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Look-ups for the invitation and credentials forms
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsByEmailParams {
    /// The e-mail address to look up (in the query, never the path: paths are logged).
    pub email: Option<String>,
}

/// An existing portal account, as "Link User by Email" offers it (no patient it reaches is shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalAccountSummaryDto {
    pub account_id: String,
    pub username: Option<String>,
    pub display_name: String,
    pub active: bool,
    pub created_at: String,
}

/// Seed 003's "Link User by Email": the portal accounts using an address (several when a family
/// shares one). Edit Patients.
#[utoipa::path(get, path = "/api/v1/portal-accounts", operation_id = "findPortalAccountsByEmail", tag = "portal-admin",
    security(("session" = [])), params(AccountsByEmailParams),
    responses((status = 200, body = Vec<PortalAccountSummaryDto>), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn accounts_by_email(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<AccountsByEmailParams>,
) -> ApiResult<Json<Vec<PortalAccountSummaryDto>>> {
    let found = portal_grants::accounts_by_email(state.db(), &s.actor, p.email.as_deref().unwrap_or("")).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|a| PortalAccountSummaryDto {
                account_id: a.account_id,
                username: a.username,
                display_name: a.display_name,
                active: a.active,
                created_at: rfc3339(a.created_at),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsernameParams {
    /// The username to check.
    pub username: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsernameAvailabilityDto {
    /// The username as it would be stored (lowercase).
    pub username: String,
    /// Valid and not in use by any account (seed 002: "text will turn green if it's valid and
    /// unique"). A malformed username is a 422 instead.
    pub available: bool,
}

/// Whether a username is free, for the credentials form. Edit Patients (anonymous visitors
/// cannot probe usernames).
#[utoipa::path(get, path = "/api/v1/portal-usernames", operation_id = "checkPortalUsername", tag = "portal-admin",
    security(("session" = [])), params(UsernameParams),
    responses((status = 200, body = UsernameAvailabilityDto), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn username_availability(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<UsernameParams>,
) -> ApiResult<Json<UsernameAvailabilityDto>> {
    let typed = p.username.unwrap_or_default();
    let available = portal_grants::username_available(state.db(), &s.actor, &typed).await?;
    // The use case parsed it already; this only spells it as stored.
    let username = Username::parse(&typed).map(|u| u.as_str().to_owned()).unwrap_or(typed);
    Ok(Json(UsernameAvailabilityDto { username, available }))
}
