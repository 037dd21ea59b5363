//! Reading and verifying the audit log.

use portal_core::audit::AuditAction;
use portal_core::staff::Permission;
use portal_core::{Actor, FieldErrors};
use portal_store::Db;
use portal_store::audit::{self, AuditEntry, AuditFilter, AuditRow, VerifyReport};
use serde::Deserialize;
use serde_json::json;

use crate::PracticeError;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// `YYYY-MM-DD`, inclusive, UTC.
    #[serde(default)]
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive, UTC.
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Audit rows, newest first (View Audit Log: Super Admin). Reading the log is itself audited.
pub async fn list(db: &Db, actor: &Actor, q: &AuditQuery) -> Result<Vec<AuditRow>, PracticeError> {
    actor.principal.require(Permission::ViewAuditLog)?;
    let mut errors = FieldErrors::new();
    let mut filter = AuditFilter { limit: q.limit.unwrap_or(100), before_seq: q.before, ..AuditFilter::default() };
    if !(1..=500).contains(&filter.limit) {
        errors.push("limit", "must be between 1 and 500");
    }
    if let Some(p) = blank(&q.patient_id) {
        match portal_core::ids::PatientId::parse(p) {
            Ok(p) => filter.patient_id = Some(p.into_string()),
            Err(_) => errors.push("patient_id", "is not a patient id"),
        }
    }
    if let Some(a) = blank(&q.actor_id) {
        match portal_core::ids::StaffId::parse(a) {
            Ok(a) => filter.actor_id = Some(a.into_string()),
            Err(_) => errors.push("actor_id", "is not a staff id"),
        }
    }
    if let Some(a) = blank(&q.action) {
        match AuditAction::parse(a) {
            Some(a) => filter.action = Some(a.as_str().to_owned()),
            None => errors.push("action", "is not a known action"),
        }
    }
    for (field, raw, end) in [("from", &q.from, false), ("to", &q.to, true)] {
        if let Some(d) = blank(raw) {
            match portal_core::patient::parse_iso_date(d) {
                Some(d) => {
                    let d = if end { d.next_day().unwrap_or(d) } else { d };
                    let t = time::PrimitiveDateTime::new(d, time::Time::MIDNIGHT);
                    if end { filter.to = Some(t) } else { filter.from = Some(t) }
                }
                None => errors.push(field, "must be a date written as YYYY-MM-DD"),
            }
        }
    }
    errors.into_result()?;
    let mut conn = db.read().await?;
    let rows = audit::list(&mut conn, &filter).await?;
    drop(conn);
    let actor2 = actor.clone();
    let n = rows.len();
    db.write(move |tx| {
        Box::pin(async move {
            audit::append(tx, &AuditEntry::by(&actor2, AuditAction::AuditViewed).detail(json!({ "rows": n }))).await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    Ok(rows)
}

/// `portal audit verify`: recomputes the whole chain.
pub async fn verify(db: &Db) -> Result<VerifyReport, PracticeError> {
    let mut conn = db.read().await?;
    Ok(audit::verify(&mut conn).await?)
}
