//! Benchmark data for secure messaging (issue 4, "Speed"; run by `portal bench-seed messaging`
//! for `cargo xtask bench`): a clinic with two locations, `staff` clinicians who may all send
//! portal messages, `patients` patients who each hold an active portal account (password set)
//! with a "self" grant covering messages, and `messages` portal messages between them; and
//! `requests` portal requests (issue 5's queue benchmark; see [`load_requests`]).
//!
//! The rows are generated inside the database by `INSERT ... SELECT` over a table of numbers
//! (filled by `generate_series` on PostgreSQL, a recursive CTE on SQLite), one statement per
//! table, in one transaction: a million messages sent one by one from Rust would cost a million
//! round trips, and on SQLite a million trips through the blocking pool. Everything else is
//! real: UUID ids of the shape `portal_core::ids` parses, one argon2 hash (made once by the
//! caller) shared by every account, participants with unread counts and archive flags, messages
//! with an idempotency key each (the pages always send one) inserted in the order of their
//! times, and full-text search as the schema defines it (generated `tsvector` columns on
//! PostgreSQL; on SQLite the rows the FTS5 trigger would write, written in one statement).
//!
//! Under a minute for a million messages (the goal) takes two bulk-load measures, both
//! inside the transaction and leaving the schema exactly as the migrations made it: secondary
//! indexes of the three big tables (and on PostgreSQL their foreign keys) are dropped and built
//! or checked again at the end from the catalog's own definitions ([`drop_secondary_indexes`],
//! [`drop_foreign_keys`]), and SQLite's message search index is filled by one statement instead
//! of its per-row triggers ([`index_conversations_for_search`]).
//!
//! Shape: conversations of 3 to 7 messages (5 on average) between staff member `n % staff` and
//! a patient picked by hash, started a year ago to a few days ago, so that every staff member
//! has `messages / 5 / staff` conversations (1,000 with the defaults); plus [`THREADS`]
//! conversations of exactly [`THREAD_LEN`] messages, all of staff member 0, for "open a
//! thread". Message bodies are two or three sentences drawn from [`TEMPLATES`], whose slot words
//! give a keyword search ([`SEARCH_WORDS`]) a realistic share of the messages to match.
//! Contents are deterministic (a multiplicative hash of row numbers); only ids are random.

use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use portal_core::Actor;
use portal_core::audit::AuditAction;
use portal_core::portal_accounts::GrantScopes;
use serde::Serialize;

use crate::db::{Backend, DbConn, on_backend};
use crate::org::{self, CompanyUpdate, LocationFields};
use crate::{Db, StoreError, audit, ids, patients, staff};

/// Conversations of exactly [`THREAD_LEN`] messages (when there are messages enough).
pub const THREADS: u32 = 20;
pub const THREAD_LEN: u32 = 50;
/// Words the bench searches for, from common to rare in the generated bodies (measured with a
/// million messages: in 8.0 %, 4.5 %, 4.1 % and 2.3 % of them; see [`TEMPLATES`]).
pub const SEARCH_WORDS: [&str; 4] = ["refill", "thyroid", "metformin", "dizzy"];
/// The e-mail address of staff member `n` (the bench signs in as number 0).
pub fn staff_email(n: u32) -> String {
    format!("staff{n}@bench.example")
}

/// What to generate. `password_hash` (argon2id PHC string) is set on every staff member and
/// portal account: hashing 10,200 passwords would cost minutes of CPU and prove nothing.
#[derive(Debug, Clone)]
pub struct MessagingSeed {
    pub patients: u32,
    pub staff: u32,
    pub messages: u32,
    /// Portal requests (issue 5's queue benchmark): a tenth open, the rest in the archive.
    pub requests: u32,
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Benchmark data goes only into a database without people: never mixed with real records.
    #[error("the database already has staff or patients; bench data is loaded only into an empty database")]
    NotEmpty,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was loaded, and the ids the benchmark's requests need.
#[derive(Debug, Clone, Serialize)]
pub struct MessagingSeedReport {
    pub patients: u64,
    pub staff: u64,
    pub conversations: u64,
    pub messages: u64,
    /// Staff member 0: a clinician with Available for Portal Messages at both locations.
    pub staff_id: String,
    pub staff_email: String,
    /// Staff member 0's conversations of [`THREAD_LEN`] messages.
    pub threads: Vec<String>,
    /// Staff member 0's other conversations, newest first (at most 200): portal conversations
    /// with patients who may receive a reply.
    pub conversations_of_staff: Vec<String>,
    pub search_words: Vec<String>,
    pub requests: u64,
    /// Requests still open (in the active queue).
    pub open_requests: u64,
    /// Words the bench searches the request archive for.
    pub request_search_words: Vec<String>,
    /// Of `insert_seconds`, the requests' share (the messaging load's goal counts the rest).
    pub requests_seconds: f64,
    /// Generating and committing the rows.
    pub insert_seconds: f64,
    /// Collecting planner statistics afterwards (`ANALYZE`; `VACUUM ANALYZE` on PostgreSQL).
    pub analyze_seconds: f64,
}

/// The numbers the statements are built from.
#[derive(Debug, Clone, Copy)]
struct Plan {
    patients: u64,
    staff: u64,
    messages: u64,
    requests: u64,
    /// Ordinary conversations (about five messages each).
    conversations: u64,
    threads: u64,
    /// Messages beyond five per ordinary conversation, added to the last one.
    remainder: u64,
    /// Seconds since the epoch of "a year and some days ago": every time is an offset from it.
    base: i64,
}

/// Ordinary conversations start over this span (a year).
const SPAN: i64 = 365 * 86_400;

impl Plan {
    fn of(s: &MessagingSeed, now: i64) -> Result<Plan, SeedError> {
        let check = |what: &str, v: u32, range: std::ops::RangeInclusive<u32>| {
            if range.contains(&v) {
                Ok(u64::from(v))
            } else {
                Err(SeedError::Invalid(format!(
                    "{what} must be between {} and {} (got {v})",
                    range.start(),
                    range.end()
                )))
            }
        };
        let patients = check("patients", s.patients, 1..=1_000_000)?;
        let staff = check("staff", s.staff, 1..=100_000)?;
        let messages = check("messages", s.messages, 10..=20_000_000)?;
        let requests = check("requests", s.requests, 0..=10_000_000)?;
        // Long threads take at most half of the messages.
        let threads = u64::from(THREADS).min(messages / (2 * u64::from(THREAD_LEN)));
        let rest = messages - threads * u64::from(THREAD_LEN);
        // At least 5 (messages >= 10, threads take at most half): one conversation or more.
        let (conversations, remainder) = (rest / 5, rest % 5);
        // The newest ordinary message is at most ~80 hours after its conversation started.
        let base = now - SPAN - 5 * 86_400;
        Ok(Plan { patients, staff, messages, requests, conversations, threads, remainder, base })
    }

