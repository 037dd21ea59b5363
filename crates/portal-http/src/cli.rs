//! The `portal` command line.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portal_store::{Db, PoolOptions};

use crate::config::{Config, ConfigArgs, LogFormat};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "portal", version, about = "Portal: an open-source patient portal server.", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Serve a demo clinic: seeds it on first run (or with --reset), prints sign-ins once.
    Demo {
        /// Delete the demo database and start over.
        #[arg(long)]
        reset: bool,
    },
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Import records.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Load benchmark data into an empty database (for `cargo xtask bench`; docs/testing.md).
    /// Hidden from the help: it fills a database with fictitious people.
    #[command(hide = true)]
    BenchSeed {
        #[command(subcommand)]
        command: BenchSeedCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a Super Admin. The password is read from a prompt, or from standard input when it
    /// is not a terminal; never from an argument, which other users could see.
    CreateSuperAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a roster of patients from CSV. Every row is checked first; if any row is wrong,
    /// nothing is imported and each problem is listed by row and column.
    Patients {
        /// A CSV file with a header row; columns: record_number, first_name, last_name,
        /// date_of_birth, email, phone, address_line1, city, state, zip, location, status.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchSeedCommand {
    /// A clinic with clinicians, patients who each hold an active portal account, and portal
    /// messages between them. Prints one JSON line: a staff sign-in (`staff_email`,
    /// `password`) and the ids the benchmark's requests use. Refuses a database that already
    /// has staff or patients.
    Messaging {
        #[arg(long, default_value_t = 10_000)]
        patients: u32,
        #[arg(long, default_value_t = 200)]
        staff: u32,
        #[arg(long, default_value_t = 1_000_000)]
        messages: u32,
        /// Portal requests for the request queue's benchmark (a tenth open).
        #[arg(long, default_value_t = 100_000)]
        requests: u32,
    },
    /// Issue 6's notifications benchmark: a clinic with `--staff` clinicians, each signed in
    /// (their bearer tokens written to `--tokens`, one a line), `--events` patients each with one
    /// clinician on the care team, five rules (toast and e-mail, to the care team) and one
    /// registration event per patient, parked in the outbox. Prints one JSON line. With
    /// `--release-events` (on the seeded database, while the server runs) it only makes the
    /// parked events due at once, as if they had just been committed.
    Notifications {
        #[arg(long, default_value_t = 1_000)]
        staff: u32,
        #[arg(long, default_value_t = 10_000)]
        events: u32,
        /// Where to write the staff's bearer tokens (staff member n on line n + 1).
        #[arg(long, required_unless_present = "release_events")]
        tokens: Option<PathBuf>,
        #[arg(long)]
        release_events: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; names the first broken row.
    Verify,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portal: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("portal: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("portal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(
        &config.database_url,
        &PoolOptions { max_connections: config.db_max_connections, ..PoolOptions::default() },
    )
    .await?;
    db.migrate().await?;
    // Audit rows a crash left between a write's commit and their chaining (PostgreSQL), before
    // anything reads or extends the chain.
    db.chain_pending().await?;
    Ok(db)
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let db = open_db(&config).await?;
            serve(AppState::new(db, config)).await?;
        }
        Command::Migrate => {
            open_db(&config).await?;
            println!("migrations applied");
        }
        Command::Demo { reset } => {
            if reset {
                crate::demo::remove_sqlite_database(&config.database_url)?;
            }
            let db = open_db(&config).await?;
            let state = AppState::new(db, config);
            if let Some(sign_ins) = crate::demo::seed_if_empty(&state).await? {
                println!("{sign_ins}");
            } else {
                println!("Demo data already present (use --reset to start over).");
            }
            println!("Portal demo: http://{}/", state.config().bind);
            serve(state).await?;
        }
        Command::Admin { command: AdminCommand::CreateSuperAdmin { email, name } } => {
            let password = read_password()?;
            let db = open_db(&config).await?;
            let hasher = portal_auth::PasswordHasher::new(1);
            match portal_auth::staff::create_super_admin(&db, &hasher, &email, &name, &password).await {
                Ok(id) => println!("Super Admin created: {id}"),
                Err(portal_auth::AuthError::Invalid(errors)) => {
                    for e in errors.0 {
                        eprintln!("{}: {}", e.field, e.detail);
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Import { command: ImportCommand::Patients { file } } => {
            let data = std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let db = open_db(&config).await?;
            let report =
                portal_practice::import::import_patients_csv(&db, &portal_core::Actor::system(), &data).await?;
            if report.errors.is_empty() {
                println!("imported {} patients", report.imported);
            } else {
                eprintln!("nothing was imported; fix these rows and run the import again:");
                for e in &report.errors {
                    eprintln!("row {}, {}: {}", e.row, e.field, e.detail);
                }
                return Ok(ExitCode::from(2));
            }
        }
        Command::BenchSeed { command: BenchSeedCommand::Messaging { patients, staff, messages, requests } } => {
            return bench_seed_messaging(&config, MessagingCounts { patients, staff, messages, requests }).await;
        }
        Command::BenchSeed { command: BenchSeedCommand::Notifications { staff, events, tokens, release_events } } => {
            return bench_seed_notifications(&config, staff, events, tokens, release_events).await;
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let db = open_db(&config).await?;
            let report = portal_practice::audit_log::verify(&db).await?;
            match report.first_broken {
                None => println!("audit log intact: {} rows verified", report.rows_checked),
                Some((seq, why)) => {
                    eprintln!("audit log BROKEN at row {seq}: {why} ({} rows verified before it)", report.rows_checked);
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `portal bench-seed messaging`: one random password, hashed once, for every seeded account
/// (staff and portal users alike; the benchmark signs in as staff member 0).
struct MessagingCounts {
    patients: u32,
    staff: u32,
    messages: u32,
    requests: u32,
}

async fn bench_seed_messaging(config: &Config, counts: MessagingCounts) -> anyhow::Result<ExitCode> {
    let MessagingCounts { patients, staff, messages, requests } = counts;
    use portal_store::bench_seed::{MessagingSeed, SeedError, seed_messaging};
    let db = open_db(config).await?;
    let password = crate::demo::random_password(&mut rand::rngs::OsRng);
    let parsed = portal_core::staff::NewPassword::parse(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password_hash = portal_auth::PasswordHasher::new(1).hash(&parsed).await?;
    match seed_messaging(&db, &MessagingSeed { patients, staff, messages, requests, password_hash }).await {
        Ok(report) => {
            let mut line = serde_json::to_value(&report)?;
            line["password"] = password.into();
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (SeedError::NotEmpty | SeedError::Invalid(_))) => {
            eprintln!("portal: {e}");
            Ok(ExitCode::from(2))
        }
        Err(SeedError::Store(e)) => Err(e.into()),
    }
}

/// `portal bench-seed notifications`: the data, or (`--release-events`) the start signal.
async fn bench_seed_notifications(
    config: &Config,
    staff: u32,
    events: u32,
    tokens: Option<PathBuf>,
    release_events: bool,
) -> anyhow::Result<ExitCode> {
    use portal_store::bench_seed::{NotificationsSeed, SeedError, release_notification_events, seed_notifications};
    let db = open_db(config).await?;
    if release_events {
        let released = release_notification_events(&db).await?;
        // Taken after the commit: from here on the worker may see the events.
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        println!("{}", serde_json::json!({ "released": released, "released_at_unix": at }));
        return Ok(ExitCode::SUCCESS);
    }
    let Some(tokens_path) = tokens else { anyhow::bail!("--tokens is required") };
    let password = crate::demo::random_password(&mut rand::rngs::OsRng);
    let parsed = portal_core::staff::NewPassword::parse(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password_hash = portal_auth::PasswordHasher::new(1).hash(&parsed).await?;
    let (raw, token_hashes): (Vec<String>, Vec<String>) = (0..staff).map(|_| portal_auth::tokens::new_token()).unzip();
    match seed_notifications(&db, &NotificationsSeed { staff, events, password_hash, token_hashes }).await {
        Ok(report) => {
            // Bearer tokens of fictitious bench staff, for the benchmark's clients only.
            std::fs::write(&tokens_path, raw.join("\n") + "\n")
                .map_err(|e| anyhow::anyhow!("{}: {e}", tokens_path.display()))?;
            let mut line = serde_json::to_value(&report)?;
            line["password"] = password.into();
            line["tokens"] = tokens_path.display().to_string().into();
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (SeedError::NotEmpty | SeedError::Invalid(_))) => {
            eprintln!("portal: {e}");
            Ok(ExitCode::from(2))
        }
        Err(SeedError::Store(e)) => Err(e.into()),
    }
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            anyhow::bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Serves until SIGTERM or Ctrl-C, then drains requests and stops the upkeep task and the
/// e-mail worker.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(state.config().bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (PORTAL_BIND)", state.config().bind))?;
    tracing::info!(address = %state.config().bind, backend = state.db().backend().name(), "serving");
    let mail = MailWorker::start(&state)?;
    let upkeep = crate::app::spawn_upkeep(state.clone());
    let served = crate::app::serve(state, listener, shutdown_signal()).await;
    upkeep.abort();
    mail.stop().await;
    Ok(served?)
}

/// The e-mail worker of this process (portal-notify): delivers the outbox until shutdown. Every
/// replica runs one; the outbox's leases share the work between them.
struct MailWorker {
    stop: portal_notify::CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl MailWorker {
    fn start(state: &AppState) -> anyhow::Result<MailWorker> {
        let c = state.config();
        let mailer = portal_notify::Mailer::from_url(&c.mail_url)
            .map_err(|e| anyhow::anyhow!("invalid setting PORTAL_MAIL_URL: {e}"))?;
        let mut settings = portal_notify::Settings::new(&c.public_url, &c.mail_from)
            .map_err(|e| anyhow::anyhow!("invalid setting PORTAL_MAIL_FROM: {e}"))?;
        settings.retry = c.mail_retry;
        settings.hub = state.hub().clone();
        settings.validate()?;
        let stop = portal_notify::CancellationToken::new();
        let handle = portal_notify::spawn(state.db().clone(), mailer, settings, stop.clone());
        Ok(MailWorker { stop, handle })
    }

    /// Lets the message in flight finish (bounded by the send timeout); the rest of the batch
    /// is handed back for the next start or another replica.
    async fn stop(self) {
        self.stop.cancel();
        let mut handle = self.handle;
        if tokio::time::timeout(std::time::Duration::from_secs(40), &mut handle).await.is_err() {
            tracing::warn!("the e-mail worker did not stop in time; its events are delivered after a restart");
            handle.abort();
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
