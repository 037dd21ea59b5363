//! Notification rules (seed 000, "Set up Notifications"; tag `notifications`): per location,
//! which portal event alerts whom, how urgently, in which words and by which means; and a rule's
//! "send test notification" to the caller.
//!
//! Every route translates: the rules are portal-notify's (`rules.rs`: Super Admin only, the
//! rule's fields checked by portal-core). A rule that does not exist (or was deleted) answers 404.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_core::notifications::{NotificationEvent, RawRule};
use portal_core::time_util::rfc3339;
use portal_core::{AccessError, FieldErrors};
use portal_notify::rules::{self, RuleView, RulesError};
use portal_store::notifications::NotificationRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(send_test))
}

/// A staff member a rule names.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleUserDto {
    pub id: String,
    pub name: String,
}

/// A notification rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleDto {
    pub id: String,
    pub location_id: String,
    pub location_name: String,
    /// `registration_completed`, `document_completed`, `file_uploaded`, `treatment_plan_signed`,
    /// `email_changed`, `consent_revoked`, `new_message` or `new_request`.
    pub event: String,
    pub event_label: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub starts_on: String,
    /// `YYYY-MM-DD`; `null`: no end.
    pub ends_on: Option<String>,
    /// `critical`, `warning` or `information`.
    pub severity: String,
    pub severity_label: String,
    /// `red`, `yellow` or `blue`.
    pub colour: String,
    pub recipient_users: Vec<RuleUserDto>,
    /// The patient's care team.
    pub recipient_care_team: bool,
    /// `super_admin`, `practice_manager`, `clinician`, `front_desk`, `billing`.
    pub recipient_roles: Vec<String>,
    /// May hold placeholders such as `{patient_name}` (see the event's).
    pub title: String,
    pub message: String,
    /// Delivered as a toast in the app.
    pub toast: bool,
    /// Delivered by e-mail.
    pub email: bool,
    /// The placeholders the rule's event fills.
    pub placeholders: Vec<String>,
    pub created_by_name: String,
    pub updated_at: String,
}

impl From<RuleView> for NotificationRuleDto {
    fn from(r: RuleView) -> Self {
        Self {
            event: r.event.as_str().to_owned(),
            event_label: r.event_label.to_owned(),
            starts_on: r.starts_on.to_string(),
            ends_on: r.ends_on.map(|d| d.to_string()),
            severity: r.severity.as_str().to_owned(),
            severity_label: r.severity_label.to_owned(),
            colour: r.colour.to_owned(),
            recipient_users: r.recipient_users.into_iter().map(|u| RuleUserDto { id: u.id, name: u.name }).collect(),
            recipient_roles: r.recipient_roles.iter().map(|x| x.as_str().to_owned()).collect(),
            placeholders: placeholders(r.event),
            updated_at: rfc3339(r.updated_at),
            id: r.id,
            location_id: r.location_id,
            location_name: r.location_name,
            name: r.name,
            recipient_care_team: r.recipient_care_team,
            title: r.title,
            message: r.message,
            toast: r.toast,
            email: r.email,
            created_by_name: r.created_by_name,
        }
    }
}

fn placeholders(e: NotificationEvent) -> Vec<String> {
    e.placeholders().iter().map(|p| p.token().to_owned()).collect()
}

/// A rule as sent: every field as the settings form names it. Missing fields are reported by
/// name (422), unknown fields refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationRuleRequest {
    pub location_id: String,
    /// See `NotificationRuleDto.event`.
    pub event: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub starts_on: String,
    /// `YYYY-MM-DD`, on or after `starts_on`; `null` or blank: no end.
    pub ends_on: Option<String>,
    /// `critical`, `warning` or `information`.
    pub severity: String,
    /// Staff ids (active staff).
    pub recipient_users: Vec<String>,
    pub recipient_care_team: bool,
    /// Role names.
    pub recipient_roles: Vec<String>,
    pub title: String,
    pub message: String,
    pub toast: bool,
    pub email: bool,
}

impl From<NotificationRuleRequest> for RawRule {
    fn from(r: NotificationRuleRequest) -> Self {
        RawRule {
            location_id: r.location_id,
            event: r.event,
            name: r.name,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            severity: r.severity,
            recipient_users: r.recipient_users,
            recipient_care_team: r.recipient_care_team,
            recipient_roles: r.recipient_roles,
            title: r.title,
            message: r.message,
            toast: r.toast,
            email: r.email,
        }
    }
}

