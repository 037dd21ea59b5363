//! Notification rules as Super Admins set them up (seed 000: Settings > Notifications, per
//! location), a rule's "send test notification", and each staff member's own notifications
//! (the list, unread state, toasts still to show).

use portal_core::access::{Actor, StaffPrincipal};
use portal_core::audit::AuditAction;
use portal_core::events::DomainEvent;
use portal_core::notifications::{self as core, NotificationEvent, RawRule, Rule, Severity};
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::notifications::{self as store, NotificationRow, RuleRow};
use portal_store::{Db, DbConn, StoreError, ids::new_id, org, outbox, staff as staff_store};
use serde::Serialize;
use serde_json::json;
use time::{Date, PrimitiveDateTime};

use crate::alerts::rule_of;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RulesError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => RulesError::Access(AccessError::NotFound),
            other => RulesError::Store(other),
        }
    }
}

/// A named staff member of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedUser {
    pub id: String,
    pub name: String,
}

/// A rule as the settings page and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub id: String,
    pub location_id: String,
    pub location_name: String,
    pub event: NotificationEvent,
    pub event_label: &'static str,
    pub name: String,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub severity: Severity,
    pub severity_label: &'static str,
    pub colour: &'static str,
    pub recipient_users: Vec<NamedUser>,
    pub recipient_care_team: bool,
    pub recipient_roles: Vec<StaffRole>,
    pub title: String,
    pub message: String,
    pub toast: bool,
    pub email: bool,
    pub created_by_name: String,
    pub updated_at: PrimitiveDateTime,
}

fn staff_of(actor: &Actor) -> Result<&StaffPrincipal, RulesError> {
    Ok(actor.principal.staff().ok_or(AccessError::Forbidden { needs: "a staff account" })?)
}

fn manager(actor: &Actor) -> Result<&StaffPrincipal, RulesError> {
    let s = staff_of(actor)?;
    core::may_manage_rules(s)?;
    Ok(s)
}

async fn view_of(conn: &mut DbConn, row: RuleRow) -> Result<RuleView, RulesError> {
    let rule =
        rule_of(&row).ok_or_else(|| StoreError::Corrupt(format!("notification rule {} is unreadable", row.id)))?;
    let location_name = org::find_location(conn, &row.location_id).await.map(|l| l.name).unwrap_or_default();
    let staff = staff_store::list(conn).await?;
    let recipient_users = rule
        .recipients
        .users
        .iter()
        .map(|id| NamedUser {
            id: id.clone(),
            name: staff.iter().find(|s| &s.id == id).map(|s| s.name.clone()).unwrap_or_else(|| "(removed)".into()),
        })
        .collect();
    Ok(RuleView {
        id: row.id,
        location_id: row.location_id,
        location_name,
        event: rule.event,
        event_label: rule.event.label(),
        name: rule.name,
        starts_on: rule.starts_on,
        ends_on: rule.ends_on,
        severity: rule.severity,
        severity_label: rule.severity.label(),
        colour: rule.severity.colour(),
        recipient_users,
        recipient_care_team: rule.recipients.care_team,
        recipient_roles: rule.recipients.roles,
        title: rule.title,
        message: rule.message,
        toast: rule.toast,
        email: rule.email,
        created_by_name: row.created_by_name,
        updated_at: row.updated_at,
    })
}

/// The rules of one location (`None`: every location), by event then name.
pub async fn list(db: &Db, actor: &Actor, location_id: Option<&str>) -> Result<Vec<RuleView>, RulesError> {
    manager(actor)?;
    let mut conn = db.read().await?;
    if let Some(l) = location_id {
        org::find_location(&mut conn, l.trim()).await?;
    }
    let rows = store::rules(&mut conn, location_id.map(str::trim)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view_of(&mut conn, row).await?);
    }
    Ok(out)
}

pub async fn get(db: &Db, actor: &Actor, id: &str) -> Result<RuleView, RulesError> {
    manager(actor)?;
    let mut conn = db.read().await?;
    let row = store::find_rule(&mut conn, id.trim()).await?.ok_or(AccessError::NotFound)?;
    view_of(&mut conn, row).await
}

