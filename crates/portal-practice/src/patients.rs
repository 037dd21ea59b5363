//! Patients (the facesheet, seed 002), their contacts (seed 003) and care teams.
//!
//! Every read and write is limited to the locations the staff member may access, and a patient
//! of another location answers exactly like a missing one. Every view and search is audited.

use portal_core::audit::AuditAction;
use portal_core::ids::LocationId;
use portal_core::patient::{
    AddressLine, ContactKind, DateOfBirth, Email, PatientSearchText, PatientStatus, PersonName, Phone, RecordNumber,
    ShortLabel, ZipCode,
};
use portal_core::staff::{Permission, StaffRole};
use portal_core::{AccessError, Actor, FieldErrors};
use portal_store::audit::{self, AuditEntry};
use portal_store::patients::{
    self as store, CareTeamMember, ContactFields, ContactRow, PatientFields, PatientQuery, PatientRow, PatientSearch,
};
use portal_store::{Db, DbConn, ids::new_id, org, staff as staff_store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::PracticeError;

/// The facesheet fields, as typed in the form or sent in the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PatientInput {
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
    /// Only when creating; made by the system when empty.
    #[serde(default)]
    pub record_number: Option<String>,
    /// An update that changes the e-mail address must say that staff confirmed the new address
    /// with the patient (seed 002's privacy note): whoever reads it can take over portal access.
    #[serde(default)]
    pub confirm_email_change: bool,
}

/// Parses and checks a facesheet; the location must exist and be one the actor may access.
pub async fn parse_patient(
    conn: &mut DbConn,
    actor: &Actor,
    input: &PatientInput,
) -> Result<(PatientFields, Option<RecordNumber>), PracticeError> {
    let today = time::OffsetDateTime::now_utc().date();
    let mut errors = FieldErrors::new();
    let first = errors.check("first_name", PersonName::parse(&input.first_name));
    let last = errors.check("last_name", PersonName::parse(&input.last_name));
    let dob = errors.check("date_of_birth", DateOfBirth::parse(&input.date_of_birth, today));
    let email = errors.check_optional("email", &input.email, Email::parse);
    let phone = errors.check_optional("phone", &input.phone, Phone::parse);
    let address = errors.check_optional("address_line1", &input.address_line1, AddressLine::parse);
    let city = errors.check_optional("city", &input.city, AddressLine::parse);
    let state = errors.check_optional("state", &input.state, AddressLine::parse);
    let zip = errors.check_optional("zip", &input.zip, ZipCode::parse);
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => Some(PatientStatus::Active),
        Some(s) => errors.check("status", PatientStatus::parse(s)),
    };
    let record_number = errors.check_optional("record_number", &input.record_number, RecordNumber::parse);
    let location_ok = match LocationId::parse(&input.location_id) {
        Ok(l) if actor.principal.may_access_location(&l) => org::find_location(conn, l.as_str()).await.is_ok(),
        _ => false,
    };
    if !location_ok {
        errors.push("location_id", "must be one of your locations");
    }
    errors.clone().into_result()?;
    match (first, last, dob, status) {
        (Some(first), Some(last), Some(dob), Some(status)) => Ok((
            PatientFields {
                search_name: store::search_name(first.as_str(), last.as_str()),
                first_name: first.to_string(),
                last_name: last.to_string(),
                date_of_birth: dob.date(),
                email: email.map(|v| v.to_string()),
                phone: phone.map(|v| v.to_string()),
                address_line1: address.map(|v| v.to_string()),
                city: city.map(|v| v.to_string()),
                state: state.map(|v| v.to_string()),
                zip: zip.map(|v| v.to_string()),
                location_id: input.location_id.trim().to_ascii_lowercase(),
                status: status.as_str().to_owned(),
            },
            record_number,
        )),
        _ => Err(errors.into()),
    }
}

