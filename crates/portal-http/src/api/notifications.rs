//! A staff member's own notifications (tag `notifications`): the list, the header's unread
//! count, marking read. Only one's own: another person's notification answers 404 like a
//! missing one, whatever the caller's role. The toasts themselves come over the pages' stream
//! (`GET /notifications/stream`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portal_core::time_util::rfc3339;
use portal_notify::rules;
use portal_store::notifications::NotificationRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery, ApiStaff};
use crate::pages::notifications::{parse_before, problem, severity_of};
use crate::state::AppState;

/// The most notifications one page holds.
const PAGE: i64 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(unread_notifications))
        .routes(routes!(read_notification))
        .routes(routes!(read_all_notifications))
}

/// One notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    pub id: String,
    /// `critical`, `warning` or `information`.
    pub severity: String,
    /// The colour the pages give the severity: `red`, `yellow` or `blue`.
    pub colour: String,
    pub title: String,
    pub body: String,
    /// Where it leads in the app.
    pub link: Option<String>,
    pub location_id: String,
    /// Whether it pops up as a toast.
    pub toast: bool,
    pub created_at: String,
    pub read_at: Option<String>,
}

impl From<NotificationRow> for NotificationDto {
    fn from(r: NotificationRow) -> Self {
        let sev = severity_of(&r);
        NotificationDto {
            severity: sev.as_str().to_owned(),
            colour: sev.colour().to_owned(),
            created_at: rfc3339(r.created_at),
            read_at: r.read_at.map(rfc3339),
            id: r.id,
            title: r.title,
            body: r.body,
            link: r.link,
            location_id: r.location_id,
            toast: r.toast,
        }
    }
}

/// A page of the caller's notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPageDto {
    /// Newest first.
    pub notifications: Vec<NotificationDto>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<String>,
}

/// Which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationPageParams {
    /// The `next_before` of the previous page (an RFC 3339 time). Without it, the newest.
    pub before: Option<String>,
}

/// The caller's unread notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadNotificationsDto {
    pub unread: i64,
}

/// How many were marked read.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedDto {
    pub marked: usize,
}

/// The caller's notifications, newest first, 50 a page. Audited when any is shown.
#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "listNotifications", tag = "notifications",
    security(("session" = [])), params(NotificationPageParams),
    responses((status = 200, body = NotificationPageDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`before` is not an RFC 3339 time", body = Problem, content_type = "application/problem+json")))]
async fn list_notifications(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<NotificationPageParams>,
) -> ApiResult<Json<NotificationPageDto>> {
    let before = parse_before(p.before.as_deref())?;
    let rows = rules::mine(state.db(), &s.actor, before, PAGE).await.map_err(problem)?;
    let next_before = (rows.len() as i64 == PAGE).then(|| rows.last().map(|r| rfc3339(r.created_at))).flatten();
    Ok(Json(NotificationPageDto { notifications: rows.into_iter().map(Into::into).collect(), next_before }))
}

/// The header's count: the caller's unread notifications. Polled by the pages; not audited.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", operation_id = "getUnreadNotifications", tag = "notifications",
    security(("session" = [])),
    responses((status = 200, body = UnreadNotificationsDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn unread_notifications(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ApiResult<Json<UnreadNotificationsDto>> {
    Ok(Json(UnreadNotificationsDto { unread: rules::unread_count(state.db(), &s.actor).await.map_err(problem)? }))
}

/// Marks one of the caller's notifications read (again: no change). 404 for another person's.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", operation_id = "readNotification", tag = "notifications",
    security(("session" = [])), params(("id" = String, Path, description = "Notification id")),
    responses((status = 200, body = MarkedDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notification, or not the caller's", body = Problem, content_type = "application/problem+json")))]
async fn read_notification(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MarkedDto>> {
    Ok(Json(MarkedDto { marked: rules::mark_read(state.db(), &s.actor, Some(&id)).await.map_err(problem)? }))
}

/// Marks all the caller's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", operation_id = "readAllNotifications", tag = "notifications",
    security(("session" = [])),
    responses((status = 200, body = MarkedDto), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn read_all_notifications(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ApiResult<(StatusCode, Json<MarkedDto>)> {
    Ok((
        StatusCode::OK,
        Json(MarkedDto { marked: rules::mark_read(state.db(), &s.actor, None).await.map_err(problem)? }),
    ))
}
