//! The Onboarding Tool (seeds 002, 004): every patient's portal status, enabling and inviting one
//! by one or in bulk with progress.
//!
//! A bulk run is started by the POST (which fixes the list of patients and records the job),
//! runs in a task of its own so that no request waits for it, and is followed on its own page,
//! which polls a small JSON route of the page side when JavaScript is on and offers a "Refresh"
//! link when it is not. Only the job's creator sees it (`onboarding::bulk_job`).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use portal_auth::PortalError;
use portal_auth::invitations::{self, InviteInput, InviteTo};
use portal_auth::onboarding::{self, BulkInput, BulkProgress, BulkStatus, OnboardingInput, OnboardingPage};
use portal_core::events::LinkPurpose;
use portal_core::portal_access::{BulkSkip, PortalAccessLevel, PortalAccessStatus};
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::portal_access;
use serde::{Deserialize, Serialize};

use super::forms::{FormErrors, RawForm, SelectOption, opt, query, when};
use super::patients::my_locations;
use super::portal_staff::PortalBadge;
use super::{Chrome, PageForm, PageQuery, problem_page, render_status};
use crate::error::Problem;
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/onboarding", get(tool_page))
        .route("/onboarding/patients/{id}/enable", post(enable_one))
        .route("/onboarding/patients/{id}/invite", post(invite_one))
        .route("/onboarding/bulk", post(start_bulk))
        .route("/onboarding/jobs/{id}", get(job_page))
        .route("/onboarding/jobs/{id}/progress", get(job_progress))
}

/// Rows per page of the tool.
const PER_PAGE: i64 = 50;

/// The tool's filters as typed; every form of the page carries them, so that the list comes
/// back as it was after an action.
#[derive(Debug, Clone, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    page: String,
    /// What was just done: `enabled`, `invitation`, `reset`.
    #[serde(default)]
    done: String,
}

impl Filters {
    fn from_raw(raw: &RawForm) -> Self {
        Self {
            q: raw.text("q"),
            status: raw.text("status"),
            location_id: raw.text("location_id"),
            page: raw.text("page"),
            done: String::new(),
        }
    }

    fn page_no(&self) -> i64 {
        self.page.trim().parse::<i64>().unwrap_or(1)
    }

    fn input(&self, page: Option<i64>) -> OnboardingInput {
        OnboardingInput {
            q: opt(&self.q),
            status: opt(&self.status),
            location_id: opt(&self.location_id),
            page,
            per_page: Some(PER_PAGE),
        }
    }

    /// The tool's address with these filters (and `page`, `done` when given).
    fn href(&self, page: Option<i64>, done: &str) -> String {
        let page = page.map(|p| p.to_string()).unwrap_or_default();
        let q = query(&[
            ("q", &self.q),
            ("status", &self.status),
            ("location_id", &self.location_id),
            ("page", &page),
            ("done", done),
        ]);
        format!("/onboarding{q}")
    }

    fn with_status(&self, status: &str) -> String {
        Filters { status: status.to_owned(), ..self.clone() }.href(None, "")
    }

    fn filtered(&self) -> bool {
        !(self.q.trim().is_empty() && self.status.trim().is_empty() && self.location_id.trim().is_empty())
    }
}

struct Row {
    id: String,
    first_name: String,
    last_name: String,
    record_number: String,
    email: String,
    location: String,
    badge: PortalBadge,
    last_invited: String,
    last_signed_in: String,
    may_invite: bool,
}

struct CountLink {
    badge: PortalBadge,
    count: i64,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "onboarding.html")]
struct ToolPage {
    chrome: Chrome,
    filters: Filters,
    locations: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    counts: Vec<CountLink>,
    rows: Vec<Row>,
    total: i64,
    from: i64,
    to: i64,
    prev_href: String,
    next_href: String,
    errors: FormErrors,
    may_edit: bool,
    portal_on: bool,
    /// A refused action, in words (the domain's sentence), and whom it concerned.
    refusal: String,
    refused_name: String,
}

