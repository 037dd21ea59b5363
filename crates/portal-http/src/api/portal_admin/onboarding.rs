//! The Patient Portal Onboarding Tool over the API (seed 004): the list with its filters and
//! colour counts, and bulk jobs that enable access and send invitations, run in a task of their
//! own so that the request that starts one answers at once.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_auth::onboarding::{self, BulkInput, BulkProgress, OnboardingInput, OnboardingPage, OnboardingRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{PortalStatusViewDto, when, wire_name};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ApiStaff};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(onboarding_list))
        .routes(routes!(start_onboarding_job))
        .routes(routes!(get_onboarding_job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnboardingParams {
    /// A name, or part of one (every word must match).
    pub q: Option<String>,
    /// A colour (`red`, `gray`, `orange`, `green`) or status name.
    pub status: Option<String>,
    pub location_id: Option<String>,
    /// 1-based page number.
    pub page: Option<i64>,
    /// 1 to 200; default 50.
    pub per_page: Option<i64>,
}

/// One row of the tool.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingRowDto {
    pub patient_id: String,
    pub record_number: String,
    pub first_name: String,
    pub last_name: String,
    pub location_id: String,
    pub email: Option<String>,
    /// `no_access` or `can_access`.
    pub access_level: String,
    pub status: PortalStatusViewDto,
    pub last_invited_at: Option<String>,
    pub last_signed_in_at: Option<String>,
    /// "Send Invite to <e-mail>": present for gray, orange and green rows (seed 004); the action
    /// is `POST /api/v1/patients/{id}/portal/invitations` with `{"to": {"kind": "patient"}}`.
    pub invite_action: Option<String>,
}

impl From<OnboardingRow> for OnboardingRowDto {
    fn from(r: OnboardingRow) -> Self {
        Self {
            patient_id: r.patient_id,
            record_number: r.record_number,
            first_name: r.first_name,
            last_name: r.last_name,
            location_id: r.location_id,
            email: r.email,
            access_level: r.access_level.as_str().to_owned(),
            status: r.status.into(),
            last_invited_at: when(r.last_invited_at),
            last_signed_in_at: when(r.last_signed_in_at),
            invite_action: r.invite_action,
        }
    }
}

/// How many patients of the filter (whatever its status) have each colour.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCountsDto {
    pub red: i64,
    pub gray: i64,
    pub orange: i64,
    pub green: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingPageDto {
    pub items: Vec<OnboardingRowDto>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub counts: StatusCountsDto,
}

impl From<OnboardingPage> for OnboardingPageDto {
    fn from(p: OnboardingPage) -> Self {
        Self {
            items: p.rows.into_iter().map(Into::into).collect(),
            total: p.total,
            page: p.page,
            per_page: p.per_page,
            counts: StatusCountsDto {
                red: p.counts.red,
                gray: p.counts.gray,
                orange: p.counts.orange,
                green: p.counts.green,
            },
        }
    }
}

/// The Onboarding Tool: the patients of the caller's locations by name with their portal status,
/// filtered, with counts per colour. View Patients; audited as a patient search.
#[utoipa::path(get, path = "/api/v1/onboarding", operation_id = "listOnboarding", tag = "portal-admin",
    security(("session" = [])), params(OnboardingParams),
    responses((status = 200, body = OnboardingPageDto), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn onboarding_list(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiQuery(p): ApiQuery<OnboardingParams>,
) -> ApiResult<Json<OnboardingPageDto>> {
    let input =
        OnboardingInput { q: p.q, status: p.status, location_id: p.location_id, page: p.page, per_page: p.per_page };
    Ok(Json(onboarding::onboarding_list(state.db(), &s.actor, &input).await?.into()))
}

/// "All that match": the list's filters (its page is not one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardingFilterDto {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
}

/// What a bulk job does, and to whom: either `patient_ids` or `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkJobRequest {
    /// The selected patients (at most 50,000).
    #[serde(default)]
    pub patient_ids: Option<Vec<String>>,
    /// Every patient of the caller's locations matching these filters.
    #[serde(default)]
    pub filter: Option<OnboardingFilterDto>,
    /// Enable portal access (red patients with an e-mail and a ZIP code).
    #[serde(default)]
    pub enable: bool,
    /// Send the invitation/reset e-mail (patients whose access is not enabled are skipped unless
    /// `enable` is set or auto-enable applies at their location).
    #[serde(default)]
    pub invite: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkJobStartedDto {
    pub job_id: String,
    /// Patients the job will go through, fixed when it started.
    pub total: usize,
    /// Where to poll its progress (also in the `Location` header).
    pub progress_url: String,
}

/// Starts a bulk job and answers at once (202) with its id; the job runs in the background in
/// chunks of 200 patients. Poll `GET /api/v1/onboarding/jobs/{id}`. Edit Patients; inviting
/// needs the portal on.
#[utoipa::path(post, path = "/api/v1/onboarding/jobs", operation_id = "startOnboardingJob", tag = "portal-admin",
    security(("session" = [])), request_body = BulkJobRequest,
    responses((status = 202, body = BulkJobStartedDto, headers(("location" = String, description = "The job's progress URL"))),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Inviting while the portal is off", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn start_onboarding_job(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiJson(req): ApiJson<BulkJobRequest>,
) -> ApiResult<Response> {
    let input = BulkInput {
        patient_ids: req.patient_ids,
        filter: req.filter.map(|f| OnboardingInput {
            q: f.q,
            status: f.status,
            location_id: f.location_id,
            page: None,
            per_page: None,
        }),
        enable: req.enable,
        invite: req.invite,
    };
    let job = onboarding::start_bulk(state.db(), &s.actor, &input).await?;
    let (job_id, total) = (job.id.clone(), job.total());
    // The job outlives the request: its progress is in the database for any replica to report.
    // A server stopped mid-way leaves it `interrupted`; running the rest again is safe.
    onboarding::spawn_bulk(state.db(), &s.actor, job);
    let progress_url = format!("/api/v1/onboarding/jobs/{job_id}");
    let location = HeaderValue::from_str(&progress_url).map_err(|e| Problem::internal(&e))?;
    let body = BulkJobStartedDto { job_id, total, progress_url };
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// Why some patients were passed over, with how many.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkipCountDto {
    /// `not_found`, `no_email`, `no_zip`, `no_email_and_zip`, `access_not_enabled`,
    /// `already_enabled` or `account_inactive`.
    pub reason: String,
    pub words: String,
    pub count: i64,
}

/// A job's progress, and at the end its summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkProgressDto {
    pub job_id: String,
    /// `running`, `finished`, `failed`, or `interrupted` (no progress for two minutes: the server
    /// stopped; what was done stays done).
    pub status: String,
    pub total: i64,
    pub processed: i64,
    /// Patients whose access the job enabled.
    pub enabled: i64,
    /// Invitation/reset e-mails queued.
    pub sent: i64,
    pub skipped: i64,
    pub skipped_reasons: Vec<SkipCountDto>,
}

impl From<BulkProgress> for BulkProgressDto {
    fn from(p: BulkProgress) -> Self {
        Self {
            status: wire_name(&p.status),
            job_id: p.job_id,
            total: p.total,
            processed: p.processed,
            enabled: p.enabled,
            sent: p.sent,
            skipped: p.skipped,
            skipped_reasons: p
                .skipped_reasons
                .into_iter()
                .map(|(why, count)| SkipCountDto {
                    reason: why.as_str().to_owned(),
                    words: why.words().to_owned(),
                    count,
                })
                .collect(),
        }
    }
}

/// A bulk job's progress. Only the staff member who started it sees it (others get 404).
#[utoipa::path(get, path = "/api/v1/onboarding/jobs/{id}", operation_id = "getOnboardingJob", tag = "portal-admin",
    security(("session" = [])), params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = BulkProgressDto), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_onboarding_job(
    State(state): State<AppState>,
    ApiStaff(s): ApiStaff,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<BulkProgressDto>> {
    Ok(Json(onboarding::bulk_job(state.db(), &s.actor, &id).await?.into()))
}
