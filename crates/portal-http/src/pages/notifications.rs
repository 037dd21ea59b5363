//! A staff member's own notifications (seed 000): the list page with its read marks, and the
//! toast stream the pages' `static/toasts.js` listens to.
//!
//! The stream (`GET /notifications/stream`, server-sent events) sends the person's pending
//! toasts when it opens, then each toast the hub signals for them. Before sending one it marks it
//! toasted, and sends it only when its own call marked it: a person with several tabs (on
//! several replicas) gets one toast. It also looks for pending toasts every half minute (a
//! signal missed while a LISTEN connection was re-established), sends keep-alive comments,
//! and ends when the server begins to shut down. Nothing of a notification is logged.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderName;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use portal_core::notifications::Severity;
use portal_core::time_util::now_utc;
use portal_notify::ToastSignal;
use portal_notify::rules::{self, RulesError};
use portal_store::Db;
use portal_store::notifications::{self as store, NotificationRow};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::{Chrome, PageQuery, problem_page, render};
use crate::error::Problem;
use crate::extract::{ApiStaff, PageStaff};
use crate::state::AppState;

/// The most notifications the page shows at once.
const PAGE: i64 = 50;
/// How often a stream looks for toasts it was not signalled.
const SWEEP: Duration = Duration::from_secs(30);
/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list_page))
        .route("/notifications/stream", get(stream))
        .route("/notifications/read-all", post(read_all))
        .route("/notifications/{id}/read", post(read_one))
}

/// A rules error as the API answers it (the pages show the same as a page).
pub fn problem(e: RulesError) -> Problem {
    match e {
        RulesError::Access(a) => a.into(),
        RulesError::Invalid(f) => f.into(),
        RulesError::Store(s) => s.into(),
    }
}

/// A notification's severity for the pages: its colour (red, yellow, blue) and its word.
pub fn severity_of(row: &NotificationRow) -> Severity {
    Severity::parse(&row.severity).unwrap_or(Severity::Information)
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

struct Line {
    id: String,
    title: String,
    body: String,
    link: Option<String>,
    colour: &'static str,
    severity: &'static str,
    created_at: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct ListPage {
    chrome: Chrome,
    lines: Vec<Line>,
    unread: usize,
    older: Option<String>,
    marked: bool,
}

#[derive(Deserialize)]
struct ListQuery {
    before: Option<String>,
    marked: Option<String>,
}

/// A `before` of the page or the API: an RFC 3339 time the list gave out.
pub fn parse_before(raw: Option<&str>) -> Result<Option<time::PrimitiveDateTime>, Problem> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let t = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).map_err(|_| {
        let mut e = portal_core::FieldErrors::default();
        e.push("before", "is not a time such as 2026-01-31T09:00:00Z (pass `next_before` as given)");
        Problem::invalid(e)
    })?;
    let utc = t.to_offset(time::UtcOffset::UTC);
    Ok(Some(time::PrimitiveDateTime::new(utc.date(), utc.time())))
}

async fn list_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let before = match parse_before(q.before.as_deref()) {
        Ok(b) => b,
        Err(p) => return problem_page(p),
    };
    let rows = match rules::mine(state.db(), &s.actor, before, PAGE).await {
        Ok(r) => r,
        Err(e) => return problem_page(problem(e)),
    };
    let older = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| portal_core::time_util::rfc3339(r.created_at)))
        .flatten();
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|r| {
            let sev = severity_of(&r);
            Line {
                colour: sev.colour(),
                severity: sev.label(),
                created_at: r
                    .created_at
                    .format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
                    .unwrap_or_default(),
                unread: r.read_at.is_none(),
                link: r.link.filter(|l| l.starts_with('/') && !l.starts_with("//")),
                id: r.id,
                title: r.title,
                body: r.body,
            }
        })
        .collect();
    let unread = lines.iter().filter(|l| l.unread).count();
    render(&ListPage {
        chrome: Chrome::for_staff(&state, &s, "/notifications").await,
        lines,
        unread,
        older,
        marked: q.marked.is_some(),
    })
}

