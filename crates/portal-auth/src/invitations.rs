//! Staff bring people onto the portal (seeds 002, 003): the invitation/reset e-mail to a patient,
//! a contact or a designated user (optionally linking an existing account, "Link User by
//! Email"), and credentials set at the desk.

use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_core::ids::{LocationId, PatientId};
use portal_core::patient::{ContactKind, Email, PersonName};
use portal_core::portal_accounts::{
    GrantScopes, InvitationMessage, InviteRefused, PortalAccountId, parse_grant_end, parse_relation,
    relation_for_contact,
};
use portal_core::staff::{NewPassword, Permission};
use portal_core::time_util::{now_utc, rfc3339};
use portal_core::username::Username;
use portal_core::{AccessError, Actor, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::portal_access::{self as access_store, PatientPortalRow};
use portal_store::portal_accounts::{self as accounts, AccountRow, Credentials, NewAccount, NewGrant};
use portal_store::{Db, DbConn, ids::new_id, outbox, patients as patient_store, sessions as session_store};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, PrimitiveDateTime};

use crate::PasswordHasher;
use crate::portal_error::PortalError;
use crate::portal_links::{ACCOUNT_LINK_PURPOSES, LinkData, NewLink, make_link, portal_is_on, write_links};
use crate::portal_sessions::{PORTAL, portal_account_key};

/// Loads a patient the actor may see, or `NotFound` (also for a foreign location or a malformed
/// id, so that existence does not leak).
pub(crate) async fn visible_patient(
    conn: &mut DbConn,
    actor: &Actor,
    patient_id: &str,
) -> Result<PatientPortalRow, PortalError> {
    let id = PatientId::parse(patient_id).map_err(|_| AccessError::NotFound)?;
    let p = access_store::patient(conn, id.as_str()).await?;
    if !actor.principal.may_access_location(&LocationId::from_trusted(p.location_id.clone())) {
        return Err(AccessError::NotFound.into());
    }
    Ok(p)
}

/// Who an invitation goes to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InviteTo {
    /// The patient, at the e-mail address on the facesheet (relation "self").
    Patient,
    /// One of the patient's contacts, at the contact's address (seed 003).
    Contact { contact_id: String },
    /// Someone who is not a contact (seed 003, "Invite a Portal User that is not a Patient
    /// Contact"): a new account.
    Designated { name: String, email: String },
    /// An existing account found by e-mail (seed 003, "Link User by Email"): the grant is added
    /// to it and the holder keeps one account for every patient.
    ExistingAccount { account_id: String },
}

