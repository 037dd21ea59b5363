//! The audit log: append-only rows, hash-chained so that an edit or a deletion is detected.
//!
//! Every audited write records its row inside the same transaction as the change. The chain's
//! head is a single row; whoever extends the chain locks it (`FOR UPDATE` on PostgreSQL;
//! SQLite's `BEGIN IMMEDIATE` already serialises writers), so there is one chain even with many
//! replicas.
//!
//! A write's [`append`] writes the row to `audit_pending`, committed with the change, and
//! [`crate::Db::write`] has it chained right after the commit: on PostgreSQL by the same group
//! commit that records audited reads (which then first moves every committed pending row into
//! the chain, in the order they were written), on SQLite on the writer the write still holds
//! (not through the group commit, which would queue behind every write waiting for that one
//! connection). A write returns once its rows are chained; whatever a crash leaves pending is
//! chained by the next write, or when a `portal` command opens the database
//! ([`crate::Db::chain_pending`]). Why not chain at once: on PostgreSQL a write would hold the
//! head from its append through its commit's WAL flush, and audited writes would go one flush at
//! a time. On SQLite the chain is in a file of its own (attached as `audit`: see
//! [`crate::db::sqlite_audit_file`]), and a transaction over two files is atomic per file only,
//! so the change and its row commit in the records' file; chaining then writes the audit file
//! alone, noting in the head how far it has read `audit_pending` (`drained_to`), and the next
//! append removes what was chained.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use portal_core::audit::AuditAction;
use portal_core::time_util::{now_utc, rfc3339};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::cached::Cached;
use crate::db::{DbConn, insert_many, on_backend};
use crate::schema::{audit_head, audit_log, audit_pending};

