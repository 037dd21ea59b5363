//! Where e-mail goes, from the `PORTAL_MAIL_URL` setting:
//!
//! | URL | transport |
//! |---|---|
//! | `file://DIR` | one `.eml` file per message in `DIR` (created with the first message, owner-only on Unix) |
//! | `smtp://[USER:PASS@]HOST[:PORT]` | SMTP; STARTTLS when the server offers it (opportunistic), port 587 |
//! | `smtp://...?tls=starttls` | SMTP with STARTTLS required (the connection fails without it), port 587 |
//! | `smtp://...?tls=none` | plain SMTP, never TLS, port 25: only for a relay on the same host |
//! | `smtps://[USER:PASS@]HOST[:PORT]` | SMTP inside TLS from the first byte (implicit TLS), port 465 |
//!
//! Opportunistic STARTTLS is the default of `smtp://` because it works with both a local relay
//! that has no certificate and a remote one that has; it does not stop an attacker who strips
//! the STARTTLS offer, so production mail to another host should use `smtps://` or
//! `?tls=starttls` (a warning is logged otherwise). Certificates are checked against the
//! system's roots. The user name and password are percent-decoded (`%40` for `@`).

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one SMTP command may wait for the server before the attempt fails.
const SMTP_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How an `smtp://` connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Never (`?tls=none`).
    None,
    /// STARTTLS when offered (the default of `smtp://`).
    Opportunistic,
    /// STARTTLS required (`?tls=starttls`).
    Starttls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A parsed `PORTAL_MAIL_URL`. Parsing has no side effect (nothing is created or connected), so
/// configuration can be checked at start-up by every command.
#[derive(Clone, PartialEq, Eq)]
pub enum MailUrl {
    File { dir: PathBuf },
    Smtp { host: String, tls: SmtpTls, lettre_url: String },
}

impl std::fmt::Debug for MailUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The lettre URL may carry a password.
        match self {
            MailUrl::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            MailUrl::Smtp { host, tls, .. } => f.debug_struct("Smtp").field("host", host).field("tls", tls).finish(),
        }
    }
}

/// A mail URL that cannot be used; the message says why, without the password.
#[derive(Debug, thiserror::Error)]
pub enum MailUrlError {
    #[error("must start with file://, smtp:// or smtps://")]
    Scheme,
    #[error("file:// needs a directory, as in file://data/mail")]
    NoDirectory,
    #[error("no host in the URL")]
    NoHost,
    #[error("`{0}` is not a port number")]
    BadPort(String),
    #[error("unknown option `{0}`: only tls=none, tls=starttls or tls=opportunistic (smtp:// only)")]
    BadOption(String),
    #[error("cannot open the mail transport: {0}")]
    Open(String),
}

