//! The portal users' pages: patients, their contacts and designated users sign in, switch
//! between the patients they hold grants for, open each one's home and exchange secure messages
//! with the clinic ([`messages`]); people without an account register, reset a forgotten
//! password and follow the links e-mailed to them.
//!
//! Every page first checks that the clinic has turned the portal on ([`PortalOpen`]); while it
//! is off, each answers the "not available" page. Signed-in pages take [`PagePortal`], whose
//! principal is loaded with the grants in force at the start of the request: a grant revoked a
//! moment ago no longer opens its patient. User-facing text lives in the `portal_*` templates.

mod account;
mod messages;
mod public;
mod requests;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use portal_auth::PortalError;
use portal_auth::portal_sessions::{self as portal_sessions, PortalPatient};
use portal_core::AccessError;
use serde::Deserialize;

use super::{Chrome, PageForm, PageQuery, render_status};
use crate::extract::{ClientIp, PagePortal, SignedInPortal, portal_cookie_name, safe_next};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(index))
        .route("/portal/sign-in", get(sign_in_page).post(sign_in))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/patients/{patient_id}", get(patient_home))
        .merge(account::router())
        .merge(messages::router())
        .merge(public::router())
        .merge(requests::router())
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

/// One patient in the header's switcher.
#[derive(Debug, Clone)]
pub struct SwitchItem {
    pub id: String,
    pub name: String,
    pub relation: &'static str,
    pub current: bool,
}

impl SwitchItem {
    fn from_patient(p: &PortalPatient, current: Option<&str>) -> Self {
        Self {
            id: p.patient_id.clone(),
            name: format!("{} {}", p.first_name, p.last_name),
            relation: relation_label(p.relation),
            current: current == Some(p.patient_id.as_str()),
        }
    }
}

/// What the portal layout needs: the clinic's branding and, when signed in, the user and the
/// patients they may switch between.
#[derive(Debug, Clone)]
pub struct PortalChrome {
    pub brand_name: String,
    pub logo_src: Option<String>,
    pub signed_in: bool,
    pub username: String,
    pub patients: Vec<SwitchItem>,
    pub home_href: String,
    /// `home`, `messages`, `requests` or `account`: the navigation entry marked current.
    pub section: String,
    /// Unread messages across the user's conversations, for the header's badge (rendered by the
    /// server, so that it shows without JavaScript; `unread-count.js` keeps it fresh).
    pub unread: i64,
}

impl PortalChrome {
    /// The layout of the public pages (sign-in, registration, links): the company's branding.
    pub async fn anonymous(state: &AppState) -> Self {
        let company = portal_practice::company::company(state.db()).await.ok();
        Self {
            brand_name: company.as_ref().map(|c| c.name.clone()).unwrap_or_else(|| "Portal".into()),
            logo_src: company.as_ref().filter(|c| c.logo_content_type.is_some()).map(|_| "/branding/logo".to_owned()),
            signed_in: false,
            username: String::new(),
            patients: vec![],
            home_href: "/portal".into(),
            section: String::new(),
            unread: 0,
        }
    }

    /// The layout for a signed-in user, with the switcher (`current`: the patient shown).
    pub async fn signed_in(
        state: &AppState,
        s: &SignedInPortal,
        current: Option<&str>,
        section: &'static str,
    ) -> Result<Self, Response> {
        let mut chrome = Self::anonymous(state).await;
        let patients = portal_sessions::my_patients(state.db(), s.principal()).await.map_err(portal_problem)?;
        chrome.signed_in = true;
        chrome.username = s.principal().username.to_string();
        chrome.patients = patients.iter().map(|p| SwitchItem::from_patient(p, current)).collect();
        chrome.section = section.to_owned();
        if let [only] = patients.as_slice() {
            chrome.home_href = format!("/portal/patients/{}", only.patient_id);
        }
        chrome.unread = messages::header_unread(state, s).await;
        Ok(chrome)
    }
}

/// The words for a relation, as the portal user reads them.
pub fn relation_label(r: portal_core::events::Relation) -> &'static str {
    use portal_core::events::Relation;
    match r {
        Relation::Myself => "Your own record",
        Relation::Guardian => "Guardian",
        Relation::Guarantor => "Guarantor",
        Relation::Other => "Designated user",
    }
}

// ---------------------------------------------------------------------------------------------
// The portal must be on
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_unavailable.html")]
struct PortalUnavailable {
    chrome: Chrome,
    company_phone: Option<String>,
    turned_off: bool,
}

