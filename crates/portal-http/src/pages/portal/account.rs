//! The signed-in portal user's own account: password, e-mail address and sessions; and the
//! page where a temporary password set at the desk is replaced.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_auth::PortalError;
use portal_auth::portal_sessions::{self as portal_sessions, PortalSessionView};
use portal_core::AccessError;
use serde::Deserialize;

use super::{PortalChrome, PortalOpen, not_found, portal_problem};
use crate::extract::{PagePortal, SignedInPortal};
use crate::pages::forms::{FormErrors, when, when_iso};
use crate::pages::{PageForm, PageQuery, render_status};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/account", get(account_page))
        .route("/portal/account/password", post(change_password))
        .route("/portal/account/email", post(request_email_change))
        .route("/portal/account/sessions/end-others", post(end_other_sessions))
        .route("/portal/account/sessions/{id}/end", post(end_session))
        .route("/portal/choose-password", get(choose_password_page).post(choose_password))
}

/// One row of the sessions table.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub browser: String,
    pub created: String,
    pub created_iso: String,
    pub last_seen: String,
    pub last_seen_iso: String,
    pub ip: String,
    pub current: bool,
}

impl From<PortalSessionView> for SessionRow {
    fn from(s: PortalSessionView) -> Self {
        Self {
            browser: browser_label(s.user_agent.as_deref()),
            created: when(s.created_at),
            created_iso: when_iso(s.created_at),
            last_seen: when(s.last_seen_at),
            last_seen_iso: when_iso(s.last_seen_at),
            ip: s.ip.unwrap_or_else(|| "unknown".into()),
            current: s.current,
            id: s.id,
        }
    }
}

/// "Firefox on Android" from a User-Agent header: enough to recognise one's own devices.
pub fn browser_label(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.trim().is_empty()) else { return "Unknown browser".into() };
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "A browser or app"
    };
    let os = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "portal_account.html")]
struct AccountPage {
    chrome: PortalChrome,
    username: String,
    email: String,
    sessions: Vec<SessionRow>,
    pw_errors: FormErrors,
    email_errors: FormErrors,
    new_email: String,
    notice: String,
}

impl AccountPage {
    async fn build(state: &AppState, s: &SignedInPortal) -> Result<Self, Response> {
        let chrome = PortalChrome::signed_in(state, s, None, "account").await?;
        let sessions = portal_sessions::my_sessions(state.db(), &state.app().portal_sessions, &s.session)
            .await
            .map_err(portal_problem)?;
        Ok(Self {
            chrome,
            username: s.principal().username.to_string(),
            email: s.principal().email.to_string(),
            sessions: sessions.into_iter().map(Into::into).collect(),
            pw_errors: FormErrors::none(),
            email_errors: FormErrors::none(),
            new_email: String::new(),
            notice: String::new(),
        })
    }
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

fn notice_of(done: Option<&str>) -> &'static str {
    match done {
        Some("password_changed") => "password_changed",
        Some("email_requested") => "email_requested",
        Some("session_ended") => "session_ended",
        Some("others_ended") => "others_ended",
        _ => "",
    }
}

async fn account_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    if s.principal().must_change_password {
        return Redirect::to("/portal/choose-password").into_response();
    }
    let mut page = match AccountPage::build(&state, &s).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.notice = notice_of(q.done.as_deref()).to_owned();
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

/// Runs a password change; `Err` holds the field errors for the form, or the page to answer.
async fn run_password_change(
    state: &AppState,
    s: &SignedInPortal,
    form: &PasswordForm,
) -> Result<(), Result<FormErrors, Response>> {
    if form.new_password != form.repeat_password {
        let mut errors = FormErrors::none();
        errors.flag("repeat_password");
        return Err(Ok(errors));
    }
    let result = portal_sessions::change_portal_password(
        state.db(),
        &state.app().hasher,
        &s.session,
        &form.current_password,
        &form.new_password,
        s.ip.clone(),
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(PortalError::Invalid(f)) => {
            let mut errors = FormErrors::from_fields(f);
            // The one way the current password can be wrong; the template words it.
            errors.reflag("current_password");
            Err(Ok(errors))
        }
        Err(e) => Err(Err(portal_problem(e))),
    }
}

