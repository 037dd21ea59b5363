//! The staff home page and the public branding images.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portal_core::staff::Permission;

use super::{Chrome, render};
use crate::extract::PageStaff;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/branding/logo", get(company_logo))
        .route("/branding/locations/{id}/logo", get(location_logo))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    use_portal: bool,
    may_configure_portal: bool,
    may_view_patients: bool,
    may_add_patients: bool,
    may_manage_users: bool,
    may_manage_company: bool,
    may_view_audit: bool,
    /// The Patient Portal Queue block: the open count and the newest open requests; `None`
    /// for staff who do not work the queue.
    show_queue: bool,
    queue_open: i64,
    queue_newest: Vec<super::queue::RequestLine>,
}

async fn home(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    let use_portal = portal_practice::settings::portal_enabled(state.db()).await.unwrap_or(false);
    let st = &s.staff;
    let block = super::queue::home_block(&state, &s.actor).await;
    let show_queue = block.is_some();
    let (queue_open, queue_newest) = block.unwrap_or_default();
    render(&HomePage {
        chrome: Chrome::for_staff(&state, &s, "/").await,
        use_portal,
        may_configure_portal: st.require_portal_settings().is_ok(),
        may_view_patients: st.has(Permission::ViewPatients),
        may_add_patients: st.has(Permission::EditPatients),
        may_manage_users: st.has(Permission::ManageUsers),
        may_manage_company: st.has(Permission::ManageCompany),
        may_view_audit: st.has(Permission::ViewAuditLog),
        show_queue,
        queue_open,
        queue_newest,
    })
}

fn image(found: Option<(String, Vec<u8>)>) -> Response {
    match found {
        // Only types accepted at upload are ever stored; anything else is not served.
        Some((t, bytes)) if t == "image/png" || t == "image/jpeg" => {
            let mut res = bytes.into_response();
            if let Ok(v) = HeaderValue::from_str(&t) {
                res.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            res.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
            res
        }
        _ => (StatusCode::NOT_FOUND, "no logo").into_response(),
    }
}

/// The company logo: public, since the sign-in page and e-mails show it.
async fn company_logo(State(state): State<AppState>) -> Response {
    image(portal_practice::company::company_logo(state.db()).await.ok().flatten())
}

async fn location_logo(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match portal_core::ids::LocationId::parse(&id) {
        Ok(id) => image(portal_practice::company::location_logo(state.db(), id.as_str()).await.ok().flatten()),
        Err(_) => (StatusCode::NOT_FOUND, "no logo").into_response(),
    }
}
