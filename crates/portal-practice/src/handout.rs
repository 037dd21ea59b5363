//! The printable handout for patients (seed 003, "Handout for Portal Users"): the clinic's text
//! about the portal (or Portal's default), and everything the sheet prints beside it: the
//! clinic's name, phone, logo and address, the company's or, when the company brands by
//! location and one is chosen, the location's.
//!
//! Reading needs only a staff session (the sheet holds no PHI and the front desk prints it);
//! changing the text needs Manage Portal Settings and is audited as a setting change.

use portal_core::audit::AuditAction;
use portal_core::handout::{Block, HandoutBody, HandoutTitle};
use portal_core::ids::LocationId;
use portal_core::time_util::now_utc;
use portal_core::{AccessError, Actor, FieldErrors, Principal};
use portal_store::audit::{self, AuditEntry};
use portal_store::handout::{self as store, HandoutRow};
use portal_store::org::{self, Location};
use portal_store::{Db, StoreError};
use serde::Serialize;
use serde_json::json;
use time::PrimitiveDateTime;

use crate::PracticeError;

/// The setting's name in audit rows (`setting_changed`, target `setting`).
pub const HANDOUT_SETTING: &str = "portal_handout";

/// The handout's text as it is printed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoutText {
    pub title: String,
    /// Plain text; blank lines separate paragraphs.
    pub body: String,
    /// True while the clinic has no text of its own: Portal's default is printed.
    pub is_default: bool,
    pub updated_at: Option<PrimitiveDateTime>,
    pub updated_by_name: Option<String>,
}

impl HandoutText {
    fn default_text() -> Self {
        Self {
            title: HandoutTitle::default_title().into_string(),
            body: HandoutBody::default_body().into_string(),
            is_default: true,
            updated_at: None,
            updated_by_name: None,
        }
    }

    fn from_row(row: Option<HandoutRow>) -> Self {
        match row {
            Some(r) => Self {
                title: r.title,
                body: r.body,
                is_default: false,
                updated_at: Some(r.updated_at),
                updated_by_name: Some(r.updated_by_name),
            },
            None => Self::default_text(),
        }
    }

    /// The text's paragraphs and lists, for printing.
    pub fn blocks(&self) -> Vec<Block> {
        portal_core::handout::blocks(&self.body)
    }
}

/// Which logo the sheet shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SheetLogo {
    Company,
    Location(String),
}

/// A location as the sheet prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SheetLocation {
    pub id: String,
    pub name: String,
    pub address_line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
}

