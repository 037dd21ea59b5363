//! The chart's Portal tab (seeds 002 and 003): the patient's portal status with its
//! troubleshooting hint, the access level, the invitation/reset e-mail, invitations of a contact,
//! a designated user or an existing account ("Link User by Email"), credentials set at the desk,
//! and the list of the patient's portal users with edit and revoke.
//!
//! Every action is a use case of portal-practice or portal-auth; the page only translates. A
//! patient the user may not see is a 404 page (the facesheet's own rule).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_auth::PortalError;
use portal_auth::invitations::{self, InviteInput, InviteTo};
use portal_auth::portal_grants::{self, AccountSummary, GrantChange, PortalUserView};
use portal_core::events::Relation;
use portal_core::patient::ContactKind;
use portal_core::portal_access::{MISMATCH_HINT, PortalAccessLevel, PortalAccessStatus, PortalStatusView};
use portal_core::portal_accounts::{GRANT_PHI_WARNING, GrantScope, InviteRefused};
use portal_core::staff::Permission;
use portal_practice::PracticeError;
use portal_practice::patients::Facesheet;
use portal_practice::portal_access;
use serde::Deserialize;

use super::facesheet::{PatientView, load, patient_view};
use super::forms::{FormErrors, RawForm, SelectOption, when};
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/patients/{id}/portal", get(portal_page))
        .route("/patients/{id}/portal/access", post(set_access))
        .route("/patients/{id}/portal/invite", post(invite))
        .route("/patients/{id}/portal/credentials", post(set_credentials))
        .route("/patients/{id}/portal/grants/{grant_id}", post(update_grant))
        .route("/patients/{id}/portal/grants/{grant_id}/revoke", post(revoke_grant))
}

// ---------------------------------------------------------------- the status, on every page

/// A patient's portal status as the pages show it: the colour (the pill's words are the
/// template's), the status in words, why it is red, and seed 002's troubleshooting hint.
#[derive(Debug, Clone)]
pub struct PortalBadge {
    pub colour: &'static str,
    pub words: &'static str,
    pub reasons: Vec<&'static str>,
    pub hint: &'static str,
    pub mismatch_hint: &'static str,
}

impl PortalBadge {
    pub fn of(v: &PortalStatusView) -> Self {
        Self {
            colour: v.colour,
            words: v.words,
            reasons: v.reasons.iter().map(|r| r.words()).collect(),
            hint: v.hint,
            mismatch_hint: MISMATCH_HINT,
        }
    }

    /// A status without a patient (the Onboarding Tool's counts).
    pub fn of_status(s: PortalAccessStatus) -> Self {
        Self { colour: s.colour(), words: s.words(), reasons: vec![], hint: s.hint(), mismatch_hint: MISMATCH_HINT }
    }

    /// For the templates: `b.is("red")`.
    pub fn is(&self, colour: &str) -> bool {
        self.colour == colour
    }

    /// The status of one patient the user has just opened (so it is visible to them).
    pub async fn load(state: &AppState, s: &SignedInStaff, patient_id: &str) -> Result<Self, Response> {
        portal_access::portal_status(state.db(), &s.actor, patient_id)
            .await
            .map(|st| Self::of(&st.status))
            .map_err(|e| problem_page(e.into()))
    }
}

// ---------------------------------------------------------------- views