/// The next generated record number that no patient holds yet. A number given by hand or
/// brought by an import may already hold the counter's next value; without skipping it, every
/// later registration would fail with a conflict (the counter's step is rolled back with it).
pub(crate) async fn next_free_record_number(tx: &mut DbConn) -> Result<String, PracticeError> {
    loop {
        let rn = store::next_record_number(tx).await?;
        if !store::record_number_exists(tx, &rn).await? {
            return Ok(rn);
        }
    }
}

/// Loads a patient the actor may see, or `NotFound` (also for a foreign location).
async fn visible_patient(conn: &mut DbConn, actor: &Actor, id: &str) -> Result<PatientRow, PracticeError> {
    if portal_core::ids::PatientId::parse(id).is_err() {
        return Err(AccessError::NotFound.into());
    }
    let p = store::find(conn, id).await?;
    if !actor.principal.may_access_location(&LocationId::from_trusted(p.location_id.clone())) {
        return Err(AccessError::NotFound.into());
    }
    Ok(p)
}

pub async fn create(db: &Db, actor: &Actor, input: PatientInput) -> Result<PatientRow, PracticeError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut conn = db.read().await?;
    let (fields, record_number) = parse_patient(&mut conn, actor, &input).await?;
    drop(conn);
    let id = new_id();
    let id2 = id.clone();
    let actor2 = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            let rn = match record_number {
                Some(r) => r.to_string(),
                None => next_free_record_number(tx).await?,
            };
            store::insert(tx, &id2, &rn, &fields).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::PatientCreated).patient(&id2).target("patient", &id2),
            )
            .await?;
            // Seed 002: patients added by staff may have portal access enabled at once.
            crate::portal_access::apply_auto_enable(tx, &actor2, &id2).await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::find(&mut conn, &id).await?)
}

/// Edits the facesheet. The audit row names the fields that changed (never their values);
/// a changed e-mail is flagged, since it can redirect portal access (seed 002 privacy note).
pub async fn update(db: &Db, actor: &Actor, id: &str, input: PatientInput) -> Result<PatientRow, PracticeError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut conn = db.read().await?;
    let before = visible_patient(&mut conn, actor, id).await?;
    let (fields, _) = parse_patient(&mut conn, actor, &input).await?;
    drop(conn);
    let mut changed = Vec::new();
    macro_rules! diff {
        ($($f:ident),*) => { $( if before.$f != fields.$f { changed.push(stringify!($f)); } )* };
    }
    diff!(first_name, last_name, date_of_birth, email, phone, address_line1, city, state, zip, location_id, status);
    if changed.contains(&"email") && fields.email.is_some() && !input.confirm_email_change {
        return Err(FieldErrors::single(
            "confirm_email_change",
            "must be confirmed: check the new e-mail address with the patient before saving it",
        )
        .into());
    }
    let id2 = id.to_owned();
    let actor2 = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            store::update(tx, &id2, &fields).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::PatientUpdated)
                    .patient(&id2)
                    .target("patient", &id2)
                    .detail(json!({ "changed": changed, "email_changed": changed.contains(&"email") })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::find(&mut conn, id).await?)
}

/// Everything the facesheet page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Facesheet {
    pub patient: PatientRow,
    pub location_name: String,
    pub contacts: Vec<ContactRow>,
    pub care_team: Vec<CareTeamMember>,
}

