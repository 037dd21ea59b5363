//! The branding an e-mail carries: the clinic's name, phone and whether a logo exists, the
//! company's, or the location's when the company brands by location and the e-mail concerns a
//! patient of that location. Read only: a fresh database without an organisation row gets the
//! same placeholder name that [`crate::org::organization`] would write, without writing it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::StoreError;
use crate::db::{DbConn, on_backend};
use crate::schema::{locations, organization, patients};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub company_name: String,
    pub company_phone: Option<String>,
    pub company_has_logo: bool,
    pub brand_by_location: bool,
    /// The patient's location, when the company brands by location and a patient was named.
    pub location: Option<LocationBrand>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationBrand {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub has_logo: bool,
}

/// The branding for an e-mail about `patient_id` (or about no patient).
pub async fn for_patient(conn: &mut DbConn, patient_id: Option<&str>) -> Result<Branding, StoreError> {
    type OrgRow = (String, Option<String>, Option<String>, bool);
    let org: Option<OrgRow> = on_backend!(conn, |c| organization::table
        .find(1)
        .select((
            organization::name,
            organization::phone,
            organization::logo_content_type,
            organization::brand_by_location,
        ))
        .first(c)
        .await
        .optional())?;
    let (company_name, company_phone, logo, brand_by_location) =
        org.unwrap_or_else(|| ("My Clinic".to_owned(), None, None, false));
    let mut branding =
        Branding { company_name, company_phone, company_has_logo: logo.is_some(), brand_by_location, location: None };
    let Some(patient_id) = patient_id.filter(|_| brand_by_location) else {
        return Ok(branding);
    };
    type LocationRow = (String, String, Option<String>, Option<String>);
    let row: Option<LocationRow> = on_backend!(conn, |c| patients::table
        .inner_join(locations::table)
        .filter(patients::id.eq(patient_id))
        .select((locations::id, locations::name, locations::phone, locations::logo_content_type))
        .first(c)
        .await
        .optional())?;
    branding.location = row.map(|(id, name, phone, logo)| LocationBrand { id, name, phone, has_logo: logo.is_some() });
    Ok(branding)
}
