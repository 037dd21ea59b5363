//! Sending: staff start a portal conversation with an eligible portal user, staff start a
//! staff conversation, a portal user starts one with an eligible staff member, and anyone in a
//! conversation replies (eligibility checked again). Also the recipient lists the forms offer.
//!
//! Every send is idempotent under retries: with an `Idempotency-Key`, a second request returns
//! the message the first one created (`replayed: true`), also when both arrive at once (the
//! unique index decides, and the loser reads the winner's message).

use portal_core::access::{Actor, StaffPrincipal};
use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, Relation};
use portal_core::ids::{LocationId, PatientId, StaffId};
use portal_core::messaging::{
    self as rules, ConversationKind, GrantFacts, IdempotencyKey, Ineligible, MessageBody, MessageSubject,
    MessagingRefused, PortalFacts, StaffFacts, StaffRecipientFacts,
};
use portal_core::portal_accounts::{GrantScope, PortalPrincipal};
use portal_core::staff::{Permission, PortalPermission};
use portal_core::time_util::now_utc;
use portal_core::{AccessError, FieldErrors};
use portal_store::audit::AuditEntry;
use portal_store::messaging::{
    self as store, ConversationRow, MessageRow, NewConversation, NewMessage, ParticipantRow, Party,
};
use portal_store::portal_accounts as accounts;
use portal_store::{Db, DbConn, StoreError, ids::new_id, staff as staff_store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::eligibility::{self, facts_of_account};
use crate::inbox::MessageView;
use crate::{Caller, MessagingError};

/// New Message from the patient chart, type Portal (seed 001, "Message a Patient").
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PortalMessageInput {
    pub patient_id: String,
    /// The portal account chosen from [`portal_recipients`].
    pub recipient_account_id: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Send no "you have a new message" e-mail (seed 002: a reply from the request queue may
    /// switch off the default notice). The message still raises the recipient's unread count.
    #[serde(default)]
    pub skip_email_notice: bool,
}

/// New Message of type Staff from the chart (with the patient) or Compose from the inbox
/// (without), seed 001 "Message EMR Users".
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StaffMessageInput {
    pub recipient_staff_ids: Vec<String>,
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A portal user's new message to a staff member about one of their patients.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PortalUserMessageInput {
    pub patient_id: String,
    /// The staff member chosen from [`staff_for_portal_user`].
    pub staff_id: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ReplyInput {
    pub body: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A message sent (or, for a retried request, the one the first request sent).
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub conversation_id: String,
    pub message: MessageView,
    /// True when an earlier request with the same idempotency key had already sent it.
    pub replayed: bool,
}

/// A portal user staff may write to about a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalRecipient {
    pub account_id: String,
    pub name: String,
    pub relation: Relation,
}

/// A staff member one may write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffRecipient {
    pub staff_id: String,
    pub name: String,
}

/// The message types the New Message window offers this staff member: Portal and Staff with
/// Available for Portal Messages, Staff alone otherwise (no choice shown).
pub fn message_types(actor: &Actor) -> Result<&'static [ConversationKind], MessagingError> {
    match Caller::staff(actor)? {
        Caller::Staff { staff, .. } => Ok(rules::message_types_offered(&staff)),
        Caller::Portal { .. } => Err(AccessError::NotFound.into()),
    }
}

fn staff_of(caller: &Caller) -> Result<&StaffPrincipal, MessagingError> {
    match caller {
        Caller::Staff { staff, .. } => Ok(staff),
        Caller::Portal { .. } => Err(AccessError::NotFound.into()),
    }
}

/// The patient as a staff member may reach it (View Patients and the location), or `NotFound`.
async fn patient_for_staff(
    conn: &mut DbConn,
    staff: &StaffPrincipal,
    id: &str,
) -> Result<portal_store::portal_access::PatientPortalRow, MessagingError> {
    staff.require(Permission::ViewPatients)?;
    let p = eligibility::patient(conn, id).await?;
    if !staff.may_access_location(&LocationId::from_trusted(p.location_id.clone())) {
        return Err(AccessError::NotFound.into());
    }
    Ok(p)
}

