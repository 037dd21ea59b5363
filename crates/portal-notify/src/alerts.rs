//! Notification rules at delivery (seed 000): a domain event that a rule can react to is matched
//! against the live rules of the patient's location within their dates; each rule's recipients
//! are resolved now (each person once, inactive staff and staff without access to the location
//! skipped), and one notification per person is written, with its e-mail queued in the outbox
//! when the rule sends e-mail. All in one transaction, and idempotent: a notification already
//! written for a person, rule and event is not written again (a retried or concurrent delivery).
//!
//! The toast itself reaches the person's browser from the notifications table (the page's
//! stream), signalled through [`crate::hub`]; nothing here holds health information in a log
//! or an e-mail.

use std::collections::HashSet;

use portal_core::events::{DomainEvent, Relation};
use portal_core::notifications::{self as rules, Candidate, EventFacts, NotificationEvent, Recipients, Rule};
use portal_core::staff::{Permission, StaffRole};
use portal_store::notifications::{self as store, NotificationRow, RuleRow};
use portal_store::staff::StaffRow;
use portal_store::{Db, DbConn, StoreError, ids::new_id, org, outbox, portal_access, staff as staff_store};
use time::PrimitiveDateTime;

/// What a rule needs to know of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub event: NotificationEvent,
    pub patient_id: String,
    pub relation: Option<Relation>,
    pub document_name: Option<String>,
    /// Where the notification leads in the app.
    pub link: String,
}

/// The rule event a domain event is, if any.
pub fn trigger_of(event: &DomainEvent) -> Option<Trigger> {
    let t = |event, patient_id: &str, relation, link: String| Trigger {
        event,
        patient_id: patient_id.to_owned(),
        relation,
        document_name: None,
        link,
    };
    match event {
        DomainEvent::PortalRegistrationCompleted { patient_id, relation, .. } => Some(t(
            NotificationEvent::RegistrationCompleted,
            patient_id,
            Some(*relation),
            format!("/patients/{patient_id}/portal"),
        )),
        DomainEvent::PortalEmailChanged { patient_id: Some(patient_id), relation, .. } => {
            Some(t(NotificationEvent::EmailChanged, patient_id, *relation, format!("/patients/{patient_id}/portal")))
        }
        DomainEvent::PortalRequestSubmitted { request_id, patient_id, relation, .. } => {
            Some(t(NotificationEvent::NewRequest, patient_id, Some(*relation), format!("/queue/{request_id}")))
        }
        DomainEvent::PortalMessageReceived { patient_id, relation, .. } => {
            // The messages page, not the thread: a rule may alert staff who are not in it.
            Some(t(NotificationEvent::NewMessage, patient_id, Some(*relation), "/messages".to_owned()))
        }
        _ => None,
    }
}

/// A stored rule, as the pure rules see it. `None` for a row this version cannot read (a newer
/// version's event or severity): it is skipped rather than guessed at.
pub fn rule_of(row: &RuleRow) -> Option<Rule> {
    let split = |s: &str| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    Some(Rule {
        location_id: row.location_id.clone(),
        event: NotificationEvent::parse(&row.event).ok()?,
        name: row.name.clone(),
        starts_on: row.starts_on,
        ends_on: row.ends_on,
        severity: rules::Severity::parse(&row.severity).ok()?,
        recipients: Recipients {
            users: split(&row.recipient_users),
            care_team: row.recipient_care_team,
            roles: split(&row.recipient_roles).iter().filter_map(|r| StaffRole::parse(r).ok()).collect(),
        },
        title: row.title.clone(),
        message: row.message.clone(),
        toast: row.toast,
        email: row.email,
    })
}

/// Every staff member as a rule's recipient at `location` for `patient`'s care team (the
/// recipient picker; delivery reads only the people its rules can name, [`candidates_for`]).
pub async fn candidates(conn: &mut DbConn, location: &str, care_team: &[String]) -> Result<Vec<Candidate>, StoreError> {
    let linked: HashSet<String> = staff_store::all_location_links(conn)
        .await?
        .into_iter()
        .filter(|(_, lid)| lid == location)
        .map(|(sid, _)| sid)
        .collect();
    Ok(staff_store::list(conn).await?.iter().map(|s| candidate(s, linked.contains(&s.id), care_team)).collect())
}

fn candidate(s: &StaffRow, linked: bool, care_team: &[String]) -> Candidate {
    let role = StaffRole::parse(&s.role).ok();
    let everywhere = role.is_some_and(|r| r.has(Permission::AllLocations));
    Candidate {
        on_care_team: care_team.contains(&s.id),
        id: s.id.clone(),
        active: s.active,
        role,
        at_location: everywhere || linked,
    }
}