async fn read_one(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    match rules::mark_read(state.db(), &s.actor, Some(&id)).await {
        Ok(_) => Redirect::to(&format!("/notifications?marked=1#notification-{}", crate::extract::urlencode(&id)))
            .into_response(),
        Err(e) => problem_page(problem(e)),
    }
}

async fn read_all(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    match rules::mark_read(state.db(), &s.actor, None).await {
        Ok(_) => Redirect::to("/notifications?marked=1").into_response(),
        Err(e) => problem_page(problem(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// The toast stream
// ---------------------------------------------------------------------------------------------

/// A toast as the stream sends it (event `toast`).
#[derive(Debug, Serialize)]
pub struct ToastEvent {
    pub id: String,
    pub title: String,
    pub body: String,
    pub severity: &'static str,
    pub colour: &'static str,
    pub link: Option<String>,
}

impl From<&NotificationRow> for ToastEvent {
    fn from(r: &NotificationRow) -> Self {
        let sev = severity_of(r);
        ToastEvent {
            id: r.id.clone(),
            title: r.title.clone(),
            body: r.body.clone(),
            severity: sev.as_str(),
            colour: sev.colour(),
            link: r.link.clone(),
        }
    }
}

async fn stream(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ([(HeaderName, &'static str); 1], Sse<impl Stream<Item = Result<Event, Infallible>>>) {
    // Subscribed before the pending toasts are read, so that nothing falls between the two.
    let signals = state.hub().subscribe();
    let (out, rx) = mpsc::channel::<Event>(16);
    tokio::spawn(feed(state.db().clone(), s.staff.id.as_str().to_owned(), signals, out, state.app().shutdown.clone()));
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    // Reverse proxies (nginx) would otherwise hold the events back in their buffers.
    (
        [(HeaderName::from_static("x-accel-buffering"), "no")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    )
}

/// Feeds one stream until its client goes away or the server shuts down.
async fn feed(
    db: Db,
    staff_id: String,
    mut signals: broadcast::Receiver<ToastSignal>,
    out: mpsc::Sender<Event>,
    shutdown: portal_notify::CancellationToken,
) {
    let mut sweep = tokio::time::interval(SWEEP);
    // The first tick is at once: the toasts pending when the stream opens.
    loop {
        let ids = tokio::select! {
            () = shutdown.cancelled() => break,
            () = out.closed() => break,
            _ = sweep.tick() => pending(&db, &staff_id).await,
            signal = signals.recv() => match signal {
                Ok(s) if s.staff_id == staff_id => vec![s.notification_id],
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => pending(&db, &staff_id).await,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        for id in ids {
            let Some(row) = claim(&db, &staff_id, &id).await else { continue };
            let Ok(event) = Event::default().event("toast").id(row.id.clone()).json_data(ToastEvent::from(&row)) else {
                continue;
            };
            if out.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// The ids of the person's toasts not shown yet (none when the database cannot be read now).
async fn pending(db: &Db, staff_id: &str) -> Vec<String> {
    let rows = async {
        let mut conn = db.read().await?;
        store::pending_toasts(&mut conn, staff_id).await
    }
    .await;
    match rows {
        Ok(rows) => rows.into_iter().map(|r| r.id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "toasts: reading pending toasts failed");
            vec![]
        }
    }
}

/// The notification `id` if it is this person's toast and this call marked it toasted.
async fn claim(db: &Db, staff_id: &str, id: &str) -> Option<NotificationRow> {
    let row = async {
        let mut conn = db.read().await?;
        store::find(&mut conn, id).await
    }
    .await
    .ok()
    .flatten()?;
    if row.staff_id != staff_id || !row.toast || row.toasted_at.is_some() {
        return None;
    }
    let ids = vec![row.id.clone()];
    let marked = db.write(move |tx| Box::pin(async move { store::mark_toasted(tx, &ids, now_utc()).await })).await;
    match marked {
        Ok(1) => Some(row),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "toasts: marking a toast shown failed");
            None
        }
    }
}