/// The portal users staff may message about a patient (seed 001: "Only users with active portal
/// accounts ... will appear in this list"): patient, guardian, guarantor or designated user with
/// a password set and a grant in force covering messages. Refused with the reason when the
/// staff member cannot send portal messages about this patient at all.
pub async fn portal_recipients(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
) -> Result<Vec<PortalRecipient>, MessagingError> {
    let caller = Caller::staff(actor)?;
    let staff = staff_of(&caller)?;
    if !staff.portal.has(PortalPermission::AvailableForPortalMessages) {
        return Err(MessagingRefused::NeedPortalMessagesPermission.into());
    }
    let mut conn = db.read().await?;
    let patient = patient_for_staff(&mut conn, staff, patient_id).await?;
    let (on, mode) = eligibility::portal_settings(&mut conn).await?;
    if !on {
        return Err(Ineligible::PortalOff.into());
    }
    let team = store::care_team_ids(&mut conn, &patient.id).await?;
    let me = StaffFacts::of_principal(
        staff,
        &LocationId::from_trusted(patient.location_id.clone()),
        team.iter().any(|s| s == staff.id.as_str()),
    );
    rules::staff_side_eligible(mode, &me)?;
    let mut out = Vec::new();
    for (grant, account) in accounts::grants_of_patient(&mut conn, &patient.id).await? {
        if grant.revoked_at.is_some() {
            continue;
        }
        let Some(relation) = Relation::parse(&grant.relation) else { continue };
        if rules::portal_side_eligible(&facts_of_account(&account, Some(&grant), &patient)).is_ok() {
            out.push(PortalRecipient { account_id: account.id.clone(), name: account.display_name.clone(), relation });
        }
    }
    Ok(out)
}

/// The staff a portal user may write to about one of their patients, by the instance setting:
/// everyone with Available for Portal Messages who can see the patient, or only those of them on
/// the patient's care team. Sorted by name.
pub async fn staff_for_portal_user(
    db: &Db,
    principal: &PortalPrincipal,
    patient_id: &str,
) -> Result<Vec<StaffRecipient>, MessagingError> {
    let pid = PatientId::parse(patient_id).map_err(|_| AccessError::NotFound)?;
    principal.require(&pid, GrantScope::Messages)?;
    let mut conn = db.read().await?;
    let patient = eligibility::patient(&mut conn, patient_id).await?;
    let (on, mode) = eligibility::portal_settings(&mut conn).await?;
    if !on {
        return Ok(vec![]);
    }
    let team = store::care_team_ids(&mut conn, &patient.id).await?;
    let links = staff_store::all_location_links(&mut conn).await?;
    let location = LocationId::from_trusted(patient.location_id.clone());
    let mut out = Vec::new();
    for row in staff_store::list(&mut conn).await? {
        if !row.active || !row.perm_available_for_portal_messages {
            continue;
        }
        let locations = links.iter().filter(|(s, _)| *s == row.id).map(|(_, l)| l.clone()).collect();
        let Some(p) = eligibility::principal_of(&row, locations) else { continue };
        let facts = StaffFacts::of_principal(&p, &location, team.contains(&row.id));
        if rules::staff_side_eligible(mode, &facts).is_ok() {
            out.push(StaffRecipient { staff_id: row.id, name: row.name });
        }
    }
    Ok(out)
}

/// The staff a staff member may write to: every other active staff member, or, about a
/// patient, those of them who may see that patient. Sorted by name.
pub async fn staff_recipients(
    db: &Db,
    actor: &Actor,
    patient_id: Option<&str>,
) -> Result<Vec<StaffRecipient>, MessagingError> {
    let caller = Caller::staff(actor)?;
    let staff = staff_of(&caller)?;
    let mut conn = db.read().await?;
    let location = match patient_id {
        Some(id) => Some(LocationId::from_trusted(patient_for_staff(&mut conn, staff, id).await?.location_id)),
        None => None,
    };
    let links = staff_store::all_location_links(&mut conn).await?;
    let mut out = Vec::new();
    for row in staff_store::list(&mut conn).await? {
        if !row.active || row.id == staff.id.as_str() {
            continue;
        }
        if let Some(loc) = &location {
            let locations = links.iter().filter(|(s, _)| *s == row.id).map(|(_, l)| l.clone()).collect();
            let Some(p) = eligibility::principal_of(&row, locations) else { continue };
            if !(p.has(Permission::ViewPatients) && p.may_access_location(loc)) {
                continue;
            }
        }
        out.push(StaffRecipient { staff_id: row.id, name: row.name });
    }
    Ok(out)
}

