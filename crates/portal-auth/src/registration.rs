//! Ways in without staff (seed 002): "I am a registered patient: create my Patient Portal
//! account" and "I forgot my password".
//!
//! Both answer the same whatever happened (ASVS 6.3.8): `Ok(())` once the typed facts are well
//! formed. Both paths do the same work, one read of the candidates and one write transaction
//! with an audit row, so their timing does not tell either: only a match adds the link row and
//! its event to that transaction. Nothing here hashes a password.

use portal_core::FieldErrors;
use portal_core::audit::AuditAction;
use portal_core::events::{LinkPurpose, Relation};
use portal_core::patient::Email;
use portal_core::portal_accounts::{IdentityClaim, IdentityOnFile};
use portal_core::time_util::now_utc;
use portal_core::username::Username;
use portal_store::audit;
use portal_store::portal_access::{self as access_store, PatientPortalRow};
use portal_store::portal_accounts::{self as accounts, AccountRow};
use portal_store::{Db, DbConn};
use serde::Deserialize;
use serde_json::json;
use time::Duration;

use crate::portal_error::PortalError;
use crate::portal_links::{
    ACCOUNT_LINK_PURPOSES, LinkData, NewLink, anonymous_entry, make_link, portal_is_on, write_links,
};

/// What a person types to be recognised (seed 002).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdentityInput {
    pub email: String,
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub zip: String,
}

/// "I forgot my password": the patient's facts, or (for a contact's or designated user's
/// account) the username and the account's e-mail address.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForgotPasswordInput {
    Patient(IdentityInput),
    Account { username: String, email: String },
}

/// At most this many links a day may be sent to one patient at anonymous request (the rest are
/// audited, not sent), so that nobody who knows a patient's facts can flood their mailbox.
pub const ANONYMOUS_LINKS_PER_PATIENT_PER_DAY: i64 = 5;

fn parse_claim(i: &IdentityInput) -> Result<IdentityClaim, FieldErrors> {
    IdentityClaim::parse(&i.email, &i.last_name, &i.date_of_birth, &i.zip, now_utc().date())
}

/// The one patient whose facts match, with access enabled; `None` when there is none or more
/// than one (two records with the same facts cannot be told apart: staff must fix them).
async fn matching_patient(conn: &mut DbConn, claim: &IdentityClaim) -> Result<Option<PatientPortalRow>, PortalError> {
    let candidates = access_store::patients_by_email(conn, claim.email.as_str()).await?;
    let mut matches = candidates.into_iter().filter(|p| {
        claim.matches(&IdentityOnFile {
            email: p.email.as_deref(),
            last_name: &p.last_name,
            date_of_birth: p.date_of_birth,
            zip: p.zip.as_deref(),
        })
    });
    let first = matches.next();
    if matches.next().is_some() {
        return Ok(None);
    }
    Ok(first.filter(PatientPortalRow::portal_usable))
}

/// What a matched request sends.
struct Planned {
    purpose: LinkPurpose,
    account_id: Option<String>,
    patient_id: Option<String>,
    to: String,
}

/// Writes the one transaction of both paths: the link (when `plan` is some and the patient's
/// daily allowance is not used up) and the audit row.
async fn answer(db: &Db, action: AuditAction, plan: Option<Planned>, ip: Option<String>) -> Result<(), PortalError> {
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            let matched = plan.is_some();
            // The same statements run without a match (on ids that exist nowhere), so that the
            // two paths cost the same up to the link's own rows.
            let probe_patient = plan.as_ref().and_then(|p| p.patient_id.clone()).unwrap_or_default();
            let probe_account = plan.as_ref().and_then(|p| p.account_id.clone()).unwrap_or_default();
            let recent = accounts::recent_links_for_patient(tx, &probe_patient, now - Duration::days(1)).await?;
            let allowed = recent < ANONYMOUS_LINKS_PER_PATIENT_PER_DAY;
            let mut sent = false;
            if let Some(p) = plan.filter(|_| allowed) {
                accounts::supersede_tokens(
                    tx,
                    &p.account_id.clone().into_iter().collect::<Vec<_>>(),
                    &p.patient_id.clone().into_iter().collect::<Vec<_>>(),
                    &ACCOUNT_LINK_PURPOSES,
                    now,
                )
                .await?;
                let data =
                    LinkData { relation: p.patient_id.as_ref().map(|_| Relation::Myself), ..LinkData::default() };
                let link = make_link(
                    NewLink {
                        purpose: p.purpose,
                        account_id: p.account_id.as_deref(),
                        patient_id: p.patient_id.as_deref(),
                        to: &p.to,
                        data: &data,
                        created_by: None,
                    },
                    now,
                );
                write_links(tx, vec![link]).await?;
                sent = true;
            } else {
                // No id is empty: this statement matches nothing, and costs what the real one does.
                let nothing = [String::new()];
                accounts::supersede_tokens(tx, &nothing, &nothing, &ACCOUNT_LINK_PURPOSES, now).await?;
            }
            let mut entry = anonymous_entry(ip, action).detail(json!({ "matched": matched, "sent": sent }));
            if !probe_patient.is_empty() {
                entry = entry.patient(&probe_patient);
            }
            if !probe_account.is_empty() {
                entry = entry.target("portal_account", &probe_account);
            }
            audit::append(tx, &entry).await?;
            Ok::<_, PortalError>(())
        })
    })
    .await
}