    fn numbers(&self) -> u64 {
        self.patients
            .max(self.staff)
            .max(self.conversations + self.threads)
            .max(u64::from(THREAD_LEN))
            .max(self.requests)
    }
}

/// Loads the data into an empty, migrated database and collects planner statistics.
pub async fn seed_messaging(db: &Db, seed: &MessagingSeed) -> Result<MessagingSeedReport, SeedError> {
    let now = portal_core::time_util::now_utc().assume_utc().unix_timestamp();
    let plan = Plan::of(seed, now)?;
    let hash = seed.password_hash.clone();
    let started = Instant::now();
    let mut report = db.write(move |tx| Box::pin(async move { load(tx, &plan, &hash).await })).await?;
    report.insert_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    analyze(db).await?;
    report.analyze_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The dialect-specific pieces; everything else is SQL both backends read alike (`||`, `%`
/// and `/` on integers, `CASE`, `TRUE`/`FALSE`, `COALESCE`).
struct Dialect(Backend);

impl Dialect {
    /// Integer columns of the staging tables: SQLite's rowid alias needs exactly `INTEGER`;
    /// PostgreSQL's `INTEGER` is 32 bits, too small for the hash arithmetic.
    fn int(&self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "INTEGER",
            Backend::Postgres => "BIGINT",
        }
    }

    /// A fresh version 4 UUID as lowercase text, as `ids::new_id` makes them.
    fn uuid(&self) -> &'static str {
        match self.0 {
            // 8-4-4-4-12 lowercase hex from five random() calls in one printf, with the version
            // nibble 4 and a variant nibble of 8, 9, a or b (a third of the time of building it
            // from hex(randomblob()) pieces, for two million ids).
            Backend::Sqlite => {
                "printf('%08x-%04x-4%03x-%04x-%012x', random() & 0xffffffff, random() & 0xffff, \
                 random() & 0xfff, (random() & 0x3fff) | 0x8000, random() & 0xffffffffffff)"
            }
            Backend::Postgres => "CAST(gen_random_uuid() AS TEXT)",
        }
    }

    /// The timestamp `offset` seconds after the plan's base, in UTC, whole seconds: on SQLite
    /// the text diesel itself writes for a whole-second `PrimitiveDateTime`.
    fn ts(&self, plan: &Plan, offset: &str) -> String {
        let base = plan.base;
        match self.0 {
            Backend::Sqlite => format!("datetime({base} + ({offset}), 'unixepoch')"),
            Backend::Postgres => format!("(to_timestamp({base} + ({offset})) AT TIME ZONE 'UTC')"),
        }
    }

    /// Rows `j` (column `j.n`) numbering the messages of conversation `c`, 0 to `c.len - 1`.
    /// SQLite: the numbers table, its rowid range read once per conversation (`CROSS JOIN` keeps
    /// the conversations as the outer loop). PostgreSQL: a set-returning function per row, where
    /// a range join to the numbers table left the planner guessing a third of the table per row.
    fn positions(&self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "CROSS JOIN bench_num j",
            Backend::Postgres => "CROSS JOIN LATERAL generate_series(0, c.len - 1) AS j(n)",
        }
    }

    /// The date `days` after 1 January 1940.
    fn date(&self, days: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("date('1940-01-01', '+' || ({days}) || ' days')"),
            Backend::Postgres => format!("(DATE '1940-01-01' + CAST({days} AS INTEGER))"),
        }
    }
}

/// A deterministic pseudo-random number in 0..2^24 from an integer SQL expression: Knuth's
/// multiplicative hash modulo 2^32 with an odd multiplier of its own per `salt` (different
/// slopes, so that two salts of the same row do not move in step), keeping the upper 24 bits.
/// Both backends compute it alike in 64-bit integers (the products stay below 2^63).
fn h(expr: &str, salt: u64) -> String {
    let multiplier = (0x9E37_79B1_u64.wrapping_mul(2 * salt + 1) & 0xFFFF_FFFF) | 1;
    format!("(({expr}) * {multiplier} % 4294967296 / 256)")
}

/// Runs one statement with text parameters `$1`, `$2`, ... (written `?1`, `?2` for SQLite).
/// Numbers are written into the SQL text: they come from the plan's integers only.
async fn exec(conn: &mut DbConn, sql: &str, texts: &[String]) -> Result<usize, StoreError> {
    Ok(on_backend!(
        conn,
        sqlite | c | {
            let mut q = diesel::sql_query(sql.replace('$', "?")).into_boxed::<diesel::sqlite::Sqlite>();
            for t in texts {
                q = q.bind::<Text, _>(t.clone());
            }
            q.execute(c).await
        },
        pg | c | {
            let mut q = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
            for t in texts {
                q = q.bind::<Text, _>(t.clone());
            }
            q.execute(c).await
        }
    )?)
}

