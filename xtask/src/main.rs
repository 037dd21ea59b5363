//! Project automation for Portal: what plain `cargo` cannot do on its own.
//!
//! - `cargo xtask test`  — the whole suite on SQLite, on a throwaway PostgreSQL, then the browser tests.
//! - `cargo xtask ci`    — `cargo fmt --check`, `cargo clippy -D warnings`, then `test`.
//! - `cargo xtask bench` — a release build of `portal`, a demo server and a small HTTP load generator.
//!
//! See `docs/testing.md` for what each pass does and the environment variables involved.

mod bench;
mod postgres;
mod process;
mod summary;
mod tempdir;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "Portal project automation", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the test suite on SQLite, on PostgreSQL and in a browser.
    Test(test::TestArgs),
    /// `cargo fmt --check`, `cargo clippy -D warnings`, then everything `test` runs.
    Ci(test::TestArgs),
    /// Build `portal` in release, start a demo server and measure it under load.
    Bench(bench::BenchArgs),
    /// Start and stop a throwaway PostgreSQL cluster, printing its URL (checks the harness itself).
    #[command(hide = true)]
    PgCheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Installed before any child starts, so that Ctrl-C or a CI timeout's SIGTERM reaches our cleanup
    // (stopping PostgreSQL, killing the bench server) instead of killing xtask outright.
    process::install_signal_handlers();

    let result = match cli.command {
        Command::Test(args) => test::run(&args, false),
        Command::Ci(args) => test::run(&args, true),
        Command::Bench(args) => bench::run(&args),
        Command::PgCheck => postgres::self_check(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            if process::interrupted() { ExitCode::from(130) } else { ExitCode::FAILURE }
        }
    }
}

/// The workspace root, whatever directory `cargo xtask` was started from.
pub fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the root; CARGO_MANIFEST_DIR is fixed at compile time.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo that launched us (set by `cargo run`), so that a pinned toolchain is honoured.
pub fn cargo() -> std::process::Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// `CI=true` turns "tool missing, pass skipped" into a failure: CI must not go green by skipping.
pub fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        value.eq_ignore_ascii_case("true") || value == "1"
    })
}

/// The first executable called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// What to tell people who lack a tool; one line, the same everywhere.
pub const INSTALL_HINT: &str = "apt-get install postgresql chromium chromium-driver";