/// Proof that the clinic has turned the portal on; otherwise the "not available" page.
pub struct PortalOpen;

impl FromRequestParts<AppState> for PortalOpen {
    type Rejection = Response;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let company = portal_practice::company::company(state.db()).await.ok();
        if company.as_ref().is_some_and(|c| c.use_portal) {
            return Ok(PortalOpen);
        }
        Err(render_status(
            StatusCode::SERVICE_UNAVAILABLE,
            &PortalUnavailable {
                chrome: Chrome::anonymous(state).await,
                company_phone: company.and_then(|c| c.phone),
                turned_off: true,
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and errors
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_message.html")]
struct MessagePage {
    chrome: PortalChrome,
    kind: String,
    retry_after: u64,
    detail: String,
}

async fn message_page(state: &AppState, status: StatusCode, kind: &'static str, retry_after: u64) -> Response {
    let page = MessagePage {
        chrome: PortalChrome::anonymous(state).await,
        kind: kind.to_owned(),
        retry_after,
        detail: String::new(),
    };
    let mut res = render_status(status, &page);
    if retry_after > 0
        && let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// 404 for a patient the user holds no grant in force for: the same page as a missing one.
pub async fn not_found(state: &AppState) -> Response {
    message_page(state, StatusCode::NOT_FOUND, "not_found", 0).await
}

/// The page of an unusable link (unknown, expired, used, outdated: one page), leading to
/// "Forgot password".
pub async fn link_unusable(state: &AppState) -> Response {
    message_page(state, StatusCode::GONE, "link_unusable", 0).await
}

/// Counts a public form request against the per-address limit; `Err` is the 429 page.
pub async fn limit_public_form(state: &AppState, ip: Option<std::net::IpAddr>) -> Result<(), Response> {
    if let Some(ip) = ip
        && let Err(wait) = state.app().portal_forms_limiter.check(ip)
    {
        return Err(message_page(state, StatusCode::TOO_MANY_REQUESTS, "too_many", wait.as_secs().max(1)).await);
    }
    Ok(())
}

/// A domain error that no form handles: a readable page.
pub fn portal_problem(e: PortalError) -> Response {
    super::problem_page(e.into())
}

/// Only portal pages are followed after signing in (never a staff page, never another site).
fn portal_next(next: Option<&str>) -> String {
    let n = safe_next(next);
    if n == "/portal" || n.starts_with("/portal/") || n.starts_with("/portal?") { n } else { "/portal".into() }
}

// ---------------------------------------------------------------------------------------------
// Sign-in and sign-out
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_sign_in.html")]
pub struct SignInPage {
    pub chrome: PortalChrome,
    pub username: String,
    pub next: String,
    /// `credentials`, `throttled` or `limited`.
    pub error: Option<String>,
    pub retry_after: u64,
    /// `signed_out`, `password_set`, `email_changed` or empty.
    pub notice: String,
}

impl SignInPage {
    pub async fn new(state: &AppState) -> Self {
        Self {
            chrome: PortalChrome::anonymous(state).await,
            username: String::new(),
            next: "/portal".into(),
            error: None,
            retry_after: 0,
            notice: String::new(),
        }
    }
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

async fn sign_in_page(_: PortalOpen, State(state): State<AppState>, PageQuery(q): PageQuery<SignInQuery>) -> Response {
    let mut page = SignInPage::new(&state).await;
    page.next = portal_next(q.next.as_deref());
    if q.signed_out.is_some() {
        page.notice = "signed_out".into();
    }
    render_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    _: PortalOpen,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<SignInForm>,
) -> Response {
    let next = portal_next(form.next.as_deref());
    let mut page = SignInPage::new(&state).await;
    page.username = form.username.clone();
    page.next = next.clone();
    if let Some(ip) = ip
        && let Err(wait) = state.app().sign_in_limiter.check(ip)
    {
        page.error = Some("limited".into());
        page.retry_after = wait.as_secs().max(1);
        return render_status(StatusCode::TOO_MANY_REQUESTS, &page);
    }
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let result = portal_sessions::sign_in_portal(
        state.db(),
        &state.app().hasher,
        &state.app().portal_sessions,
        &form.username,
        &form.password,
        ip.map(|i| i.to_string()),
        ua,
    )
    .await;
    match result {
        Ok(signed) => {
            let cookie = crate::extract::session_cookie(&state, portal_cookie_name(&state), signed.token);
            // A password set at the desk is replaced before anything else opens (seed 002).
            let target = if signed.must_change_password { "/portal/choose-password".to_owned() } else { next };
            (jar.add(cookie), Redirect::to(&target)).into_response()
        }
        Err(PortalError::BadCredentials) => {
            page.error = Some("credentials".into());
            render_status(StatusCode::UNAUTHORIZED, &page)
        }
        Err(PortalError::Throttled { retry_after_secs }) => {
            page.error = Some("throttled".into());
            page.retry_after = retry_after_secs;
            render_status(StatusCode::TOO_MANY_REQUESTS, &page)
        }
        Err(e) => portal_problem(e),
    }
}

/// Signs out (a POST form, so that no link can sign anyone out). Without a session it only
/// clears the cookie.
async fn sign_out(State(state): State<AppState>, jar: CookieJar, s: PagePortalOpt) -> Response {
    if let PagePortalOpt(Some(s)) = s
        && let Err(e) = portal_sessions::sign_out_portal(state.db(), &s.session, s.ip.clone()).await
    {
        return portal_problem(e);
    }
    let removal = Cookie::build((portal_cookie_name(&state), "")).path("/").build();
    (jar.remove(removal), Redirect::to("/portal/sign-in?signed_out=1")).into_response()
}

/// The portal session if there is one (sign-out works with an expired session too).
struct PagePortalOpt(Option<SignedInPortal>);

impl FromRequestParts<AppState> for PagePortalOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(PagePortalOpt(PagePortal::from_request_parts(parts, state).await.ok().map(|p| p.0)))
    }
}

// ---------------------------------------------------------------------------------------------
// The switcher and a patient's home
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_switcher.html")]
struct SwitcherPage {
    chrome: PortalChrome,
    patients: Vec<SwitchItem>,
}

/// `/portal`: signed out, the sign-in page; a temporary password, the page to replace it; one
/// patient, straight to their home; several, the switcher.
async fn index(_: PortalOpen, State(state): State<AppState>, s: PagePortalOpt) -> Response {
    let Some(s) = s.0 else { return Redirect::to("/portal/sign-in").into_response() };
    if s.principal().must_change_password {
        return Redirect::to("/portal/choose-password").into_response();
    }
    let mut chrome = match PortalChrome::signed_in(&state, &s, None, "home").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let [only] = chrome.patients.as_slice() {
        return Redirect::to(&format!("/portal/patients/{}", only.id)).into_response();
    }
    let patients = chrome.patients.clone();
    chrome.home_href = "/portal".into();
    render_status(StatusCode::OK, &SwitcherPage { chrome, patients })
}

#[derive(Template)]
#[template(path = "portal_patient.html")]
struct PatientPage {
    chrome: PortalChrome,
    h: portal_auth::portal_home::PatientHome,
    relation: &'static str,
    scopes: Vec<&'static str>,
    ends_on: Option<String>,
    phone: Option<String>,
    /// The grant covers secure messages: the page links to them.
    messages: bool,
    /// The grant covers requests: the "Make a request" card.
    requests: bool,
}

async fn patient_home(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    patient_id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    // An id that cannot even be decoded names no patient.
    let Ok(axum::extract::Path(patient_id)) = patient_id else { return not_found(&state).await };
    if s.principal().must_change_password {
        return Redirect::to("/portal/choose-password").into_response();
    }
    let home = match portal_auth::portal_home::patient_home(state.db(), &s.session, &patient_id, s.ip.clone()).await {
        Ok(h) => h,
        Err(PortalError::Access(AccessError::NotFound)) => return not_found(&state).await,
        Err(e) => return portal_problem(e),
    };
    let mut chrome = match PortalChrome::signed_in(&state, &s, Some(&home.patient_id), "home").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    // A company that brands by location shows the patient's location here.
    chrome.brand_name = home.clinic.name.clone();
    chrome.logo_src = match &home.clinic.logo_location_id {
        Some(loc) => Some(format!("/branding/locations/{loc}/logo")),
        None => home.clinic.company_has_logo.then(|| "/branding/logo".to_owned()),
    };
    let page = PatientPage {
        relation: relation_label(home.relation),
        scopes: home.scopes.as_slice().iter().map(|s| s.label()).collect(),
        messages: home.scopes.covers(portal_core::portal_accounts::GrantScope::Messages),
        requests: home.scopes.covers(portal_core::portal_accounts::GrantScope::Requests),
        ends_on: home.ends_on.map(|d| d.to_string()),
        phone: home.clinic.location_phone.clone().or(home.clinic.phone.clone()),
        chrome,
        h: home,
    };
    render_status(StatusCode::OK, &page)
}
