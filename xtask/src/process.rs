//! Running child processes so that a signal to xtask still lets it clean up.
//!
//! xtask handles SIGINT, SIGTERM and SIGHUP itself instead of dying: it records that it was interrupted,
//! forwards the signal to the process group of the child it is waiting for, and lets the normal error
//! path run every `Drop` guard (stopping PostgreSQL, removing temp dirs, killing the bench server).
//! Children get a process group of their own so that the forwarded signal reaches grandchildren too
//! (`cargo test` -> test binaries), also when the signal came from a CI timeout rather than a terminal.
//! A second signal exits at once, without cleanup.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Process group id (= pid) of the long-running child currently being waited for, if any.
static FOREGROUND_CHILD: Mutex<Option<u32>> = Mutex::new(None);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails once a signal has arrived, so that callers stop starting new work.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

pub fn install_signal_handlers() {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(|| {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("xtask: warning: no signal handling ({error}); Ctrl-C may leave PostgreSQL running");
                return;
            }
        };
        runtime.block_on(watch_signals());
    });
    if let Err(error) = spawned {
        eprintln!("xtask: warning: no signal handling ({error}); Ctrl-C may leave PostgreSQL running");
    }
}

async fn watch_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        eprintln!("xtask: warning: could not install signal handlers; Ctrl-C may leave PostgreSQL running");
        return;
    };
    loop {
        let forwarded = tokio::select! {
            _ = int.recv() => "INT",
            _ = term.recv() => "TERM",
            _ = hup.recv() => "TERM",
        };
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("\nxtask: second signal, exiting without cleanup");
            std::process::exit(130);
        }
        eprintln!("\nxtask: interrupted; stopping the running command and cleaning up (signal again to exit at once)");
        let child = *FOREGROUND_CHILD.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(pgid) = child {
            signal_group(pgid, forwarded);
        }
    }
}

/// Sends `signal` to a whole process group. Through `sh` because its `kill` builtin is always there
/// (procps may not be installed) and the workspace forbids the `unsafe` a direct `kill(2)` would need.
pub fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -s {signal} -- -{pgid} 2>/dev/null")])
        .stdin(Stdio::null())
        .status();
}

/// A shell-like rendering of a command, for logs: `ENV=value program arg ...`.
pub fn describe(command: &Command) -> String {
    let mut text = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            let _ = write!(text, "{}={} ", key.to_string_lossy(), shell_quote(&value.to_string_lossy()));
        }
    }
    text.push_str(&shell_quote(&command.get_program().to_string_lossy()));
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&shell_quote(&arg.to_string_lossy()));
    }
    text
}

/// Quotes one word for `sh` (also used to build `su -c` command lines).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Prints and runs a command with inherited stdio, in its own process group so that a signal to xtask
/// can be forwarded to it and everything it started. Returns its exit status (failure is not an error).
pub fn run(command: &mut Command) -> Result<ExitStatus> {
    check_interrupted()?;
    eprintln!("$ {}", describe(command));
    let mut child = command
        .process_group(0)
        .spawn()
        .with_context(|| format!("could not start `{}`", command.get_program().to_string_lossy()))?;
    *FOREGROUND_CHILD.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(child.id());
    let status = child.wait();
    *FOREGROUND_CHILD.lock().unwrap_or_else(|poison| poison.into_inner()) = None;
    let status = status.context("waiting for a child process")?;
    check_interrupted()?;
    Ok(status)
}

/// Runs a command and requires success.
pub fn run_ok(command: &mut Command) -> Result<()> {
    let status = run(command)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs a short command quietly, capturing its output; on failure the error carries what it printed.
pub fn output(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", command.get_program().to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            describe(command),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).context("command printed something that is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_the_shell_would_misread() {
        assert_eq!(shell_quote("initdb"), "initdb");
        assert_eq!(shell_quote("-p 5432"), "'-p 5432'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
