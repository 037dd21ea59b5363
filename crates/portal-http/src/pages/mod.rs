//! Server-rendered pages (askama templates in `templates/`), usable without JavaScript.
//!
//! Every page handler takes `PageStaff` (or is public), calls a domain use case and renders a
//! template whose struct carries a [`Chrome`]: the header, navigation and branding of the
//! layout. User-facing text lives in the templates.
//!
//! Helpers of the pages return `Result<T, Response>`: the error is the page to answer with
//! (a 403 or 404 page), returned once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

mod account;
mod audit;
mod auth;
mod company;
mod facesheet;
pub mod forms;
pub(crate) mod handout;
mod home;
mod messages;
mod notification_rules;
pub(crate) mod notifications;
mod onboarding;
mod patients;
mod portal;
mod portal_staff;
mod queue;
mod settings;
#[cfg(test)]
mod tests;
mod users;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use portal_core::staff::Permission;
use serde::de::DeserializeOwned;

use crate::extract::SignedInStaff;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(home::router())
        .merge(portal::router())
        .merge(settings::router())
        .merge(company::router())
        .merge(users::router())
        .merge(patients::router())
        .merge(facesheet::router())
        .merge(audit::router())
        .merge(account::router())
        .merge(portal_staff::router())
        .merge(onboarding::router())
        .merge(handout::router())
        .merge(messages::router())
        .merge(queue::router())
        .merge(notification_rules::router())
        .merge(notifications::router())
}

/// One entry of the staff navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the layout needs: branding, the signed-in user and the navigation they may use.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub company_name: String,
    pub has_logo: bool,
    pub user_name: String,
    pub role_label: String,
    pub nav: Vec<NavItem>,
    /// The header's Messages link and its unread badge: `Some(count)` for a signed-in staff
    /// member, read when the page is built (the badge is then kept current by
    /// `static/unread-count.js`).
    pub unread: Option<i64>,
    /// The header's Notifications link and its unread badge (like `unread`), and the toasts'
    /// script: `Some(count)` for a signed-in staff member.
    pub notifications: Option<i64>,
}

impl Chrome {
    /// Builds the layout for `staff`, marking `section` (a nav href) as the current page.
    pub async fn for_staff(state: &AppState, staff: &SignedInStaff, section: &str) -> Chrome {
        let company = portal_practice::company::company(state.db()).await.ok();
        let s = &staff.staff;
        let mut nav = vec![NavItem { href: "/", label: "Home", current: false }];
        if s.has(Permission::ViewPatients) {
            nav.push(NavItem { href: "/patients", label: "Patients", current: false });
        }
        // Every staff member has an inbox (staff-to-staff messages need no permission).
        nav.push(NavItem { href: "/messages", label: "Messages", current: false });
        // Seed 002's Patient Portal Queue: requests of one's locations (View Patients).
        if s.has(Permission::ViewPatients) {
            nav.push(NavItem { href: "/queue", label: "Portal Queue", current: false });
        }
        // Seed 004's tool enables and invites: for those who may edit patients (the list
        // itself opens with View Patients, read-only).
        if s.has(Permission::EditPatients) {
            nav.push(NavItem { href: "/onboarding", label: "Onboarding", current: false });
        }
        if s.has(Permission::ManageUsers) {
            nav.push(NavItem { href: "/users", label: "Manage Users", current: false });
        }
        if s.require_portal_settings().is_ok() || s.has(Permission::ManageCompany) {
            nav.push(NavItem { href: "/settings", label: "Settings", current: false });
        }
        if s.has(Permission::ViewAuditLog) {
            nav.push(NavItem { href: "/audit", label: "Audit log", current: false });
        }
        for item in &mut nav {
            item.current = item.href == section;
        }
        Chrome {
            company_name: company.as_ref().map(|c| c.name.clone()).unwrap_or_else(|| "Portal".into()),
            has_logo: company.as_ref().is_some_and(|c| c.logo_content_type.is_some()),
            user_name: s.name.clone(),
            role_label: s.role.label().to_owned(),
            nav,
            unread: Some(unread_count(state, staff).await),
            notifications: Some(unread_notifications(state, staff).await),
        }
    }

    /// Whether the header's badge shows a number (it is in the page but hidden at zero, for the
    /// script to fill in later).
    pub fn has_unread(&self) -> bool {
        self.unread.is_some_and(|n| n > 0)
    }

    /// The layout for pages without a signed-in user (sign-in, errors).
    pub async fn anonymous(state: &AppState) -> Chrome {
        let company = portal_practice::company::company(state.db()).await.ok();
        Chrome {
            company_name: company.as_ref().map(|c| c.name.clone()).unwrap_or_else(|| "Portal".into()),
            has_logo: company.as_ref().is_some_and(|c| c.logo_content_type.is_some()),
            user_name: String::new(),
            role_label: String::new(),
            nav: vec![],
            unread: None,
            notifications: None,
        }
    }

    fn bare() -> Chrome {
        Chrome {
            company_name: "Portal".into(),
            has_logo: false,
            user_name: String::new(),
            role_label: String::new(),
            nav: vec![],
            unread: None,
            notifications: None,
        }
    }
}

/// The header's unread count. A failure to read it must not take the page down with it: the
/// badge then shows nothing (the cause is logged without PHI) and the script fills it in later.
async fn unread_count(state: &AppState, staff: &SignedInStaff) -> i64 {
    let Ok(caller) = portal_messaging::Caller::staff(&staff.actor) else { return 0 };
    match portal_messaging::inbox::unread_count(state.db(), &caller).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "reading the unread message count failed");
            0
        }
    }
}

/// The header's unread notifications; like [`unread_count`], a failure shows nothing.
async fn unread_notifications(state: &AppState, staff: &SignedInStaff) -> i64 {
    match portal_notify::rules::unread_count(state.db(), &staff.actor).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "reading the unread notification count failed");
            0
        }
    }
}

/// Renders a template, or a plain error page if the template itself fails.
pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"))
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    title: String,
    message: String,
}

/// A readable error page (no layout lookups, so it works even when the database does not).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    render_status(
        status,
        &ErrorPage {
            chrome: Chrome::bare(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: message.to_owned(),
        },
    )
}

/// Maps a domain error to an error page; validation errors are handled by each form instead.
pub fn problem_page(p: crate::error::Problem) -> Response {
    error_page(p.status_code(), &p.detail)
}

/// True when a form body or query string holds a NUL character, raw or percent-encoded: no
/// field needs one, and PostgreSQL cannot store one.
fn has_nul(raw: &[u8]) -> bool {
    raw.contains(&0) || raw.windows(3).any(|w| w == b"%00")
}

const UNREADABLE_FORM: &str = "The form could not be read. Go back, check what you entered and try again.";

/// A URL-encoded form whose rejection is a readable page, not a bare 4xx text.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, crate::app::BODY_LIMIT).await else {
            return Err(error_page(StatusCode::PAYLOAD_TOO_LARGE, UNREADABLE_FORM));
        };
        if has_nul(&bytes) {
            return Err(error_page(StatusCode::BAD_REQUEST, UNREADABLE_FORM));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => Err(error_page(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                },
                UNREADABLE_FORM,
            )),
        }
    }
}

/// A query string (search boxes, filters, notices) whose rejection is a readable page.
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let unreadable = || {
            error_page(
                StatusCode::BAD_REQUEST,
                "The address could not be read. Check the link, or start again from the menu.",
            )
        };
        if parts.uri.query().is_some_and(|q| has_nul(q.as_bytes())) {
            return Err(unreadable());
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(PageQuery(v)),
            Err(_) => Err(unreadable()),
        }
    }
}
