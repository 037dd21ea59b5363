//! A patient's portal access on the clinic's side (seed 002): the access level of the
//! facesheet's Patient Portal tab, the status shown in the facesheet header with its
//! troubleshooting hint, and the auto-enable setting ("Should the patient be able to activate
//! portal without further confirmation") of the instance and of each location.

use portal_core::audit::AuditAction;
use portal_core::ids::{LocationId, PatientId};
use portal_core::portal_access::{
    EMAIL_PRIVACY_WARNING, MISMATCH_HINT, PortalAccessLevel, PortalStatusView, access_on_creation, check_enable,
    effective_auto_enable,
};
use portal_core::staff::Permission;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, Principal};
use portal_store::audit::{self, AuditEntry};
use portal_store::org::{self, SettingChange};
use portal_store::portal_access::{self as store, PatientPortalRow};
use portal_store::{Db, DbConn, ids::new_id};
use serde::Serialize;
use serde_json::json;
use time::PrimitiveDateTime;

use crate::PracticeError;

/// The setting's name in the settings history.
pub const AUTO_ENABLE_PORTAL: &str = "auto_enable_portal";

/// What the facesheet header and the Patient Portal tab show.
#[derive(Debug, Clone, Serialize)]
pub struct PatientPortalStatus {
    pub patient_id: String,
    pub access_level: PortalAccessLevel,
    pub status: PortalStatusView,
    pub email: Option<String>,
    pub last_invited_at: Option<PrimitiveDateTime>,
    pub last_signed_in_at: Option<PrimitiveDateTime>,
    /// Seed 002's note on mismatched verification facts, for the troubleshooting box.
    pub mismatch_hint: &'static str,
    /// Seed 002's privacy note: shown beside the e-mail field (and before enabling access)
    /// whenever a change of address could redirect portal access.
    pub email_privacy_warning: &'static str,
}

impl From<PatientPortalRow> for PatientPortalStatus {
    fn from(r: PatientPortalRow) -> Self {
        Self {
            status: PortalStatusView::of(&r.facts()),
            access_level: PortalAccessLevel::from_enabled(r.portal_access),
            patient_id: r.id,
            email: r.email,
            last_invited_at: r.portal_last_invited_at,
            last_signed_in_at: r.portal_last_signed_in_at,
            mismatch_hint: MISMATCH_HINT,
            email_privacy_warning: EMAIL_PRIVACY_WARNING,
        }
    }
}

async fn visible(conn: &mut DbConn, actor: &Actor, patient_id: &str) -> Result<PatientPortalRow, PracticeError> {
    let id = PatientId::parse(patient_id).map_err(|_| AccessError::NotFound)?;
    let p = store::patient(conn, id.as_str()).await?;
    if !actor.principal.may_access_location(&LocationId::from_trusted(p.location_id.clone())) {
        return Err(AccessError::NotFound.into());
    }
    Ok(p)
}

/// The patient's portal status (seed 002, "View Patient's Portal Status"). Needs View Patients
/// and the patient's location. Not audited on its own: it is part of the facesheet, whose
/// opening is.
pub async fn portal_status(db: &Db, actor: &Actor, patient_id: &str) -> Result<PatientPortalStatus, PracticeError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut conn = db.read().await?;
    Ok(visible(&mut conn, actor, patient_id).await?.into())
}

/// The portal status of several patients at once (the patient list's status column): those the
/// actor may see, keyed by id; ids of other locations, unknown or malformed are left out. Needs
/// View Patients. Not audited on its own: it belongs to the search that listed the patients.
pub async fn portal_statuses(
    db: &Db,
    actor: &Actor,
    patient_ids: &[String],
) -> Result<std::collections::HashMap<String, PortalStatusView>, PracticeError> {
    actor.principal.require(Permission::ViewPatients)?;
    let ids: Vec<String> =
        patient_ids.iter().filter_map(|i| PatientId::parse(i).ok()).map(PatientId::into_string).collect();
    let mut conn = db.read().await?;
    Ok(store::patients(&mut conn, &ids)
        .await?
        .into_iter()
        .filter(|p| actor.principal.may_access_location(&LocationId::from_trusted(p.location_id.clone())))
        .map(|p| (p.id.clone(), PortalStatusView::of(&p.facts())))
        .collect())
}

/// Sets "Patient's Access Level" (seed 002). Enabling needs an e-mail address and a ZIP code on
/// file; the refusal names what is missing. Disabling takes effect on the next request of every
/// portal user of this patient. Needs Edit Patients; audited; setting the same level again
/// records nothing.
pub async fn set_access_level(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    level: PortalAccessLevel,
) -> Result<PatientPortalStatus, PracticeError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut conn = db.read().await?;
    let before = visible(&mut conn, actor, patient_id).await?;
    drop(conn);
    let actor2 = actor.clone();
    let id = before.id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let p = store::patient_for_update(tx, &id).await?;
            if p.portal_access == level.is_enabled() {
                return Ok(());
            }
            if level.is_enabled() {
                let f = p.facts();
                check_enable(f.has_email, f.has_zip).map_err(|e| PracticeError::Refused(e.to_string()))?;
            }
            store::set_portal_access(tx, &id, level.is_enabled()).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::PortalAccessChanged).patient(&id).target("patient", &id).detail(
                    json!({ "from": PortalAccessLevel::from_enabled(p.portal_access).as_str(), "to": level.as_str() }),
                ),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::patient(&mut conn, &before.id).await?.into())
}

