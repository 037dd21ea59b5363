//! `cargo xtask test` and `cargo xtask ci`.
//!
//! The same `cargo test --workspace` runs once per storage backend (the tests read
//! `PORTAL_TEST_BACKEND`), then the browser tests run alone with Chromium. Passes that need a missing
//! tool are skipped with one line saying what to install, or fail when `CI=true`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Result;
use clap::{Args, ValueEnum};

use crate::postgres::{self, Cluster};
use crate::process;
use crate::summary::{Outcome, Summary};

#[derive(Args)]
pub struct TestArgs {
    /// Run only this backend's pass (the browser pass is governed by --no-browser).
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Skip the browser tests.
    #[arg(long)]
    no_browser: bool,
    /// Passed on to `cargo test`; a second `--` separates arguments for the test binaries,
    /// e.g. `cargo xtask test -- some_filter -- --nocapture`.
    #[arg(last = true)]
    extra: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Environment variables the tests read. Named once here; `docs/testing.md` describes them.
const BACKEND: &str = "PORTAL_TEST_BACKEND";
const POSTGRES_URL: &str = "PORTAL_TEST_POSTGRES_URL";
const BROWSER: &str = "PORTAL_BROWSER";
const CHROMIUM: &str = "PORTAL_CHROMIUM";
const CHROMEDRIVER: &str = "PORTAL_CHROMEDRIVER";

pub fn run(args: &TestArgs, lint_first: bool) -> Result<ExitCode> {
    let extra = ExtraArgs::split(&args.extra);
    let mut summary = Summary::default();

    if lint_first {
        summary.run_pass("fmt", || {
            let status = process::run(crate::cargo().args(["fmt", "--all", "--", "--check"]))?;
            Ok(Outcome::from_status("cargo fmt --check", status))
        });
        summary.run_pass("clippy", || {
            let status =
                process::run(crate::cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
            Ok(Outcome::from_status("cargo clippy", status))
        });
    }
    if args.backend != Some(Backend::Postgres) {
        summary.run_pass("sqlite", || sqlite_pass(&extra));
    }
    if args.backend != Some(Backend::Sqlite) {
        let asked_for = args.backend == Some(Backend::Postgres);
        summary.run_pass("postgres", || postgres_pass(&extra, asked_for));
    }
    if !args.no_browser {
        summary.run_pass("browser", || browser_pass(&extra));
    }
    Ok(summary.finish())
}

/// User arguments split at a second `--`: those before go to cargo, those after to the test binaries.
struct ExtraArgs {
    cargo: Vec<String>,
    harness: Vec<String>,
}

impl ExtraArgs {
    fn split(extra: &[String]) -> Self {
        match extra.iter().position(|arg| arg == "--") {
            Some(at) => Self { cargo: extra[..at].to_vec(), harness: extra[at + 1..].to_vec() },
            None => Self { cargo: extra.to_vec(), harness: Vec::new() },
        }
    }

    /// `cargo test <fixed> <user cargo args> -- <fixed harness args> <user harness args>`.
    fn cargo_test(&self, fixed: &[&str], fixed_harness: &[&str]) -> Command {
        let mut command = crate::cargo();
        command.arg("test").args(fixed).args(&self.cargo);
        if !fixed_harness.is_empty() || !self.harness.is_empty() {
            command.arg("--").args(fixed_harness).args(&self.harness);
        }
        command
    }
}

/// The whole workspace against one backend. `--no-fail-fast`: one failing crate must not hide the
/// results of the others. The browser tests skip themselves unless `PORTAL_BROWSER=1`, which is
/// removed here in case the caller's shell has it.
fn backend_run(extra: &ExtraArgs, backend: &str) -> Command {
    let mut command = extra.cargo_test(&["--workspace", "--no-fail-fast"], &[]);
    command.env(BACKEND, backend).env_remove(BROWSER);
    command
}

fn sqlite_pass(extra: &ExtraArgs) -> Result<Outcome> {
    // Without a PostgreSQL URL around, no test can mistake this pass for a PostgreSQL one.
    let status = process::run(backend_run(extra, "sqlite").env_remove(POSTGRES_URL))?;
    Ok(Outcome::from_status("cargo test", status))
}

fn postgres_pass(extra: &ExtraArgs, asked_for: bool) -> Result<Outcome> {
    // A server the caller provides (e.g. a CI service container) wins over a throwaway cluster.
    if let Ok(url) = std::env::var(POSTGRES_URL)
        && !url.trim().is_empty()
    {
        eprintln!("xtask: using the PostgreSQL server from {POSTGRES_URL}");
        let status = process::run(backend_run(extra, "postgres").env(POSTGRES_URL, &url));
        postgres::drop_leftover_test_databases(&url);
        return Ok(Outcome::from_status("cargo test", status?));
    }
    let Some(binaries) = postgres::Binaries::find() else {
        return Ok(Outcome::missing(
            "PostgreSQL not found (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin)",
            asked_for,
        ));
    };
    let cluster = Cluster::start(&binaries)?;
    eprintln!("xtask: throwaway PostgreSQL cluster at {}", cluster.url);
    let status = process::run(backend_run(extra, "postgres").env(POSTGRES_URL, &cluster.url));
    // Stopped before the result is even looked at; `?` and panics would also drop it.
    drop(cluster);
    Ok(Outcome::from_status("cargo test", status?))
}

fn browser_pass(extra: &ExtraArgs) -> Result<Outcome> {
    let browser_tests = crate::workspace_root().join("tests/tests/browser.rs");
    if !browser_tests.exists() {
        return Ok(Outcome::Skipped("tests/tests/browser.rs does not exist yet".into()));
    }
    let (chromium, chromedriver) = match (find_chromium(), crate::find_on_path("chromedriver")) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        (None, None) => {
            return Ok(Outcome::missing("chromium and chromedriver not found", false));
        }
        (None, Some(_)) => return Ok(Outcome::missing("chromium not found", false)),
        (Some(_), None) => return Ok(Outcome::missing("chromedriver not found", false)),
    };
    // One test at a time: each test drives its own Chromium, and two cores do not run several well.
    let mut command = extra.cargo_test(&["-p", "portal-tests", "--test", "browser"], &["--test-threads=1"]);
    command
        .env(BROWSER, "1")
        .env(CHROMIUM, &chromium)
        .env(CHROMEDRIVER, &chromedriver)
        .env(BACKEND, "sqlite")
        .env_remove(POSTGRES_URL);
    let status = process::run(&mut command)?;
    Ok(Outcome::from_status("cargo test", status))
}

/// Debian's `/usr/bin/chromium` (it matches Debian's chromium-driver), else `chromium` on PATH.
fn find_chromium() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/chromium");
    if crate::is_executable(&debian) {
        return Some(debian);
    }
    crate::find_on_path("chromium")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn rendered(command: &Command) -> Vec<String> {
        command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn extra_arguments_reach_cargo_and_the_harness() {
        let extra = ExtraArgs::split(&strings(&["some_filter", "--", "--nocapture"]));
        let command = extra.cargo_test(&["-p", "portal-tests"], &["--test-threads=1"]);
        assert_eq!(
            rendered(&command),
            ["test", "-p", "portal-tests", "some_filter", "--", "--test-threads=1", "--nocapture"]
        );
    }

    #[test]
    fn no_separator_without_harness_arguments() {
        let extra = ExtraArgs::split(&strings(&["--release"]));
        assert_eq!(rendered(&extra.cargo_test(&["--workspace"], &[])), ["test", "--workspace", "--release"]);
    }
}
