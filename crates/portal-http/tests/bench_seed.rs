//! `portal bench-seed messaging`, the messaging benchmark's loader: a small load holds what it
//! claims, on the test run's backend. Counts add up, full-text search is maintained, ids have
//! the domain's shape, and the seeded staff member can sign in and do through the messaging use
//! cases exactly what the benchmark's requests do: an inbox page of 25, a keyword search that
//! finds, a thread of 50 messages, and a reply that the eligibility rules let through.

use std::process::{Command, Output};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use portal_core::ids::{ConversationId, StaffId};
use portal_core::messaging::InboxFolder;
use portal_core::{Actor, Principal};
use portal_messaging::Caller;
use portal_messaging::send::ReplyInput;
use portal_store::testing::TestDb;
use portal_store::{Backend, Db, DbConn};
use serde_json::Value;

const PATIENTS: i64 = 300;
const STAFF: i64 = 10;
const MESSAGES: i64 = 2_000;

fn bench_seed(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portal"))
        .args([
            "bench-seed",
            "messaging",
            "--patients",
            "300",
            "--staff",
            "10",
            "--messages",
            "2000",
            "--requests",
            "500",
        ])
        .env("PORTAL_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal runs")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &Db, sql: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {sql}");
    let mut conn = db.read().await.expect("connection");
    let rows: Vec<Count> = match &mut conn {
        DbConn::Sqlite(c) => diesel::sql_query(&sql).load(&mut **c).await,
        DbConn::Pg(c) => diesel::sql_query(&sql).load(&mut **c).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].n
}

#[derive(QueryableByName)]
struct Word {
    #[diesel(sql_type = Text)]
    t: String,
}

