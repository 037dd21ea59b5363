//! The auto-enable settings ("Should the patient be able to activate portal without further
//! confirmation"): the instance's value and each location's override (Manage Portal Settings).

use axum::Json;
use axum::extract::State;
use portal_core::FieldErrors;
use portal_practice::portal_access;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::dto::SettingChangeDto;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_auto_enable, put_auto_enable))
}

/// One location's auto-enable.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationAutoEnableDto {
    pub location_id: String,
    pub name: String,
    /// The location's own value; `null`: it follows the instance.
    pub auto_enable: Option<bool>,
    /// What applies there.
    pub effective: bool,
}

/// "Should the patient be able to activate portal without further confirmation": the instance's
/// value, each location's override and the history of changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutoEnableSettingsDto {
    pub auto_enable: bool,
    pub locations: Vec<LocationAutoEnableDto>,
    pub history: Vec<SettingChangeDto>,
}

impl From<portal_access::AutoEnableSettings> for AutoEnableSettingsDto {
    fn from(s: portal_access::AutoEnableSettings) -> Self {
        Self {
            auto_enable: s.instance,
            locations: s
                .locations
                .into_iter()
                .map(|l| LocationAutoEnableDto {
                    location_id: l.location_id,
                    name: l.name,
                    auto_enable: l.override_value,
                    effective: l.effective,
                })
                .collect(),
            history: s.history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationAutoEnableRequest {
    pub location_id: String,
    /// `true` or `false`; `null` or absent: follow the instance.
    #[serde(default)]
    pub auto_enable: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoEnableRequest {
    /// The instance's value.
    pub auto_enable: bool,
    /// Overrides to set; locations not listed keep theirs.
    #[serde(default)]
    pub location_overrides: Vec<LocationAutoEnableRequest>,
}

/// The auto-enable settings (Manage Portal Settings).
#[utoipa::path(get, path = "/api/v1/settings/portal-access", operation_id = "getPortalAccessSettings", tag = "portal-admin",
    security(("session" = [])),
    responses((status = 200, body = AutoEnableSettingsDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn get_auto_enable(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
) -> ApiResult<Json<AutoEnableSettingsDto>> {
    Ok(Json(portal_access::auto_enable_settings(state.db(), &s.actor).await?.into()))
}

/// Sets the instance's auto-enable and, optionally, locations' overrides. Applies to patients
/// added by staff from then on. Each change is kept in the history and audited; the same value
/// again records nothing. Every listed location is checked before anything changes. Manage
/// Portal Settings.
#[utoipa::path(put, path = "/api/v1/settings/portal-access", operation_id = "setPortalAccessSettings", tag = "portal-admin",
    security(("session" = [])), request_body = AutoEnableRequest,
    responses((status = 200, body = AutoEnableSettingsDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn put_auto_enable(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<AutoEnableRequest>,
) -> ApiResult<Json<AutoEnableSettingsDto>> {
    let db = state.db();
    // Reading first checks the permission and names the locations that exist.
    let current = portal_access::auto_enable_settings(db, &s.actor).await?;
    let mut seen = std::collections::HashSet::new();
    for o in &req.location_overrides {
        let id = o.location_id.trim().to_ascii_lowercase();
        let problem = if !current.locations.iter().any(|l| l.location_id == id) {
            "names a location that does not exist"
        } else if !seen.insert(id) {
            "names the same location twice"
        } else {
            continue;
        };
        return Err(FieldErrors::single("location_overrides", problem).into());
    }
    let mut after = portal_access::set_auto_enable(db, &s.actor, None, Some(req.auto_enable)).await?;
    for o in &req.location_overrides {
        let id = o.location_id.trim().to_ascii_lowercase();
        after = portal_access::set_auto_enable(db, &s.actor, Some(&id), o.auto_enable).await?;
    }
    Ok(Json(after.into()))
}
