//! The single-use links sent by e-mail (invitation, reset, registration; e-mail confirmation is
//! in `email_change`): made here, stored as the SHA-256 of the token only, announced to
//! portal-notify with an `AccountLinkIssued` event, and completed with [`accept_link`], where
//! the holder chooses a username (if the account has none yet) and a password.

use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_core::portal_accounts::{GrantScopes, link_lifetime, parse_link_purpose};
use portal_core::staff::NewPassword;
use portal_core::time_util::{now_utc, rfc3339};
use portal_core::username::Username;
use portal_core::{Actor, FieldErrors, Principal};
use portal_store::audit::{self, AuditEntry};
use portal_store::portal_accounts::{self as accounts, AccountRow, Credentials, NewAccount, NewGrant, TokenRow};
use portal_store::{Db, DbConn, ids::new_id, org, outbox, portal_access, sessions as session_store};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::PrimitiveDateTime;

use crate::portal_error::{LinkProblem, PortalError};
use crate::portal_sessions::{PORTAL, portal_account_key};
use crate::{PasswordHasher, tokens};

/// What a link carries besides its purpose and addressee (the `data` JSON of `account_tokens`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// E-mail change: the address being confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
    /// Seed 003's intake-forms message, shown in the portal (never in the e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Seed 003's selected intake forms; delivered with the documents capability.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intake_form_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_job: Option<String>,
}

/// A link to write: its row (with the token's hash) and its event (with the raw token, which the
/// worker redacts after delivery).
pub(crate) struct IssuedLink {
    pub row: TokenRow,
    pub event: DomainEvent,
}

pub(crate) struct NewLink<'a> {
    pub purpose: LinkPurpose,
    pub account_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub to: &'a str,
    pub data: &'a LinkData,
    /// The staff member who caused it; `None` for anonymous requests and portal users.
    pub created_by: Option<&'a str>,
}

pub(crate) fn make_link(l: NewLink<'_>, now: PrimitiveDateTime) -> IssuedLink {
    let (raw, hash) = tokens::new_token();
    let expires_at = now + link_lifetime(l.purpose);
    let row = TokenRow {
        token_hash: hash,
        purpose: l.purpose.as_str().to_owned(),
        account_id: l.account_id.map(str::to_owned),
        patient_id: l.patient_id.map(str::to_owned),
        email: l.to.to_owned(),
        data: serde_json::to_string(l.data).unwrap_or_else(|_| "{}".into()),
        created_by: l.created_by.map(str::to_owned),
        created_at: now,
        expires_at,
        used_at: None,
    };
    let event = DomainEvent::AccountLinkIssued {
        purpose: l.purpose,
        account_id: l.account_id.map(str::to_owned),
        patient_id: l.patient_id.map(str::to_owned),
        to: l.to.to_owned(),
        token: raw,
        expires_at: rfc3339(expires_at),
        // The staff message stays in the portal: an e-mail carries no PHI (SECURITY.md).
        message: None,
    };
    IssuedLink { row, event }
}

/// The purposes whose links a newer link of the same account (or patient) replaces.
pub(crate) const ACCOUNT_LINK_PURPOSES: [&str; 3] = ["invitation", "reset", "registration"];

/// Writes links and their events; call inside the use case's transaction.
pub(crate) async fn write_links(tx: &mut DbConn, links: Vec<IssuedLink>) -> Result<(), PortalError> {
    let rows: Vec<TokenRow> = links.iter().map(|l| l.row.clone()).collect();
    accounts::insert_tokens(tx, &rows).await?;
    for l in &links {
        outbox::enqueue_event(tx, &l.event).await?;
    }
    Ok(())
}

/// An audit entry for something an anonymous visitor caused.
pub(crate) fn anonymous_entry(ip: Option<String>, action: AuditAction) -> AuditEntry {
    let mut e = AuditEntry::by(&Actor::new(Principal::System, ip), action);
    e.actor_kind = "anonymous";
    e.actor_name = "anonymous".into();
    e
}

/// An audit entry for something a portal user did.
pub(crate) fn portal_user_entry(
    account_id: &str,
    username: Option<&str>,
    ip: Option<String>,
    action: AuditAction,
) -> AuditEntry {
    let mut e = AuditEntry::by(&Actor::new(Principal::System, ip), action);
    e.actor_kind = PORTAL;
    e.actor_id = Some(account_id.to_owned());
    e.actor_name = username.unwrap_or("portal user").to_owned();
    e.target("portal_account", account_id)
}

/// The portal must be on for anything a portal user or an invitation does (seed 000).
pub(crate) async fn portal_is_on(conn: &mut DbConn) -> Result<bool, PortalError> {
    Ok(org::organization(conn).await?.use_portal)
}