/// Opens a patient's facesheet; the view is audited.
pub async fn facesheet(db: &Db, actor: &Actor, id: &str) -> Result<Facesheet, PracticeError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut conn = db.read().await?;
    let patient = visible_patient(&mut conn, actor, id).await?;
    let location_name = org::find_location(&mut conn, &patient.location_id).await.map(|l| l.name).unwrap_or_default();
    let contacts = store::contacts(&mut conn, id).await?;
    let care_team = store::care_team(&mut conn, id).await?;
    drop(conn);
    db.audit_read(AuditEntry::by(actor, AuditAction::PatientViewed).patient(id).target("patient", id)).await?;
    Ok(Facesheet { patient, location_name, contacts, care_team })
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchInput {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub page: Option<i64>,
    #[serde(default)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub patients: Vec<PatientRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

pub const MAX_PER_PAGE: i64 = 100;

/// Searches the patients of the actor's locations by name, date of birth or record number.
pub async fn search(db: &Db, actor: &Actor, input: &SearchInput) -> Result<SearchPage, PracticeError> {
    actor.principal.require(Permission::ViewPatients)?;
    let mut errors = FieldErrors::new();
    let per_page = input.per_page.unwrap_or(25);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        errors.push("per_page", format!("must be between 1 and {MAX_PER_PAGE}"));
    }
    let page = input.page.unwrap_or(1);
    if !(1..=100_000).contains(&page) {
        errors.push("page", "must be between 1 and 100000");
    }
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => errors.check("status", PatientStatus::parse(s)).map(|s| s.as_str().to_owned()),
    };
    let location = match input.location_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => match LocationId::parse(l) {
            Ok(l) => Some(l.into_string()),
            Err(_) => {
                errors.push("location_id", "is not a location id");
                None
            }
        },
    };
    errors.into_result()?;
    let text = PatientSearchText::interpret(input.q.as_deref().unwrap_or(""));
    let kind = match &text {
        PatientSearchText::Everyone => "all",
        PatientSearchText::DateOfBirth(_) => "date_of_birth",
        PatientSearchText::RecordNumber(_) => "record_number",
        PatientSearchText::NameWords(_) => "name",
    };
    let query = match text {
        PatientSearchText::Everyone => PatientQuery::All,
        PatientSearchText::DateOfBirth(d) => PatientQuery::DateOfBirth(d),
        PatientSearchText::RecordNumber(r) => PatientQuery::RecordNumber(r),
        PatientSearchText::NameWords(w) => PatientQuery::Name(w),
    };
    let locations = actor.principal.location_scope().map(|ls| ls.iter().map(|l| l.to_string()).collect());
    let search = PatientSearch { query, locations, location, status, offset: (page - 1) * per_page, limit: per_page };
    let mut conn = db.read().await?;
    let (patients, total) = store::search(&mut conn, &search).await?;
    drop(conn);
    let shown = patients.len();
    db.audit_read(
        AuditEntry::by(actor, AuditAction::PatientSearched)
            .detail(json!({ "by": kind, "results": shown, "total": total })),
    )
    .await?;
    Ok(SearchPage { patients, total, page, per_page })
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ContactInput {
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

fn parse_contact(input: &ContactInput) -> Result<ContactFields, FieldErrors> {
    let mut errors = FieldErrors::new();
    let kind = errors.check("kind", ContactKind::parse(&input.kind));
    let first = errors.check("first_name", PersonName::parse(&input.first_name));
    let last = errors.check("last_name", PersonName::parse(&input.last_name));
    let relation = errors.check_optional("relation", &input.relation, ShortLabel::parse);
    let email = errors.check_optional("email", &input.email, Email::parse);
    let phone = errors.check_optional("phone", &input.phone, Phone::parse);
    errors.clone().into_result()?;
    match (kind, first, last) {
        (Some(kind), Some(first), Some(last)) => Ok(ContactFields {
            kind: kind.as_str().to_owned(),
            first_name: first.to_string(),
            last_name: last.to_string(),
            relation: relation.map(|v| v.to_string()),
            email: email.map(|v| v.to_string()),
            phone: phone.map(|v| v.to_string()),
        }),
        _ => Err(errors),
    }
}

async fn editable_patient(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    needs: Permission,
) -> Result<PatientRow, PracticeError> {
    actor.principal.require(needs)?;
    let mut conn = db.read().await?;
    visible_patient(&mut conn, actor, patient_id).await
}

pub async fn add_contact(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    input: ContactInput,
) -> Result<ContactRow, PracticeError> {
    editable_patient(db, actor, patient_id, Permission::EditPatients).await?;
    let fields = parse_contact(&input)?;
    let id = new_id();
    let (id2, pid, actor2) = (id.clone(), patient_id.to_owned(), actor.clone());
    db.write(move |tx| {
        Box::pin(async move {
            store::insert_contact(tx, &id2, &pid, &fields).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::ContactCreated)
                    .patient(&pid)
                    .target("contact", &id2)
                    .detail(json!({ "kind": fields.kind })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::find_contact(&mut conn, patient_id, &id).await?)
}

pub async fn update_contact(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    contact_id: &str,
    input: ContactInput,
) -> Result<ContactRow, PracticeError> {
    editable_patient(db, actor, patient_id, Permission::EditPatients).await?;
    let fields = parse_contact(&input)?;
    let (cid, pid, actor2) = (contact_id.to_owned(), patient_id.to_owned(), actor.clone());
    db.write(move |tx| {
        Box::pin(async move {
            store::update_contact(tx, &pid, &cid, &fields).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::ContactUpdated).patient(&pid).target("contact", &cid),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::find_contact(&mut conn, patient_id, contact_id).await?)
}

pub async fn remove_contact(db: &Db, actor: &Actor, patient_id: &str, contact_id: &str) -> Result<(), PracticeError> {
    editable_patient(db, actor, patient_id, Permission::EditPatients).await?;
    let (cid, pid, actor2) = (contact_id.to_owned(), patient_id.to_owned(), actor.clone());
    db.write(move |tx| {
        Box::pin(async move {
            store::delete_contact(tx, &pid, &cid).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::ContactRemoved).patient(&pid).target("contact", &cid),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await
}

/// Adds a staff member to the care team (or changes their team role). The member must be an
/// active staff user who may see this patient's location.
pub async fn add_care_team_member(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    staff_id: &str,
    team_role: &str,
) -> Result<Vec<CareTeamMember>, PracticeError> {
    let patient = editable_patient(db, actor, patient_id, Permission::ManageCareTeams).await?;
    let mut errors = FieldErrors::new();
    let role_label = errors.check("team_role", ShortLabel::parse(team_role));
    let mut conn = db.read().await?;
    let member = match portal_core::ids::StaffId::parse(staff_id) {
        Ok(id) => staff_store::find(&mut conn, id.as_str()).await.ok(),
        Err(_) => None,
    };
    match &member {
        None => errors.push("staff_id", "is not a staff member"),
        Some(m) if !m.active => errors.push("staff_id", "is not an active staff member"),
        Some(m) => {
            let all = StaffRole::parse(&m.role).is_ok_and(|r| r.has(Permission::AllLocations));
            let locs = staff_store::locations_of(&mut conn, &m.id).await?;
            if !all && !locs.contains(&patient.location_id) {
                errors.push("staff_id", "cannot access this patient's location");
            }
        }
    }
    drop(conn);
    errors.clone().into_result()?;
    let (Some(role_label), Some(member)) = (role_label, member) else { return Err(errors.into()) };
    let (pid, sid, actor2) = (patient_id.to_owned(), member.id.clone(), actor.clone());
    db.write(move |tx| {
        Box::pin(async move {
            store::upsert_care_team_member(tx, &pid, &sid, role_label.as_str()).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::CareTeamMemberAdded)
                    .patient(&pid)
                    .target("staff", &sid)
                    .detail(json!({ "team_role": role_label.as_str() })),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::care_team(&mut conn, patient_id).await?)
}

pub async fn remove_care_team_member(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
    staff_id: &str,
) -> Result<Vec<CareTeamMember>, PracticeError> {
    editable_patient(db, actor, patient_id, Permission::ManageCareTeams).await?;
    let (pid, sid, actor2) = (patient_id.to_owned(), staff_id.to_owned(), actor.clone());
    db.write(move |tx| {
        Box::pin(async move {
            store::remove_care_team_member(tx, &pid, &sid).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor2, AuditAction::CareTeamMemberRemoved).patient(&pid).target("staff", &sid),
            )
            .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    Ok(store::care_team(&mut conn, patient_id).await?)
}