async fn change_password(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    match run_password_change(&state, &s, &form).await {
        Ok(()) => Redirect::to("/portal/account?done=password_changed").into_response(),
        Err(Err(page)) => page,
        Err(Ok(errors)) => {
            let mut page = match AccountPage::build(&state, &s).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            page.pw_errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    password: String,
}

async fn request_email_change(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageForm(form): PageForm<EmailForm>,
) -> Response {
    if s.principal().must_change_password {
        return Redirect::to("/portal/choose-password").into_response();
    }
    let result = portal_auth::email_change::request_email_change(
        state.db(),
        &state.app().hasher,
        &s.session,
        &form.password,
        &form.new_email,
        s.ip.clone(),
    )
    .await;
    let errors = match result {
        Ok(_) => return Redirect::to("/portal/account?done=email_requested").into_response(),
        Err(PortalError::Invalid(f)) => {
            let mut errors = FormErrors::from_fields(f);
            errors.reflag("password");
            errors
        }
        Err(e) => return portal_problem(e),
    };
    let mut page = match AccountPage::build(&state, &s).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.email_errors = errors;
    page.new_email = form.new_email;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn end_session(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(axum::extract::Path(id)) = id else { return not_found(&state).await };
    let current = portal_sessions::portal_session_id(&s.session.token_hash) == id;
    match portal_sessions::end_my_session(state.db(), &s.session, &id, s.ip.clone()).await {
        // Ending the session one is using is signing out.
        Ok(()) if current => Redirect::to("/portal/sign-in?signed_out=1").into_response(),
        Ok(()) => Redirect::to("/portal/account?done=session_ended").into_response(),
        Err(PortalError::Access(AccessError::NotFound)) => not_found(&state).await,
        Err(e) => portal_problem(e),
    }
}

async fn end_other_sessions(_: PortalOpen, State(state): State<AppState>, PagePortal(s): PagePortal) -> Response {
    match portal_sessions::end_my_other_sessions(state.db(), &s.session, s.ip.clone()).await {
        Ok(_) => Redirect::to("/portal/account?done=others_ended").into_response(),
        Err(e) => portal_problem(e),
    }
}

#[derive(Template)]
#[template(path = "portal_choose_password.html")]
struct ChoosePasswordPage {
    chrome: PortalChrome,
    errors: FormErrors,
}

async fn choose_password_page(_: PortalOpen, State(state): State<AppState>, PagePortal(s): PagePortal) -> Response {
    if !s.principal().must_change_password {
        return Redirect::to("/portal").into_response();
    }
    match PortalChrome::signed_in(&state, &s, None, "account").await {
        Ok(chrome) => render_status(StatusCode::OK, &ChoosePasswordPage { chrome, errors: FormErrors::none() }),
        Err(r) => r,
    }
}

async fn choose_password(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageForm(form): PageForm<PasswordForm>,
) -> Response {
    match run_password_change(&state, &s, &form).await {
        Ok(()) => Redirect::to("/portal").into_response(),
        Err(Err(page)) => page,
        Err(Ok(errors)) => match PortalChrome::signed_in(&state, &s, None, "account").await {
            Ok(chrome) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &ChoosePasswordPage { chrome, errors }),
            Err(r) => r,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::browser_label;

    #[test]
    fn browsers_are_named_from_the_user_agent() {
        let firefox = "Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0";
        assert_eq!(browser_label(Some(firefox)), "Firefox on Android");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36";
        assert_eq!(browser_label(Some(chrome)), "Chrome on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_label(Some(safari)), "Safari on iOS");
        assert_eq!(browser_label(None), "Unknown browser");
        assert_eq!(browser_label(Some("curl/8.0")), "A browser or app");
    }
}
