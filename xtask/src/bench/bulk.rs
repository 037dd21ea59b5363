//! The bulk-invitation run (issue: "Enqueueing a bulk invitation of 10,000 patients takes seconds
//! and never stalls other requests; the worker delivers the e-mails").
//!
//! Imports N patients with an e-mail address and a ZIP code through `portal import patients`, starts
//! one Onboarding Tool job that enables and invites all of them (`POST /api/v1/onboarding/jobs`),
//! and measures: patients enqueued per second (job start to the job's "finished"), e-mails delivered
//! per second to the loopback SMTP sink (job start to the last message), and the latency of a
//! signed-in request (`GET /api/v1/staff/me`) probed every 20 ms meanwhile.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::http::{Connection, render_request};
use super::smtp::SmtpSink;
use crate::process;

/// The last name every imported patient shares, which is also the job's name filter.
const SURNAME: &str = "Bulkbench";
/// The longest the whole run may take before the bench gives up on it.
const DEADLINE: Duration = Duration::from_secs(900);

pub struct Run<'a> {
    pub binary: &'a Path,
    pub address: SocketAddr,
    pub data_dir: &'a Path,
    pub token: &'a str,
    pub patients: usize,
    pub sink: &'a SmtpSink,
}

pub struct BulkFigures {
    patients: usize,
    import: Duration,
    sent: u64,
    enqueue: Duration,
    deliver: Duration,
    probe: Vec<Duration>,
}

/// A roster of `n` patients at the demo's first location, each with an e-mail address and a ZIP code
/// (what enabling needs).
fn roster(n: usize) -> String {
    let mut csv = String::from("first_name,last_name,date_of_birth,email,zip,location\n");
    for i in 0..n {
        let _ = writeln!(
            csv,
            "Pat{i},{SURNAME},{}-{:02}-{:02},bulk{i}@bench.example,{:05},Riverside Downtown",
            1940 + i % 70,
            1 + i % 12,
            1 + i % 28,
            10_000 + i % 80_000
        );
    }
    csv
}

pub async fn measure(run: &Run<'_>) -> Result<BulkFigures> {
    eprintln!("bench: bulk invitation of {} patients ...", run.patients);
    let file = run.data_dir.join("bulk.csv");
    std::fs::write(&file, roster(run.patients)).with_context(|| format!("could not write {}", file.display()))?;
    let started = Instant::now();
    let mut import = Command::new(run.binary);
    import.args(["import", "patients"]).arg(&file).env("PORTAL_DATABASE_URL", super::database_url(run.data_dir));
    process::run_ok(&mut import)?;
    let import_time = started.elapsed();

    let body = serde_json::json!({ "filter": { "q": SURNAME }, "enable": true, "invite": true }).to_string();
    let before = run.sink.received();
    let started = Instant::now();
    let job = call(run, "POST", "/api/v1/onboarding/jobs", Some(&body)).await?;
    ensure!(job.0 == 202 || job.0 == 201, "starting the job answered {}: {}", job.0, job.1);
    let id = job.1["job_id"].as_str().or_else(|| job.1["id"].as_str()).context("no job id in the answer")?.to_owned();

    // Probe a signed-in request while the job runs and the worker delivers.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (address, token, stop) = (run.address, run.token.to_owned(), stop.clone());
        tokio::spawn(async move { probe(address, &token, &stop).await })
    };
    let mut enqueue = None;
    let mut sent = 0u64;
    let mut deliver = None;
    while deliver.is_none() {
        if started.elapsed() > DEADLINE {
            stop.store(true, Ordering::Relaxed);
            bail!("the bulk run did not finish within {} s", DEADLINE.as_secs());
        }
        process::check_interrupted()?;
        if enqueue.is_none() {
            let (status, progress) = call(run, "GET", &format!("/api/v1/onboarding/jobs/{id}"), None).await?;
            ensure!(status == 200, "job progress answered {status}: {progress}");
            match progress["status"].as_str() {
                Some("running") => {}
                Some("finished") => {
                    enqueue = Some(started.elapsed());
                    sent = progress["sent"].as_u64().unwrap_or(0);
                    ensure!(sent > 0, "the job sent nothing: {progress}");
                }
                other => bail!("the job ended {other:?}: {progress}"),
            }
        }
        if enqueue.is_some() && run.sink.received() - before >= sent {
            deliver = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let probe = probe.await.unwrap_or_default();
    Ok(BulkFigures {
        patients: run.patients,
        import: import_time,
        sent,
        enqueue: enqueue.unwrap_or_default(),
        deliver: deliver.unwrap_or_default(),
        probe,
    })
}

/// `GET /api/v1/staff/me` every 20 ms until `stop`; the latencies seen (up to the first failure).
async fn probe(address: SocketAddr, token: &str, stop: &AtomicBool) -> Vec<Duration> {
    let request = render_request(
        "GET",
        address,
        "/api/v1/staff/me",
        &[("Authorization".into(), format!("Bearer {token}"))],
        None,
    );
    let mut seen = Vec::new();
    let Ok(mut connection) = Connection::open(address).await else { return seen };
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        match connection.send(&request).await {
            Ok(r) if r.status == 200 => seen.push(t.elapsed()),
            _ => return seen,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

async fn call(run: &Run<'_>, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Value)> {
    let headers = [("Authorization".to_owned(), format!("Bearer {}", run.token))];
    let request = render_request(method, run.address, path, &headers, body.map(|b| ("application/json", b.as_bytes())));
    let mut connection = Connection::open(run.address).await.context("connect")?;
    let response = tokio::time::timeout(Duration::from_secs(60), connection.send(&request))
        .await
        .context("timed out")?
        .context("request")?;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Ok((response.status, json))
}

impl BulkFigures {
    pub fn print(&self) {
        let per_second = |n: f64, d: Duration| n / d.as_secs_f64().max(f64::EPSILON);
        let mut probe = self.probe.clone();
        probe.sort();
        let quantile = |q: f64| {
            probe
                .get(((q * probe.len() as f64).ceil() as usize).saturating_sub(1).min(probe.len().saturating_sub(1)))
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
        };
        println!("\nbulk invitation: {} patients imported in {:.1} s\n", self.patients, self.import.as_secs_f64());
        println!("| figure | value |");
        println!("|---|---:|");
        println!("| invitations sent by the job | {} |", self.sent);
        println!("| job time (enable + invite, enqueued) | {:.2} s |", self.enqueue.as_secs_f64());
        println!("| patients enqueued per second | {:.0} |", per_second(self.sent as f64, self.enqueue));
        println!("| all e-mails delivered after | {:.2} s |", self.deliver.as_secs_f64());
        println!("| e-mails delivered per second | {:.0} |", per_second(self.sent as f64, self.deliver));
        println!(
            "| staff me during the run: probes / p50 / p99 / max (ms) | {} / {} / {} / {} |",
            probe.len(),
            quantile(0.5),
            quantile(0.99),
            quantile(1.0)
        );
    }
}
