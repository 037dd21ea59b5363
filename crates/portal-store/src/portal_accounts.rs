//! Portal accounts, their grants to patients, and the single-use links sent by e-mail (stored
//! as the SHA-256 of the token only).
//!
//! Rows are inserted many at a time (a bulk invitation writes hundreds per transaction), with
//! `db::insert_many!`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, insert_many, on_backend};
use crate::schema::{account_tokens, patients, portal_accounts, portal_grants};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = portal_accounts)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AccountRow {
    pub id: String,
    pub username: Option<String>,
    pub email: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub active: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub registered_at: Option<PrimitiveDateTime>,
    pub first_signed_in_at: Option<PrimitiveDateTime>,
    pub last_signed_in_at: Option<PrimitiveDateTime>,
}

impl AccountRow {
    pub fn has_password(&self) -> bool {
        self.password_hash.is_some()
    }
}

// `None` is written as NULL (not DEFAULT), which lets SQLite insert many rows in one statement.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = portal_accounts, treat_none_as_default_value = false)]
pub struct NewAccount {
    pub id: String,
    pub username: Option<String>,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub active: bool,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

impl NewAccount {
    /// An account without username or password: what an invitation creates.
    pub fn invited(id: String, email: &str, display_name: &str, now: PrimitiveDateTime) -> Self {
        Self {
            id,
            username: None,
            email: email.to_owned(),
            display_name: display_name.to_owned(),
            password_hash: None,
            must_change_password: false,
            active: true,
            created_at: now,
            updated_at: now,
        }
    }
}

fn username_conflict(e: diesel::result::Error) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::Conflict { what: "a portal account with this username".into() },
        other => other,
    }
}

pub async fn insert_accounts(conn: &mut DbConn, rows: &[NewAccount]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    insert_many!(conn, portal_accounts::table, rows).map_err(username_conflict)?;
    Ok(())
}

pub async fn find_account(conn: &mut DbConn, id: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_accounts::table
        .find(id)
        .select(AccountRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The account, locked until the end of the transaction (PostgreSQL), for read-modify-write.
pub async fn find_account_for_update(conn: &mut DbConn, id: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | portal_accounts::table.find(id).select(AccountRow::as_select()).first(c).await.optional(),
        pg | c | portal_accounts::table.find(id).select(AccountRow::as_select()).for_update().first(c).await.optional()
    )?)
}

/// By username (lowercase, as stored).
pub async fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<AccountRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_accounts::table
        .filter(portal_accounts::username.eq(username))
        .select(AccountRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Accounts using `email` (lowercase), oldest first: "Link User by Email" (seed 003).
pub async fn accounts_by_email(conn: &mut DbConn, email: &str) -> Result<Vec<AccountRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_accounts::table
        .filter(portal_accounts::email.eq(email))
        .order((portal_accounts::created_at.asc(), portal_accounts::id.asc()))
        .select(AccountRow::as_select())
        .limit(20)
        .load(c)
        .await)?)
}

pub async fn username_taken(conn: &mut DbConn, username: &str) -> Result<bool, StoreError> {
    let n: i64 = on_backend!(conn, |c| portal_accounts::table
        .filter(portal_accounts::username.eq(username))
        .count()
        .get_result(c)
        .await)?;
    Ok(n > 0)
}

/// What completing a link or a desk set-up writes to an account.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    /// Set only when the account has none yet.
    pub username: Option<&'a str>,
    pub password_hash: &'a str,
    pub must_change_password: bool,
    /// The address the link was delivered to, which the holder has thereby proved to read.
    pub email: Option<&'a str>,
}

pub async fn set_credentials(conn: &mut DbConn, id: &str, cr: &Credentials<'_>) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(diesel::update(portal_accounts::table.find(id)).set((
        portal_accounts::password_hash.eq(cr.password_hash),
        portal_accounts::must_change_password.eq(cr.must_change_password),
        portal_accounts::updated_at.eq(now),
    )))
    .execute(c)
    .await)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    if let Some(u) = cr.username {
        on_backend!(conn, |c| Cached(
            diesel::update(portal_accounts::table.find(id).filter(portal_accounts::username.is_null()))
                .set(portal_accounts::username.eq(u))
        )
        .execute(c)
        .await)
        .map_err(username_conflict)?;
    }
    if let Some(e) = cr.email {
        set_email(conn, id, e).await?;
    }
    Ok(())
}

