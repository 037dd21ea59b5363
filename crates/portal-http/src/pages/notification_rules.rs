//! Settings > Notifications (seed 000, "Set up Notifications"): a location's rules, the form of
//! a new or changed rule (every field of `RawRule`), deleting one after a confirmation, and
//! "Send test notification". Super Admins only; the pages translate portal-notify's use cases
//! (`rules.rs`) and keep no rules of their own.

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::AccessError;
use portal_core::notifications::{NotificationEvent, RawRule, Severity};
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_notify::rules::{self, RuleView, RulesError};
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption};
use super::settings::SettingsTabs;
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff, urlencode};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/notifications", get(list_page).post(create))
        .route("/settings/notifications/new", get(new_page))
        .route("/settings/notifications/{id}", get(edit_page).post(update))
        .route("/settings/notifications/{id}/delete", post(delete))
        .route("/settings/notifications/{id}/test", post(send_test))
}

const NO_SUCH_RULE: &str = "This notification rule does not exist, or it has been deleted.";
const NO_SUCH_LOCATION: &str = "This location does not exist. Choose one of the clinic's locations.";

/// A refusal or a missing rule as a page in words; other failures as `problem_page`.
fn refused(e: RulesError) -> Response {
    match e {
        RulesError::Access(AccessError::NotFound) => error_page(StatusCode::NOT_FOUND, NO_SUCH_RULE),
        RulesError::Access(a @ AccessError::SuperAdminOnly { .. }) => error_page(
            StatusCode::FORBIDDEN,
            &format!("{}. Ask a Super Admin to change the notifications.", crate::error::capitalise(&a.to_string())),
        ),
        other => problem_page(other.into()),
    }
}

fn pick(locations: &[(String, String)], chosen: &str) -> Vec<SelectOption> {
    locations.iter().map(|(id, name)| SelectOption::new(id.as_str(), name.as_str(), chosen)).collect()
}

async fn location_list(state: &AppState) -> Result<Vec<(String, String)>, Response> {
    portal_practice::company::locations(state.db())
        .await
        .map(|ls| ls.into_iter().map(|l| (l.id, l.name)).collect())
        .map_err(|e| problem_page(e.into()))
}

/// One rule of the list.
struct RuleLine {
    id: String,
    event_label: String,
    name: String,
    starts_on: String,
    ends_on: String,
    severity_label: String,
    colour: String,
    recipients: Vec<String>,
    toast: bool,
    email: bool,
}

impl RuleLine {
    fn of(r: RuleView) -> Self {
        let mut recipients: Vec<String> = r.recipient_users.into_iter().map(|u| u.name).collect();
        if r.recipient_care_team {
            recipients.push("Care team".to_owned());
        }
        recipients.extend(r.recipient_roles.iter().map(|x| format!("Role: {}", x.label())));
        Self {
            id: r.id,
            event_label: r.event_label.to_owned(),
            name: r.name,
            starts_on: r.starts_on.to_string(),
            ends_on: r.ends_on.map(|d| d.to_string()).unwrap_or_default(),
            severity_label: r.severity_label.to_owned(),
            colour: r.colour.to_owned(),
            recipients,
            toast: r.toast,
            email: r.email,
        }
    }
}

#[derive(Template)]
#[template(path = "notification_rules.html")]
struct ListPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    locations: Vec<SelectOption>,
    /// The chosen location's id and name; `None` while several locations wait for a choice.
    location: Option<(String, String)>,
    rules: Vec<RuleLine>,
    test_sent: bool,
    saved: bool,
    created: bool,
    deleted: bool,
}