/// The people `rules` can name for an event at `location` (the users they name, the care team
/// when one of them asks for it, the holders of their roles), as candidates in the order of
/// [`candidates`], with their e-mail addresses.
pub async fn candidates_for(
    conn: &mut DbConn,
    location: &str,
    care_team: &[String],
    rules: &[&Rule],
) -> Result<(Vec<Candidate>, Vec<(String, String)>), StoreError> {
    let mut ids: Vec<String> = rules.iter().flat_map(|r| r.recipients.users.iter().cloned()).collect();
    if rules.iter().any(|r| r.recipients.care_team) {
        ids.extend(care_team.iter().cloned());
    }
    ids.sort();
    ids.dedup();
    let mut roles: Vec<String> =
        rules.iter().flat_map(|r| r.recipients.roles.iter().map(|role| role.as_str().to_owned())).collect();
    roles.sort();
    roles.dedup();
    let rows = store::recipient_staff(conn, location, &ids, &roles).await?;
    let people = rows.iter().map(|(s, linked)| candidate(s, *linked, care_team)).collect();
    let emails = rows.into_iter().map(|(s, _)| (s.id, s.email)).collect();
    Ok((people, emails))
}

/// Writes the notifications `event` (outbox id `event_id`) calls for at `now` and queues their
/// e-mails; returns those written now (none when a delivery already wrote them, or no rule
/// applies). Rules apply by the UTC date.
pub async fn deliver(
    db: &Db,
    event_id: &str,
    event: &DomainEvent,
    now: PrimitiveDateTime,
) -> Result<Vec<NotificationRow>, StoreError> {
    let Some(trigger) = trigger_of(event) else { return Ok(vec![]) };
    let mut conn = db.read().await?;
    let patient = match portal_access::patient(&mut conn, &trigger.patient_id).await {
        Ok(p) => p,
        // The patient is gone (a later version may delete): nothing to say about them.
        Err(StoreError::NotFound) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let live: Vec<(String, Rule)> = store::rules_for(&mut conn, &patient.location_id, trigger.event.as_str())
        .await?
        .iter()
        .filter_map(|row| rule_of(row).map(|r| (row.id.clone(), r)))
        .filter(|(_, r)| rules::applies(r, trigger.event, &patient.location_id, now.date()))
        .collect();
    if live.is_empty() {
        return Ok(vec![]);
    }
    let location = org::find_location(&mut conn, &patient.location_id).await?;
    let team = portal_store::messaging::care_team_ids(&mut conn, &patient.id).await?;
    let rules_live: Vec<&Rule> = live.iter().map(|(_, r)| r).collect();
    let (people, emails) = candidates_for(&mut conn, &patient.location_id, &team, &rules_live).await?;
    drop(conn);
    let facts = EventFacts {
        patient_name: format!("{} {}", patient.first_name, patient.last_name),
        relation: trigger.relation.map(|r| r.label().to_owned()).unwrap_or_default(),
        document_name: trigger.document_name.clone(),
        location: location.name.clone(),
    };
    let mut rows = Vec::new();
    for (rule_id, rule) in &live {
        for staff_id in rules::recipients_of(&rule.recipients, &people) {
            rows.push(NotificationRow {
                id: new_id(),
                staff_id,
                rule_id: Some(rule_id.clone()),
                event_id: Some(event_id.to_owned()),
                patient_id: Some(patient.id.clone()),
                location_id: patient.location_id.clone(),
                severity: rule.severity.as_str().to_owned(),
                title: rules::render(&rule.title, &facts),
                body: rules::render(&rule.message, &facts),
                link: Some(trigger.link.clone()),
                toast: rule.toast,
                email: rule.email,
                created_at: now,
                toasted_at: None,
                read_at: None,
            });
        }
    }
    let location_name = location.name;
    db.write(move |tx| {
        Box::pin(async move {
            let written = store::insert_notifications(tx, &rows).await?;
            // The toasts' signals fire when this commits (PostgreSQL; SQLite: the caller's
            // `Hub::committed`).
            crate::hub::notify(tx, &written).await?;
            for n in written.iter().filter(|n| n.email) {
                let Some((_, to)) = emails.iter().find(|(id, _)| *id == n.staff_id) else { continue };
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::StaffNotificationEmail {
                        notification_id: n.id.clone(),
                        staff_id: n.staff_id.clone(),
                        to: to.clone(),
                        location_name: location_name.clone(),
                    },
                )
                .await?;
            }
            Ok(written)
        })
    })
    .await
}