async fn batch(conn: &mut DbConn, sql: &str) -> Result<(), StoreError> {
    Ok(on_backend!(conn, |c| c.batch_execute(sql).await)?)
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

async fn ids_of(conn: &mut DbConn, sql: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<IdRow> = on_backend!(conn, |c| diesel::sql_query(sql).load(c).await)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Runs a step and logs how long it took (the load must stay under a minute: these lines say
/// where the time goes).
async fn step(conn: &mut DbConn, what: &str, sql: &str, texts: &[String]) -> Result<usize, StoreError> {
    tracing::debug!(step = what, sql, "bench seed statement");
    let started = Instant::now();
    let rows = exec(conn, sql, texts).await?;
    log_step(what, rows, started.elapsed());
    Ok(rows)
}

fn log_step(what: &str, rows: usize, took: Duration) {
    tracing::info!(step = what, rows, ms = took.as_millis() as u64, "bench seed");
}

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Kevin",
    "Carmen",
    "Brian",
    "Amanda",
    "Wei",
    "Aisha",
    "Mohammed",
    "Luis",
    "Hiroshi",
    "Olivia",
    "Noah",
    "Emma",
    "Liam",
    "Sophia",
    "Mateo",
    "Ava",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Amara",
    "Priya",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Chen",
    "Patel",
    "Okafor",
    "Kowalski",
    "Tanaka",
];
const SUBJECTS: &[&str] = &[
    "Prescription refill",
    "Lab results",
    "Appointment request",
    "Billing question",
    "Question about my medication",
    "Follow-up after my visit",
    "Referral",
    "Test results",
    "Insurance",
    "Vaccines",
    "New symptoms",
    "Forms for school",
];

/// Sentences of message bodies. Slots: `{med}`, `{med2}`, `{symptom}`, `{test}`, `{part}`,
/// `{day}`, `{time}`. With 30 templates and 2.33 sentences a message, a word that one template
/// holds is in about 8 % of the messages ("refill"); a slot word is rarer ("metformin", one of
/// 16 medicines in 9 slots: 4 %; "dizzy", one of 8 symptoms in 3: 2 %).
pub const TEMPLATES: &[&str] = &[
    "Could you please refill my {med} prescription?",
    "I have been feeling {symptom} since {day}.",
    "My {test} results came back and I have a question about them.",
    "Is it safe to take {med} together with {med2}?",
    "The pharmacy says they have not received the order for {med}.",
    "I would like to move my appointment to {day} {time}.",
    "Thank you, that answers my question.",
    "Please take {med} twice a day with food for the next two weeks.",
    "Your {test} looks normal and no changes are needed.",
    "We sent the prescription to your pharmacy this morning.",
    "Can you call me back about the pain in my {part}?",
    "The swelling in my {part} is better than last week.",
    "Please schedule a follow-up visit in three months.",
    "I was charged twice for my last visit, can someone check with my insurance?",
    "We received your new insurance card and updated your file.",
    "Remember to fast for twelve hours before the {test}.",
    "I still feel {symptom} in the morning after taking {med}.",
    "Your blood pressure readings look good, keep taking {med}.",
    "Do I need a referral to see the specialist about my {part}?",
    "The lab is open on {day} from seven until noon.",
    "I lost my {med} while travelling, can I get a replacement?",
    "Please bring a list of your current medications to the visit.",
    "We will review the {test} at your next appointment.",
    "My son has a fever and a rash on his {part}.",
    "Call the office right away if you feel {symptom} or short of breath.",
    "I forgot to ask about the vaccine schedule during the visit.",
    "The dose of {med} was lowered, please start the new dose tomorrow.",
    "Could I get a copy of my {test} for my records?",
    "Is the clinic open on {day} {time}?",
    "Thanks for the quick reply, have a good {day}.",
];
const MEDS: &[&str] = &[
    "metformin",
    "lisinopril",
    "atorvastatin",
    "amoxicillin",
    "levothyroxine",
    "amlodipine",
    "omeprazole",
    "albuterol",
    "sertraline",
    "gabapentin",
    "ibuprofen",
    "prednisone",
    "losartan",
    "insulin",
    "warfarin",
    "montelukast",
];
const SYMPTOMS: &[&str] = &["dizzy", "tired", "nauseous", "anxious", "feverish", "lightheaded", "sore", "weak"];
const TESTS: &[&str] =
    &["blood test", "cholesterol panel", "x-ray", "thyroid panel", "urine test", "MRI", "ECG", "A1C test"];
const PARTS: &[&str] = &["knee", "back", "shoulder", "ankle", "wrist", "neck", "hip", "foot", "elbow", "chest"];
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const TIMES: &[&str] = &["morning", "afternoon", "at nine", "at noon", "after work"];

/// Distinct sentences made from the templates: enough that bodies vary, few enough that the
/// vocabulary stays that of a clinic's inbox.
const SENTENCES: usize = 512;

/// The sentences, the same at every run (a small linear congruential generator picks the slot
/// words).
fn sentences() -> Vec<String> {
    let mut state: u64 = 2026;
    let mut pick = |list: &[&'static str]| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        list[((state >> 33) % list.len() as u64) as usize]
    };
    (0..SENTENCES)
        .map(|i| {
            let template = TEMPLATES[i % TEMPLATES.len()];
            let med = pick(MEDS);
            let mut med2 = pick(MEDS);
            if med2 == med {
                med2 = MEDS[(MEDS.iter().position(|m| *m == med).unwrap_or(0) + 1) % MEDS.len()];
            }
            template
                .replace("{med}", med)
                .replace("{med2}", med2)
                .replace("{symptom}", pick(SYMPTOMS))
                .replace("{test}", pick(TESTS))
                .replace("{part}", pick(PARTS))
                .replace("{day}", pick(DAYS))
                .replace("{time}", pick(TIMES))
        })
        .collect()
}

/// Vocabulary lists of the staging table `bench_vocab`.
const FIRST: u32 = 0;
const LAST: u32 = 1;
const SUBJECT: u32 = 2;
const SENTENCE: u32 = 3;
const MEDICATION: u32 = 4;

/// Medications of the generated refill requests.
const MEDICATIONS: &[&str] = &[
    "Lisinopril 10 mg",
    "Metformin 500 mg",
    "Atorvastatin 20 mg",
    "Levothyroxine 50 mcg",
    "Amlodipine 5 mg",
    "Sertraline 50 mg",
    "Omeprazole 20 mg",
    "Albuterol inhaler",
    "Losartan 50 mg",
    "Gabapentin 300 mg",
];

/// Words the bench searches the request archive for: a medication (in about 2 % of the
/// requests), a type's name (20 %), a common last name.
pub const REQUEST_SEARCH_WORDS: [&str; 3] = ["lisinopril", "billing", "garcia"];

async fn load(tx: &mut DbConn, plan: &Plan, password_hash: &str) -> Result<MessagingSeedReport, SeedError> {
    if staff::count(tx).await? > 0 || patients::count(tx).await? > 0 {
        return Err(SeedError::NotEmpty);
    }
    let d = Dialect(tx.backend());
    if d.0 == Backend::Sqlite {
        // A page cache that holds the indexes being filled (random UUID keys touch pages all
        // over them); SQLite's default of 2 MB made the message insert several times slower.
        batch(tx, "PRAGMA cache_size = -1048576").await?;
    } else {
        // Room for the sort of a million rows and the GIN pending list, per transaction only.
        batch(tx, "SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '512MB'").await?;
    }

    org::update_company(tx, &CompanyUpdate { name: "Bench Family Health", phone: None, brand_by_location: false })
        .await?;
    org::set_use_portal(tx, true).await?;
    let locations = [ids::new_id(), ids::new_id()];
    for (id, name) in locations.iter().zip(["Bench Downtown", "Bench North"]) {
        let fields = LocationFields {
            name: name.to_owned(),
            address_line1: Some("1 Main St".into()),
            city: Some("Cambridge".into()),
            state: Some("MA".into()),
            zip: Some("02139".into()),
            phone: None,
            time_zone: "America/New_York".into(),
        };
        org::insert_location(tx, id, &fields).await?;
    }

    let int = d.int();
    batch(
        tx,
        &format!(
            "CREATE TEMP TABLE bench_num (n {int} PRIMARY KEY);
             CREATE TEMP TABLE bench_vocab (list {int} NOT NULL, i {int} NOT NULL, w TEXT NOT NULL, PRIMARY KEY (list, i));
             CREATE TEMP TABLE bench_staff (n {int} PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL);
             CREATE TEMP TABLE bench_patients (n {int} PRIMARY KEY, id TEXT NOT NULL, account_id TEXT NOT NULL,
                 first_name TEXT NOT NULL, last_name TEXT NOT NULL);
             CREATE TEMP TABLE bench_conv (n {int} PRIMARY KEY, id TEXT NOT NULL, staff_n {int} NOT NULL,
                 patient_n {int} NOT NULL, len {int} NOT NULL, staff_starts {int} NOT NULL, start_at {int} NOT NULL,
                 gap {int} NOT NULL, subject_i {int}, unread {int} NOT NULL);
             CREATE TEMP TABLE bench_msg (o {int} PRIMARY KEY, cn {int} NOT NULL, jn {int} NOT NULL);"
        ),
    )
    .await?;

    // Vocabulary: one statement, the words as parameters.
    let sentences = sentences();
    let lists: [(u32, Vec<String>); 5] = [
        (FIRST, FIRST_NAMES.iter().map(|s| (*s).to_owned()).collect()),
        (LAST, LAST_NAMES.iter().map(|s| (*s).to_owned()).collect()),
        (SUBJECT, SUBJECTS.iter().map(|s| (*s).to_owned()).collect()),
        (SENTENCE, sentences),
        (MEDICATION, MEDICATIONS.iter().map(|s| (*s).to_owned()).collect()),
    ];
    let mut values = Vec::new();
    let mut words = Vec::new();
    for (list, items) in &lists {
        for (i, w) in items.iter().enumerate() {
            words.push(w.clone());
            values.push(format!("({list}, {i}, ${})", words.len()));
        }
    }
    step(tx, "vocabulary", &format!("INSERT INTO bench_vocab (list, i, w) VALUES {}", values.join(", ")), &words)
        .await?;
    let (n_first, n_last, n_subjects, n_sentences) =
        (FIRST_NAMES.len(), LAST_NAMES.len(), SUBJECTS.len(), lists[3].1.len());

    let numbers = plan.numbers();
    let fill = match d.0 {
        Backend::Sqlite => format!(
            "INSERT INTO bench_num (n) WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < {numbers}) \
             SELECT n FROM s"
        ),
        Backend::Postgres => format!("INSERT INTO bench_num (n) SELECT generate_series(0, {numbers} - 1)"),
    };
    step(tx, "numbers", &fill, &[]).await?;
    if d.0 == Backend::Postgres {
        // Temporary tables get no statistics from autovacuum; the joins below need them.
        batch(tx, "ANALYZE bench_num; ANALYZE bench_vocab").await?;
    }

    let (uuid, s) = (d.uuid(), plan.staff);
    step(
        tx,
        "staff (staging)",
        &format!(
            "INSERT INTO bench_staff (n, id, name)
             SELECT g.n, {uuid}, CASE WHEN g.n % 5 < 3 THEN 'Dr. ' ELSE '' END || f.w || ' ' || l.w
             FROM bench_num g
             JOIN bench_vocab f ON f.list = {FIRST} AND f.i = {hf} % {n_first}
             JOIN bench_vocab l ON l.list = {LAST} AND l.i = {hl} % {n_last}
             WHERE g.n < {s}",
            hf = h("g.n", 1),
            hl = h("g.n", 2)
        ),
        &[],
    )
    .await?;
    let created = d.ts(plan, "-2592000");
    insert_clinicians(tx, "name", &created, password_hash).await?;
    // Every clinician works at both locations, so every pair of staff member and patient may
    // exchange portal messages.
    step(
        tx,
        "staff_locations",
        "INSERT INTO staff_locations (staff_id, location_id)
         SELECT id, $1 FROM bench_staff UNION ALL SELECT id, $2 FROM bench_staff",
        &locations,
    )
    .await?;

    let p = plan.patients;
    step(
        tx,
        "patients (staging)",
        &format!(
            "INSERT INTO bench_patients (n, id, account_id, first_name, last_name)
             SELECT g.n, {uuid}, {uuid}, f.w, l.w
             FROM bench_num g
             JOIN bench_vocab f ON f.list = {FIRST} AND f.i = {hf} % {n_first}
             JOIN bench_vocab l ON l.list = {LAST} AND l.i = {hl} % {n_last}
             WHERE g.n < {p}",
            hf = h("g.n", 3),
            hl = h("g.n", 4)
        ),
        &[],
    )
    .await?;
    if d.0 == Backend::Postgres {
        batch(tx, "ANALYZE bench_staff; ANALYZE bench_patients").await?;
    }
    // Adults born 1940-2005, portal access on, e-mail and ZIP code on file, invited and signed
    // in (the green status).
    let invited = d.ts(plan, "-2588400");
    let signed_in = d.ts(plan, &format!("-2584800 + {} % 86400", h("n", 5)));
    step(
        tx,
        "patients",
        &format!(
            "INSERT INTO patients (id, record_number, first_name, last_name, search_name, date_of_birth, email, phone,
                 address_line1, city, state, zip, location_id, status, created_at, updated_at, portal_access,
                 portal_last_invited_at, portal_last_signed_in_at)
             SELECT id, 'B-' || (100000 + n), first_name, last_name, lower(last_name || ' ' || first_name), {dob},
                 'patient' || n || '@bench.example', '(617) 555-' || (1000 + n % 9000), (1 + n % 400) || ' Main St',
                 'Cambridge', 'MA', '02139', CASE WHEN n % 2 = 0 THEN $1 ELSE $2 END, 'active', {created}, {created},
                 TRUE, {invited}, {signed_in}
             FROM bench_patients ORDER BY n",
            dob = d.date(&format!("{} % 24000", h("n", 6)))
        ),
        &locations,
    )
    .await?;
    step(
        tx,
        "portal_accounts",
        &format!(
            "INSERT INTO portal_accounts (id, username, email, display_name, password_hash, must_change_password, active,
                 created_at, updated_at, registered_at, first_signed_in_at, last_signed_in_at)
             SELECT account_id, 'patient' || n, 'patient' || n || '@bench.example', first_name || ' ' || last_name, $1,
                 FALSE, TRUE, {invited}, {signed_in}, {signed_in}, {signed_in}, {signed_in}
             FROM bench_patients ORDER BY n"
        ),
        &[password_hash.to_owned()],
    )
    .await?;
    let scopes = GrantScopes::all().to_stored();
    step(
        tx,
        "portal_grants",
        &format!(
            "INSERT INTO portal_grants (id, account_id, patient_id, relation, scopes, created_at, updated_at)
             SELECT {uuid}, account_id, id, 'self', $1, {invited}, {invited} FROM bench_patients ORDER BY n"
        ),
        &[scopes],
    )
    .await?;
    assign_clinicians(tx, &created, s).await?;

    // Conversations: ordinary ones in pairs whose lengths add up to ten (5 + d and 5 - d, d
    // from -2 to 2), the remainder on the last one, then the long threads of staff member 0.
    let (c, t, rem) = (plan.conversations, plan.threads, plan.remainder);
    let tl = THREAD_LEN;
    let pair = format!("({} % 5 - 2)", h("g.n / 2", 7));
    step(
        tx,
        "conversations (staging)",
        &format!(
            "INSERT INTO bench_conv (n, id, staff_n, patient_n, len, staff_starts, start_at, gap, subject_i, unread)
             SELECT g.n, {uuid},
                 CASE WHEN g.n < {c} THEN g.n % {s} ELSE 0 END,
                 {hp} % {p},
                 CASE WHEN g.n >= {c} THEN {tl}
                      ELSE (CASE WHEN g.n % 2 = 1 THEN 5 - {pair} WHEN g.n + 1 < {c} THEN 5 + {pair} ELSE 5 END)
                           + (CASE WHEN g.n = {c} - 1 THEN {rem} ELSE 0 END) END,
                 CASE WHEN g.n % 3 = 0 THEN 1 ELSE 0 END,
                 CASE WHEN g.n < {c} THEN g.n * {SPAN} / {c} ELSE {SPAN} - 30 * 86400 + (g.n - {c}) * 3600 END,
                 CASE WHEN g.n < {c} THEN 3600 * (1 + {hg} % 8) ELSE 12 * 3600 END,
                 CASE WHEN {hs} % 10 = 0 THEN NULL ELSE {hs2} % {n_subjects} END,
                 CASE WHEN g.n < {c} AND {hu} % 10 < 2 THEN 1 ELSE 0 END
             FROM bench_num g WHERE g.n < {total}",
            total = c + t,
            hp = h("g.n", 8),
            hg = h("g.n", 9),
            hs = h("g.n", 10),
            hs2 = h("g.n", 11),
            hu = h("g.n", 12),
        ),
        &[],
    )
    .await?;
    if d.0 == Backend::Postgres {
        batch(tx, "ANALYZE bench_conv").await?;
    }
    // The last message's time and sender: message j is the staff member's when
    // (j + staff_starts) is odd.
    let last_at = "(c.start_at + (c.len - 1) * c.gap)";
    let staff_last = "((c.len - 1 + c.staff_starts) % 2 = 1)";
    // The big tables get their secondary indexes (and on PostgreSQL their foreign keys) back at
    // the end, each built or checked in one pass.
    let mut deferred = Vec::new();
    for table in ["conversations", "conversation_participants", "messages"] {
        deferred.extend(drop_secondary_indexes(tx, &d, table).await?);
        if d.0 == Backend::Postgres {
            deferred.extend(drop_foreign_keys(tx, table).await?);
        }
    }
    step(
        tx,
        "conversations",
        &format!(
            "INSERT INTO conversations (id, kind, patient_id, subject, participant_names, started_by_kind, started_by_id,
                 created_at, last_message_at, message_count, participant_list)
             SELECT c.id, 'portal', p.id, sj.w, s.name || ' ' || p.first_name || ' ' || p.last_name,
                 CASE WHEN c.staff_starts = 1 THEN 'staff' ELSE 'portal' END,
                 CASE WHEN c.staff_starts = 1 THEN s.id ELSE p.account_id END,
                 {start}, {last}, c.len,
                 {array}({array}('staff', s.id, s.name), {array}('portal', p.account_id, p.first_name || ' ' || p.last_name)){text}
             FROM bench_conv c
             JOIN bench_staff s ON s.n = c.staff_n
             JOIN bench_patients p ON p.n = c.patient_n
             LEFT JOIN bench_vocab sj ON sj.list = {SUBJECT} AND sj.i = c.subject_i
             ORDER BY c.n",
            start = d.ts(plan, "c.start_at"),
            last = d.ts(plan, last_at),
            // `messaging::People`: the staff member, then the portal user.
            array = if d.0 == Backend::Postgres { "json_build_array" } else { "json_array" },
            text = if d.0 == Backend::Postgres { "::text" } else { "" },
        ),
        &[],
    )
    .await?;
    // Each side: unread (one message) when the other side wrote last and the conversation is
    // among the fifth marked unread; archived (a quarter of the staff's read conversations, a
    // tenth of the portal users') only when read. The long threads are read and active.
    let portal_last = "((c.len - 1 + c.staff_starts) % 2 = 0)";
    // SQLite: each participant row (and each message) rewrites its conversation's search row;
    // for the load they are written once, after the messages (see
    // `index_conversations_for_search`).
    let participant_trigger = match d.0 {
        Backend::Sqlite => Some(drop_trigger(tx, "conversations_fts_participant_insert").await?),
        Backend::Postgres => None,
    };
    for (kind, id, name, sent_last, share, salt) in [
        ("staff", "s.id", "s.name", staff_last, 25, 13),
        ("portal", "p.account_id", "p.first_name || ' ' || p.last_name", portal_last, 10, 14),
    ] {
        let unread = format!("(CASE WHEN c.unread = 1 AND NOT {sent_last} THEN 1 ELSE 0 END)");
        let archived = format!("({unread} = 0 AND c.n < {c} AND {} % 100 < {share})", h("c.n", salt));
        step(
            tx,
            &format!("conversation_participants ({kind})"),
            &format!(
                "INSERT INTO conversation_participants (conversation_id, participant_kind, participant_id, display_name,
                     archived, archived_at, last_message_at, unread_count, last_read_at)
                 SELECT c.id, '{kind}', {id}, {name}, {archived}, CASE WHEN {archived} THEN {last} END, {last},
                     {unread}, CASE WHEN {unread} = 1 THEN {before_last} ELSE {last} END
                 FROM bench_conv c
                 JOIN bench_staff s ON s.n = c.staff_n
                 JOIN bench_patients p ON p.n = c.patient_n
                 ORDER BY c.n",
                last = d.ts(plan, last_at),
                before_last = d.ts(plan, &format!("{last_at} - c.gap")),
            ),
            &[],
        )
        .await?;
    }
    // The messages in the order of their times, as a real inbox fills up: a conversation's
    // messages lie among everyone else's (its rows on pages of their own, as in production),
    // and `seq` follows each thread's order. The order is numbered first in a narrow table, so
    // that the sort moves two numbers a row rather than the finished rows.
    step(
        tx,
        "message order (staging)",
        &format!(
            "INSERT INTO bench_msg (o, cn, jn)
             SELECT row_number() OVER (ORDER BY c.start_at + j.n * c.gap, c.n, j.n), c.n, j.n
             FROM bench_conv c {positions} WHERE j.n < c.len",
            positions = d.positions()
        ),
        &[],
    )
    .await?;
    if d.0 == Backend::Postgres {
        batch(tx, "ANALYZE bench_msg").await?;
    }
    // SQLite: the seq of each message is set (the next free ones, in this order) so that the
    // full-text rows below can find the messages by it.
    let first_seq = match d.0 {
        Backend::Sqlite => Some(next_message_seq(tx).await?),
        Backend::Postgres => None,
    };
    // A third sentence for about a third of them: its index runs over three times the
    // sentences.
    let g = "(c.n * 64 + o.jn)";
    let staff_sends = "((o.jn + c.staff_starts) % 2 = 1)";
    let message_trigger = match d.0 {
        Backend::Sqlite => Some(drop_trigger(tx, "conversations_fts_message_insert").await?),
        Backend::Postgres => None,
    };
    step(
        tx,
        "messages",
        &format!(
            "INSERT INTO messages ({seq_column}id, conversation_id, sender_kind, sender_id, sender_name, body,
                 created_at, idempotency_key)
             SELECT {seq_value}{uuid}, c.id,
                 CASE WHEN {staff_sends} THEN 'staff' ELSE 'portal' END,
                 CASE WHEN {staff_sends} THEN s.id ELSE p.account_id END,
                 CASE WHEN {staff_sends} THEN s.name ELSE p.first_name || ' ' || p.last_name END,
                 a.w || ' ' || b.w || COALESCE(' ' || x.w, ''),
                 {at}, {uuid}
             FROM bench_msg o
             JOIN bench_conv c ON c.n = o.cn
             JOIN bench_staff s ON s.n = c.staff_n
             JOIN bench_patients p ON p.n = c.patient_n
             JOIN bench_vocab a ON a.list = {SENTENCE} AND a.i = {ha} % {n_sentences}
             JOIN bench_vocab b ON b.list = {SENTENCE} AND b.i = {hb} % {n_sentences}
             LEFT JOIN bench_vocab x ON x.list = {SENTENCE} AND x.i = {hx} % {three}
             ORDER BY o.o",
            seq_column = if first_seq.is_some() { "seq, " } else { "" },
            seq_value = first_seq.map(|first| format!("{first} + o.o - 1, ")).unwrap_or_default(),
            at = d.ts(plan, "c.start_at + o.jn * c.gap"),
            ha = h(g, 15),
            hb = h(g, 16),
            hx = h(g, 17),
            three = 3 * n_sentences,
        ),
        &[],
    )
    .await?;
    if let (Some(first), Some(participants), Some(messages)) = (first_seq, participant_trigger, message_trigger) {
        index_conversations_for_search(tx, first, [participants, messages]).await?;
    }
    for restore in deferred {
        step(tx, &restore.name, &restore.sql, &[]).await?;
    }

    let started = Instant::now();
    let open_requests = load_requests(tx, &d, plan, &locations, (n_subjects, n_sentences)).await?;
    let requests_seconds = started.elapsed().as_secs_f64();

    let staff_id = ids_of(tx, "SELECT id FROM bench_staff WHERE n = 0").await?.into_iter().next().unwrap_or_default();
    let threads = ids_of(tx, &format!("SELECT id FROM bench_conv WHERE n >= {c} ORDER BY n")).await?;
    let conversations_of_staff =
        ids_of(tx, &format!("SELECT id FROM bench_conv WHERE n < {c} AND staff_n = 0 ORDER BY n DESC LIMIT 200"))
            .await?;
    batch(
        tx,
        "DROP TABLE bench_num; DROP TABLE bench_vocab; DROP TABLE bench_staff; DROP TABLE bench_patients; \
         DROP TABLE bench_conv; DROP TABLE bench_msg",
    )
    .await?;
    let entry = audit::AuditEntry::by(&Actor::system(), AuditAction::PatientsImported).detail(serde_json::json!({
        "source": "bench-seed messaging",
        "patients": plan.patients,
        "staff": plan.staff,
        "messages": plan.messages,
        "requests": plan.requests,
    }));
    audit::append(tx, &entry).await?;

    Ok(MessagingSeedReport {
        patients: plan.patients,
        staff: plan.staff,
        conversations: c + t,
        messages: plan.messages,
        staff_id,
        staff_email: staff_email(0),
        threads,
        conversations_of_staff,
        search_words: SEARCH_WORDS.iter().map(|w| (*w).to_owned()).collect(),
        requests: plan.requests,
        open_requests,
        request_search_words: REQUEST_SEARCH_WORDS.iter().map(|w| (*w).to_owned()).collect(),
        requests_seconds,
        insert_seconds: 0.0,
        analyze_seconds: 0.0,
    })
}

