//! The browser harness: a real `portal` app served on a loopback port over a fresh SQLite
//! database, a chromedriver of its own, and a headless Chromium driven through WebDriver.

#![allow(dead_code)]

// The test SMTP server of portal-notify's tests, compiled here too rather than copied.
#[path = "../../../crates/portal-notify/tests/common/smtp.rs"]
pub mod smtp;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use portal_auth::staff::StaffInput;
use portal_core::Actor;
use portal_practice::company::LocationInput;
use portal_store::testing::TestDb;

pub const ADMIN_EMAIL: &str = "ada.admin@clinic.example";
pub const FRONT_DESK_EMAIL: &str = "fran.desk@clinic.example";
pub const MANAGER_EMAIL: &str = "max.manager@clinic.example";
pub const PASSWORD: &str = "a sturdy test passphrase";

/// `None` (after printing why) unless the browser pass was asked for.
pub fn enabled() -> bool {
    if std::env::var("PORTAL_BROWSER").as_deref() == Ok("1") {
        true
    } else {
        eprintln!("browser tests skipped: run them with `cargo xtask test` (sets PORTAL_BROWSER=1)");
        false
    }
}

pub struct Fixture {
    pub base: String,
    pub db: TestDb,
    pub location_id: String,
    pub front_desk_id: String,
    pub manager_id: String,
    /// The SMTP server the app's e-mail worker delivers to (see [`start_app_with_mail`]).
    pub mail: Option<smtp::SmtpServer>,
    server: tokio::task::JoinHandle<()>,
    worker: Option<(portal_notify::CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
        if let Some((stop, handle)) = &self.worker {
            stop.cancel();
            handle.abort();
        }
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Starts the app with a Super Admin, a practice manager and a front-desk user at one location.
pub async fn start_app() -> Fixture {
    start(false).await
}

/// The same app with the portal turned on, its public URL set to the served address, and the
/// e-mail worker of `portal serve` delivering over SMTP to a test server (`fixture.mail`).
pub async fn start_app_with_mail() -> Fixture {
    start(true).await
}

async fn start(with_mail: bool) -> Fixture {
    let db = TestDb::new().await;
    let sys = Actor::system();
    let hasher = portal_auth::PasswordHasher::new(2);
    let location = portal_practice::company::create_location(
        &db.db,
        &sys,
        LocationInput { name: "Main Street Clinic".into(), time_zone: "America/Chicago".into(), ..Default::default() },
    )
    .await
    .expect("location");
    portal_auth::staff::create_super_admin(&db.db, &hasher, ADMIN_EMAIL, "Ada Admin", PASSWORD).await.expect("admin");
    let mut ids = Vec::new();
    for (name, email, role) in
        [("Fran Desk", FRONT_DESK_EMAIL, "front_desk"), ("Max Manager", MANAGER_EMAIL, "practice_manager")]
    {
        let v = portal_auth::staff::create(
            &db.db,
            &hasher,
            &sys,
            StaffInput {
                name: name.into(),
                email: email.into(),
                role: role.into(),
                location_ids: vec![location.id.clone()],
                active: true,
                password: Some(PASSWORD.into()),
            },
        )
        .await
        .expect("staff");
        ids.push(v.row.id);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mail = if with_mail { Some(smtp::SmtpServer::start().await) } else { None };
    let config = portal_http::config::Config::load(&portal_http::config::ConfigArgs {
        database_url: Some(db.url.clone()),
        bind: Some(addr.to_string()),
        public_url: with_mail.then(|| base.clone()),
        mail_url: mail.as_ref().map(|m| format!("smtp://127.0.0.1:{}?tls=none", m.port())),
        ..Default::default()
    })
    .expect("config");
    // Browser walks sign in many times from one address: a generous limiter.
    let state = portal_http::AppState::new(db.db.clone(), config.clone())
        .with_sign_in_limiter(portal_auth::throttle::IpLimiter::new(10_000, Duration::from_secs(60)))
        .with_portal_forms_limiter(portal_auth::throttle::IpLimiter::new(10_000, Duration::from_secs(60)));
    let worker = match &mail {
        Some(_) => {
            db.db
                .write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, true).await }))
                .await
                .expect("portal on");
            let mailer = portal_notify::Mailer::from_url(&config.mail_url).expect("mail url");
            let mut settings = portal_notify::Settings::new(&config.public_url, &config.mail_from).expect("settings");
            settings.poll_interval = Duration::from_millis(200);
            // The server's toast hub: the worker's toasts reach this server's streams at once.
            settings.hub = state.hub().clone();
            let stop = portal_notify::CancellationToken::new();
            let handle = portal_notify::spawn(db.db.clone(), mailer, settings, stop.clone());
            Some((stop, handle))
        }
        None => None,
    };
    let app = portal_http::build(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Fixture {
        base,
        db,
        location_id: location.id,
        front_desk_id: ids[0].clone(),
        manager_id: ids[1].clone(),
        mail,
        server,
        worker,
    }
}

