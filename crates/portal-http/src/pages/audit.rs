//! The audit log (View Audit Log: Super Admin): filters, the newest rows first, and "Older"
//! pages that keep the filters. Reading the log is itself audited by the use case.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use portal_core::audit::AuditAction;
use portal_practice::PracticeError;
use portal_practice::audit_log::{self, AuditQuery};
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, opt, query, when, when_iso};
use super::{Chrome, PageQuery, problem_page, render_status};
use crate::extract::PageStaff;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    actor_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

struct Row {
    when: String,
    when_iso: String,
    actor_name: String,
    actor_id: String,
    actor_kind: String,
    action: String,
    patient_id: String,
    target_kind: String,
    target_id: String,
    ip: String,
    detail: String,
}

/// The first block of a UUID: enough to tell rows apart on screen.
fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    filters: Filters,
    staff: Vec<SelectOption>,
    actions: Vec<SelectOption>,
    rows: Vec<Row>,
    errors: FormErrors,
    older_href: String,
    newest_href: String,
    filtered: bool,
}

impl AuditPage {
    fn short(&self, id: &str) -> String {
        short(id)
    }
}

async fn audit_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(f): PageQuery<Filters>,
) -> Response {
    let before = f.before.trim().parse::<i64>().ok();
    let q = AuditQuery {
        patient_id: opt(&f.patient_id),
        actor_id: opt(&f.actor_id),
        action: opt(&f.action),
        from: opt(&f.from),
        to: opt(&f.to),
        before,
        limit: Some(PAGE_SIZE),
    };
    let (rows, errors) = match audit_log::list(state.db(), &s.actor, &q).await {
        Ok(r) => (r, FormErrors::none()),
        Err(PracticeError::Invalid(e)) => (vec![], FormErrors::from_fields(e)),
        Err(e) => return problem_page(e.into()),
    };
    // Super Admins hold Manage Users; anyone else filters by typing a staff id.
    let staff = portal_auth::staff::list(state.db(), &s.actor)
        .await
        .map(|list| list.into_iter().map(|v| SelectOption::new(v.row.id, v.row.name, f.actor_id.trim())).collect())
        .unwrap_or_default();
    let actions = AuditAction::ALL.iter().map(|a| SelectOption::new(a.as_str(), a.as_str(), f.action.trim())).collect();
    let filter_pairs = |before: &str| {
        query(&[
            ("patient_id", f.patient_id.as_str()),
            ("actor_id", f.actor_id.as_str()),
            ("action", f.action.as_str()),
            ("from", f.from.as_str()),
            ("to", f.to.as_str()),
            ("before", before),
        ])
    };
    let older_href = match rows.last() {
        Some(last) if rows.len() as i64 == PAGE_SIZE => format!("/audit{}", filter_pairs(&last.seq.to_string())),
        _ => String::new(),
    };
    let newest_href = if before.is_some() { format!("/audit{}", filter_pairs("")) } else { String::new() };
    let rows = rows
        .into_iter()
        .map(|r| Row {
            when: when(r.at),
            when_iso: when_iso(r.at),
            actor_name: r.actor_name,
            actor_id: r.actor_id.unwrap_or_default(),
            actor_kind: r.actor_kind,
            action: r.action,
            patient_id: r.patient_id.unwrap_or_default(),
            target_kind: r.target_kind.unwrap_or_default(),
            target_id: r.target_id.unwrap_or_default(),
            ip: r.ip.unwrap_or_default(),
            detail: if r.detail == "{}" || r.detail == "null" { String::new() } else { r.detail },
        })
        .collect();
    let filtered = [&f.patient_id, &f.actor_id, &f.action, &f.from, &f.to].iter().any(|v| !v.trim().is_empty());
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_status(
        status,
        &AuditPage {
            chrome: Chrome::for_staff(&state, &s, "/audit").await,
            filters: f,
            staff,
            actions,
            rows,
            errors,
            older_href,
            newest_href,
            filtered,
        },
    )
}