/// An invitation as staff fill it in.
#[derive(Debug, Clone, Deserialize)]
pub struct InviteInput {
    pub to: InviteTo,
    /// `self`, `guardian`, `guarantor` or `other`. The patient is always `self`; a contact
    /// defaults to its kind; others default to `other`.
    #[serde(default)]
    pub relation: Option<String>,
    /// Parts of the portal the grant covers; all of them when absent.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Last day of access (`YYYY-MM-DD`), none when absent.
    #[serde(default)]
    pub ends_on: Option<String>,
    /// Seed 003's intake-forms message, shown in the portal.
    #[serde(default)]
    pub message: Option<String>,
    /// Seed 003's selected intake forms (kept now; delivered with the documents capability).
    #[serde(default)]
    pub intake_form_ids: Vec<String>,
    /// Staff confirmed the warning that the recipient will see the patient's health
    /// information. Required for anyone but the patient.
    #[serde(default)]
    pub phi_warning_acknowledged: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationSent {
    pub account_id: String,
    pub grant_id: String,
    pub relation: Relation,
    /// `invitation` for an account without a password, `reset` otherwise.
    pub purpose: LinkPurpose,
    pub to: String,
    pub expires_at: String,
    pub grant_created: bool,
}

/// The most intake forms one invitation may carry.
pub const MAX_INTAKE_FORMS: usize = 20;

struct Recipient {
    email: String,
    display_name: String,
    relation: Relation,
    contact_id: Option<String>,
    /// The account to use; `None`: create one.
    account: Option<AccountRow>,
}

/// Sends the invitation/reset e-mail (seeds 002, 003): creates or links the account, creates or
/// updates the grant (audited), issues a 24-hour link (1 hour when the account already has a
/// password: then it is a reset) and records when the patient was last invited.
///
/// Needs Edit Patients and the patient's location; the portal must be on (seed 000) and the
/// patient's access enabled with an e-mail and a ZIP code on file.
pub async fn invite(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    input: InviteInput,
) -> Result<InvitationSent, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut conn = db.read().await?;
    let patient = visible_patient(&mut conn, actor, patient_id).await?;
    if !portal_is_on(&mut conn).await? {
        return Err(InviteRefused::PortalOff.into());
    }
    check_patient_invitable(&patient)?;
    let today = now_utc().date();
    let mut errors = FieldErrors::new();
    let chosen_relation = match input.relation.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => errors.check("relation", parse_relation(r)),
    };
    let scopes = errors.check("scopes", GrantScopes::parse(input.scopes.as_deref()));
    let ends_on: Option<Date> = match input.ends_on.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => errors.check("ends_on", parse_grant_end(d, today)),
    };
    let message = match input.message.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) => errors.check("message", InvitationMessage::parse(m)),
    };
    let mut intake_form_ids = Vec::new();
    for f in &input.intake_form_ids {
        match PatientId::parse(f) {
            Ok(id) if !intake_form_ids.contains(&id.to_string()) => intake_form_ids.push(id.into_string()),
            Ok(_) => {}
            Err(_) => {
                errors.push("intake_form_ids", "names a form that does not exist");
                break;
            }
        }
    }
    if intake_form_ids.len() > MAX_INTAKE_FORMS {
        errors.push("intake_form_ids", format!("at most {MAX_INTAKE_FORMS} forms per invitation"));
    }
    let recipient = recipient(&mut conn, &patient, &input.to, chosen_relation, &mut errors).await?;
    drop(conn);
    errors.clone().into_result()?;
    let (Some(recipient), Some(scopes)) = (recipient, scopes) else { return Err(errors.into()) };
    if recipient.relation != Relation::Myself && !input.phi_warning_acknowledged {
        return Err(InviteRefused::PhiWarningNotAcknowledged.into());
    }
    let actor = actor.clone();
    let patient_id = patient.id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            // Checked again under the lock: access may have been disabled since.
            let patient = access_store::patient_for_update(tx, &patient_id).await?;
            check_patient_invitable(&patient)?;
            let staff_id = actor.principal.actor_id().map(str::to_owned);
            // Under the patient's lock: an account made meanwhile (a bulk run, a registration)
            // is the one to use.
            let mut recipient = recipient;
            if recipient.relation == Relation::Myself && recipient.account.is_none() {
                recipient.account =
                    accounts::self_accounts(tx, std::slice::from_ref(&patient_id)).await?.pop().map(|(_, a)| a);
            }
            let (account_id, has_password) = match &recipient.account {
                Some(a) => (a.id.clone(), a.has_password()),
                None => {
                    let id = new_id();
                    let new = NewAccount::invited(id.clone(), &recipient.email, &recipient.display_name, now);
                    accounts::insert_accounts(tx, std::slice::from_ref(&new)).await?;
                    (id, false)
                }
            };
            let (grant_id, grant_created) = upsert_grant(
                tx,
                &actor,
                &account_id,
                &patient_id,
                recipient.relation,
                recipient.contact_id.as_deref(),
                &scopes,
                ends_on,
                now,
            )
            .await?;
            let purpose = if has_password { LinkPurpose::Reset } else { LinkPurpose::Invitation };
            let data = LinkData {
                relation: Some(recipient.relation),
                contact_id: recipient.contact_id.clone(),
                grant_id: Some(grant_id.clone()),
                message: message.map(String::from),
                intake_form_ids,
                ..LinkData::default()
            };
            accounts::supersede_tokens(tx, std::slice::from_ref(&account_id), &[], &ACCOUNT_LINK_PURPOSES, now).await?;
            let link = make_link(
                NewLink {
                    purpose,
                    account_id: Some(&account_id),
                    patient_id: Some(&patient_id),
                    to: &recipient.email,
                    data: &data,
                    created_by: staff_id.as_deref(),
                },
                now,
            );
            let expires_at = rfc3339(link.row.expires_at);
            write_links(tx, vec![link]).await?;
            access_store::mark_invited(tx, std::slice::from_ref(&patient_id), now).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::PortalInvitationSent)
                    .patient(&patient_id)
                    .target("portal_account", &account_id)
                    .detail(json!({
                        "purpose": purpose.as_str(),
                        "relation": recipient.relation.as_str(),
                        "grant_id": grant_id,
                        "intake_forms": data.intake_form_ids.len(),
                        "with_message": data.message.is_some(),
                    })),
            )
            .await?;
            Ok(InvitationSent {
                account_id,
                grant_id,
                relation: recipient.relation,
                purpose,
                to: recipient.email,
                expires_at,
                grant_created,
            })
        })
    })
    .await
}

/// The patient must be reachable through the portal before anyone is invited to it.
fn check_patient_invitable(p: &PatientPortalRow) -> Result<(), InviteRefused> {
    if !p.portal_access {
        return Err(InviteRefused::AccessNotEnabled);
    }
    let f = p.facts();
    portal_core::portal_access::check_enable(f.has_email, f.has_zip)
        .map_err(|missing| InviteRefused::PatientRecordIncomplete { missing })
}

