//! Settings > Instance (seed 000, "Instance Settings"): Use Portal, the acknowledgement of its
//! monthly fee and the history of every change; the auto-enable setting; and whom portal users
//! may write to (seed 001's FAQ). The tabs of every settings page live here too.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::org::dollars;
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::portal_access::{self, AutoEnableSettings};
use portal_practice::settings::{self, InstanceSettings};
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, when, when_iso};
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings_home))
        .route("/settings/instance", get(instance_page))
        .route("/settings/instance/use-portal", post(set_use_portal))
        .route("/settings/instance/auto-enable", post(set_auto_enable))
        .route("/settings/instance/portal-messaging", post(set_portal_messaging))
}

/// Which settings tabs the user may open, and which one is shown.
#[derive(Debug, Clone)]
pub struct SettingsTabs {
    pub instance: bool,
    pub company: bool,
    pub locations: bool,
    /// Settings > Notifications: Super Admins only (seed 000; `portal_core::notifications`).
    pub notifications: bool,
    pub current: &'static str,
}

impl SettingsTabs {
    pub fn for_staff(s: &SignedInStaff, current: &'static str) -> Self {
        let instance = s.staff.require_portal_settings().is_ok();
        let manage_company = s.staff.has(Permission::ManageCompany);
        let notifications = portal_core::notifications::may_manage_rules(&s.staff).is_ok();
        Self { instance, company: instance || manage_company, locations: manage_company, notifications, current }
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
    auto_saved: bool,
    auto: AutoEnableView,
    auto_errors: FormErrors,
    messaging: MessagingView,
    messaging_errors: FormErrors,
    messaging_saved: bool,
}

/// "Portal users may write to" (seed 001's FAQ: staff available for portal messages, or the
/// patient's care team, "depending on how the system has been configured").
struct MessagingView {
    /// The stored value: `available_for_portal_messages` or `care_team` (the template words it).
    current: &'static str,
    /// The value ticked on the form (the submitted one after a refusal).
    chosen: String,
    history: Vec<MessagingChange>,
}

struct MessagingChange {
    when: String,
    when_iso: String,
    who: String,
    from: String,
    to: String,
}

impl MessagingView {
    async fn load(state: &AppState, s: &SignedInStaff) -> Result<Self, Response> {
        let db = state.db();
        let current = portal_messaging::settings::portal_messaging_recipients(db, &s.actor)
            .await
            .map_err(|e| problem_page(e.into()))?;
        let history = portal_messaging::settings::portal_messaging_recipients_history(db, &s.actor)
            .await
            .map_err(|e| problem_page(e.into()))?;
        Ok(Self {
            current: current.as_str(),
            chosen: current.as_str().to_owned(),
            history: history
                .into_iter()
                .map(|h| MessagingChange {
                    when: when(h.changed_at),
                    when_iso: when_iso(h.changed_at),
                    who: h.changed_by_name,
                    from: h.old_value,
                    to: h.new_value,
                })
                .collect(),
        })
    }
}

/// The auto-enable setting (seed 002: "Should the patient be able to activate portal without
/// further confirmation"): the instance's value, each location's override and what applies.
struct AutoEnableView {
    instance: bool,
    locations: Vec<AutoEnableLocation>,
    history: Vec<AutoEnableChange>,
}

struct AutoEnableLocation {
    id: String,
    name: String,
    options: Vec<SelectOption>,
    effective: bool,
}

struct AutoEnableChange {
    when: String,
    when_iso: String,
    who: String,
    /// The location's name, empty for the instance setting.
    location: String,
    from: String,
    to: String,
}

/// A stored auto-enable value as `(location id, value)`: `true`, `false` or `instance`.
fn split_auto_value(v: &str) -> (Option<&str>, &str) {
    match v.split_once('=') {
        Some((loc, val)) => (Some(loc), val),
        None => (None, v),
    }
}

impl AutoEnableView {
    fn of(a: AutoEnableSettings) -> Self {
        let names: std::collections::HashMap<String, String> =
            a.locations.iter().map(|l| (l.location_id.clone(), l.name.clone())).collect();
        let history = a
            .history
            .iter()
            .map(|h| {
                let (loc, from) = split_auto_value(&h.old_value);
                let (_, to) = split_auto_value(&h.new_value);
                AutoEnableChange {
                    when: when(h.changed_at),
                    when_iso: when_iso(h.changed_at),
                    who: h.changed_by_name.clone(),
                    location: loc.map(|l| names.get(l).cloned().unwrap_or_default()).unwrap_or_default(),
                    from: from.to_owned(),
                    to: to.to_owned(),
                }
            })
            .collect();
        Self {
            instance: a.instance,
            locations: a
                .locations
                .into_iter()
                .map(|l| {
                    let current = match l.override_value {
                        None => "instance",
                        Some(true) => "on",
                        Some(false) => "off",
                    };
                    AutoEnableLocation {
                        options: [("instance", "Follow the instance setting"), ("on", "On"), ("off", "Off")]
                            .into_iter()
                            .map(|(v, label)| SelectOption::new(v, label, current))
                            .collect(),
                        id: l.location_id,
                        name: l.name,
                        effective: l.effective,
                    }
                })
                .collect(),
            history,
        }
    }
}

impl InstancePage {
    async fn build(state: &AppState, s: &SignedInStaff, settings: InstanceSettings) -> Result<Self, Response> {
        let auto =
            portal_access::auto_enable_settings(state.db(), &s.actor).await.map_err(|e| problem_page(e.into()))?;
        let messaging = MessagingView::load(state, s).await?;
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
        Ok(Self {
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
            auto_saved: false,
            auto: AutoEnableView::of(auto),
            auto_errors: FormErrors::none(),
            messaging,
            messaging_errors: FormErrors::none(),
            messaging_saved: false,
        })
    }
}

#[derive(Deserialize)]
struct InstanceQuery {
    auto_saved: Option<String>,
    messaging_saved: Option<String>,
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
            let mut page = match InstancePage::build(&state, &s, current).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            page.saved = q.saved.is_some();
            page.unchanged = q.unchanged.is_some();
            page.auto_saved = q.auto_saved.is_some();
            page.messaging_saved = q.messaging_saved.is_some();
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
    let mut page = match InstancePage::build(&state, &s, current).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.errors = errors;
    page.enabled_checked = on;
    page.acknowledge_checked = acknowledged;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
struct AutoEnableForm {
    /// Absent for the instance's setting.
    #[serde(default)]
    location_id: Option<String>,
    /// The instance's checkbox.
    #[serde(default)]
    auto_enable: Option<String>,
    /// A location's choice: `instance`, `on` or `off`.
    #[serde(default)]
    value: Option<String>,
}

async fn set_auto_enable(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<AutoEnableForm>,
) -> Response {
    let location = form.location_id.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let value = match (location, form.value.as_deref().map(str::trim)) {
        (None, _) => Some(form.auto_enable.as_deref().is_some_and(|v| !v.is_empty())),
        (Some(_), Some("instance")) => None,
        (Some(_), Some("on")) => Some(true),
        (Some(_), Some("off")) => Some(false),
        (Some(_), _) => return error_page(StatusCode::BAD_REQUEST, super::UNREADABLE_FORM),
    };
    let errors = match portal_access::set_auto_enable(state.db(), &s.actor, location, value).await {
        Ok(_) => return Redirect::to("/settings/instance?auto_saved=1#auto-enable").into_response(),
        Err(PracticeError::Invalid(f)) => FormErrors::from_fields(f),
        Err(e) => return problem_page(e.into()),
    };
    let current = match settings::instance_settings(state.db(), &s.actor).await {
        Ok(c) => c,
        Err(e) => return problem_page(e.into()),
    };
    let mut page = match InstancePage::build(&state, &s, current).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.auto_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
struct PortalMessagingForm {
    #[serde(default)]
    recipients: String,
}

async fn set_portal_messaging(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<PortalMessagingForm>,
) -> Response {
    // The domain checks Manage Portal Settings and the value; the page only translates.
    let errors =
        match portal_messaging::settings::set_portal_messaging_recipients(state.db(), &s.actor, &form.recipients).await
        {
            Ok(()) => return Redirect::to("/settings/instance?messaging_saved=1#portal-messaging").into_response(),
            Err(portal_messaging::MessagingError::Invalid(f)) => FormErrors::from_fields(f),
            Err(e) => return problem_page(e.into()),
        };
    let current = match settings::instance_settings(state.db(), &s.actor).await {
        Ok(c) => c,
        Err(e) => return problem_page(e.into()),
    };
    let mut page = match InstancePage::build(&state, &s, current).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    page.messaging.chosen = form.recipients;
    page.messaging_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
