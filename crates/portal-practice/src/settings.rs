//! Instance settings (seed 000, "Instance Settings"): Use Portal, its fee acknowledgement and
//! the history of every change.

use portal_core::audit::AuditAction;
use portal_core::org::{PortalFee, check_use_portal_change};
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, Principal};
use portal_store::audit::{self, AuditEntry};
use portal_store::org::{self, SettingChange};
use portal_store::{Db, ids::new_id};
use serde::Serialize;
use serde_json::json;

use crate::PracticeError;

pub const USE_PORTAL: &str = "use_portal";

#[derive(Debug, Clone, Serialize)]
pub struct InstanceSettings {
    pub use_portal: bool,
    /// What turning the portal on costs now (the location count times the fee).
    pub fee: PortalFee,
    pub history: Vec<SettingChange>,
}

fn require_portal_settings(actor: &Actor) -> Result<(), AccessError> {
    match &actor.principal {
        Principal::System => Ok(()),
        Principal::Staff(s) => s.require_portal_settings(),
    }
}

/// Whether the portal is on: the one fact portal pages and invitations check. No permission
/// needed, since it reveals nothing private.
pub async fn portal_enabled(db: &Db) -> Result<bool, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::organization(&mut conn).await?.use_portal)
}

pub async fn instance_settings(db: &Db, actor: &Actor) -> Result<InstanceSettings, PracticeError> {
    require_portal_settings(actor)?;
    let mut conn = db.read().await?;
    let o = org::organization(&mut conn).await?;
    let locations = org::count_locations(&mut conn).await?;
    let history = org::setting_history(&mut conn, USE_PORTAL).await?;
    Ok(InstanceSettings { use_portal: o.use_portal, fee: PortalFee::for_locations(locations), history })
}

/// Turns the portal on (with the fee acknowledged) or off. A change to the same value records
/// nothing. Kept: who, when, from where, from and to, and the fee acknowledged.
pub async fn set_use_portal(
    db: &Db,
    actor: &Actor,
    on: bool,
    acknowledged_fee: bool,
) -> Result<InstanceSettings, PracticeError> {
    require_portal_settings(actor)?;
    let actor2 = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let o = org::organization_for_update(tx).await?;
            if o.use_portal == on {
                return Ok(());
            }
            let fee = PortalFee::for_locations(org::count_locations(tx).await?);
            check_use_portal_change(on, acknowledged_fee, fee).map_err(|e| PracticeError::Refused(e.to_string()))?;
            org::set_use_portal(tx, on).await?;
            let change = SettingChange {
                id: new_id(),
                setting: USE_PORTAL.into(),
                old_value: o.use_portal.to_string(),
                new_value: on.to_string(),
                fee_locations: on.then_some(fee.locations),
                fee_total_cents: on.then_some(fee.monthly_total_cents),
                acknowledged: on && acknowledged_fee,
                changed_by: actor2.principal.actor_id().map(str::to_owned),
                changed_by_name: actor2.name().to_owned(),
                ip: actor2.ip.clone(),
                changed_at: now_utc(),
            };
            org::record_setting_change(tx, &change).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::SettingChanged).target("setting", USE_PORTAL).detail(json!({
                    "from": o.use_portal,
                    "to": on,
                    "fee_acknowledged": change.acknowledged,
                    "fee_total_cents": change.fee_total_cents,
                })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    instance_settings(db, actor).await
}