async fn recipient(
    conn: &mut DbConn,
    patient: &PatientPortalRow,
    to: &InviteTo,
    chosen: Option<Relation>,
    errors: &mut FieldErrors,
) -> Result<Option<Recipient>, PortalError> {
    let not_self = |r: Option<Relation>, errors: &mut FieldErrors| match r {
        Some(Relation::Myself) => {
            errors.push("relation", InviteRefused::SelfIsForThePatient);
            None
        }
        other => Some(other.unwrap_or(Relation::Other)),
    };
    match to {
        InviteTo::Patient => {
            if chosen.is_some_and(|r| r != Relation::Myself) {
                errors.push("relation", "the patient's own account is always \"self\"");
            }
            let email = patient.email.clone().ok_or(InviteRefused::NoEmail { whom: "patient" })?;
            let account = accounts::self_accounts(conn, std::slice::from_ref(&patient.id)).await?.into_iter().next();
            if let Some((_, a)) = &account
                && !a.active
            {
                return Err(InviteRefused::AccountInactive.into());
            }
            Ok(Some(Recipient {
                email,
                display_name: patient.full_name(),
                relation: Relation::Myself,
                contact_id: None,
                account: account.map(|(_, a)| a),
            }))
        }
        InviteTo::Contact { contact_id } => {
            let contact = patient_store::find_contact(conn, &patient.id, contact_id.trim()).await?;
            let kind = ContactKind::parse(&contact.kind).unwrap_or(ContactKind::Other);
            let email = contact.email.clone().ok_or(InviteRefused::NoEmail { whom: "contact" })?;
            // A relation the contact cannot hold is a mistake in the form's relation field.
            let Some(relation) = errors.check("relation", relation_for_contact(kind, chosen)) else { return Ok(None) };
            let account = accounts::contact_account(conn, &patient.id, &contact.id).await?.map(|(_, a)| a);
            if account.as_ref().is_some_and(|a| !a.active) {
                return Err(InviteRefused::AccountInactive.into());
            }
            Ok(Some(Recipient {
                email,
                display_name: format!("{} {}", contact.first_name, contact.last_name),
                relation,
                contact_id: Some(contact.id),
                account,
            }))
        }
        InviteTo::Designated { name, email } => {
            let name = errors.check("name", PersonName::parse(name));
            let email = errors.check("email", Email::parse(email));
            let relation = not_self(chosen, errors);
            Ok(match (name, email, relation) {
                (Some(n), Some(e), Some(r)) => Some(Recipient {
                    email: e.to_string(),
                    display_name: n.to_string(),
                    relation: r,
                    contact_id: None,
                    account: None,
                }),
                _ => None,
            })
        }
        InviteTo::ExistingAccount { account_id } => {
            let id = PortalAccountId::parse(account_id).map_err(|_| AccessError::NotFound)?;
            let a = accounts::find_account(conn, id.as_str()).await?.ok_or(AccessError::NotFound)?;
            if !a.active {
                return Err(InviteRefused::AccountInactive.into());
            }
            let relation = not_self(chosen, errors);
            Ok(relation.map(|r| Recipient {
                email: a.email.clone(),
                display_name: a.display_name.clone(),
                relation: r,
                contact_id: None,
                account: Some(a),
            }))
        }
    }
}

/// Creates the grant, or updates the live one of this account and patient (a re-invitation may
/// change what it covers). Audited either way.
#[allow(clippy::too_many_arguments)]
async fn upsert_grant(
    tx: &mut DbConn,
    actor: &Actor,
    account_id: &str,
    patient_id: &str,
    relation: Relation,
    contact_id: Option<&str>,
    scopes: &GrantScopes,
    ends_on: Option<Date>,
    now: PrimitiveDateTime,
) -> Result<(String, bool), PortalError> {
    let detail = json!({
        "relation": relation.as_str(),
        "scopes": scopes.to_stored(),
        "ends_on": ends_on.map(|d| d.to_string()),
    });
    if let Some(g) = accounts::live_grant(tx, account_id, patient_id).await? {
        let changed = g.relation != relation.as_str() || g.scopes != scopes.to_stored() || g.ends_on != ends_on;
        if changed {
            accounts::update_grant(tx, &g.id, relation.as_str(), &scopes.to_stored(), ends_on).await?;
            audit::append(
                tx,
                &AuditEntry::by(actor, AuditAction::PortalGrantUpdated)
                    .patient(patient_id)
                    .target("portal_grant", &g.id)
                    .detail(detail),
            )
            .await?;
        }
        return Ok((g.id, false));
    }
    let id = new_id();
    accounts::insert_grants(
        tx,
        &[NewGrant {
            id: id.clone(),
            account_id: account_id.to_owned(),
            patient_id: patient_id.to_owned(),
            relation: relation.as_str().to_owned(),
            contact_id: contact_id.map(str::to_owned),
            scopes: scopes.to_stored(),
            ends_on,
            created_by: actor.principal.actor_id().map(str::to_owned),
            created_at: now,
            updated_at: now,
        }],
    )
    .await
    .map_err(|e| match e {
        // The partial unique index allows one live "self" grant per patient.
        portal_store::StoreError::Conflict { .. } if relation == Relation::Myself => {
            PortalError::Invite(InviteRefused::PatientHasAccount)
        }
        other => other.into(),
    })?;
    audit::append(
        tx,
        &AuditEntry::by(actor, AuditAction::PortalGrantCreated)
            .patient(patient_id)
            .target("portal_grant", &id)
            .detail(detail),
    )
    .await?;
    Ok((id, true))
}