/// Subject, body and idempotency key, every problem reported at once.
fn parse_texts(
    subject: Option<&str>,
    body: &str,
    key: &Option<String>,
) -> Result<(Option<MessageSubject>, MessageBody, Option<IdempotencyKey>), FieldErrors> {
    let mut errors = FieldErrors::new();
    let texts = match rules::parse_message(subject, body) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.0.extend(e.0);
            None
        }
    };
    let key = errors.check_optional("idempotency_key", key, IdempotencyKey::parse);
    match texts {
        Some((s, b)) if errors.is_empty() => Ok((s, b, key)),
        _ => Err(errors),
    }
}

/// A retried send: the message the first request with this key created, when the retry asks
/// for the same thing (same text, and for a reply the same conversation).
fn replayed(
    first: MessageRow,
    body: &MessageBody,
    conversation: Option<&str>,
    me: &Party,
) -> Result<Sent, MessagingError> {
    if first.body != body.as_str() || conversation.is_some_and(|c| c != first.conversation_id) {
        return Err(MessagingRefused::IdempotencyKeyReused.into());
    }
    Ok(Sent {
        conversation_id: first.conversation_id.clone(),
        message: MessageView::of(first, me, false),
        replayed: true,
    })
}

async fn earlier_send(
    conn: &mut DbConn,
    me: &Party,
    key: Option<&IdempotencyKey>,
    body: &MessageBody,
    conversation: Option<&str>,
) -> Result<Option<Sent>, MessagingError> {
    let Some(key) = key else { return Ok(None) };
    match store::by_idempotency_key(conn, me, key.as_str()).await? {
        Some(first) => replayed(first, body, conversation, me).map(Some),
        None => Ok(None),
    }
}

/// A conversation to start with the message.
struct Start {
    kind: ConversationKind,
    patient: Option<String>,
    subject: Option<String>,
    /// Everyone in it, the starter first, with the names shown and searched.
    participants: Vec<(Party, String)>,
}

/// Everything one send writes, decided before the transaction.
struct Plan {
    me: Party,
    sender_name: String,
    /// A new conversation, or `None` for a reply.
    start: Option<Start>,
    conversation_id: String,
    body: MessageBody,
    key: Option<IdempotencyKey>,
    notice: Option<DomainEvent>,
    /// For a reply: who replies where, and everyone in the conversation (read before: nobody
    /// joins or leaves a conversation once it is started). The eligibility check runs inside
    /// the transaction that writes the message, so a grant revoked or a care team changed a
    /// moment before cannot let one more message through (on SQLite the write lock orders them;
    /// on PostgreSQL the rows read are those committed when the statement runs).
    recheck: Option<(Caller, ConversationRow, Vec<ParticipantRow>)>,
    audit: AuditEntry,
}

/// One transaction: the conversation (when new), the message, the participants' counts, the
/// e-mail event and the audit row. A retry that raced the first request finds its message.
async fn commit(db: &Db, plan: Plan) -> Result<Sent, MessagingError> {
    let me = plan.me.clone();
    let body = plan.body.clone();
    let key = plan.key.clone();
    let reply_to = plan.start.is_none().then(|| plan.conversation_id.clone());
    let outcome = db
        .write(move |tx| {
            Box::pin(async move {
                if let Some(k) = &plan.key
                    && let Some(first) = store::by_idempotency_key(tx, &plan.me, k.as_str()).await?
                {
                    let conv = plan.start.is_none().then_some(plan.conversation_id.as_str());
                    return replayed(first, &plan.body, conv, &plan.me);
                }
                let mut notice = plan.notice;
                if let Some((caller, conv, parts)) = &plan.recheck {
                    notice = reply_check(tx, caller, conv, parts).await?;
                }
                let at = now_utc();
                if let Some(Start { kind, patient, subject, participants }) = &plan.start {
                    store::insert_conversation(
                        tx,
                        &NewConversation {
                            id: &plan.conversation_id,
                            kind: kind.as_str(),
                            patient_id: patient.as_deref(),
                            subject: subject.as_deref(),
                            started_by: &plan.me,
                            at,
                        },
                        participants,
                    )
                    .await?;
                }
                let message_id = new_id();
                let mut entry = plan.audit;
                if let serde_json::Value::Object(map) = &mut entry.detail {
                    map.insert("message_id".into(), json!(message_id));
                }
                let row = store::add_message_recorded(
                    tx,
                    &NewMessage {
                        id: &message_id,
                        conversation_id: &plan.conversation_id,
                        sender: &plan.me,
                        sender_name: &plan.sender_name,
                        body: plan.body.as_str(),
                        at,
                        idempotency_key: plan.key.as_ref().map(|k| k.as_str()),
                    },
                    notice.as_ref(),
                    &entry,
                )
                .await?;
                Ok::<_, MessagingError>(Sent {
                    conversation_id: plan.conversation_id.clone(),
                    message: MessageView::of(row, &plan.me, false),
                    replayed: false,
                })
            })
        })
        .await;
    match outcome {
        // Two requests with one key at once (PostgreSQL): the unique index let one through.
        Err(MessagingError::Store(StoreError::Conflict { .. })) if key.is_some() => {
            let mut conn = db.read().await?;
            earlier_send(&mut conn, &me, key.as_ref(), &body, reply_to.as_deref()).await?.ok_or_else(|| {
                MessagingError::Store(StoreError::Corrupt("idempotency conflict without a message".into()))
            })
        }
        other => other,
    }
}

