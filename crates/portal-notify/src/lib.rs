//! portal-notify: the side effects of domain events. For now, e-mail.
//!
//! ```text
//! use case ──(same transaction)──> outbox_events ──claim (lease)──> Worker ──lettre──> SMTP / .eml
//!                                        ^                           │
//!                                        └── delivered + redacted, ──┘
//!                                            or retry at (backoff), or dead letter
//! ```
//!
//! - [`Mailer`]: the transport named by `PORTAL_MAIL_URL` (`file://`, `smtp://`, `smtps://`).
//! - [`compose`]: an event's e-mail from the templates in `templates/`: clinic branding, the link,
//!   never health information.
//! - [`Worker`] / [`spawn`]: claims, delivers, retries with exponential backoff and full jitter,
//!   gives up after `max_attempts` (a dead letter), replaces a delivered event's payload with its
//!   redacted form so that no raw token outlives its e-mail.
//!
//! Depends on portal-core and portal-store only; the domain crates record events and never call
//! this crate.

pub mod alerts;
pub mod compose;
pub mod hub;
pub mod mailer;
pub mod rules;
pub mod worker;

pub use hub::{Hub, ToastSignal};
pub use mailer::{MailUrl, MailUrlError, Mailer, SendError, SmtpTls};
/// The shutdown signal [`spawn`] takes, re-exported so callers need no tokio-util of their own.
pub use tokio_util::sync::CancellationToken;
pub use worker::{BatchReport, RetryPolicy, Settings, SettingsError, Worker, parse_from, spawn};
