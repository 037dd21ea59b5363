//! Manage Users (seed 000, "Assign Portal Roles"): the staff list, the new-user and edit forms,
//! and the "Kipu Portal" section with the four portal permissions. A permission the signed-in
//! user may not change is shown disabled, with the reason.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_auth::AuthError;
use portal_auth::staff::{self, StaffInput, StaffView};
use portal_core::AccessError;
use portal_core::ids::StaffId;
use portal_core::staff::{Permission, StaffRole};
use serde::Deserialize;

use super::forms::{FormErrors, RawForm, SelectOption};
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_page))
        .route("/users/new", get(new_page).post(create))
        .route("/users/{id}", get(edit_page).post(update))
        .route("/users/{id}/portal-permissions", post(save_portal_permissions))
}

// ---------------------------------------------------------------- list

struct UserRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    all_locations: bool,
    locations: String,
    active: bool,
    permissions: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
}

async fn location_names(state: &AppState) -> Vec<(String, String)> {
    portal_practice::company::locations(state.db())
        .await
        .map(|ls| ls.into_iter().map(|l| (l.id, l.name)).collect())
        .unwrap_or_default()
}

async fn list_page(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    let users = match staff::list(state.db(), &s.actor).await {
        Ok(u) => u,
        Err(e) => return problem_page(e.into()),
    };
    let names = location_names(&state).await;
    let users = users
        .into_iter()
        .map(|v| {
            let role = StaffRole::parse(&v.row.role).ok();
            let locations = names
                .iter()
                .filter(|(id, _)| v.location_ids.contains(id))
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            UserRow {
                id: v.row.id.clone(),
                name: v.row.name.clone(),
                email: v.row.email.clone(),
                role: role.map(StaffRole::label).unwrap_or(""),
                all_locations: role.is_some_and(|r| r.has(Permission::AllLocations)),
                locations,
                active: v.row.active,
                permissions: v.portal_permissions.iter().map(|p| p.label()).collect(),
            }
        })
        .collect();
    render_status(StatusCode::OK, &UsersPage { chrome: Chrome::for_staff(&state, &s, "/users").await, users })
}

// ---------------------------------------------------------------- the form

/// What the form shows (and keeps after a refused submission).
#[derive(Debug, Clone, Default)]
struct UserForm {
    name: String,
    email: String,
    role: String,
    active: bool,
    location_ids: Vec<String>,
}

impl UserForm {
    fn of(v: &StaffView) -> Self {
        Self {
            name: v.row.name.clone(),
            email: v.row.email.clone(),
            role: v.row.role.clone(),
            active: v.row.active,
            location_ids: v.location_ids.clone(),
        }
    }

    fn from_raw(raw: &RawForm, editing: bool) -> Self {
        Self {
            name: raw.text("name"),
            email: raw.text("email"),
            role: raw.text("role"),
            active: !editing || raw.checked("active"),
            location_ids: raw.ticked_with_prefix("location_"),
        }
    }

    fn input(&self, password: Option<String>) -> StaffInput {
        StaffInput {
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role.clone(),
            location_ids: self.location_ids.clone(),
            active: self.active,
            password,
        }
    }
}

struct LocationBox {
    id: String,
    name: String,
    checked: bool,
}

struct PermControl {
    key: &'static str,
    label: &'static str,
    granted: bool,
    /// Why the signed-in user may not change it; empty when they may.
    reason: String,
}

#[derive(Template)]
#[template(path = "user_form.html")]
struct UserFormPage {
    chrome: Chrome,
    /// `None` on the new-user page.
    id: Option<String>,
    form: UserForm,
    roles: Vec<SelectOption>,
    locations: Vec<LocationBox>,
    errors: FormErrors,
    actor_is_super_admin: bool,
    /// Editing one's own account: role and active cannot be changed.
    is_self: bool,
    /// A Super Admin's account, seen by someone who is not one: nothing can be changed.
    locked: bool,
    permissions: Vec<PermControl>,
    perm_errors: FormErrors,
    saved: bool,
    created: bool,
    permissions_saved: bool,
}

impl UserFormPage {
    async fn new(state: &AppState, s: &SignedInStaff, target: Option<&StaffView>, form: UserForm) -> Self {
        let actor_is_super_admin = s.staff.role == StaffRole::SuperAdmin;
        let roles = StaffRole::ALL
            .into_iter()
            .map(|r| {
                let mut o = SelectOption::new(r.as_str(), r.label(), &form.role);
                o.disabled = r == StaffRole::SuperAdmin && !actor_is_super_admin;
                o
            })
            .collect();
        let locations = location_names(state)
            .await
            .into_iter()
            .map(|(id, name)| LocationBox { checked: form.location_ids.contains(&id), id, name })
            .collect();
        let controls = staff::portal_permission_controls(&s.actor);
        let permissions = controls
            .into_iter()
            .map(|(p, allowed)| PermControl {
                key: p.as_str(),
                label: p.label(),
                granted: target.is_some_and(|t| t.portal_permissions.contains(&p)),
                reason: allowed.err().map(|e| crate::error::capitalise(&e.to_string())).unwrap_or_default(),
            })
            .collect();
        let target_role = target.and_then(|t| StaffRole::parse(&t.row.role).ok());
        Self {
            chrome: Chrome::for_staff(state, s, "/users").await,
            id: target.map(|t| t.row.id.clone()),
            roles,
            locations,
            errors: FormErrors::none(),
            actor_is_super_admin,
            is_self: target.is_some_and(|t| t.row.id == s.staff.id.as_str()),
            locked: target_role == Some(StaffRole::SuperAdmin) && !actor_is_super_admin,
            permissions,
            perm_errors: FormErrors::none(),
            saved: false,
            created: false,
            permissions_saved: false,
            form,
        }
    }
}