/// What the page behind a link needs to know before showing its form.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub purpose: LinkPurpose,
    /// The form must ask for a username (the account has none yet).
    pub needs_username: bool,
    pub expires_at: PrimitiveDateTime,
}

async fn usable_link(conn: &mut DbConn, raw_token: &str) -> Result<(TokenRow, LinkPurpose), PortalError> {
    let unusable = |problem| PortalError::LinkNotUsable { problem };
    if !tokens::looks_like_token(raw_token) {
        return Err(unusable(LinkProblem::Unknown));
    }
    let row =
        accounts::find_token(conn, &tokens::hash_token(raw_token)).await?.ok_or(unusable(LinkProblem::Unknown))?;
    let purpose = parse_link_purpose(&row.purpose).ok_or(unusable(LinkProblem::Unknown))?;
    if row.used_at.is_some() {
        return Err(unusable(LinkProblem::Used));
    }
    if row.expires_at <= now_utc() {
        return Err(unusable(LinkProblem::Expired));
    }
    Ok((row, purpose))
}

fn is_account_link(p: LinkPurpose) -> bool {
    matches!(p, LinkPurpose::Invitation | LinkPurpose::Reset | LinkPurpose::Registration)
}

/// Checks a link when its page opens (GET): the page shows the form, or the "expired" page that
/// leads to "I forgot my password". Nothing is written.
pub async fn inspect_link(db: &Db, raw_token: &str) -> Result<LinkView, PortalError> {
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    let (row, purpose) = usable_link(&mut conn, raw_token).await?;
    if !is_account_link(purpose) {
        return Err(PortalError::LinkNotUsable { problem: LinkProblem::Unknown });
    }
    let needs_username = match &row.account_id {
        Some(id) => accounts::find_account(&mut conn, id).await?.is_none_or(|a| a.username.is_none()),
        None => true,
    };
    Ok(LinkView { purpose, needs_username, expires_at: row.expires_at })
}

/// What the holder of an invitation, reset or registration link typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AcceptLinkInput {
    /// Required when the account has no username yet; ignored when it is the same as the one
    /// it has; refused when it differs (usernames are not changed here).
    #[serde(default)]
    pub username: Option<String>,
    pub password: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AcceptedLink {
    pub account_id: String,
    pub username: String,
    pub purpose: LinkPurpose,
    /// This completed the account's registration (`PortalRegistrationCompleted` was recorded).
    pub registration_completed: bool,
    /// Sessions of the account that were ended (a reset ends them all).
    pub sessions_ended: usize,
}

/// Completes an invitation, reset or registration link: sets the username (if the account has
/// none) and the password, uses the link up (and every other pending link of the account), and
/// on a reset ends the account's sessions and sends a notice to its address. Completing the
/// registration of an account records `PortalRegistrationCompleted`.
pub async fn accept_link(
    db: &Db,
    hasher: &PasswordHasher,
    raw_token: &str,
    input: AcceptLinkInput,
    ip: Option<String>,
) -> Result<AcceptedLink, PortalError> {
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    let (row, purpose) = usable_link(&mut conn, raw_token).await?;
    if !is_account_link(purpose) {
        return Err(PortalError::LinkNotUsable { problem: LinkProblem::Unknown });
    }
    let existing = match &row.account_id {
        Some(id) => accounts::find_account(&mut conn, id).await?,
        None => None,
    };
    let mut errors = FieldErrors::new();
    let password = errors.check("password", NewPassword::parse(&input.password));
    let typed = input.username.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let current = existing.as_ref().and_then(|a| a.username.clone());
    let username: Option<Username> = match (&current, typed) {
        (Some(_), None) => None,
        (Some(have), Some(t)) => {
            if Username::parse(t).is_ok_and(|u| u.as_str() == have) {
                None
            } else {
                errors.push("username", "is already set for this account and cannot be changed here");
                None
            }
        }
        (None, None) => {
            errors.push("username", portal_core::patient::InvalidValue::Missing);
            None
        }
        (None, Some(t)) => match errors.check("username", Username::parse(t)) {
            Some(u) if accounts::username_taken(&mut conn, u.as_str()).await? => {
                errors.push("username", "is taken; choose another");
                None
            }
            other => other,
        },
    };
    drop(conn);
    errors.clone().into_result()?;
    let Some(password) = password else { return Err(errors.into()) };
    let hash = hasher.hash(&password).await.map_err(|_| PortalError::internal())?;
    let token_hash = row.token_hash.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            if !accounts::use_token(tx, &token_hash, now).await? {
                return Err(PortalError::LinkNotUsable { problem: LinkProblem::Used });
            }
            let account = resolve_account(tx, &row, now).await?;
            let had_password = account.has_password();
            let chosen = username.as_ref().map(Username::as_str);
            let credentials = Credentials {
                username: if account.username.is_none() { chosen } else { None },
                password_hash: &hash,
                must_change_password: false,
                email: Some(&row.email),
            };
            accounts::set_credentials(tx, &account.id, &credentials).await.map_err(|e| match e {
                portal_store::StoreError::Conflict { .. } => {
                    PortalError::Invalid(FieldErrors::single("username", "is taken; choose another"))
                }
                other => other.into(),
            })?;
            let final_username = account.username.clone().or(chosen.map(str::to_owned)).unwrap_or_default();
            accounts::supersede_tokens(
                tx,
                std::slice::from_ref(&account.id),
                &row.patient_id.clone().into_iter().collect::<Vec<_>>(),
                &ACCOUNT_LINK_PURPOSES,
                now,
            )
            .await?;
            let registration_completed = accounts::mark_registered(tx, &account.id, now).await?;
            if registration_completed {
                record_registration_completed(tx, &account.id, row.patient_id.as_deref()).await?;
            }
            let mut sessions_ended = 0;
            if had_password {
                sessions_ended = session_store::delete_for_user(tx, PORTAL, &account.id, None).await?;
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::PasswordChangedNotice { account_id: account.id.clone(), to: row.email.clone() },
                )
                .await?;
            }
            // A reset reopens an account that too many failed sign-ins had closed.
            if !final_username.is_empty() {
                session_store::clear_failures(tx, &portal_account_key(&final_username)).await?;
            }
            let action = if registration_completed {
                AuditAction::PortalRegistrationCompleted
            } else {
                AuditAction::PortalPasswordReset
            };
            let mut entry = portal_user_entry(&account.id, Some(&final_username), ip, action).detail(json!({
                "purpose": purpose.as_str(),
                "sessions_ended": sessions_ended,
            }));
            if let Some(p) = &row.patient_id {
                entry = entry.patient(p);
            }
            audit::append(tx, &entry).await?;
            Ok(AcceptedLink {
                account_id: account.id,
                username: final_username,
                purpose,
                registration_completed,
                sessions_ended,
            })
        })
    })
    .await
}

