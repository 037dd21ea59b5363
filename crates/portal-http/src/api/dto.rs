//! The API's documented shapes, translated from the domain's rows. Times are RFC 3339 UTC;
//! ids are UUID strings.

use portal_auth::staff::StaffView;
use portal_core::time_util::rfc3339;
use portal_practice::patients::{Facesheet, SearchPage};
use portal_practice::settings::InstanceSettings;
use portal_store::audit::AuditRow;
use portal_store::org::{Location, Organization, SettingChange};
use portal_store::patients::{CareTeamMember, ContactRow, PatientRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffDto {
    pub id: String,
    pub email: String,
    pub name: String,
    /// One of `super_admin`, `practice_manager`, `clinician`, `front_desk`, `billing`.
    pub role: String,
    pub active: bool,
    pub location_ids: Vec<String>,
    /// Granted portal permissions: `allow_document_share`, `available_for_portal_messages`,
    /// `manage_portal_packages`, `manage_portal_settings`.
    pub portal_permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StaffView> for StaffDto {
    fn from(v: StaffView) -> Self {
        Self {
            id: v.row.id,
            email: v.row.email,
            name: v.row.name,
            role: v.row.role,
            active: v.row.active,
            location_ids: v.location_ids,
            portal_permissions: v.portal_permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            created_at: rfc3339(v.row.created_at),
            updated_at: rfc3339(v.row.updated_at),
        }
    }
}

/// The signed-in staff user.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeDto {
    pub id: String,
    pub name: String,
    pub role: String,
    pub location_ids: Vec<String>,
    pub portal_permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInResponse {
    /// Send as `Authorization: Bearer TOKEN`. Shown once; only its hash is stored.
    pub token: String,
    /// The absolute end of the session; it also ends after 15 minutes without a request.
    pub expires_at: String,
    pub staff: MeDto,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingChangeDto {
    pub id: String,
    pub setting: String,
    pub old_value: String,
    pub new_value: String,
    pub fee_locations: Option<i64>,
    pub fee_total_cents: Option<i64>,
    pub acknowledged: bool,
    pub changed_by: Option<String>,
    pub changed_by_name: String,
    pub changed_at: String,
}

impl From<SettingChange> for SettingChangeDto {
    fn from(c: SettingChange) -> Self {
        Self {
            id: c.id,
            setting: c.setting,
            old_value: c.old_value,
            new_value: c.new_value,
            fee_locations: c.fee_locations,
            fee_total_cents: c.fee_total_cents,
            acknowledged: c.acknowledged,
            changed_by: c.changed_by,
            changed_by_name: c.changed_by_name,
            changed_at: rfc3339(c.changed_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceSettingsDto {
    pub use_portal: bool,
    pub locations: i64,
    pub fee_per_location_cents: i64,
    pub fee_monthly_total_cents: i64,
    pub history: Vec<SettingChangeDto>,
}

impl From<InstanceSettings> for InstanceSettingsDto {
    fn from(s: InstanceSettings) -> Self {
        Self {
            use_portal: s.use_portal,
            locations: s.fee.locations,
            fee_per_location_cents: s.fee.per_location_cents,
            fee_monthly_total_cents: s.fee.monthly_total_cents,
            history: s.history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UsePortalRequest {
    pub enabled: bool,
    /// Must be true to turn the portal on: the clinic accepts the monthly fee per location.
    #[serde(default)]
    pub acknowledge_fee: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyDto {
    pub name: String,
    pub phone: Option<String>,
    pub has_logo: bool,
    pub brand_by_location: bool,
    pub use_portal: bool,
}

impl From<Organization> for CompanyDto {
    fn from(o: Organization) -> Self {
        Self {
            name: o.name,
            phone: o.phone,
            has_logo: o.logo_content_type.is_some(),
            brand_by_location: o.brand_by_location,
            use_portal: o.use_portal,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompanyRequest {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub brand_by_location: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationDto {
    pub id: String,
    pub name: String,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
    pub time_zone: String,
    pub has_logo: bool,
}

impl From<Location> for LocationDto {
    fn from(l: Location) -> Self {
        Self {
            id: l.id,
            name: l.name,
            address_line1: l.address_line1,
            city: l.city,
            state: l.state,
            zip: l.zip,
            phone: l.phone,
            time_zone: l.time_zone,
            has_logo: l.logo_content_type.is_some(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LocationRequest {
    pub name: String,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// An IANA time zone such as `America/New_York`.
    pub time_zone: String,
}

impl From<LocationRequest> for portal_practice::company::LocationInput {
    fn from(r: LocationRequest) -> Self {
        Self {
            name: r.name,
            address_line1: r.address_line1,
            city: r.city,
            state: r.state,
            zip: r.zip,
            phone: r.phone,
            time_zone: r.time_zone,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StaffRequest {
    pub name: String,
    pub email: String,
    pub role: String,
    #[serde(default)]
    pub location_ids: Vec<String>,
    #[serde(default = "default_true")]
    pub active: bool,
    /// Required when creating; ignored when editing.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_true() -> bool {
    true
}

impl From<StaffRequest> for portal_auth::staff::StaffInput {
    fn from(r: StaffRequest) -> Self {
        Self {
            name: r.name,
            email: r.email,
            role: r.role,
            location_ids: r.location_ids,
            active: r.active,
            password: r.password,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PermissionRequest {
    pub granted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientDto {
    pub id: String,
    pub record_number: String,
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub location_id: String,
    /// `active`, `inactive` or `deceased`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<PatientRow> for PatientDto {
    fn from(p: PatientRow) -> Self {
        Self {
            id: p.id,
            record_number: p.record_number,
            first_name: p.first_name,
            last_name: p.last_name,
            date_of_birth: p.date_of_birth.to_string(),
            email: p.email,
            phone: p.phone,
            address_line1: p.address_line1,
            city: p.city,
            state: p.state,
            zip: p.zip,
            location_id: p.location_id,
            status: p.status,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatientRequest {
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    pub location_id: String,
    #[serde(default)]
    pub status: Option<String>,
    /// Only when creating; generated when absent.
    #[serde(default)]
    pub record_number: Option<String>,
    /// Must be true when an update changes the e-mail address: whoever reads that mailbox can
    /// take over the patient's portal access, so confirm the address with the patient first.
    #[serde(default)]
    pub confirm_email_change: bool,
}

impl From<PatientRequest> for portal_practice::patients::PatientInput {
    fn from(r: PatientRequest) -> Self {
        Self {
            first_name: r.first_name,
            last_name: r.last_name,
            date_of_birth: r.date_of_birth,
            email: r.email,
            phone: r.phone,
            address_line1: r.address_line1,
            city: r.city,
            state: r.state,
            zip: r.zip,
            location_id: r.location_id,
            status: r.status,
            record_number: r.record_number,
            confirm_email_change: r.confirm_email_change,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientPageDto {
    pub items: Vec<PatientDto>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl From<SearchPage> for PatientPageDto {
    fn from(p: SearchPage) -> Self {
        Self {
            items: p.patients.into_iter().map(Into::into).collect(),
            total: p.total,
            page: p.page,
            per_page: p.per_page,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDto {
    pub id: String,
    /// `guardian`, `guarantor`, `emergency` or `other`.
    pub kind: String,
    pub first_name: String,
    pub last_name: String,
    pub relation: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<ContactRow> for ContactDto {
    fn from(c: ContactRow) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            first_name: c.first_name,
            last_name: c.last_name,
            relation: c.relation,
            email: c.email,
            phone: c.phone,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactRequest {
    pub kind: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub relation: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

impl From<ContactRequest> for portal_practice::patients::ContactInput {
    fn from(r: ContactRequest) -> Self {
        Self {
            kind: r.kind,
            first_name: r.first_name,
            last_name: r.last_name,
            relation: r.relation,
            email: r.email,
            phone: r.phone,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CareTeamMemberDto {
    pub staff_id: String,
    pub staff_name: String,
    pub staff_role: String,
    pub team_role: String,
    pub added_at: String,
}

impl From<CareTeamMember> for CareTeamMemberDto {
    fn from(m: CareTeamMember) -> Self {
        Self {
            staff_id: m.staff_id,
            staff_name: m.staff_name,
            staff_role: m.staff_role,
            team_role: m.team_role,
            added_at: rfc3339(m.added_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CareTeamRequest {
    /// The member's role on this team, such as "Primary clinician".
    pub team_role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacesheetDto {
    pub patient: PatientDto,
    pub location_name: String,
    pub contacts: Vec<ContactDto>,
    pub care_team: Vec<CareTeamMemberDto>,
}

impl From<Facesheet> for FacesheetDto {
    fn from(f: Facesheet) -> Self {
        Self {
            patient: f.patient.into(),
            location_name: f.location_name,
            contacts: f.contacts.into_iter().map(Into::into).collect(),
            care_team: f.care_team.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventDto {
    pub seq: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub patient_id: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// JSON text with the action's details (never PHI values).
    pub detail: String,
    pub ip: Option<String>,
    pub hash: String,
}

impl From<AuditRow> for AuditEventDto {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            at: rfc3339(r.at),
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            patient_id: r.patient_id,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: r.detail,
            ip: r.ip,
            hash: r.hash,
        }
    }
}
