//! The one error envelope of the API: RFC 9457 `application/problem+json`.
//!
//! Domain errors map to a status here and only here. A 5xx answer never carries its cause: the
//! cause is logged (without PHI) with the request id, and the client gets a generic sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_auth::{AuthError, PortalError};
use portal_core::messaging::MessagingRefused;
use portal_core::{AccessError, FieldError, FieldErrors};
use portal_messaging::MessagingError;
use portal_notify::rules::RulesError;
use portal_practice::PracticeError;
use portal_queue::QueueError;
use portal_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem document (RFC 9457). `errors` lists field-level problems of a 422.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<FieldErrorDoc>)]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One field's problem, as listed in a 422 problem's `errors`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorDoc {
    /// The input's name, as the JSON body spells it.
    pub field: String,
    /// A sentence a person can act on.
    pub detail: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let slug = title.to_lowercase().replace(' ', "-");
        Self {
            type_: format!("/docs/api.md#{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: vec![],
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "No such record, or you may not see it.")
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Sign in first: send a session token as `Authorization: Bearer TOKEN`.")
    }

    pub fn invalid(errors: FieldErrors) -> Self {
        let n = errors.0.len();
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            if n == 1 {
                format!("{} {}", errors.0[0].field, errors.0[0].detail)
            } else {
                format!("{n} fields are invalid; see `errors`.")
            },
        );
        p.errors = errors.0;
        p
    }

    /// A server fault: logs the cause, answers with a generic sentence.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; it has been logged. Please try again.",
        )
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry = self.retry_after;
        let mut res = (status, Json(self)).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = retry
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated => Problem::unauthenticated(),
            AccessError::NotFound => Problem::not_found(),
            other => Problem::new(StatusCode::FORBIDDEN, capitalise(&other.to_string())),
        }
    }
}

impl From<FieldErrors> for Problem {
    fn from(e: FieldErrors) -> Self {
        Problem::invalid(e)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Problem::not_found(),
            StoreError::Conflict { what } => {
                Problem::new(StatusCode::CONFLICT, format!("{} already exists.", capitalise(&what)))
            }
            StoreError::PoolTimeout => {
                let mut p =
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "The server is busy; please try again in a moment.");
                p.retry_after = Some(1);
                p
            }
            other => Problem::internal(&other),
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "The e-mail address or password is incorrect.")
            }
            AuthError::Throttled { retry_after_secs } => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many sign-in attempts. Try again in {retry_after_secs} seconds."),
                );
                p.retry_after = Some(retry_after_secs);
                p
            }
            AuthError::Access(a) => a.into(),
            AuthError::Invalid(f) => f.into(),
            AuthError::Conflict(c) => Problem::new(StatusCode::CONFLICT, capitalise(&c)),
            AuthError::Store(s) => s.into(),
        }
    }
}

impl From<PracticeError> for Problem {
    fn from(e: PracticeError) -> Self {
        match e {
            PracticeError::Access(a) => a.into(),
            PracticeError::Invalid(f) => f.into(),
            PracticeError::Refused(r) => Problem::new(StatusCode::CONFLICT, capitalise(&r)),
            PracticeError::Conflict(c) => Problem::new(StatusCode::CONFLICT, capitalise(&c)),
            PracticeError::Store(s) => s.into(),
        }
    }
}

impl From<PortalError> for Problem {
    fn from(e: PortalError) -> Self {
        match e {
            PortalError::BadCredentials => {
                Problem::new(StatusCode::UNAUTHORIZED, "The username or password is incorrect.")
            }
            PortalError::Throttled { retry_after_secs } => {
                let mut p = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many attempts. Try again in {retry_after_secs} seconds."),
                );
                p.retry_after = Some(retry_after_secs);
                p
            }
            // A setting of the clinic, not a fault: the same answer until staff turn it on.
            PortalError::PortalUnavailable => {
                Problem::new(StatusCode::FORBIDDEN, "The patient portal is not available. Please contact the clinic.")
            }
            // One answer for unknown, expired, used and outdated links (the reason is logged).
            e @ PortalError::LinkNotUsable { .. } => Problem::new(StatusCode::GONE, capitalise(&e.to_string()) + "."),
            PortalError::Invite(r) => Problem::new(StatusCode::CONFLICT, capitalise(&r.to_string()) + "."),
            PortalError::Enable(r) => Problem::new(StatusCode::CONFLICT, capitalise(&r.to_string()) + "."),
            PortalError::Access(a) => a.into(),
            PortalError::Invalid(f) => f.into(),
            PortalError::Conflict(c) => Problem::new(StatusCode::CONFLICT, capitalise(&c) + "."),
            PortalError::Store(s) => s.into(),
        }
    }
}

impl From<MessagingError> for Problem {
    fn from(e: MessagingError) -> Self {
        match e {
            MessagingError::Access(a) => a.into(),
            MessagingError::Invalid(f) => f.into(),
            // The key names the request, not the message: reusing it for other content is the
            // client's mistake about what it already sent.
            MessagingError::Refused(r @ MessagingRefused::IdempotencyKeyReused) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, capitalise(&r.to_string()) + ".")
            }
            // A rule about who may write to whom (or reply now): the words say why.
            MessagingError::Refused(r) => Problem::new(StatusCode::CONFLICT, capitalise(&r.to_string()) + "."),
            MessagingError::Store(s) => s.into(),
        }
    }
}

impl From<QueueError> for Problem {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Access(a) => a.into(),
            QueueError::Invalid(f) => f.into(),
            QueueError::KeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, capitalise(&e.to_string()) + "."),
            // The request's state refuses the change (already dismissed, still open, portal off).
            QueueError::Refused(r) => Problem::new(StatusCode::CONFLICT, capitalise(&r.to_string()) + "."),
            QueueError::Store(s) => s.into(),
        }
    }
}

impl From<RulesError> for Problem {
    fn from(e: RulesError) -> Self {
        match e {
            RulesError::Access(a) => a.into(),
            RulesError::Invalid(f) => f.into(),
            RulesError::Store(s) => s.into(),
        }
    }
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub type ApiResult<T> = Result<T, Problem>;

impl From<crate::queue_reply::QueueReplyError> for Problem {
    fn from(e: crate::queue_reply::QueueReplyError) -> Self {
        use crate::queue_reply::QueueReplyError as E;
        match e {
            E::Queue(q) => q.into(),
            E::Messaging(m) => m.into(),
            // The message is out; the request changed meanwhile (for instance dismissed by
            // someone else): a conflict whose words say both.
            e @ E::NotRecorded { .. } => Problem::new(StatusCode::CONFLICT, capitalise(&e.to_string()) + "."),
        }
    }
}
