//! Fixtures shared by the integration tests of portal-store. Each test binary compiles this
//! module on its own and uses only part of it.
#![allow(dead_code)]

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use portal_core::audit::AuditAction;
use portal_store::audit::AuditEntry;
use portal_store::org::LocationFields;
use portal_store::patients::{self, PatientFields};
use portal_store::staff::NewStaff;
use portal_store::{Backend, Db, DbConn, StoreError, ids, org, staff};
use time::{Date, Month};

/// Runs raw SQL on the writer outside a transaction, around every query function: for
/// tampering and counting.
pub async fn exec(db: &Db, sql: &str) -> Result<(), diesel::result::Error> {
    batch(&mut db.write_conn().await.expect("connection"), sql).await
}

/// Runs raw SQL on `conn`, whichever backend it is.
pub async fn batch(conn: &mut DbConn, sql: &str) -> Result<(), diesel::result::Error> {
    match conn {
        DbConn::Sqlite(c) => c.batch_execute(sql).await,
        DbConn::Pg(c) => c.batch_execute(sql).await,
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT COUNT(*)` of a table, optionally filtered (`sql_where` is trusted test text).
pub async fn count_rows(db: &Db, table: &str, sql_where: &str) -> i64 {
    let sql = if sql_where.is_empty() {
        format!("SELECT COUNT(*) AS n FROM {table}")
    } else {
        format!("SELECT COUNT(*) AS n FROM {table} WHERE {sql_where}")
    };
    let mut conn = db.read().await.expect("connection");
    let rows: Vec<Count> = match &mut conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).await,
        DbConn::Pg(c) => diesel::sql_query(sql).load(&mut **c).await,
    }
    .expect("count query");
    rows[0].n
}

/// The statement that switches off the append-only triggers of `audit_log`, per backend.
pub fn disable_audit_triggers_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change;",
    }
}

pub fn location_fields(name: &str) -> LocationFields {
    LocationFields {
        name: name.to_owned(),
        address_line1: Some("1 Main St".into()),
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        zip: Some("62701".into()),
        phone: None,
        time_zone: "America/Chicago".into(),
    }
}

/// Inserts a location in a write transaction of its own and returns its id.
pub async fn insert_location(db: &Db, name: &str) -> String {
    let id = ids::new_id();
    let (id2, f) = (id.clone(), location_fields(name));
    db.write(move |tx| Box::pin(async move { org::insert_location(tx, &id2, &f).await }))
        .await
        .expect("insert location");
    id
}

/// Inserts an active staff user with no portal permissions and returns the id.
pub async fn insert_staff(db: &Db, email: &str, name: &str) -> String {
    try_insert_staff(db, email, name).await.expect("insert staff")
}

pub async fn try_insert_staff(db: &Db, email: &str, name: &str) -> Result<String, StoreError> {
    let id = ids::new_id();
    let (id2, email, name) = (id.clone(), email.to_owned(), name.to_owned());
    db.write(move |tx| {
        Box::pin(async move {
            staff::insert(
                tx,
                &NewStaff {
                    id: &id2,
                    email: &email,
                    name: &name,
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                    role: "provider",
                    portal: Default::default(),
                },
            )
            .await
        })
    })
    .await?;
    Ok(id)
}

pub fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
}

/// A patient to insert; every field has a plain default.
#[derive(Debug, Clone)]
pub struct PatientBuilder {
    pub fields: PatientFields,
}

/// What [`PatientBuilder::insert`] made.
#[derive(Debug, Clone)]
pub struct Inserted {
    pub id: String,
    pub record_number: String,
}

impl PatientBuilder {
    pub fn new(first: &str, last: &str, location_id: &str) -> Self {
        Self {
            fields: PatientFields {
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                search_name: patients::search_name(first, last),
                date_of_birth: date(1980, 1, 15),
                email: None,
                phone: None,
                address_line1: None,
                city: None,
                state: None,
                zip: None,
                location_id: location_id.to_owned(),
                status: "active".into(),
            },
        }
    }

    pub fn dob(mut self, d: Date) -> Self {
        self.fields.date_of_birth = d;
        self
    }

    pub fn status(mut self, s: &str) -> Self {
        self.fields.status = s.to_owned();
        self
    }

    pub fn email(mut self, e: &str) -> Self {
        self.fields.email = Some(e.to_owned());
        self
    }

    /// Inserts the patient with the next record number, in one write transaction.
    pub async fn insert(self, db: &Db) -> Inserted {
        let id = ids::new_id();
        let id2 = id.clone();
        let f = self.fields;
        let record_number = db
            .write(move |tx| {
                Box::pin(async move {
                    let rn = patients::next_record_number(tx).await?;
                    patients::insert(tx, &id2, &rn, &f).await?;
                    Ok::<_, StoreError>(rn)
                })
            })
            .await
            .expect("insert patient");
        Inserted { id, record_number }
    }
}

/// An audit entry whose detail names `n`, so that rows differ.
pub fn audit_entry(n: usize) -> AuditEntry {
    AuditEntry {
        actor_kind: "staff",
        actor_id: Some(format!("staff-{}", n % 3)),
        actor_name: format!("Staff {}", n % 3),
        action: if n.is_multiple_of(2) { AuditAction::PatientViewed } else { AuditAction::PatientUpdated },
        patient_id: Some(format!("patient-{}", n % 4)),
        target_kind: Some("patient"),
        target_id: Some(format!("patient-{}", n % 4)),
        detail: serde_json::json!({ "n": n, "fields": ["first_name"] }),
        ip: Some("127.0.0.1".into()),
    }
}

/// Appends `count` audit rows, one write transaction each, and returns their sequence numbers
/// (read back from the chain: on PostgreSQL a row gets its number when it is chained, after the
/// commit and before `write` returns).
pub async fn append_audit(db: &Db, count: usize) -> Vec<i64> {
    let mut seqs = Vec::new();
    for n in 0..count {
        let e = audit_entry(n);
        db.write(move |tx| Box::pin(async move { portal_store::audit::append(tx, &e).await }))
            .await
            .expect("append audit row");
        let mut c = db.read().await.expect("read");
        let newest =
            portal_store::audit::list(&mut c, &portal_store::audit::AuditFilter { limit: 1, ..Default::default() })
                .await
                .expect("list");
        assert_eq!(newest.len(), 1, "the row is in the chain when write returns");
        seqs.push(newest[0].seq);
    }
    seqs
}