/// One checkbox of the parts a grant covers.
struct ScopeBox {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

fn scope_boxes(ticked: impl Fn(GrantScope) -> bool) -> Vec<ScopeBox> {
    GrantScope::ALL.into_iter().map(|s| ScopeBox { value: s.as_str(), label: s.label(), checked: ticked(s) }).collect()
}

struct PortalUserRow {
    grant_id: String,
    name: String,
    username: String,
    email: String,
    relation: &'static str,
    scopes: Vec<&'static str>,
    scope_boxes: Vec<ScopeBox>,
    ends_on: String,
    in_force: bool,
    revoked: bool,
    revoked_at: String,
    registered: bool,
    last_signed_in: String,
}

impl PortalUserRow {
    fn of(v: &PortalUserView) -> Self {
        Self {
            grant_id: v.grant_id.clone(),
            name: v.display_name.clone(),
            username: v.username.clone().unwrap_or_default(),
            email: v.email.clone(),
            relation: v.relation.label(),
            scopes: v.scopes.as_slice().iter().map(|s| s.label()).collect(),
            scope_boxes: scope_boxes(|s| v.scopes.covers(s)),
            ends_on: v.ends_on.map(|d| d.to_string()).unwrap_or_default(),
            in_force: v.in_force,
            revoked: v.revoked_at.is_some(),
            revoked_at: v.revoked_at.map(when).unwrap_or_default(),
            registered: v.registered,
            last_signed_in: v.last_signed_in_at.map(when).unwrap_or_default(),
        }
    }
}

/// The patient's own account, as the Portal tab shows it.
struct OwnAccount {
    username: String,
    last_signed_in: String,
}

struct LinkCandidate {
    account_id: String,
    name: String,
    username: String,
    created: String,
    active: bool,
    checked: bool,
}

impl LinkCandidate {
    fn of(a: AccountSummary, selected: &str) -> Self {
        Self {
            checked: a.account_id == selected,
            account_id: a.account_id,
            name: a.display_name,
            username: a.username.unwrap_or_default(),
            created: when(a.created_at),
            active: a.active,
        }
    }
}

/// The invitation forms' fields as typed (one form per kind of recipient, one set of values).
#[derive(Debug, Clone, Default)]
struct InviteForm {
    /// `patient`, `contact`, `designated` or `account`.
    to: String,
    contact_id: String,
    name: String,
    email: String,
    account_id: String,
    relation: String,
    ends_on: String,
    message: String,
    scopes: Vec<String>,
    phi: bool,
}

impl InviteForm {
    fn from_raw(raw: &RawForm) -> Self {
        Self {
            to: raw.text("to"),
            contact_id: raw.text("contact_id"),
            name: raw.text("name"),
            email: raw.text("email"),
            account_id: raw.text("account_id"),
            relation: raw.text("relation"),
            ends_on: raw.text("ends_on"),
            message: raw.text("message"),
            scopes: raw.ticked_with_prefix("scope_"),
            phi: raw.checked("phi_warning_acknowledged"),
        }
    }

    fn input(&self) -> Option<InviteInput> {
        let to = match self.to.as_str() {
            "patient" => InviteTo::Patient,
            "contact" => InviteTo::Contact { contact_id: self.contact_id.trim().to_owned() },
            "designated" => InviteTo::Designated { name: self.name.clone(), email: self.email.clone() },
            "account" => InviteTo::ExistingAccount { account_id: self.account_id.trim().to_owned() },
            _ => return None,
        };
        let patient = matches!(to, InviteTo::Patient);
        Some(InviteInput {
            to,
            relation: super::forms::opt(&self.relation),
            // The patient's own invitation covers everything; the others say what they cover.
            scopes: if patient { None } else { Some(self.scopes.clone()) },
            ends_on: super::forms::opt(&self.ends_on),
            message: super::forms::opt(&self.message),
            intake_form_ids: vec![],
            phi_warning_acknowledged: self.phi,
        })
    }

    fn scope_boxes(&self, fresh: bool) -> Vec<ScopeBox> {
        scope_boxes(|s| fresh || self.scopes.iter().any(|t| t == s.as_str()))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
struct PortalQuery {
    #[serde(default)]
    link_email: Option<String>,
    #[serde(default)]
    check_username: Option<String>,
    /// Preselects a contact in "Invite a contact" (the Contacts section's link).
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    access_saved: Option<String>,
    /// `invitation` or `reset`.
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    credentials_set: Option<String>,
    #[serde(default)]
    grant_saved: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "facesheet_portal.html")]
struct PortalPage {
    chrome: Chrome,
    p: PatientView,
    portal: PortalBadge,
    may_view_audit: bool,
    may_edit: bool,
    portal_on: bool,
    access_enabled: bool,
    access_options: Vec<SelectOption>,
    access_errors: FormErrors,
    privacy_warning: &'static str,
    phi_warning: &'static str,
    own: Option<OwnAccount>,
    contact_options: Vec<SelectOption>,
    contact_relations: Vec<SelectOption>,
    other_relations: Vec<SelectOption>,
    invite: InviteForm,
    invite_scopes: Vec<ScopeBox>,
    invite_errors: FormErrors,
    link_email: String,
    link_errors: FormErrors,
    link_results: Option<Vec<LinkCandidate>>,
    username_check: String,
    username_available: Option<bool>,
    username_errors: FormErrors,
    credentials_username: String,
    credentials_errors: FormErrors,
    users: Vec<PortalUserRow>,
    grant_error_id: String,
    grant_errors: FormErrors,
    grant_scopes: Vec<String>,
    grant_ends_on: String,
    notice: PortalQuery,
}

impl PortalPage {
    fn open_form(&self, kind: &str) -> bool {
        self.invite.to == kind && !self.invite_errors.is_empty()
    }

