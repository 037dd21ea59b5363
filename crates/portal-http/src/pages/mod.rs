//! Server-rendered pages (askama templates in `templates/`), usable without JavaScript.
//!
//! Every page handler takes `PageStaff` (or is public), calls a domain use case and renders a
//! template whose struct carries a [`Chrome`]: the header, navigation and branding of the
//! layout. User-facing text lives in the templates.

mod auth;
mod home;
mod portal;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use portal_core::staff::Permission;
use serde::de::DeserializeOwned;

use crate::extract::SignedInStaff;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(auth::router()).merge(home::router()).merge(portal::router())
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
        }
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
        }
    }

    fn bare() -> Chrome {
        Chrome {
            company_name: "Portal".into(),
            has_logo: false,
            user_name: String::new(),
            role_label: String::new(),
            nav: vec![],
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

/// A URL-encoded form whose rejection is a readable page, not a bare 4xx text.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => Err(error_page(
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                },
                "The form could not be read. Go back, check what you entered and try again.",
            )),
        }
    }
}