/// Builds the tool for `filters`; errors of the filters are shown on the page (422).
async fn build(state: &AppState, s: &SignedInStaff, filters: Filters) -> Result<(ToolPage, StatusCode), Response> {
    let page_no = filters.page_no();
    let mine = my_locations(state, s).await;
    let names: HashMap<&str, &str> = mine.iter().map(|(id, n)| (id.as_str(), n.as_str())).collect();
    let (list, errors): (Option<OnboardingPage>, FormErrors) =
        match onboarding::onboarding_list(state.db(), &s.actor, &filters.input(Some(page_no))).await {
            Ok(l) => (Some(l), FormErrors::none()),
            Err(PortalError::Invalid(f)) => (None, FormErrors::from_fields(f)),
            Err(e) => return Err(problem_page(e.into())),
        };
    let rows: Vec<Row> = list
        .as_ref()
        .map(|l| {
            l.rows
                .iter()
                .map(|r| Row {
                    id: r.patient_id.clone(),
                    first_name: r.first_name.clone(),
                    last_name: r.last_name.clone(),
                    record_number: r.record_number.clone(),
                    email: r.email.clone().unwrap_or_default(),
                    location: names.get(r.location_id.as_str()).map(|n| (*n).to_owned()).unwrap_or_default(),
                    badge: PortalBadge::of(&r.status),
                    last_invited: r.last_invited_at.map(when).unwrap_or_default(),
                    last_signed_in: r.last_signed_in_at.map(when).unwrap_or_default(),
                    may_invite: r.invite_action.is_some(),
                })
                .collect()
        })
        .unwrap_or_default();
    let total = list.as_ref().map_or(0, |l| l.total);
    let from = if rows.is_empty() { 0 } else { (page_no - 1) * PER_PAGE + 1 };
    let to = if rows.is_empty() { 0 } else { from + rows.len() as i64 - 1 };
    let counts = list
        .as_ref()
        .map(|l| {
            let c = &l.counts;
            [
                (PortalAccessStatus::NotEnabled, c.red),
                (PortalAccessStatus::EnabledNotInvited, c.gray),
                (PortalAccessStatus::InvitedNotSignedIn, c.orange),
                (PortalAccessStatus::SignedIn, c.green),
            ]
            .into_iter()
            .map(|(st, count)| CountLink {
                badge: PortalBadge::of_status(st),
                count,
                href: filters.with_status(st.colour()),
                current: PortalAccessStatus::parse(&filters.status).ok() == Some(st),
            })
            .collect()
        })
        .unwrap_or_default();
    let statuses = PortalAccessStatus::ALL
        .into_iter()
        .map(|st| {
            let selected = if PortalAccessStatus::parse(&filters.status).ok() == Some(st) { st.colour() } else { "" };
            SelectOption::new(st.colour(), status_words(st), selected)
        })
        .collect();
    let page = ToolPage {
        chrome: Chrome::for_staff(state, s, "/onboarding").await,
        locations: mine.iter().map(|(id, n)| SelectOption::new(id.clone(), n.clone(), &filters.location_id)).collect(),
        statuses,
        counts,
        rows,
        total,
        from,
        to,
        prev_href: if page_no > 1 && errors.is_empty() { filters.href(Some(page_no - 1), "") } else { String::new() },
        next_href: if to < total { filters.href(Some(page_no + 1), "") } else { String::new() },
        may_edit: s.staff.has(Permission::EditPatients),
        portal_on: portal_practice::settings::portal_enabled(state.db()).await.unwrap_or(false),
        refusal: String::new(),
        refused_name: String::new(),
        filters,
        errors,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((page, status))
}

/// The filter's option words (the pill's words, with the colour for those who filter by it).
fn status_words(s: PortalAccessStatus) -> &'static str {
    match s {
        PortalAccessStatus::NotEnabled => "Red: not enabled",
        PortalAccessStatus::EnabledNotInvited => "Gray: enabled, not invited",
        PortalAccessStatus::InvitedNotSignedIn => "Orange: invited, not signed in",
        PortalAccessStatus::SignedIn => "Green: signed in",
    }
}

async fn tool_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(filters): PageQuery<Filters>,
) -> Response {
    match build(&state, &s, filters).await {
        Ok((page, status)) => render_status(status, &page),
        Err(r) => r,
    }
}

