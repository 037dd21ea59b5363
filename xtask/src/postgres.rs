//! A throwaway PostgreSQL cluster for one test run.
//!
//! Everything here runs as root, and `initdb` refuses root. So the cluster belongs to the `postgres`
//! system user when there is one (Debian's postgresql package creates it), otherwise to an unprivileged
//! `portaltest` user created on the spot. The cluster gets a fresh data directory, a socket directory
//! and a free TCP port of its own, so it never collides with a system cluster or a parallel run, and it
//! is stopped (`pg_ctl -m immediate stop`) and deleted by `Drop`, also when tests fail or xtask is
//! interrupted.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{self, shell_quote};
use crate::tempdir::TempDir;

/// `initdb` and `pg_ctl` from one installation.
pub struct Binaries {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
}

impl Binaries {
    /// `initdb` and `pg_ctl` from the same directory: first on PATH (some machines link them into
    /// `/usr/local/bin`), else Debian's `/usr/lib/postgresql/<version>/bin`, highest version first.
    pub fn find() -> Option<Self> {
        let from_dir = |dir: &Path| {
            let (initdb, pg_ctl) = (dir.join("initdb"), dir.join("pg_ctl"));
            (crate::is_executable(&initdb) && crate::is_executable(&pg_ctl)).then_some(Self { initdb, pg_ctl })
        };
        if let Some(path) = std::env::var_os("PATH")
            && let Some(found) = std::env::split_paths(&path).find_map(|dir| from_dir(&dir))
        {
            return Some(found);
        }
        let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version =
                    entry.file_name().to_str()?.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        // Numeric order, so that 10 sorts above 9.6.
        versions.sort();
        versions.iter().rev().find_map(|(_, dir)| from_dir(dir))
    }
}

/// The unprivileged account that owns the cluster.
struct ClusterUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl ClusterUser {
    fn lookup(name: &str) -> Option<Self> {
        let id = |flag: &str| -> Option<u32> {
            process::output(Command::new("id").args([flag, name])).ok()?.trim().parse().ok()
        };
        Some(Self { name: name.to_owned(), uid: id("-u")?, gid: id("-g")? })
    }

    /// `None` when we are not root: then the cluster simply runs as ourselves.
    fn choose() -> Result<Option<Self>> {
        let me = process::output(Command::new("id").arg("-u")).context("could not run `id -u`")?;
        if me.trim() != "0" {
            return Ok(None);
        }
        if let Some(user) = Self::lookup("postgres") {
            return Ok(Some(user));
        }
        const FALLBACK: &str = "portaltest";
        if let Some(user) = Self::lookup(FALLBACK) {
            return Ok(Some(user));
        }
        eprintln!("xtask: no `postgres` user; creating the unprivileged system user `{FALLBACK}` for initdb");
        let created = process::output(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK,
        ]));
        // A parallel run may have created it in the meantime; what matters is that it exists now.
        match Self::lookup(FALLBACK) {
            Some(user) => Ok(Some(user)),
            None => {
                Err(created.err().unwrap_or_else(|| anyhow::anyhow!("useradd succeeded but `id {FALLBACK}` fails")))
                    .context("initdb refuses root, and no unprivileged user could be created")
            }
        }
    }
}

