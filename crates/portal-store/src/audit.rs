//! The audit log: append-only rows, hash-chained so that an edit or a deletion is detected.
//!
//! Every audited write appends its row inside the same transaction as the change. The chain's
//! head is a single row locked by each append (`FOR UPDATE` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` already serialises writers), so rows chain in commit order even with many
//! replicas. Appends happen last in a use case's transaction to keep that lock short.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portal_core::audit::AuditAction;
use portal_core::time_util::{now_utc, rfc3339};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::PrimitiveDateTime;

use crate::StoreError;
use crate::db::{DbConn, insert_many, on_backend};
use crate::schema::{audit_head, audit_log};

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

/// Appends one row to the chain. Call it inside [`crate::Db::write`], after the change itself.
pub async fn append(conn: &mut DbConn, e: &AuditEntry) -> Result<i64, StoreError> {
    let seqs = append_many(conn, std::slice::from_ref(e)).await?;
    Ok(seqs.start)
}

/// Appends rows in order with one lock of the chain's head, one multi-row insert and one head
/// update: what a group commit of audited reads ([`crate::Db::audit_read`]) and bulk jobs use.
/// Returns the sequence numbers given.
pub async fn append_many(conn: &mut DbConn, entries: &[AuditEntry]) -> Result<std::ops::Range<i64>, StoreError> {
    let (head_seq, head_hash): (i64, String) = on_backend!(
        conn,
        sqlite | c | audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).first(c).await,
        pg | c | audit_head::table.find(1).select((audit_head::seq, audit_head::hash)).for_update().first(c).await
    )?;
    if entries.is_empty() {
        return Ok(head_seq + 1..head_seq + 1);
    }
    let at = now_utc();
    let mut prev = head_hash;
    let mut rows = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let seq = head_seq + 1 + i as i64;
        let detail = e.detail.to_string();
        let hash = row_hash(
            &prev,
            seq,
            at,
            e.actor_kind,
            e.actor_id.as_deref(),
            &e.actor_name,
            e.action.as_str(),
            e.patient_id.as_deref(),
            e.target_kind,
            e.target_id.as_deref(),
            &detail,
            e.ip.as_deref(),
        );
        rows.push(NewAuditRow {
            seq,
            at,
            actor_kind: e.actor_kind.to_owned(),
            actor_id: e.actor_id.clone(),
            actor_name: e.actor_name.clone(),
            action: e.action.as_str().to_owned(),
            patient_id: e.patient_id.clone(),
            target_kind: e.target_kind.map(str::to_owned),
            target_id: e.target_id.clone(),
            detail,
            ip: e.ip.clone(),
            prev_hash: std::mem::take(&mut prev),
            hash: hash.clone(),
        });
        prev = hash;
    }
    let last = head_seq + entries.len() as i64;
    // SQLite binds at most 32,766 parameters per statement: 13 a row.
    for chunk in rows.chunks(2000) {
        insert_many!(conn, audit_log::table, chunk)?;
    }
    on_backend!(conn, |c| diesel::update(audit_head::table.find(1))
        .set((audit_head::seq.eq(last), audit_head::hash.eq(&prev)))
        .execute(c)
        .await)?;
    Ok(head_seq + 1..last + 1)
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