pub async fn set_email(conn: &mut DbConn, id: &str, email: &str) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    on_backend!(conn, |c| Cached(
        diesel::update(portal_accounts::table.find(id))
            .set((portal_accounts::email.eq(email), portal_accounts::updated_at.eq(now)))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Marks the account registered (its holder chose a password of their own for the first time).
/// True when this call did it.
pub async fn mark_registered(conn: &mut DbConn, id: &str, at: PrimitiveDateTime) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(portal_accounts::table.find(id).filter(portal_accounts::registered_at.is_null()))
            .set(portal_accounts::registered_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

pub async fn record_sign_in(conn: &mut DbConn, id: &str, at: PrimitiveDateTime) -> Result<(), StoreError> {
    on_backend!(conn, |c| Cached(
        diesel::update(portal_accounts::table.find(id).filter(portal_accounts::first_signed_in_at.is_null()))
            .set(portal_accounts::first_signed_in_at.eq(at))
    )
    .execute(c)
    .await)?;
    on_backend!(conn, |c| Cached(
        diesel::update(portal_accounts::table.find(id)).set(portal_accounts::last_signed_in_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = portal_grants)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct GrantRow {
    pub id: String,
    pub account_id: String,
    pub patient_id: String,
    pub relation: String,
    pub contact_id: Option<String>,
    pub scopes: String,
    pub ends_on: Option<Date>,
    pub created_by: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub revoked_at: Option<PrimitiveDateTime>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = portal_grants, treat_none_as_default_value = false)]
pub struct NewGrant {
    pub id: String,
    pub account_id: String,
    pub patient_id: String,
    pub relation: String,
    pub contact_id: Option<String>,
    pub scopes: String,
    pub ends_on: Option<Date>,
    pub created_by: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

pub async fn insert_grants(conn: &mut DbConn, rows: &[NewGrant]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    insert_many!(conn, portal_grants::table, rows).map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => StoreError::Conflict { what: "a portal grant for this patient".into() },
        other => other,
    })?;
    Ok(())
}

/// The live (not revoked) grant of `account_id` to `patient_id`, ended or not.
pub async fn live_grant(conn: &mut DbConn, account_id: &str, patient_id: &str) -> Result<Option<GrantRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .filter(portal_grants::account_id.eq(account_id))
        .filter(portal_grants::patient_id.eq(patient_id))
        .filter(portal_grants::revoked_at.is_null())
        .select(GrantRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The live "self" grant of each of `patient_ids` with its account.
pub async fn self_accounts(
    conn: &mut DbConn,
    patient_ids: &[String],
) -> Result<Vec<(GrantRow, AccountRow)>, StoreError> {
    if patient_ids.is_empty() {
        return Ok(vec![]);
    }
    Ok(on_backend!(conn, |c| portal_grants::table
        .inner_join(portal_accounts::table)
        .filter(portal_grants::patient_id.eq_any(patient_ids))
        .filter(portal_grants::relation.eq("self"))
        .filter(portal_grants::revoked_at.is_null())
        .select((GrantRow::as_select(), AccountRow::as_select()))
        .load(c)
        .await)?)
}

/// The live grant made for contact `contact_id` of `patient_id`, with its account.
pub async fn contact_account(
    conn: &mut DbConn,
    patient_id: &str,
    contact_id: &str,
) -> Result<Option<(GrantRow, AccountRow)>, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .inner_join(portal_accounts::table)
        .filter(portal_grants::patient_id.eq(patient_id))
        .filter(portal_grants::contact_id.eq(contact_id))
        .filter(portal_grants::revoked_at.is_null())
        .select((GrantRow::as_select(), AccountRow::as_select()))
        .first(c)
        .await
        .optional())?)
}

/// The grants of an account in force on `today` whose patient is reachable through the portal
/// (access enabled, e-mail and ZIP code on file): what a request of this account may reach.
pub async fn grants_in_force(conn: &mut DbConn, account_id: &str, today: Date) -> Result<Vec<GrantRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .inner_join(patients::table)
        .filter(portal_grants::account_id.eq(account_id))
        .filter(portal_grants::revoked_at.is_null())
        .filter(portal_grants::ends_on.is_null().or(portal_grants::ends_on.ge(today)))
        .filter(patients::portal_access.eq(true))
        .filter(patients::email.is_not_null())
        .filter(patients::zip.is_not_null())
        .order((portal_grants::created_at.asc(), portal_grants::id.asc()))
        .select(GrantRow::as_select())
        .load(c)
        .await)?)
}

