//! Settings > Company and Settings > Locations (seed 000, "Company Settings"): the name, phone
//! and logo that patients' invitations show, and the clinic's locations.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::ids::LocationId;
use portal_core::org::TIME_ZONES;
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::company::{self, CompanyInput, LocationInput};
use portal_store::org::Location;
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, opt};
use super::settings::{SettingsTabs, no_settings_page};
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::error::Problem;
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/company", get(company_page).post(save_company))
        .route("/settings/company/logo", post(upload_company_logo))
        .route("/settings/locations", get(locations_page))
        .route("/settings/locations/new", get(new_location_page).post(create_location))
        .route("/settings/locations/{id}", get(edit_location_page).post(update_location))
        .route("/settings/locations/{id}/logo", post(upload_location_logo))
}

#[derive(Deserialize)]
struct Notice {
    saved: Option<String>,
    created: Option<String>,
    logo: Option<String>,
}

/// Reads the `logo` file of a multipart form. `None` when the body cannot be read (too large,
/// not multipart): the page then asks for another file.
async fn read_logo(multipart: Result<Multipart, MultipartRejection>) -> Option<Vec<u8>> {
    let mut multipart = multipart.ok()?;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("logo") {
            return field.bytes().await.ok().map(|b| b.to_vec());
        }
    }
    Some(Vec::new())
}

fn logo_errors(e: PracticeError) -> Result<FormErrors, Response> {
    match e {
        PracticeError::Invalid(f) => Ok(FormErrors::from_fields(f)),
        other => Err(problem_page(other.into())),
    }
}

// ---------------------------------------------------------------- company

#[derive(Debug, Clone, Default, Deserialize)]
struct CompanyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    brand_by_location: Option<String>,
}

#[derive(Template)]
#[template(path = "settings_company.html")]
struct CompanyPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    may_edit: bool,
    form: CompanyForm,
    brand_by_location: bool,
    errors: FormErrors,
    logo_errors: FormErrors,
    has_logo: bool,
    saved: bool,
    logo_saved: bool,
}

async fn company_view(state: &AppState, s: &SignedInStaff) -> Result<CompanyPage, Response> {
    let tabs = SettingsTabs::for_staff(s, "company");
    if !tabs.company {
        return Err(no_settings_page());
    }
    let c = company::company(state.db()).await.map_err(|e| problem_page(e.into()))?;
    Ok(CompanyPage {
        chrome: Chrome::for_staff(state, s, "/settings").await,
        may_edit: s.staff.has(Permission::ManageCompany),
        tabs,
        brand_by_location: c.brand_by_location,
        form: CompanyForm { name: c.name, phone: c.phone.unwrap_or_default(), brand_by_location: None },
        errors: FormErrors::none(),
        logo_errors: FormErrors::none(),
        has_logo: c.logo_content_type.is_some(),
        saved: false,
        logo_saved: false,
    })
}

async fn company_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    match company_view(&state, &s).await {
        Ok(mut page) => {
            page.saved = q.saved.is_some();
            page.logo_saved = q.logo.is_some();
            render_status(StatusCode::OK, &page)
        }
        Err(r) => r,
    }
}

