//! The patient side's entry points. Patient accounts arrive with the accounts capability; until
//! then, and whenever the clinic has turned the portal off, these pages say that the portal is
//! not available.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, render_status};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/portal", get(portal_home)).route("/portal/sign-in", get(portal_home))
}

#[derive(Template)]
#[template(path = "portal_unavailable.html")]
struct PortalUnavailable {
    chrome: Chrome,
    company_phone: Option<String>,
    turned_off: bool,
}

async fn portal_home(State(state): State<AppState>) -> Response {
    let company = portal_practice::company::company(state.db()).await.ok();
    let turned_off = !company.as_ref().is_some_and(|c| c.use_portal);
    render_status(
        StatusCode::SERVICE_UNAVAILABLE,
        &PortalUnavailable {
            chrome: Chrome::anonymous(&state).await,
            company_phone: company.and_then(|c| c.phone),
            turned_off,
        },
    )
}