/// The first value of a query's text column `t`.
async fn text(db: &Db, sql: &str) -> String {
    let mut conn = db.read().await.expect("connection");
    let rows: Vec<Word> = match &mut conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).await,
        DbConn::Pg(c) => diesel::sql_query(sql).load(&mut **c).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().next().unwrap_or_else(|| panic!("no row: {sql}")).t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messaging_loader_gives_what_the_benchmark_uses() {
    let t = TestDb::new().await;
    let out = bench_seed(&t.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("one JSON line");
    let db = &t.db;

    // Counts: 20 threads of 50 messages take half; the other 1,000 make 200 conversations.
    assert_eq!(line["messages"], MESSAGES);
    assert_eq!(line["conversations"], 220);
    for (table, n) in [
        ("staff_users WHERE active AND perm_available_for_portal_messages", STAFF),
        ("staff_locations", 2 * STAFF),
        ("patients WHERE portal_access AND email IS NOT NULL AND zip IS NOT NULL", PATIENTS),
        ("portal_accounts WHERE active AND password_hash IS NOT NULL", PATIENTS),
        ("portal_grants WHERE revoked_at IS NULL AND scopes LIKE 'messages,%'", PATIENTS),
        ("care_team_members", PATIENTS),
        ("conversations WHERE kind = 'portal'", 220),
        ("conversation_participants", 440),
        ("messages", MESSAGES),
        ("messages WHERE idempotency_key IS NOT NULL", MESSAGES),
        ("conversations c WHERE message_count = (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)", 220),
        ("conversations WHERE message_count = 50", 20),
    ] {
        assert_eq!(count(db, table).await, n, "{table}");
    }
    assert!(count(db, "conversation_participants WHERE unread_count > 0").await > 0, "some unread");
    assert!(count(db, "conversation_participants WHERE archived").await > 0, "some archived");
    assert_eq!(count(db, "messages WHERE length(id) <> 36 OR length(conversation_id) <> 36").await, 0);

    // Full-text search is maintained: the index finds exactly the messages holding the word (on
    // SQLite, whose index has a row per conversation, exactly the conversations).
    let (holding, indexed) = match db.backend() {
        Backend::Sqlite => (
            count(
                db,
                "conversations c WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id \
                 AND lower(m.body) LIKE '%refill%')",
            )
            .await,
            count(db, "conversations_fts WHERE conversations_fts MATCH '{messages}: \"refill\"*'").await,
        ),
        Backend::Postgres => (
            count(db, "messages WHERE lower(body) LIKE '%refill%'").await,
            count(db, "messages WHERE search_vector @@ to_tsquery('simple', 'refill:*')").await,
        ),
    };
    assert!(holding > 20, "the word is in {holding} messages or conversations");
    assert_eq!(indexed, holding);

    // The staff member the benchmark uses signs in with the printed password.
    let hasher = portal_auth::PasswordHasher::new(1);
    let signed = portal_auth::sessions::sign_in_staff(
        db,
        &hasher,
        &portal_auth::SessionPolicy::default(),
        line["staff_email"].as_str().expect("email"),
        line["password"].as_str().expect("password"),
        None,
        None,
    )
    .await
    .expect("the seeded staff member signs in");
    assert_eq!(signed.staff.id, StaffId::parse(line["staff_id"].as_str().expect("id")).expect("a UUID"));
    let caller = Caller::staff(&Actor::new(Principal::Staff(signed.staff.clone()), None)).expect("staff");

    // The request queue (issue 5): the counts add up, every request has its "submitted" entry,
    // the first page of the queue reads (the details parse), and the archive's search finds each
    // word the bench uses, on both backends' full-text indexes.
    assert_eq!(line["requests"], 500);
    assert_eq!(count(db, "portal_requests").await, 500);
    assert_eq!(count(db, "portal_request_events WHERE kind = 'submitted'").await, 500);
    let open = count(db, "portal_requests WHERE archived = FALSE").await;
    assert_eq!(line["open_requests"], open);
    assert!(open > 20 && open < 100, "about a tenth open: {open}");
    // PostgreSQL's archive postings, written in one statement instead of by their trigger.
    assert_eq!(portal_store::testing::fixtures::request_terms_out_of_step(db).await, 0);
    if db.backend() == Backend::Postgres {
        assert!(count(db, "portal_request_terms").await > 500 * 5, "each request's lexemes");
        let enabled = "pg_trigger WHERE tgname = 'portal_request_terms_keep' AND tgenabled = 'O'";
        assert_eq!(count(db, enabled).await, 1, "the trigger is on again for the requests to come");
    }
    let actor = Actor::new(Principal::Staff(signed.staff.clone()), None);
    let queue = portal_queue::staff::queue(db, &actor, None, 25).await.expect("the queue");
    assert_eq!(queue.requests.len(), 25);
    assert_eq!(queue.open_count, open);
    assert!(queue.requests.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    for word in line["request_search_words"].as_array().expect("words") {
        let word = word.as_str().expect("word");
        let found = portal_queue::staff::archive(db, &actor, Some(word), None, 25).await.expect("archive search");
        assert!(!found.requests.is_empty(), "the archive's search finds nothing for {word}");
        assert!(found.requests.iter().all(|r| !r.open), "only dismissed requests");
    }

    // The inbox: a full first page, more after it.
    let page = portal_messaging::inbox::inbox(db, &caller, InboxFolder::Active, None).await.expect("inbox");
    assert_eq!(page.conversations.len(), 25);
    assert!(page.next.is_some());
    for c in &page.conversations {
        ConversationId::parse(&c.id).expect("a conversation id the domain parses");
    }

    // Search finds some of the staff member's conversations for each word the bench uses.
    for word in line["search_words"].as_array().expect("words") {
        let found = portal_messaging::inbox::search(db, &caller, word.as_str().expect("word")).await.expect("search");
        assert!(!found.is_empty(), "nothing found for {word}");
    }

    // A thread of 50 messages, oldest first, that the staff member may answer.
    let threads = line["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 20);
    let thread = portal_messaging::inbox::open_thread(db, &caller, threads[0].as_str().expect("id"))
        .await
        .expect("the thread opens");
    assert_eq!(thread.messages.len(), 50);
    assert!(thread.messages.windows(2).all(|w| w[0].created_at < w[1].created_at), "oldest first");
    assert_eq!(thread.reply_refused, None);

    // The portal user of one of those conversations signs in too, and finds it by a word of
    // its messages (the search index's owner tokens hold portal users as well as staff).
    let conversation = line["conversations_of_staff"][0].as_str().expect("a conversation");
    ConversationId::parse(conversation).expect("a conversation id");
    let username = text(
        db,
        &format!(
            "SELECT a.username AS t FROM conversation_participants p JOIN portal_accounts a ON a.id = p.participant_id
             WHERE p.conversation_id = '{conversation}' AND p.participant_kind = 'portal'"
        ),
    )
    .await;
    let portal = portal_auth::portal_sessions::sign_in_portal(
        db,
        &hasher,
        &portal_auth::PortalSessionPolicy::default(),
        &username,
        line["password"].as_str().expect("password"),
        None,
        None,
    )
    .await
    .expect("the portal user signs in");
    let portal = Caller::portal(portal.principal, None);
    let bodies = text(db, &format!("SELECT body AS t FROM messages WHERE conversation_id = '{conversation}'")).await;
    let names = text(
        db,
        &format!(
            "SELECT lower(COALESCE(subject, '') || ' ' || participant_names) AS t FROM conversations WHERE id = '{conversation}'"
        ),
    )
    .await;
    // The longest word of the first message that the subject and the names do not hold.
    let word = bodies
        .split(|c: char| !c.is_ascii_alphabetic())
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 4 && !names.contains(w.as_str()))
        .max_by_key(|w| w.len())
        .expect("a word");
    let found = portal_messaging::inbox::search(db, &portal, &word).await.expect("portal search");
    assert!(found.iter().any(|c| c.id == conversation), "{word} does not find {conversation} for its portal user");

    // The benchmark's send: a reply in a portal conversation, with its e-mail notice queued and
    // its text indexed by the trigger the loader created again.
    let notices = count(db, "outbox_events WHERE kind = 'portal_message_notice'").await;
    let reply = ReplyInput { body: "Thank you, bring the kumquat jam on Monday.".into(), idempotency_key: None };
    let sent = portal_messaging::send::reply(db, &caller, conversation, reply).await.expect("the reply is eligible");
    assert!(!sent.replayed);
    assert_eq!(count(db, "outbox_events WHERE kind = 'portal_message_notice'").await, notices + 1);
    let found = portal_messaging::inbox::search(db, &portal, "kumquat").await.expect("search");
    assert_eq!(found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [conversation]);

    // The audit chain still verifies (the loader appended one row saying what it loaded).
    let report = portal_practice::audit_log::verify(db).await.expect("verify");
    assert_eq!(report.first_broken, None);

    // A second load is refused: bench data never mixes with other records.
    let again = bench_seed(&t.url);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));
    assert_eq!(count(db, "messages").await, MESSAGES + 1);
}

