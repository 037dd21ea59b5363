//! Configuration: command-line flags, then `PORTAL_*` environment variables, then an optional
//! `portal.toml`, then defaults. Every setting is checked at start-up and a bad one stops the
//! server with a message that names it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;
use portal_store::PoolOptions;
use serde::Deserialize;

/// Settings shared by every subcommand that touches the database or serves.
#[derive(Debug, Clone, Args, Default)]
pub struct ConfigArgs {
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB.
    #[arg(long, env = "PORTAL_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address and port to listen on.
    #[arg(long, env = "PORTAL_BIND", global = true)]
    pub bind: Option<String>,
    /// The address patients and staff use to reach Portal; every link in an e-mail starts with it.
    #[arg(long, env = "PORTAL_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Where e-mail goes: file://DIR (one .eml per message), smtp://USER:PASS@HOST:PORT or smtps://...
    #[arg(long, env = "PORTAL_MAIL_URL", global = true, hide_env_values = true)]
    pub mail_url: Option<String>,
    /// The From address of Portal's e-mails.
    #[arg(long, env = "PORTAL_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Seconds before the first retry of a failed e-mail; the wait doubles with each failure
    /// (with random jitter).
    #[arg(long, env = "PORTAL_MAIL_RETRY_BASE_SECS", global = true)]
    pub mail_retry_base_secs: Option<String>,
    /// The longest wait between two attempts at one e-mail, in seconds.
    #[arg(long, env = "PORTAL_MAIL_RETRY_MAX_SECS", global = true)]
    pub mail_retry_max_secs: Option<String>,
    /// Attempts at one e-mail before it is given up and kept as a dead letter.
    #[arg(long, env = "PORTAL_MAIL_MAX_ATTEMPTS", global = true)]
    pub mail_max_attempts: Option<String>,
    /// Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is trusted.
    #[arg(long, env = "PORTAL_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// `json` for one JSON object per log line; anything else for readable text.
    #[arg(long, env = "PORTAL_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Database connections for reads (SQLite) or in all (PostgreSQL), 1 to 200.
    #[arg(long, env = "PORTAL_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<String>,
    /// Optional configuration file (TOML, same names as the flags with underscores).
    #[arg(long, env = "PORTAL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// The optional file; any key left out falls back to the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    mail_url: Option<String>,
    mail_from: Option<String>,
    mail_retry_base_secs: Option<u64>,
    mail_retry_max_secs: Option<u64>,
    mail_max_attempts: Option<u64>,
    db_max_connections: Option<u64>,
    trusted_proxies: Option<String>,
    log_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    /// Whether `public_url` was set (flag, variable or file) rather than derived from the bind
    /// address: the printed handout shows no guessed address to patients.
    pub public_url_configured: bool,
    pub mail_url: String,
    pub mail_from: String,
    /// Retries of a failed e-mail (`PORTAL_MAIL_RETRY_*`, `PORTAL_MAIL_MAX_ATTEMPTS`).
    pub mail_retry: portal_notify::RetryPolicy,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// The pool size (`PORTAL_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Database and mail URLs may carry passwords.
        f.debug_struct("Config")
            .field("database_url", &redact(&self.database_url))
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("public_url_configured", &self.public_url_configured)
            .field("mail_url", &redact(&self.mail_url))
            .field("mail_from", &self.mail_from)
            .field("mail_retry", &self.mail_retry)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// `scheme://user:secret@host` -> `scheme://user:***@host`.
pub fn redact(url: &str) -> String {
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        let creds = &url[scheme_end + 3..at];
        if let Some((user, _)) = creds.split_once(':') {
            return format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]);
        }
    }
    url.to_owned()
}

/// A whole number from the flag or variable (text), else the file, else the default, within `range`.
fn number(
    name: &'static str,
    flag: &Option<String>,
    file: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = match flag {
        Some(raw) => raw.trim().parse::<u64>().map_err(|_| err(name, format!("`{raw}` is not a whole number")))?,
        None => file.unwrap_or(default),
    };
    if !range.contains(&value) {
        return Err(err(name, format!("{value} is not between {} and {}", range.start(), range.end())));
    }
    Ok(value)
}

