//! The staff-notifications run (issue 6): 10,000 portal events that match five rules each,
//! delivered as toasts to 1,000 connected staff browsers (Server-Sent Events) and as e-mails,
//! on each backend. Reported: events per second, toast latency (p50/p99/max), e-mails
//! delivered, and the server's memory per connected client.
//!
//! For each backend:
//! 1. `portal bench-seed notifications` loads a clinic: `--notification-clients` clinicians, each
//!    with a session whose bearer token it writes to a file; one patient per event, with one of
//!    the clinicians (in turn) on the care team; five rules on Portal Registration Completed, toast
//!    and e-mail, to the care team; and one registration event per patient, parked in the outbox.
//!    Each event thus becomes five notifications for one clinician, and the toasts fall evenly
//!    on all the clients (five per event, 50 per client with the defaults).
//! 2. `portal serve` on that database, with its worker, e-mailing the loopback SMTP sink.
//! 3. Its resident memory (`VmRSS`), then one SSE client per clinician
//!    (`GET /notifications/stream` with the token; a raw HTTP/1.1 reader, see [`client`]),
//!    two seconds to settle, its memory again: the difference per client is the figure.
//! 4. `portal bench-seed notifications --release-events` makes every parked event due in one
//!    transaction, as if 10,000 registrations had just committed. This is the honest way in:
//!    the events reach the worker through the outbox exactly as production's do (claimed under a
//!    lease, rules evaluated, notifications and their e-mails written in one transaction, toasts
//!    signalled on commit), and injecting them costs the server nothing, so the figures are the
//!    delivery's own; submitting them through the API would measure the sign-up path as well.
//! 5. Until every toast reached its client and every e-mail the sink: events per second (from
//!    the release to the last toast, and to the last e-mail); toast latency, twice:
//!    - from the notification's time (its `created_at`, read back through
//!      `GET /api/v1/notifications` as each clinician, since the toast's JSON carries its id but
//!      no time) to the toast's arrival at its client: what a person at a screen waits once the
//!      event's turn came. The goal (p99 under 500 ms) is judged on this one;
//!    - from the release to the arrival: it includes the wait behind the other events of the
//!      burst, so its p99 is close to the whole run's length, reported for what it is.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Server;
use super::free_loopback_address;
use super::http::{Connection, render_request};
use super::messaging::Backend;
use super::smtp::SmtpSink;
use crate::postgres::{Binaries, Cluster};
use crate::process;
use crate::tempdir::TempDir;

/// The goal for the toast latency's p99.
const TOAST_P99_GOAL: Duration = Duration::from_millis(500);
/// Like the messaging run's cluster: durable, sized like a small server.
const POSTGRES_SETTINGS: &[(&str, &str)] =
    &[("shared_buffers", "512MB"), ("max_wal_size", "4GB"), ("max_connections", "100")];
/// How long the clients may take to connect, and the delivery to finish, before the run gives
/// up and reports what it got.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(1200);

pub struct Run<'a> {
    pub binary: &'a Path,
    pub events: u32,
    pub clients: u32,
    /// `None`: both.
    pub backend: Option<Backend>,
    pub sink: &'a SmtpSink,
}

struct BackendReport {
    backend: Backend,
    seed: Value,
    load: Duration,
    clients: usize,
    connect: Duration,
    rss_before_kib: u64,
    rss_connected_kib: u64,
    rss_after_kib: u64,
    expected: u64,
    toasts: u64,
    emails: u64,
    client_errors: usize,
    /// From the release to the last toast / the last e-mail (`None`: not all arrived).
    toasts_done: Option<Duration>,
    emails_done: Option<Duration>,
    waited: Duration,
    /// Seconds, notification time to arrival, sorted.
    fan_out: Vec<f64>,
    /// Seconds, release to arrival, sorted.
    end_to_end: Vec<f64>,
}