fn bench_seed_notifications(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["bench-seed", "notifications"])
        .args(args)
        .env("PORTAL_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal runs")
}

/// `portal bench-seed notifications` (issue 6's benchmark): the clinic, signed-in staff whose
/// tokens are written out, one patient per event with a clinician on the care team, five rules,
/// and the events parked until `--release-events`; released, the worker turns each into five
/// notifications for the patient's clinician, with their e-mails queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifications_loader_parks_events_that_the_worker_delivers_once_released() {
    let t = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("portal-bench-notify-{}", portal_store::ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tokens_path = dir.join("tokens.txt");
    let out = bench_seed_notifications(
        &t.url,
        &["--staff", "12", "--events", "60", "--tokens", tokens_path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(
        (line["staff"].as_u64(), line["events"].as_u64(), line["rules"].as_u64()),
        (Some(12), Some(60), Some(5))
    );
    assert_eq!(line["notifications_per_event"], 5);

    assert_eq!(count(&t.db, "staff_users WHERE active AND role = 'clinician'").await, 12);
    assert_eq!(count(&t.db, "staff_locations").await, 12);
    assert_eq!(count(&t.db, "patients").await, 60);
    assert_eq!(count(&t.db, "care_team_members").await, 60);
    assert_eq!(count(&t.db, "notification_rules WHERE toast AND email AND recipient_care_team").await, 5);
    assert_eq!(count(&t.db, "outbox_events WHERE kind = 'portal_registration_completed'").await, 60);

    // Each token is a staff session of its own.
    let tokens: Vec<String> = std::fs::read_to_string(&tokens_path).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(tokens.len(), 12);
    for token in &tokens {
        let hash = portal_auth::tokens::hash_token(token);
        assert_eq!(count(&t.db, &format!("sessions WHERE token_hash = '{hash}' AND user_kind = 'staff'")).await, 1);
    }
    assert_eq!(count(&t.db, "sessions").await, 12);

    // Parked: a worker finds nothing due.
    let mail_dir = dir.join("mail");
    let mailer = portal_notify::Mailer::from_url(&format!("file://{}", mail_dir.display())).unwrap();
    let settings = portal_notify::Settings::new("https://portal.example.test", "Portal <portal@example.test>").unwrap();
    let worker = portal_notify::Worker::new(t.db.clone(), mailer, settings);
    let stop = portal_notify::CancellationToken::new();
    assert_eq!(worker.deliver_due(&stop).await.unwrap().claimed, 0, "parked events are not due");

    let out = bench_seed_notifications(&t.url, &["--release-events"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let released: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(released["released"], 60);
    assert!(released["released_at_unix"].as_f64().is_some());
    while worker.deliver_due(&stop).await.unwrap().claimed > 0 {}
    assert_eq!(count(&t.db, "staff_notifications WHERE toast AND email").await, 300);
    // Five for each event, all to one clinician (the patient's care team), twenty-five each.
    assert_eq!(
        count(
            &t.db,
            "(SELECT n.event_id FROM staff_notifications n JOIN outbox_events e ON e.id = n.event_id \
             GROUP BY n.event_id HAVING COUNT(*) = 5 AND COUNT(DISTINCT n.staff_id) = 1) AS x"
        )
        .await,
        60
    );
    assert_eq!(
        count(&t.db, "(SELECT staff_id FROM staff_notifications GROUP BY staff_id HAVING COUNT(*) = 25) AS x").await,
        12
    );
    assert_eq!(count(&t.db, "outbox_events WHERE delivered_at IS NOT NULL").await, 60 + 300, "events and e-mails");

    // Only into an empty database.
    let again =
        bench_seed_notifications(&t.url, &["--staff", "2", "--events", "2", "--tokens", tokens_path.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "a second load is refused");
    let _ = std::fs::remove_dir_all(dir);
}
