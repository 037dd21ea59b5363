//! `cargo xtask bench`: build `portal` in release, start a demo server on loopback, load it with a
//! list of named scenarios and print a Markdown table of throughput and latency; then the
//! bulk-invitation run (`bulk`), the secure-messaging run on both backends (`messaging`) and the
//! staff-notifications run on both backends (`notifications`).

mod bulk;
mod http;
mod load;
mod messaging;
mod notifications;
mod smtp;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};

use self::http::{Connection, render_request};
use self::load::{Measurement, Scenario};
use crate::process;
use crate::tempdir::TempDir;

#[derive(Args)]
pub struct BenchArgs {
    /// Concurrent keep-alive connections per scenario.
    #[arg(short, long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of measurement per scenario (after a one-second warm-up).
    #[arg(short, long, default_value_t = 5)]
    duration: u64,
    /// Benchmark this binary instead of building target/release/portal.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Patients in the bulk-invitation run (imported, then enabled and invited from the Onboarding
    /// Tool's API, their e-mails delivered to a loopback SMTP sink); 0 skips it.
    #[arg(long, default_value_t = 10_000)]
    bulk_patients: usize,
    /// Messages in the secure-messaging run (loaded by `portal bench-seed messaging` into SQLite and
    /// into a throwaway PostgreSQL cluster, then inbox, thread, search and send measured on each);
    /// 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u32,
    /// Patients of the messaging run (each with a portal account).
    #[arg(long, default_value_t = 10_000)]
    messaging_patients: u32,
    /// Staff of the messaging run (each in about messages / 5 / staff conversations).
    #[arg(long, default_value_t = 200)]
    messaging_staff: u32,
    /// Portal requests loaded with the messaging run (issue 5: the request queue's page and the
    /// archive's search are measured on the same servers).
    #[arg(long, default_value_t = 100_000)]
    requests: u32,
    /// Run the messaging benchmark on this backend only (default: both).
    #[arg(long, value_enum)]
    messaging_backend: Option<messaging::Backend>,
    /// Events of the staff-notifications run (issue 6: each matches five rules, toast and
    /// e-mail, delivered by the worker to connected SSE clients and the SMTP sink); 0 skips it.
    #[arg(long, default_value_t = 10_000)]
    notification_events: u32,
    /// Staff members of the notifications run, each with an open toast stream.
    #[arg(long, default_value_t = 1_000)]
    notification_clients: u32,
    /// Run the notifications benchmark on this backend only (default: both).
    #[arg(long, value_enum)]
    notifications_backend: Option<messaging::Backend>,
    /// Run only this section (default: all four; `--bulk-patients 0`, `--messages 0` and
    /// `--notification-events 0` also skip theirs).
    #[arg(long, value_enum)]
    only: Option<Section>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// The demo server's scenarios (healthz, staff me, patient list and search).
    Demo,
    /// The bulk invitation (on the demo server).
    Bulk,
    /// Secure messaging with a million messages, on each backend.
    Messaging,
    /// Staff notifications: toasts to 1,000 connected clients and e-mails, on each backend.
    Notifications,
}

impl BenchArgs {
    fn runs(&self, section: Section) -> bool {
        self.only.is_none_or(|only| only == section)
            && match section {
                Section::Demo => true,
                Section::Bulk => self.bulk_patients > 0,
                Section::Messaging => self.messages > 0,
                Section::Notifications => self.notification_events > 0,
            }
    }
}

