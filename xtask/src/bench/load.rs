//! The load generator: C keep-alive connections, each sending its next request as soon as the last
//! answer arrived (closed loop, like `wrk`), for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::http::{Connection, render_request};
use crate::process;

/// A request that never answers counts as an error instead of stalling the run past its time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One named request, sent over and over; or a list of requests that differ only in their path
/// (several conversations, several search words), taken in turn.
pub struct Scenario {
    pub name: String,
    pub method: &'static str,
    pub paths: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// A JSON body, the same for every request (each POST is a new message, say).
    pub json: Option<String>,
}

impl Scenario {
    pub fn get(name: &str, path: &str) -> Self {
        Self::get_each(name, vec![path.to_owned()])
    }

    /// GET `paths` in turn. Connection `i` starts at path `i` and steps by the number of
    /// connections, so that concurrent requests go to different paths (different rows).
    pub fn get_each(name: &str, paths: Vec<String>) -> Self {
        Self { name: name.to_owned(), method: "GET", paths, headers: Vec::new(), json: None }
    }

    /// POST `json` to `paths` in turn (see [`Scenario::get_each`]).
    pub fn post_json_each(name: &str, paths: Vec<String>, json: String) -> Self {
        Self { name: name.to_owned(), method: "POST", paths, headers: Vec::new(), json: Some(json) }
    }

    pub fn with_bearer(mut self, token: &str) -> Self {
        self.headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        self
    }

    /// Every request of the scenario, rendered once.
    pub fn render(&self, address: SocketAddr) -> Vec<Vec<u8>> {
        let body = self.json.as_ref().map(|json| ("application/json", json.as_bytes()));
        self.paths.iter().map(|path| render_request(self.method, address, path, &self.headers, body)).collect()
    }
}

#[derive(Default)]
pub struct Measurement {
    pub requests: u64,
    pub non_2xx: u64,
    /// Connection failures, timeouts and unparseable responses.
    pub errors: u64,
    pub elapsed: Duration,
    /// Microseconds per answered request, sorted after the run.
    latencies: Vec<u32>,
}

impl Measurement {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency below which `quantile` (0..=1) of the answered requests fell (nearest rank).
    pub fn latency(&self, quantile: f64) -> Option<Duration> {
        let last = self.latencies.len().checked_sub(1)?;
        let rank = ((quantile * self.latencies.len() as f64).ceil() as usize).saturating_sub(1).min(last);
        Some(Duration::from_micros(u64::from(self.latencies[rank])))
    }

    fn absorb(&mut self, other: Self) {
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
    }
}

pub async fn measure(address: SocketAddr, scenario: &Scenario, concurrency: usize, duration: Duration) -> Measurement {
    let requests = Arc::new(scenario.render(address));
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|i| tokio::spawn(worker(address, Arc::clone(&requests), Turns { next: i, step: concurrency }, deadline)))
        .collect();
    let mut total = Measurement::default();
    for worker in workers {
        match worker.await {
            Ok(tally) => total.absorb(tally),
            Err(_) => total.errors += 1,
        }
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    total
}

/// Which of a scenario's requests a connection sends next.
struct Turns {
    next: usize,
    step: usize,
}

async fn worker(address: SocketAddr, requests: Arc<Vec<Vec<u8>>>, mut turns: Turns, deadline: Instant) -> Measurement {
    let mut tally = Measurement::default();
    if requests.is_empty() {
        return tally;
    }
    let mut connection: Option<Connection> = None;
    while Instant::now() < deadline && !process::interrupted() {
        if connection.is_none() {
            match tokio::time::timeout(REQUEST_TIMEOUT, Connection::open(address)).await {
                Ok(Ok(opened)) => connection = Some(opened),
                _ => {
                    tally.errors += 1;
                    // Do not spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        let request = &requests[turns.next % requests.len()];
        turns.next = turns.next.wrapping_add(turns.step);
        let sent = Instant::now();
        match tokio::time::timeout(REQUEST_TIMEOUT, open.send(request)).await {
            Ok(Ok(response)) => {
                let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                tally.latencies.push(micros);
                tally.requests += 1;
                if !(200..300).contains(&response.status) {
                    tally.non_2xx += 1;
                }
                if !response.keep_alive {
                    connection = None;
                }
            }
            _ => {
                tally.errors += 1;
                connection = None;
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut measurement = Measurement { latencies: (1..=100).collect(), ..Measurement::default() };
        measurement.latencies.sort_unstable();
        assert_eq!(measurement.latency(0.50), Some(Duration::from_micros(50)));
        assert_eq!(measurement.latency(0.99), Some(Duration::from_micros(99)));
        assert_eq!(measurement.latency(1.0), Some(Duration::from_micros(100)));
        assert_eq!(Measurement::default().latency(0.5), None);
    }
}
