//! A loopback SMTP sink for the bulk-invitation benchmark: accepts every message, keeps only a count
//! (and when it changed), so that the figure measures Portal's worker, not the receiver.
//!
//! It speaks just enough of RFC 5321 for lettre's plain-SMTP transport (`?tls=none`): greeting, EHLO,
//! MAIL, RCPT, DATA with dot-terminated content, RSET, NOOP and QUIT; no extensions, no TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running sink; stops accepting when dropped.
pub struct SmtpSink {
    pub address: SocketAddr,
    received: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("could not bind the SMTP sink")?;
        let address = listener.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let count = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    // A session that breaks off only loses its unfinished message, which the
                    // sender retries: nothing to report here.
                    let _ = session(stream, &count).await;
                });
            }
        });
        Ok(Self { address, received, task })
    }

    /// Messages accepted so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, count: &AtomicU64) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 bench-sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250 bench-sink\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}