/// How long the demo server may take to seed its data and answer /healthz.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const WARM_UP: Duration = Duration::from_secs(1);

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    ensure!((1..=4096).contains(&args.concurrency), "--concurrency must be between 1 and 4096");
    ensure!((1..=600).contains(&args.duration), "--duration must be between 1 and 600 seconds");
    if cfg!(debug_assertions) {
        // `cargo xtask` builds xtask unoptimised, and an unoptimised load generator takes CPU from the
        // server it measures (about a third fewer requests/s on two cores): rerun ourselves optimised.
        let mut rerun = crate::cargo();
        rerun
            .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
            .args(std::env::args_os().skip(1))
            // Where we were started, so that a relative --binary still means the same file.
            .current_dir(std::env::current_dir().context("no current directory")?);
        let status = process::run(&mut rerun)?;
        return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let binary = match &args.binary {
        Some(binary) => binary.clone(),
        None => {
            process::run_ok(crate::cargo().args(["build", "--release", "-p", "portal-http"]))?;
            target_dir().join("release/portal")
        }
    };
    ensure!(crate::is_executable(&binary), "{} is not an executable", binary.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    runtime.block_on(bench(&binary, args))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| if dir.is_absolute() { dir } else { crate::workspace_root().join(dir) })
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

async fn bench(binary: &Path, args: &BenchArgs) -> Result<ExitCode> {
    let sink = smtp::SmtpSink::start().await?;
    let mut demo = None;
    let mut bulk = None;
    if args.runs(Section::Demo) || args.runs(Section::Bulk) {
        let (results, figures) = demo_server_runs(binary, args, &sink).await?;
        demo = Some(results);
        bulk = figures;
    }
    let messaging = if args.runs(Section::Messaging) {
        let run = messaging::Run {
            binary,
            messages: args.messages,
            patients: args.messaging_patients,
            staff: args.messaging_staff,
            requests: args.requests,
            backend: args.messaging_backend,
            concurrency: args.concurrency,
            duration: Duration::from_secs(args.duration),
            sink: &sink,
        };
        messaging::run(&run).await?
    } else {
        Vec::new()
    };

    // Its tables are printed as each backend finishes (a run of many minutes per backend).
    if args.runs(Section::Notifications) {
        let run = notifications::Run {
            binary,
            events: args.notification_events,
            clients: args.notification_clients,
            backend: args.notifications_backend,
            sink: &sink,
        };
        notifications::run(&run).await?;
    }

    if let Some(results) = demo.filter(|results| !results.is_empty()) {
        print_table(&results, args);
    }
    if let Some(bulk) = bulk {
        bulk.print();
    }
    for report in &messaging {
        report.print(args.concurrency, args.duration);
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo server's scenarios and the bulk invitation, which share one server.
async fn demo_server_runs(
    binary: &Path,
    args: &BenchArgs,
    sink: &smtp::SmtpSink,
) -> Result<(Vec<(Scenario, Measurement)>, Option<bulk::BulkFigures>)> {
    let data = TempDir::new("portal-bench")?;
    let address = free_loopback_address()?;
    let mut server = Server::start(binary, address, data.path(), sink.address)?;
    server.wait_until_healthy().await?;

    let token = match demo_credentials(&server.log_text()) {
        Some((email, password)) => sign_in(address, &email, &password).await,
        None => {
            eprintln!(
                "bench: no demo sign-in found in the server's output and PORTAL_BENCH_EMAIL/PORTAL_BENCH_PASSWORD \
                 unset; skipping the signed-in scenarios"
            );
            None
        }
    };
    let results = if args.runs(Section::Demo) {
        let scenarios = scenarios(token.as_deref());
        eprintln!(
            "bench: {} scenario(s), {} connections, {} s each, against {}",
            scenarios.len(),
            args.concurrency,
            args.duration,
            binary.display()
        );
        measure_all(&mut server, scenarios, args.concurrency, Duration::from_secs(args.duration)).await?
    } else {
        Vec::new()
    };
    let bulk = match (&token, args.runs(Section::Bulk)) {
        (Some(token), true) => {
            let run = bulk::Run { binary, address, data_dir: data.path(), token, patients: args.bulk_patients, sink };
            Some(bulk::measure(&run).await?)
        }
        _ => None,
    };
    server.ensure_running()?;
    Ok((results, bulk))
}

/// Each scenario: one second of warm-up, then `duration` of measurement.
async fn measure_all(
    server: &mut Server,
    scenarios: Vec<Scenario>,
    concurrency: usize,
    duration: Duration,
) -> Result<Vec<(Scenario, Measurement)>> {
    let mut results = Vec::new();
    for scenario in scenarios {
        process::check_interrupted()?;
        eprintln!("bench: {} ...", scenario.name);
        let _ = load::measure(server.address, &scenario, concurrency, WARM_UP).await;
        let measurement = load::measure(server.address, &scenario, concurrency, duration).await;
        process::check_interrupted()?;
        server.ensure_running()?;
        results.push((scenario, measurement));
    }
    Ok(results)
}

/// The scenarios to measure. `/healthz` is the baseline: what the HTTP stack costs with no work.
fn scenarios(token: Option<&str>) -> Vec<Scenario> {
    let mut scenarios = vec![Scenario::get("healthz", "/healthz")];
    match token {
        Some(token) => scenarios.extend(signed_in_scenarios(token)),
        None => eprintln!("bench: not signed in; only the anonymous scenarios run"),
    }
    scenarios
}

/// The scenarios that need a staff session (a bearer token of the demo Super Admin). Add new
/// signed-in reads here as the API grows.
fn signed_in_scenarios(token: &str) -> Vec<Scenario> {
    vec![
        // Session lookup and principal loading alone: the floor under every signed-in request.
        Scenario::get("staff me", "/api/v1/staff/me").with_bearer(token),
        Scenario::get("patient list", "/api/v1/patients").with_bearer(token),
        // Full-text search by a common surname of the demo data.
        Scenario::get("patient search", "/api/v1/patients?q=smith").with_bearer(token),
    ]
}

/// The staff account to sign in with: PORTAL_BENCH_EMAIL and PORTAL_BENCH_PASSWORD if set, else the
/// Super Admin that `portal demo` prints once when it seeds (its password is random), e.g.
/// `  Super Admin  admin@riverside.example  password: 3xY...`.
fn demo_credentials(server_output: &str) -> Option<(String, String)> {
    if let (Ok(email), Ok(password)) = (std::env::var("PORTAL_BENCH_EMAIL"), std::env::var("PORTAL_BENCH_PASSWORD")) {
        return Some((email, password));
    }
    super_admin_sign_in(server_output)
}

fn super_admin_sign_in(server_output: &str) -> Option<(String, String)> {
    server_output.lines().find_map(|line| {
        let (account, password) = line.split_once("password:")?;
        if !account.contains("Super Admin") {
            return None;
        }
        let email = account.split_whitespace().find(|word| word.contains('@'))?;
        Some((email.to_owned(), password.trim().to_owned()))
    })
}

/// `POST /api/v1/staff/sessions` -> 201 `{"token": ...}`. Optional: on any failure the signed-in
/// scenarios are skipped with a message, and the anonymous ones still run.
async fn sign_in(address: SocketAddr, email: &str, password: &str) -> Option<String> {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    let request =
        render_request("POST", address, "/api/v1/staff/sessions", &[], Some(("application/json", body.as_bytes())));
    let attempt = async {
        let mut connection = Connection::open(address).await.context("connect")?;
        let response = connection.send(&request).await.context("request")?;
        if response.status != 201 {
            bail!("answered {}", response.status);
        }
        let json: serde_json::Value = serde_json::from_slice(&response.body).context("body is not JSON")?;
        json.get("token").and_then(serde_json::Value::as_str).map(str::to_owned).context("no \"token\" in the answer")
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(token)) => {
            eprintln!("bench: signed in as {email}");
            Some(token)
        }
        Ok(Err(error)) => {
            eprintln!("bench: sign-in as {email} failed ({error:#}); skipping the signed-in scenarios");
            None
        }
        Err(_) => {
            eprintln!("bench: sign-in as {email} timed out; skipping the signed-in scenarios");
            None
        }
    }
}

fn free_loopback_address() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("could not bind a free loopback port")?;
    Ok(listener.local_addr()?)
}

/// The demo server; killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
    address: SocketAddr,
}

