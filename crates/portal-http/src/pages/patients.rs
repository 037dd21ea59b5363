//! Patients: the searchable list (name, date of birth or record number; location and status
//! filters; pages of 25 that keep the filters) and the new-patient and edit forms. A changed
//! e-mail address must be confirmed with the patient first (seed 002, "Important Privacy Note").

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_core::patient::PatientStatus;
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::patients::{self, PatientInput, SearchInput};
use portal_practice::portal_access;
use portal_store::patients::PatientRow;
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, opt, query};
use super::portal_staff::PortalBadge;
use super::{Chrome, PageForm, PageQuery, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/patients", get(list_page))
        .route("/patients/new", get(new_page).post(create))
        .route("/patients/{id}/edit", get(edit_page).post(update))
}

pub const PER_PAGE: i64 = 25;

/// The locations `s` may work with: all of them for a Super Admin, else their own.
pub async fn my_locations(state: &AppState, s: &SignedInStaff) -> Vec<(String, String)> {
    let all = portal_practice::company::locations(state.db()).await.unwrap_or_default();
    let scope = s.actor.principal.location_scope();
    all.into_iter()
        .filter(|l| scope.is_none_or(|ls| ls.iter().any(|x| x.as_str() == l.id)))
        .map(|l| (l.id, l.name))
        .collect()
}

pub fn status_label(raw: &str) -> &'static str {
    PatientStatus::parse(raw).map(PatientStatus::label).unwrap_or("")
}

// ---------------------------------------------------------------- list

#[derive(Debug, Clone, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: String,
}

struct ListRow {
    id: String,
    first_name: String,
    last_name: String,
    record_number: String,
    date_of_birth: String,
    location: String,
    status: &'static str,
    /// `None` only if the status could not be read for this row.
    portal: Option<PortalBadge>,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    chrome: Chrome,
    q: String,
    locations: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    rows: Vec<ListRow>,
    total: i64,
    from: i64,
    to: i64,
    prev_href: String,
    next_href: String,
    filtered: bool,
    errors: FormErrors,
    may_create: bool,
}

async fn list_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let page_no = q.page.trim().parse::<i64>().unwrap_or(1);
    let input = SearchInput {
        q: opt(&q.q),
        location_id: opt(&q.location_id),
        status: opt(&q.status),
        page: Some(page_no),
        per_page: Some(PER_PAGE),
    };
    let mine = my_locations(&state, &s).await;
    let (result, errors) = match patients::search(state.db(), &s.actor, &input).await {
        Ok(r) => (Some(r), FormErrors::none()),
        Err(PracticeError::Invalid(f)) => (None, FormErrors::from_fields(f)),
        Err(e) => return problem_page(e.into()),
    };
    let ids: Vec<String> =
        result.as_ref().map(|r| r.patients.iter().map(|p| p.id.clone()).collect()).unwrap_or_default();
    let portal = match portal_access::portal_statuses(state.db(), &s.actor, &ids).await {
        Ok(p) => p,
        Err(e) => return problem_page(e.into()),
    };
    let rows: Vec<ListRow> = result
        .as_ref()
        .map(|r| {
            r.patients
                .iter()
                .map(|p| ListRow {
                    id: p.id.clone(),
                    first_name: p.first_name.clone(),
                    last_name: p.last_name.clone(),
                    record_number: p.record_number.clone(),
                    date_of_birth: p.date_of_birth.to_string(),
                    location: mine
                        .iter()
                        .find(|(id, _)| *id == p.location_id)
                        .map(|(_, n)| n.clone())
                        .unwrap_or_default(),
                    status: status_label(&p.status),
                    portal: portal.get(&p.id).map(PortalBadge::of),
                })
                .collect()
        })
        .unwrap_or_default();
    let total = result.as_ref().map_or(0, |r| r.total);
    let from = if rows.is_empty() { 0 } else { (page_no - 1) * PER_PAGE + 1 };
    let to = if rows.is_empty() { 0 } else { from + rows.len() as i64 - 1 };
    let link = |page: i64| {
        let page = page.to_string();
        let href = query(&[("q", &q.q), ("location_id", &q.location_id), ("status", &q.status), ("page", &page)]);
        format!("/patients{href}")
    };
    let prev_href = if page_no > 1 && errors.is_empty() { link(page_no - 1) } else { String::new() };
    let next_href = if to < total { link(page_no + 1) } else { String::new() };
    let locations = mine.iter().map(|(id, name)| SelectOption::new(id.clone(), name.clone(), &q.location_id)).collect();
    let statuses =
        PatientStatus::ALL.into_iter().map(|st| SelectOption::new(st.as_str(), st.label(), &q.status)).collect();
    let page = PatientsPage {
        chrome: Chrome::for_staff(&state, &s, "/patients").await,
        filtered: !(q.q.trim().is_empty() && q.location_id.is_empty() && q.status.is_empty()),
        q: q.q.clone(),
        locations,
        statuses,
        rows,
        total,
        from,
        to,
        prev_href,
        next_href,
        may_create: s.staff.has(Permission::EditPatients),
        errors,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_status(status, &page)
}

// ---------------------------------------------------------------- the form

#[derive(Debug, Clone, Default, Deserialize)]
struct PatientForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address_line1: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    record_number: String,
    #[serde(default)]
    confirm_email: Option<String>,
}

impl PatientForm {
    fn of(p: &PatientRow) -> Self {
        Self {
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            date_of_birth: p.date_of_birth.to_string(),
            email: p.email.clone().unwrap_or_default(),
            phone: p.phone.clone().unwrap_or_default(),
            address_line1: p.address_line1.clone().unwrap_or_default(),
            city: p.city.clone().unwrap_or_default(),
            state: p.state.clone().unwrap_or_default(),
            zip: p.zip.clone().unwrap_or_default(),
            location_id: p.location_id.clone(),
            status: p.status.clone(),
            record_number: p.record_number.clone(),
            confirm_email: None,
        }
    }

