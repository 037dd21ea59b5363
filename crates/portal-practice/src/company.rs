//! Company and locations (seed 000, "Company Settings"; "Brand Portal Messaging By Location").

use portal_core::audit::AuditAction;
use portal_core::org::{LogoImage, TimeZoneName};
use portal_core::patient::{AddressLine, Phone, ZipCode};
use portal_core::staff::Permission;
use portal_core::{Actor, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::org::{self, CompanyUpdate, Location, LocationFields, Organization};
use portal_store::{Db, ids::new_id};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::PracticeError;

/// The company as every page header shows it. Needs no permission: it is the clinic's public face.
pub async fn company(db: &Db) -> Result<Organization, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::organization(&mut conn).await?)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompanyInput {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub brand_by_location: bool,
}

pub async fn update_company(db: &Db, actor: &Actor, input: CompanyInput) -> Result<Organization, PracticeError> {
    actor.principal.require(Permission::ManageCompany)?;
    let mut errors = FieldErrors::new();
    let name = errors.check("name", AddressLine::parse(&input.name));
    let phone = errors.check_optional("phone", &input.phone, Phone::parse);
    errors.clone().into_result()?;
    let Some(name) = name else { return Err(errors.into()) };
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            org::update_company(
                tx,
                &CompanyUpdate {
                    name: name.as_str(),
                    phone: phone.as_ref().map(|p| p.as_str()),
                    brand_by_location: input.brand_by_location,
                },
            )
            .await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::CompanyUpdated)
                    .detail(json!({ "fields": ["name", "phone", "brand_by_location"], "brand_by_location": input.brand_by_location })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    company(db).await
}

/// Replaces the company logo with an image checked by its content.
pub async fn set_company_logo(db: &Db, actor: &Actor, bytes: Vec<u8>) -> Result<(), PracticeError> {
    actor.principal.require(Permission::ManageCompany)?;
    let logo = LogoImage::parse(bytes).map_err(|e| FieldErrors::single("logo", e))?;
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            org::set_company_logo(tx, logo.content_type(), logo.bytes()).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::CompanyUpdated)
                    .detail(json!({ "fields": ["logo"], "bytes": logo.bytes().len() })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await
}

pub async fn company_logo(db: &Db) -> Result<Option<(String, Vec<u8>)>, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::company_logo(&mut conn).await?)
}

/// Locations, for every signed-in staff user (forms need them); only names and addresses.
pub async fn locations(db: &Db) -> Result<Vec<Location>, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::list_locations(&mut conn).await?)
}

pub async fn location(db: &Db, id: &str) -> Result<Location, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::find_location(&mut conn, id).await?)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LocationInput {
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
    pub time_zone: String,
}

fn parse_location(input: &LocationInput) -> Result<LocationFields, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", AddressLine::parse(&input.name));
    let address_line1 = errors.check_optional("address_line1", &input.address_line1, AddressLine::parse);
    let city = errors.check_optional("city", &input.city, AddressLine::parse);
    let state = errors.check_optional("state", &input.state, AddressLine::parse);
    let zip = errors.check_optional("zip", &input.zip, ZipCode::parse);
    let phone = errors.check_optional("phone", &input.phone, Phone::parse);
    let tz = errors.check("time_zone", TimeZoneName::parse(&input.time_zone));
    errors.clone().into_result()?;
    match (name, tz) {
        (Some(name), Some(tz)) => Ok(LocationFields {
            name: name.to_string(),
            address_line1: address_line1.map(|v| v.to_string()),
            city: city.map(|v| v.to_string()),
            state: state.map(|v| v.to_string()),
            zip: zip.map(|v| v.to_string()),
            phone: phone.map(|v| v.to_string()),
            time_zone: tz.as_str().to_owned(),
        }),
        _ => Err(errors),
    }
}

pub async fn create_location(db: &Db, actor: &Actor, input: LocationInput) -> Result<Location, PracticeError> {
    actor.principal.require(Permission::ManageCompany)?;
    let fields = parse_location(&input)?;
    let id = new_id();
    let id2 = id.clone();
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            org::insert_location(tx, &id2, &fields).await?;
            audit::append(tx, &AuditEntry::by(&actor, AuditAction::LocationCreated).target("location", &id2)).await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    location(db, &id).await
}

pub async fn update_location(
    db: &Db,
    actor: &Actor,
    id: &str,
    input: LocationInput,
) -> Result<Location, PracticeError> {
    actor.principal.require(Permission::ManageCompany)?;
    let fields = parse_location(&input)?;
    let id2 = id.to_owned();
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            org::update_location(tx, &id2, &fields).await?;
            audit::append(tx, &AuditEntry::by(&actor, AuditAction::LocationUpdated).target("location", &id2)).await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    location(db, id).await
}

pub async fn set_location_logo(db: &Db, actor: &Actor, id: &str, bytes: Vec<u8>) -> Result<(), PracticeError> {
    actor.principal.require(Permission::ManageCompany)?;
    let logo = LogoImage::parse(bytes).map_err(|e| FieldErrors::single("logo", e))?;
    let id2 = id.to_owned();
    let actor = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            org::set_location_logo(tx, &id2, logo.content_type(), logo.bytes()).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::LocationUpdated)
                    .target("location", &id2)
                    .detail(json!({ "fields": ["logo"] })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await
}

pub async fn location_logo(db: &Db, id: &str) -> Result<Option<(String, Vec<u8>)>, PracticeError> {
    let mut conn = db.read().await?;
    Ok(org::location_logo(&mut conn, id).await?)
}
