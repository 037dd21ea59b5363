//! Staff sign-in, server-side sessions and their timeouts (HIPAA automatic logoff).

use portal_core::audit::AuditAction;
use portal_core::ids::{LocationId, StaffId};
use portal_core::signin::{AttemptGate, gate};
use portal_core::staff::{NewPassword, StaffRole};
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, FieldErrors, Principal, StaffPrincipal};
use portal_store::audit::{self, AuditEntry};
use portal_store::sessions::{self as store, SessionRow};
use portal_store::{Db, staff as staff_store};
use serde_json::json;
use time::Duration;

use crate::{AuthError, PasswordHasher, tokens};

/// Session lifetimes (SECURITY.md): idle 15 minutes for staff, absolute 12 hours.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub staff_idle: Duration,
    pub absolute: Duration,
    /// `last_seen_at` is written at most this often, so that reading a page is not a write.
    pub touch_every: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self { staff_idle: Duration::minutes(15), absolute: Duration::hours(12), touch_every: Duration::seconds(60) }
    }
}

pub const STAFF: &str = "staff";

/// A successful sign-in: the raw token (shown to the client once) and who signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub staff: StaffPrincipal,
    pub expires_at: time::PrimitiveDateTime,
}

/// A request's session, resolved.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub staff: StaffPrincipal,
}

