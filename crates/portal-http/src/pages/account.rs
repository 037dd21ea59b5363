//! The signed-in user's own account: who they are, and a change of password that signs out
//! their other sessions.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_auth::AuthError;
use portal_core::staff::Permission;
use serde::Deserialize;

use super::forms::FormErrors;
use super::{Chrome, PageForm, PageQuery, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/account", get(account_page)).route("/account/password", post(change_password))
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    all_locations: bool,
    locations: Vec<String>,
    permissions: Vec<&'static str>,
    errors: FormErrors,
    password_changed: bool,
}

impl AccountPage {
    async fn build(state: &AppState, s: &SignedInStaff) -> Self {
        let all = portal_practice::company::locations(state.db()).await.unwrap_or_default();
        let locations =
            all.into_iter().filter(|l| s.staff.locations.iter().any(|m| m.as_str() == l.id)).map(|l| l.name).collect();
        Self {
            chrome: Chrome::for_staff(state, s, "/account").await,
            all_locations: s.staff.has(Permission::AllLocations),
            locations,
            permissions: s.staff.portal.granted().into_iter().map(|p| p.label()).collect(),
            errors: FormErrors::none(),
            password_changed: false,
        }
    }
}

#[derive(Deserialize)]
struct Notice {
    password_changed: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    let mut page = AccountPage::build(&state, &s).await;
    page.password_changed = q.password_changed.is_some();
    render_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    let mut errors = FormErrors::none();
    if form.new_password != form.repeat_password {
        errors.flag("repeat_password");
    } else {
        let result = portal_auth::sessions::change_own_password(
            state.db(),
            &state.app().hasher,
            &s.actor,
            &s.token_hash,
            &form.current_password,
            &form.new_password,
        )
        .await;
        match result {
            Ok(()) => return Redirect::to("/account?password_changed=1").into_response(),
            Err(AuthError::Invalid(f)) => {
                errors = FormErrors::from_fields(f);
                // The one way the current password can be wrong; the template words it.
                errors.reflag("current_password");
            }
            Err(e) => return problem_page(e.into()),
        }
    }
    let mut page = AccountPage::build(&state, &s).await;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