/// Every live grant of an account (ended or not), oldest first.
pub async fn live_grants_of_account(conn: &mut DbConn, account_id: &str) -> Result<Vec<GrantRow>, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .filter(portal_grants::account_id.eq(account_id))
        .filter(portal_grants::revoked_at.is_null())
        .order((portal_grants::created_at.asc(), portal_grants::id.asc()))
        .select(GrantRow::as_select())
        .load(c)
        .await)?)
}

/// A patient's grants (revoked ones too, for the history) with their accounts, oldest first.
pub async fn grants_of_patient(conn: &mut DbConn, patient_id: &str) -> Result<Vec<(GrantRow, AccountRow)>, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .inner_join(portal_accounts::table)
        .filter(portal_grants::patient_id.eq(patient_id))
        .order((portal_grants::created_at.asc(), portal_grants::id.asc()))
        .select((GrantRow::as_select(), AccountRow::as_select()))
        .load(c)
        .await)?)
}

pub async fn find_grant(conn: &mut DbConn, patient_id: &str, grant_id: &str) -> Result<GrantRow, StoreError> {
    Ok(on_backend!(conn, |c| portal_grants::table
        .find(grant_id)
        .filter(portal_grants::patient_id.eq(patient_id))
        .select(GrantRow::as_select())
        .first(c)
        .await)?)
}