#[derive(Deserialize)]
struct ListQuery {
    location: Option<String>,
    test_sent: Option<String>,
    saved: Option<String>,
    created: Option<String>,
    deleted: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let locations = match location_list(&state).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let chosen = q.location.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let location = match chosen {
        Some(id) => locations.iter().find(|(l, _)| l == id).cloned(),
        None if locations.len() == 1 => locations.first().cloned(),
        None => None,
    };
    // The use case decides who may see the rules (and is asked even before a location is
    // chosen, so that a refusal comes first).
    let lines = match (&location, chosen) {
        (Some((id, _)), _) => match rules::list(state.db(), &s.actor, Some(id)).await {
            Ok(v) => v.into_iter().map(RuleLine::of).collect(),
            Err(e) => return refused(e),
        },
        (None, chosen) => {
            if let Err(e) = rules::list(state.db(), &s.actor, None).await {
                return refused(e);
            }
            if chosen.is_some() {
                return error_page(StatusCode::NOT_FOUND, NO_SUCH_LOCATION);
            }
            vec![]
        }
    };
    let page = ListPage {
        chrome: Chrome::for_staff(&state, &s, "/settings").await,
        tabs: SettingsTabs::for_staff(&s, "notifications"),
        locations: pick(&locations, location.as_ref().map(|l| l.0.as_str()).unwrap_or_default()),
        location,
        rules: lines,
        test_sent: q.test_sent.is_some(),
        saved: q.saved.is_some(),
        created: q.created.is_some(),
        deleted: q.deleted.is_some(),
    };
    render_status(StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------------

/// An event of the Event select, with what activates it and the placeholders it fills.
struct EventOption {
    value: &'static str,
    label: &'static str,
    description: &'static str,
    placeholders: String,
    selected: bool,
}

/// A checkbox of a list (recipient users, roles).
struct Tick {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "notification_rules_form.html")]
struct FormPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    /// `None` for a new rule.
    id: Option<String>,
    heading_name: String,
    form: RawRule,
    errors: FormErrors,
    locations: Vec<SelectOption>,
    events: Vec<EventOption>,
    /// The placeholders of the chosen event (empty before one is chosen).
    placeholders: String,
    severities: Vec<SelectOption>,
    users: Vec<Tick>,
    roles: Vec<Tick>,
    ends_on: String,
    saved: bool,
    test_sent: bool,
}

fn tokens(e: NotificationEvent) -> String {
    e.placeholders().iter().map(|p| p.token()).collect::<Vec<_>>().join(", ")
}

impl FormPage {
    async fn build(
        state: &AppState,
        s: &SignedInStaff,
        id: Option<String>,
        heading_name: String,
        form: RawRule,
        errors: FormErrors,
    ) -> Result<Self, Response> {
        let locations = location_list(state).await?;
        let chosen_event = NotificationEvent::parse(&form.event).ok();
        let events = NotificationEvent::ALL
            .into_iter()
            .map(|e| EventOption {
                value: e.as_str(),
                label: e.label(),
                description: e.description(),
                placeholders: tokens(e),
                selected: Some(e) == chosen_event,
            })
            .collect();
        let severities =
            Severity::ALL.into_iter().map(|v| SelectOption::new(v.as_str(), v.label(), form.severity.trim())).collect();
        let location = form.location_id.trim();
        let users = rules::recipient_choices(state.db(), &s.actor, location, &form.recipient_users)
            .await
            .map_err(refused)?
            .into_iter()
            .map(|u| Tick {
                checked: form.recipient_users.iter().any(|t| t.trim() == u.id),
                label: u.name,
                value: u.id,
            })
            .collect();
        let roles = StaffRole::ALL
            .into_iter()
            .map(|r| Tick {
                value: r.as_str().to_owned(),
                label: r.label().to_owned(),
                checked: form.recipient_roles.iter().any(|x| x.trim() == r.as_str()),
            })
            .collect();
        Ok(Self {
            chrome: Chrome::for_staff(state, s, "/settings").await,
            tabs: SettingsTabs::for_staff(s, "notifications"),
            id,
            heading_name,
            locations: pick(&locations, location),
            events,
            placeholders: chosen_event.map(tokens).unwrap_or_default(),
            severities,
            users,
            roles,
            ends_on: form.ends_on.clone().unwrap_or_default(),
            form,
            errors,
            saved: false,
            test_sent: false,
        })
    }
}

/// The domain's field errors; the selects' own words ("Choose an event.") replace "must be one of
/// ..." since the value came from a select, not from typing.
fn select_errors(f: portal_core::FieldErrors) -> FormErrors {
    let mut e = FormErrors::from_fields(f);
    e.reflag("event");
    e.reflag("severity");
    e
}

/// The form as typed: repeated names (`recipient_users`, `recipient_roles`) gathered into lists.
fn raw_rule(pairs: Vec<(String, String)>) -> RawRule {
    let mut r = RawRule::default();
    for (k, v) in pairs {
        match k.as_str() {
            "location_id" => r.location_id = v,
            "event" => r.event = v,
            "name" => r.name = v,
            "starts_on" => r.starts_on = v,
            "ends_on" => r.ends_on = Some(v).filter(|e| !e.trim().is_empty()),
            "severity" => r.severity = v,
            "recipient_users" => r.recipient_users.push(v),
            "recipient_care_team" => r.recipient_care_team = !v.is_empty(),
            "recipient_roles" => r.recipient_roles.push(v),
            "title" => r.title = v,
            "message" => r.message = v,
            "toast" => r.toast = !v.is_empty(),
            "email" => r.email = !v.is_empty(),
            // Anything else is ignored (mass assignment: only the rule's fields are read).
            _ => {}
        }
    }
    r
}

