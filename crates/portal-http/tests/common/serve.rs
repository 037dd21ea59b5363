//! A real `portal serve` process for black-box tests (a `kill -9` needs a process): its own
//! port, e-mail to a test SMTP server, its log in a file the assertions print.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The public address the processes are given: the links in their e-mails start with it.
pub const PUBLIC_URL: &str = "https://portal.clinic.example";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port()
}

/// A running `portal serve`; killed (and reaped) when dropped.
pub struct ServeProcess {
    pub child: Child,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `portal serve` on `db_url` in `dir`, e-mailing `127.0.0.1:smtp_port`, with `env`
    /// added (e.g. shorter retry waits); its log goes to `dir/portal-<name>.log`.
    pub fn start(db_url: &str, smtp_port: u16, dir: &Path, name: &str, env: &[(&str, &str)]) -> ServeProcess {
        let log = dir.join(format!("portal-{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_portal"))
            .arg("serve")
            .current_dir(dir)
            .env("PORTAL_DATABASE_URL", db_url)
            .env("PORTAL_BIND", format!("127.0.0.1:{}", free_port()))
            .env("PORTAL_PUBLIC_URL", PUBLIC_URL)
            .env("PORTAL_MAIL_URL", format!("smtp://127.0.0.1:{smtp_port}?tls=none"))
            .env("PORTAL_MAIL_FROM", "Clinic Portal <portal@clinic.example>")
            .env("RUST_LOG", "warn,portal_notify=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("portal serve starts");
        ServeProcess { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its e-mail worker runs (migrations done, serving).
    pub async fn delivering(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log().contains("e-mail delivery started") {
            if let Some(exit) = self.child.try_wait().expect("status") {
                panic!("portal serve exited: {exit:?}\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "the e-mail worker never started:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, claims stay until their lease runs out. Returns its log.
    pub fn kill_9(mut self) -> String {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
        self.log()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