    fn input(&self, creating: bool) -> PatientInput {
        PatientInput {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            date_of_birth: self.date_of_birth.clone(),
            email: opt(&self.email),
            phone: opt(&self.phone),
            address_line1: opt(&self.address_line1),
            city: opt(&self.city),
            state: opt(&self.state),
            zip: opt(&self.zip),
            location_id: self.location_id.clone(),
            status: opt(&self.status),
            record_number: if creating { opt(&self.record_number) } else { None },
            confirm_email_change: self.email_confirmed(),
        }
    }

    fn email_confirmed(&self) -> bool {
        self.confirm_email.as_deref().is_some_and(|v| !v.is_empty())
    }
}

#[derive(Template)]
#[template(path = "patient_form.html")]
struct PatientFormPage {
    chrome: Chrome,
    /// `None` on the new-patient page.
    id: Option<String>,
    /// The patient's name as stored (the heading of the edit page).
    heading_name: String,
    form: PatientForm,
    locations: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    errors: FormErrors,
    /// The e-mail on file when the edit page was opened.
    email_on_file: String,
}

impl PatientFormPage {
    async fn new(state: &AppState, s: &SignedInStaff, id: Option<String>, form: PatientForm) -> Self {
        let mine = my_locations(state, s).await;
        let selected =
            if form.location_id.is_empty() && mine.len() == 1 { mine[0].0.clone() } else { form.location_id.clone() };
        let status = if form.status.is_empty() { "active".to_owned() } else { form.status.clone() };
        Self {
            chrome: Chrome::for_staff(state, s, "/patients").await,
            id,
            heading_name: String::new(),
            locations: mine.into_iter().map(|(id, name)| SelectOption::new(id, name, &selected)).collect(),
            statuses: PatientStatus::ALL
                .into_iter()
                .map(|st| SelectOption::new(st.as_str(), st.label(), &status))
                .collect(),
            errors: FormErrors::none(),
            email_on_file: String::new(),
            form,
        }
    }
}

fn form_errors(e: PracticeError) -> Result<FormErrors, Response> {
    match e {
        PracticeError::Invalid(f) => Ok(FormErrors::from_fields(f)),
        PracticeError::Conflict(c) => Ok(FormErrors::with_sentence("record_number", c)),
        other => Err(problem_page(other.into())),
    }
}

fn require_edit(s: &SignedInStaff) -> Result<(), Response> {
    s.staff.require(Permission::EditPatients).map_err(|e| problem_page(e.into()))
}

async fn new_page(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    if let Err(r) = require_edit(&s) {
        return r;
    }
    render_status(StatusCode::OK, &PatientFormPage::new(&state, &s, None, PatientForm::default()).await)
}

async fn create(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<PatientForm>,
) -> Response {
    let errors = match patients::create(state.db(), &s.actor, form.input(true)).await {
        Ok(p) => return Redirect::to(&format!("/patients/{}?created=1", p.id)).into_response(),
        Err(e) => match form_errors(e) {
            Ok(f) => f,
            Err(r) => return r,
        },
    };
    let mut page = PatientFormPage::new(&state, &s, None, form).await;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// The patient as stored (opening the edit page is a view of the chart, and audited as one).
async fn current(state: &AppState, s: &SignedInStaff, id: &str) -> Result<PatientRow, Response> {
    patients::facesheet(state.db(), &s.actor, id).await.map(|f| f.patient).map_err(|e| problem_page(e.into()))
}

async fn edit_page(State(state): State<AppState>, PageStaff(s): PageStaff, Path(id): Path<String>) -> Response {
    if let Err(r) = require_edit(&s) {
        return r;
    }
    let p = match current(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut page = PatientFormPage::new(&state, &s, Some(p.id.clone()), PatientForm::of(&p)).await;
    page.heading_name = format!("{} {}", p.first_name, p.last_name);
    page.email_on_file = p.email.unwrap_or_default();
    render_status(StatusCode::OK, &page)
}

async fn update(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(mut form): PageForm<PatientForm>,
) -> Response {
    if let Err(r) = require_edit(&s) {
        return r;
    }
    let p = match current(&state, &s, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let new_email = form.email.trim().to_lowercase();
    let on_file = p.email.clone().unwrap_or_default().to_lowercase();
    let mut errors = FormErrors::none();
    if !new_email.is_empty() && new_email != on_file && !form.email_confirmed() {
        // Seed 002: a changed address could hand the patient's records to someone else. The
        // other fields are checked too (nothing is saved), so that every problem shows at once.
        if let Ok(mut conn) = state.db().read().await
            && let Err(PracticeError::Invalid(f)) =
                patients::parse_patient(&mut conn, &s.actor, &form.input(false)).await
        {
            errors = FormErrors::from_fields(f);
        }
        errors.flag("confirm_email");
    } else {
        match patients::update(state.db(), &s.actor, &p.id, form.input(false)).await {
            Ok(_) => return Redirect::to(&format!("/patients/{}?saved=1", p.id)).into_response(),
            Err(e) => match form_errors(e) {
                Ok(f) => errors = f,
                Err(r) => return r,
            },
        }
    }
    form.record_number = p.record_number.clone();
    let mut page = PatientFormPage::new(&state, &s, Some(p.id.clone()), form).await;
    page.heading_name = format!("{} {}", p.first_name, p.last_name);
    page.email_on_file = p.email.unwrap_or_default();
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
