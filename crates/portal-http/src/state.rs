//! The application state: built once in `main` (or by a test), shared by every handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use portal_auth::throttle::IpLimiter;
use portal_auth::{PasswordHasher, PortalSessionPolicy, SessionPolicy};
use portal_store::Db;

use crate::config::Config;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState(Arc<App>);

pub struct App {
    pub db: Db,
    pub config: Config,
    pub hasher: PasswordHasher,
    pub sessions: SessionPolicy,
    pub sign_in_limiter: IpLimiter,
    pub portal_sessions: PortalSessionPolicy,
    /// Per-address limit on the portal's public forms that send e-mail or test a link
    /// (registration, forgot password, link pages): 10 a minute, like sign-in.
    pub portal_forms_limiter: IpLimiter,
    pub metrics: Metrics,
    /// The request queue's helper actions: the built-in tasks, or an EMR integration's.
    pub request_helpers: Arc<dyn portal_queue::RequestHelpers>,
    /// The toast fan-out of this process: the worker signals through it, the notification
    /// streams listen to it (on PostgreSQL it LISTENs, so toasts of other replicas arrive too).
    pub hub: portal_notify::Hub,
    /// Cancelled when the server begins to shut down: long-lived responses (the notification
    /// streams) end then, so that draining does not wait for them.
    pub shutdown: portal_notify::CancellationToken,
    shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let hub = portal_notify::Hub::new();
        let shutdown = portal_notify::CancellationToken::new();
        // Needs the runtime, like the pools the `db` was opened with.
        hub.listen(&db, &config.database_url, shutdown.clone());
        Self(Arc::new(App {
            db,
            config,
            hasher: PasswordHasher::new(cores),
            sessions: SessionPolicy::default(),
            sign_in_limiter: IpLimiter::sign_in_default(),
            portal_sessions: PortalSessionPolicy::default(),
            portal_forms_limiter: IpLimiter::sign_in_default(),
            metrics: Metrics::new(),
            request_helpers: Arc::new(portal_queue::BuiltInHelpers),
            hub,
            shutdown,
            shutting_down: AtomicBool::new(false),
        }))
    }

    fn into_app(self) -> App {
        Arc::try_unwrap(self.0).unwrap_or_else(|arc| App {
            db: arc.db.clone(),
            config: arc.config.clone(),
            hasher: arc.hasher.clone(),
            sessions: arc.sessions,
            sign_in_limiter: IpLimiter::sign_in_default(),
            portal_sessions: arc.portal_sessions,
            portal_forms_limiter: IpLimiter::sign_in_default(),
            metrics: Metrics::new(),
            request_helpers: arc.request_helpers.clone(),
            hub: arc.hub.clone(),
            shutdown: arc.shutdown.clone(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// The same state with other helper actions for the request queue (an EMR integration's).
    pub fn with_request_helpers(self, helpers: Arc<dyn portal_queue::RequestHelpers>) -> Self {
        Self(Arc::new(App { request_helpers: helpers, ..self.into_app() }))
    }

    /// The same state with another sign-in limiter (tests of throttling use a small one; the
    /// browser tests a generous one).
    pub fn with_sign_in_limiter(self, limiter: IpLimiter) -> Self {
        Self(Arc::new(App { sign_in_limiter: limiter, ..self.into_app() }))
    }

    /// The same state with another limiter on the portal's public forms.
    pub fn with_portal_forms_limiter(self, limiter: IpLimiter) -> Self {
        Self(Arc::new(App { portal_forms_limiter: limiter, ..self.into_app() }))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn app(&self) -> &App {
        &self.0
    }

    /// The request queue's helper actions (the built-in tasks, or an EMR integration's).
    pub fn request_helpers(&self) -> &dyn portal_queue::RequestHelpers {
        self.0.request_helpers.as_ref()
    }

    /// The toast fan-out of this process.
    pub fn hub(&self) -> &portal_notify::Hub {
        &self.0.hub
    }

    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::SeqCst);
        self.0.shutdown.cancel();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }
}
