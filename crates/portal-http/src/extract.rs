//! Extractors: who is asking (session -> `Actor`), from where (trusted proxies), and bodies or
//! queries parsed into types, with every rejection turned into a clear 4xx problem.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use portal_core::{Actor, Principal, StaffPrincipal};
use serde::de::DeserializeOwned;

use crate::error::Problem;
use crate::state::AppState;

/// The client's address: the TCP peer, or, when the peer is a configured proxy, the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy. Never taken from a header
/// an untrusted peer sent.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let trusted = &state.config().trusted_proxies;
        let Some(peer) = peer else { return Ok(ClientIp(None)) };
        if !trusted.iter().any(|n| n.contains(&peer)) {
            return Ok(ClientIp(Some(peer)));
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let client = forwarded.iter().rev().find(|ip| !trusted.iter().any(|n| n.contains(*ip))).copied();
        Ok(ClientIp(Some(client.unwrap_or(peer))))
    }
}

/// JSON body whose rejections are problems: 415 without a JSON content type, 400 for syntax
/// errors, 422 for a well-formed body of the wrong shape or with a NUL character in a text
/// (PostgreSQL cannot store one, and no field needs one), 413 when too large.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(e) => return Err(json_problem(e)),
        };
        let mut nul_fields = Vec::new();
        find_nul(&value, None, &mut nul_fields);
        if !nul_fields.is_empty() {
            let mut errors = portal_core::FieldErrors::new();
            for f in nul_fields {
                errors.push(&f, "must not contain a NUL character");
            }
            return Err(Problem::invalid(errors));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, format!("The JSON does not have the expected shape: {e}"))
        })
    }
}

/// Names (the top-level field, or `body`) of the texts in `v` that hold a NUL character.
fn find_nul(v: &serde_json::Value, field: Option<&str>, out: &mut Vec<String>) {
    use serde_json::Value;
    let note = |out: &mut Vec<String>| {
        let name = field.unwrap_or("body").to_owned();
        if !out.contains(&name) {
            out.push(name);
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => note(out),
        Value::Array(a) => a.iter().for_each(|v| find_nul(v, field, out)),
        Value::Object(o) => {
            for (k, v) in o {
                if k.contains('\0') {
                    note(out);
                }
                find_nul(v, Some(field.unwrap_or(k)), out);
            }
        }
        _ => {}
    }
}

/// True when a percent-encoded URL part decodes to a NUL character somewhere.
fn has_encoded_nul(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| w == b"%00")
}

fn json_problem(e: JsonRejection) -> Problem {
    match e {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            Problem::new(StatusCode::BAD_REQUEST, format!("The body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The JSON does not have the expected shape: {}", e.body_text()),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "The body is too large.")
        }
        other => Problem::new(StatusCode::BAD_REQUEST, other.body_text()),
    }
}

/// Path parameters whose rejections are problems. A parameter that cannot even be decoded
/// (invalid UTF-8 after percent-decoding), or that holds a NUL character, cannot name a
/// record: 404, like any unknown id.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(Problem::not_found());
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) if e.status().is_client_error() => Err(Problem::not_found()),
            Err(e) => Err(Problem::internal(&e.body_text())),
        }
    }
}

/// A raw body (uploads) whose rejections are problems: 413 when larger than the body limit.
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBytes(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "The body is too large."))
            }
            Err(e) => Err(Problem::new(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}

/// Query string parsed into `T`, or a 400 problem that says what is wrong.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(has_encoded_nul) {
            return Err(Problem::new(StatusCode::BAD_REQUEST, "The query string must not contain a NUL character."));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(Problem::new(StatusCode::BAD_REQUEST, e.body_text()))
            }
            Err(e) => Err(Problem::new(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}

/// The session cookie's name: with `__Host-` (which browsers only accept with `Secure`, path
/// `/` and no domain) when Portal is served over HTTPS.
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.config().https() { "__Host-portal_session" } else { "portal_session" }
}

fn bearer(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// A raw session token from the `Authorization: Bearer` header or the session cookie.
fn session_token(parts: &Parts, state: &AppState) -> Option<String> {
    bearer(parts).or_else(|| {
        let jar = CookieJar::from_headers(&parts.headers);
        jar.get(session_cookie_name(state)).map(|c| c.value().to_owned())
    })
}

/// A signed-in staff user, resolved from the session at the start of the request.
#[derive(Debug, Clone)]
pub struct SignedInStaff {
    pub actor: Actor,
    pub staff: StaffPrincipal,
    pub token_hash: String,
}

async fn resolve_staff(parts: &mut Parts, state: &AppState) -> Result<Option<SignedInStaff>, Problem> {
    let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp(None));
    if let Some(s) = parts.extensions.get::<SignedInStaff>() {
        return Ok(Some(s.clone()));
    }
    let Some(token) = session_token(parts, state) else { return Ok(None) };
    let session = portal_auth::sessions::authenticate(state.db(), &state.app().sessions, &token).await?;
    let resolved = session.map(|s| SignedInStaff {
        actor: Actor::new(Principal::Staff(s.staff.clone()), ip.map(|i| i.to_string())),
        staff: s.staff,
        token_hash: s.token_hash,
    });
    if let Some(r) = &resolved {
        parts.extensions.insert(r.clone());
    }
    Ok(resolved)
}

