//! The secure-messaging run (issue 4, "Speed"): with 10,000 patients, 200 staff and 1,000,000
//! messages, on each backend, open the inbox, open a thread of 50 messages, send a message and
//! search a keyword, beside a `/healthz` baseline measured against the same server. The same
//! servers hold 100,000 portal requests (issue 5): the request queue's first page and the
//! archive's search are measured there too.
//!
//! For each backend: an empty database (a SQLite file; a throwaway PostgreSQL cluster, durable and
//! sized like a small server), `portal bench-seed messaging` to load it (its wall time is the load
//! figure), `portal serve` on it, a sign-in as the seeded staff member, then the scenarios. The
//! loader prints one JSON line with the sign-in and the ids the requests use.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde_json::Value;

use super::http::{Connection, render_request};
use super::load::{Measurement, Scenario};
use super::smtp::SmtpSink;
use super::{Server, free_loopback_address, measure_all, millis, sign_in};
use crate::postgres::{Binaries, Cluster};
use crate::process;
use crate::tempdir::TempDir;

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The bench cluster: durable (fsync stays on, so a send pays for its WAL flush as in
/// production), with shared buffers that hold the hot part of a million messages instead of
/// initdb's 128 MB, and a WAL large enough that the load does not checkpoint every few seconds.
const POSTGRES_SETTINGS: &[(&str, &str)] =
    &[("shared_buffers", "512MB"), ("max_wal_size", "4GB"), ("max_connections", "100")];

/// The goals.
const LOAD_GOAL: Duration = Duration::from_secs(60);
const INBOX_SHARE_OF_HEALTHZ: f64 = 0.25;
const INBOX_P99: Duration = Duration::from_millis(20);
const SEARCH_P99: Duration = Duration::from_millis(50);
const SENDS_PER_SECOND_ON_POSTGRES: f64 = 1000.0;
/// Issue 5: the request queue's page and the archive's search, each p99 under 20 ms.
const QUEUE_P99: Duration = Duration::from_millis(20);

/// What one reply says; each POST is a new message.
const REPLY: &str = "Thank you for your message. Your results look fine; please call the office if anything changes.";

pub struct Run<'a> {
    pub binary: &'a Path,
    pub messages: u32,
    pub patients: u32,
    pub staff: u32,
    /// Portal requests for the queue's scenarios (issue 5).
    pub requests: u32,
    /// `None`: both.
    pub backend: Option<Backend>,
    pub concurrency: usize,
    pub duration: Duration,
    pub sink: &'a SmtpSink,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    Baseline,
    Inbox,
    Thread,
    Search,
    Send,
    /// The request queue (issue 5): the queue page and the archive's search.
    Queue,
}

/// One row of a backend's table: measured, or skipped with the reason.
struct Row {
    scenario: Scenario,
    goal: Goal,
    outcome: std::result::Result<Measurement, String>,
}

pub struct BackendReport {
    backend: Backend,
    /// The loader's JSON line.
    seed: Value,
    /// Wall time of `portal bench-seed messaging` (migrations, inserts, statistics).
    load: Duration,
    rows: Vec<Row>,
    /// What the first answer of each scenario held (conversations or messages counted).
    notes: Vec<String>,
    /// E-mails (new-message notices) the server's worker delivered to the SMTP sink meanwhile.
    emails: u64,
}

pub async fn run(run: &Run<'_>) -> Result<Vec<BackendReport>> {
    let mut reports = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if run.backend.is_some_and(|only| only != backend) {
            continue;
        }
        process::check_interrupted()?;
        eprintln!("bench: secure messaging on {} ...", backend.label());
        match backend {
            Backend::Sqlite => {
                let dir = TempDir::new("portal-bench-messaging")?;
                let url = format!("sqlite://{}/messaging.db", dir.path().display());
                reports.push(on_database(run, backend, &url, dir.path()).await?);
            }
            Backend::Postgres => {
                let Some(binaries) = Binaries::find() else {
                    eprintln!(
                        "bench: initdb/pg_ctl not found; messaging on PostgreSQL skipped ({})",
                        crate::INSTALL_HINT
                    );
                    continue;
                };
                let dir = TempDir::new("portal-bench-messaging")?;
                // Declared after `dir`: dropped (stopped) before it, after the server.
                let cluster = Cluster::start_with(&binaries, POSTGRES_SETTINGS)?;
                reports.push(on_database(run, backend, &cluster.url, dir.path()).await?);
            }
        }
    }
    Ok(reports)
}