/// Staff start a portal conversation with one portal user about a patient (seed 001, "Message
/// a Patient"). Needs Available for Portal Messages, View Patients and the patient's location;
/// the pair must be eligible; the recipient gets an e-mail saying a message is waiting.
pub async fn start_portal_conversation(
    db: &Db,
    actor: &Actor,
    input: PortalMessageInput,
) -> Result<Sent, MessagingError> {
    let caller = Caller::staff(actor)?;
    let staff = staff_of(&caller)?;
    let (subject, body, key) = parse_texts(input.subject.as_deref(), &input.body, &input.idempotency_key)?;
    if !staff.portal.has(PortalPermission::AvailableForPortalMessages) {
        return Err(MessagingRefused::NeedPortalMessagesPermission.into());
    }
    let me = caller.party();
    let mut conn = db.read().await?;
    if let Some(sent) = earlier_send(&mut conn, &me, key.as_ref(), &body, None).await? {
        return Ok(sent);
    }
    let patient = patient_for_staff(&mut conn, staff, &input.patient_id).await?;
    let account_id = input.recipient_account_id.trim();
    let Some(account) = accounts::find_account(&mut conn, account_id).await? else {
        return Err(MessagingRefused::RecipientNotAvailable.into());
    };
    // An account with no grant to this patient is not offered: naming it would tell its name.
    let Some(grant) = accounts::live_grant(&mut conn, &account.id, &patient.id).await? else {
        return Err(MessagingRefused::RecipientNotAvailable.into());
    };
    let team = store::care_team_ids(&mut conn, &patient.id).await?;
    let (on, mode) = eligibility::portal_settings(&mut conn).await?;
    drop(conn);
    let staff_facts = StaffFacts::of_principal(
        staff,
        &LocationId::from_trusted(patient.location_id.clone()),
        team.iter().any(|s| s == staff.id.as_str()),
    );
    let portal_facts = facts_of_account(&account, Some(&grant), &patient);
    rules::portal_pair_eligible(on, mode, &staff_facts, &portal_facts)?;
    let conversation_id = new_id();
    let notice = DomainEvent::PortalMessageNotice {
        account_id: account.id.clone(),
        to: account.email.clone(),
        patient_id: patient.id.clone(),
        conversation_id: conversation_id.clone(),
    };
    let audit = caller
        .entry(AuditAction::ConversationStarted)
        .patient(&patient.id)
        .target("conversation", &conversation_id)
        .detail(json!({ "kind": "portal", "recipients": 1 }));
    commit(
        db,
        Plan {
            sender_name: staff.name.clone(),
            start: Some(Start {
                kind: ConversationKind::Portal,
                patient: Some(patient.id.clone()),
                subject: subject.map(String::from),
                participants: vec![
                    (me.clone(), staff.name.clone()),
                    (Party { kind: "portal", id: account.id.clone() }, account.display_name.clone()),
                ],
            }),
            me,
            conversation_id,
            body,
            key,
            notice: (!input.skip_email_notice).then_some(notice),
            recheck: None,
            audit,
        },
    )
    .await
}