    fn phi_ticked(&self, kind: &str) -> bool {
        self.invite.phi && self.invite.to == kind
    }

    /// The id prefix of the invitation form that was sent (the error summary links into it).
    fn invite_prefix(&self) -> &'static str {
        match self.invite.to.as_str() {
            "contact" => "contact-",
            "designated" => "designated-",
            "account" => "account-",
            _ => "invite-",
        }
    }

    fn has_errors(&self) -> bool {
        !(self.access_errors.is_empty()
            && self.invite_errors.is_empty()
            && self.credentials_errors.is_empty()
            && self.grant_errors.is_empty())
    }

    /// The invitation to the patient is a reset when their account already has a password
    /// (a username and a password are always set together).
    fn patient_link_is_reset(&self) -> bool {
        self.own.as_ref().is_some_and(|o| !o.username.is_empty())
    }

    fn scope_ticked(&self, grant_id: &str, b: &ScopeBox) -> bool {
        if self.grant_error_id == grant_id { self.grant_scopes.iter().any(|s| s == b.value) } else { b.checked }
    }

    fn grant_end_value<'a>(&'a self, grant_id: &str, stored: &'a str) -> &'a str {
        if self.grant_error_id == grant_id { &self.grant_ends_on } else { stored }
    }
}

fn relation_options(selected: &str, for_contact: bool) -> Vec<SelectOption> {
    let mut v: Vec<SelectOption> = [Relation::Guardian, Relation::Guarantor, Relation::Other]
        .into_iter()
        .map(|r| SelectOption::new(r.as_str(), r.label(), selected))
        .collect();
    if !for_contact && selected.is_empty() {
        for o in &mut v {
            o.selected = o.value == Relation::Other.as_str();
        }
    }
    v
}

async fn build(
    state: &AppState,
    s: &SignedInStaff,
    f: Facesheet,
    q: PortalQuery,
    invite: InviteForm,
) -> Result<PortalPage, Response> {
    let pid = f.patient.id.clone();
    let status = portal_access::portal_status(state.db(), &s.actor, &pid).await.map_err(|e| problem_page(e.into()))?;
    let users = portal_grants::portal_users(state.db(), &s.actor, &pid).await.map_err(|e| problem_page(e.into()))?;
    let may_edit = s.staff.has(Permission::EditPatients);
    let portal_on = portal_practice::settings::portal_enabled(state.db()).await.unwrap_or(false);
    let own = users.iter().find(|u| u.relation == Relation::Myself && u.revoked_at.is_none()).map(|u| OwnAccount {
        username: u.username.clone().unwrap_or_default(),
        last_signed_in: u.last_signed_in_at.map(when).unwrap_or_default(),
    });
    let fresh = invite.to.is_empty();
    let selected_contact = if fresh { q.contact.clone().unwrap_or_default() } else { invite.contact_id.clone() };
    let contact_options = f
        .contacts
        .iter()
        .map(|c| {
            let kind = ContactKind::parse(&c.kind).map(ContactKind::label).unwrap_or("");
            let label = match &c.email {
                Some(e) => format!("{} {} ({kind}) – {e}", c.first_name, c.last_name),
                None => format!("{} {} ({kind}) – no e-mail address on file", c.first_name, c.last_name),
            };
            let mut o = SelectOption::new(c.id.clone(), label, &selected_contact);
            o.disabled = c.email.is_none();
            o
        })
        .collect();
    let access_level = status.access_level;
    let mut link_errors = FormErrors::none();
    let mut link_results = None;
    let link_email = q.link_email.clone().unwrap_or_default();
    if may_edit && !link_email.trim().is_empty() {
        match portal_grants::accounts_by_email(state.db(), &s.actor, &link_email).await {
            Ok(found) => {
                link_results = Some(found.into_iter().map(|a| LinkCandidate::of(a, &invite.account_id)).collect())
            }
            Err(PortalError::Invalid(e)) => {
                link_errors = FormErrors::single("link_email", e.0.first().map(|f| f.detail.as_str()).unwrap_or(""))
            }
            Err(e) => return Err(problem_page(e.into())),
        }
    }
    let username_check = q.check_username.clone().unwrap_or_default();
    let mut username_errors = FormErrors::none();
    let mut username_available = None;
    if may_edit && !username_check.trim().is_empty() {
        match portal_grants::username_available(state.db(), &s.actor, &username_check).await {
            Ok(free) => username_available = Some(free),
            Err(PortalError::Invalid(e)) => {
                username_errors =
                    FormErrors::single("check_username", e.0.first().map(|f| f.detail.as_str()).unwrap_or(""))
            }
            Err(e) => return Err(problem_page(e.into())),
        }
    }
    Ok(PortalPage {
        chrome: Chrome::for_staff(state, s, "/patients").await,
        p: patient_view(&f),
        portal: PortalBadge::of(&status.status),
        may_view_audit: s.staff.has(Permission::ViewAuditLog),
        may_edit,
        portal_on,
        access_enabled: access_level.is_enabled(),
        access_options: [PortalAccessLevel::NoAccess, PortalAccessLevel::CanAccess]
            .into_iter()
            .map(|l| SelectOption::new(l.as_str(), access_label(l), access_level.as_str()))
            .collect(),
        access_errors: FormErrors::none(),
        privacy_warning: status.email_privacy_warning,
        phi_warning: GRANT_PHI_WARNING,
        own,
        contact_options,
        contact_relations: relation_options(if invite.to == "contact" { &invite.relation } else { "" }, true),
        other_relations: relation_options(
            if matches!(invite.to.as_str(), "designated" | "account") { &invite.relation } else { "" },
            false,
        ),
        invite_scopes: invite.scope_boxes(fresh),
        invite,
        invite_errors: FormErrors::none(),
        link_email,
        link_errors,
        link_results,
        credentials_username: username_check.clone(),
        username_check,
        username_available,
        username_errors,
        credentials_errors: FormErrors::none(),
        users: users.iter().map(PortalUserRow::of).collect(),
        grant_error_id: String::new(),
        grant_errors: FormErrors::none(),
        grant_scopes: vec![],
        grant_ends_on: String::new(),
        notice: q,
    })
}

/// The access level's words on this page (the brief's wording, in sentence case).
fn access_label(l: PortalAccessLevel) -> &'static str {
    match l {
        PortalAccessLevel::NoAccess => "No access to portal",
        PortalAccessLevel::CanAccess => "Patient can access portal",
    }
}

