//! Builds the whole HTTP application: API, pages, probes, static files and the layers every
//! response passes through.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;

use crate::error::Problem;
use crate::state::AppState;

/// Bodies larger than this are refused with 413 before a handler runs. Logos (512 KiB) are the
/// largest legitimate bodies.
pub const BODY_LIMIT: usize = 1024 * 1024;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router and the OpenAPI document it was built with.
pub fn build(state: AppState) -> Router {
    let (api, openapi) = crate::api::router().split_for_parts();
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    let https = state.config().https();

    Router::new()
        .merge(api)
        .merge(crate::pages::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(move || async move { Json(openapi_json.clone()) }))
        .route("/static/{*file}", get(crate::assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CsrfLayer::new().with_rejection_response(|_e| {
            Problem::new(StatusCode::FORBIDDEN, "Cross-site request refused: send state-changing requests from Portal's own pages or without a browser's cross-site headers.")
                .into_response()
        }))
        .layer(middleware::from_fn(move |req, next| security_headers(https, req, next)))
        .layer(CatchPanicLayer::custom(|_| Problem::internal(&"a handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                // The path is logged without its query string, which could hold a searched name,
                // and without the tokens of e-mailed links (SECURITY.md: tokens never in logs).
                let path = loggable_path(req.uri().path());
                tracing::info_span!("request", id = %id, method = %req.method(), path = %path)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// The path with every segment that could be a token (long hexadecimal) replaced by `{token}`.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.len() >= 32 && seg.bytes().all(|b| b.is_ascii_hexdigit()) { "{token}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The OpenAPI document of every API route (also served at `/api/v1/openapi.json`).
pub fn openapi() -> OpenApi {
    crate::api::router().split_for_parts().1
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if state.db().ping().await {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.app().metrics.render(&state).await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        Problem::new(StatusCode::NOT_FOUND, "No such API route.").into_response()
    } else {
        crate::pages::error_page(StatusCode::NOT_FOUND, "This page does not exist.")
    }
}

async fn method_not_allowed(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "This route does not accept this method.").into_response()
    } else {
        crate::pages::error_page(StatusCode::METHOD_NOT_ALLOWED, "This page does not accept this kind of request.")
    }
}

/// Headers on every response (SECURITY.md): a strict CSP without inline script, no sniffing,
/// no referrer, no caching of anything that may hold PHI, HSTS over HTTPS.
async fn security_headers(https: bool, req: Request<Body>, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// Serves until `shutdown` resolves, then drains open requests (bounded by `drain`).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = build(state.clone());
    let st = state.clone();
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            st.begin_shutdown();
            tracing::info!("shutting down: draining open requests");
        })
        .await
}

/// Background upkeep: removes expired sessions every minute until shutdown.
pub fn spawn_upkeep(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        while !state.is_shutting_down() {
            tick.tick().await;
            if let Err(e) = portal_auth::sessions::purge_expired(state.db(), &state.app().sessions).await {
                tracing::warn!(error = %e, "purging expired staff sessions failed");
            }
            let portal = &state.app().portal_sessions;
            if let Err(e) = portal_auth::portal_sessions::purge_expired_portal_sessions(state.db(), portal).await {
                tracing::warn!(error = %e, "purging expired portal sessions failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_paths_are_not_logged() {
        let token = "ab".repeat(32);
        assert_eq!(super::loggable_path(&format!("/portal/set-password/{token}")), "/portal/set-password/{token}");
        assert_eq!(super::loggable_path("/api/v1/patients/3f2a"), "/api/v1/patients/3f2a");
    }
}
