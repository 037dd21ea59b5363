//! Requests for portal users (seed 002): the requests of their patients with status badges, a
//! new request (a prescription refill, an appointment, records, a billing or a general
//! question: first the patient when the user reaches several, then the type, then that type's
//! form), and one request with its status and timeline, replies included.
//!
//! Every rule (which patients, what a request may hold, which locations and providers an
//! appointment request may name) is portal-queue's; these pages only translate its answers. A
//! request or patient the user may not reach answers exactly like a missing one (the portal's
//! 404 page). The form carries an idempotency key made when it is rendered, so that a double
//! click or a re-sent POST makes one request. A refused form shows the page again with what was
//! typed and each error beside its field.

use askama::Template;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_core::ids::PatientId;
use portal_core::portal_accounts::GrantScope;
use portal_core::requests::{RawRequestDetails, RequestKind, RequestStatus};
use portal_queue::portal::{self, NewRequestInput};
use portal_queue::{QueueError, RequestView, TimelineEntry};
use serde::Deserialize;

use super::{PortalChrome, PortalOpen, SwitchItem, not_found};
use crate::extract::{PagePortal, SignedInPortal};
use crate::pages::forms::{FormErrors, SelectOption, opt, query, when, when_iso};
use crate::pages::{PageForm, PageQuery, problem_page, render_status};
use crate::state::AppState;

type IdPath = Result<Path<String>, PathRejection>;

/// Requests a page of the list holds.
const PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/requests", get(list_page).post(submit))
        .route("/portal/requests/new", get(new_page))
        .route("/portal/requests/{id}", get(detail_page))
}

/// A temporary password is replaced before anything else opens (as on every portal page).
fn password_first(s: &SignedInPortal) -> Option<Response> {
    s.principal().must_change_password.then(|| Redirect::to("/portal/choose-password").into_response())
}

/// A domain error no form handles: the portal's 404 for anything the user may not reach, else
/// the readable error page.
async fn unreachable_or_problem(state: &AppState, e: QueueError) -> Response {
    match e {
        QueueError::Access(_) => not_found(state).await,
        other => problem_page(other.into()),
    }
}

/// The patients whose requests the user may make and read now (grants in force covering
/// requests), as the switcher names them, in the switcher's order.
fn request_patients(chrome: &PortalChrome, s: &SignedInPortal) -> Vec<SwitchItem> {
    let p = s.principal();
    chrome
        .patients
        .iter()
        .filter(|item| PatientId::parse(&item.id).is_ok_and(|id| p.require(&id, GrantScope::Requests).is_ok()))
        .cloned()
        .collect()
}

/// The pill's colour for a status (always with its words).
fn pill(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Submitted => "pill-blue",
        RequestStatus::InReview => "pill-orange",
        RequestStatus::Completed => "pill-green",
        RequestStatus::NotCompleted => "pill-gray",
    }
}

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

struct Row {
    id: String,
    kind: &'static str,
    summary: String,
    patient: String,
    status: &'static str,
    status_value: &'static str,
    pill: &'static str,
    when: String,
    when_iso: String,
}

