//! Prometheus metrics: requests by route and status, latency, pool usage.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/v1/patients/{id}`), never the concrete path, which could hold ids.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool_connections: Gauge,
    pool_idle: Gauge,
    outbox_pending: Gauge,
    outbox_dead: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portal");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let pool_connections = Gauge::default();
        let pool_idle = Gauge::default();
        let outbox_pending = Gauge::default();
        let outbox_dead = Gauge::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("db_pool_connections", "Open database connections (read pool)", pool_connections.clone());
        registry.register("db_pool_idle_connections", "Idle database connections (read pool)", pool_idle.clone());
        registry.register("outbox_pending", "Domain events recorded but not yet delivered", outbox_pending.clone());
        registry.register(
            "outbox_dead",
            "Domain events given up after their last attempt (dead letters)",
            outbox_dead.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            pool_connections,
            pool_idle,
            outbox_pending,
            outbox_dead,
        }
    }

    /// The metrics as OpenMetrics text; gauges are read now.
    pub async fn render(&self, state: &AppState) -> String {
        if let Ok(mut conn) = state.db().read().await {
            if let Ok(n) = portal_store::outbox::pending_count(&mut conn).await {
                self.outbox_pending.set(n);
            }
            if let Ok(n) = portal_store::outbox::dead_count(&mut conn).await {
                self.outbox_dead.set(n);
            }
        }
        let stats = state.db().pool_stats();
        self.pool_connections.set(i64::from(stats.connections));
        self.pool_idle.set(i64::from(stats.idle));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Middleware that counts every request and times it.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    let m = &state.app().metrics;
    m.requests.get_or_create(&RequestLabels { method, route: route.clone(), status: res.status().as_u16() }).inc();
    m.latency.get_or_create(&RouteLabels { route }).observe(start.elapsed().as_secs_f64());
    res
}