/// Portal requests (issue 5): kinds in turn (refill, appointment, records, billing, general) by
/// patients picked by hash, made over the year in the order of their numbers (so `seq` follows
/// their dates, as in production), a tenth still open (Submitted or In review), the others
/// dismissed (Completed, or Not completed for one in seven). Each has its "submitted" timeline
/// entry. Details are the JSON `portal_core::requests::RequestDetails` reads; the texts come
/// from the vocabulary (no quotes or backslashes in it). Returns the number still open.
async fn load_requests(
    tx: &mut DbConn,
    d: &Dialect,
    plan: &Plan,
    locations: &[String; 2],
    (n_subjects, n_sentences): (usize, usize),
) -> Result<u64, SeedError> {
    let r = plan.requests;
    if r == 0 {
        return Ok(0);
    }
    let (uuid, p, n_meds) = (d.uuid(), plan.patients, MEDICATIONS.len());
    let name = "p.first_name || ' ' || p.last_name";
    let open = format!("({} % 10 = 0)", h("g.n", 20));
    let records = "Records of my last visit and lab results";
    let at = d.ts(plan, &format!("g.n * {SPAN} / {r}"));
    let later = d.ts(plan, &format!("g.n * {SPAN} / {r} + 86400"));
    // PostgreSQL: the archive's postings are written in one statement after the rows, not by
    // their trigger row by row.
    let postgres = d.0 == Backend::Postgres;
    if postgres {
        batch(tx, "ALTER TABLE portal_requests DISABLE TRIGGER portal_request_terms_keep").await?;
    }
    step(
        tx,
        "portal_requests",
        &format!(
            "INSERT INTO portal_requests (id, patient_id, location_id, patient_name, account_id, requester_name,
                 relation, kind, details, summary, search_text, status, archived, created_at, updated_at,
                 dismissed_at, dismissed_by_name, idempotency_key)
             SELECT {uuid}, p.id, CASE WHEN p.n % 2 = 0 THEN $1 ELSE $2 END, {name}, p.account_id, {name}, 'self',
                 CASE g.n % 5 WHEN 0 THEN 'refill' WHEN 1 THEN 'appointment' WHEN 2 THEN 'records'
                     WHEN 3 THEN 'billing' ELSE 'general' END,
                 CASE g.n % 5
                     WHEN 0 THEN '{{\"kind\":\"refill\",\"medication\":\"' || m.w || '\",\"pharmacy\":\"Bench Pharmacy\",\"note\":null}}'
                     WHEN 1 THEN '{{\"kind\":\"appointment\",\"reason\":\"' || sj.w || '\",\"preferred_times\":\"Weekday mornings\",\"location_id\":null,\"preferred_provider_id\":null}}'
                     WHEN 2 THEN '{{\"kind\":\"records\",\"records\":\"{records}\",\"note\":null}}'
                     WHEN 3 THEN '{{\"kind\":\"billing\",\"question\":\"' || q.w || '\"}}'
                     ELSE '{{\"kind\":\"general\",\"question\":\"' || q.w || '\"}}' END,
                 CASE g.n % 5 WHEN 0 THEN m.w WHEN 1 THEN sj.w WHEN 2 THEN '{records}' ELSE q.w END,
                 {name} || ' ' || CASE g.n % 5
                     WHEN 0 THEN 'Prescription refill ' || m.w || ' Bench Pharmacy'
                     WHEN 1 THEN 'Appointment request ' || sj.w || ' Weekday mornings'
                     WHEN 2 THEN 'Records request {records}'
                     WHEN 3 THEN 'Billing question ' || q.w
                     ELSE 'General question ' || q.w END,
                 CASE WHEN {open} THEN (CASE WHEN g.n % 3 = 0 THEN 'in_review' ELSE 'submitted' END)
                      WHEN g.n % 7 = 0 THEN 'not_completed' ELSE 'completed' END,
                 CASE WHEN {open} THEN FALSE ELSE TRUE END,
                 {at}, CASE WHEN {open} THEN {at} ELSE {later} END,
                 CASE WHEN {open} THEN NULL ELSE {later} END,
                 CASE WHEN {open} THEN NULL ELSE 'Bench front desk' END,
                 {uuid}
             FROM bench_num g
             JOIN bench_patients p ON p.n = {hp} % {p}
             JOIN bench_vocab m ON m.list = {MEDICATION} AND m.i = {hm} % {n_meds}
             JOIN bench_vocab sj ON sj.list = {SUBJECT} AND sj.i = {hs} % {n_subjects}
             JOIN bench_vocab q ON q.list = {SENTENCE} AND q.i = {hq} % {n_sentences}
             WHERE g.n < {r}
             ORDER BY g.n",
            hp = h("g.n", 21),
            hm = h("g.n", 22),
            hs = h("g.n", 23),
            hq = h("g.n", 24),
        ),
        locations,
    )
    .await?;
    if postgres {
        step(
            tx,
            "portal_request_terms",
            "INSERT INTO portal_request_terms (term, seq)
             SELECT t, r.seq FROM portal_requests r, unnest(tsvector_to_array(r.search_vector)) AS t",
            &[],
        )
        .await?;
        batch(tx, "ALTER TABLE portal_requests ENABLE TRIGGER portal_request_terms_keep").await?;
    }
    step(
        tx,
        "portal_request_events",
        &format!(
            "INSERT INTO portal_request_events (id, request_id, kind, actor_kind, actor_id, actor_name, created_at)
             SELECT {uuid}, id, 'submitted', 'portal', account_id, requester_name, created_at
             FROM portal_requests ORDER BY seq"
        ),
        &[],
    )
    .await?;
    let open = ids_of(tx, "SELECT CAST(COUNT(*) AS TEXT) AS id FROM portal_requests WHERE archived = FALSE").await?;
    Ok(open.into_iter().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// A schema object as the database itself describes it, to be created again as it was.
#[derive(diesel::QueryableByName)]
struct Definition {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

/// A statement that puts back what the load took away, and what it puts back (for the log).
struct Restore {
    name: String,
    sql: String,
}

/// Names from the catalog are written into statements: only plain ones are accepted.
fn plain_name(name: &str) -> Result<&str, StoreError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name)
    } else {
        Err(StoreError::Corrupt(format!("unexpected schema object name {name:?}")))
    }
}