impl Row {
    fn of(r: &RequestView) -> Self {
        Self {
            id: r.id.clone(),
            kind: r.kind_label,
            summary: r.summary.clone(),
            patient: r.patient_name.clone(),
            status: r.status_label,
            status_value: r.status.as_str(),
            pill: pill(r.status),
            when: when(r.created_at),
            when_iso: when_iso(r.created_at),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    before: String,
}

#[derive(Template)]
#[template(path = "portal_requests_list.html")]
struct ListPage {
    chrome: PortalChrome,
    rows: Vec<Row>,
    /// The user reaches several patients: each row says whose request it is.
    several: bool,
    /// The user may make a request (a patient whose grant covers requests).
    may_request: bool,
    next_href: String,
    newest_href: String,
    /// The `before` of the address could not be read: the newest page is shown instead.
    bad_page: bool,
}

async fn list_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    let chrome = match PortalChrome::signed_in(&state, &s, None, "requests").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let raw = q.before.trim();
    let before = raw.parse::<i64>().ok().filter(|n| *n > 0);
    let bad_page = !raw.is_empty() && before.is_none();
    let mut list = match portal::mine(state.db(), s.principal(), s.ip.clone(), None, before, PAGE + 1).await {
        Ok(l) => l,
        Err(e) => return unreachable_or_problem(&state, e).await,
    };
    let more = list.len() as i64 > PAGE;
    list.truncate(PAGE as usize);
    let next_href = match list.last() {
        Some(last) if more => format!("/portal/requests{}", query(&[("before", &last.seq.to_string())])),
        _ => String::new(),
    };
    let patients = request_patients(&chrome, &s);
    let page = ListPage {
        rows: list.iter().map(Row::of).collect(),
        several: chrome.patients.len() > 1,
        may_request: !patients.is_empty(),
        chrome,
        next_href,
        newest_href: if before.is_some() { "/portal/requests".into() } else { String::new() },
        bad_page,
    };
    let status = if bad_page { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    render_status(status, &page)
}

// ---------------------------------------------------------------------------------------------
// A new request
// ---------------------------------------------------------------------------------------------

/// The form, as typed: one flat set of fields, of which each kind reads its own.
#[derive(Debug, Clone, Default, Deserialize)]
struct RequestForm {
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    medication: String,
    #[serde(default)]
    pharmacy: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    preferred_times: String,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    preferred_provider_id: String,
    #[serde(default)]
    records: String,
    #[serde(default)]
    question: String,
    #[serde(default)]
    idempotency_key: String,
}

impl RequestForm {
    fn details(&self) -> RawRequestDetails {
        RawRequestDetails {
            kind: self.kind.clone(),
            medication: opt(&self.medication),
            pharmacy: opt(&self.pharmacy),
            note: opt(&self.note),
            reason: opt(&self.reason),
            preferred_times: opt(&self.preferred_times),
            location_id: opt(&self.location_id),
            preferred_provider_id: opt(&self.preferred_provider_id),
            records: opt(&self.records),
            question: opt(&self.question),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct NewQuery {
    #[serde(default)]
    patient: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// Sent by the choosers' buttons (`patient` or `kind`): "Continue" was pressed (with no
    /// choice, nothing else is sent).
    #[serde(default)]
    chosen: Option<String>,
}

/// One type of request to choose.
struct KindChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "portal_requests_new.html")]
struct NewPage {
    chrome: PortalChrome,
    /// The patients the user may make requests for.
    patients: Vec<SwitchItem>,
    /// The one chosen (or the only one); `None`: the page asks which.
    patient: Option<SwitchItem>,
    kinds: Vec<KindChoice>,
    /// The type chosen (its `as_str`), or empty: the page asks which.
    kind: &'static str,
    kind_label: &'static str,
    locations: Vec<SelectOption>,
    providers: Vec<SelectOption>,
    form: RequestForm,
    errors: FormErrors,
    phone: Option<String>,
}

/// A fresh idempotency key for a form about to be rendered.
fn new_key() -> String {
    portal_store::ids::new_id()
}

impl NewPage {
    /// The page for `patient_id` (blank: the only patient, or the choice) and `kind` (blank or
    /// unknown: the choice), with the appointment form's choices.
    async fn build(state: &AppState, s: &SignedInPortal, patient_id: &str, kind: &str) -> Result<Self, Response> {
        let mut chrome = PortalChrome::signed_in(state, s, None, "requests").await?;
        let patients = request_patients(&chrome, s);
        let chosen = match (patient_id.trim(), patients.as_slice()) {
            ("", [only]) => Some(only.clone()),
            ("", _) => None,
            (id, _) => match patients.iter().find(|p| p.id == id) {
                Some(p) => Some(p.clone()),
                // Not a patient whose requests the user reaches: like a missing one.
                None => return Err(not_found(state).await),
            },
        };
        for p in &mut chrome.patients {
            p.current = chosen.as_ref().is_some_and(|c| c.id == p.id);
        }
        let kind = RequestKind::parse(kind).ok();
        let (locations, providers) = match (&chosen, kind) {
            (Some(p), Some(RequestKind::Appointment)) => {
                match portal::appointment_choices(state.db(), s.principal(), &p.id).await {
                    Ok(c) => (
                        c.locations.into_iter().map(|l| SelectOption::new(l.id, l.name, "")).collect(),
                        c.providers.into_iter().map(|p| SelectOption::new(p.id, p.name, "")).collect(),
                    ),
                    Err(e) => return Err(unreachable_or_problem(state, e).await),
                }
            }
            _ => (vec![], vec![]),
        };
        let phone = portal_practice::company::company(state.db()).await.ok().and_then(|c| c.phone);
        Ok(Self {
            chrome,
            kinds: RequestKind::ALL
                .iter()
                .map(|k| KindChoice { value: k.as_str(), label: k.label(), selected: Some(*k) == kind })
                .collect(),
            kind: kind.map_or("", |k| k.as_str()),
            kind_label: kind.map_or("", |k| k.label()),
            locations,
            providers,
            form: RequestForm {
                patient_id: chosen.as_ref().map(|p| p.id.clone()).unwrap_or_default(),
                kind: kind.map_or(String::new(), |k| k.as_str().to_owned()),
                idempotency_key: new_key(),
                ..RequestForm::default()
            },
            patients,
            patient: chosen,
            errors: FormErrors::none(),
            phone,
        })
    }

    /// Keeps what was typed (and the choices made) on the page shown again.
    fn keep(mut self, form: RequestForm) -> Self {
        for o in &mut self.locations {
            o.selected = o.value == form.location_id;
        }
        for o in &mut self.providers {
            o.selected = o.value == form.preferred_provider_id;
        }
        let key = if form.idempotency_key.trim().is_empty() {
            self.form.idempotency_key.clone()
        } else {
            form.idempotency_key.clone()
        };
        self.form = RequestForm {
            patient_id: self.form.patient_id.clone(),
            kind: self.form.kind.clone(),
            idempotency_key: key,
            ..form
        };
        self
    }
}

async fn new_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageQuery(q): PageQuery<NewQuery>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    let kind = q.kind.as_deref().unwrap_or_default();
    let mut page = match NewPage::build(&state, &s, q.patient.as_deref().unwrap_or_default(), kind).await {
        Ok(page) => page,
        Err(r) => return r,
    };
    // Nobody is chosen for the user who asks about several people: a request about the wrong
    // child is worse than one more click.
    if page.patient.is_none() && q.chosen.is_some() {
        page.errors.flag("patient");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    // "Continue" without a type, or a type this clinic does not know.
    let kind_chosen = q.chosen.as_deref() == Some("kind");
    if page.patient.is_some() && page.kind.is_empty() && (kind_chosen || !kind.trim().is_empty()) {
        page.errors.flag("kind");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    render_status(StatusCode::OK, &page)
}

async fn submit(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    PageForm(form): PageForm<RequestForm>,
) -> Response {
    if let Some(r) = password_first(&s) {
        return r;
    }
    let input = NewRequestInput {
        patient_id: form.patient_id.clone(),
        details: form.details(),
        idempotency_key: opt(&form.idempotency_key),
    };
    let (errors, status, key) = match portal::submit(state.db(), s.principal(), s.ip.clone(), input).await {
        Ok(done) => {
            return Redirect::to(&format!("/portal/requests/{}?done=submitted", done.request.id)).into_response();
        }
        Err(QueueError::Invalid(f)) => {
            (FormErrors::from_fields(f), StatusCode::UNPROCESSABLE_ENTITY, form.idempotency_key.clone())
        }
        // This form was already used for another request: a fresh key lets it make this one.
        Err(QueueError::KeyReused) => {
            let mut e = FormErrors::none();
            e.flag("idempotency_key");
            (e, StatusCode::UNPROCESSABLE_ENTITY, new_key())
        }
        Err(QueueError::Refused(r)) => {
            (FormErrors::with_sentence("send", r), StatusCode::CONFLICT, form.idempotency_key.clone())
        }
        Err(e) => return unreachable_or_problem(&state, e).await,
    };
    // A patient id that names none of the user's patients shows the 404 page (in `build`).
    let page = match NewPage::build(&state, &s, &form.patient_id, &form.kind).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut page = page.keep(RequestForm { idempotency_key: key, ..form });
    page.errors = errors;
    render_status(status, &page)
}

// ---------------------------------------------------------------------------------------------
// One request
// ---------------------------------------------------------------------------------------------

struct Entry {
    label: &'static str,
    by: String,
    when: String,
    when_iso: String,
    reply: Option<String>,
    conversation_id: Option<String>,
}

impl Entry {
    fn of(e: TimelineEntry) -> Self {
        Self {
            label: e.label,
            by: e.by,
            when: when(e.at),
            when_iso: when_iso(e.at),
            reply: e.reply,
            conversation_id: e.conversation_id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DetailQuery {
    #[serde(default)]
    done: String,
}

#[derive(Template)]
#[template(path = "portal_requests_detail.html")]
struct DetailPage {
    chrome: PortalChrome,
    id: String,
    kind: &'static str,
    patient: String,
    requester: String,
    status: &'static str,
    status_value: &'static str,
    pill: &'static str,
    open: bool,
    fields: Vec<(&'static str, String)>,
    when: String,
    when_iso: String,
    timeline: Vec<Entry>,
    /// `submitted` right after making the request, else empty.
    notice: &'static str,
}

async fn detail_page(
    _: PortalOpen,
    State(state): State<AppState>,
    PagePortal(s): PagePortal,
    id: IdPath,
    PageQuery(q): PageQuery<DetailQuery>,
) -> Response {
    let Ok(Path(id)) = id else { return not_found(&state).await };
    if let Some(r) = password_first(&s) {
        return r;
    }
    let mine = match portal::one(state.db(), s.principal(), s.ip.clone(), &id).await {
        Ok(m) => m,
        Err(e) => return unreachable_or_problem(&state, e).await,
    };
    let r = mine.request;
    let chrome = match PortalChrome::signed_in(&state, &s, Some(&r.patient_id), "requests").await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let page = DetailPage {
        chrome,
        kind: r.kind_label,
        patient: r.patient_name.clone(),
        requester: r.requester_name.clone(),
        status: r.status_label,
        status_value: r.status.as_str(),
        pill: pill(r.status),
        open: r.open,
        fields: r.fields.iter().map(|f| (f.label, f.value.clone())).collect(),
        when: when(r.created_at),
        when_iso: when_iso(r.created_at),
        timeline: mine.timeline.into_iter().map(Entry::of).collect(),
        notice: if q.done == "submitted" { "submitted" } else { "" },
        id: r.id,
    };
    render_status(StatusCode::OK, &page)
}