/// What a use case records. `detail` never holds PHI values: names of changed fields, counts,
/// setting values, never a diagnosis or a message body.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor_kind: &'static str,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: AuditAction,
    pub patient_id: Option<String>,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<String>,
    pub detail: serde_json::Value,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuditRow {
    pub seq: i64,
    pub at: PrimitiveDateTime,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub patient_id: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub detail: String,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

// Owned, and `None` written as NULL: many rows go in one statement (`insert_many!`).
#[derive(Clone, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
struct NewAuditRow {
    seq: i64,
    at: PrimitiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    action: String,
    patient_id: Option<String>,
    target_kind: Option<String>,
    target_id: Option<String>,
    detail: String,
    ip: Option<String>,
    prev_hash: String,
    hash: String,
}

// A row waiting to be chained, as [`append`] writes it on PostgreSQL; also each row's fields
// on their way into the chain.
#[derive(Clone, Insertable, QueryableByName)]
#[diesel(table_name = audit_pending, treat_none_as_default_value = false)]
pub(crate) struct NewPendingRow {
    at: PrimitiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    action: String,
    patient_id: Option<String>,
    target_kind: Option<String>,
    target_id: Option<String>,
    detail: String,
    ip: Option<String>,
}

impl NewPendingRow {
    pub(crate) fn of(e: &AuditEntry, at: PrimitiveDateTime) -> Self {
        Self {
            at,
            actor_kind: e.actor_kind.to_owned(),
            actor_id: e.actor_id.clone(),
            actor_name: e.actor_name.clone(),
            action: e.action.as_str().to_owned(),
            patient_id: e.patient_id.clone(),
            target_kind: e.target_kind.map(str::to_owned),
            target_id: e.target_id.clone(),
            detail: e.detail.to_string(),
            ip: e.ip.clone(),
        }
    }
}

#[derive(QueryableByName)]
#[diesel(table_name = audit_pending)]
struct PendingRow {
    id: i64,
    #[diesel(embed)]
    row: NewPendingRow,
}

tokio::task_local! {
    /// Set by [`append`] when it leaves a row in `audit_pending`: [`crate::Db::write`] scopes
    /// it around each transaction and, when set, has the row chained right after the commit.
    pub(crate) static UNCHAINED: std::cell::Cell<bool>;
}

/// The bytes a row's hash covers: every field, in a fixed order, as a JSON array (unambiguous
/// where plain concatenation would not be), prefixed by the previous row's hash.
#[allow(clippy::too_many_arguments)]
fn row_hash(
    prev_hash: &str,
    seq: i64,
    at: PrimitiveDateTime,
    actor_kind: &str,
    actor_id: Option<&str>,
    actor_name: &str,
    action: &str,
    patient_id: Option<&str>,
    target_kind: Option<&str>,
    target_id: Option<&str>,
    detail: &str,
    ip: Option<&str>,
) -> String {
    let canonical = serde_json::json!([
        seq,
        rfc3339(at),
        actor_kind,
        actor_id,
        actor_name,
        action,
        patient_id,
        target_kind,
        target_id,
        detail,
        ip
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Records one row. Call it inside [`crate::Db::write`], after the change itself: the row
/// commits with the change, and is in the chain (with its sequence number) when `write`
/// returns (see the module's documentation).
pub async fn append(conn: &mut DbConn, e: &AuditEntry) -> Result<(), StoreError> {
    append_many(conn, std::slice::from_ref(e)).await
}

/// Rows of `audit_pending` that a chaining has already copied into SQLite's audit file.
const PRUNE_SQLITE: &str = "DELETE FROM main.audit_pending WHERE id <= (SELECT drained_to FROM audit.audit_head)";

/// [`append`] for many rows at once (a bulk job's), in order.
pub async fn append_many(conn: &mut DbConn, entries: &[AuditEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    if let DbConn::Sqlite(c) = conn {
        // In this transaction's file, and only it: chaining left these rows behind.
        Cached(diesel::sql_query(PRUNE_SQLITE)).execute(&mut **c).await?;
    }
    let at = now_utc();
    if let [e] = entries {
        // One row (every write but a bulk job's): a single-row insert is a statement diesel
        // keeps prepared; a multi-row one is prepared again on every run (on PostgreSQL a parse
        // and a plan in each send).
        let row = NewPendingRow::of(e, at);
        on_backend!(conn, |c| diesel::insert_into(audit_pending::table).values(row.clone()).execute(c).await)?;
    } else {
        let rows: Vec<NewPendingRow> = entries.iter().map(|e| NewPendingRow::of(e, at)).collect();
        // SQLite binds at most 32,766 parameters per statement: 10 a row.
        for chunk in rows.chunks(2000) {
            insert_many!(conn, audit_pending::table, chunk)?;
        }
    }
    left_unchained();
    Ok(())
}

/// Tells [`crate::Db::write`] that this transaction left rows in `audit_pending` to chain after
/// its commit. Outside `Db::write` (no scope) the rows wait for the next write's chaining or
/// `Db::chain_pending`.
pub(crate) fn left_unchained() {
    let _ = UNCHAINED.try_with(|u| u.set(true));
}

/// Appends `entries` to the chain in order, with one lock of the chain's head, one multi-row
/// insert and one head update (the group commit of audited reads: [`crate::Db::audit_read`]),
/// after moving the committed rows of `audit_pending` into it, oldest first, when `drain` (a
/// write asked for its rows to be chained: [`crate::Db::chain_pending`]). Without such a
/// request nothing is pending but for an instant, so audited reads alone skip the look.
/// Returns the sequence numbers given.
pub(crate) async fn extend(
    conn: &mut DbConn,
    entries: &[AuditEntry],
    drain: bool,
) -> Result<std::ops::Range<i64>, StoreError> {
    let (head_seq, head_hash): (i64, String) = on_backend!(
        conn,
        sqlite | c | audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).first(c).await,
        pg | c | audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).for_update().first(c).await
    )?;
    let mut pending: Vec<PendingRow> = if drain { take_pending(conn).await? } else { Vec::new() };
    pending.sort_by_key(|p| p.id);
    let drained_to = pending.last().map(|p| p.id);
    let first = head_seq + 1 + pending.len() as i64;
    if entries.is_empty() && pending.is_empty() {
        return Ok(first..first);
    }
    let at = now_utc();
    let mut rows = Vec::with_capacity(pending.len() + entries.len());
    let unchained = pending.into_iter().map(|p| p.row);
    let given = entries.iter().map(|e| NewPendingRow::of(e, at));
    let mut prev = head_hash;
    for (i, r) in unchained.chain(given).enumerate() {
        let seq = head_seq + 1 + i as i64;
        let hash = row_hash(
            &prev,
            seq,
            r.at,
            &r.actor_kind,
            r.actor_id.as_deref(),
            &r.actor_name,
            &r.action,
            r.patient_id.as_deref(),
            r.target_kind.as_deref(),
            r.target_id.as_deref(),
            &r.detail,
            r.ip.as_deref(),
        );
        rows.push(NewAuditRow {
            seq,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            patient_id: r.patient_id,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: r.detail,
            ip: r.ip,
            prev_hash: std::mem::take(&mut prev),
            hash: hash.clone(),
        });
        prev = hash;
    }
    let last = head_seq + rows.len() as i64;
    // SQLite binds at most 32,766 parameters per statement: 13 a row.
    for chunk in rows.chunks(2000) {
        insert_many!(conn, audit_log::table, chunk)?;
    }
    on_backend!(conn, |c| Cached(
        diesel::update(audit_head::table.find(1)).set((audit_head::seq.eq(last), audit_head::hash.eq(&prev)))
    )
    .execute(c)
    .await)?;
    if let (DbConn::Sqlite(c), Some(drained)) = (&mut *conn, drained_to) {
        Cached(diesel::sql_query("UPDATE audit.audit_head SET drained_to = ?").bind::<BigInt, _>(drained))
            .execute(&mut **c)
            .await?;
    }
    Ok(first..last + 1)
}

/// The most pending rows one chaining moves: a bulk job's rows in one go, while a backlog left
/// by an outage is moved a bounded transaction at a time (the rest by the next chaining).
const DRAIN_MAX: i64 = 50_000;

/// The committed rows of `audit_pending` not yet chained, oldest first, at most [`DRAIN_MAX`].
/// Under the head's lock no other drain runs; rows committed after this began stay for the
/// next one.
///
/// PostgreSQL deletes them as it reads them (in this transaction: a rollback keeps them), 5,000
/// a statement. SQLite only reads them: deleting them would make this transaction write the
/// records' file as well as the audit file, and such a transaction is not atomic across the two.
/// The head's `drained_to` says how far they were chained instead.
async fn take_pending(conn: &mut DbConn) -> Result<Vec<PendingRow>, StoreError> {
    const COLUMNS: &str =
        "id, at, actor_kind, actor_id, actor_name, action, patient_id, target_kind, target_id, detail, ip";
    match conn {
        DbConn::Sqlite(c) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM main.audit_pending \
                 WHERE id > (SELECT drained_to FROM audit.audit_head) ORDER BY id LIMIT {DRAIN_MAX}"
            );
            Ok(Cached(diesel::sql_query(sql)).load(&mut **c).await?)
        }
        DbConn::Pg(c) => {
            const TAKE: i64 = 5_000;
            let take = format!(
                "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT {TAKE}) \
                 RETURNING {COLUMNS}"
            );
            let mut all = Vec::new();
            while (all.len() as i64) < DRAIN_MAX {
                let some: Vec<PendingRow> = Cached(diesel::sql_query(take.clone())).load(&mut **c).await?;
                let more = some.len() as i64 == TAKE;
                all.extend(some);
                if !more {
                    break;
                }
            }
            Ok(all)
        }
    }
}

/// How many rows wait in `audit_pending` (written by committed writes, not yet chained; the
/// chain cannot vouch for them until they are in it).
pub async fn pending_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    Ok(match conn {
        // Rows already chained stay until the next append removes them.
        DbConn::Sqlite(c) => {
            Cached(diesel::sql_query(
                "SELECT count(*) AS n FROM main.audit_pending WHERE id > (SELECT drained_to FROM audit.audit_head)",
            ))
            .get_result::<Count>(&mut **c)
            .await?
            .n
        }
        DbConn::Pg(c) => audit_pending::table.count().get_result(&mut **c).await?,
    })
}

