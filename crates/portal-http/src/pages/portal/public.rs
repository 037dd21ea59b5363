//! The portal's pages for people who are not signed in: self-registration, forgot password,
//! and the pages behind the links e-mailed to them (paths spelled by portal-core's
//! `LinkPurpose::path`). Each request counts against the per-address limit of the public
//! forms. Registration and forgot password answer with the same page whatever matched.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_auth::PortalError;
use portal_auth::registration::{ForgotPasswordInput, IdentityInput};
use serde::Deserialize;

use super::{PortalChrome, PortalOpen, SignInPage, limit_public_form, link_unusable, portal_problem};
use crate::extract::ClientIp;
use crate::pages::forms::FormErrors;
use crate::pages::{PageForm, render_status};
use crate::state::AppState;

type TokenPath = Result<axum::extract::Path<String>, PathRejection>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/register", get(register_page).post(register))
        .route("/portal/forgot-password", get(forgot_page).post(forgot))
        .route("/portal/set-password/{token}", get(link_page).post(accept_link))
        .route("/portal/register/complete/{token}", get(link_page).post(accept_link))
        .route("/portal/account/email/confirm/{token}", get(email_confirm_page).post(confirm_email))
}

/// The answer to registration and forgot password, whatever matched: nothing in it depends on
/// what was typed.
#[derive(Template)]
#[template(path = "portal_sent.html")]
struct SentPage {
    chrome: PortalChrome,
}

async fn sent(state: &AppState) -> Response {
    render_status(StatusCode::OK, &SentPage { chrome: PortalChrome::anonymous(state).await })
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct IdentityForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    zip: String,
}