/// The staff a rule at `location_id` may name: those delivery would reach there (active, with
/// access to the location; the same test as [`crate::alerts::candidates`]), and anyone in `ticked`
/// already, so that a form keeps what it holds. By name.
pub async fn recipient_choices(
    db: &Db,
    actor: &Actor,
    location_id: &str,
    ticked: &[String],
) -> Result<Vec<NamedUser>, RulesError> {
    manager(actor)?;
    let mut conn = db.read().await?;
    let reachable = crate::alerts::candidates(&mut conn, location_id.trim(), &[]).await?;
    let mut out: Vec<NamedUser> = staff_store::list(&mut conn)
        .await?
        .into_iter()
        .filter(|s| {
            ticked.iter().any(|t| t.trim() == s.id)
                || reachable.iter().any(|c| c.id == s.id && c.active && c.at_location)
        })
        .map(|s| NamedUser { id: s.id, name: s.name })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Parses a rule and checks what only the store knows: the location exists, the named users are
/// active staff.
async fn checked(conn: &mut DbConn, raw: &RawRule) -> Result<Rule, RulesError> {
    let rule = raw.parse();
    let mut errors = match &rule {
        Ok(_) => FieldErrors::new(),
        Err(e) => e.clone(),
    };
    if !raw.location_id.trim().is_empty() && org::find_location(conn, raw.location_id.trim()).await.is_err() {
        errors.push("location_id", "is not one of the clinic's locations");
    }
    if let Ok(r) = &rule {
        let staff = staff_store::list(conn).await?;
        if r.recipients.users.iter().any(|u| !staff.iter().any(|s| &s.id == u && s.active)) {
            errors.push("recipient_users", "holds someone who is not an active staff member");
        }
    }
    match rule {
        Ok(r) if errors.is_empty() => Ok(r),
        _ => Err(errors.into()),
    }
}

fn row_of(id: String, rule: &Rule, created_by_name: String, at: PrimitiveDateTime) -> RuleRow {
    RuleRow {
        id,
        location_id: rule.location_id.clone(),
        event: rule.event.as_str().to_owned(),
        name: rule.name.clone(),
        starts_on: rule.starts_on,
        ends_on: rule.ends_on,
        severity: rule.severity.as_str().to_owned(),
        recipient_users: rule.recipients.users.join(","),
        recipient_care_team: rule.recipients.care_team,
        recipient_roles: rule.recipients.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        title: rule.title.clone(),
        message: rule.message.clone(),
        toast: rule.toast,
        email: rule.email,
        deleted_at: None,
        created_by_name,
        created_at: at,
        updated_at: at,
    }
}

/// A new rule for one location (seed 000, "Click the New button").
pub async fn create(db: &Db, actor: &Actor, raw: RawRule) -> Result<RuleView, RulesError> {
    let s = manager(actor)?.clone();
    let mut conn = db.read().await?;
    let rule = checked(&mut conn, &raw).await?;
    drop(conn);
    let row = row_of(new_id(), &rule, s.name.clone(), now_utc());
    let entry = AuditEntry::by(actor, AuditAction::NotificationRuleCreated)
        .target("notification_rule", &row.id)
        .detail(json!({ "location_id": row.location_id, "event": row.event }));
    let id = row.id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            store::insert_rule(tx, &row).await?;
            audit::append(tx, &entry).await?;
            Ok::<_, RulesError>(())
        })
    })
    .await?;
    get(db, actor, &id).await
}

pub async fn update(db: &Db, actor: &Actor, id: &str, raw: RawRule) -> Result<RuleView, RulesError> {
    manager(actor)?;
    let mut conn = db.read().await?;
    let existing = store::find_rule(&mut conn, id.trim()).await?.ok_or(AccessError::NotFound)?;
    let rule = checked(&mut conn, &raw).await?;
    drop(conn);
    let row = row_of(existing.id.clone(), &rule, existing.created_by_name.clone(), now_utc());
    let entry = AuditEntry::by(actor, AuditAction::NotificationRuleUpdated)
        .target("notification_rule", &row.id)
        .detail(json!({ "location_id": row.location_id, "event": row.event }));
    db.write(move |tx| {
        Box::pin(async move {
            store::update_rule(tx, &row).await?;
            audit::append(tx, &entry).await?;
            Ok::<_, RulesError>(())
        })
    })
    .await?;
    get(db, actor, &existing.id).await
}