/// The patient's own account, if any.
async fn self_account(conn: &mut DbConn, patient_id: &str) -> Result<Option<AccountRow>, PortalError> {
    Ok(accounts::self_accounts(conn, &[patient_id.to_owned()]).await?.into_iter().next().map(|(_, a)| a))
}

/// "I am a registered patient: create my Patient Portal account" (seed 002). Only an exact
/// match with one patient whose access is enabled sends an e-mail to the address on file: a
/// 24-hour link that completes the account, or, when the patient already has an account with a
/// password, a 1-hour reset link. The answer is the same in every case.
pub async fn request_registration(db: &Db, input: &IdentityInput, ip: Option<String>) -> Result<(), PortalError> {
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    let claim = parse_claim(input)?;
    let matched = matching_patient(&mut conn, &claim).await?;
    // Looked up with or without a match (an id that exists nowhere), for equal work.
    let account = self_account(&mut conn, matched.as_ref().map_or("", |p| p.id.as_str())).await?;
    let plan = match matched {
        None => None,
        Some(p) => match account {
            Some(a) if !a.active => None,
            Some(a) => Some(Planned {
                purpose: if a.has_password() { LinkPurpose::Reset } else { LinkPurpose::Registration },
                account_id: Some(a.id),
                patient_id: Some(p.id.clone()),
                to: p.email.clone().unwrap_or_default(),
            }),
            None => Some(Planned {
                purpose: LinkPurpose::Registration,
                account_id: None,
                patient_id: Some(p.id.clone()),
                to: p.email.clone().unwrap_or_default(),
            }),
        },
    };
    drop(conn);
    answer(db, AuditAction::PortalRegistrationRequested, plan, ip).await
}

/// "I forgot my password" (seeds 002, 003): the patient's facts, or a username with its
/// account's e-mail address. A match sends a 1-hour reset link (for a patient without an
/// account yet, the link creates it). The answer is the same in every case.
pub async fn request_password_reset(
    db: &Db,
    input: &ForgotPasswordInput,
    ip: Option<String>,
) -> Result<(), PortalError> {
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    let plan = match input {
        ForgotPasswordInput::Patient(i) => {
            let claim = parse_claim(i)?;
            let matched = matching_patient(&mut conn, &claim).await?;
            let account = self_account(&mut conn, matched.as_ref().map_or("", |p| p.id.as_str())).await?;
            match matched {
                None => None,
                Some(p) => match account {
                    Some(a) if !a.active => None,
                    a => Some(Planned {
                        purpose: LinkPurpose::Reset,
                        account_id: a.map(|a| a.id),
                        patient_id: Some(p.id.clone()),
                        to: p.email.clone().unwrap_or_default(),
                    }),
                },
            }
        }
        ForgotPasswordInput::Account { username, email } => {
            let mut errors = FieldErrors::new();
            let username = errors.check("username", Username::parse(username));
            let email = errors.check("email", Email::parse(email));
            errors.clone().into_result()?;
            let (Some(username), Some(email)) = (username, email) else { return Err(errors.into()) };
            match accounts::find_by_username(&mut conn, username.as_str()).await? {
                Some(a) if a.active && a.email == email.as_str() => {
                    // The e-mail is branded for a patient the account can reach, if any.
                    let patient_id = accounts::grants_in_force(&mut conn, &a.id, now_utc().date())
                        .await?
                        .into_iter()
                        .next()
                        .map(|g| g.patient_id);
                    Some(Planned { purpose: LinkPurpose::Reset, account_id: Some(a.id), patient_id, to: a.email })
                }
                _ => None,
            }
        }
    };
    drop(conn);
    answer(db, AuditAction::PortalPasswordResetRequested, plan, ip).await
}
