//! A small SMTP server for tests: a real conversation over TCP on 127.0.0.1 (EHLO/HELO, MAIL
//! FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeping what it received so the
//! test can read it: envelope, headers, and the decoded text and HTML parts.
//!
//! It can be told to answer the end of DATA with `451` (the next N messages, or all of them), to
//! wait before answering, and to go down (the port refuses connections) and come back up on
//! the same port.
//!
//! Also compiled into `crates/portal-http/tests/mail_delivery.rs` (through `#[path]`), so it
//! uses only tokio, base64 and std.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA, dot-unstuffed, CRLF line ends.
    pub data: String,
}

#[derive(Default)]
struct State {
    accepted: Mutex<Vec<Received>>,
    /// Messages whose DATA was answered with 451.
    rejected: Mutex<Vec<Received>>,
    fail_next: AtomicU32,
    fail_all: AtomicBool,
    /// Milliseconds to wait after DATA before answering (the message is recorded first).
    reply_delay_ms: AtomicU32,
}

pub struct SmtpServer {
    port: u16,
    state: Arc<State>,
    running: Mutex<Option<Running>>,
}

struct Running {
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl SmtpServer {
    /// A server listening on a free port of 127.0.0.1.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the test SMTP server");
        let port = listener.local_addr().expect("local address").port();
        let server = SmtpServer { port, state: Arc::new(State::default()), running: Mutex::new(None) };
        server.serve(listener);
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT?tls=none`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (state, conns) = (self.state.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = state.clone();
                let handle = tokio::spawn(async move {
                    let _ = converse(stream, state).await;
                });
                conns.lock().unwrap().push(handle);
            }
        });
        *self.running.lock().unwrap() = Some(Running { accept, connections });
    }

    /// Goes down: the port refuses connections and open conversations are cut.
    pub fn stop(&self) {
        if let Some(r) = self.running.lock().unwrap().take() {
            r.accept.abort();
            for c in r.connections.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }

    /// Comes back up on the same port.
    pub async fn restart(&self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen again on port {}: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    /// Answers the end of DATA of the next `n` messages with 451 (they are kept in `rejected`).
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answers every DATA with 451 until told otherwise.
    pub fn fail_all(&self, on: bool) {
        self.state.fail_all.store(on, Ordering::SeqCst);
    }

    pub fn reply_delay(&self, d: Duration) {
        self.state.reply_delay_ms.store(u32::try_from(d.as_millis()).unwrap_or(u32::MAX), Ordering::SeqCst);
    }

    /// Messages accepted (answered 250, or recorded and still waiting for their answer).
    pub fn received(&self) -> Vec<Received> {
        self.state.accepted.lock().unwrap().clone()
    }

    pub fn rejected(&self) -> Vec<Received> {
        self.state.rejected.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages were accepted.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} messages within {timeout:?}, got {}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` messages were rejected.
    pub async fn wait_for_rejected(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.rejected();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "expected {n} rejected messages within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

async fn converse(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 portal-test ESMTP ready\r\n").await?;
    let (mut from, mut rcpt) = (None::<String>, Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-portal-test greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 portal-test\r\n",
            "MAIL" => {
                from = Some(address(&cmd[4..]));
                rcpt.clear();
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" if from.is_some() => {
                rcpt.push(address(&cmd[4..]));
                b"250 2.1.5 OK\r\n"
            }
            "RCPT" => b"503 5.5.1 MAIL first\r\n",
            "DATA" if rcpt.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let message =
                    Received { mail_from: from.take().unwrap_or_default(), rcpt_to: std::mem::take(&mut rcpt), data };
                let fail = state.fail_all.load(Ordering::SeqCst)
                    || state.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if fail {
                    state.rejected.lock().unwrap().push(message);
                } else {
                    state.accepted.lock().unwrap().push(message);
                }
                let delay = state.reply_delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
                }
                if fail { b"451 4.3.0 Try again later\r\n" } else { b"250 2.0.0 Queued\r\n" }
            }
            "RSET" => {
                from = None;
                rcpt.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognised\r\n",
        };
        write.write_all(reply).await?;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a received message
// ---------------------------------------------------------------------------------------------

impl Received {
    /// A top-level header, unfolded and with encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        header_in(head, name)
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").expect("a Message-ID")
    }

    pub fn subject(&self) -> String {
        self.header("Subject").expect("a Subject")
    }

    /// The decoded body of the first part of this content type (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> String {
        let (head, body) = self.data.split_once("\r\n\r\n").expect("headers and body");
        let top = header_in(head, "Content-Type").unwrap_or_default();
        if !top.to_ascii_lowercase().starts_with("multipart/") {
            return decode_part(head, body);
        }
        let boundary = top
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .expect("a boundary")
            .trim_matches('"')
            .to_owned();
        for part in body.split(&format!("--{boundary}")).skip(1) {
            let part = part.trim_start_matches("\r\n");
            let Some((ph, pb)) = part.split_once("\r\n\r\n") else { continue };
            let ct = header_in(ph, "Content-Type").unwrap_or_default().to_ascii_lowercase();
            if ct.starts_with(content_type) {
                return decode_part(ph, pb.strip_suffix("\r\n").unwrap_or(pb));
            }
        }
        panic!("no {content_type} part in:\n{}", self.data)
    }

    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    pub fn html(&self) -> String {
        self.part("text/html")
    }
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                last.push_str(line);
            }
        } else {
            unfolded.push(line.to_owned());
        }
    }
    unfolded.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| decode_words(v.trim()))
    })
}

/// RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); adjacent ones join.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let between = &rest[..start];
        if !(last_was_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        let after = &rest[start + 2..];
        let mut fields = after.splitn(3, '?');
        let (Some(_charset), Some(enc), Some(tail)) = (fields.next(), fields.next(), fields.next()) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let Some(end) = tail.find("?=") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = &tail[..end];
        let bytes = if enc.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
        } else {
            quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &tail[end + 2..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

fn decode_part(head: &str, body: &str) -> String {
    let encoding = header_in(head, "Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body.split_whitespace().collect::<String>())
            .expect("base64 body"),
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).expect("UTF-8 body").replace("\r\n", "\n")
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}
