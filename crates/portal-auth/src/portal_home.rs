//! What a signed-in portal user sees of one patient they hold a grant for: the patient's home
//! in the portal (name, relation, what the grant covers, the clinic's contact details and the
//! message staff attached to the invitation).

use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::events::Relation;
use portal_core::ids::PatientId;
use portal_core::portal_accounts::GrantScopes;
use portal_store::portal_accounts as accounts;
use portal_store::{Db, audit, branding, org, portal_access};
use serde::Serialize;
use serde_json::json;
use time::Date;

use crate::portal_error::PortalError;
use crate::portal_links::{LinkData, portal_user_entry};
use crate::portal_sessions::{PORTAL, PortalSession};

/// How to reach the clinic about this patient: the company, and the patient's location.
#[derive(Debug, Clone, Serialize)]
pub struct ClinicContact {
    /// The name the portal shows: the location's when the company brands by location.
    pub name: String,
    pub phone: Option<String>,
    pub location_name: String,
    pub address_line1: Option<String>,
    /// "City, ST 12345", from what is on file.
    pub city_line: Option<String>,
    pub location_phone: Option<String>,
    /// The location whose logo brands this patient's pages (brand by location, with a logo).
    pub logo_location_id: Option<String>,
    pub company_has_logo: bool,
}

/// One patient's home in the portal.
#[derive(Debug, Clone, Serialize)]
pub struct PatientHome {
    pub patient_id: String,
    pub first_name: String,
    pub last_name: String,
    pub relation: Relation,
    pub scopes: GrantScopes,
    /// Last day of access (inclusive), if staff set one.
    pub ends_on: Option<Date>,
    pub clinic: ClinicContact,
    /// Seed 003's intake-forms message, from the newest invitation that carried one.
    pub message: Option<String>,
}

/// The patient's home for the signed-in user. A patient without a grant in force (revoked a
/// moment ago, ended, or never given) answers `NotFound`, exactly like a missing one; while
/// the password is a temporary one set at the desk, `Forbidden` (choose a password first).
/// Audited as a read of the patient (`patient_viewed`, `by: portal`).
pub async fn patient_home(
    db: &Db,
    session: &PortalSession,
    patient_id: &str,
    ip: Option<String>,
) -> Result<PatientHome, PortalError> {
    let p = &session.principal;
    let patient = PatientId::parse(patient_id).map_err(|_| AccessError::NotFound)?;
    if p.must_change_password {
        return Err(AccessError::Forbidden { needs: "a password of your own (choose a new password first)" }.into());
    }
    let grant = p.grant_for(&patient)?.clone();
    let mut conn = db.read().await?;
    let row = portal_access::patient(&mut conn, patient.as_str()).await?;
    let brand = branding::for_patient(&mut conn, Some(patient.as_str())).await?;
    let location = org::find_location(&mut conn, &row.location_id).await?;
    let links = accounts::tokens_of_account_for_patient(&mut conn, p.account_id.as_str(), patient.as_str()).await?;
    drop(conn);
    let message = links.iter().find_map(|t| serde_json::from_str::<LinkData>(&t.data).ok().and_then(|d| d.message));
    let city_line = {
        let city_state = [location.city.as_deref(), location.state.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let line = [city_state.as_str(), location.zip.as_deref().unwrap_or("").trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!line.is_empty()).then_some(line)
    };
    let (name, phone, logo_location_id) = match &brand.location {
        Some(l) => (l.name.clone(), l.phone.clone().or(brand.company_phone.clone()), l.has_logo.then(|| l.id.clone())),
        None => (brand.company_name.clone(), brand.company_phone.clone(), None),
    };
    let home = PatientHome {
        patient_id: row.id.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        relation: grant.relation,
        scopes: grant.scopes.clone(),
        ends_on: grant.ends_on,
        clinic: ClinicContact {
            name,
            phone,
            location_name: location.name,
            address_line1: location.address_line1,
            city_line,
            location_phone: location.phone,
            logo_location_id,
            company_has_logo: brand.company_has_logo,
        },
        message,
    };
    let account_id = p.account_id.to_string();
    let username = p.username.to_string();
    let pid = row.id;
    db.write(move |tx| {
        Box::pin(async move {
            audit::append(
                tx,
                &portal_user_entry(&account_id, Some(&username), ip, AuditAction::PatientViewed)
                    .patient(&pid)
                    .detail(json!({ "by": PORTAL, "page": "home" })),
            )
            .await?;
            Ok::<_, PortalError>(())
        })
    })
    .await?;
    Ok(home)
}