/// Staff start a staff conversation with one or more staff members, optionally about a patient
/// (then every recipient must be allowed to see that patient). Open to every staff member: the
/// seed limits portal messages, not staff ones (Compose in the inbox has no type choice).
pub async fn start_staff_conversation(
    db: &Db,
    actor: &Actor,
    input: StaffMessageInput,
) -> Result<Sent, MessagingError> {
    let caller = Caller::staff(actor)?;
    let staff = staff_of(&caller)?;
    let (subject, body, key) = parse_texts(input.subject.as_deref(), &input.body, &input.idempotency_key)?;
    let mut ids: Vec<StaffId> = Vec::new();
    for raw in &input.recipient_staff_ids {
        let id = StaffId::parse(raw).map_err(|_| MessagingRefused::RecipientNotAvailable)?;
        if id == staff.id {
            return Err(MessagingRefused::MessageToSelf.into());
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(MessagingRefused::NoRecipients.into());
    }
    if ids.len() > rules::MAX_STAFF_RECIPIENTS {
        return Err(MessagingRefused::TooManyRecipients { max: rules::MAX_STAFF_RECIPIENTS }.into());
    }
    let me = caller.party();
    let mut conn = db.read().await?;
    if let Some(sent) = earlier_send(&mut conn, &me, key.as_ref(), &body, None).await? {
        return Ok(sent);
    }
    let patient = match input.patient_id.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(id) => Some(patient_for_staff(&mut conn, staff, id).await?),
        None => None,
    };
    let location = patient.as_ref().map(|p| p.location_id.clone()).unwrap_or_default();
    let mut facts = Vec::new();
    let mut participants = vec![(me.clone(), staff.name.clone())];
    for id in &ids {
        let Some((f, row)) = eligibility::staff_facts(&mut conn, id.as_str(), &location, &[]).await? else {
            return Err(MessagingRefused::RecipientNotAvailable.into());
        };
        facts.push(StaffRecipientFacts { name: f.name, active: f.active, sees_patient: f.sees_patient });
        participants.push((Party { kind: "staff", id: row.id }, row.name));
    }
    drop(conn);
    rules::staff_recipients_eligible(patient.is_some(), &facts)?;
    let conversation_id = new_id();
    let mut audit = caller
        .entry(AuditAction::ConversationStarted)
        .target("conversation", &conversation_id)
        .detail(json!({ "kind": "staff", "recipients": ids.len() }));
    if let Some(p) = &patient {
        audit = audit.patient(&p.id);
    }
    commit(
        db,
        Plan {
            sender_name: staff.name.clone(),
            start: Some(Start {
                kind: ConversationKind::Staff,
                patient: patient.map(|p| p.id),
                subject: subject.map(String::from),
                participants,
            }),
            me,
            conversation_id,
            body,
            key,
            notice: None,
            recheck: None,
            audit,
        },
    )
    .await
}

