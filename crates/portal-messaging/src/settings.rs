//! The instance setting that says which staff portal users may write to (seed 001's FAQ: staff
//! with Available for Portal Messages, or the patient's care team, "depending on how the system
//! has been configured"). Changed under Manage Portal Settings like the other portal settings,
//! kept in the settings history and audited.

use portal_core::audit::AuditAction;
use portal_core::messaging::PortalMessagingRecipients;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, FieldErrors};
use portal_store::org::{self, SettingChange};
use portal_store::{Db, audit, ids::new_id, messaging as store};
use serde_json::json;

use crate::MessagingError;

/// The name of the setting in the history and the audit log.
pub const SETTING: &str = "portal_messaging_recipients";

/// The current value; any staff member may read it (it holds no PHI, and the forms need it).
pub async fn portal_messaging_recipients(db: &Db, actor: &Actor) -> Result<PortalMessagingRecipients, MessagingError> {
    if actor.principal.staff().is_none() && actor.principal != portal_core::Principal::System {
        return Err(AccessError::Unauthenticated.into());
    }
    let mut conn = db.read().await?;
    Ok(crate::eligibility::recipients_mode(&mut conn).await?)
}

/// Changes it. Needs Manage Portal Settings (the system principal, at the command line, holds
/// it). The same value again records nothing.
pub async fn set_portal_messaging_recipients(db: &Db, actor: &Actor, raw: &str) -> Result<(), MessagingError> {
    if let Some(s) = actor.principal.staff() {
        s.require_portal_settings()?;
    }
    let value = PortalMessagingRecipients::parse(raw).map_err(|e| FieldErrors::single(SETTING, e))?;
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let old = store::portal_messaging_recipients(tx).await?;
            if old == value.as_str() {
                return Ok(());
            }
            org::organization_for_update(tx).await?;
            store::set_portal_messaging_recipients(tx, value.as_str()).await?;
            org::record_setting_change(
                tx,
                &SettingChange {
                    id: new_id(),
                    setting: SETTING.to_owned(),
                    old_value: old.clone(),
                    new_value: value.as_str().to_owned(),
                    fee_locations: None,
                    fee_total_cents: None,
                    acknowledged: false,
                    changed_by: actor.principal.actor_id().map(str::to_owned),
                    changed_by_name: actor.name().to_owned(),
                    ip: actor.ip.clone(),
                    changed_at: now_utc(),
                },
            )
            .await?;
            audit::append(
                tx,
                &audit::AuditEntry::by(&actor, AuditAction::SettingChanged)
                    .target("setting", SETTING)
                    .detail(json!({ "from": old, "to": value.as_str() })),
            )
            .await?;
            Ok::<_, MessagingError>(())
        })
    })
    .await
}

/// The setting's changes, newest first, for Settings > Instance. Needs Manage Portal Settings,
/// like changing it (the history names who changed it and from where).
pub async fn portal_messaging_recipients_history(db: &Db, actor: &Actor) -> Result<Vec<SettingChange>, MessagingError> {
    if let Some(s) = actor.principal.staff() {
        s.require_portal_settings()?;
    }
    let mut conn = db.read().await?;
    Ok(org::setting_history(&mut conn, SETTING).await?)
}