async fn page(
    state: &AppState,
    s: &SignedInStaff,
    id: &str,
    q: PortalQuery,
    invite: InviteForm,
) -> Result<PortalPage, Response> {
    let f = load(state, s, id).await?;
    build(state, s, f, q, invite).await
}

async fn portal_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<PortalQuery>,
) -> Response {
    match page(&state, &s, &id, q, InviteForm::default()).await {
        Ok(p) => render_status(StatusCode::OK, &p),
        Err(r) => r,
    }
}

fn back(id: &str, notice: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/patients/{id}/portal?{notice}#{anchor}")).into_response()
}

/// A refused action shown on the page: field errors (422) or a rule's refusal worded as a
/// sentence beside `general` (409). Anything else is an error page.
fn portal_refusal(e: PortalError, general: &str) -> Result<(FormErrors, StatusCode), Response> {
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match e {
        PortalError::Invalid(f) => {
            let mut errors = FormErrors::none();
            for fe in f.0 {
                // Relation refusals name their own subject ("only the patient can hold ...").
                if fe.field == "relation" && !fe.detail.starts_with("must") && !fe.detail.starts_with("is ") {
                    errors.add_sentence(&fe.field, &fe.detail);
                } else {
                    errors.add(&fe.field, &fe.detail);
                }
            }
            Ok((errors, unprocessable))
        }
        PortalError::Invite(r @ InviteRefused::PhiWarningNotAcknowledged) => {
            Ok((FormErrors::with_sentence("phi_warning_acknowledged", r), unprocessable))
        }
        PortalError::Invite(r @ (InviteRefused::SelfIsForThePatient | InviteRefused::RelationNeeded)) => {
            Ok((FormErrors::with_sentence("relation", r), unprocessable))
        }
        PortalError::Invite(r) => Ok((FormErrors::with_sentence(general, r), StatusCode::CONFLICT)),
        PortalError::Enable(r) => Ok((FormErrors::with_sentence(general, r), StatusCode::CONFLICT)),
        PortalError::Conflict(c) => Ok((FormErrors::with_sentence(general, c), StatusCode::CONFLICT)),
        other => Err(problem_page(other.into())),
    }
}

// ---------------------------------------------------------------- access level

#[derive(Debug, Clone, Default, Deserialize)]
struct AccessForm {
    #[serde(default)]
    access_level: String,
}