/// A portal user starts a conversation with a staff member about one patient they hold a grant
/// covering messages for. A staff member who is not offered ([`staff_for_portal_user`]) is
/// refused without saying why (their standing is not the portal user's business). No e-mail:
/// staff see the unread count in their header.
pub async fn start_as_portal_user(
    db: &Db,
    principal: &PortalPrincipal,
    ip: Option<String>,
    input: PortalUserMessageInput,
) -> Result<Sent, MessagingError> {
    let caller = Caller::portal(principal.clone(), ip);
    let (subject, body, key) = parse_texts(input.subject.as_deref(), &input.body, &input.idempotency_key)?;
    let pid = PatientId::parse(&input.patient_id).map_err(|_| AccessError::NotFound)?;
    principal.require(&pid, GrantScope::Messages)?;
    let me = caller.party();
    let mut conn = db.read().await?;
    if let Some(sent) = earlier_send(&mut conn, &me, key.as_ref(), &body, None).await? {
        return Ok(sent);
    }
    let patient = eligibility::patient(&mut conn, pid.as_str()).await?;
    let team = store::care_team_ids(&mut conn, &patient.id).await?;
    let (on, mode) = eligibility::portal_settings(&mut conn).await?;
    let staff_id = StaffId::parse(&input.staff_id).map_err(|_| MessagingRefused::RecipientNotAvailable)?;
    let Some((staff_facts, staff_row)) =
        eligibility::staff_facts(&mut conn, staff_id.as_str(), &patient.location_id, &team).await?
    else {
        return Err(MessagingRefused::RecipientNotAvailable.into());
    };
    let Some((my_facts, account)) =
        eligibility::portal_facts(&mut conn, principal.account_id.as_str(), &patient).await?
    else {
        return Err(AccessError::NotFound.into());
    };
    drop(conn);
    if !on {
        return Err(Ineligible::PortalOff.into());
    }
    if rules::staff_side_eligible(mode, &staff_facts).is_err() {
        return Err(MessagingRefused::RecipientNotAvailable.into());
    }
    rules::portal_side_eligible(&my_facts)?;
    let conversation_id = new_id();
    let notice = DomainEvent::PortalMessageReceived {
        conversation_id: conversation_id.clone(),
        account_id: principal.account_id.to_string(),
        patient_id: patient.id.clone(),
        relation: principal.grant_for(&pid)?.relation,
    };
    let audit = caller
        .entry(AuditAction::ConversationStarted)
        .patient(&patient.id)
        .target("conversation", &conversation_id)
        .detail(json!({ "kind": "portal", "recipients": 1 }));
    commit(
        db,
        Plan {
            sender_name: account.display_name.clone(),
            start: Some(Start {
                kind: ConversationKind::Portal,
                patient: Some(patient.id.clone()),
                subject: subject.map(String::from),
                participants: vec![
                    (me.clone(), account.display_name.clone()),
                    (Party { kind: "staff", id: staff_row.id.clone() }, staff_row.name.clone()),
                ],
            }),
            me,
            conversation_id,
            body,
            key,
            notice: Some(notice),
            recheck: None,
            audit,
        },
    )
    .await
}

/// Replies in a conversation the caller takes part in. Eligibility is checked again (seed 001:
/// changed portal connections, location access, permissions or care teams "may disable the
/// ability to reply"); a refusal says why. Replying to an archived conversation unarchives it
/// for the replier; the others get it back in Active with one more unread message.
pub async fn reply(db: &Db, caller: &Caller, conversation_id: &str, input: ReplyInput) -> Result<Sent, MessagingError> {
    let (_, body, key) = parse_texts(None, &input.body, &input.idempotency_key)?;
    let me = caller.party();
    let mut conn = db.read().await?;
    let (conv, _mine, parts) = crate::inbox::visible_with_participants(&mut conn, caller, conversation_id).await?;
    if let Some(sent) = earlier_send(&mut conn, &me, key.as_ref(), &body, Some(&conv.id)).await? {
        return Ok(sent);
    }
    let sender_name = match caller {
        Caller::Staff { staff, .. } => staff.name.clone(),
        Caller::Portal { principal, .. } => accounts::find_account(&mut conn, principal.account_id.as_str())
            .await?
            .map(|a| a.display_name)
            .ok_or(AccessError::NotFound)?,
    };
    drop(conn);
    let mut audit = caller.entry(AuditAction::MessageSent).target("conversation", &conv.id).detail(json!({}));
    if let Some(p) = &conv.patient_id {
        audit = audit.patient(p);
    }
    let conversation_id = conv.id.clone();
    commit(
        db,
        Plan {
            me,
            sender_name,
            start: None,
            conversation_id,
            body,
            key,
            notice: None,
            recheck: Some((caller.clone(), conv, parts)),
            audit,
        },
    )
    .await
}