fn mail_retry(args: &ConfigArgs, file: &FileConfig) -> Result<portal_notify::RetryPolicy, ConfigError> {
    use std::time::Duration;
    let base =
        number("PORTAL_MAIL_RETRY_BASE_SECS", &args.mail_retry_base_secs, file.mail_retry_base_secs, 5, 1..=86_400)?;
    let max =
        number("PORTAL_MAIL_RETRY_MAX_SECS", &args.mail_retry_max_secs, file.mail_retry_max_secs, 3600, 1..=604_800)?;
    if max < base {
        return Err(err(
            "PORTAL_MAIL_RETRY_MAX_SECS",
            format!("{max} is less than PORTAL_MAIL_RETRY_BASE_SECS ({base})"),
        ));
    }
    let attempts = number("PORTAL_MAIL_MAX_ATTEMPTS", &args.mail_max_attempts, file.mail_max_attempts, 10, 1..=100)?;
    Ok(portal_notify::RetryPolicy {
        base: Duration::from_secs(base),
        max: Duration::from_secs(max),
        max_attempts: u32::try_from(attempts).unwrap_or(100),
    })
}

/// A setting that stops start-up; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

fn err(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name, problem: problem.into() }
}

impl Config {
    pub fn load(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("PORTAL_CONFIG", format!("{}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| err("PORTAL_CONFIG", format!("{}: {e}", path.display())))?
            }
            None => match std::fs::read_to_string("portal.toml") {
                Ok(text) => toml::from_str::<FileConfig>(&text)
                    .map_err(|e| err("PORTAL_CONFIG", format!("portal.toml: {e}")))?,
                Err(_) => FileConfig::default(),
            },
        };
        // Read before the text settings below take their values out of `file`.
        let mail_retry = mail_retry(args, &file)?;
        let db_max_connections = number(
            "PORTAL_DB_MAX_CONNECTIONS",
            &args.db_max_connections,
            file.db_max_connections,
            u64::from(PoolOptions::default().max_connections),
            1..=200,
        )?;
        let pick = |flag: &Option<String>, file: Option<String>, default: &str| -> String {
            flag.clone().or(file).unwrap_or_else(|| default.to_owned())
        };
        let database_url = pick(&args.database_url, file.database_url, "sqlite://data/portal.db");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(err("PORTAL_DATABASE_URL", "must start with sqlite:// or postgres://"));
        }
        let bind_raw = pick(&args.bind, file.bind, "127.0.0.1:8080");
        let bind: SocketAddr = bind_raw
            .parse()
            .map_err(|_| err("PORTAL_BIND", format!("`{bind_raw}` is not an address:port such as 127.0.0.1:8080")))?;
        let default_public = format!("http://{bind}");
        let public_url_configured = args.public_url.is_some() || file.public_url.is_some();
        let public_url = pick(&args.public_url, file.public_url, &default_public).trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
            || public_url.contains(char::is_whitespace)
        {
            return Err(err("PORTAL_PUBLIC_URL", format!("`{public_url}` must be an http:// or https:// URL")));
        }
        let mail_url = pick(&args.mail_url, file.mail_url, "file://data/mail");
        portal_notify::MailUrl::parse(&mail_url).map_err(|e| err("PORTAL_MAIL_URL", e.to_string()))?;
        let mail_from = pick(&args.mail_from, file.mail_from, "Portal <portal@localhost>");
        if !mail_from.contains('@')
            || mail_from.contains(['\r', '\n'])
            || portal_notify::parse_from(&mail_from).is_err()
        {
            return Err(err("PORTAL_MAIL_FROM", format!("`{mail_from}` is not an e-mail address")));
        }
        let proxies_raw = pick(&args.trusted_proxies, file.trusted_proxies, "");
        let mut trusted_proxies = Vec::new();
        for p in proxies_raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = p
                .parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| err("PORTAL_TRUSTED_PROXIES", format!("`{p}` is not an address or network")))?;
            trusted_proxies.push(net);
        }
        let log_format = match pick(&args.log_format, file.log_format, "text").as_str() {
            "json" => LogFormat::Json,
            "text" | "" => LogFormat::Text,
            other => return Err(err("PORTAL_LOG_FORMAT", format!("`{other}` is not `json` or `text`"))),
        };
        Ok(Config {
            database_url,
            bind,
            public_url,
            public_url_configured,
            mail_url,
            mail_from,
            mail_retry,
            trusted_proxies,
            log_format,
            // At most 200: checked above.
            db_max_connections: u32::try_from(db_max_connections).unwrap_or(200),
        })
    }

    /// Whether cookies must be `Secure` with the `__Host-` prefix and HSTS sent.
    pub fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values_name_the_setting() {
        let c = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(c.database_url, "sqlite://data/portal.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(!c.public_url_configured, "derived from the bind address, not configured");
        let set =
            Config::load(&ConfigArgs { public_url: Some("https://portal.example/".into()), ..Default::default() });
        let set = set.unwrap();
        assert!(set.public_url_configured);
        assert_eq!(set.public_url, "https://portal.example");
        let e = Config::load(&ConfigArgs { bind: Some("nowhere".into()), ..Default::default() }).unwrap_err();
        assert_eq!(e.name, "PORTAL_BIND");
        let e = Config::load(&ConfigArgs { trusted_proxies: Some("10.0.0.0/8, bogus".into()), ..Default::default() })
            .unwrap_err();
        assert_eq!(e.name, "PORTAL_TRUSTED_PROXIES");
        let e = Config::load(&ConfigArgs { database_url: Some("mysql://x".into()), ..Default::default() }).unwrap_err();
        assert_eq!(e.name, "PORTAL_DATABASE_URL");
    }

    #[test]
    fn mail_settings_are_checked_and_named() {
        let c = Config::load(&ConfigArgs::default()).unwrap();
        assert_eq!(
            c.mail_retry,
            portal_notify::RetryPolicy {
                base: std::time::Duration::from_secs(5),
                max: std::time::Duration::from_secs(3600),
                max_attempts: 10
            }
        );
        let with = |f: fn(&mut ConfigArgs)| {
            let mut a = ConfigArgs::default();
            f(&mut a);
            Config::load(&a)
        };
        let c = with(|a| {
            a.mail_retry_base_secs = Some("2".into());
            a.mail_retry_max_secs = Some("60".into());
            a.mail_max_attempts = Some("4".into());
        })
        .unwrap();
        assert_eq!((c.mail_retry.base.as_secs(), c.mail_retry.max.as_secs(), c.mail_retry.max_attempts), (2, 60, 4));
        assert_eq!(
            with(|a| a.mail_retry_base_secs = Some("soon".into())).unwrap_err().name,
            "PORTAL_MAIL_RETRY_BASE_SECS"
        );
        assert_eq!(
            with(|a| a.mail_retry_base_secs = Some("0".into())).unwrap_err().name,
            "PORTAL_MAIL_RETRY_BASE_SECS"
        );
        assert_eq!(with(|a| a.mail_retry_max_secs = Some("1".into())).unwrap_err().name, "PORTAL_MAIL_RETRY_MAX_SECS");
        assert_eq!(with(|a| a.mail_max_attempts = Some("0".into())).unwrap_err().name, "PORTAL_MAIL_MAX_ATTEMPTS");
        assert_eq!(with(|_| {}).unwrap().db_max_connections, PoolOptions::default().max_connections);
        assert_eq!(with(|a| a.db_max_connections = Some("4".into())).unwrap().db_max_connections, 4);
        assert_eq!(with(|a| a.db_max_connections = Some("0".into())).unwrap_err().name, "PORTAL_DB_MAX_CONNECTIONS");
        assert_eq!(with(|a| a.db_max_connections = Some("201".into())).unwrap_err().name, "PORTAL_DB_MAX_CONNECTIONS");
        assert_eq!(with(|a| a.db_max_connections = Some("many".into())).unwrap_err().name, "PORTAL_DB_MAX_CONNECTIONS");
        assert_eq!(with(|a| a.mail_url = Some("smtp://h?tls=maybe".into())).unwrap_err().name, "PORTAL_MAIL_URL");
        assert_eq!(with(|a| a.mail_url = Some("mailto:x".into())).unwrap_err().name, "PORTAL_MAIL_URL");
        assert_eq!(
            with(|a| a.mail_from = Some("Portal <not an address>".into())).unwrap_err().name,
            "PORTAL_MAIL_FROM"
        );
        assert!(with(|a| a.mail_url = Some("smtps://u:p@mail.example.org".into())).is_ok());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/portal.db"), "sqlite://data/portal.db");
    }
}