/// For the use cases that add patients by staff (the facesheet form, the roster import): call
/// inside their transaction, after the patient row is written. When auto-enable applies at the
/// patient's location and the record has an e-mail and a ZIP code, access is enabled (audited)
/// and `true` returned. Patients who sign themselves up are not auto-enabled (seed 002).
pub async fn apply_auto_enable(tx: &mut DbConn, actor: &Actor, patient_id: &str) -> Result<bool, PracticeError> {
    let p = store::patient(tx, patient_id).await?;
    if p.portal_access {
        return Ok(false);
    }
    let auto = store::auto_enable_at(tx, &p.location_id).await?;
    let f = p.facts();
    if !access_on_creation(auto, f.has_email, f.has_zip) {
        return Ok(false);
    }
    store::set_portal_access(tx, patient_id, true).await?;
    audit::append(
        tx,
        &AuditEntry::by(actor, AuditAction::PortalAccessChanged)
            .patient(patient_id)
            .target("patient", patient_id)
            .detail(json!({ "from": "no_access", "to": "can_access", "auto_enabled": true })),
    )
    .await?;
    Ok(true)
}

/// A location's auto-enable: its own override, if any, and what applies there.
#[derive(Debug, Clone, Serialize)]
pub struct LocationAutoEnable {
    pub location_id: String,
    pub name: String,
    /// `None`: follows the instance.
    pub override_value: Option<bool>,
    pub effective: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AutoEnableSettings {
    pub instance: bool,
    pub locations: Vec<LocationAutoEnable>,
    pub history: Vec<SettingChange>,
}

fn require_portal_settings(actor: &Actor) -> Result<(), AccessError> {
    match &actor.principal {
        Principal::System => Ok(()),
        Principal::Staff(s) => s.require_portal_settings(),
    }
}

/// The auto-enable settings (an instance setting: Manage Portal Settings, like Use Portal).
pub async fn auto_enable_settings(db: &Db, actor: &Actor) -> Result<AutoEnableSettings, PracticeError> {
    require_portal_settings(actor)?;
    let mut conn = db.read().await?;
    let instance = store::instance_auto_enable(&mut conn).await?;
    let locations = store::location_overrides(&mut conn)
        .await?
        .into_iter()
        .map(|(location_id, name, over)| LocationAutoEnable {
            location_id,
            name,
            override_value: over,
            effective: effective_auto_enable(instance, over),
        })
        .collect();
    let history = org::setting_history(&mut conn, AUTO_ENABLE_PORTAL).await?;
    Ok(AutoEnableSettings { instance, locations, history })
}

fn shown(v: Option<bool>) -> String {
    v.map_or_else(|| "instance".to_owned(), |b| b.to_string())
}

/// Sets the instance's auto-enable, or (with `location_id`) a location's override (`None`
/// removes it, so that the location follows the instance). Recorded in the settings history and
/// audited; the same value again records nothing. Affects patients added from now on.
pub async fn set_auto_enable(
    db: &Db,
    actor: &Actor,
    location_id: Option<&str>,
    value: Option<bool>,
) -> Result<AutoEnableSettings, PracticeError> {
    require_portal_settings(actor)?;
    let location = match location_id {
        None => None,
        Some(l) => Some(LocationId::parse(l).map_err(|_| AccessError::NotFound)?.into_string()),
    };
    if location.is_none() && value.is_none() {
        return Err(portal_core::FieldErrors::single("value", "the instance setting is on or off").into());
    }
    let actor2 = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let (setting, old, new) = match &location {
                None => {
                    let old = store::instance_auto_enable(tx).await?;
                    let new = value.unwrap_or(old);
                    if old == new {
                        return Ok(());
                    }
                    store::set_instance_auto_enable(tx, new).await?;
                    (AUTO_ENABLE_PORTAL.to_owned(), old.to_string(), new.to_string())
                }
                Some(l) => {
                    let old = store::location_override(tx, l).await?;
                    if old == value {
                        return Ok(());
                    }
                    store::set_location_override(tx, l, value).await?;
                    // One history for the setting; a location's change names the location.
                    (
                        format!("{AUTO_ENABLE_PORTAL}:{l}"),
                        format!("{l}={}", shown(old)),
                        format!("{l}={}", shown(value)),
                    )
                }
            };
            let change = SettingChange {
                id: new_id(),
                setting: AUTO_ENABLE_PORTAL.into(),
                old_value: old.clone(),
                new_value: new.clone(),
                fee_locations: None,
                fee_total_cents: None,
                acknowledged: false,
                changed_by: actor2.principal.actor_id().map(str::to_owned),
                changed_by_name: actor2.name().to_owned(),
                ip: actor2.ip.clone(),
                changed_at: now_utc(),
            };
            org::record_setting_change(tx, &change).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::SettingChanged)
                    .target("setting", &setting)
                    .detail(json!({ "from": old, "to": new, "location_id": location })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    auto_enable_settings(db, actor).await
}