/// Drops the indexes of `table` that back no constraint, returning how to create them again.
///
/// Filling an index row by row with random keys (UUIDs) touches pages all over it; building it
/// afterwards sorts the keys once and writes each page once. Measured with a million messages:
/// PostgreSQL's GIN index took most of a 56 s insert when maintained row by row and 4-6 s built
/// afterwards; on SQLite the two message indexes cost 10 s inserted and 4.5 s built. The
/// definitions come from the database's catalog, so what is created again is exactly what the
/// migrations made, and all of it happens inside the load's transaction: nobody ever sees the
/// tables without their indexes, and a failed load leaves the schema as it was.
async fn drop_secondary_indexes(tx: &mut DbConn, d: &Dialect, table: &str) -> Result<Vec<Restore>, StoreError> {
    let sql = match d.0 {
        // Indexes with SQL are the ones created by CREATE INDEX (UNIQUE and PRIMARY KEY
        // columns have automatic ones, without).
        Backend::Sqlite => format!(
            "SELECT name AS name, sql AS sql FROM sqlite_master
             WHERE type = 'index' AND tbl_name = '{table}' AND sql IS NOT NULL ORDER BY name"
        ),
        Backend::Postgres => format!(
            "SELECT CAST(i.relname AS TEXT) AS name, pg_get_indexdef(i.oid) AS sql
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = CAST('{table}' AS regclass)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
             ORDER BY 1"
        ),
    };
    let found: Vec<Definition> = on_backend!(tx, |c| diesel::sql_query(&sql).load(c).await)?;
    let mut restore = Vec::new();
    for index in found {
        batch(tx, &format!("DROP INDEX {}", plain_name(&index.name)?)).await?;
        restore.push(Restore { name: format!("index {}", index.name), sql: index.sql });
    }
    Ok(restore)
}