async fn save_company(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<CompanyForm>,
) -> Response {
    let brand = form.brand_by_location.as_deref().is_some_and(|v| !v.is_empty());
    let input = CompanyInput { name: form.name.clone(), phone: opt(&form.phone), brand_by_location: brand };
    let errors = match company::update_company(state.db(), &s.actor, input).await {
        Ok(_) => return Redirect::to("/settings/company?saved=1").into_response(),
        Err(PracticeError::Invalid(f)) => FormErrors::from_fields(f),
        Err(e) => return problem_page(e.into()),
    };
    match company_view(&state, &s).await {
        Ok(mut page) => {
            page.form = form;
            page.brand_by_location = brand;
            page.errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}

async fn upload_company_logo(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let errors = match read_logo(multipart).await {
        None => {
            let mut e = FormErrors::none();
            e.flag("logo");
            e
        }
        Some(bytes) => match company::set_company_logo(state.db(), &s.actor, bytes).await {
            Ok(()) => return Redirect::to("/settings/company?logo=1").into_response(),
            Err(e) => match logo_errors(e) {
                Ok(f) => f,
                Err(r) => return r,
            },
        },
    };
    match company_view(&state, &s).await {
        Ok(mut page) => {
            page.logo_errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- locations

fn require_manage_company(s: &SignedInStaff) -> Result<(), Response> {
    s.staff.require(Permission::ManageCompany).map_err(|e| problem_page(Problem::from(e)))
}

/// A location as the list shows it.
struct LocationRow {
    id: String,
    name: String,
    address: String,
    phone: String,
    time_zone: String,
    has_logo: bool,
}

fn address_of(l: &Location) -> String {
    let city_line = [l.city.as_deref(), l.state.as_deref(), l.zip.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    [l.address_line1.as_deref().unwrap_or_default(), city_line.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Template)]
#[template(path = "settings_locations.html")]
struct LocationsPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    locations: Vec<LocationRow>,
    created: bool,
}

async fn locations_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    if let Err(r) = require_manage_company(&s) {
        return r;
    }
    let locations = match company::locations(state.db()).await {
        Ok(l) => l,
        Err(e) => return problem_page(e.into()),
    };
    let locations = locations
        .iter()
        .map(|l| LocationRow {
            id: l.id.clone(),
            name: l.name.clone(),
            address: address_of(l),
            phone: l.phone.clone().unwrap_or_default(),
            time_zone: l.time_zone.clone(),
            has_logo: l.logo_content_type.is_some(),
        })
        .collect();
    render_status(
        StatusCode::OK,
        &LocationsPage {
            chrome: Chrome::for_staff(&state, &s, "/settings").await,
            tabs: SettingsTabs::for_staff(&s, "locations"),
            locations,
            created: q.created.is_some(),
        },
    )
}

#[derive(Debug, Clone, Default, Deserialize)]
struct LocationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address_line1: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    time_zone: String,
}

impl LocationForm {
    fn of(l: &Location) -> Self {
        Self {
            name: l.name.clone(),
            address_line1: l.address_line1.clone().unwrap_or_default(),
            city: l.city.clone().unwrap_or_default(),
            state: l.state.clone().unwrap_or_default(),
            zip: l.zip.clone().unwrap_or_default(),
            phone: l.phone.clone().unwrap_or_default(),
            time_zone: l.time_zone.clone(),
        }
    }

    fn input(&self) -> LocationInput {
        LocationInput {
            name: self.name.clone(),
            address_line1: opt(&self.address_line1),
            city: opt(&self.city),
            state: opt(&self.state),
            zip: opt(&self.zip),
            phone: opt(&self.phone),
            time_zone: self.time_zone.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "settings_location_form.html")]
struct LocationFormPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    /// `None` on the new-location page.
    id: Option<String>,
    /// The location's name as stored (the heading of the edit page).
    heading_name: String,
    form: LocationForm,
    time_zones: Vec<SelectOption>,
    errors: FormErrors,
    logo_errors: FormErrors,
    has_logo: bool,
    brand_by_location: bool,
    saved: bool,
    created: bool,
    logo_saved: bool,
}

impl LocationFormPage {
    async fn new(state: &AppState, s: &SignedInStaff, id: Option<String>, form: LocationForm) -> Self {
        let time_zones = TIME_ZONES.iter().map(|z| SelectOption::new(*z, *z, &form.time_zone)).collect();
        let brand_by_location = company::company(state.db()).await.is_ok_and(|c| c.brand_by_location);
        Self {
            chrome: Chrome::for_staff(state, s, "/settings").await,
            tabs: SettingsTabs::for_staff(s, "locations"),
            id,
            heading_name: form.name.clone(),
            form,
            time_zones,
            errors: FormErrors::none(),
            logo_errors: FormErrors::none(),
            has_logo: false,
            brand_by_location,
            saved: false,
            created: false,
            logo_saved: false,
        }
    }
}

async fn new_location_page(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    if let Err(r) = require_manage_company(&s) {
        return r;
    }
    let page = LocationFormPage::new(&state, &s, None, LocationForm::default()).await;
    render_status(StatusCode::OK, &page)
}

async fn create_location(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<LocationForm>,
) -> Response {
    match company::create_location(state.db(), &s.actor, form.input()).await {
        Ok(l) => Redirect::to(&format!("/settings/locations/{}?created=1", l.id)).into_response(),
        Err(PracticeError::Invalid(f)) => {
            let mut page = LocationFormPage::new(&state, &s, None, form).await;
            page.errors = FormErrors::from_fields(f);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => problem_page(e.into()),
    }
}

/// The location behind a path id; a malformed or unknown id is a 404 page.
async fn find_location(state: &AppState, id: &str) -> Result<Location, Response> {
    let Ok(id) = LocationId::parse(id) else {
        return Err(error_page(StatusCode::NOT_FOUND, "No such location."));
    };
    company::location(state.db(), id.as_str()).await.map_err(|e| problem_page(e.into()))
}

async fn edit_location_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    if let Err(r) = require_manage_company(&s) {
        return r;
    }
    let l = match find_location(&state, &id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut page = LocationFormPage::new(&state, &s, Some(l.id.clone()), LocationForm::of(&l)).await;
    page.has_logo = l.logo_content_type.is_some();
    page.saved = q.saved.is_some();
    page.created = q.created.is_some();
    page.logo_saved = q.logo.is_some();
    render_status(StatusCode::OK, &page)
}

async fn update_location(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<LocationForm>,
) -> Response {
    if let Err(r) = require_manage_company(&s) {
        return r;
    }
    let l = match find_location(&state, &id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match company::update_location(state.db(), &s.actor, &l.id, form.input()).await {
        Ok(_) => Redirect::to(&format!("/settings/locations/{}?saved=1", l.id)).into_response(),
        Err(PracticeError::Invalid(f)) => {
            let mut page = LocationFormPage::new(&state, &s, Some(l.id.clone()), form).await;
            page.heading_name = l.name.clone();
            page.has_logo = l.logo_content_type.is_some();
            page.errors = FormErrors::from_fields(f);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => problem_page(e.into()),
    }
}

async fn upload_location_logo(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(r) = require_manage_company(&s) {
        return r;
    }
    let l = match find_location(&state, &id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let errors = match read_logo(multipart).await {
        None => {
            let mut e = FormErrors::none();
            e.flag("logo");
            e
        }
        Some(bytes) => match company::set_location_logo(state.db(), &s.actor, &l.id, bytes).await {
            Ok(()) => return Redirect::to(&format!("/settings/locations/{}?logo=1", l.id)).into_response(),
            Err(e) => match logo_errors(e) {
                Ok(f) => f,
                Err(r) => return r,
            },
        },
    };
    let mut page = LocationFormPage::new(&state, &s, Some(l.id.clone()), LocationForm::of(&l)).await;
    page.has_logo = l.logo_content_type.is_some();
    page.logo_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