/// The one place that knows how to start a seeded demo server (the CLI is still settling).
fn server_command(binary: &Path, address: SocketAddr, data_dir: &Path, smtp: SocketAddr) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["demo", "--bind", &address.to_string()])
        .env("PORTAL_DATABASE_URL", database_url(data_dir))
        // Plain SMTP to the loopback sink: what is measured is Portal's worker, not TLS.
        .env("PORTAL_MAIL_URL", format!("smtp://{smtp}?tls=none"));
    command
}

/// The bench database, for the server and for the `portal import` run beside it.
fn database_url(data_dir: &Path) -> String {
    format!("sqlite://{}/bench.db", data_dir.display())
}

impl Server {
    fn start(binary: &Path, address: SocketAddr, data_dir: &Path, smtp: SocketAddr) -> Result<Self> {
        Self::spawn(server_command(binary, address, data_dir, smtp), address, data_dir.join("server.log"))
    }

    /// Starts `command`, a `portal` that will serve on `address`, its output going to `log`.
    fn spawn(mut command: Command, address: SocketAddr, log: PathBuf) -> Result<Self> {
        let log_file = File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: a Ctrl-C reaches xtask, which then kills the server itself.
            .process_group(0);
        eprintln!("$ {}", process::describe(&command));
        let child =
            command.spawn().with_context(|| format!("could not start {}", command.get_program().to_string_lossy()))?;
        Ok(Self { child, log, address })
    }

    async fn wait_until_healthy(&mut self) -> Result<()> {
        let request = render_request("GET", self.address, "/healthz", &[], None);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            self.ensure_running()?;
            process::check_interrupted()?;
            let probe = async {
                let mut connection = Connection::open(self.address).await?;
                connection.send(&request).await
            };
            if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), probe).await
                && response.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not answer GET /healthz with 200 within {} s; its log:\n{}",
                    STARTUP_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the server exited ({status}); its log:\n{}", self.log_tail());
        }
        Ok(())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: the database is a throwaway, there is nothing to shut down cleanly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A latency in milliseconds for the tables.
fn millis(latency: Option<Duration>) -> String {
    latency.map_or_else(|| "-".to_owned(), |latency| format!("{:.2}", latency.as_secs_f64() * 1000.0))
}

fn print_table(results: &[(Scenario, Measurement)], args: &BenchArgs) {
    println!("\n{} connections, {} s per scenario, loopback\n", args.concurrency, args.duration);
    println!("| scenario | requests/s | p50 (ms) | p99 (ms) | non-2xx | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (scenario, measurement) in results {
        println!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            scenario.name,
            measurement.requests_per_second(),
            millis(measurement.latency(0.50)),
            millis(measurement.latency(0.99)),
            measurement.non_2xx,
            measurement.errors
        );
    }
    if results.iter().any(|(_, m)| m.non_2xx > 0 || m.errors > 0) {
        eprintln!("bench: warning: some requests failed; their figures measure the failure, not the work");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_super_admin_in_the_demo_output() {
        let output = "Demo clinic created: 2 locations, 10 staff, 500 patients.\n\
                      Sign in at /staff/sign-in (these passwords are shown only now):\n\
                      \x20 Super Admin  admin@riverside.example  password: s3cret-Pa55\n\
                      \x20 Front desk   frontdesk@riverside.example  password: other\n";
        assert_eq!(super_admin_sign_in(output), Some(("admin@riverside.example".to_owned(), "s3cret-Pa55".to_owned())));
        assert_eq!(super_admin_sign_in("Demo data already present (use --reset to start over)."), None);
    }
}