async fn on_database(run: &Run<'_>, backend: Backend, url: &str, dir: &Path) -> Result<BackendReport> {
    let (seed, load) = seed(run, url, dir)?;
    let text = |key: &str| seed[key].as_str().map(str::to_owned).with_context(|| format!("no \"{key}\" in {seed}"));
    let list = |key: &str| -> Vec<String> {
        seed[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (email, password) = (text("staff_email")?, text("password")?);
    let (threads, conversations, words) = (list("threads"), list("conversations_of_staff"), list("search_words"));
    let request_words = list("request_search_words");

    let address = free_loopback_address()?;
    let mut command = Command::new(run.binary);
    command
        .args(["serve", "--bind", &address.to_string()])
        .env("PORTAL_DATABASE_URL", url)
        .env("PORTAL_MAIL_URL", format!("smtp://{}?tls=none", run.sink.address));
    let mut server = Server::spawn(command, address, dir.join("server.log"))?;
    server.wait_until_healthy().await?;
    let Some(token) = sign_in(address, &email, &password).await else {
        bail!("could not sign in as the seeded staff member {email}; the server's log:\n{}", server.log_tail());
    };

    let scenarios = vec![
        (Scenario::get("healthz (baseline)", "/healthz"), Goal::Baseline),
        (Scenario::get("inbox: first page of 25", "/api/v1/conversations").with_bearer(&token), Goal::Inbox),
        (
            Scenario::get_each(
                "open a thread of 50 messages",
                threads.iter().map(|id| format!("/api/v1/conversations/{id}")).collect(),
            )
            .with_bearer(&token),
            Goal::Thread,
        ),
        (
            Scenario::get_each(
                &format!("search a keyword ({})", words.join(", ")),
                words.iter().map(|w| format!("/api/v1/conversations?q={w}")).collect(),
            )
            .with_bearer(&token),
            Goal::Search,
        ),
        (Scenario::get("request queue: first page of 25", "/api/v1/requests").with_bearer(&token), Goal::Queue),
        (
            Scenario::get_each(
                &format!("request archive: search ({})", request_words.join(", ")),
                request_words.iter().map(|w| format!("/api/v1/requests/archive?q={w}")).collect(),
            )
            .with_bearer(&token),
            Goal::Queue,
        ),
        // Last: every send changes the staff member's inbox and the threads' neighbours.
        (
            Scenario::post_json_each(
                "send a message (staff reply, portal conversation)",
                conversations.iter().map(|id| format!("/api/v1/conversations/{id}/messages")).collect(),
                serde_json::json!({ "body": REPLY }).to_string(),
            )
            .with_bearer(&token),
            Goal::Send,
        ),
    ];
    let emails_before = run.sink.received();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (scenario, goal) in scenarios {
        // One request first: a route that is missing or refuses must not be measured as if it
        // worked (404s are fast).
        match probe(address, &scenario).await {
            Ok(note) => {
                if let Some(note) = note {
                    notes.push(format!("{}: {note}", scenario.name));
                }
                let mut measured = measure_all(&mut server, vec![scenario], run.concurrency, run.duration).await?;
                if let Some((scenario, measurement)) = measured.pop() {
                    rows.push(Row { scenario, goal, outcome: Ok(measurement) });
                }
            }
            Err(why) => {
                eprintln!("bench: {} not measured: {why}", scenario.name);
                rows.push(Row { scenario, goal, outcome: Err(why) });
            }
        }
    }
    server.ensure_running()?;
    // Give the worker a moment to deliver the notices of the last sends.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = run.sink.received() - emails_before;
    drop(server);
    Ok(BackendReport { backend, seed, load, rows, notes, emails })
}

/// Runs `portal bench-seed messaging` against `url`; its JSON line and its wall time. Its log
/// (one line per step with the time it took) goes to the terminal.
fn seed(run: &Run<'_>, url: &str, dir: &Path) -> Result<(Value, Duration)> {
    let out_path = dir.join("seed.json");
    let out = std::fs::File::create(&out_path).with_context(|| format!("could not create {}", out_path.display()))?;
    let mut command = Command::new(run.binary);
    command
        .args(["bench-seed", "messaging"])
        .args(["--patients", &run.patients.to_string()])
        .args(["--staff", &run.staff.to_string()])
        .args(["--messages", &run.messages.to_string()])
        .args(["--requests", &run.requests.to_string()])
        .env("PORTAL_DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(out);
    let started = Instant::now();
    // A blocking wait of up to a minute or so, in its own process group so that a Ctrl-C is
    // forwarded to it; nothing else of ours runs meanwhile but the SMTP sink's idle task.
    tokio::task::block_in_place(|| process::run_ok(&mut command))?;
    let took = started.elapsed();
    let printed = std::fs::read_to_string(&out_path)?;
    let line = printed.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the loader printed no JSON")?;
    let seed: Value = serde_json::from_str(line).context("the loader's JSON line")?;
    Ok((seed, took))
}

/// Sends a scenario's first request once. `Ok` with what the answer held when it is 2xx, `Err`
/// with the status otherwise.
async fn probe(address: SocketAddr, scenario: &Scenario) -> std::result::Result<Option<String>, String> {
    let Some(path) = scenario.paths.first() else { return Err("no request to send".to_owned()) };
    let body = scenario.json.as_ref().map(|json| ("application/json", json.as_bytes()));
    let request = render_request(scenario.method, address, path, &scenario.headers, body);
    let attempt = async {
        let mut connection = Connection::open(address).await?;
        connection.send(&request).await
    };
    let response = match tokio::time::timeout(Duration::from_secs(30), attempt).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(format!("{} {path}: {error}", scenario.method)),
        Err(_) => return Err(format!("{} {path} timed out", scenario.method)),
    };
    if !(200..300).contains(&response.status) {
        let text = String::from_utf8_lossy(&response.body);
        return Err(format!(
            "{} {path} answered {}: {}",
            scenario.method,
            response.status,
            text.chars().take(200).collect::<String>()
        ));
    }
    let json: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Ok(describe_answer(&json))
}

/// "25 conversations", "50 messages": evidence that a scenario did the work it is named after.
fn describe_answer(json: &Value) -> Option<String> {
    let count = |key: &str| json.get(key).and_then(Value::as_array).map(Vec::len);
    let unread = json
        .get("conversations")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter(|c| c["unread_count"].as_i64().is_some_and(|n| n > 0)).count());
    match (count("conversations"), count("messages"), count("requests")) {
        (Some(n), _, _) => Some(format!("answered {n} conversations ({} with unread messages)", unread.unwrap_or(0))),
        (None, Some(n), _) => Some(format!("answered {n} messages")),
        (None, None, Some(n)) => Some(format!("answered {n} requests")),
        _ => None,
    }
}

impl BackendReport {
    fn baseline(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.goal == Goal::Baseline)
            .and_then(|r| r.outcome.as_ref().ok())
            .map(|m| m.requests_per_second())
    }

    /// The goal in words and whether it was met (`None`: no goal for this row).
    fn verdict(&self, row: &Row, m: &Measurement) -> (String, Option<bool>) {
        let clean = m.non_2xx == 0 && m.errors == 0 && m.requests > 0;
        let p99 = m.latency(0.99).unwrap_or(Duration::MAX);
        match row.goal {
            Goal::Baseline => ("baseline".to_owned(), None),
            Goal::Thread => ("(none set)".to_owned(), None),
            Goal::Inbox => {
                let share = self.baseline().map_or(0.0, |b| m.requests_per_second() / b.max(f64::EPSILON));
                (
                    format!("≥ {:.0} % of healthz, p99 < {} ms", INBOX_SHARE_OF_HEALTHZ * 100.0, INBOX_P99.as_millis()),
                    Some(clean && share >= INBOX_SHARE_OF_HEALTHZ && p99 < INBOX_P99),
                )
            }
            Goal::Search => (format!("p99 < {} ms", SEARCH_P99.as_millis()), Some(clean && p99 < SEARCH_P99)),
            Goal::Queue => (format!("p99 < {} ms", QUEUE_P99.as_millis()), Some(clean && p99 < QUEUE_P99)),
            Goal::Send if self.backend == Backend::Postgres => (
                format!("≥ {SENDS_PER_SECOND_ON_POSTGRES:.0} messages/s"),
                Some(clean && m.requests_per_second() >= SENDS_PER_SECOND_ON_POSTGRES),
            ),
            Goal::Send => ("(set for PostgreSQL)".to_owned(), None),
        }
    }

    pub fn print(&self, concurrency: usize, duration: u64) {
        let number = |key: &str| self.seed[key].as_f64().unwrap_or(0.0);
        let thousands = |n: f64| {
            let digits = format!("{n:.0}");
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        };
        // The requests (issue 5) are loaded by the same command; the messaging goal is for the rest.
        let requests_load = Duration::from_secs_f64(number("requests_seconds").max(0.0));
        let messaging_load = self.load.saturating_sub(requests_load);
        let load_met = messaging_load < LOAD_GOAL;
        println!("\n### Secure messaging and the request queue on {}\n", self.backend.label());
        println!(
            "{} patients, {} staff, {} messages in {} conversations and {} portal requests ({} open), loaded in \
             {:.1} s by `portal bench-seed messaging` (rows {:.1} s, of which requests {:.1} s; statistics and index merges {:.1} s): \
             messaging without the requests {:.1} s, goal under {} s {}.",
            thousands(number("patients")),
            thousands(number("staff")),
            thousands(number("messages")),
            thousands(number("conversations")),
            thousands(number("requests")),
            thousands(number("open_requests")),
            self.load.as_secs_f64(),
            number("insert_seconds"),
            requests_load.as_secs_f64(),
            number("analyze_seconds"),
            messaging_load.as_secs_f64(),
            LOAD_GOAL.as_secs(),
            if load_met { "met" } else { "NOT met" }
        );
        println!("{concurrency} connections, {duration} s per scenario after 1 s of warm-up, loopback.\n");
        println!("| scenario | requests/s | of healthz | p50 (ms) | p99 (ms) | non-2xx | errors | goal | met |");
        println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
        let baseline = self.baseline();
        for row in &self.rows {
            match &row.outcome {
                Ok(m) => {
                    let (goal, met) = self.verdict(row, m);
                    let share = baseline.map_or_else(
                        || "-".to_owned(),
                        |b| format!("{:.1} %", 100.0 * m.requests_per_second() / b.max(f64::EPSILON)),
                    );
                    println!(
                        "| {} | {:.0} | {share} | {} | {} | {} | {} | {goal} | {} |",
                        row.scenario.name,
                        m.requests_per_second(),
                        millis(m.latency(0.50)),
                        millis(m.latency(0.99)),
                        m.non_2xx,
                        m.errors,
                        match met {
                            Some(true) => "yes",
                            Some(false) => "**no**",
                            None => "",
                        }
                    );
                }
                Err(why) => println!("| {} | not measured: {why} | | | | | | | |", row.scenario.name),
            }
        }
        println!();
        for note in &self.notes {
            println!("- {note}");
        }
        println!("- new-message e-mails delivered by the server's worker to the SMTP sink meanwhile: {}", self.emails);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_inboxes_and_threads() {
        let inbox =
            serde_json::json!({ "conversations": [{ "unread_count": 1 }, { "unread_count": 0 }], "next": null });
        assert_eq!(describe_answer(&inbox).as_deref(), Some("answered 2 conversations (1 with unread messages)"));
        let thread = serde_json::json!({ "conversation": {}, "messages": [{}, {}, {}] });
        assert_eq!(describe_answer(&thread).as_deref(), Some("answered 3 messages"));
        assert_eq!(describe_answer(&Value::Null), None);
    }
}
