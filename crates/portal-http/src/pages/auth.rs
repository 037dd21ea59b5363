//! Staff sign-in and sign-out pages.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use super::{Chrome, PageForm, PageQuery, render_status};
use crate::extract::{ClientIp, PageStaff, safe_next, session_cookie_name};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/staff/sign-in", get(sign_in_page).post(sign_in)).route("/staff/sign-out", post(sign_out))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
    signed_out: bool,
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

async fn sign_in_page(State(state): State<AppState>, PageQuery(q): PageQuery<SignInQuery>) -> Response {
    render_status(
        StatusCode::OK,
        &SignInPage {
            chrome: Chrome::anonymous(&state).await,
            email: String::new(),
            next: safe_next(q.next.as_deref()),
            error: None,
            signed_out: q.signed_out.is_some(),
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let again = |state: AppState, status: StatusCode, error: String, email: String, next: String| async move {
        render_status(
            status,
            &SignInPage { chrome: Chrome::anonymous(&state).await, email, next, error: Some(error), signed_out: false },
        )
    };
    if let Some(ip) = ip
        && let Err(wait) = state.app().sign_in_limiter.check(ip)
    {
        let msg =
            format!("Too many sign-in attempts from your network. Try again in {} seconds.", wait.as_secs().max(1));
        return again(state, StatusCode::TOO_MANY_REQUESTS, msg, form.email, next).await;
    }
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let result = portal_auth::sessions::sign_in_staff(
        state.db(),
        &state.app().hasher,
        &state.app().sessions,
        &form.email,
        &form.password,
        ip.map(|i| i.to_string()),
        ua,
    )
    .await;
    match result {
        Ok(signed) => {
            let cookie = crate::extract::session_cookie(&state, session_cookie_name(&state), signed.token);
            (jar.add(cookie), Redirect::to(&next)).into_response()
        }
        Err(portal_auth::AuthError::BadCredentials) => {
            again(
                state,
                StatusCode::UNAUTHORIZED,
                "The e-mail address or password is incorrect.".into(),
                form.email,
                next,
            )
            .await
        }
        Err(portal_auth::AuthError::Throttled { retry_after_secs }) => {
            let msg = format!("Too many sign-in attempts. Try again in {retry_after_secs} seconds.");
            again(state, StatusCode::TOO_MANY_REQUESTS, msg, form.email, next).await
        }
        Err(e) => super::problem_page(e.into()),
    }
}

async fn sign_out(State(state): State<AppState>, jar: CookieJar, PageStaff(s): PageStaff) -> Response {
    if let Err(e) = portal_auth::sessions::sign_out(state.db(), &s.actor, &s.token_hash).await {
        return super::problem_page(e.into());
    }
    let removal = Cookie::build((session_cookie_name(&state), "")).path("/").build();
    (jar.remove(removal), Redirect::to("/staff/sign-in?signed_out=1")).into_response()
}
