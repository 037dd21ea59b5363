//! A patient's chart (the facesheet, seed 002): details, contacts (seed 003) and the care team,
//! with the forms that add and remove them. Opening the chart is audited by the use case.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::Actor;
use portal_core::ids::{ContactId, StaffId};
use portal_core::patient::{ContactKind, DateOfBirth};
use portal_core::staff::{Permission, StaffRole};
use portal_practice::PracticeError;
use portal_practice::patients::{self, ContactInput, Facesheet};
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, opt, when};
use super::patients::status_label;
use super::portal_staff::PortalBadge;
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/patients/{id}", get(chart))
        .route("/patients/{id}/contacts", post(add_contact))
        .route("/patients/{id}/contacts/{contact_id}/remove", post(remove_contact))
        .route("/patients/{id}/care-team", post(add_member))
        .route("/patients/{id}/care-team/{staff_id}/remove", post(remove_member))
}

pub(super) struct PatientView {
    pub(super) id: String,
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) record_number: String,
    pub(super) date_of_birth: String,
    pub(super) age: i32,
    pub(super) status: &'static str,
    pub(super) email: String,
    pub(super) phone: String,
    pub(super) address_line1: String,
    pub(super) city_line: String,
    pub(super) zip: String,
    pub(super) location: String,
}

struct ContactView {
    id: String,
    kind: &'static str,
    first_name: String,
    last_name: String,
    relation: String,
    email: String,
    phone: String,
}