async fn set_access(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<AccessForm>,
) -> Response {
    let (errors, status) = match PortalAccessLevel::parse(&form.access_level) {
        Err(e) => (FormErrors::single("access_level", e), StatusCode::UNPROCESSABLE_ENTITY),
        Ok(level) => match portal_access::set_access_level(state.db(), &s.actor, &id, level).await {
            Ok(p) => return back(&p.patient_id, "access_saved=1", "access"),
            Err(PracticeError::Refused(why)) => (FormErrors::with_sentence("access_level", why), StatusCode::CONFLICT),
            Err(PracticeError::Invalid(f)) => (FormErrors::from_fields(f), StatusCode::UNPROCESSABLE_ENTITY),
            Err(e) => return problem_page(e.into()),
        },
    };
    match page(&state, &s, &id, PortalQuery::default(), InviteForm::default()).await {
        Ok(mut p) => {
            p.access_errors = errors;
            for o in &mut p.access_options {
                o.selected = o.value == form.access_level.trim();
            }
            render_status(status, &p)
        }
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- invitations

async fn invite(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(raw): PageForm<std::collections::HashMap<String, String>>,
) -> Response {
    let form = InviteForm::from_raw(&RawForm(raw));
    let Some(input) = form.input() else {
        return error_page(StatusCode::BAD_REQUEST, super::UNREADABLE_FORM);
    };
    let (errors, status) = match invitations::invite(state.db(), &s.actor, &id, input).await {
        Ok(sent) => {
            let what = if sent.purpose == portal_core::events::LinkPurpose::Reset { "reset" } else { "invitation" };
            let anchor = if form.to == "patient" { "invite-patient" } else { "portal-users" };
            return back(&id, &format!("sent={what}"), anchor);
        }
        Err(e) => match portal_refusal(e, "to") {
            Ok(x) => x,
            Err(r) => return r,
        },
    };
    // The lookup that listed the account is shown again, so that it can be chosen again.
    let q = PortalQuery {
        link_email: if form.to == "account" { Some(form.email.clone()) } else { None },
        ..PortalQuery::default()
    };
    match page(&state, &s, &id, q, form).await {
        Ok(mut p) => {
            p.invite_errors = errors;
            render_status(status, &p)
        }
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- credentials at the desk

#[derive(Debug, Clone, Default, Deserialize)]
struct CredentialsForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn set_credentials(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path(id): Path<String>,
    PageForm(form): PageForm<CredentialsForm>,
) -> Response {
    let username = super::forms::opt(&form.username);
    let result = invitations::set_credentials_in_person(
        state.db(),
        &state.app().hasher,
        &s.actor,
        &id,
        username.as_deref(),
        &form.password,
    )
    .await;
    let (errors, status) = match result {
        Ok(_) => return back(&id, "credentials_set=1", "credentials"),
        Err(e) => match portal_refusal(e, "credentials") {
            Ok(x) => x,
            Err(r) => return r,
        },
    };
    match page(&state, &s, &id, PortalQuery::default(), InviteForm::default()).await {
        Ok(mut p) => {
            p.credentials_errors = errors;
            p.credentials_username = form.username.trim().to_owned();
            render_status(status, &p)
        }
        Err(r) => r,
    }
}

// ---------------------------------------------------------------- grants

async fn update_grant(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path((id, grant_id)): Path<(String, String)>,
    PageForm(raw): PageForm<std::collections::HashMap<String, String>>,
) -> Response {
    let raw = RawForm(raw);
    let scopes = raw.ticked_with_prefix("scope_");
    let ends_on = raw.text("ends_on");
    let change = GrantChange { scopes: Some(scopes.clone()), ends_on: Some(ends_on.clone()) };
    let (errors, status) = match portal_grants::update_grant(state.db(), &s.actor, &id, &grant_id, change).await {
        Ok(_) => return back(&id, "grant_saved=1", "portal-users"),
        Err(e) => match portal_refusal(e, "grant") {
            Ok(x) => x,
            Err(r) => return r,
        },
    };
    match page(&state, &s, &id, PortalQuery::default(), InviteForm::default()).await {
        Ok(mut p) => {
            p.grant_errors = errors;
            p.grant_error_id = grant_id;
            p.grant_scopes = scopes;
            p.grant_ends_on = ends_on;
            render_status(status, &p)
        }
        Err(r) => r,
    }
}

async fn revoke_grant(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    Path((id, grant_id)): Path<(String, String)>,
) -> Response {
    match portal_grants::revoke_grant(state.db(), &s.actor, &id, &grant_id).await {
        Ok(()) => back(&id, "revoked=1", "portal-users"),
        Err(e) => problem_page(e.into()),
    }
}