/// Runs each backend and prints its table as soon as it is done.
pub async fn run(run: &Run<'_>) -> Result<()> {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if run.backend.is_some_and(|only| only != backend) {
            continue;
        }
        process::check_interrupted()?;
        eprintln!("bench: staff notifications on {backend:?} ...");
        let dir = TempDir::new("portal-bench-notifications")?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}/notifications.db", dir.path().display());
                // At once: a run of many minutes must not lose one backend's figures when the
                // next one fails.
                on_database(run, backend, &url, dir.path()).await?.print();
            }
            Backend::Postgres => {
                let Some(binaries) = Binaries::find() else {
                    eprintln!(
                        "bench: initdb/pg_ctl not found; notifications on PostgreSQL skipped ({})",
                        crate::INSTALL_HINT
                    );
                    continue;
                };
                // Declared after `dir`: dropped (stopped) before it, after the server.
                let cluster = Cluster::start_with(&binaries, POSTGRES_SETTINGS)?;
                on_database(run, backend, &cluster.url, dir.path()).await?.print();
            }
        }
    }
    Ok(())
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `portal bench-seed notifications ARGS` against `url`; its JSON line. Its log goes to
/// the terminal.
fn bench_seed(binary: &Path, url: &str, args: &[String], out_path: &Path) -> Result<Value> {
    let out = std::fs::File::create(out_path).with_context(|| format!("could not create {}", out_path.display()))?;
    let mut command = Command::new(binary);
    command
        .args(["bench-seed", "notifications"])
        .args(args)
        .env("PORTAL_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out);
    tokio::task::block_in_place(|| process::run_ok(&mut command))?;
    let printed = std::fs::read_to_string(out_path)?;
    let line = printed.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the loader printed no JSON")?;
    serde_json::from_str(line).context("the loader's JSON line")
}

/// The resident memory of a process, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

/// What the clients saw: (notification id, arrival as Unix seconds).
#[derive(Default)]
struct Seen {
    toasts: Mutex<Vec<(String, f64)>>,
    count: AtomicU64,
    connected: AtomicUsize,
    errors: AtomicUsize,
    /// The first few errors, for the log.
    first_error: Mutex<Option<String>>,
}

async fn on_database(run: &Run<'_>, backend: Backend, url: &str, dir: &Path) -> Result<BackendReport> {
    let tokens_path = dir.join("tokens.txt");
    let started = Instant::now();
    let seed = bench_seed(
        run.binary,
        url,
        &[
            "--staff".into(),
            run.clients.to_string(),
            "--events".into(),
            run.events.to_string(),
            "--tokens".into(),
            tokens_path.display().to_string(),
        ],
        &dir.join("seed.json"),
    )?;
    let load = started.elapsed();
    let tokens: Vec<String> =
        std::fs::read_to_string(&tokens_path)?.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let per_event = seed["notifications_per_event"].as_u64().unwrap_or(5);
    let expected = u64::from(run.events) * per_event;

    let address = free_loopback_address()?;
    let mut command = Command::new(run.binary);
    command
        .args(["serve", "--bind", &address.to_string()])
        .env("PORTAL_DATABASE_URL", url)
        .env("PORTAL_MAIL_URL", format!("smtp://{}?tls=none", run.sink.address))
        .env("RUST_LOG", "warn");
    let mut server = Server::spawn(command, address, dir.join("server.log"))?;
    server.wait_until_healthy().await?;
    let pid = server.child.id();
    // Settled after start-up (migrations checked, pools warm).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_kib = rss_kib(pid)?;

    let seen = Arc::new(Seen::default());
    let connect_started = Instant::now();
    let mut clients = Vec::with_capacity(tokens.len());
    for token in &tokens {
        let (seen, token) = (seen.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            if let Err(e) = client(address, &token, &seen).await {
                seen.errors.fetch_add(1, Ordering::Relaxed);
                seen.first_error.lock().unwrap().get_or_insert_with(|| format!("{e:#}"));
            }
        }));
        // A few at a time: a thousand simultaneous connects would overflow the listen backlog.
        if clients.len() % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    while seen.connected.load(Ordering::Relaxed) + seen.errors.load(Ordering::Relaxed) < tokens.len() {
        server.ensure_running()?;
        if connect_started.elapsed() > CONNECT_TIMEOUT {
            bail!("only {} of {} clients connected", seen.connected.load(Ordering::Relaxed), tokens.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect = connect_started.elapsed();
    let connected = seen.connected.load(Ordering::Relaxed);
    if let Some(e) = seen.first_error.lock().unwrap().as_ref() {
        eprintln!("bench: {} client(s) failed; the first: {e}", seen.errors.load(Ordering::Relaxed));
    }
    // The streams' first look for pending toasts (none yet) is over by then.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected_kib = rss_kib(pid)?;
    eprintln!("bench: {connected} SSE clients connected in {:.1} s", connect.as_secs_f64());

    let emails_before = run.sink.received();
    let released = bench_seed(run.binary, url, &["--release-events".into()], &dir.join("release.json"))?;
    let released_at = released["released_at_unix"].as_f64().context("no released_at_unix")?;
    let release_instant = Instant::now();
    eprintln!("bench: {} events released", released["released"]);

    let (mut toasts_done, mut emails_done) = (None, None);
    let mut last_progress = (0, 0, Instant::now());
    loop {
        server.ensure_running()?;
        process::check_interrupted()?;
        let toasts = seen.count.load(Ordering::Relaxed);
        let emails = run.sink.received() - emails_before;
        if toasts_done.is_none() && toasts >= expected {
            toasts_done = Some(release_instant.elapsed());
        }
        if emails_done.is_none() && emails >= expected {
            emails_done = Some(release_instant.elapsed());
        }
        if toasts_done.is_some() && emails_done.is_some() {
            break;
        }
        if (toasts, emails) != (last_progress.0, last_progress.1) {
            last_progress = (toasts, emails, Instant::now());
        } else if last_progress.2.elapsed() > Duration::from_secs(60) || release_instant.elapsed() > DELIVERY_TIMEOUT {
            eprintln!("bench: no progress for a minute (or out of time): {toasts} toasts, {emails} e-mails");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let waited = release_instant.elapsed();
    let rss_after_kib = rss_kib(pid)?;
    let toasts: Vec<(String, f64)> = seen.toasts.lock().unwrap().clone();
    let created = notification_times(address, &tokens).await;
    for client in &clients {
        client.abort();
    }
    let mut fan_out: Vec<f64> =
        toasts.iter().filter_map(|(id, at)| created.get(id).map(|c| (at - c).max(0.0))).collect();
    let mut end_to_end: Vec<f64> = toasts.iter().map(|(_, at)| (at - released_at).max(0.0)).collect();
    fan_out.sort_by(f64::total_cmp);
    end_to_end.sort_by(f64::total_cmp);
    let report = BackendReport {
        backend,
        seed,
        load,
        clients: connected,
        connect,
        rss_before_kib,
        rss_connected_kib,
        rss_after_kib,
        expected,
        toasts: seen.count.load(Ordering::Relaxed),
        emails: run.sink.received() - emails_before,
        client_errors: seen.errors.load(Ordering::Relaxed),
        toasts_done,
        emails_done,
        waited,
        fan_out,
        end_to_end,
    };
    drop(server);
    Ok(report)
}

/// One staff browser's toast stream: connects, counts itself connected on the `200`, then
/// records each `toast` event's id and arrival time until the connection ends. A raw HTTP/1.1
/// reader of the chunked body: a thousand of them must cost the machine little, since the
/// server under test shares its two cores.
async fn client(address: SocketAddr, token: &str, seen: &Seen) -> Result<()> {
    let mut stream = TcpStream::connect(address).await.context("connect")?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /notifications/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        if stream.read_buf(&mut buffer).await? == 0 {
            bail!("closed before the response head");
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!("answered {status}");
    }
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        bail!("the stream is not chunked: {head}");
    }
    seen.connected.fetch_add(1, Ordering::Relaxed);
    buffer.drain(..head_end + 4);
    // The body: chunks (size line, data, CRLF) whose data is the event stream's text.
    let mut events = String::new();
    loop {
        while let Some(line_end) = find(&buffer, b"\r\n") {
            let size = std::str::from_utf8(&buffer[..line_end])
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or_default().trim(), 16).ok());
            let Some(size) = size else { bail!("bad chunk size") };
            if size == 0 {
                return Ok(());
            }
            if buffer.len() < line_end + 2 + size + 2 {
                break;
            }
            events.push_str(&String::from_utf8_lossy(&buffer[line_end + 2..line_end + 2 + size]));
            buffer.drain(..line_end + 2 + size + 2);
        }
        let now = unix_now();
        while let Some(end) = events.find("\n\n") {
            let block: String = events.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: toast")
                && let Some(id) = block.lines().find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            {
                seen.toasts.lock().unwrap().push((id.trim().to_owned(), now));
                seen.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        if stream.read_buf(&mut buffer).await? == 0 {
            return Ok(());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every notification's `created_at` (Unix seconds), read as each clinician through the API
/// (`GET /api/v1/notifications`, pages of 50 by `before`), eight clinicians at a time. A page
/// boundary that falls inside a group of notifications sharing one time skips the rest of that
/// group (the cursor is a time); the report says how many toasts had a time to compare.
async fn notification_times(address: SocketAddr, tokens: &[String]) -> HashMap<String, f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(tokens.to_vec());
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (next, tokens) = (next.clone(), tokens.clone());
        workers.push(tokio::spawn(async move {
            let mut out = HashMap::new();
            let Ok(mut connection) = Connection::open(address).await else { return out };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { return out };
                let headers = [("Authorization".to_owned(), format!("Bearer {token}"))];
                let mut before: Option<String> = None;
                loop {
                    let path = match &before {
                        Some(b) => format!("/api/v1/notifications?before={}", b.replace('+', "%2B")),
                        None => "/api/v1/notifications".to_owned(),
                    };
                    let request = render_request("GET", address, &path, &headers, None);
                    let Ok(response) = connection.send(&request).await else { return out };
                    let Ok(page) = serde_json::from_slice::<Value>(&response.body) else { break };
                    for n in page["notifications"].as_array().into_iter().flatten() {
                        if let (Some(id), Some(at)) = (n["id"].as_str(), n["created_at"].as_str().and_then(unix_of)) {
                            out.insert(id.to_owned(), at);
                        }
                    }
                    match page["next_before"].as_str() {
                        Some(b) => before = Some(b.to_owned()),
                        None => break,
                    }
                }
            }
        }));
    }
    let mut all = HashMap::new();
    for w in workers {
        if let Ok(part) = w.await {
            all.extend(part);
        }
    }
    all
}

/// Unix seconds of an RFC 3339 UTC time such as `2026-12-05T10:11:12.123456Z` (what the API
/// writes; other offsets are not expected and give `None`).
fn unix_of(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let (h, min) = (t.next()?.parse::<i64>().ok()?, t.next()?.parse::<i64>().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), |s| format!("{:.0}", s * 1000.0))
}

impl BackendReport {
    fn print(&self) {
        let backend = match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        let events = self.seed["events"].as_u64().unwrap_or(0);
        println!("\n### Staff notifications on {backend}\n");
        println!(
            "{events} registration events, five rules each (toast and e-mail, to the patient's clinician): {} \
             notifications; {} staff, each with an open toast stream; loaded in {:.1} s by `portal bench-seed \
             notifications`; clients connected in {:.1} s.\n",
            self.expected,
            self.clients,
            self.load.as_secs_f64(),
            self.connect.as_secs_f64()
        );
        let per_second = |n: u64, took: Option<Duration>| {
            took.map_or_else(
                || format!("not all within {:.0} s", self.waited.as_secs_f64()),
                |t| format!("{:.0}", n as f64 / t.as_secs_f64().max(f64::EPSILON)),
            )
        };
        let secs = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()));
        let p99 = quantile(&self.fan_out, 0.99);
        let met = match p99 {
            Some(p) if self.toasts_done.is_some() => {
                if p < TOAST_P99_GOAL.as_secs_f64() {
                    "met"
                } else {
                    "**NOT met**"
                }
            }
            _ => "**NOT met** (toasts missing)",
        };
        let per_client =
            self.rss_connected_kib.saturating_sub(self.rss_before_kib) as f64 / (self.clients.max(1) as f64);
        println!("| figure | value |");
        println!("|---|---:|");
        println!("| events/s, release to last toast | {} |", per_second(events, self.toasts_done));
        let everything = match (self.toasts_done, self.emails_done) {
            (Some(t), Some(e)) => Some(t.max(e)),
            _ => None,
        };
        println!(
            "| events/s, release to everything delivered (toasts and e-mails) | {} |",
            per_second(events, everything)
        );
        println!("| toasts received / expected | {} / {} |", self.toasts, self.expected);
        println!("| e-mails delivered to the sink / expected | {} / {} |", self.emails, self.expected);
        println!("| e-mails/s | {} |", per_second(self.emails, self.emails_done));
        println!("| last toast, last e-mail after (s) | {} / {} |", secs(self.toasts_done), secs(self.emails_done));
        println!(
            "| toast latency, notification → client: p50 / p99 / max (ms), over {} toasts | {} / {} / {} |",
            self.fan_out.len(),
            ms(quantile(&self.fan_out, 0.50)),
            ms(p99),
            ms(self.fan_out.last().copied())
        );
        println!("| goal: p99 < {} ms | {met} |", TOAST_P99_GOAL.as_millis());
        println!(
            "| toast latency, release → client (includes the wait behind the burst): p50 / p99 / max (ms) | {} / {} / {} |",
            ms(quantile(&self.end_to_end, 0.50)),
            ms(quantile(&self.end_to_end, 0.99)),
            ms(self.end_to_end.last().copied())
        );
        println!(
            "| server RSS: before clients / {} clients connected / after delivery (MiB) | {:.1} / {:.1} / {:.1} |",
            self.clients,
            self.rss_before_kib as f64 / 1024.0,
            self.rss_connected_kib as f64 / 1024.0,
            self.rss_after_kib as f64 / 1024.0
        );
        println!("| memory per connected client (KiB) | {per_client:.1} |");
        if self.client_errors > 0 {
            println!("| clients that failed | {} |", self.client_errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_apis_times() {
        assert_eq!(unix_of("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_of("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
        assert_eq!(unix_of("2026-12-05T10:11:12+01:00"), None);
    }

    #[test]
    fn quantiles_pick_the_sample_at_or_above() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((quantile(&s, 0.5), quantile(&s, 0.99), quantile(&s, 1.0)), (Some(50.0), Some(99.0), Some(100.0)));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