/// PostgreSQL: drops the foreign keys of `table`, returning how to add them again.
///
/// Row by row, each foreign key is a trigger that looks the parent up and locks it (`FOR KEY
/// SHARE`): 10 s of a 29 s insert of a million messages. Added again at the end, the constraint
/// is checked for every row by one join, as `pg_restore` does it; the definition comes from the
/// catalog and it all happens inside the load's transaction, like the indexes.
async fn drop_foreign_keys(tx: &mut DbConn, table: &str) -> Result<Vec<Restore>, StoreError> {
    let sql = format!(
        "SELECT CAST(conname AS TEXT) AS name, pg_get_constraintdef(oid) AS sql FROM pg_constraint
         WHERE conrelid = CAST('{table}' AS regclass) AND contype = 'f' ORDER BY 1"
    );
    let found: Vec<Definition> = on_backend!(tx, |c| diesel::sql_query(&sql).load(c).await)?;
    let mut restore = Vec::new();
    for key in found {
        let name = plain_name(&key.name)?;
        batch(tx, &format!("ALTER TABLE {table} DROP CONSTRAINT {name}")).await?;
        restore.push(Restore {
            name: format!("foreign key {name}"),
            sql: format!("ALTER TABLE {table} ADD CONSTRAINT {name} {}", key.sql),
        });
    }
    Ok(restore)
}

#[derive(diesel::QueryableByName)]
struct NextSeq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    next: i64,
}

async fn next_message_seq(tx: &mut DbConn) -> Result<i64, StoreError> {
    let rows: Vec<NextSeq> = on_backend!(tx, |c| diesel::sql_query(
        "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) AS next FROM messages"
    )
    .load(c)
    .await)?;
    Ok(rows.into_iter().next().map_or(1, |r| r.next))
}

/// The staging table `bench_staff` as active clinicians (`staff<n>@bench.example`, every one
/// with the same password hash), named by the SQL expression `name`, created at `created`.
async fn insert_clinicians(tx: &mut DbConn, name: &str, created: &str, password_hash: &str) -> Result<(), StoreError> {
    step(
        tx,
        "staff_users",
        &format!(
            "INSERT INTO staff_users (id, email, name, password_hash, role, active, perm_allow_document_share,
                 perm_available_for_portal_messages, perm_manage_portal_packages, perm_manage_portal_settings,
                 created_at, updated_at)
             SELECT id, 'staff' || n || '@bench.example', {name}, $1, 'clinician', TRUE, FALSE, TRUE, FALSE, FALSE,
                 {created}, {created}
             FROM bench_staff ORDER BY n"
        ),
        &[password_hash.to_owned()],
    )
    .await?;
    Ok(())
}

/// Patient n's primary clinician is staff member n mod `staff` (staging tables), added at `added`.
async fn assign_clinicians(tx: &mut DbConn, added: &str, staff: impl std::fmt::Display) -> Result<(), StoreError> {
    step(
        tx,
        "care_team_members",
        &format!(
            "INSERT INTO care_team_members (patient_id, staff_id, team_role, added_at)
             SELECT p.id, s.id, 'Primary clinician', {added}
             FROM bench_patients p JOIN bench_staff s ON s.n = p.n % {staff} ORDER BY p.n"
        ),
        &[],
    )
    .await?;
    Ok(())
}

/// A trigger that fills a full-text table row by row, dropped for the load and returned so that
/// it is created again once the rows are indexed in one statement.
async fn drop_trigger(tx: &mut DbConn, name: &str) -> Result<Definition, StoreError> {
    let found: Vec<Definition> = on_backend!(tx, |c| diesel::sql_query(
        "SELECT name AS name, sql AS sql FROM sqlite_master WHERE type = 'trigger' AND name = ?"
    )
    .bind::<diesel::sql_types::Text, _>(name)
    .load(c)
    .await)?;
    let trigger: Definition = found
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt(format!("no trigger {name}: the bench loader must follow the schema")))?;
    batch(tx, &format!("DROP TRIGGER {name}")).await?;
    Ok(trigger)
}