/// Loads what a staff user may do, fresh from the database, so that a permission removed a
/// moment ago no longer applies.
pub async fn load_staff_principal(
    conn: &mut portal_store::DbConn,
    staff_id: &str,
) -> Result<Option<StaffPrincipal>, AuthError> {
    let row = match staff_store::find(conn, staff_id).await {
        Ok(r) => r,
        Err(portal_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let locations = staff_store::locations_of(conn, staff_id).await?;
    staff_principal(&row, locations)
}

/// What the staff row and its locations allow; `None` for a deactivated account.
fn staff_principal(row: &staff_store::StaffRow, locations: Vec<String>) -> Result<Option<StaffPrincipal>, AuthError> {
    if !row.active {
        return Ok(None);
    }
    let role = StaffRole::parse(&row.role)
        .map_err(|_| AuthError::Store(portal_store::StoreError::Corrupt(format!("role {}", row.role))))?;
    Ok(Some(StaffPrincipal {
        id: StaffId::from_trusted(row.id.clone()),
        name: row.name.clone(),
        role,
        portal: row.portal_permissions(),
        locations: locations.into_iter().map(LocationId::from_trusted).collect(),
    }))
}

/// The key under which failed sign-ins of what was typed as `email` are counted: a digest, so
/// that it is bounded in size, safe whatever bytes arrive (PostgreSQL refuses a NUL in text),
/// and no e-mail address is kept in a second table.
pub fn staff_account_key(email: &str) -> String {
    format!("staff:{}", tokens::hash_token(&email.trim().to_lowercase()))
}

/// Refuses an attempt that the account's consecutive failures do not allow yet.
async fn check_gate(
    conn: &mut portal_store::DbConn,
    account_key: &str,
    now: time::PrimitiveDateTime,
) -> Result<(), AuthError> {
    if let Some((failures, last)) = store::failures(conn, account_key).await? {
        match gate(failures) {
            AttemptGate::Open => {}
            AttemptGate::Delay(d) => {
                let wait = (last + d) - now;
                if wait.is_positive() {
                    return Err(AuthError::Throttled { retry_after_secs: wait.whole_seconds().max(1) as u64 });
                }
            }
            AttemptGate::Locked => return Err(AuthError::Throttled { retry_after_secs: 3600 }),
        }
    }
    Ok(())
}

/// Signs a staff user in by e-mail and password.
///
/// Unknown e-mail, wrong password and inactive account give the same error after the same work
/// (a full argon2 verification), and every attempt is counted against the typed e-mail, so the
/// answers cannot tell which accounts exist. The failure and success are both audited.
pub async fn sign_in_staff(
    db: &Db,
    hasher: &PasswordHasher,
    policy: &SessionPolicy,
    email: &str,
    password: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<SignedIn, AuthError> {
    let account_key = staff_account_key(email);
    let now = now_utc();
    let mut conn = db.read().await?;
    check_gate(&mut conn, &account_key, now).await?;
    let row = match portal_core::patient::Email::parse(email) {
        Ok(e) => staff_store::find_by_email(&mut conn, e.as_str()).await?,
        Err(_) => None,
    };
    let usable = row.as_ref().filter(|r| r.active);
    let ok = hasher.verify(usable.map(|r| r.password_hash.clone()), password).await;
    let principal = match (ok, usable) {
        (true, Some(r)) => load_staff_principal(&mut conn, &r.id).await?,
        _ => None,
    };
    drop(conn);
    let Some(staff) = principal else {
        let key = account_key.clone();
        let known_id = row.map(|r| r.id);
        let ip_for_audit = ip.clone();
        db.write(move |tx| {
            Box::pin(async move {
                store::record_failure(tx, &key, now).await?;
                let mut entry = AuditEntry::by(&Actor::new(Principal::System, ip_for_audit), AuditAction::SignInFailed)
                    .detail(json!({ "kind": "staff" }));
                entry.actor_kind = "anonymous";
                entry.actor_name = "anonymous".into();
                if let Some(id) = known_id {
                    entry = entry.target("staff", &id);
                }
                audit::append(tx, &entry).await?;
                Ok::<_, AuthError>(())
            })
        })
        .await?;
        return Err(AuthError::BadCredentials);
    };
    let (token, token_hash) = tokens::new_token();
    let row = SessionRow {
        token_hash,
        user_kind: STAFF.into(),
        user_id: staff.id.to_string(),
        created_at: now,
        last_seen_at: now,
        absolute_expires_at: now + policy.absolute,
        ip: ip.clone(),
        user_agent: user_agent.map(|u| u.chars().take(200).collect()),
    };
    let expires_at = row.absolute_expires_at;
    let actor = Actor::new(Principal::Staff(staff.clone()), ip);
    db.write(move |tx| {
        Box::pin(async move {
            store::clear_failures(tx, &account_key).await?;
            store::insert(tx, &row).await?;
            audit::append(tx, &AuditEntry::by(&actor, AuditAction::SignInSucceeded).detail(json!({ "kind": "staff" })))
                .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await?;
    Ok(SignedIn { token, staff, expires_at })
}

/// Resolves a session token to its staff user, enforcing the idle and absolute timeouts.
/// Returns `None` for anything that is not a live session.
pub async fn authenticate(db: &Db, policy: &SessionPolicy, raw_token: &str) -> Result<Option<Session>, AuthError> {
    if !tokens::looks_like_token(raw_token) {
        return Ok(None);
    }
    let token_hash = tokens::hash_token(raw_token);
    let mut conn = db.read().await?;
    // The session, the staff row and their locations in one statement, fresh on every request so
    // that a permission removed a moment ago no longer applies.
    let Some((s, staff)) = store::find_with_staff(&mut conn, &token_hash).await? else { return Ok(None) };
    let now = now_utc();
    if s.user_kind != STAFF || s.absolute_expires_at <= now || s.last_seen_at + policy.staff_idle <= now {
        if s.user_kind == STAFF {
            drop(conn);
            let h = token_hash.clone();
            // Best effort: an expired row is also removed by the periodic purge.
            let _ = db.write(move |tx| Box::pin(async move { store::delete(tx, &h).await.map(|_| ()) })).await;
        }
        return Ok(None);
    }
    let Some((row, locations)) = staff else { return Ok(None) };
    let Some(staff) = staff_principal(&row, locations)? else { return Ok(None) };
    if now - s.last_seen_at >= policy.touch_every {
        drop(conn);
        store::touch(&mut db.write_conn().await?, &token_hash, now).await?;
    }
    Ok(Some(Session { token_hash, staff }))
}

/// Ends one session.
pub async fn sign_out(db: &Db, actor: &Actor, token_hash: &str) -> Result<(), AuthError> {
    let actor = actor.clone();
    let h = token_hash.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            if store::delete(tx, &h).await? {
                audit::append(tx, &AuditEntry::by(&actor, AuditAction::SignOut)).await?;
            }
            Ok::<_, AuthError>(())
        })
    })
    .await
}

/// Changes the signed-in staff user's own password after checking the current one, and ends
/// every other session of theirs.
pub async fn change_own_password(
    db: &Db,
    hasher: &PasswordHasher,
    actor: &Actor,
    current_token_hash: &str,
    current: &str,
    new: &str,
) -> Result<(), AuthError> {
    let staff = actor.principal.staff().ok_or(AccessError::Unauthenticated)?.clone();
    let mut errors = FieldErrors::new();
    let new = errors.check("new_password", NewPassword::parse(new));
    let mut conn = db.read().await?;
    let row = staff_store::find(&mut conn, staff.id.as_str()).await?;
    // The current password is checked under the same per-account limit as sign-in, so that a
    // stolen session cannot be used to guess it.
    let account_key = staff_account_key(&row.email);
    check_gate(&mut conn, &account_key, now_utc()).await?;
    drop(conn);
    if !hasher.verify(Some(row.password_hash), current).await {
        let key = account_key.clone();
        db.write(move |tx| Box::pin(async move { store::record_failure(tx, &key, now_utc()).await })).await?;
        errors.push("current_password", "is not your current password");
    }
    errors.clone().into_result()?;
    let Some(new) = new else { return Err(errors.into()) };
    let hash = hasher.hash(&new).await.map_err(|_| AuthError::Store(portal_store::StoreError::Cancelled))?;
    let actor = actor.clone();
    let keep = current_token_hash.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            staff_store::set_password_hash(tx, staff.id.as_str(), &hash).await?;
            store::clear_failures(tx, &account_key).await?;
            let ended = store::delete_for_user(tx, STAFF, staff.id.as_str(), Some(&keep)).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::PasswordChanged)
                    .target("staff", staff.id.as_str())
                    .detail(json!({ "other_sessions_ended": ended })),
            )
            .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await
}

/// Removes expired sessions; run periodically by the server.
pub async fn purge_expired(db: &Db, policy: &SessionPolicy) -> Result<usize, AuthError> {
    let now = now_utc();
    let mut conn = db.write_conn().await?;
    Ok(store::purge_expired(&mut conn, STAFF, now, now - policy.staff_idle).await?)
}