/// API routes: a staff session is required; its absence is a 401 problem.
pub struct ApiStaff(pub SignedInStaff);

impl FromRequestParts<AppState> for ApiStaff {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve_staff(parts, state).await?.map(ApiStaff).ok_or_else(Problem::unauthenticated)
    }
}

/// Page routes: a staff session is required; without one the browser goes to the sign-in page
/// and comes back afterwards.
pub struct PageStaff(pub SignedInStaff);

impl FromRequestParts<AppState> for PageStaff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve_staff(parts, state).await {
            Ok(Some(s)) => Ok(PageStaff(s)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let target =
                    if parts.method == axum::http::Method::GET && next.starts_with('/') && !next.starts_with("//") {
                        format!("/staff/sign-in?next={}", urlencode(next))
                    } else {
                        "/staff/sign-in".to_owned()
                    };
                Err(Redirect::to(&target).into_response())
            }
            Err(p) => Err(crate::pages::error_page(p.status_code(), &p.detail)),
        }
    }
}

/// A session cookie (staff or portal, by `name`): `HttpOnly`, `SameSite=Lax`, path `/`, and
/// `Secure` over HTTPS (SECURITY.md).
pub fn session_cookie(
    state: &AppState,
    name: &'static str,
    token: String,
) -> axum_extra::extract::cookie::Cookie<'static> {
    axum_extra::extract::cookie::Cookie::build((name, token))
        .path("/")
        .http_only(true)
        .secure(state.config().https())
        .same_site(axum_extra::extract::cookie::SameSite::Lax)
        .build()
}

/// The portal user's session cookie: its own name, so that a staff member can try the portal
/// in the browser they work in without either session replacing the other.
pub fn portal_cookie_name(state: &AppState) -> &'static str {
    if state.config().https() { "__Host-portal_user_session" } else { "portal_user_session" }
}

/// A raw portal session token from the `Authorization: Bearer` header or the portal cookie.
fn portal_token(parts: &Parts, state: &AppState) -> Option<String> {
    bearer(parts).or_else(|| {
        let jar = CookieJar::from_headers(&parts.headers);
        jar.get(portal_cookie_name(state)).map(|c| c.value().to_owned())
    })
}

/// A signed-in portal user (patient, contact or designated user), resolved with the grants in
/// force at the start of this request: a grant revoked a moment ago no longer opens anything.
#[derive(Debug, Clone)]
pub struct SignedInPortal {
    pub session: portal_auth::PortalSession,
    pub ip: Option<String>,
}

impl SignedInPortal {
    pub fn principal(&self) -> &portal_core::portal_accounts::PortalPrincipal {
        &self.session.principal
    }
}

async fn resolve_portal(parts: &mut Parts, state: &AppState) -> Result<Option<SignedInPortal>, Problem> {
    if let Some(s) = parts.extensions.get::<SignedInPortal>() {
        return Ok(Some(s.clone()));
    }
    let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await.unwrap_or(ClientIp(None));
    let Some(token) = portal_token(parts, state) else { return Ok(None) };
    let session =
        portal_auth::portal_sessions::authenticate_portal(state.db(), &state.app().portal_sessions, &token).await?;
    let resolved = session.map(|session| SignedInPortal { session, ip: ip.map(|i| i.to_string()) });
    if let Some(r) = &resolved {
        parts.extensions.insert(r.clone());
    }
    Ok(resolved)
}

/// Portal API routes: a portal session is required; its absence is a 401 problem. A staff
/// token is not a portal session.
pub struct ApiPortal(pub SignedInPortal);

impl FromRequestParts<AppState> for ApiPortal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve_portal(parts, state).await?.map(ApiPortal).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "Sign in to the portal first: send a portal session token as `Authorization: Bearer TOKEN`.",
            )
        })
    }
}

/// Portal pages: a portal session is required; without one the browser goes to the portal's
/// sign-in page and comes back afterwards.
pub struct PagePortal(pub SignedInPortal);

impl FromRequestParts<AppState> for PagePortal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve_portal(parts, state).await {
            Ok(Some(s)) => Ok(PagePortal(s)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/portal");
                let target =
                    if parts.method == axum::http::Method::GET && next.starts_with('/') && !next.starts_with("//") {
                        format!("/portal/sign-in?next={}", urlencode(next))
                    } else {
                        "/portal/sign-in".to_owned()
                    };
                Err(Redirect::to(&target).into_response())
            }
            Err(p) => Err(crate::pages::error_page(p.status_code(), &p.detail)),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only same-site relative paths are followed after sign-in (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.contains(['\r', '\n']) => {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_never_an_open_redirect() {
        assert_eq!(safe_next(Some("/patients?q=a")), "/patients?q=a");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