/// Access refusals that a person can fix in the form are shown beside the field they concern.
fn form_errors(e: AuthError) -> Result<FormErrors, Response> {
    match e {
        AuthError::Invalid(f) => Ok(FormErrors::from_fields(f)),
        AuthError::Conflict(c) => Ok(FormErrors::with_sentence("email", c)),
        AuthError::Access(a @ AccessError::NotOnSelf { action: "deactivate" }) => {
            Ok(FormErrors::with_sentence("active", a))
        }
        AuthError::Access(a @ (AccessError::SuperAdminOnly { .. } | AccessError::NotOnSelf { .. })) => {
            Ok(FormErrors::with_sentence("role", a))
        }
        other => Err(problem_page(other.into())),
    }
}

fn require_manage_users(s: &SignedInStaff) -> Result<(), Response> {
    s.staff.require(Permission::ManageUsers).map_err(|e| problem_page(e.into()))
}

async fn new_page(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    if let Err(r) = require_manage_users(&s) {
        return r;
    }
    let form = UserForm { active: true, ..UserForm::default() };
    render_status(StatusCode::OK, &UserFormPage::new(&state, &s, None, form).await)
}

async fn create(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(raw): PageForm<std::collections::HashMap<String, String>>,
) -> Response {
    let raw = RawForm(raw);
    let form = UserForm::from_raw(&raw, false);
    let result = staff::create(state.db(), &state.app().hasher, &s.actor, form.input(Some(raw.text("password")))).await;
    let mut errors = match result {
        Ok(v) => return Redirect::to(&format!("/users/{}?created=1", v.row.id)).into_response(),
        Err(e) => match form_errors(e) {
            Ok(f) => f,
            Err(r) => return r,
        },
    };
    if form.role.trim().is_empty() {
        errors.reflag("role");
    }
    let mut page = UserFormPage::new(&state, &s, None, form).await;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Deserialize)]
struct Notice {
    saved: Option<String>,
    created: Option<String>,
    permissions: Option<String>,
}

/// The staff user behind a path id (Manage Users); a malformed id is a 404 page.
async fn target(state: &AppState, s: &SignedInStaff, id: &str) -> Result<StaffView, Response> {
    let Ok(id) = StaffId::parse(id) else {
        return Err(error_page(StatusCode::NOT_FOUND, "No such staff user."));
    };
    staff::get(state.db(), &s.actor, id.as_str()).await.map_err(|e| problem_page(e.into()))
}

async fn edit_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<Notice>,
) -> Response {
    let v = match target(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut page = UserFormPage::new(&state, &s, Some(&v), UserForm::of(&v)).await;
    page.saved = q.saved.is_some();
    page.created = q.created.is_some();
    page.permissions_saved = q.permissions.is_some();
    render_status(StatusCode::OK, &page)
}

async fn update(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(raw): PageForm<std::collections::HashMap<String, String>>,
) -> Response {
    let v = match target(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let raw = RawForm(raw);
    let mut form = UserForm::from_raw(&raw, true);
    if v.row.id == s.staff.id.as_str() {
        // One's own role and active flag are shown, not sent (the controls are disabled).
        form.role = v.row.role.clone();
        form.active = v.row.active;
    }
    let mut errors = match staff::update(state.db(), &s.actor, &v.row.id, form.input(None)).await {
        Ok(_) => return Redirect::to(&format!("/users/{}?saved=1", v.row.id)).into_response(),
        Err(e) => match form_errors(e) {
            Ok(f) => f,
            Err(r) => return r,
        },
    };
    if form.role.trim().is_empty() {
        errors.reflag("role");
    }
    let mut page = UserFormPage::new(&state, &s, Some(&v), form).await;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Compares the ticked boxes with the user's grants and changes only what differs, and only
/// the permissions the signed-in user may change (the others are disabled on the page).
async fn save_portal_permissions(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(raw): PageForm<std::collections::HashMap<String, String>>,
) -> Response {
    let v = match target(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let raw = RawForm(raw);
    let mut errors = FormErrors::none();
    for (p, allowed) in staff::portal_permission_controls(&s.actor) {
        if allowed.is_err() {
            continue;
        }
        let wanted = raw.checked(p.as_str());
        if wanted == v.portal_permissions.contains(&p) {
            continue;
        }
        if let Err(e) = staff::set_portal_permission(state.db(), &s.actor, &v.row.id, p, wanted).await {
            match e {
                AuthError::Access(a @ (AccessError::SuperAdminOnly { .. } | AccessError::Forbidden { .. })) => {
                    errors.add_sentence(p.as_str(), a)
                }
                other => return problem_page(other.into()),
            }
        }
    }
    if errors.is_empty() {
        return Redirect::to(&format!("/users/{}?permissions=1#portal-permissions", v.row.id)).into_response();
    }
    // Show what is stored now, with the refusals beside their boxes.
    let v = match target(&state, &s, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut page = UserFormPage::new(&state, &s, Some(&v), UserForm::of(&v)).await;
    page.perm_errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
