//! The printable handout for patients (seed 003): its editable text and the rendered sheet.
//!
//! `GET` answers everything the printed sheet shows, so an API client can print its own: the
//! text, the clinic's branding (the company's, or a location's), the portal address and its QR
//! code as an SVG document. `PUT` and `DELETE` change the text (Manage Portal Settings).

use axum::Json;
use axum::extract::State;
use portal_core::time_util::rfc3339;
use portal_practice::handout::{self, HandoutInput, HandoutSheet, SheetLocation, SheetLogo};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, ApiStaff};
use crate::pages::handout::{portal_address, qr_svg};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_handout, update_handout, restore_default_handout))
}

/// The handout as printed: text, branding, portal address and QR code.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoutDto {
    pub title: String,
    /// Plain text. A blank line separates paragraphs; a line starting with `- ` or `* ` is a
    /// list item; other line breaks are kept.
    pub body: String,
    /// True while the clinic has no text of its own and Portal's default text is printed.
    pub is_default: bool,
    /// When the clinic's text was last changed (null for the default).
    pub updated_at: Option<String>,
    pub updated_by_name: Option<String>,
    /// The address patients open: the configured public URL followed by `/portal`. Null when no
    /// public URL is configured (`PORTAL_PUBLIC_URL`): the sheet then prints no address.
    pub portal_url: Option<String>,
    /// The QR code of `portal_url` as a standalone SVG document (null with `portal_url`).
    pub qr_svg: Option<String>,
    pub branding: HandoutBrandingDto,
}

/// What the sheet prints about the clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoutBrandingDto {
    /// The company's name, or the location's when the company brands by location and a
    /// location was asked for.
    pub clinic_name: String,
    pub phone: Option<String>,
    /// Path of the logo image (`/branding/logo` or `/branding/locations/{id}/logo`), if any.
    pub logo_url: Option<String>,
    pub brand_by_location: bool,
    /// The location asked for, if any.
    pub location_id: Option<String>,
    /// The addresses printed: the location asked for, or every location.
    pub locations: Vec<HandoutLocationDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HandoutLocationDto {
    pub id: String,
    pub name: String,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
}

impl From<SheetLocation> for HandoutLocationDto {
    fn from(l: SheetLocation) -> Self {
        Self {
            id: l.id,
            name: l.name,
            address_line1: l.address_line1,
            city: l.city,
            state: l.state,
            zip: l.zip,
            phone: l.phone,
        }
    }
}

/// A new title and text. Both are required; the text is plain (no markup is interpreted).
#[derive(Debug, Deserialize, ToSchema)]
pub struct HandoutRequest {
    /// 1 to 120 characters on one line.
    pub title: String,
    /// 1 to 4000 characters of plain text.
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandoutParams {
    /// Print for this location: its address, and its name, phone and logo when the company
    /// brands by location. Without it: the company and every location's address.
    pub location_id: Option<String>,
}

fn dto(state: &AppState, sheet: HandoutSheet) -> HandoutDto {
    let portal_url = portal_address(state);
    let t = sheet.text;
    HandoutDto {
        title: t.title,
        body: t.body,
        is_default: t.is_default,
        updated_at: t.updated_at.map(rfc3339),
        updated_by_name: t.updated_by_name,
        qr_svg: portal_url.as_deref().and_then(qr_svg),
        portal_url,
        branding: HandoutBrandingDto {
            clinic_name: sheet.clinic_name,
            phone: sheet.phone,
            logo_url: sheet.logo.map(|l| match l {
                SheetLogo::Company => "/branding/logo".to_owned(),
                SheetLogo::Location(id) => format!("/branding/locations/{id}/logo"),
            }),
            brand_by_location: sheet.brand_by_location,
            location_id: sheet.location_id,
            locations: sheet.locations.into_iter().map(Into::into).collect(),
        },
    }
}

async fn company_sheet(state: &AppState, s: &ApiStaff) -> ApiResult<Json<HandoutDto>> {
    Ok(Json(dto(state, handout::sheet(state.db(), &s.0.actor, None).await?)))
}

/// The handout as printed (any staff user): the text, the branding, the portal address and its
/// QR code.
#[utoipa::path(get, path = "/api/v1/handout", operation_id = "getHandout", tag = "handout",
    security(("session" = [])), params(HandoutParams),
    responses((status = 200, body = HandoutDto), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`location_id` names no location", body = Problem, content_type = "application/problem+json")))]
async fn get_handout(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<HandoutParams>,
) -> ApiResult<Json<HandoutDto>> {
    Ok(Json(dto(&state, handout::sheet(state.db(), &s.actor, p.location_id.as_deref()).await?)))
}

/// Replaces the handout's title and text (Manage Portal Settings); answers the company's sheet.
/// The same text again changes and records nothing.
#[utoipa::path(put, path = "/api/v1/handout", operation_id = "updateHandout", tag = "handout",
    security(("session" = [])), request_body = HandoutRequest,
    responses((status = 200, body = HandoutDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty or too long title or text", body = Problem, content_type = "application/problem+json")))]
async fn update_handout(
    State(state): State<AppState>,
    staff: ApiStaff,
    ApiJson(req): ApiJson<HandoutRequest>,
) -> ApiResult<Json<HandoutDto>> {
    handout::update_handout(state.db(), &staff.0.actor, HandoutInput { title: req.title, body: req.body }).await?;
    company_sheet(&state, &staff).await
}

/// Drops the clinic's own text so that Portal's default text is printed again (Manage Portal
/// Settings); answers the company's sheet.
#[utoipa::path(delete, path = "/api/v1/handout", operation_id = "restoreDefaultHandout", tag = "handout",
    security(("session" = [])),
    responses((status = 200, body = HandoutDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn restore_default_handout(State(state): State<AppState>, staff: ApiStaff) -> ApiResult<Json<HandoutDto>> {
    handout::restore_default_handout(state.db(), &staff.0.actor).await?;
    company_sheet(&state, &staff).await
}