struct MemberView {
    staff_id: String,
    name: String,
    role: &'static str,
    team_role: String,
    added: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ContactForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct MemberForm {
    #[serde(default)]
    staff_id: String,
    #[serde(default)]
    team_role: String,
}

#[derive(Template)]
#[template(path = "facesheet.html")]
struct ChartPage {
    chrome: Chrome,
    p: PatientView,
    portal: PortalBadge,
    contacts: Vec<ContactView>,
    care_team: Vec<MemberView>,
    may_edit: bool,
    may_manage_team: bool,
    may_view_audit: bool,
    contact_form: ContactForm,
    contact_errors: FormErrors,
    kinds: Vec<SelectOption>,
    member_form: MemberForm,
    member_errors: FormErrors,
    staff_options: Vec<SelectOption>,
    notice: Notice,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Notice {
    created: Option<String>,
    saved: Option<String>,
    contact_added: Option<String>,
    contact_removed: Option<String>,
    member_added: Option<String>,
    member_removed: Option<String>,
}

/// Active staff who may see the patient's location and are not on the team yet. Listed as the
/// system, since only Manage Users may list staff; only names and roles are shown.
async fn eligible_staff(state: &AppState, f: &Facesheet, selected: &str) -> Vec<SelectOption> {
    let all = portal_auth::staff::list(state.db(), &Actor::system()).await.unwrap_or_default();
    all.into_iter()
        .filter(|v| v.row.active)
        .filter(|v| !f.care_team.iter().any(|m| m.staff_id == v.row.id))
        .filter(|v| {
            let every = StaffRole::parse(&v.row.role).is_ok_and(|r| r.has(Permission::AllLocations));
            every || v.location_ids.contains(&f.patient.location_id)
        })
        .map(|v| {
            let role = StaffRole::parse(&v.row.role).map(StaffRole::label).unwrap_or("");
            SelectOption::new(v.row.id.clone(), format!("{} ({role})", v.row.name), selected)
        })
        .collect()
}

impl ChartPage {
    async fn build(state: &AppState, s: &SignedInStaff, f: Facesheet) -> Result<Self, Response> {
        let may_manage_team = s.staff.has(Permission::ManageCareTeams);
        let staff_options = if may_manage_team { eligible_staff(state, &f, "").await } else { vec![] };
        let portal = PortalBadge::load(state, s, &f.patient.id).await?;
        Ok(Self {
            chrome: Chrome::for_staff(state, s, "/patients").await,
            p: patient_view(&f),
            portal,
            contacts: f
                .contacts
                .iter()
                .map(|c| ContactView {
                    id: c.id.clone(),
                    kind: ContactKind::parse(&c.kind).map(ContactKind::label).unwrap_or(""),
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    relation: c.relation.clone().unwrap_or_default(),
                    email: c.email.clone().unwrap_or_default(),
                    phone: c.phone.clone().unwrap_or_default(),
                })
                .collect(),
            care_team: f
                .care_team
                .iter()
                .map(|m| MemberView {
                    staff_id: m.staff_id.clone(),
                    name: m.staff_name.clone(),
                    role: StaffRole::parse(&m.staff_role).map(StaffRole::label).unwrap_or(""),
                    team_role: m.team_role.clone(),
                    added: when(m.added_at),
                })
                .collect(),
            may_edit: s.staff.has(Permission::EditPatients),
            may_manage_team,
            may_view_audit: s.staff.has(Permission::ViewAuditLog),
            contact_form: ContactForm::default(),
            contact_errors: FormErrors::none(),
            kinds: kind_options(""),
            member_form: MemberForm::default(),
            member_errors: FormErrors::none(),
            staff_options,
            notice: Notice::default(),
        })
    }
}

/// The chart header's facts about the patient (shared by every tab of the chart).
pub(super) fn patient_view(f: &Facesheet) -> PatientView {
    let today = time::OffsetDateTime::now_utc().date();
    let p = &f.patient;
    let city_line = [p.city.as_deref(), p.state.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
    PatientView {
        id: p.id.clone(),
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        record_number: p.record_number.clone(),
        date_of_birth: p.date_of_birth.to_string(),
        age: DateOfBirth::from_trusted(p.date_of_birth).age_on(today),
        status: status_label(&p.status),
        email: p.email.clone().unwrap_or_default(),
        phone: p.phone.clone().unwrap_or_default(),
        address_line1: p.address_line1.clone().unwrap_or_default(),
        city_line,
        zip: p.zip.clone().unwrap_or_default(),
        location: f.location_name.clone(),
    }
}

fn kind_options(selected: &str) -> Vec<SelectOption> {
    ContactKind::ALL.into_iter().map(|k| SelectOption::new(k.as_str(), k.label(), selected)).collect()
}

pub(super) async fn load(state: &AppState, s: &SignedInStaff, id: &str) -> Result<Facesheet, Response> {
    patients::facesheet(state.db(), &s.actor, id).await.map_err(|e| problem_page(e.into()))
}

async fn chart(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(notice): PageQuery<Notice>,
) -> Response {
    match load(&state, &s, &id).await {
        Ok(f) => {
            let mut page = match ChartPage::build(&state, &s, f).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            page.notice = notice;
            render_status(StatusCode::OK, &page)
        }
        Err(r) => r,
    }
}

fn back(id: &str, notice: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/patients/{id}?{notice}=1#{anchor}")).into_response()
}

async fn add_contact(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<ContactForm>,
) -> Response {
    let input = ContactInput {
        kind: form.kind.clone(),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
        relation: opt(&form.relation),
        email: opt(&form.email),
        phone: opt(&form.phone),
    };
    let mut errors = match patients::add_contact(state.db(), &s.actor, &id, input).await {
        Ok(c) => return back(&c.patient_id, "contact_added", "contacts"),
        Err(PracticeError::Invalid(f)) => FormErrors::from_fields(f),
        Err(e) => return problem_page(e.into()),
    };
    if form.kind.trim().is_empty() {
        errors.reflag("kind");
    }
    let f = match load(&state, &s, &id).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut page = match ChartPage::build(&state, &s, f).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.kinds = kind_options(&form.kind);
    page.contact_form = form;
    page.contact_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn remove_contact(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path((id, contact_id)): Path<(String, String)>,
) -> Response {
    let Ok(contact_id) = ContactId::parse(&contact_id) else {
        return error_page(StatusCode::NOT_FOUND, "No such contact.");
    };
    match patients::remove_contact(state.db(), &s.actor, &id, contact_id.as_str()).await {
        Ok(()) => back(&id, "contact_removed", "contacts"),
        Err(e) => problem_page(e.into()),
    }
}

async fn add_member(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<MemberForm>,
) -> Response {
    let mut errors =
        match patients::add_care_team_member(state.db(), &s.actor, &id, form.staff_id.trim(), &form.team_role).await {
            Ok(_) => return back(&id, "member_added", "care-team"),
            Err(PracticeError::Invalid(f)) => FormErrors::from_fields(f),
            Err(e) => return problem_page(e.into()),
        };
    if form.staff_id.trim().is_empty() {
        errors.reflag("staff_id");
    }
    let f = match load(&state, &s, &id).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let staff_options = eligible_staff(&state, &f, form.staff_id.trim()).await;
    let mut page = match ChartPage::build(&state, &s, f).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.staff_options = staff_options;
    page.member_form = form;
    page.member_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

async fn remove_member(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path((id, staff_id)): Path<(String, String)>,
) -> Response {
    let Ok(staff_id) = StaffId::parse(&staff_id) else {
        return error_page(StatusCode::NOT_FOUND, "No such care-team member.");
    };
    match patients::remove_care_team_member(state.db(), &s.actor, &id, staff_id.as_str()).await {
        Ok(_) => back(&id, "member_removed", "care-team"),
        Err(e) => problem_page(e.into()),
    }
}