/// The account a link completes: the one it names, or for a link made before the patient had
/// an account (registration, a reset of a patient without one), the patient's own account,
/// created now with a "self" grant.
async fn resolve_account(tx: &mut DbConn, row: &TokenRow, now: PrimitiveDateTime) -> Result<AccountRow, PortalError> {
    let no_longer = || PortalError::LinkNotUsable { problem: LinkProblem::NoLongerValid };
    if let Some(id) = &row.account_id {
        let a = accounts::find_account_for_update(tx, id).await?.ok_or_else(no_longer)?;
        if !a.active {
            return Err(no_longer());
        }
        return Ok(a);
    }
    let patient_id = row.patient_id.as_deref().ok_or_else(no_longer)?;
    let p = portal_access::patient_for_update(tx, patient_id).await.map_err(|_| no_longer())?;
    // The link went to the address on file when it was sent; if staff changed the address or
    // disabled access since, it no longer proves anything.
    if !p.portal_usable() || p.email.as_deref() != Some(row.email.as_str()) {
        return Err(no_longer());
    }
    if let Some((_, a)) = accounts::self_accounts(tx, std::slice::from_ref(&p.id)).await?.into_iter().next() {
        if !a.active {
            return Err(no_longer());
        }
        return Ok(a);
    }
    let id = new_id();
    let new = NewAccount::invited(id.clone(), &row.email, &p.full_name(), now);
    accounts::insert_accounts(tx, std::slice::from_ref(&new)).await?;
    accounts::insert_grants(
        tx,
        &[NewGrant {
            id: new_id(),
            account_id: id.clone(),
            patient_id: p.id.clone(),
            relation: Relation::Myself.as_str().to_owned(),
            contact_id: None,
            scopes: GrantScopes::all().to_stored(),
            ends_on: None,
            created_by: None,
            created_at: now,
            updated_at: now,
        }],
    )
    .await?;
    accounts::find_account(tx, &id).await?.ok_or(PortalError::internal())
}

/// Seed 000's "Portal Registration Completed" for the patient the link concerned, or for every
/// patient the account holds a live grant for when the link named none.
pub(crate) async fn record_registration_completed(
    tx: &mut DbConn,
    account_id: &str,
    patient_id: Option<&str>,
) -> Result<(), PortalError> {
    let grants = accounts::live_grants_of_account(tx, account_id).await?;
    for g in grants.iter().filter(|g| patient_id.is_none_or(|p| p == g.patient_id)) {
        let relation = Relation::parse(&g.relation).unwrap_or(Relation::Other);
        outbox::enqueue_event(
            tx,
            &DomainEvent::PortalRegistrationCompleted {
                account_id: account_id.to_owned(),
                patient_id: g.patient_id.clone(),
                relation,
            },
        )
        .await?;
    }
    Ok(())
}