/// Stops a rule (its delivered notifications stay).
pub async fn delete(db: &Db, actor: &Actor, id: &str) -> Result<(), RulesError> {
    manager(actor)?;
    let id = id.trim().to_owned();
    let entry = AuditEntry::by(actor, AuditAction::NotificationRuleDeleted).target("notification_rule", &id);
    db.write(move |tx| {
        Box::pin(async move {
            store::delete_rule(tx, &id, now_utc()).await?;
            audit::append(tx, &entry).await?;
            Ok::<_, RulesError>(())
        })
    })
    .await
}

/// "Send test notification": the rule's notification, with sample facts, to the current user
/// only, by the rule's own means (toast, e-mail or both).
pub async fn send_test(db: &Db, actor: &Actor, id: &str) -> Result<NotificationRow, RulesError> {
    let s = manager(actor)?.clone();
    let rule = get(db, actor, id).await?;
    let mut conn = db.read().await?;
    let me = staff_store::find(&mut conn, s.id.as_str()).await?;
    drop(conn);
    let facts = core::sample_facts(rule.event, &rule.location_name);
    let now = now_utc();
    let row = NotificationRow {
        id: new_id(),
        staff_id: me.id.clone(),
        rule_id: None,
        event_id: None,
        patient_id: None,
        location_id: rule.location_id.clone(),
        severity: rule.severity.as_str().to_owned(),
        title: format!("Test: {}", core::render(&rule.title, &facts)),
        body: core::render(&rule.message, &facts),
        link: Some(format!("/settings/notifications/{}", rule.id)),
        toast: rule.toast,
        email: rule.email,
        created_at: now,
        toasted_at: None,
        read_at: None,
    };
    let entry = AuditEntry::by(actor, AuditAction::NotificationTestSent).target("notification_rule", &rule.id);
    let email = rule.email.then(|| DomainEvent::StaffNotificationEmail {
        notification_id: row.id.clone(),
        staff_id: me.id.clone(),
        to: me.email.clone(),
        location_name: rule.location_name.clone(),
    });
    let written = row.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let written = store::insert_notifications(tx, std::slice::from_ref(&row)).await?;
            crate::hub::notify(tx, &written).await?;
            if let Some(e) = &email {
                outbox::enqueue_event(tx, e).await?;
            }
            audit::append(tx, &entry).await?;
            Ok::<_, RulesError>(())
        })
    })
    .await?;
    Ok(written)
}

/// [`send_test`], with its toast signalled to this process's streams at once on SQLite (on
/// PostgreSQL the signal goes out with the commit whichever of the two is called).
pub async fn send_test_with_hub(
    db: &Db,
    hub: &crate::hub::Hub,
    actor: &Actor,
    id: &str,
) -> Result<NotificationRow, RulesError> {
    let row = send_test(db, actor, id).await?;
    hub.committed(db.backend(), std::slice::from_ref(&row));
    Ok(row)
}

/// The caller's notifications, newest first (`before`: the `created_at` of the last one shown).
pub async fn mine(
    db: &Db,
    actor: &Actor,
    before: Option<PrimitiveDateTime>,
    limit: i64,
) -> Result<Vec<NotificationRow>, RulesError> {
    let s = staff_of(actor)?;
    let mut conn = db.read().await?;
    let rows = store::of_staff(&mut conn, s.id.as_str(), before, limit).await?;
    drop(conn);
    if !rows.is_empty() {
        db.audit_read(AuditEntry::by(actor, AuditAction::NotificationsViewed).detail(json!({ "shown": rows.len() })))
            .await?;
    }
    Ok(rows)
}

pub async fn unread_count(db: &Db, actor: &Actor) -> Result<i64, RulesError> {
    let s = staff_of(actor)?;
    let mut conn = db.read().await?;
    Ok(store::unread_count(&mut conn, s.id.as_str()).await?)
}

/// Marks one of the caller's notifications read, or all of them; another person's id answers
/// `NotFound`.
pub async fn mark_read(db: &Db, actor: &Actor, id: Option<&str>) -> Result<usize, RulesError> {
    let s = staff_of(actor)?.clone();
    let id = id.map(|i| i.trim().to_owned());
    db.write(move |tx| {
        Box::pin(async move {
            if let Some(i) = &id {
                let row = store::find(tx, i).await?.ok_or(AccessError::NotFound)?;
                if row.staff_id != s.id.as_str() {
                    return Err(AccessError::NotFound.into());
                }
            }
            Ok::<_, RulesError>(store::mark_read(tx, s.id.as_str(), id.as_deref(), now_utc()).await?)
        })
    })
    .await
}