/// The tool again with a refused action explained above the list (409).
async fn refused(state: &AppState, s: &SignedInStaff, filters: Filters, patient_id: &str, why: String) -> Response {
    match build(state, s, filters).await {
        Ok((mut page, _)) => {
            page.refused_name = page
                .rows
                .iter()
                .find(|r| r.id == patient_id)
                .map(|r| format!("{} {}", r.first_name, r.last_name))
                .unwrap_or_default();
            page.refusal = crate::error::capitalise(&why);
            render_status(StatusCode::CONFLICT, &page)
        }
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- one patient

/// Clicking a red box: enables the patient's access (seed 004).
async fn enable_one(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(raw): PageForm<HashMap<String, String>>,
) -> Response {
    let filters = Filters::from_raw(&RawForm(raw));
    match portal_access::set_access_level(state.db(), &s.actor, &id, PortalAccessLevel::CanAccess).await {
        Ok(_) => Redirect::to(&filters.href(Some(filters.page_no()), "enabled")).into_response(),
        Err(PracticeError::Refused(why)) => refused(&state, &s, filters, &id, why).await,
        Err(e) => problem_page(e.into()),
    }
}

/// "Send Invite to <e-mail>" (seed 004): the invitation/reset e-mail, sent at once.
async fn invite_one(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(raw): PageForm<HashMap<String, String>>,
) -> Response {
    let filters = Filters::from_raw(&RawForm(raw));
    let input = InviteInput {
        to: InviteTo::Patient,
        relation: None,
        scopes: None,
        ends_on: None,
        message: None,
        intake_form_ids: vec![],
        phi_warning_acknowledged: false,
    };
    match invitations::invite(state.db(), &s.actor, &id, input).await {
        Ok(sent) => {
            let done = if sent.purpose == LinkPurpose::Reset { "reset" } else { "invitation" };
            Redirect::to(&filters.href(Some(filters.page_no()), done)).into_response()
        }
        Err(PortalError::Invite(r)) => refused(&state, &s, filters, &id, r.to_string()).await,
        Err(e) => problem_page(e.into()),
    }
}

// ---------------------------------------------------------------- bulk

async fn start_bulk(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(raw): PageForm<HashMap<String, String>>,
) -> Response {
    let raw = RawForm(raw);
    let filters = Filters::from_raw(&raw);
    let action = raw.text("action");
    let (enable, invite, all) = match action.as_str() {
        "enable" => (true, false, false),
        "invite" => (false, true, false),
        "enable_invite" => (true, true, false),
        "enable_invite_all" => (true, true, true),
        _ => return super::error_page(StatusCode::BAD_REQUEST, super::UNREADABLE_FORM),
    };
    // Nothing is checked before the permission: a user without Edit Patients is refused first.
    if let Err(e) = s.staff.require(Permission::EditPatients) {
        return problem_page(e.into());
    }
    let input = if all {
        BulkInput { patient_ids: None, filter: Some(filters.input(None)), enable, invite }
    } else {
        let ids = raw.ticked_with_prefix("patient_");
        if ids.is_empty() {
            return refused(&state, &s, filters, "", "select at least one patient first".into()).await;
        }
        BulkInput { patient_ids: Some(ids), filter: None, enable, invite }
    };
    let job = match onboarding::start_bulk(state.db(), &s.actor, &input).await {
        Ok(j) => j,
        Err(PortalError::Invite(r)) => return refused(&state, &s, filters, "", r.to_string()).await,
        Err(PortalError::Invalid(f)) => {
            let why = f.0.iter().map(|e| format!("{} {}", e.field.replace('_', " "), e.detail)).collect::<Vec<_>>();
            return refused(&state, &s, filters, "", why.join("; ")).await;
        }
        Err(e) => return problem_page(e.into()),
    };
    let job_id = job.id.clone();
    // The run goes on after this answer; it commits chunk by chunk and records its progress.
    onboarding::spawn_bulk(state.db(), &s.actor, job);
    Redirect::to(&format!("/onboarding/jobs/{job_id}")).into_response()
}

struct SkipLine {
    words: &'static str,
    count: i64,
}

#[derive(Template)]
#[template(path = "onboarding_job.html")]
struct JobPage {
    chrome: Chrome,
    p: BulkProgress,
    status: &'static str,
    skipped: Vec<SkipLine>,
}

impl JobPage {
    fn percent(&self) -> i64 {
        if self.p.total == 0 { 100 } else { self.p.processed * 100 / self.p.total }
    }
}

fn status_name(s: BulkStatus) -> &'static str {
    match s {
        BulkStatus::Running => "running",
        BulkStatus::Finished => "finished",
        BulkStatus::Failed => "failed",
        BulkStatus::Interrupted => "interrupted",
    }
}

async fn job_page(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    let p = match onboarding::bulk_job(state.db(), &s.actor, &id).await {
        Ok(p) => p,
        Err(e) => return problem_page(e.into()),
    };
    let skipped = p
        .skipped_reasons
        .iter()
        .map(|(why, n): (&BulkSkip, &i64)| SkipLine { words: why.words(), count: *n })
        .collect();
    let page = JobPage {
        chrome: Chrome::for_staff(&state, &s, "/onboarding").await,
        status: status_name(p.status),
        skipped,
        p,
    };
    render_status(StatusCode::OK, &page)
}

/// What the job page's script polls (a route of the pages, not of the documented API).
#[derive(Serialize)]
struct ProgressBody {
    status: &'static str,
    total: i64,
    processed: i64,
    enabled: i64,
    sent: i64,
    skipped: i64,
}

async fn job_progress(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    match onboarding::bulk_job(state.db(), &s.actor, &id).await {
        Ok(p) => Json(ProgressBody {
            status: status_name(p.status),
            total: p.total,
            processed: p.processed,
            enabled: p.enabled,
            sent: p.sent,
            skipped: p.skipped,
        })
        .into_response(),
        Err(e) => Problem::from(e).into_response(),
    }
}