/// Changes what a live grant covers and until when (and its relation, when re-invited).
pub async fn update_grant(
    conn: &mut DbConn,
    grant_id: &str,
    relation: &str,
    scopes: &str,
    ends_on: Option<Date>,
) -> Result<(), StoreError> {
    let now = portal_core::time_util::now_utc();
    let n = on_backend!(conn, |c| Cached(
        diesel::update(portal_grants::table.find(grant_id).filter(portal_grants::revoked_at.is_null())).set((
            portal_grants::relation.eq(relation),
            portal_grants::scopes.eq(scopes),
            portal_grants::ends_on.eq(ends_on),
            portal_grants::updated_at.eq(now),
        ))
    )
    .execute(c)
    .await)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Revokes a live grant; false when it was already revoked.
pub async fn revoke_grant(
    conn: &mut DbConn,
    grant_id: &str,
    by: Option<&str>,
    at: PrimitiveDateTime,
) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(portal_grants::table.find(grant_id).filter(portal_grants::revoked_at.is_null())).set((
            portal_grants::revoked_at.eq(at),
            portal_grants::revoked_by.eq(by),
            portal_grants::updated_at.eq(at)
        ))
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = account_tokens, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct TokenRow {
    #[serde(skip)]
    pub token_hash: String,
    pub purpose: String,
    pub account_id: Option<String>,
    pub patient_id: Option<String>,
    pub email: String,
    /// JSON.
    pub data: String,
    pub created_by: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub used_at: Option<PrimitiveDateTime>,
}

pub async fn insert_tokens(conn: &mut DbConn, rows: &[TokenRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    insert_many!(conn, account_tokens::table, rows)?;
    Ok(())
}

pub async fn find_token(conn: &mut DbConn, token_hash: &str) -> Result<Option<TokenRow>, StoreError> {
    Ok(on_backend!(conn, |c| account_tokens::table
        .find(token_hash)
        .select(TokenRow::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Uses a token: one atomic statement, so that of two concurrent uses exactly one succeeds on
/// either backend. False when it was used, expired or unknown.
pub async fn use_token(conn: &mut DbConn, token_hash: &str, now: PrimitiveDateTime) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(
            account_tokens::table
                .find(token_hash)
                .filter(account_tokens::used_at.is_null())
                .filter(account_tokens::expires_at.gt(now))
        )
        .set(account_tokens::used_at.eq(now))
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}

/// Ends the unused links of `purposes` of the given accounts or patients: a new link replaces
/// the older ones, and a completed one ends its siblings.
pub async fn supersede_tokens(
    conn: &mut DbConn,
    account_ids: &[String],
    patient_ids: &[String],
    purposes: &[&str],
    now: PrimitiveDateTime,
) -> Result<usize, StoreError> {
    let mut n = 0;
    if !account_ids.is_empty() {
        n += on_backend!(conn, |c| Cached(
            diesel::update(
                account_tokens::table
                    .filter(account_tokens::account_id.eq_any(account_ids))
                    .filter(account_tokens::used_at.is_null())
                    .filter(account_tokens::purpose.eq_any(purposes))
            )
            .set(account_tokens::used_at.eq(now))
        )
        .execute(c)
        .await)?;
    }
    if !patient_ids.is_empty() {
        // Links of a patient that name no account yet (registration, a reset before any account).
        n += on_backend!(conn, |c| Cached(
            diesel::update(
                account_tokens::table
                    .filter(account_tokens::patient_id.eq_any(patient_ids))
                    .filter(account_tokens::account_id.is_null())
                    .filter(account_tokens::used_at.is_null())
                    .filter(account_tokens::purpose.eq_any(purposes))
            )
            .set(account_tokens::used_at.eq(now))
        )
        .execute(c)
        .await)?;
    }
    Ok(n)
}

/// Unused, unexpired links issued for `patient_id` (any purpose) since `since`: bounds how many
/// e-mails anonymous requests can make the clinic send to one patient.
pub async fn recent_links_for_patient(
    conn: &mut DbConn,
    patient_id: &str,
    since: PrimitiveDateTime,
) -> Result<i64, StoreError> {
    Ok(on_backend!(conn, |c| account_tokens::table
        .filter(account_tokens::patient_id.eq(patient_id))
        .filter(account_tokens::created_at.ge(since))
        .filter(account_tokens::created_by.is_null())
        .count()
        .get_result(c)
        .await)?)
}

/// Tokens of a patient, newest first (tests and support).
pub async fn tokens_of_patient(conn: &mut DbConn, patient_id: &str) -> Result<Vec<TokenRow>, StoreError> {
    Ok(on_backend!(conn, |c| account_tokens::table
        .filter(account_tokens::patient_id.eq(patient_id))
        .order(account_tokens::created_at.desc())
        .select(TokenRow::as_select())
        .load(c)
        .await)?)
}

/// Links of `account_id` that concern `patient_id`, newest first, used or not: where the portal
/// finds the message staff attached to an invitation (kept with the link, never e-mailed).
pub async fn tokens_of_account_for_patient(
    conn: &mut DbConn,
    account_id: &str,
    patient_id: &str,
) -> Result<Vec<TokenRow>, StoreError> {
    Ok(on_backend!(conn, |c| account_tokens::table
        .filter(account_tokens::account_id.eq(account_id))
        .filter(account_tokens::patient_id.eq(patient_id))
        .order(account_tokens::created_at.desc())
        .limit(50)
        .select(TokenRow::as_select())
        .load(c)
        .await)?)
}

/// Ends the unused links of `account_id` that concern `patient_id` (a revoked grant's pending
/// invitation).
pub async fn supersede_links_for_grant(
    conn: &mut DbConn,
    account_id: &str,
    patient_id: &str,
    now: PrimitiveDateTime,
) -> Result<usize, StoreError> {
    Ok(on_backend!(conn, |c| Cached(
        diesel::update(
            account_tokens::table
                .filter(account_tokens::account_id.eq(account_id))
                .filter(account_tokens::patient_id.eq(patient_id))
                .filter(account_tokens::used_at.is_null())
        )
        .set(account_tokens::used_at.eq(now))
    )
    .execute(c)
    .await)?)
}

/// Outbox events of the given kinds, oldest first, without claiming them: what tests and
/// support read to see which account e-mails were queued (the worker claims through
/// [`crate::outbox::claim`]).
pub async fn queued_events(conn: &mut DbConn, kinds: &[&str]) -> Result<Vec<crate::outbox::OutboxEvent>, StoreError> {
    use crate::schema::outbox_events;
    Ok(on_backend!(conn, |c| outbox_events::table
        .filter(outbox_events::kind.eq_any(kinds))
        .order((outbox_events::created_at.asc(), outbox_events::id.asc()))
        .select(crate::outbox::OutboxEvent::as_select())
        .load(c)
        .await)?)
}

/// Makes an unused link expire at `at` (now, to cancel it; a past time in tests).
pub async fn expire_token(conn: &mut DbConn, token_hash: &str, at: PrimitiveDateTime) -> Result<bool, StoreError> {
    let n = on_backend!(conn, |c| Cached(
        diesel::update(account_tokens::table.find(token_hash).filter(account_tokens::used_at.is_null()))
            .set(account_tokens::expires_at.eq(at))
    )
    .execute(c)
    .await)?;
    Ok(n > 0)
}