fn raw_of(r: &RuleView) -> RawRule {
    RawRule {
        location_id: r.location_id.clone(),
        event: r.event.as_str().to_owned(),
        name: r.name.clone(),
        starts_on: r.starts_on.to_string(),
        ends_on: r.ends_on.map(|d| d.to_string()),
        severity: r.severity.as_str().to_owned(),
        recipient_users: r.recipient_users.iter().map(|u| u.id.clone()).collect(),
        recipient_care_team: r.recipient_care_team,
        recipient_roles: r.recipient_roles.iter().map(|x| x.as_str().to_owned()).collect(),
        title: r.title.clone(),
        message: r.message.clone(),
        toast: r.toast,
        email: r.email,
    }
}

#[derive(Deserialize)]
struct NewQuery {
    location: Option<String>,
}

async fn new_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<NewQuery>,
) -> Response {
    if let Err(e) = rules::list(state.db(), &s.actor, None).await {
        return refused(e);
    }
    let form = RawRule {
        location_id: q.location.unwrap_or_default().trim().to_owned(),
        starts_on: now_utc().date().to_string(),
        toast: true,
        ..RawRule::default()
    };
    match FormPage::build(&state, &s, None, String::new(), form, FormErrors::none()).await {
        Ok(p) => render_status(StatusCode::OK, &p),
        Err(r) => r,
    }
}

fn list_of(location: &str, notice: &str) -> Response {
    Redirect::to(&format!("/settings/notifications?location={}&{notice}=1", urlencode(location))).into_response()
}

async fn create(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let form = raw_rule(pairs);
    let errors = match rules::create(state.db(), &s.actor, form.clone()).await {
        Ok(r) => return list_of(&r.location_id, "created"),
        Err(RulesError::Invalid(f)) => select_errors(f),
        Err(e) => return refused(e),
    };
    match FormPage::build(&state, &s, None, String::new(), form, errors).await {
        Ok(p) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &p),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct EditQuery {
    saved: Option<String>,
    test_sent: Option<String>,
}

async fn edit_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<EditQuery>,
) -> Response {
    let rule = match rules::get(state.db(), &s.actor, &id).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let form = raw_of(&rule);
    match FormPage::build(&state, &s, Some(rule.id), rule.name, form, FormErrors::none()).await {
        Ok(mut p) => {
            p.saved = q.saved.is_some();
            p.test_sent = q.test_sent.is_some();
            render_status(StatusCode::OK, &p)
        }
        Err(r) => r,
    }
}

async fn update(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let form = raw_rule(pairs);
    let errors = match rules::update(state.db(), &s.actor, &id, form.clone()).await {
        Ok(r) => return list_of(&r.location_id, "saved"),
        Err(RulesError::Invalid(f)) => select_errors(f),
        Err(e) => return refused(e),
    };
    let heading = match rules::get(state.db(), &s.actor, &id).await {
        Ok(r) => r.name,
        Err(e) => return refused(e),
    };
    match FormPage::build(&state, &s, Some(id.trim().to_owned()), heading, form, errors).await {
        Ok(p) => render_status(StatusCode::UNPROCESSABLE_ENTITY, &p),
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "notification_rules_delete.html")]
struct DeletePage {
    chrome: Chrome,
    tabs: SettingsTabs,
    id: String,
    name: String,
    event_label: String,
    location_id: String,
    location_name: String,
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// Without `confirm=yes`: the confirmation page, saying what will happen. With it: deleted.
async fn delete(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<DeleteForm>,
) -> Response {
    let rule = match rules::get(state.db(), &s.actor, &id).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    if form.confirm.as_deref().map(str::trim) == Some("yes") {
        return match rules::delete(state.db(), &s.actor, &rule.id).await {
            Ok(()) => list_of(&rule.location_id, "deleted"),
            Err(e) => refused(e),
        };
    }
    let page = DeletePage {
        chrome: Chrome::for_staff(&state, &s, "/settings").await,
        tabs: SettingsTabs::for_staff(&s, "notifications"),
        id: rule.id,
        name: rule.name,
        event_label: rule.event_label.to_owned(),
        location_id: rule.location_id,
        location_name: rule.location_name,
    };
    render_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct TestForm {
    /// `edit`: back to the rule's page; otherwise back to the list.
    #[serde(default)]
    back: Option<String>,
}

async fn send_test(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<TestForm>,
) -> Response {
    let rule = match rules::get(state.db(), &s.actor, &id).await {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    if let Err(e) = rules::send_test_with_hub(state.db(), state.hub(), &s.actor, &rule.id).await {
        return refused(e);
    }
    if form.back.as_deref() == Some("edit") {
        Redirect::to(&format!("/settings/notifications/{}?test_sent=1#test-sent", rule.id)).into_response()
    } else {
        Redirect::to(&format!(
            "/settings/notifications?location={}&test_sent=1#test-sent",
            urlencode(&rule.location_id)
        ))
        .into_response()
    }
}