/// The notification a test wrote for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestNotificationDto {
    pub id: String,
    pub title: String,
    pub body: String,
    /// `critical`, `warning` or `information`.
    pub severity: String,
    pub link: Option<String>,
    pub toast: bool,
    pub email: bool,
    pub created_at: String,
}

impl From<NotificationRow> for TestNotificationDto {
    fn from(n: NotificationRow) -> Self {
        Self {
            id: n.id,
            title: n.title,
            body: n.body,
            severity: n.severity,
            link: n.link,
            toast: n.toast,
            email: n.email,
            created_at: rfc3339(n.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleListParams {
    /// One location's rules (notifications are location-specific); absent: every location's.
    pub location_id: Option<String>,
}

/// The rules of one location (or of every location), by event then name. Super Admin only.
#[utoipa::path(get, path = "/api/v1/notification-rules", operation_id = "listNotificationRules", tag = "notifications",
    security(("session" = [])), params(RuleListParams),
    responses((status = 200, body = Vec<NotificationRuleDto>),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a Super Admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`location_id` names no location", body = Problem, content_type = "application/problem+json")))]
async fn list_rules(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<RuleListParams>,
) -> ApiResult<Json<Vec<NotificationRuleDto>>> {
    let location = p.location_id.as_deref().map(str::trim).filter(|l| !l.is_empty());
    match rules::list(state.db(), &s.actor, location).await {
        Ok(v) => Ok(Json(v.into_iter().map(Into::into).collect())),
        // The location, not a rule, is what was not found.
        Err(RulesError::Access(AccessError::NotFound)) if location.is_some() => {
            Err(Problem::invalid(FieldErrors::single("location_id", "is not one of the clinic's locations")))
        }
        Err(e) => Err(e.into()),
    }
}

fn created(rule: NotificationRuleDto) -> Response {
    let mut res = (StatusCode::CREATED, Json(&rule)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/notification-rules/{}", rule.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A new rule for one location. Super Admin only. 201 with its `Location`.
#[utoipa::path(post, path = "/api/v1/notification-rules", operation_id = "createNotificationRule", tag = "notifications",
    security(("session" = [])), request_body = NotificationRuleRequest,
    responses((status = 201, description = "Created", body = NotificationRuleDto,
            headers(("Location" = String, description = "The rule's address"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fields are invalid; `errors` names them (`recipients`: none chosen, `delivery`: neither toast nor e-mail)", body = Problem, content_type = "application/problem+json")))]
async fn create_rule(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<NotificationRuleRequest>,
) -> ApiResult<Response> {
    let rule = rules::create(state.db(), &s.actor, req.into()).await?;
    Ok(created(rule.into()))
}

/// One rule. Super Admin only.
#[utoipa::path(get, path = "/api/v1/notification-rules/{id}", operation_id = "getNotificationRule", tag = "notifications",
    security(("session" = [])), params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, body = NotificationRuleDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such rule, or a deleted one", body = Problem, content_type = "application/problem+json")))]
async fn get_rule(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<NotificationRuleDto>> {
    Ok(Json(rules::get(state.db(), &s.actor, &id).await?.into()))
}

/// Replaces a rule's fields. Super Admin only.
#[utoipa::path(put, path = "/api/v1/notification-rules/{id}", operation_id = "updateNotificationRule", tag = "notifications",
    security(("session" = [])), params(("id" = String, Path, description = "Rule id")), request_body = NotificationRuleRequest,
    responses((status = 200, body = NotificationRuleDto),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_rule(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NotificationRuleRequest>,
) -> ApiResult<Json<NotificationRuleDto>> {
    Ok(Json(rules::update(state.db(), &s.actor, &id, req.into()).await?.into()))
}

/// Stops a rule (the notifications it delivered stay). Super Admin only.
#[utoipa::path(delete, path = "/api/v1/notification-rules/{id}", operation_id = "deleteNotificationRule", tag = "notifications",
    security(("session" = [])), params(("id" = String, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete_rule(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    rules::delete(state.db(), &s.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Send test notification": the rule's notification, with sample facts, to the caller only, by
/// the rule's own means. Super Admin only.
#[utoipa::path(post, path = "/api/v1/notification-rules/{id}/test", operation_id = "sendTestNotification", tag = "notifications",
    security(("session" = [])), params(("id" = String, Path, description = "Rule id")),
    responses((status = 201, description = "Written for the caller", body = TestNotificationDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn send_test(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<TestNotificationDto>)> {
    let n = rules::send_test_with_hub(state.db(), state.hub(), &s.actor, &id).await?;
    Ok((StatusCode::CREATED, Json(n.into())))
}