impl IdentityForm {
    fn input(&self) -> IdentityInput {
        IdentityInput {
            email: self.email.clone(),
            last_name: self.last_name.clone(),
            date_of_birth: self.date_of_birth.clone(),
            zip: self.zip.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal_register.html")]
struct RegisterPage {
    chrome: PortalChrome,
    form: IdentityForm,
    errors: FormErrors,
}

async fn register_page(_: PortalOpen, State(state): State<AppState>) -> Response {
    let page = RegisterPage {
        chrome: PortalChrome::anonymous(&state).await,
        form: IdentityForm::default(),
        errors: FormErrors::none(),
    };
    render_status(StatusCode::OK, &page)
}

async fn register(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<IdentityForm>,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    match portal_auth::registration::request_registration(state.db(), &form.input(), ip.map(|i| i.to_string())).await {
        Ok(()) => sent(&state).await,
        // The format of what was typed, which says nothing about any record.
        Err(PortalError::Invalid(f)) => {
            let page = RegisterPage {
                chrome: PortalChrome::anonymous(&state).await,
                form,
                errors: FormErrors::from_fields(f),
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => portal_problem(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Forgot password
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct AccountForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "portal_forgot.html")]
struct ForgotPage {
    chrome: PortalChrome,
    patient: IdentityForm,
    patient_errors: FormErrors,
    account: AccountForm,
    account_errors: FormErrors,
}

impl ForgotPage {
    async fn new(state: &AppState) -> Self {
        Self {
            chrome: PortalChrome::anonymous(state).await,
            patient: IdentityForm::default(),
            patient_errors: FormErrors::none(),
            account: AccountForm::default(),
            account_errors: FormErrors::none(),
        }
    }
}

/// Both forms of the page in one shape: `kind` says which was sent.
#[derive(Debug, Default, Deserialize)]
struct ForgotForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    username: String,
}

async fn forgot_page(_: PortalOpen, State(state): State<AppState>) -> Response {
    render_status(StatusCode::OK, &ForgotPage::new(&state).await)
}

async fn forgot(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PageForm(form): PageForm<ForgotForm>,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    let by_account = form.kind == "account";
    let input = if by_account {
        ForgotPasswordInput::Account { username: form.username.clone(), email: form.email.clone() }
    } else {
        ForgotPasswordInput::Patient(IdentityInput {
            email: form.email.clone(),
            last_name: form.last_name.clone(),
            date_of_birth: form.date_of_birth.clone(),
            zip: form.zip.clone(),
        })
    };
    match portal_auth::registration::request_password_reset(state.db(), &input, ip.map(|i| i.to_string())).await {
        Ok(()) => sent(&state).await,
        Err(PortalError::Invalid(f)) => {
            let mut page = ForgotPage::new(&state).await;
            if by_account {
                page.account = AccountForm { username: form.username, email: form.email };
                page.account_errors = FormErrors::from_fields(f);
            } else {
                page.patient = IdentityForm {
                    email: form.email,
                    last_name: form.last_name,
                    date_of_birth: form.date_of_birth,
                    zip: form.zip,
                };
                page.patient_errors = FormErrors::from_fields(f);
            }
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => portal_problem(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Invitation, reset and registration links
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_link.html")]
struct LinkPage {
    chrome: PortalChrome,
    action: String,
    needs_username: bool,
    username: String,
    errors: FormErrors,
}

/// The path the form posts back to: the page's own, rebuilt from its parts (the token has
/// been checked to be one of ours, so it is plain hex).
fn own_path(uri: &axum::http::Uri) -> String {
    uri.path().to_owned()
}

async fn link_page(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    uri: axum::http::Uri,
    token: TokenPath,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    let Ok(axum::extract::Path(token)) = token else { return link_unusable(&state).await };
    match portal_auth::portal_links::inspect_link(state.db(), &token).await {
        Ok(view) => {
            let page = LinkPage {
                chrome: PortalChrome::anonymous(&state).await,
                action: own_path(&uri),
                needs_username: view.needs_username,
                username: String::new(),
                errors: FormErrors::none(),
            };
            render_status(StatusCode::OK, &page)
        }
        Err(PortalError::LinkNotUsable { .. }) => link_unusable(&state).await,
        Err(e) => portal_problem(e),
    }
}

#[derive(Debug, Deserialize)]
struct LinkForm {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat_password: String,
}

async fn accept_link(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    uri: axum::http::Uri,
    token: TokenPath,
    PageForm(form): PageForm<LinkForm>,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    let Ok(axum::extract::Path(token)) = token else { return link_unusable(&state).await };
    // Whether to ask for a username again if the form comes back: what the link needs.
    let needs_username = match portal_auth::portal_links::inspect_link(state.db(), &token).await {
        Ok(v) => v.needs_username,
        Err(PortalError::LinkNotUsable { .. }) => return link_unusable(&state).await,
        Err(e) => return portal_problem(e),
    };
    let typed = form.username.clone().unwrap_or_default();
    let errors = if form.password != form.repeat_password {
        let mut e = FormErrors::none();
        e.flag("repeat_password");
        e
    } else {
        let input = portal_auth::portal_links::AcceptLinkInput {
            username: form.username.clone().filter(|_| needs_username),
            password: form.password.clone(),
        };
        let result = portal_auth::portal_links::accept_link(
            state.db(),
            &state.app().hasher,
            &token,
            input,
            ip.map(|i| i.to_string()),
        )
        .await;
        match result {
            // Not signed in: the person signs in with what they just chose (see docs/behaviour.md).
            Ok(done) => {
                let mut page = SignInPage::new(&state).await;
                page.username = done.username;
                page.notice = "password_set".into();
                return render_status(StatusCode::OK, &page);
            }
            Err(PortalError::Invalid(f)) => FormErrors::from_fields(f),
            Err(PortalError::LinkNotUsable { .. }) => return link_unusable(&state).await,
            Err(e) => return portal_problem(e),
        }
    };
    let page = LinkPage {
        chrome: PortalChrome::anonymous(&state).await,
        action: own_path(&uri),
        needs_username,
        username: typed,
        errors,
    };
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// ---------------------------------------------------------------------------------------------
// E-mail change confirmation
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_email_confirm.html")]
struct EmailConfirmPage {
    chrome: PortalChrome,
    action: String,
    changed_to: Option<String>,
}

/// Shows the confirm button; nothing changes on GET (a mail scanner that follows links must not
/// confirm anything).
async fn email_confirm_page(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    uri: axum::http::Uri,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    let page =
        EmailConfirmPage { chrome: PortalChrome::anonymous(&state).await, action: own_path(&uri), changed_to: None };
    render_status(StatusCode::OK, &page)
}

async fn confirm_email(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    uri: axum::http::Uri,
    token: TokenPath,
) -> Response {
    if let Err(page) = limit_public_form(&state, ip).await {
        return page;
    }
    let Ok(axum::extract::Path(token)) = token else { return link_unusable(&state).await };
    match portal_auth::email_change::confirm_email_change(state.db(), &token, ip.map(|i| i.to_string())).await {
        Ok(done) => {
            let page = EmailConfirmPage {
                chrome: PortalChrome::anonymous(&state).await,
                action: own_path(&uri),
                changed_to: Some(done.email),
            };
            render_status(StatusCode::OK, &page)
        }
        Err(PortalError::LinkNotUsable { .. }) => link_unusable(&state).await,
        Err(e) => portal_problem(e),
    }
}