impl Fixture {
    /// The link (path and token) of the newest e-mail sent to `to`, waiting up to 20 s for it, as
    /// the recipient would click it: taken from the message's text part, which starts with the
    /// public URL.
    pub async fn link_in_mail_to(&self, to: &str, nth: usize) -> String {
        let mail = self.mail.as_ref().expect("an app started with mail");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let to_them: Vec<_> =
                mail.received().into_iter().filter(|m| m.rcpt_to.iter().any(|r| r.contains(to))).collect();
            if let Some(m) = to_them.get(nth) {
                let text = m.text();
                let start = text.find(&self.base).unwrap_or_else(|| panic!("no link in the e-mail:\n{text}"));
                let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
                return link;
            }
            assert!(Instant::now() < deadline, "no e-mail number {nth} to {to} within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A patient at the fixture's location with an e-mail address and a ZIP code (portal access
    /// as auto-enable decides: off unless turned on), made through the use case.
    pub async fn patient(&self, first: &str, last: &str, dob: &str, email: &str) -> String {
        portal_practice::patients::create(
            &self.db.db,
            &Actor::system(),
            portal_practice::patients::PatientInput {
                first_name: first.into(),
                last_name: last.into(),
                date_of_birth: dob.into(),
                email: Some(email.into()),
                zip: Some("62701".into()),
                location_id: self.location_id.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("patient")
        .id
    }
}

/// A chromedriver process of our own; killed on drop.
pub struct Driver {
    child: Child,
    pub url: String,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub async fn start_driver() -> Driver {
    let bin = std::env::var("PORTAL_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = std::env::temp_dir().join(format!("portal-chromium-{port}"));
    Driver { child, url: format!("http://127.0.0.1:{port}"), profile }
}

/// A headless Chromium session. Flags: as root Chromium needs --no-sandbox; the network flags
/// keep it from reaching hosts this closed network refuses.
pub async fn browser(driver: &Driver) -> Client {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1280,900".to_owned(),
    ];
    args.push(format!("--user-data-dir={}", driver.profile.display()));
    let mut chrome = serde_json::json!({ "args": args });
    if let Ok(bin) = std::env::var("PORTAL_CHROMIUM") {
        chrome["binary"] = serde_json::Value::String(bin);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), chrome);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Signs in through the page and waits for the home page.
pub async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/staff/sign-in")).await.expect("sign-in page");
    c.find(Locator::Id("email")).await.expect("email field").send_keys(email).await.expect("type");
    c.find(Locator::Id("password")).await.expect("password field").send_keys(PASSWORD).await.expect("type");
    c.find(Locator::Css("form button[type=submit]")).await.expect("button").click().await.expect("click");
    wait_for_text(c, "h1", "Welcome").await;
}

/// Waits (up to 10 s) for an element matching `css` whose text contains `text`.
pub async fn wait_for_text(c: &Client, css: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(els) = c.find_all(Locator::Css(css)).await {
            for el in els {
                if let Ok(t) = el.text().await
                    && t.contains(text)
                {
                    return t;
                }
            }
        }
        if Instant::now() > deadline {
            let body = c.source().await.unwrap_or_default();
            panic!("no `{css}` containing {text:?} on {:?}; page:\n{body}", c.current_url().await.ok());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn page_text(c: &Client) -> String {
    c.find(Locator::Css("body")).await.expect("body").text().await.unwrap_or_default()
}
