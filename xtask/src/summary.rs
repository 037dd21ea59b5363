//! Passes, their outcomes and the closing summary that people and CI tooling read.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::process;

pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl Outcome {
    /// A missing tool skips its pass, except in CI or when the pass was asked for by name: then it
    /// fails, so that a green run never means "nothing ran".
    pub fn missing(what: &str, must_run: bool) -> Self {
        let reason = format!("{what}; install with `{}`", crate::INSTALL_HINT);
        if must_run || crate::running_in_ci() { Self::Failed(reason) } else { Self::Skipped(reason) }
    }

    pub fn from_status(what: &str, status: std::process::ExitStatus) -> Self {
        if status.success() { Self::Passed } else { Self::Failed(format!("{what} {status}")) }
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Passed => None,
            Self::Failed(reason) | Self::Skipped(reason) => Some(reason),
        }
    }
}

#[derive(Default)]
pub struct Summary {
    rows: Vec<(String, Outcome, Duration)>,
}

impl Summary {
    /// Runs one pass and records how it went. An error inside the pass (a cluster that would not
    /// start, say) fails that pass only; the next pass still runs, unless we were interrupted.
    pub fn run_pass(&mut self, name: &str, pass: impl FnOnce() -> Result<Outcome>) {
        if process::interrupted() {
            self.rows.push((name.to_owned(), Outcome::Skipped("interrupted".into()), Duration::ZERO));
            return;
        }
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let outcome = match pass() {
            Ok(outcome) => outcome,
            Err(_) if process::interrupted() => Outcome::Failed("interrupted".into()),
            Err(error) => Outcome::Failed(format!("{error:#}")),
        };
        let elapsed = started.elapsed();
        // One line per pass as it ends; for a skipped pass this is the line that says what is missing.
        match outcome.reason() {
            Some(reason) => eprintln!("==> {name} {}: {reason}", outcome.label()),
            None => eprintln!("==> {name} {} in {:.1} s", outcome.label(), elapsed.as_secs_f64()),
        }
        self.rows.push((name.to_owned(), outcome, elapsed));
    }

    /// Prints the table and the closing `N passed, N failed, N skipped` line; returns the exit code.
    pub fn finish(self) -> ExitCode {
        let count = |label: &str| self.rows.iter().filter(|(_, outcome, _)| outcome.label() == label).count();
        let (passed, failed, skipped) = (count("passed"), count("failed"), count("skipped"));
        let width = self.rows.iter().map(|(name, _, _)| name.len()).max().unwrap_or(0);
        println!("\nSummary");
        for (name, outcome, elapsed) in &self.rows {
            let reason = outcome
                .reason()
                // Only the first line: a multi-line error was already printed in full above.
                .map(|reason| format!("  ({})", reason.lines().next().unwrap_or_default()))
                .unwrap_or_default();
            println!("  {name:<width$}  {:<7}  {:>7.1} s{reason}", outcome.label(), elapsed.as_secs_f64());
        }
        // CI tooling parses this exact form; keep it the last line of output.
        println!("{passed} passed, {failed} failed, {skipped} skipped");
        if process::interrupted() {
            ExitCode::from(130)
        } else if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}