impl MailUrl {
    pub fn parse(url: &str) -> Result<MailUrl, MailUrlError> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() || dir.contains('?') {
                return Err(MailUrlError::NoDirectory);
            }
            return Ok(MailUrl::File { dir: PathBuf::from(dir) });
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
            ("smtps", rest)
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            ("smtp", rest)
        } else {
            return Err(MailUrlError::Scheme);
        };
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let mut tls = if scheme == "smtps" { SmtpTls::Implicit } else { SmtpTls::Opportunistic };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            tls = match (scheme, pair) {
                ("smtp", "tls=none") => SmtpTls::None,
                ("smtp", "tls=starttls" | "tls=required") => SmtpTls::Starttls,
                ("smtp", "tls=opportunistic") => SmtpTls::Opportunistic,
                _ => return Err(MailUrlError::BadOption(pair.to_owned())),
            };
        }
        let authority = base.split('/').next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = if let Some(end) = host_port.strip_prefix('[').and_then(|s| s.find(']')) {
            // An IPv6 literal: [::1]:2525
            let host = &host_port[..end + 2];
            (host, host_port[end + 2..].strip_prefix(':'))
        } else {
            match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(MailUrlError::NoHost);
        }
        if let Some(p) = port
            && p.parse::<u16>().is_err()
        {
            return Err(MailUrlError::BadPort(p.to_owned()));
        }
        // lettre reads the same URL shape; its `tls` values name our modes differently.
        let lettre_query = match tls {
            SmtpTls::None | SmtpTls::Implicit => "",
            SmtpTls::Opportunistic => "?tls=opportunistic",
            SmtpTls::Starttls => "?tls=required",
        };
        Ok(MailUrl::Smtp { host: host.to_owned(), tls, lettre_url: format!("{scheme}://{base}{lettre_query}") })
    }

    /// For logs: the transport and where it goes, never a password.
    pub fn describe(&self) -> String {
        match self {
            MailUrl::File { dir } => format!("file://{}", dir.display()),
            MailUrl::Smtp { host, tls, .. } => {
                let mode = match tls {
                    SmtpTls::None => "smtp, no TLS",
                    SmtpTls::Opportunistic => "smtp, STARTTLS when offered",
                    SmtpTls::Starttls => "smtp, STARTTLS required",
                    SmtpTls::Implicit => "smtps",
                };
                format!("{host} ({mode})")
            }
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A transport ready to send. Cheap to clone (SMTP connections are pooled and shared).
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    description: String,
}

#[derive(Clone)]
enum Transport {
    File { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Why one message was not handed over. `summary` never carries the server's reply text (which
/// may quote an address): it is stored with the event and logged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub struct SendError {
    pub summary: String,
    /// The transport itself could not be used (no connection to the relay, no TLS session, no
    /// answer in time, a directory that cannot be written): nothing about this message failed,
    /// and the next message would fail the same way.
    pub unreachable: bool,
}

impl Mailer {
    /// Parses `url` and opens the transport (for SMTP, loads the TLS roots). Connections are
    /// made, and the directory of `file://` created, when the first message is sent: a server
    /// that sends nothing leaves nothing behind.
    pub fn from_url(url: &str) -> Result<Mailer, MailUrlError> {
        Self::open(&MailUrl::parse(url)?)
    }

    pub fn open(url: &MailUrl) -> Result<Mailer, MailUrlError> {
        let description = url.describe();
        let transport = match url {
            MailUrl::File { dir } => Transport::File { transport: AsyncFileTransport::new(dir), dir: dir.clone() },
            MailUrl::Smtp { host, tls, lettre_url } => {
                if matches!(tls, SmtpTls::None | SmtpTls::Opportunistic) && !is_loopback(host) {
                    tracing::warn!(
                        mail = %description,
                        "PORTAL_MAIL_URL sends to another host without verified TLS: use smtps:// or ?tls=starttls"
                    );
                }
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(lettre_url)
                    .map_err(|e| MailUrlError::Open(e.to_string()))?;
                Transport::Smtp(builder.timeout(Some(SMTP_COMMAND_TIMEOUT)).build())
            }
        };
        Ok(Mailer { transport, description })
    }

    /// The transport and where it goes, without a password.
    pub fn describe(&self) -> &str {
        &self.description
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match &self.transport {
            Transport::File { transport, dir } => {
                create_private_dir(dir)
                    .await
                    .map_err(|e| SendError { summary: format!("file: {}", e.kind()), unreachable: true })?;
                transport.send(message).await.map(drop).map_err(|e| SendError {
                    summary: format!(
                        "file: {}",
                        io_kind(&e).map_or("cannot write the message".to_owned(), |k| k.to_string())
                    ),
                    unreachable: true,
                })
            }
            Transport::Smtp(t) => t
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError { summary: smtp_summary(&e), unreachable: smtp_unreachable(&e) }),
        }
    }
}

/// The message files hold single-use links: only the server's own user may read them. (An
/// existing directory keeps its permissions.)
async fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

/// The relay gave no SMTP answer about this message: the connection, TLS or a timeout failed.
/// A reply code (4xx, 5xx) or a reply that does not parse is about the conversation with a relay
/// that is there.
fn smtp_unreachable(e: &SmtpError) -> bool {
    e.status().is_none() && !e.is_response() && !e.is_client()
}

fn smtp_summary(e: &SmtpError) -> String {
    if let Some(code) = e.status() {
        let what = if e.is_permanent() { "permanent" } else { "temporary" };
        return format!("smtp: {what} failure {code}");
    }
    if e.is_tls() {
        return "smtp: TLS failure".to_owned();
    }
    if e.is_timeout() {
        return "smtp: timed out".to_owned();
    }
    if e.is_response() || e.is_client() {
        return "smtp: protocol error".to_owned();
    }
    match io_kind(e) {
        Some(kind) => format!("smtp: connection failed ({kind})"),
        None => "smtp: connection failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_urls() {
        assert_eq!(MailUrl::parse("file://data/mail").unwrap(), MailUrl::File { dir: "data/mail".into() });
        assert_eq!(MailUrl::parse("file:///var/mail").unwrap(), MailUrl::File { dir: "/var/mail".into() });
        let MailUrl::Smtp { host, tls, lettre_url } = MailUrl::parse("smtp://u:p%40ss@mail.example.org:2525").unwrap()
        else {
            panic!("smtp")
        };
        assert_eq!((host.as_str(), tls), ("mail.example.org", SmtpTls::Opportunistic));
        assert_eq!(lettre_url, "smtp://u:p%40ss@mail.example.org:2525?tls=opportunistic");
        let MailUrl::Smtp { tls, lettre_url, .. } = MailUrl::parse("smtp://127.0.0.1:25?tls=none").unwrap() else {
            panic!("smtp")
        };
        assert_eq!((tls, lettre_url.as_str()), (SmtpTls::None, "smtp://127.0.0.1:25"));
        let MailUrl::Smtp { tls, lettre_url, .. } = MailUrl::parse("smtp://relay?tls=starttls").unwrap() else {
            panic!("smtp")
        };
        assert_eq!((tls, lettre_url.as_str()), (SmtpTls::Starttls, "smtp://relay?tls=required"));
        let MailUrl::Smtp { host, tls, .. } = MailUrl::parse("smtps://[::1]:465").unwrap() else { panic!("smtps") };
        assert_eq!((host.as_str(), tls), ("[::1]", SmtpTls::Implicit));
    }

    #[test]
    fn refuses_what_it_cannot_use_and_never_shows_the_password() {
        assert!(matches!(MailUrl::parse("mailto:x@y"), Err(MailUrlError::Scheme)));
        assert!(matches!(MailUrl::parse("file://"), Err(MailUrlError::NoDirectory)));
        assert!(matches!(MailUrl::parse("smtp://"), Err(MailUrlError::NoHost)));
        assert!(matches!(MailUrl::parse("smtp://u:p@h:port"), Err(MailUrlError::BadPort(_))));
        assert!(matches!(MailUrl::parse("smtp://h?tls=maybe"), Err(MailUrlError::BadOption(_))));
        assert!(matches!(MailUrl::parse("smtps://h?tls=none"), Err(MailUrlError::BadOption(_))));
        let url = MailUrl::parse("smtps://user:hunter2@mail.example.org").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!url.describe().contains("hunter2"));
        assert!(is_loopback("localhost") && is_loopback("127.0.0.1") && is_loopback("[::1]"));
        assert!(!is_loopback("mail.example.org"));
    }
}
