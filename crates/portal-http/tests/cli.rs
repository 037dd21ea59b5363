//! Black-box tests of the `portal` command line: the real binary, on the test run's backend.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use portal_store::testing::TestDb;

fn portal(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(args)
        .env("PORTAL_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portal runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("portal exits")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_setting_stops_start_up_and_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["migrate"])
        .env("PORTAL_BIND", "nowhere")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("PORTAL_BIND"), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["migrate"])
        .env("PORTAL_DATABASE_URL", "mysql://nope")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("PORTAL_DATABASE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_super_admin_reads_the_password_from_stdin() {
    let db = TestDb::new().await;
    let weak = portal(
        &db.url,
        &["admin", "create-super-admin", "--email", "a@clinic.example", "--name", "Ann"],
        Some("password\n"),
    );
    assert_eq!(weak.status.code(), Some(2));
    assert!(text(&weak.stderr).contains("password"), "{}", text(&weak.stderr));
    let ok = portal(
        &db.url,
        &["admin", "create-super-admin", "--email", "a@clinic.example", "--name", "Ann"],
        Some("a long enough passphrase\n"),
    );
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("Super Admin created"));
    let dup = portal(
        &db.url,
        &["admin", "create-super-admin", "--email", "A@clinic.example", "--name", "Ann"],
        Some("a long enough passphrase\n"),
    );
    assert_eq!(dup.status.code(), Some(2), "a second account with the same e-mail is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_is_all_or_nothing_and_the_audit_chain_verifies() {
    let db = TestDb::new().await;
    portal_practice::company::create_location(
        &db.db,
        &portal_core::Actor::system(),
        portal_practice::company::LocationInput {
            name: "Main Street".into(),
            time_zone: "America/New_York".into(),
            ..Default::default()
        },
    )
    .await
    .expect("location");
    let dir = std::env::temp_dir().join(format!("portal-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join(format!("bad-{}.csv", db.url.len()));
    std::fs::write(
        &bad,
        "first_name,last_name,date_of_birth,email,zip,location\n\
         Ann,Lee,1980-02-03,ann@example.com,02139,Main Street\n\
         Bob,Ray,1980-02-30,bob@,1234,Main Street\n\
         Cy,Oh,1990-01-01,,,Elsewhere\n",
    )
    .unwrap();
    let out = portal(&db.url, &["import", "patients", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(err.contains("row 2, date_of_birth"), "{err}");
    assert!(err.contains("row 2, email"), "{err}");
    assert!(err.contains("row 2, zip"), "{err}");
    assert!(err.contains("row 3, location"), "{err}");

    let good = dir.join(format!("good-{}.csv", db.url.len()));
    std::fs::write(
        &good,
        "record_number,first_name,last_name,date_of_birth,email,zip,location\n\
         ,Ann,Lee,1980-02-03,ann@example.com,02139,Main Street\n\
         MRN-77,Bob,Ray,1980-02-28,bob@example.com,02139-1234,main street\n",
    )
    .unwrap();
    let out = portal(&db.url, &["import", "patients", good.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 2 patients"));
    // Importing the same record number again is refused against the database.
    let out = portal(&db.url, &["import", "patients", good.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("MRN-77 belongs to an existing patient"), "{}", text(&out.stderr));

    let out = portal(&db.url, &["audit", "verify"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // location_created, 2 x patient_created, patients_imported
    assert!(text(&out.stdout).contains("4 rows verified"), "{}", text(&out.stdout));

    tamper_with_audit_row(&db, 2).await;
    let out = portal(&db.url, &["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("BROKEN at row 2"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Edits one audit row behind the append-only triggers, as an attacker with database access would.
async fn tamper_with_audit_row(db: &TestDb, seq: i64) {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = db.db.write_conn().await.expect("connection");
    let sql = match &mut conn {
        portal_store::DbConn::Sqlite(_) => format!(
            "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor_name = 'someone else' WHERE seq = {seq};"
        ),
        portal_store::DbConn::Pg(_) => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change; UPDATE audit_log SET actor_name = 'someone else' WHERE seq = {seq};"
        ),
    };
    match &mut conn {
        portal_store::DbConn::Sqlite(c) => c.batch_execute(&sql).await.expect("tamper"),
        portal_store::DbConn::Pg(c) => c.batch_execute(&sql).await.expect("tamper"),
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split(' ').nth(1)?.parse().ok()?;
    Some((status, buf))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_probes_and_stops_cleanly_on_sigterm() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("PORTAL_DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = http_get(port, "/healthz") {
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = http_get(port, "/readyz").expect("readyz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(port, "/api/v1/openapi.json").expect("openapi");
    assert_eq!(status, 200);
    assert!(body.contains("\"openapi\":\"3.1"), "OpenAPI 3.1 document");
    let (status, body) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    assert!(body.contains("portal_db_pool_connections"));

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status:?}");
}
