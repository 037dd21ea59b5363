//! Portal users' sign-in, sessions (the `sessions` table with `user_kind = "portal"`) and
//! password change. The principal, with the grants in force, is loaded fresh on every request,
//! so a revoked grant or a patient's access disabled a moment ago no longer opens anything.

use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, Relation};
use portal_core::ids::PatientId;
use portal_core::patient::Email;
use portal_core::portal_accounts::{GrantScopes, PortalAccountId, PortalGrant, PortalPrincipal};
use portal_core::signin::{AttemptGate, gate};
use portal_core::staff::NewPassword;
use portal_core::time_util::now_utc;
use portal_core::username::Username;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit;
use portal_store::portal_accounts::{self as accounts, AccountRow};
use portal_store::sessions::{self as store, SessionRow};
use portal_store::{Db, DbConn, portal_access};
use serde::Serialize;
use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use crate::portal_error::PortalError;
use crate::portal_links::{anonymous_entry, portal_is_on, portal_user_entry, record_registration_completed};
use crate::{PasswordHasher, tokens};

/// The `user_kind` of portal sessions.
pub const PORTAL: &str = "portal";

/// Portal session lifetimes (SECURITY.md): idle 30 minutes, absolute 12 hours.
#[derive(Debug, Clone, Copy)]
pub struct PortalSessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
    /// `last_seen_at` is written at most this often, so that reading a page is not a write.
    pub touch_every: Duration,
}

impl Default for PortalSessionPolicy {
    fn default() -> Self {
        Self { idle: Duration::minutes(30), absolute: Duration::hours(12), touch_every: Duration::seconds(60) }
    }
}

/// The key under which failed sign-ins of what was typed as `username` are counted (a digest:
/// bounded, NUL-safe, and no username kept in a second table).
pub fn portal_account_key(username: &str) -> String {
    format!("portal:{}", tokens::hash_token(&username.trim().to_lowercase()))
}

/// A successful sign-in: the raw token (shown once) and who signed in.
#[derive(Debug, Clone)]
pub struct PortalSignedIn {
    pub token: String,
    pub principal: PortalPrincipal,
    pub expires_at: PrimitiveDateTime,
    /// Staff set the password at the desk: the user must choose a new one before anything else
    /// (seed 002, method 2).
    pub must_change_password: bool,
}

/// A request's portal session, resolved.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub token_hash: String,
    pub principal: PortalPrincipal,
}

fn principal_of(row: &AccountRow, grants: Vec<portal_store::portal_accounts::GrantRow>) -> Option<PortalPrincipal> {
    let username = Username::from_trusted(row.username.clone()?);
    let grants = grants
        .into_iter()
        .filter_map(|g| {
            Some(PortalGrant {
                grant_id: g.id,
                patient_id: PatientId::from_trusted(g.patient_id),
                relation: Relation::parse(&g.relation)?,
                scopes: GrantScopes::from_stored(&g.scopes),
                ends_on: g.ends_on,
            })
        })
        .collect();
    Some(PortalPrincipal {
        account_id: PortalAccountId::from_trusted(row.id.clone()),
        username,
        email: Email::from_trusted(row.email.clone()),
        must_change_password: row.must_change_password,
        grants,
    })
}

/// Loads what a portal account may reach now: `None` for an unknown or deactivated account or
/// one without a username and password.
pub async fn load_portal_principal(
    conn: &mut DbConn,
    account_id: &str,
) -> Result<Option<PortalPrincipal>, PortalError> {
    let Some(row) = accounts::find_account(conn, account_id).await? else { return Ok(None) };
    if !row.active || row.password_hash.is_none() {
        return Ok(None);
    }
    let today = now_utc().date();
    let grants = accounts::grants_in_force(conn, account_id, today).await?;
    Ok(principal_of(&row, grants))
}