#[derive(Debug, Clone, Serialize)]
pub struct CredentialsSet {
    pub account_id: String,
    pub username: String,
    pub account_created: bool,
    pub sessions_ended: usize,
}

/// Seed 002, method 2: staff set the patient's username (if there is none yet) and a temporary
/// password at the desk, to give to the patient in person or by phone. The patient must choose
/// a new password at the first sign-in. Creates the patient's own account and grant if there
/// are none; an existing password is replaced, which ends the account's sessions and sends a
/// notice to its address. Needs Edit Patients and the patient's location; access enabled.
pub async fn set_credentials_in_person(
    db: &Db,
    hasher: &PasswordHasher,
    actor: &Actor,
    patient_id: &str,
    username: Option<&str>,
    temporary_password: &str,
) -> Result<CredentialsSet, PortalError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut conn = db.read().await?;
    let patient = visible_patient(&mut conn, actor, patient_id).await?;
    check_patient_invitable(&patient)?;
    let existing = accounts::self_accounts(&mut conn, std::slice::from_ref(&patient.id)).await?.into_iter().next();
    let mut errors = FieldErrors::new();
    let password = errors.check("password", NewPassword::parse(temporary_password));
    let typed = username.map(str::trim).filter(|u| !u.is_empty());
    let current = existing.as_ref().and_then(|(_, a)| a.username.clone());
    let new_username = match (&current, typed) {
        (Some(_), None) => None,
        (Some(have), Some(t)) => {
            if !Username::parse(t).is_ok_and(|u| u.as_str() == have) {
                errors.push("username", format!("the patient already has the username {have}"));
            }
            None
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
    if let Some((_, a)) = &existing
        && !a.active
    {
        return Err(InviteRefused::AccountInactive.into());
    }
    errors.clone().into_result()?;
    let Some(password) = password else { return Err(errors.into()) };
    let hash = hasher.hash(&password).await.map_err(|_| PortalError::internal())?;
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            let patient = access_store::patient_for_update(tx, &patient.id).await?;
            check_patient_invitable(&patient)?;
            let (account, created) = match accounts::self_accounts(tx, std::slice::from_ref(&patient.id)).await?.pop() {
                Some((_, a)) => (a, false),
                None => {
                    let email = patient.email.clone().unwrap_or_default();
                    let id = new_id();
                    let new = NewAccount::invited(id.clone(), &email, &patient.full_name(), now);
                    accounts::insert_accounts(tx, std::slice::from_ref(&new)).await?;
                    upsert_grant(tx, &actor, &id, &patient.id, Relation::Myself, None, &GrantScopes::all(), None, now)
                        .await?;
                    (accounts::find_account(tx, &id).await?.ok_or(PortalError::internal())?, true)
                }
            };
            let username = account.username.clone().or(new_username.map(String::from)).unwrap_or_default();
            accounts::set_credentials(
                tx,
                &account.id,
                &Credentials {
                    username: if account.username.is_none() { Some(&username) } else { None },
                    password_hash: &hash,
                    must_change_password: true,
                    email: None,
                },
            )
            .await
            .map_err(|e| match e {
                portal_store::StoreError::Conflict { .. } => {
                    PortalError::Invalid(FieldErrors::single("username", "is taken; choose another"))
                }
                other => other.into(),
            })?;
            accounts::supersede_tokens(tx, std::slice::from_ref(&account.id), &[], &ACCOUNT_LINK_PURPOSES, now).await?;
            let mut sessions_ended = 0;
            if account.has_password() {
                sessions_ended = session_store::delete_for_user(tx, PORTAL, &account.id, None).await?;
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::PasswordChangedNotice { account_id: account.id.clone(), to: account.email.clone() },
                )
                .await?;
            }
            session_store::clear_failures(tx, &portal_account_key(&username)).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::PortalCredentialsSet)
                    .patient(&patient.id)
                    .target("portal_account", &account.id)
                    .detail(json!({ "account_created": created, "sessions_ended": sessions_ended })),
            )
            .await?;
            Ok(CredentialsSet { account_id: account.id, username, account_created: created, sessions_ended })
        })
    })
    .await
}