impl From<Location> for SheetLocation {
    fn from(l: Location) -> Self {
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

/// Everything the printed sheet shows but the portal address (the HTTP layer's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandoutSheet {
    pub text: HandoutText,
    /// The company's name, or the chosen location's when the company brands by location.
    pub clinic_name: String,
    /// The same choice, falling back to the other when the chosen one has no number.
    pub phone: Option<String>,
    pub logo: Option<SheetLogo>,
    pub brand_by_location: bool,
    /// The location the sheet was made for, if one was chosen.
    pub location_id: Option<String>,
    /// The addresses printed: the chosen location's, or every location's.
    pub locations: Vec<SheetLocation>,
}

fn require_portal_settings(actor: &Actor) -> Result<(), AccessError> {
    match &actor.principal {
        Principal::System => Ok(()),
        Principal::Staff(s) => s.require_portal_settings(),
    }
}

/// The handout's text (any staff user: it is what patients are handed).
pub async fn handout_text(db: &Db, _actor: &Actor) -> Result<HandoutText, PracticeError> {
    let mut conn = db.read().await?;
    Ok(HandoutText::from_row(store::handout(&mut conn).await?))
}

/// The sheet for the company, or for `location_id` (any staff user: locations and branding are
/// visible to every staff member, and the sheet holds no PHI). A location id that names no
/// location is a field error on `location_id`.
pub async fn sheet(db: &Db, actor: &Actor, location_id: Option<&str>) -> Result<HandoutSheet, PracticeError> {
    let not_a_location = || PracticeError::Invalid(FieldErrors::single("location_id", "does not name a location"));
    let location_id = match location_id.map(str::trim).filter(|l| !l.is_empty()) {
        Some(raw) => Some(LocationId::parse(raw).map_err(|_| not_a_location())?),
        None => None,
    };
    let text = handout_text(db, actor).await?;
    let mut conn = db.read().await?;
    let company = org::organization(&mut conn).await?;
    let chosen = match &location_id {
        Some(id) => match org::find_location(&mut conn, id.as_str()).await {
            Ok(l) => Some(l),
            Err(StoreError::NotFound) => return Err(not_a_location()),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let branded = chosen.as_ref().filter(|_| company.brand_by_location);
    let clinic_name = branded.map_or_else(|| company.name.clone(), |l| l.name.clone());
    let phone = match branded {
        Some(l) => l.phone.clone().or_else(|| company.phone.clone()),
        None => company.phone.clone().or_else(|| chosen.as_ref().and_then(|l| l.phone.clone())),
    };
    let logo = match branded {
        Some(l) if l.logo_content_type.is_some() => Some(SheetLogo::Location(l.id.clone())),
        _ if company.logo_content_type.is_some() => Some(SheetLogo::Company),
        _ => None,
    };
    let locations = match chosen {
        Some(l) => vec![l.into()],
        None => org::list_locations(&mut conn).await?.into_iter().map(Into::into).collect(),
    };
    Ok(HandoutSheet {
        text,
        clinic_name,
        phone,
        logo,
        brand_by_location: company.brand_by_location,
        location_id: location_id.map(LocationId::into_string),
        locations,
    })
}

/// A new title and text for the handout.
#[derive(Debug, Clone, Default)]
pub struct HandoutInput {
    pub title: String,
    pub body: String,
}

/// What a change did: the text now, and whether anything was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoutChange {
    pub handout: HandoutText,
    pub changed: bool,
}

/// Replaces the handout's title and text (Manage Portal Settings). The text is normalised (see
/// `portal_core::handout`); a change to the same text records nothing. Audited as a setting
/// change with the names of the changed fields and the lengths, not the text.
pub async fn update_handout(db: &Db, actor: &Actor, input: HandoutInput) -> Result<HandoutChange, PracticeError> {
    require_portal_settings(actor)?;
    let mut errors = FieldErrors::new();
    let title = errors.check("title", HandoutTitle::parse(&input.title));
    let body = errors.check("body", HandoutBody::parse(&input.body));
    let (Some(title), Some(body)) = (title, body) else { return Err(errors.into()) };
    let actor = actor.clone();
    let changed = db
        .write(move |tx| {
            Box::pin(async move {
                // Serialises writers of instance settings on PostgreSQL (SQLite's immediate
                // transaction already does), so that "what changed" is read from the last write.
                org::organization_for_update(tx).await?;
                let before = HandoutText::from_row(store::handout(tx).await?);
                let mut fields = Vec::new();
                if before.title != title.as_str() {
                    fields.push("title");
                }
                if before.body != body.as_str() {
                    fields.push("body");
                }
                if fields.is_empty() {
                    return Ok::<_, PracticeError>(false);
                }
                let row = HandoutRow {
                    title: title.as_str().to_owned(),
                    body: body.as_str().to_owned(),
                    updated_by: actor.principal.actor_id().map(str::to_owned),
                    updated_by_name: actor.name().to_owned(),
                    updated_at: now_utc(),
                };
                store::save_handout(tx, &row).await?;
                audit::append(
                    tx,
                    &AuditEntry::by(&actor, AuditAction::SettingChanged).target("setting", HANDOUT_SETTING).detail(
                        json!({
                            "fields": fields,
                            "from_default": before.is_default,
                            "title_chars": title.as_str().chars().count(),
                            "body_chars": body.as_str().chars().count(),
                        }),
                    ),
                )
                .await?;
                Ok(true)
            })
        })
        .await?;
    Ok(HandoutChange { handout: handout_text(db, &Actor::system()).await?, changed })
}

/// Drops the clinic's own text, so that Portal's default is printed again (Manage Portal
/// Settings). Audited; when the default is already in use, records nothing.
pub async fn restore_default_handout(db: &Db, actor: &Actor) -> Result<HandoutChange, PracticeError> {
    require_portal_settings(actor)?;
    let actor = actor.clone();
    let changed = db
        .write(move |tx| {
            Box::pin(async move {
                org::organization_for_update(tx).await?;
                if !store::delete_handout(tx).await? {
                    return Ok::<_, PracticeError>(false);
                }
                audit::append(
                    tx,
                    &AuditEntry::by(&actor, AuditAction::SettingChanged)
                        .target("setting", HANDOUT_SETTING)
                        .detail(json!({ "restored_default": true })),
                )
                .await?;
                Ok(true)
            })
        })
        .await?;
    Ok(HandoutChange { handout: handout_text(db, &Actor::system()).await?, changed })
}
