//! A portal user changes the account's e-mail address (seed 000, "Portal Email Changed"; seed
//! 004's privacy note): after re-entering the password, a link confirms the new address and a
//! notice goes to the old one; on confirmation the facesheet e-mail of the user's own patient
//! record follows, and `PortalEmailChanged` is recorded for each patient the account reaches.

use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_core::patient::Email;
use portal_core::portal_accounts::parse_link_purpose;
use portal_core::time_util::{now_utc, rfc3339};
use portal_core::{AccessError, FieldErrors};
use portal_store::audit;
use portal_store::portal_accounts as accounts;
use portal_store::{Db, outbox, portal_access};
use serde::Serialize;
use serde_json::json;

use crate::portal_error::{LinkProblem, PortalError};
use crate::portal_links::{LinkData, NewLink, make_link, portal_is_on, portal_user_entry, write_links};
use crate::portal_sessions::PortalSession;
use crate::{PasswordHasher, tokens};

#[derive(Debug, Clone, Serialize)]
pub struct EmailChangeRequested {
    /// RFC 3339.
    pub expires_at: String,
}

/// Starts a change of address: checks the password, sends a 24-hour confirmation link to the
/// new address and a notice to the current one. Nothing changes until the link is followed.
pub async fn request_email_change(
    db: &Db,
    hasher: &PasswordHasher,
    session: &PortalSession,
    password: &str,
    new_email: &str,
    ip: Option<String>,
) -> Result<EmailChangeRequested, PortalError> {
    let p = &session.principal;
    if p.must_change_password {
        return Err(AccessError::Forbidden { needs: "a password of your own (choose a new password first)" }.into());
    }
    let mut errors = FieldErrors::new();
    let new = errors.check("new_email", Email::parse(new_email));
    if new.as_ref().is_some_and(|n| n == &p.email) {
        errors.push("new_email", "is already your address");
    }
    let mut conn = db.read().await?;
    let row = accounts::find_account(&mut conn, p.account_id.as_str()).await?.ok_or(AccessError::Unauthenticated)?;
    // Branding of the e-mails: the user's own patient record, else the first they reach.
    let brand_patient =
        p.grants.iter().find(|g| g.relation == Relation::Myself).or(p.grants.first()).map(|g| g.patient_id.to_string());
    drop(conn);
    if !hasher.verify(row.password_hash.clone(), password).await {
        errors.push("password", "is not your current password");
    }
    errors.clone().into_result()?;
    let Some(new) = new else { return Err(errors.into()) };
    let account_id = p.account_id.to_string();
    let name = p.username.to_string();
    let old = row.email.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            accounts::supersede_tokens(
                tx,
                std::slice::from_ref(&account_id),
                &[],
                &[LinkPurpose::EmailChange.as_str()],
                now,
            )
            .await?;
            let data = LinkData { new_email: Some(new.to_string()), ..LinkData::default() };
            let link = make_link(
                NewLink {
                    purpose: LinkPurpose::EmailChange,
                    account_id: Some(&account_id),
                    patient_id: brand_patient.as_deref(),
                    to: new.as_str(),
                    data: &data,
                    created_by: None,
                },
                now,
            );
            let expires_at = rfc3339(link.row.expires_at);
            write_links(tx, vec![link]).await?;
            outbox::enqueue_event(tx, &DomainEvent::EmailChangeNotice { account_id: account_id.clone(), to: old })
                .await?;
            audit::append(
                tx,
                &portal_user_entry(&account_id, Some(&name), ip, AuditAction::PortalEmailChangeRequested),
            )
            .await?;
            Ok(EmailChangeRequested { expires_at })
        })
    })
    .await
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailChanged {
    pub account_id: String,
    pub email: String,
    /// Patients whose facesheet e-mail was updated (the account's own record).
    pub facesheets_updated: Vec<String>,
}

/// Follows the confirmation link: the account's address becomes the new one; for the user's own
/// patient record ("self" grant) the facesheet e-mail follows (seed 000: "This automatically
/// updates the Email field on the patient facesheet"); `PortalEmailChanged` is recorded for each
/// patient the account holds a live grant for (notifications are per location), audited.
pub async fn confirm_email_change(db: &Db, raw_token: &str, ip: Option<String>) -> Result<EmailChanged, PortalError> {
    let unusable = |problem| PortalError::LinkNotUsable { problem };
    let mut conn = db.read().await?;
    if !portal_is_on(&mut conn).await? {
        return Err(PortalError::PortalUnavailable);
    }
    if !tokens::looks_like_token(raw_token) {
        return Err(unusable(LinkProblem::Unknown));
    }
    let token_hash = tokens::hash_token(raw_token);
    let row = accounts::find_token(&mut conn, &token_hash).await?.ok_or(unusable(LinkProblem::Unknown))?;
    drop(conn);
    if parse_link_purpose(&row.purpose) != Some(LinkPurpose::EmailChange) {
        return Err(unusable(LinkProblem::Unknown));
    }
    if row.used_at.is_some() {
        return Err(unusable(LinkProblem::Used));
    }
    if row.expires_at <= now_utc() {
        return Err(unusable(LinkProblem::Expired));
    }
    let data: LinkData = serde_json::from_str(&row.data).unwrap_or_default();
    let new_email = data.new_email.ok_or(unusable(LinkProblem::Unknown))?;
    let account_id = row.account_id.clone().ok_or(unusable(LinkProblem::Unknown))?;
    db.write(move |tx| {
        Box::pin(async move {
            let now = now_utc();
            if !accounts::use_token(tx, &token_hash, now).await? {
                return Err(unusable(LinkProblem::Used));
            }
            let account = accounts::find_account_for_update(tx, &account_id)
                .await?
                .filter(|a| a.active)
                .ok_or(unusable(LinkProblem::NoLongerValid))?;
            accounts::set_email(tx, &account.id, &new_email).await?;
            let grants = accounts::live_grants_of_account(tx, &account.id).await?;
            let mut facesheets_updated = Vec::new();
            for g in &grants {
                let relation = Relation::parse(&g.relation).unwrap_or(Relation::Other);
                if relation == Relation::Myself {
                    portal_access::set_facesheet_email(tx, &g.patient_id, &new_email).await?;
                    facesheets_updated.push(g.patient_id.clone());
                }
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::PortalEmailChanged {
                        account_id: account.id.clone(),
                        patient_id: Some(g.patient_id.clone()),
                        relation: Some(relation),
                    },
                )
                .await?;
            }
            if grants.is_empty() {
                outbox::enqueue_event(
                    tx,
                    &DomainEvent::PortalEmailChanged {
                        account_id: account.id.clone(),
                        patient_id: None,
                        relation: None,
                    },
                )
                .await?;
            }
            let name = account.username.clone();
            let base = portal_user_entry(&account.id, name.as_deref(), ip, AuditAction::PortalEmailChanged);
            if grants.is_empty() {
                audit::append(tx, &base.clone().detail(json!({ "facesheet_updated": false }))).await?;
            }
            for g in &grants {
                let updated = facesheets_updated.contains(&g.patient_id);
                audit::append(tx, &base.clone().patient(&g.patient_id).detail(json!({ "facesheet_updated": updated })))
                    .await?;
            }
            Ok(EmailChanged { account_id: account.id, email: new_email, facesheets_updated })
        })
    })
    .await
}