/// Filters of the audit log page. All optional; rows come newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub patient_id: Option<String>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<PrimitiveDateTime>,
    pub to: Option<PrimitiveDateTime>,
    /// Keyset pagination: rows with `seq` below this.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Rows matching `f`, newest first.
pub async fn list(conn: &mut DbConn, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    // A boxed query is tied to one backend, so the filter is built once per arm.
    macro_rules! filtered {
        ($db:ty) => {{
            let mut q = audit_log::table.select(AuditRow::as_select()).order(audit_log::seq.desc()).into_boxed::<$db>();
            if let Some(p) = &f.patient_id {
                q = q.filter(audit_log::patient_id.eq(p.clone()));
            }
            if let Some(a) = &f.actor_id {
                q = q.filter(audit_log::actor_id.eq(a.clone()));
            }
            if let Some(a) = &f.action {
                q = q.filter(audit_log::action.eq(a.clone()));
            }
            if let Some(t) = f.from {
                q = q.filter(audit_log::at.ge(t));
            }
            if let Some(t) = f.to {
                q = q.filter(audit_log::at.lt(t));
            }
            if let Some(s) = f.before_seq {
                q = q.filter(audit_log::seq.lt(s));
            }
            q.limit(f.limit.clamp(1, 500))
        }};
    }
    Ok(on_backend!(
        conn,
        sqlite | c | filtered!(diesel::sqlite::Sqlite).load(c).await,
        pg | c | filtered!(diesel::pg::Pg).load(c).await
    )?)
}