/// SQLite: the search rows of the new conversations (subject, participant names, every message's
/// body and sender name, and both participants as owner tokens: kind and id without hyphens),
/// what the triggers write for each participant and message, in one statement; then the
/// triggers again.
///
/// The per-message trigger would rewrite a conversation's row once for each of its messages
/// (reading the messages before it every time); here the messages are grouped by conversation
/// once and the owners come from the staging rows: 12.3 s for a million messages in 199,820
/// conversations, measured. FTS5 also flushes its in-memory index less often with a larger hash
/// size for the load, set back to the default of 1 MB afterwards.
async fn index_conversations_for_search(
    tx: &mut DbConn,
    first_seq: i64,
    triggers: [Definition; 2],
) -> Result<(), StoreError> {
    batch(tx, "INSERT INTO conversations_fts (conversations_fts, rank) VALUES ('hashsize', 134217728)").await?;
    step(
        tx,
        "conversations_fts",
        &format!(
            "INSERT INTO conversations_fts (rowid, subject, participant_names, messages, owners)
             SELECT cv.seq, cv.subject, cv.participant_names, t.messages,
                 'staff' || replace(s.id, '-', '') || ' portal' || replace(p.account_id, '-', '')
             FROM (SELECT o.cn AS cn, group_concat(m.body || ' ' || m.sender_name, ' ') AS messages
                   FROM bench_msg o JOIN messages m ON m.seq = {first_seq} + o.o - 1
                   GROUP BY o.cn) t
             JOIN bench_conv c ON c.n = t.cn
             JOIN conversations cv ON cv.id = c.id
             JOIN bench_staff s ON s.n = c.staff_n
             JOIN bench_patients p ON p.n = c.patient_n
             ORDER BY cv.seq"
        ),
        &[],
    )
    .await?;
    batch(tx, "INSERT INTO conversations_fts (conversations_fts, rank) VALUES ('hashsize', 1048576)").await?;
    for trigger in triggers {
        batch(tx, &trigger.sql).await?;
    }
    Ok(())
}

