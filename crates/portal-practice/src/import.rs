//! `portal import patients FILE.csv`: a clinic brings its roster. Every row is checked first;
//! if any row is wrong, nothing is imported and the report lists each problem by row and
//! column. Otherwise all rows are written in one transaction.

use std::collections::{HashMap, HashSet};

use portal_core::audit::AuditAction;
use portal_core::staff::Permission;
use portal_core::{Actor, FieldError};
use portal_store::audit::{self, AuditEntry};
use portal_store::patients::{self as store, PatientFields};
use portal_store::{Db, ids::new_id, org};
use serde::Serialize;
use serde_json::json;

use crate::PracticeError;
use crate::patients::{PatientInput, next_free_record_number, parse_patient};

/// The columns a roster file may have. `location` takes a location's name or id.
pub const COLUMNS: &[&str] = &[
    "record_number",
    "first_name",
    "last_name",
    "date_of_birth",
    "email",
    "phone",
    "address_line1",
    "city",
    "state",
    "zip",
    "location",
    "status",
];
const REQUIRED: &[&str] = &["first_name", "last_name", "date_of_birth", "location"];

/// A problem in one row (1 is the first data row; the header is row 0).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub field: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub errors: Vec<RowError>,
}

pub const MAX_ROWS: usize = 100_000;

pub async fn import_patients_csv(db: &Db, actor: &Actor, data: &[u8]) -> Result<ImportReport, PracticeError> {
    actor.principal.require(Permission::EditPatients)?;
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(data);
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_lowercase()).collect(),
        Err(e) => {
            errors.push(RowError { row: 0, field: "header".into(), detail: format!("cannot read the header: {e}") });
            return Ok(ImportReport { imported: 0, errors });
        }
    };
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            errors.push(RowError {
                row: 0,
                field: h.clone(),
                detail: format!("unknown column; expected some of: {}", COLUMNS.join(", ")),
            });
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            errors.push(RowError { row: 0, field: (*r).into(), detail: "required column is missing".into() });
        }
    }
    if !errors.is_empty() {
        return Ok(ImportReport { imported: 0, errors });
    }

    let mut conn = db.read().await?;
    let locations = org::list_locations(&mut conn).await?;
    let by_name: HashMap<String, String> = locations.iter().map(|l| (l.name.to_lowercase(), l.id.clone())).collect();
    let ids: HashSet<&str> = locations.iter().map(|l| l.id.as_str()).collect();
    let mut rows: Vec<(PatientFields, Option<String>)> = Vec::new();
    let mut seen_numbers = HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        if row > MAX_ROWS {
            errors.push(RowError {
                row,
                field: "file".into(),
                detail: format!("more than {MAX_ROWS} rows; split the file"),
            });
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError { row, field: "row".into(), detail: format!("cannot be read: {e}") });
                continue;
            }
        };
        let get = |name: &str| headers.iter().position(|h| h == name).and_then(|i| record.get(i)).map(str::to_owned);
        let location_raw = get("location").unwrap_or_default();
        let location_id = by_name
            .get(&location_raw.to_lowercase())
            .cloned()
            .or_else(|| ids.contains(location_raw.to_lowercase().as_str()).then(|| location_raw.to_lowercase()));
        let Some(location_id) = location_id else {
            errors.push(RowError {
                row,
                field: "location".into(),
                detail: format!("no location is named `{location_raw}`"),
            });
            continue;
        };
        let input = PatientInput {
            first_name: get("first_name").unwrap_or_default(),
            last_name: get("last_name").unwrap_or_default(),
            date_of_birth: get("date_of_birth").unwrap_or_default(),
            email: get("email"),
            phone: get("phone"),
            address_line1: get("address_line1"),
            city: get("city"),
            state: get("state"),
            zip: get("zip"),
            location_id,
            status: get("status"),
            record_number: get("record_number"),
            confirm_email_change: false,
        };
        match parse_patient(&mut conn, actor, &input).await {
            Ok((fields, number)) => {
                let number = number.map(|n| n.to_string());
                if let Some(n) = &number {
                    if !seen_numbers.insert(n.clone()) {
                        errors.push(RowError {
                            row,
                            field: "record_number".into(),
                            detail: format!("{n} appears twice in the file"),
                        });
                        continue;
                    }
                    if store::record_number_exists(&mut conn, n).await? {
                        errors.push(RowError {
                            row,
                            field: "record_number".into(),
                            detail: format!("{n} belongs to an existing patient"),
                        });
                        continue;
                    }
                }
                rows.push((fields, number));
            }
            Err(PracticeError::Invalid(fe)) => {
                for FieldError { field, detail } in fe.0 {
                    let field = if field == "location_id" { "location".to_owned() } else { field };
                    errors.push(RowError { row, field, detail });
                }
            }
            Err(other) => return Err(other),
        }
    }
    drop(conn);
    if !errors.is_empty() {
        return Ok(ImportReport { imported: 0, errors });
    }
    let count = rows.len();
    // Rows that bring their own number go in first, so that a generated number can step
    // around them instead of taking one a later row of the same file holds.
    rows.sort_by_key(|(_, number)| number.is_none());
    let actor2 = actor.clone();
    db.write(move |tx| {
        Box::pin(async move {
            for (fields, number) in rows {
                let id = new_id();
                let number = match number {
                    Some(n) => n,
                    None => next_free_record_number(tx).await?,
                };
                store::insert(tx, &id, &number, &fields).await?;
                audit::append(
                    tx,
                    &AuditEntry::by(&actor2, AuditAction::PatientCreated)
                        .patient(&id)
                        .target("patient", &id)
                        .detail(json!({ "via": "import" })),
                )
                .await?;
                crate::portal_access::apply_auto_enable(tx, &actor2, &id).await?;
            }
            audit::append(tx, &AuditEntry::by(&actor2, AuditAction::PatientsImported).detail(json!({ "rows": count })))
                .await?;
            Ok::<_, PracticeError>(())
        })
    })
    .await?;
    Ok(ImportReport { imported: count, errors: vec![] })
}
