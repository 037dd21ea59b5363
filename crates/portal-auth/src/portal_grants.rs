//! Staff's view and control of who reaches a patient through the portal (the facesheet's Portal
//! tab): the portal users of a patient, revoking a grant (it holds from the portal user's next
//! request), changing what a grant covers, and the look-ups the invitation form needs.

use portal_core::audit::AuditAction;
use portal_core::events::Relation;
use portal_core::patient::Email;
use portal_core::portal_accounts::{GrantScopes, grant_in_force, parse_grant_end};
use portal_core::staff::Permission;
use portal_core::time_util::now_utc;
use portal_core::username::Username;
use portal_core::{AccessError, Actor, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::portal_accounts::{self as accounts, AccountRow, GrantRow};
use portal_store::{Db, DbConn};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, PrimitiveDateTime};

use crate::invitations::visible_patient;
use crate::portal_error::PortalError;

/// One portal user of a patient, as the Portal tab lists them.
#[derive(Debug, Clone, Serialize)]
pub struct PortalUserView {
    pub grant_id: String,
    pub account_id: String,
    pub username: Option<String>,
    pub email: String,
    pub display_name: String,
    pub relation: Relation,
    pub scopes: GrantScopes,
    pub ends_on: Option<Date>,
    pub contact_id: Option<String>,
    /// Not revoked and not past its end date.
    pub in_force: bool,
    pub revoked_at: Option<PrimitiveDateTime>,
    /// The holder chose a password of their own.
    pub registered: bool,
    pub last_signed_in_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
}

fn view(g: GrantRow, a: AccountRow, today: Date) -> PortalUserView {
    PortalUserView {
        in_force: grant_in_force(g.revoked_at.is_some(), g.ends_on, today),
        relation: Relation::parse(&g.relation).unwrap_or(Relation::Other),
        scopes: GrantScopes::from_stored(&g.scopes),
        grant_id: g.id,
        account_id: a.id,
        username: a.username,
        email: a.email,
        display_name: a.display_name,
        ends_on: g.ends_on,
        contact_id: g.contact_id,
        revoked_at: g.revoked_at,
        registered: a.registered_at.is_some(),
        last_signed_in_at: a.last_signed_in_at,
        created_at: g.created_at,
    }
}

/// The patient's portal users, revoked grants included (the history), oldest first. Needs View
/// Patients and the patient's location; the read is audited.
pub async fn portal_users(db: &Db, actor: &Actor, patient_id: &str) -> Result<Vec<PortalUserView>, PortalError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut conn = db.read().await?;
    let patient = visible_patient(&mut conn, actor, patient_id).await?;
    let today = now_utc().date();
    let rows = accounts::grants_of_patient(&mut conn, &patient.id).await?;
    drop(conn);
    let (pid, actor2, n) = (patient.id.clone(), actor.clone(), rows.len());
    db.write(move |tx| {
        Box::pin(async move {
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::PatientViewed)
                    .patient(&pid)
                    .target("patient", &pid)
                    .detail(json!({ "part": "portal_users", "count": n })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await?;
    Ok(rows.into_iter().map(|(g, a)| view(g, a, today)).collect())
}

/// The username of the patient's own portal account (the live `self` grant's), if the account
/// has one yet: the Portal tab's "Patient's Username". Needs View Patients and the patient's
/// location. Not audited on its own: it is shown with the portal status, like it.
pub async fn own_username(db: &Db, actor: &Actor, patient_id: &str) -> Result<Option<String>, PortalError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut conn = db.read().await?;
    let patient = visible_patient(&mut conn, actor, patient_id).await?;
    let own = accounts::self_accounts(&mut conn, std::slice::from_ref(&patient.id)).await?;
    Ok(own.into_iter().next().and_then(|(_, a)| a.username))
}

async fn editable_grant(
    conn: &mut DbConn,
    actor: &Actor,
    patient_id: &str,
    grant_id: &str,
) -> Result<GrantRow, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let patient = visible_patient(conn, actor, patient_id).await?;
    Ok(accounts::find_grant(conn, &patient.id, grant_id.trim()).await?)
}

/// Revokes a grant. Nothing else ends: the holder's next request loads their grants afresh and
/// no longer reaches the patient (SECURITY.md, L3 8.3.2). Their pending links concerning this
/// patient are ended too. Needs Edit Patients; audited.
pub async fn revoke_grant(db: &Db, actor: &Actor, patient_id: &str, grant_id: &str) -> Result<(), PortalError> {
    let mut conn = db.read().await?;
    let g = editable_grant(&mut conn, actor, patient_id, grant_id).await?;
    drop(conn);
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            if !accounts::revoke_grant(tx, &g.id, actor.principal.actor_id(), now).await? {
                return Ok(());
            }
            accounts::supersede_links_for_grant(tx, &g.account_id, &g.patient_id, now).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::PortalGrantRevoked)
                    .patient(&g.patient_id)
                    .target("portal_grant", &g.id)
                    .detail(json!({ "relation": g.relation, "account_id": g.account_id })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await
}

/// A change of what a grant covers. Absent fields stay as they are; `ends_on: ""` removes the
/// end date.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GrantChange {
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub ends_on: Option<String>,
}

