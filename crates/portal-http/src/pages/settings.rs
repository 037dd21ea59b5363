//! Settings > Instance (seed 000, "Instance Settings"): Use Portal, the acknowledgement of its
//! monthly fee and the history of every change. The tabs of every settings page live here too.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::org::dollars;
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::settings::{self, InstanceSettings};
use serde::Deserialize;

use super::forms::{FormErrors, when, when_iso};
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings_home))
        .route("/settings/instance", get(instance_page))
        .route("/settings/instance/use-portal", post(set_use_portal))
}

/// Which settings tabs the user may open, and which one is shown.
#[derive(Debug, Clone)]
pub struct SettingsTabs {
    pub instance: bool,
    pub company: bool,
    pub locations: bool,
    pub current: &'static str,
}

impl SettingsTabs {
    pub fn for_staff(s: &SignedInStaff, current: &'static str) -> Self {
        let instance = s.staff.require_portal_settings().is_ok();
        let manage_company = s.staff.has(Permission::ManageCompany);
        Self { instance, company: instance || manage_company, locations: manage_company, current }
    }
}

/// The page a user without any settings tab sees.
pub fn no_settings_page() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "You need the Manage Portal Settings or the Manage Company permission to open Settings.",
    )
}

async fn settings_home(PageStaff(s): PageStaff) -> Response {
    let tabs = SettingsTabs::for_staff(&s, "");
    if tabs.instance {
        Redirect::to("/settings/instance").into_response()
    } else if tabs.company {
        Redirect::to("/settings/company").into_response()
    } else {
        no_settings_page()
    }
}

/// One row of the Use Portal history.
struct HistoryRow {
    when: String,
    when_iso: String,
    who: String,
    from_on: bool,
    to_on: bool,
    acknowledged: bool,
    fee_total: String,
    fee_locations: i64,
    ip: String,
}

#[derive(Template)]
#[template(path = "settings_instance.html")]
struct InstancePage {
    chrome: Chrome,
    tabs: SettingsTabs,
    use_portal: bool,
    fee_per_location: String,
    fee_locations: i64,
    fee_total: String,
    history: Vec<HistoryRow>,
    errors: FormErrors,
    enabled_checked: bool,
    acknowledge_checked: bool,
    saved: bool,
    unchanged: bool,
}

impl InstancePage {
    async fn build(state: &AppState, s: &SignedInStaff, settings: InstanceSettings) -> Self {
        let history = settings
            .history
            .iter()
            .map(|h| HistoryRow {
                when: when(h.changed_at),
                when_iso: when_iso(h.changed_at),
                who: h.changed_by_name.clone(),
                from_on: h.old_value == "true",
                to_on: h.new_value == "true",
                acknowledged: h.acknowledged,
                fee_total: h.fee_total_cents.map(dollars).unwrap_or_default(),
                fee_locations: h.fee_locations.unwrap_or_default(),
                ip: h.ip.clone().unwrap_or_default(),
            })
            .collect();
        Self {
            chrome: Chrome::for_staff(state, s, "/settings").await,
            tabs: SettingsTabs::for_staff(s, "instance"),
            use_portal: settings.use_portal,
            fee_per_location: dollars(settings.fee.per_location_cents),
            fee_locations: settings.fee.locations,
            fee_total: dollars(settings.fee.monthly_total_cents),
            history,
            errors: FormErrors::none(),
            enabled_checked: settings.use_portal,
            acknowledge_checked: false,
            saved: false,
            unchanged: false,
        }
    }
}

#[derive(Deserialize)]
struct InstanceQuery {
    saved: Option<String>,
    unchanged: Option<String>,
}

async fn instance_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<InstanceQuery>,
) -> Response {
    match settings::instance_settings(state.db(), &s.actor).await {
        Ok(current) => {
            let mut page = InstancePage::build(&state, &s, current).await;
            page.saved = q.saved.is_some();
            page.unchanged = q.unchanged.is_some();
            render_status(StatusCode::OK, &page)
        }
        Err(e) => problem_page(e.into()),
    }
}

#[derive(Deserialize)]
struct UsePortalForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    acknowledge_fee: Option<String>,
}

async fn set_use_portal(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<UsePortalForm>,
) -> Response {
    let on = form.enabled.as_deref().is_some_and(|v| !v.is_empty());
    let acknowledged = form.acknowledge_fee.as_deref().is_some_and(|v| !v.is_empty());
    let current = match settings::instance_settings(state.db(), &s.actor).await {
        Ok(c) => c,
        Err(e) => return problem_page(e.into()),
    };
    if current.use_portal == on {
        return Redirect::to("/settings/instance?unchanged=1").into_response();
    }
    let mut errors = FormErrors::none();
    if on && !acknowledged {
        // The page asks first, so that the person sees the fee beside the box they missed.
        errors.flag("acknowledge_fee");
    } else {
        match settings::set_use_portal(state.db(), &s.actor, on, acknowledged).await {
            Ok(_) => return Redirect::to("/settings/instance?saved=1").into_response(),
            Err(PracticeError::Refused(why)) => errors.add("acknowledge_fee", why),
            Err(PracticeError::Invalid(f)) => errors = FormErrors::from_fields(f),
            Err(e) => return problem_page(e.into()),
        }
    }
    let mut page = InstancePage::build(&state, &s, current).await;
    page.errors = errors;
    page.enabled_checked = on;
    page.acknowledge_checked = acknowledged;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