/// May `caller` reply in `conv` now? `Ok` carries the e-mail event a staff reply to a portal
/// user needs. Also what the thread view shows as the reason it is read-only.
pub(crate) async fn reply_check(
    conn: &mut DbConn,
    caller: &Caller,
    conv: &ConversationRow,
    parts: &[ParticipantRow],
) -> Result<Option<DomainEvent>, MessagingError> {
    let corrupt = |what: &str| MessagingError::Store(StoreError::Corrupt(format!("conversation {}: {what}", conv.id)));
    match (ConversationKind::parse(&conv.kind).map_err(|_| corrupt("unknown kind"))?, caller) {
        (ConversationKind::Portal, _) => {
            let patient_id =
                conv.patient_id.as_deref().ok_or_else(|| corrupt("portal conversation without a patient"))?;
            let staff_part = parts.iter().find(|p| p.participant_kind == "staff").ok_or_else(|| corrupt("no staff"))?;
            let portal_part =
                parts.iter().find(|p| p.participant_kind == "portal").ok_or_else(|| corrupt("no portal user"))?;
            // Everything the pair is checked against, read together (one round trip on
            // PostgreSQL); the staff side from the store only when the caller is not that staff
            // member's session.
            let staff_side = match caller {
                Caller::Staff { .. } => None,
                Caller::Portal { .. } => Some(staff_part.participant_id.as_str()),
            };
            if portal_core::ids::PatientId::parse(patient_id).is_err() {
                return Err(AccessError::NotFound.into());
            }
            let rows = store::portal_pair(conn, patient_id, &portal_part.participant_id, staff_side).await?;
            let patient = rows.patient.ok_or(AccessError::NotFound)?;
            let (on, mode) = eligibility::settings_of(rows.settings);
            let team = rows.care_team;
            let location = LocationId::from_trusted(patient.location_id.clone());
            let staff_facts = match caller {
                Caller::Staff { staff, .. } => {
                    if !staff.portal.has(PortalPermission::AvailableForPortalMessages) {
                        return Err(MessagingRefused::NeedPortalMessagesPermission.into());
                    }
                    StaffFacts::of_principal(staff, &location, team.iter().any(|s| s == staff.id.as_str()))
                }
                Caller::Portal { .. } => match rows.staff {
                    Some((row, locations)) => eligibility::facts_of_staff(&row, locations, &patient.location_id, &team),
                    None => gone_staff(&staff_part.display_name),
                },
            };
            let (portal_facts, account) = match rows.account {
                Some(a) => (facts_of_account(&a, rows.grant.as_ref(), &patient), Some(a)),
                None => (gone_account(&portal_part.display_name), None),
            };
            rules::portal_pair_eligible(on, mode, &staff_facts, &portal_facts)?;
            Ok(match (caller, account) {
                (Caller::Staff { .. }, Some(a)) => Some(DomainEvent::PortalMessageNotice {
                    account_id: a.id,
                    to: a.email,
                    patient_id: patient.id.clone(),
                    conversation_id: conv.id.clone(),
                }),
                // Staff are told by their unread count, and by a notification rule if the
                // clinic set one up for new portal messages.
                (Caller::Portal { principal, .. }, _) => principal
                    .grant_for(&portal_core::ids::PatientId::from_trusted(patient.id.clone()))
                    .ok()
                    .map(|g| DomainEvent::PortalMessageReceived {
                        conversation_id: conv.id.clone(),
                        account_id: principal.account_id.to_string(),
                        patient_id: patient.id.clone(),
                        relation: g.relation,
                    }),
                _ => None,
            })
        }
        (ConversationKind::Staff, Caller::Staff { staff, .. }) => {
            let Some(patient_id) = &conv.patient_id else { return Ok(None) };
            let patient = eligibility::patient(conn, patient_id).await?;
            let location = LocationId::from_trusted(patient.location_id.clone());
            if !(staff.has(Permission::ViewPatients) && staff.may_access_location(&location)) {
                return Err(Ineligible::CannotSeePatient { who: staff.name.clone() }.into());
            }
            // Every other participant who can still sign in must still be allowed to see the
            // patient; a deactivated one reads nothing and does not block the others.
            let mut others = Vec::new();
            for p in parts.iter().filter(|p| p.participant_id != staff.id.as_str()) {
                if let Some((f, _)) =
                    eligibility::staff_facts(conn, &p.participant_id, &patient.location_id, &[]).await?
                    && f.active
                {
                    others.push(StaffRecipientFacts { name: f.name, active: true, sees_patient: f.sees_patient });
                }
            }
            if others.is_empty() {
                return Ok(None);
            }
            rules::staff_recipients_eligible(true, &others)?;
            Ok(None)
        }
        (ConversationKind::Staff, Caller::Portal { .. }) => Err(AccessError::NotFound.into()),
    }
}

fn gone_staff(name: &str) -> StaffFacts {
    StaffFacts {
        name: name.to_owned(),
        active: false,
        available_for_portal_messages: false,
        sees_patient: false,
        on_care_team: false,
    }
}

fn gone_account(name: &str) -> PortalFacts {
    PortalFacts {
        name: name.to_owned(),
        account_active: false,
        password_set: false,
        grant: GrantFacts::None,
        patient_portal_open: false,
    }
}