/// Signs a portal user in by username and password (the page, and `POST /api/v1/portal/sessions`).
///
/// Unknown username, wrong password, an account without a password yet and a deactivated one
/// give the same error after the same work (a full argon2 verification), and every attempt is
/// counted against the typed username, as for staff. The first sign-in turns the status of the
/// account's patients green.
pub async fn sign_in_portal(
    db: &Db,
    hasher: &PasswordHasher,
    policy: &PortalSessionPolicy,
    username: &str,
    password: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<PortalSignedIn, PortalError> {
    let account_key = portal_account_key(username);
    let now = now_utc();
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    if let Some((failures, last)) = store::failures(&mut conn, &account_key).await? {
        match gate(failures) {
            AttemptGate::Open => {}
            AttemptGate::Delay(d) => {
                let wait = (last + d) - now;
                if wait.is_positive() {
                    return Err(PortalError::Throttled { retry_after_secs: wait.whole_seconds().max(1) as u64 });
                }
            }
            AttemptGate::Locked => return Err(PortalError::Throttled { retry_after_secs: 3600 }),
        }
    }
    let row = match Username::parse(username) {
        Ok(u) => accounts::find_by_username(&mut conn, u.as_str()).await?,
        Err(_) => None,
    };
    let usable = row.as_ref().filter(|r| r.active);
    let ok = hasher.verify(usable.and_then(|r| r.password_hash.clone()), password).await;
    let principal = match (ok, usable) {
        (true, Some(r)) => load_portal_principal(&mut conn, &r.id).await?,
        _ => None,
    };
    drop(conn);
    let Some(principal) = principal else {
        let known_id = row.map(|r| r.id);
        db.write(move |tx| {
            Box::pin(async move {
                store::record_failure(tx, &account_key, now).await?;
                let mut entry = anonymous_entry(ip, AuditAction::SignInFailed).detail(json!({ "kind": PORTAL }));
                if let Some(id) = known_id {
                    entry = entry.target("portal_account", &id);
                }
                audit::append(tx, &entry).await?;
                Ok::<_, PortalError>(())
            })
        })
        .await?;
        return Err(PortalError::BadCredentials);
    };
    let (token, token_hash) = tokens::new_token();
    let session = SessionRow {
        token_hash,
        user_kind: PORTAL.into(),
        user_id: principal.account_id.to_string(),
        created_at: now,
        last_seen_at: now,
        absolute_expires_at: now + policy.absolute,
        ip: ip.clone(),
        user_agent: user_agent.map(|u| u.chars().take(200).collect()),
    };
    let expires_at = session.absolute_expires_at;
    let account_id = principal.account_id.to_string();
    let name = principal.username.to_string();
    db.write(move |tx| {
        Box::pin(async move {
            store::clear_failures(tx, &account_key).await?;
            store::insert(tx, &session).await?;
            accounts::record_sign_in(tx, &account_id, now).await?;
            portal_access::mark_signed_in(tx, &account_id, now, now.date()).await?;
            audit::append(
                tx,
                &portal_user_entry(&account_id, Some(&name), ip, AuditAction::SignInSucceeded)
                    .detail(json!({ "kind": PORTAL })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await?;
    let must_change_password = principal.must_change_password;
    Ok(PortalSignedIn { token, principal, expires_at, must_change_password })
}

/// Resolves a session token to its portal user, enforcing the idle and absolute timeouts and
/// loading the grants in force now. `None` for anything that is not a live portal session, and
/// for every session while the portal is turned off.
pub async fn authenticate_portal(
    db: &Db,
    policy: &PortalSessionPolicy,
    raw_token: &str,
) -> Result<Option<PortalSession>, PortalError> {
    if !tokens::looks_like_token(raw_token) {
        return Ok(None);
    }
    let token_hash = tokens::hash_token(raw_token);
    let mut conn = db.read().await?;
    let Some(s) = store::find(&mut conn, &token_hash).await? else { return Ok(None) };
    if s.user_kind != PORTAL {
        return Ok(None);
    }
    let now = now_utc();
    if s.absolute_expires_at <= now || s.last_seen_at + policy.idle <= now {
        drop(conn);
        let h = token_hash.clone();
        // Best effort: expired rows are also removed by the periodic purge.
        let _ = db.write(move |tx| Box::pin(async move { store::delete(tx, &h).await.map(|_| ()) })).await;
        return Ok(None);
    }
    if !portal_is_on(&mut conn).await? {
        return Ok(None);
    }
    let Some(principal) = load_portal_principal(&mut conn, &s.user_id).await? else { return Ok(None) };
    if now - s.last_seen_at >= policy.touch_every {
        drop(conn);
        store::touch(&mut db.write_conn().await?, &token_hash, now).await?;
    }
    Ok(Some(PortalSession { token_hash, principal }))
}

/// Ends one portal session.
pub async fn sign_out_portal(db: &Db, session: &PortalSession, ip: Option<String>) -> Result<(), PortalError> {
    let h = session.token_hash.clone();
    let id = session.principal.account_id.to_string();
    let name = session.principal.username.to_string();
    db.write(move |tx| {
        Box::pin(async move {
            if store::delete(tx, &h).await? {
                audit::append(tx, &portal_user_entry(&id, Some(&name), ip, AuditAction::SignOut)).await?;
            }
            Ok::<_, PortalError>(())
        })
    })
    .await
}

/// Changes the signed-in portal user's password after checking the current one (also how a
/// temporary password set at the desk is replaced), ends the account's other sessions and sends
/// a notice to its address. Choosing one's own password for the first time completes the
/// registration of an account set up at the desk.
pub async fn change_portal_password(
    db: &Db,
    hasher: &PasswordHasher,
    session: &PortalSession,
    current: &str,
    new: &str,
    ip: Option<String>,
) -> Result<(), PortalError> {
    let p = &session.principal;
    let mut errors = FieldErrors::new();
    let new = errors.check("new_password", NewPassword::parse(new));
    let mut conn = db.read().await?;
    let row = accounts::find_account(&mut conn, p.account_id.as_str()).await?.ok_or(AccessError::Unauthenticated)?;
    drop(conn);
    if !hasher.verify(row.password_hash.clone(), current).await {
        errors.push("current_password", "is not your current password");
    }
    if new.as_ref().is_some_and(|n| n.expose() == current) {
        errors.push("new_password", "must differ from the current password");
    }
    errors.clone().into_result()?;
    let Some(new) = new else { return Err(errors.into()) };
    let hash = hasher.hash(&new).await.map_err(|_| PortalError::internal())?;
    let keep = session.token_hash.clone();
    let id = p.account_id.to_string();
    let name = p.username.to_string();
    let to = row.email.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            accounts::set_credentials(
                tx,
                &id,
                &accounts::Credentials {
                    username: None,
                    password_hash: &hash,
                    must_change_password: false,
                    email: None,
                },
            )
            .await?;
            let ended = store::delete_for_user(tx, PORTAL, &id, Some(&keep)).await?;
            portal_store::outbox::enqueue_event(tx, &DomainEvent::PasswordChangedNotice { account_id: id.clone(), to })
                .await?;
            let registered = accounts::mark_registered(tx, &id, now).await?;
            if registered {
                record_registration_completed(tx, &id, None).await?;
            }
            audit::append(
                tx,
                &portal_user_entry(&id, Some(&name), ip, AuditAction::PasswordChanged)
                    .detail(json!({ "other_sessions_ended": ended, "registration_completed": registered })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await
}

/// Removes portal sessions past their lifetimes; run periodically beside the staff purge.
pub async fn purge_expired_portal_sessions(db: &Db, policy: &PortalSessionPolicy) -> Result<usize, PortalError> {
    let now = now_utc();
    let mut conn = db.write_conn().await?;
    Ok(portal_store::sessions::purge_expired(&mut conn, PORTAL, now, now - policy.idle).await?)
}

/// One patient a portal user can switch to after signing in.
#[derive(Debug, Clone, Serialize)]
pub struct PortalPatient {
    pub patient_id: String,
    pub first_name: String,
    pub last_name: String,
    pub relation: Relation,
    pub scopes: GrantScopes,
}

/// The patients the signed-in user may switch between (seed 003: one account for every patient
/// they were given access to), in the order the grants were made.
pub async fn my_patients(db: &Db, principal: &PortalPrincipal) -> Result<Vec<PortalPatient>, PortalError> {
    let ids: Vec<String> = principal.patient_ids().map(|p| p.to_string()).collect();
    let mut conn = db.read().await?;
    let rows = portal_access::patients(&mut conn, &ids).await?;
    Ok(principal
        .grants
        .iter()
        .filter_map(|g| {
            let r = rows.iter().find(|r| r.id == g.patient_id.as_str())?;
            Some(PortalPatient {
                patient_id: r.id.clone(),
                first_name: r.first_name.clone(),
                last_name: r.last_name.clone(),
                relation: g.relation,
                scopes: g.scopes.clone(),
            })
        })
        .collect())
}

/// The opaque id under which a session is listed and ended: a SHA-256 of a fixed label and the
/// stored token hash, 128 bits of it in hex. It is neither the token nor a part of its stored
/// hash (nothing about either can be learned from it), and it is only ever looked up among the
/// caller's own sessions, so another account's id opens nothing.
pub fn portal_session_id(token_hash: &str) -> String {
    let digest = tokens::hash_token(&format!("portal-session-id:{token_hash}"));
    digest[..32].to_owned()
}

/// One of the signed-in user's sessions, as the account page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PortalSessionView {
    pub id: String,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

/// The live sessions of the signed-in user's account, newest first (expired ones are left out
/// even before the purge removes them).
pub async fn my_sessions(
    db: &Db,
    policy: &PortalSessionPolicy,
    session: &PortalSession,
) -> Result<Vec<PortalSessionView>, PortalError> {
    let mut conn = db.read().await?;
    let rows = store::list_for_user(&mut conn, PORTAL, session.principal.account_id.as_str()).await?;
    let now = now_utc();
    Ok(rows
        .into_iter()
        .filter(|s| s.absolute_expires_at > now && s.last_seen_at + policy.idle > now)
        .map(|s| PortalSessionView {
            id: portal_session_id(&s.token_hash),
            current: s.token_hash == session.token_hash,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect())
}

/// Ends one of the signed-in user's own sessions, named by its [`portal_session_id`]. An id
/// that names none of the account's sessions answers `NotFound`, whoever it belongs to. Ending
/// the current session is signing out. Audited.
pub async fn end_my_session(
    db: &Db,
    session: &PortalSession,
    session_id: &str,
    ip: Option<String>,
) -> Result<(), PortalError> {
    let id = session.principal.account_id.to_string();
    let name = session.principal.username.to_string();
    let wanted = session_id.trim().to_ascii_lowercase();
    db.write(move |tx| {
        Box::pin(async move {
            let rows = store::list_for_user(tx, PORTAL, &id).await?;
            let Some(row) = rows.into_iter().find(|s| portal_session_id(&s.token_hash) == wanted) else {
                return Err(AccessError::NotFound.into());
            };
            store::delete(tx, &row.token_hash).await?;
            audit::append(
                tx,
                &portal_user_entry(&id, Some(&name), ip, AuditAction::SignOut)
                    .detail(json!({ "kind": PORTAL, "ended_by": "account_page" })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await
}

/// "Sign out everywhere else": ends every session of the account but the current one. Audited;
/// returns how many ended.
pub async fn end_my_other_sessions(db: &Db, session: &PortalSession, ip: Option<String>) -> Result<usize, PortalError> {
    let id = session.principal.account_id.to_string();
    let name = session.principal.username.to_string();
    let keep = session.token_hash.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let ended = store::delete_for_user(tx, PORTAL, &id, Some(&keep)).await?;
            audit::append(
                tx,
                &portal_user_entry(&id, Some(&name), ip, AuditAction::SignOut)
                    .detail(json!({ "kind": PORTAL, "other_sessions_ended": ended })),
            )
            .await?;
            Ok::<_, PortalError>(ended)
        })
    })
    .await
}