/// `program args...` run as `user` (or as ourselves when `user` is `None`).
fn command_as(user: Option<&ClusterUser>, program: &Path, args: &[&str]) -> Command {
    let Some(user) = user else {
        let mut command = Command::new(program);
        command.args(args);
        return command;
    };
    // runuser (util-linux, always on Debian) needs no PAM conversation and no login shell; `su` is the
    // fallback elsewhere and needs `-s /bin/sh` because system users have a nologin shell.
    let runuser = ["/usr/sbin/runuser", "/sbin/runuser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| crate::is_executable(path))
        .or_else(|| crate::find_on_path("runuser"));
    match runuser {
        Some(runuser) => {
            let mut command = Command::new(runuser);
            command.args(["-u", &user.name, "--"]).arg(program).args(args);
            command
        }
        None => {
            let line = std::iter::once(program.to_string_lossy().into_owned())
                .chain(args.iter().map(|arg| (*arg).to_owned()))
                .map(|word| shell_quote(&word))
                .collect::<Vec<_>>()
                .join(" ");
            let mut command = Command::new("su");
            command.args([&user.name, "-s", "/bin/sh", "-c", &line]);
            command
        }
    }
}

/// A free TCP port on loopback. Another process may take it before PostgreSQL binds it; `start`
/// retries with a new port in that case.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("could not bind a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A running throwaway cluster; stopped and deleted on drop.
pub struct Cluster {
    pg_ctl: PathBuf,
    user: Option<ClusterUser>,
    data_dir: PathBuf,
    log_file: PathBuf,
    /// Connection URL for the superuser `postgres` over TCP (trust authentication).
    pub url: String,
    // Declared last: fields drop after `Drop::drop` has stopped the server, so the directory is
    // removed only once nothing writes to it any more.
    dir: TempDir,
}

/// The test suite's cluster: fsync off and many connections, a disposable cluster serving a
/// parallel test suite.
const TEST_SETTINGS: &[(&str, &str)] = &[("fsync", "off"), ("max_connections", "200")];

impl Cluster {
    pub fn start(binaries: &Binaries) -> Result<Self> {
        Self::start_with(binaries, TEST_SETTINGS)
    }

    /// A cluster with these server settings (`-c name=value`; plain words only, they pass
    /// through `pg_ctl`'s shell).
    pub fn start_with(binaries: &Binaries, settings: &[(&str, &str)]) -> Result<Self> {
        let user = ClusterUser::choose()?;
        let dir = TempDir::new_reachable_by_others("portal-pg")?;
        let data_dir = dir.path().join("data");
        let socket_dir = dir.path().join("sock");
        let log_file = dir.path().join("postgres.log");
        std::fs::create_dir(&socket_dir).with_context(|| format!("could not create {}", socket_dir.display()))?;
        if let Some(user) = &user {
            for path in [dir.path(), &socket_dir] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                    .with_context(|| format!("could not hand {} to user {}", path.display(), user.name))?;
            }
        }
        let mut cluster = Self { pg_ctl: binaries.pg_ctl.clone(), user, data_dir, log_file, url: String::new(), dir };

        let data = cluster.data_dir.to_string_lossy().into_owned();
        // `--locale=C`: byte-order collation like SQLite's default BINARY, so both backends sort text
        // alike, and no dependency on which locales the machine has generated.
        let mut initdb = command_as(
            cluster.user.as_ref(),
            &binaries.initdb,
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"],
        );
        // The cluster user must be able to stay in its working directory.
        initdb.current_dir(cluster.dir.path());
        process::output(&mut initdb).context("initdb failed")?;

        let socket = socket_dir.to_string_lossy().into_owned();
        let log = cluster.log_file.to_string_lossy().into_owned();
        let mut last_error = None;
        for _attempt in 0..3 {
            process::check_interrupted()?;
            let port = free_port()?;
            let mut options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", shell_quote(&socket));
            for (name, value) in settings {
                options.push_str(&format!(" -c {name}={}", shell_quote(value)));
            }
            let mut pg_ctl = command_as(
                cluster.user.as_ref(),
                &cluster.pg_ctl,
                &["-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start"],
            );
            pg_ctl.current_dir(cluster.dir.path());
            match process::output(&mut pg_ctl) {
                Ok(_) => {
                    wait_until_accepting(port)?;
                    cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                    return Ok(cluster);
                }
                Err(error) => {
                    // Maybe the port was taken in the meantime; make sure nothing half-started is
                    // left before trying another one.
                    cluster.stop();
                    last_error = Some(error.context(format!("server log:\n{}", cluster.log_tail())));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made"))).context("PostgreSQL did not start")
    }

    /// `pg_ctl -m immediate stop`: nothing in a throwaway cluster is worth a clean shutdown.
    fn stop(&self) {
        if !self.data_dir.join("postmaster.pid").exists() {
            return;
        }
        let data = self.data_dir.to_string_lossy().into_owned();
        let mut stop =
            command_as(self.user.as_ref(), &self.pg_ctl, &["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"]);
        stop.current_dir(self.dir.path());
        if let Err(error) = process::output(&mut stop) {
            eprintln!("xtask: warning: could not stop the test PostgreSQL cluster: {error:#}");
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        eprintln!("xtask: throwaway PostgreSQL cluster stopped; removing {}", self.dir.path().display());
    }
}

/// `pg_ctl -w` already waits for "ready"; this also proves the TCP listener the tests will use is up.
fn wait_until_accepting(port: u16) -> Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("PostgreSQL reported ready but nothing accepts connections on {address}");
        }
        process::check_interrupted()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// After a run against a user-provided server: drop the `portal_test_%` databases that tests left
/// behind (a crashed test cannot clean up after itself). Best effort: needs `psql`, warns on failure.
pub fn drop_leftover_test_databases(url: &str) {
    let Some(psql) = crate::find_on_path("psql") else {
        eprintln!("xtask: psql not found; leftover portal_test_% databases (if any) were not dropped");
        return;
    };
    let psql = |sql: &str| {
        process::output(Command::new(&psql).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ]))
    };
    // `\_`: a literal underscore (LIKE's default escape), so `portal_testX` is not matched.
    let names = match psql(r"SELECT datname FROM pg_database WHERE datname LIKE 'portal\_test\_%'") {
        Ok(names) => names,
        Err(error) => {
            eprintln!("xtask: warning: could not list leftover test databases: {error:#}");
            return;
        }
    };
    let names: Vec<&str> = names
        .lines()
        .map(str::trim)
        // The names are quoted below; refuse anything that would need more than plain quoting.
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for name in &names {
        if let Err(error) = psql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")) {
            eprintln!("xtask: warning: could not drop {name}: {error:#}");
        }
    }
    if !names.is_empty() {
        eprintln!("xtask: dropped {} leftover portal_test_% database(s)", names.len());
    }
}

/// `cargo xtask pg-check`: start a cluster, prove it answers, stop it, prove it is gone.
pub fn self_check() -> Result<ExitCode> {
    let binaries = Binaries::find().context("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")?;
    eprintln!("xtask: using {} and {}", binaries.initdb.display(), binaries.pg_ctl.display());
    let cluster = Cluster::start(&binaries)?;
    let dir = cluster.dir.path().to_path_buf();
    println!("started: {}", cluster.url);
    if let Some(psql) = crate::find_on_path("psql") {
        let version =
            process::output(Command::new(psql).args(["-X", "-A", "-t", "-d", &cluster.url, "-c", "SELECT version()"]))?;
        println!("server says: {}", version.trim());
    }
    drop(cluster);
    if dir.exists() {
        bail!("{} still exists after the cluster was dropped", dir.display());
    }
    println!("stopped and removed {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