/// The outcome of `portal audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub rows_checked: i64,
    /// The first row whose hash, link or sequence is wrong, and why.
    pub first_broken: Option<(i64, String)>,
}

/// Walks the whole chain in order and recomputes every hash.
pub async fn verify(conn: &mut DbConn) -> Result<VerifyReport, StoreError> {
    const BATCH: i64 = 2000;
    let mut prev_hash = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut checked = 0i64;
    loop {
        let after = expected_seq - 1;
        let rows: Vec<AuditRow> = on_backend!(conn, |c| audit_log::table
            .select(AuditRow::as_select())
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq.asc())
            .limit(BATCH)
            .load(c)
            .await)?;
        let done = (rows.len() as i64) < BATCH;
        for r in rows {
            if r.seq != expected_seq {
                return Ok(VerifyReport {
                    rows_checked: checked,
                    first_broken: Some((
                        expected_seq,
                        format!("row {expected_seq} is missing (next row is {})", r.seq),
                    )),
                });
            }
            if r.prev_hash != prev_hash {
                return Ok(VerifyReport {
                    rows_checked: checked,
                    first_broken: Some((r.seq, "its link to the previous row does not match".into())),
                });
            }
            let h = row_hash(
                &r.prev_hash,
                r.seq,
                r.at,
                &r.actor_kind,
                r.actor_id.as_deref(),
                &r.actor_name,
                &r.action,
                r.patient_id.as_deref(),
                r.target_kind.as_deref(),
                r.target_id.as_deref(),
                &r.detail,
                r.ip.as_deref(),
            );
            if h != r.hash {
                return Ok(VerifyReport {
                    rows_checked: checked,
                    first_broken: Some((r.seq, "its content does not match its hash (edited)".into())),
                });
            }
            prev_hash = r.hash;
            expected_seq += 1;
            checked += 1;
        }
        if done {
            break;
        }
    }
    let (head_seq, head_hash): (i64, String) =
        on_backend!(conn, |c| audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).first(c).await)?;
    if head_seq != checked || head_hash != prev_hash {
        return Ok(VerifyReport {
            rows_checked: checked,
            first_broken: Some((
                checked + 1,
                format!("the chain ends at row {checked} but {head_seq} rows were written (rows removed from the end)"),
            )),
        });
    }
    Ok(VerifyReport { rows_checked: checked, first_broken: None })
}

impl AuditEntry {
    /// An entry for `action` by `actor`; add the patient and target with the builder methods.
    pub fn by(actor: &portal_core::Actor, action: AuditAction) -> Self {
        Self {
            actor_kind: actor.principal.actor_kind(),
            actor_id: actor.principal.actor_id().map(str::to_owned),
            actor_name: actor.name().to_owned(),
            action,
            patient_id: None,
            target_kind: None,
            target_id: None,
            detail: serde_json::Value::Object(Default::default()),
            ip: actor.ip.clone(),
        }
    }

    pub fn patient(mut self, id: &str) -> Self {
        self.patient_id = Some(id.to_owned());
        self
    }

    pub fn target(mut self, kind: &'static str, id: &str) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id.to_owned());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}
