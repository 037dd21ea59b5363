//! `cargo xtask bench`: build `portal` in release, start a demo server on loopback, load it with a
//! list of named scenarios and print a Markdown table of throughput and latency.

mod http;
mod load;

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;

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
}

/// How long the demo server may take to seed its data and answer /healthz.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const WARM_UP: Duration = Duration::from_secs(1);

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    ensure!((1..=4096).contains(&args.concurrency), "--concurrency must be between 1 and 4096");
    ensure!((1..=600).contains(&args.duration), "--duration must be between 1 and 600 seconds");
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
    let data = TempDir::new("portal-bench")?;
    let address = free_loopback_address()?;
    let mut server = Server::start(binary, address, data.path())?;
    server.wait_until_healthy().await?;

    let token = sign_in(address).await;
    let scenarios = scenarios(token.as_deref());
    let duration = Duration::from_secs(args.duration);
    eprintln!(
        "bench: {} scenario(s), {} connections, {} s each, against {}",
        scenarios.len(),
        args.concurrency,
        args.duration,
        binary.display()
    );
    let mut results = Vec::new();
    for scenario in &scenarios {
        process::check_interrupted()?;
        eprintln!("bench: {} ...", scenario.name);
        let _ = load::measure(address, scenario, args.concurrency, WARM_UP).await;
        let measurement = load::measure(address, scenario, args.concurrency, duration).await;
        process::check_interrupted()?;
        server.ensure_running()?;
        results.push((scenario, measurement));
    }
    drop(server);

    print_table(&results, args);
    Ok(ExitCode::SUCCESS)
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

/// Hook for the scenarios that need a staff session: add them here as the API grows, e.g.
/// `Scenario::get("patient search", "/api/v1/patients?q=smith").with_bearer(token)`.
fn signed_in_scenarios(_token: &str) -> Vec<Scenario> {
    Vec::new()
}

/// The demo staff account that `portal demo` seeds; override with PORTAL_BENCH_EMAIL and
/// PORTAL_BENCH_PASSWORD if the demo data changes.
fn demo_credentials() -> (String, String) {
    let email = std::env::var("PORTAL_BENCH_EMAIL").unwrap_or_else(|_| "admin@demo.portal.test".into());
    let password = std::env::var("PORTAL_BENCH_PASSWORD").unwrap_or_else(|_| "demo-password".into());
    (email, password)
}

/// `POST /api/v1/staff/sessions` -> 201 `{"token": ...}`. Optional: on any failure the signed-in
/// scenarios are skipped with a message, so the bench works before sign-in exists.
async fn sign_in(address: SocketAddr) -> Option<String> {
    let (email, password) = demo_credentials();
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
fn server_command(binary: &Path, address: SocketAddr, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["demo", "--bind", &address.to_string()])
        .env("PORTAL_DATABASE_URL", format!("sqlite://{}/bench.db", data_dir.display()));
    command
}

impl Server {
    fn start(binary: &Path, address: SocketAddr, data_dir: &Path) -> Result<Self> {
        let log = data_dir.join("server.log");
        let log_file = File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
        let mut command = server_command(binary, address, data_dir);
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: a Ctrl-C reaches xtask, which then kills the server itself.
            .process_group(0);
        eprintln!("$ {}", process::describe(&command));
        let child = command.spawn().with_context(|| format!("could not start {}", binary.display()))?;
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

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
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

fn print_table(results: &[(&Scenario, Measurement)], args: &BenchArgs) {
    let millis = |latency: Option<Duration>| {
        latency.map_or_else(|| "-".to_owned(), |latency| format!("{:.2}", latency.as_secs_f64() * 1000.0))
    };
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