/// Changes a live grant's parts and end date. Needs Edit Patients; audited.
pub async fn update_grant(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    grant_id: &str,
    change: GrantChange,
) -> Result<PortalUserView, PortalError> {
    let mut conn = db.read().await?;
    let g = editable_grant(&mut conn, actor, patient_id, grant_id).await?;
    drop(conn);
    if g.revoked_at.is_some() {
        return Err(AccessError::NotFound.into());
    }
    let today = now_utc().date();
    let mut errors = FieldErrors::new();
    let scopes = match &change.scopes {
        None => Some(GrantScopes::from_stored(&g.scopes)),
        Some(s) => errors.check("scopes", GrantScopes::parse(Some(s))),
    };
    let ends_on = match change.ends_on.as_deref().map(str::trim) {
        None => Some(g.ends_on),
        Some("") => Some(None),
        Some(d) => errors.check("ends_on", parse_grant_end(d, today)).map(Some),
    };
    errors.clone().into_result()?;
    let (Some(scopes), Some(ends_on)) = (scopes, ends_on) else { return Err(errors.into()) };
    let actor = actor.clone();
    let (gid, pid) = (g.id.clone(), g.patient_id.clone());
    db.write(move |tx| {
        Box::pin(async move {
            accounts::update_grant(tx, &g.id, &g.relation, &scopes.to_stored(), ends_on).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::PortalGrantUpdated)
                    .patient(&g.patient_id)
                    .target("portal_grant", &g.id)
                    .detail(json!({ "scopes": scopes.to_stored(), "ends_on": ends_on.map(|d| d.to_string()) })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    let row = accounts::grants_of_patient(&mut conn, &pid)
        .await?
        .into_iter()
        .find(|(g, _)| g.id == gid)
        .ok_or(AccessError::NotFound)?;
    Ok(view(row.0, row.1, today))
}

/// An existing account, as "Link User by Email" offers it (no patient it reaches is shown).
#[derive(Debug, Clone, Serialize)]
pub struct AccountSummary {
    pub account_id: String,
    pub username: Option<String>,
    pub display_name: String,
    pub active: bool,
    pub created_at: PrimitiveDateTime,
}

/// Seed 003's "Link User by Email": the accounts using an address (several when a family shares
/// one). Needs Edit Patients.
pub async fn accounts_by_email(db: &Db, actor: &Actor, email: &str) -> Result<Vec<AccountSummary>, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let email = Email::parse(email).map_err(|e| FieldErrors::single("email", e))?;
    let mut conn = db.read().await?;
    Ok(accounts::accounts_by_email(&mut conn, email.as_str())
        .await?
        .into_iter()
        .map(|a| AccountSummary {
            account_id: a.id,
            username: a.username,
            display_name: a.display_name,
            active: a.active,
            created_at: a.created_at,
        })
        .collect())
}

/// Seed 002: "text will turn green if it's valid and unique". Needs Edit Patients (so that
/// anonymous visitors cannot probe usernames); a malformed username is a field error.
pub async fn username_available(db: &Db, actor: &Actor, username: &str) -> Result<bool, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let u = Username::parse(username).map_err(|e| FieldErrors::single("username", e))?;
    let mut conn = db.read().await?;
    Ok(!accounts::username_taken(&mut conn, u.as_str()).await?)
}