/// Planner statistics for the new rows, as a long-running database would have them.
async fn analyze(db: &Db) -> Result<(), StoreError> {
    let started = Instant::now();
    match db.backend() {
        // `PRAGMA optimize` records that the statistics are fresh, so connections opened later
        // do not redo them.
        // One big load leaves each FTS5 index in segments that no steady stream of writes
        // would: many small ones (the requests, written row by row by the trigger) or a few
        // huge ones (the messages, with a large hash size), which the first later insert then
        // merges (5.8 s for one message, measured). Merged into one each ('optimize', 6 s), as
        // the migration that built these indexes does: an archive search 0.5 -> 0.2 ms and a
        // message insert at most 35 ms, measured.
        Backend::Sqlite => {
            db.write(|tx| {
                Box::pin(async move {
                    batch(
                        tx,
                        "INSERT INTO portal_requests_fts (portal_requests_fts) VALUES ('optimize'); \
                         INSERT INTO conversations_fts (conversations_fts) VALUES ('optimize'); \
                         ANALYZE; PRAGMA optimize",
                    )
                    .await
                })
            })
            .await?
        }
        // VACUUM cannot run in a transaction: an ordinary autocommit connection. It also sets
        // the visibility map autovacuum would set soon after a bulk insert, without which
        // index-only scans visit the heap.
        Backend::Postgres => {
            let mut conn = db.read().await?;
            batch(&mut conn, "VACUUM (ANALYZE)").await?;
            // The load leaves gigabytes of dirty pages that the next timed checkpoint writes
            // out during whatever runs then (a benchmark's measurements). Written now, as a
            // database long past its load would be. Needs superuser or `pg_checkpoint`; without
            // either the load still stands.
            if let Err(e) = batch(&mut conn, "CHECKPOINT").await {
                tracing::warn!(error = %e, "bench seed: no checkpoint after the load");
            }
        }
    }
    log_step("analyze", 0, started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Staff notifications (issue 6's benchmark: `portal bench-seed notifications`)
// ---------------------------------------------------------------------------------------------

/// The rules of the notifications benchmark: five live rules on Portal Registration Completed,
/// each toast and e-mail, each to the patient's care team. A clinic could well have five such
/// rules (an alert, a welcome call, a chart check...), and the care team is what spreads the
/// toasts over the staff: every patient has one clinician on it, so each event notifies one
/// person five times, and the toasts fall evenly on every connected staff member.
pub const NOTIFICATION_RULES: [&str; 5] =
    ["New registration", "Welcome call", "Check the chart", "Insurance on file", "Portal onboarding done"];

/// What the notifications benchmark loads. `token_hashes` (SHA-256 of bearer tokens made by the
/// caller, one per staff member) become the staff's sessions: signing 1,000 people in through
/// argon2 would cost 20 core-seconds and measure nothing of interest.
#[derive(Debug, Clone)]
pub struct NotificationsSeed {
    pub staff: u32,
    /// Also the number of patients: each event is one patient's registration.
    pub events: u32,
    pub password_hash: String,
    pub token_hashes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationsSeedReport {
    pub staff: u64,
    pub patients: u64,
    pub rules: u64,
    /// Registration events parked in the outbox, each due to become [`NOTIFICATION_RULES`]`.len()`
    /// notifications (toast and e-mail) for the patient's clinician.
    pub events: u64,
    pub notifications_per_event: u64,
    pub location_id: String,
    pub insert_seconds: f64,
}

/// Loads the notifications benchmark's data into an empty, migrated database: a clinic with one
/// location, `staff` clinicians there with a session each, `events` patients each with one of
/// them (in turn) on the care team, the rules, and one registration event per patient parked in
/// the outbox until [`release_notification_events`].
pub async fn seed_notifications(db: &Db, seed: &NotificationsSeed) -> Result<NotificationsSeedReport, SeedError> {
    if !(1..=100_000).contains(&seed.staff) || !(1..=1_000_000).contains(&seed.events) {
        return Err(SeedError::Invalid("staff must be 1 to 100,000 and events 1 to 1,000,000".into()));
    }
    if seed.token_hashes.len() != seed.staff as usize {
        return Err(SeedError::Invalid("one session token per staff member".into()));
    }
    let seed = seed.clone();
    let started = Instant::now();
    let mut report = db.write(move |tx| Box::pin(async move { load_notifications(tx, &seed).await })).await?;
    report.insert_seconds = started.elapsed().as_secs_f64();
    analyze(db).await?;
    Ok(report)
}

async fn load_notifications(tx: &mut DbConn, seed: &NotificationsSeed) -> Result<NotificationsSeedReport, SeedError> {
    if staff::count(tx).await? > 0 || patients::count(tx).await? > 0 {
        return Err(SeedError::NotEmpty);
    }
    let d = Dialect(tx.backend());
    let (int, uuid) = (d.int(), d.uuid());
    let now = portal_core::time_util::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let unix = now.assume_utc().unix_timestamp();
    let ts = match d.0 {
        Backend::Sqlite => format!("datetime({unix}, 'unixepoch')"),
        Backend::Postgres => format!("(to_timestamp({unix}) AT TIME ZONE 'UTC')"),
    };
    org::update_company(tx, &CompanyUpdate { name: "Bench Family Health", phone: None, brand_by_location: false })
        .await?;
    org::set_use_portal(tx, true).await?;
    let location = ids::new_id();
    let fields = LocationFields {
        name: "Bench Downtown".into(),
        address_line1: Some("1 Main St".into()),
        city: Some("Cambridge".into()),
        state: Some("MA".into()),
        zip: Some("02139".into()),
        phone: None,
        time_zone: "America/New_York".into(),
    };
    org::insert_location(tx, &location, &fields).await?;

    let (s, p) = (u64::from(seed.staff), u64::from(seed.events));
    let numbers = s.max(p);
    let fill = match d.0 {
        Backend::Sqlite => format!(
            "INSERT INTO bench_num (n) WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < {numbers}) \
             SELECT n FROM s"
        ),
        Backend::Postgres => format!("INSERT INTO bench_num (n) SELECT generate_series(0, {numbers} - 1)"),
    };
    batch(
        tx,
        &format!(
            "CREATE TEMP TABLE bench_num (n {int} PRIMARY KEY);
             CREATE TEMP TABLE bench_staff (n {int} PRIMARY KEY, id TEXT NOT NULL);
             CREATE TEMP TABLE bench_patients (n {int} PRIMARY KEY, id TEXT NOT NULL, account_id TEXT NOT NULL);"
        ),
    )
    .await?;
    step(tx, "numbers", &fill, &[]).await?;
    step(
        tx,
        "staff (staging)",
        &format!("INSERT INTO bench_staff (n, id) SELECT n, {uuid} FROM bench_num WHERE n < {s}"),
        &[],
    )
    .await?;
    step(
        tx,
        "patients (staging)",
        &format!(
            "INSERT INTO bench_patients (n, id, account_id) SELECT n, {uuid}, {uuid} FROM bench_num WHERE n < {p}"
        ),
        &[],
    )
    .await?;
    insert_clinicians(tx, "'Clinician ' || n", &ts, &seed.password_hash).await?;
    step(
        tx,
        "staff_locations",
        "INSERT INTO staff_locations (staff_id, location_id) SELECT id, $1 FROM bench_staff",
        std::slice::from_ref(&location),
    )
    .await?;
    step(
        tx,
        "patients",
        &format!(
            "INSERT INTO patients (id, record_number, first_name, last_name, search_name, date_of_birth, email, phone,
                 address_line1, city, state, zip, location_id, status, created_at, updated_at, portal_access,
                 portal_last_invited_at, portal_last_signed_in_at)
             SELECT id, 'N-' || (100000 + n), 'Pat' || n, 'Bench', lower('bench pat' || n), {dob},
                 'patient' || n || '@bench.example', NULL, NULL, 'Cambridge', 'MA', '02139', $1, 'active', {ts}, {ts},
                 TRUE, {ts}, NULL
             FROM bench_patients ORDER BY n",
            dob = d.date("n % 24000")
        ),
        std::slice::from_ref(&location),
    )
    .await?;
    // Patient n's clinician is staff member n mod staff: the toasts spread evenly.
    assign_clinicians(tx, &ts, s).await?;
    // The events as the registration use case records them (the payload is the serialised
    // domain event), parked in the year 9999 until released: the worker claims only events
    // whose `available_at` has come.
    let template = serde_json::to_string(&portal_core::events::DomainEvent::PortalRegistrationCompleted {
        account_id: "@ACCOUNT@".into(),
        patient_id: "@PATIENT@".into(),
        relation: portal_core::events::Relation::Myself,
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let parked = match d.0 {
        Backend::Sqlite => "'9999-01-01 00:00:00'",
        Backend::Postgres => "TIMESTAMP '9999-01-01 00:00:00'",
    };
    step(
        tx,
        "outbox_events (parked)",
        &format!(
            "INSERT INTO outbox_events (id, kind, payload, created_at, available_at, attempts)
             SELECT {uuid}, 'portal_registration_completed', replace(replace($1, '@ACCOUNT@', account_id), '@PATIENT@', id),
                 {ts}, {parked}, 0
             FROM bench_patients ORDER BY n"
        ),
        &[template],
    )
    .await?;
    batch(tx, "DROP TABLE bench_num; DROP TABLE bench_staff; DROP TABLE bench_patients").await?;

    // The staff's sessions, one per token, in staff order.
    let staff_ids = {
        use crate::schema::staff_users;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let rows: Vec<(String, String)> =
            on_backend!(tx, |c| staff_users::table.select((staff_users::id, staff_users::email)).load(c).await)
                .map_err(StoreError::from)?;
        let mut by_n: Vec<(u64, String)> = rows
            .into_iter()
            .filter_map(|(id, email)| {
                email.strip_prefix("staff")?.strip_suffix("@bench.example")?.parse().ok().map(|n| (n, id))
            })
            .collect();
        by_n.sort();
        by_n.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let started = Instant::now();
    for (staff_id, hash) in staff_ids.iter().zip(&seed.token_hashes) {
        crate::sessions::insert(
            tx,
            &crate::sessions::SessionRow {
                token_hash: hash.clone(),
                user_kind: "staff".into(),
                user_id: staff_id.clone(),
                created_at: now,
                last_seen_at: now,
                absolute_expires_at: now + time::Duration::hours(12),
                ip: None,
                user_agent: Some("portal bench-seed".into()),
            },
        )
        .await?;
    }
    log_step("sessions", staff_ids.len(), started.elapsed());

    for name in NOTIFICATION_RULES {
        crate::notifications::insert_rule(
            tx,
            &crate::notifications::RuleRow {
                id: ids::new_id(),
                location_id: location.clone(),
                event: "registration_completed".into(),
                name: name.into(),
                starts_on: now.date() - time::Duration::days(1),
                ends_on: None,
                severity: "information".into(),
                recipient_users: String::new(),
                recipient_care_team: true,
                recipient_roles: String::new(),
                title: format!("{name}: {{patient_name}}"),
                message: "{patient_name} completed portal registration at {location}.".into(),
                toast: true,
                email: true,
                deleted_at: None,
                created_by_name: "portal bench-seed".into(),
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
    }
    Ok(NotificationsSeedReport {
        staff: s,
        patients: p,
        rules: NOTIFICATION_RULES.len() as u64,
        events: p,
        notifications_per_event: NOTIFICATION_RULES.len() as u64,
        location_id: location,
        insert_seconds: 0.0,
    })
}

/// Makes every parked benchmark event due now, in one transaction (as if that many use cases
/// committed at once); the number released. Their `created_at` becomes now as well: the
/// moment they entered the outbox for the worker.
pub async fn release_notification_events(db: &Db) -> Result<usize, StoreError> {
    use crate::schema::outbox_events;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    db.write(|tx| {
        Box::pin(async move {
            let now = portal_core::time_util::now_utc();
            // Parked at the year 9999 (see the load); nothing real is due centuries ahead.
            let parked = now + time::Duration::days(365 * 1000);
            Ok(on_backend!(tx, |c| diesel::update(
                outbox_events::table.filter(outbox_events::available_at.gt(parked))
            )
            .set((outbox_events::available_at.eq(now), outbox_events::created_at.eq(now)))
            .execute(c)
            .await)?)
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(patients: u32, staff: u32, messages: u32) -> MessagingSeed {
        MessagingSeed { patients, staff, messages, requests: 0, password_hash: String::new() }
    }

    #[test]
    fn the_plan_adds_up_to_the_messages_asked_for() {
        for messages in [10, 11, 99, 100, 2_000, 2_003, 1_000_000, 1_000_004] {
            let p = Plan::of(&seed(10, 2, messages), 2_000_000_000).unwrap();
            // Ordinary conversations come in pairs of ten messages (an odd one out has five).
            let ordinary = 5 * p.conversations + p.remainder;
            assert_eq!(ordinary + p.threads * u64::from(THREAD_LEN), u64::from(messages), "{messages}");
            assert!(p.remainder < 5);
            assert!(p.threads * u64::from(THREAD_LEN) <= u64::from(messages) / 2);
        }
        let p = Plan::of(&seed(10_000, 200, 1_000_000), 2_000_000_000).unwrap();
        assert_eq!((p.threads, p.conversations), (20, 199_800));
        assert!(matches!(Plan::of(&seed(0, 1, 100), 0), Err(SeedError::Invalid(_))));
        assert!(matches!(Plan::of(&seed(1, 1, 9), 0), Err(SeedError::Invalid(_))));
    }

    #[test]
    fn sentences_fill_every_slot_and_the_search_words_match_a_realistic_share() {
        let all = sentences();
        assert_eq!(all.len(), SENTENCES);
        assert!(all.iter().all(|s| !s.contains('{')), "an unfilled slot");
        for word in SEARCH_WORDS {
            let k = all.iter().filter(|s| s.to_lowercase().contains(word)).count() as f64;
            // Two sentences in every message, a third in a third of them.
            let miss = 1.0 - k / SENTENCES as f64;
            let share = 1.0 - miss * miss * (1.0 - (1.0 - miss) / 3.0);
            assert!((0.01..0.10).contains(&share), "{word} would be in {:.1} % of the messages", share * 100.0);
        }
    }

    #[test]
    fn multipliers_are_odd_and_products_stay_in_64_bits() {
        for salt in 0..32 {
            let m = (0x9E37_79B1_u64.wrapping_mul(2 * salt + 1) & 0xFFFF_FFFF) | 1;
            assert_eq!(m % 2, 1);
            // The largest hashed value: conversation 4,000,100 times 64 plus 63.
            assert!((4_000_100u64 * 64 + 63).checked_mul(m).is_some_and(|v| v < i64::MAX as u64));
        }
    }
}
