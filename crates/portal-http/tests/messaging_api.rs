//! Secure messaging over the JSON API (seed 001, "My Messages"): the seed's walk through (a
//! clinician messages a patient, the patient reads and replies through the portal API, counts
//! move, archive, a new message brings the conversation back, search), the refused sides, the
//! re-check at reply, idempotent sends, the inbox cursor and bad input. The rules themselves are
//! tested in portal-messaging; here, that the API translates them faithfully.

mod common;

use common::{Caller, TestRequest, TestResponse, World};
use portal_core::events::DomainEvent;
use serde_json::{Value, json};

const CONVERSATIONS: &str = "/api/v1/conversations";
const PORTAL_CONVERSATIONS: &str = "/api/v1/portal/conversations";

async fn grant_portal_messages(world: &World, who: Caller) {
    let url = format!("/api/v1/staff-users/{}/portal-permissions/available_for_portal_messages", world.id(who));
    world.send_as(Caller::SuperAdmin, TestRequest::put(url).json(&json!({ "granted": true }))).await.assert_status(200);
}

fn portal_message(world: &World, body: &str) -> Value {
    json!({ "kind": "portal", "patient_id": world.patient_a, "recipient_account_id": world.id(Caller::PortalA),
            "subject": "Your lab results", "body": body })
}

async fn get(world: &World, caller: Caller, uri: &str) -> TestResponse {
    world.send_as(caller, TestRequest::get(uri)).await
}

async fn post(world: &World, caller: Caller, uri: &str, body: &Value) -> TestResponse {
    world.send_as(caller, TestRequest::post(uri).json(body)).await
}

async fn unread(world: &World, caller: Caller) -> i64 {
    let uri = if Caller::PORTAL.contains(&caller) {
        "/api/v1/portal/messages/unread-count"
    } else {
        "/api/v1/messages/unread-count"
    };
    let res = get(world, caller, uri).await;
    res.assert_status(200);
    res.json()["unread"].as_i64().expect("unread")
}

/// The ids of the conversations of an inbox answer.
fn ids(res: &TestResponse) -> Vec<String> {
    res.assert_status(200);
    res.json()["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn notices(world: &World) -> Vec<DomainEvent> {
    let mut conn = world.db().read().await.expect("read");
    portal_store::portal_accounts::queued_events(&mut conn, &["portal_message_notice"])
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| serde_json::from_str(&e.payload).expect("event"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walk_through_the_api() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;

    // Step 1-2: New Message from the chart offers both types and the active portal account.
    let options =
        get(&world, Caller::Clinician, &format!("/api/v1/patients/{}/message-recipients", world.patient_a)).await;
    options.assert_status(200);
    let options = options.json();
    assert_eq!(options["types"], json!(["portal", "staff"]));
    assert_eq!(
        options["portal_recipients"],
        json!([{ "account_id": world.id(Caller::PortalA), "name": "Alice Anders", "relation": "self" }])
    );
    assert_eq!(options["portal_refused"], Value::Null);

    let res = world
        .send_as(
            Caller::Clinician,
            TestRequest::post(CONVERSATIONS)
                .header("idempotency-key", "walk-1")
                .json(&portal_message(&world, "Your results are in.\nAll normal.")),
        )
        .await;
    res.assert_status(201);
    let sent = res.json();
    let id = sent["conversation_id"].as_str().expect("id").to_owned();
    assert_eq!(res.header("location"), Some(format!("{CONVERSATIONS}/{id}").as_str()));
    assert_eq!(sent["replayed"], false);
    assert_eq!(sent["message"]["mine"], true);
    assert_eq!(sent["message"]["sender_kind"], "staff");
    assert_eq!(sent["message"]["body"], "Your results are in.\nAll normal.");
    assert!(sent["message"]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{sent}");

    // Step 3: the e-mail event, which carries nothing of the message.
    let sent_notices = notices(&world).await;
    assert_eq!(sent_notices.len(), 1);
    let DomainEvent::PortalMessageNotice { account_id, conversation_id, .. } = &sent_notices[0] else {
        panic!("{sent_notices:?}")
    };
    assert_eq!((account_id.as_str(), conversation_id.as_str()), (world.id(Caller::PortalA), id.as_str()));
    assert!(!serde_json::to_string(&sent_notices[0]).unwrap().contains("results"));

    // The portal user reads it through their API.
    assert_eq!(unread(&world, Caller::PortalA).await, 1);
    let inbox = get(&world, Caller::PortalA, PORTAL_CONVERSATIONS).await;
    assert_eq!(ids(&inbox), [id.as_str()]);
    let row = &inbox.json()["conversations"][0];
    assert_eq!(row["unread_count"], 1);
    assert_eq!(row["kind"], "portal");
    assert_eq!(row["patient_id"], world.patient_a.as_str());
    assert_eq!(row["subject"], "Your lab results");
    assert_eq!(
        row["others"],
        json!([{ "kind": "staff", "id": world.id(Caller::Clinician), "name": "Cleo Clinician" }])
    );
    let thread = get(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{id}")).await;
    thread.assert_status(200);
    let thread = thread.json();
    assert_eq!(thread["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(thread["messages"][0]["unread"], true);
    assert_eq!(thread["messages"][0]["mine"], false);
    assert_eq!(thread["reply_refused"], Value::Null);
    assert_eq!(thread["has_earlier"], false);
    assert_eq!(thread["conversation"]["patient_name"], "Alice Anders");
    assert_eq!(unread(&world, Caller::PortalA).await, 0, "opening the thread marks it read");

    // The clinician is one of the staff the portal user may write to; the portal user replies.
    let staff =
        get(&world, Caller::PortalA, &format!("/api/v1/portal/patients/{}/message-recipients", world.patient_a))
            .await
            .json();
    assert!(staff["staff"].as_array().expect("staff").iter().any(|s| s["staff_id"] == world.id(Caller::Clinician)));
    let reply =
        post(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{id}/messages"), &json!({ "body": "Thanks!" }))
            .await;
    reply.assert_status(201);
    assert_eq!(reply.header("location"), Some(format!("{PORTAL_CONVERSATIONS}/{id}").as_str()));
    assert_eq!(reply.json()["message"]["sender_kind"], "portal");

    // Step 4-5: the clinician's count and inbox; the thread, oldest first, the reply unread.
    assert_eq!(unread(&world, Caller::Clinician).await, 1);
    let inbox = get(&world, Caller::Clinician, CONVERSATIONS).await;
    assert_eq!(ids(&inbox), [id.as_str()]);
    assert_eq!(inbox.json()["conversations"][0]["unread_count"], 1);
    assert_eq!(inbox.json()["next"], Value::Null);
    let thread = get(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}")).await.json();
    let bodies: Vec<_> = thread["messages"].as_array().unwrap().iter().map(|m| m["body"].clone()).collect();
    assert_eq!(bodies, [json!("Your results are in.\nAll normal."), json!("Thanks!")]);
    assert_eq!(thread["messages"][0]["unread"], false);
    assert_eq!(thread["messages"][1]["unread"], true);
    assert_eq!(unread(&world, Caller::Clinician).await, 0);

    // Step 6: archive. It leaves Active for the clinician only.
    let archive = |archived: bool| {
        TestRequest::put(format!("{CONVERSATIONS}/{id}/archived")).json(&json!({ "archived": archived }))
    };
    world.send_as(Caller::Clinician, archive(true)).await.assert_status(204);
    assert!(ids(&get(&world, Caller::Clinician, CONVERSATIONS).await).is_empty());
    let archived = get(&world, Caller::Clinician, &format!("{CONVERSATIONS}?folder=archived")).await;
    assert_eq!(ids(&archived), [id.as_str()]);
    assert_eq!(archived.json()["conversations"][0]["archived"], true);
    assert_eq!(ids(&get(&world, Caller::PortalA, PORTAL_CONVERSATIONS).await), [id.as_str()]);

    // A new message brings it back to Active, unread.
    post(
        &world,
        Caller::PortalA,
        &format!("{PORTAL_CONVERSATIONS}/{id}/messages"),
        &json!({ "body": "One more thing" }),
    )
    .await
    .assert_status(201);
    let active = get(&world, Caller::Clinician, CONVERSATIONS).await;
    assert_eq!(ids(&active), [id.as_str()]);
    assert_eq!(active.json()["conversations"][0]["archived"], false);
    assert_eq!(unread(&world, Caller::Clinician).await, 1);

    // Replying to an archived conversation moves it back too; the portal user may archive theirs.
    world.send_as(Caller::Clinician, archive(true)).await.assert_status(204);
    post(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}/messages"), &json!({ "body": "Of course." }))
        .await
        .assert_status(201);
    assert_eq!(ids(&get(&world, Caller::Clinician, CONVERSATIONS).await), [id.as_str()]);
    let portal_archive =
        TestRequest::put(format!("{PORTAL_CONVERSATIONS}/{id}/archived")).json(&json!({ "archived": true }));
    world.send_as(Caller::PortalA, portal_archive).await.assert_status(204);
    assert!(ids(&get(&world, Caller::PortalA, PORTAL_CONVERSATIONS).await).is_empty());
    assert_eq!(
        ids(&get(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}?folder=archived")).await),
        [id.as_str()]
    );
    // Every staff reply e-mails the portal user again.
    assert_eq!(notices(&world).await.len(), 2);

    // Search: by keyword and by name, Active and Archived alike; nobody else finds it.
    for (caller, q) in [
        (Caller::Clinician, "lab results"),
        (Caller::Clinician, "Anders"),
        (Caller::Clinician, "normal"),
        (Caller::PortalA, "Cleo"),
        (Caller::PortalA, "thing"),
    ] {
        let uri = if caller == Caller::PortalA { PORTAL_CONVERSATIONS } else { CONVERSATIONS };
        let found = get(&world, caller, &format!("{uri}?q={}", q.replace(' ', "+"))).await;
        assert_eq!(ids(&found), [id.as_str()], "{} searching {q}", caller.label());
        assert_eq!(found.json()["next"], Value::Null);
    }
    assert!(ids(&get(&world, Caller::Clinician, &format!("{CONVERSATIONS}?q=zebra")).await).is_empty());
    // Clearing the field (a blank q) is the inbox again.
    assert_eq!(ids(&get(&world, Caller::Clinician, &format!("{CONVERSATIONS}?q=")).await), [id.as_str()]);
    for caller in [Caller::SuperAdmin, Caller::PracticeManager, Caller::FrontDesk] {
        assert!(ids(&get(&world, caller, &format!("{CONVERSATIONS}?q=Anders")).await).is_empty(), "{}", caller.label());
        assert!(ids(&get(&world, caller, CONVERSATIONS).await).is_empty(), "{}", caller.label());
    }
    assert!(ids(&get(&world, Caller::PortalB, &format!("{PORTAL_CONVERSATIONS}?q=results")).await).is_empty());

    // Audited: the recipient list (a read of the patient), the sends, the reads; never a text.
    let rows = get(&world, Caller::SuperAdmin, "/api/v1/audit-events?limit=500").await.json();
    let rows = rows.as_array().expect("rows");
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    for action in [
        "conversation_started",
        "message_sent",
        "conversation_viewed",
        "conversation_archived",
        "inbox_viewed",
        "messages_searched",
    ] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    assert!(rows.iter().any(|r| r["action"] == "patient_viewed"
        && r["actor_id"] == world.id(Caller::Clinician)
        && r["detail"].as_str().unwrap().contains("message_recipients")));
    for r in rows {
        let detail = r["detail"].as_str().unwrap();
        for text in ["lab results", "All normal", "Thanks", "Anders"] {
            assert!(!detail.contains(text), "{detail}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_without_the_permission_get_only_staff_messages() {
    let world = World::new().await;
    let options =
        get(&world, Caller::FrontDesk, &format!("/api/v1/patients/{}/message-recipients", world.patient_a)).await;
    options.assert_status(200);
    let options = options.json();
    assert_eq!(options["types"], json!(["staff"]));
    assert_eq!(options["portal_recipients"], json!([]));
    assert_eq!(
        options["portal_refused"],
        "You need the Available for Portal Messages permission to send portal messages."
    );
    // Refused, with the reason; a Super Admin is no exception.
    for caller in [Caller::FrontDesk, Caller::SuperAdmin] {
        let p = post(&world, caller, CONVERSATIONS, &portal_message(&world, "Hello")).await.assert_problem(409);
        assert_eq!(p["detail"], "You need the Available for Portal Messages permission to send portal messages.");
    }
    assert!(notices(&world).await.is_empty());
    // Staff messages are theirs to send, about a patient or not.
    let body = json!({ "kind": "staff", "patient_id": world.patient_a, "recipient_staff_ids": [world.id(Caller::Clinician)],
                       "subject": "Chart", "body": "Please review the chart." });
    post(&world, Caller::FrontDesk, CONVERSATIONS, &body).await.assert_status(201);
    assert_eq!(unread(&world, Caller::Clinician).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reads_anyone_elses_conversation() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;
    let sent = post(&world, Caller::Clinician, CONVERSATIONS, &portal_message(&world, "Private")).await;
    sent.assert_status(201);
    let id = sent.json()["conversation_id"].as_str().unwrap().to_owned();
    let reply = json!({ "body": "Let me in" });
    let archive = json!({ "archived": true });

    // Another portal user: 404 on every action, like a missing conversation.
    let missing = common::missing_id();
    for conv in [&id, &missing] {
        let a = get(&world, Caller::PortalB, &format!("{PORTAL_CONVERSATIONS}/{conv}")).await;
        assert_eq!(a.assert_problem(404)["detail"], "No such record, or you may not see it.");
        post(&world, Caller::PortalB, &format!("{PORTAL_CONVERSATIONS}/{conv}/messages"), &reply)
            .await
            .assert_problem(404);
        world
            .send_as(
                Caller::PortalB,
                TestRequest::put(format!("{PORTAL_CONVERSATIONS}/{conv}/archived")).json(&archive),
            )
            .await
            .assert_problem(404);
    }
    // Every other staff member, the Super Admins included.
    for caller in [Caller::SuperAdmin, Caller::SuperAdminNoSettings, Caller::PracticeManager, Caller::FrontDesk] {
        get(&world, caller, &format!("{CONVERSATIONS}/{id}")).await.assert_problem(404);
        post(&world, caller, &format!("{CONVERSATIONS}/{id}/messages"), &reply).await.assert_problem(404);
        world
            .send_as(caller, TestRequest::put(format!("{CONVERSATIONS}/{id}/archived")).json(&archive))
            .await
            .assert_problem(404);
        assert_eq!(unread(&world, caller).await, 0);
    }
    // A staff token is no portal session, and a portal token no staff session.
    get(&world, Caller::Clinician, &format!("{PORTAL_CONVERSATIONS}/{id}")).await.assert_problem(401);
    get(&world, Caller::PortalA, &format!("{CONVERSATIONS}/{id}")).await.assert_problem(401);
    // Nothing was added, read or archived for the participants.
    assert_eq!(unread(&world, Caller::PortalA).await, 1);
    let thread = get(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}")).await.json();
    assert_eq!(thread["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(thread["conversation"]["archived"], false);

    // The recipient lists of a patient one cannot see answer 404 too.
    get(&world, Caller::Clinician, &format!("/api/v1/patients/{}/message-recipients", world.patient_b))
        .await
        .assert_problem(404);
    get(&world, Caller::Clinician, &format!("/api/v1/message-recipients?patient_id={}", world.patient_b))
        .await
        .assert_problem(404);
    get(&world, Caller::PortalB, &format!("/api/v1/portal/patients/{}/message-recipients", world.patient_a))
        .await
        .assert_problem(404);
    // And a portal user cannot write about a patient who is not theirs.
    let body = json!({ "patient_id": world.patient_a, "staff_id": world.id(Caller::Clinician), "body": "Hi" });
    post(&world, Caller::PortalB, PORTAL_CONVERSATIONS, &body).await.assert_problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_care_team_member_removed_from_the_team_can_no_longer_reply() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;
    // Portal users may write to the care team only (Manage Portal Settings).
    let setting = json!({ "recipients": "care_team" });
    let put = || TestRequest::put("/api/v1/settings/portal-messaging").json(&setting);
    world.send_as(Caller::PracticeManager, put()).await.assert_problem(403);
    let res = world.send_as(Caller::SuperAdmin, put()).await;
    res.assert_status(200);
    assert_eq!(res.json()["recipients"], "care_team");
    assert_eq!(res.json()["label"], "The patient's care team");
    let read = get(&world, Caller::FrontDesk, "/api/v1/settings/portal-messaging").await;
    assert_eq!(read.json()["recipients"], "care_team");
    assert_eq!(read.json()["choices"].as_array().map(Vec::len), Some(2));

    // The clinician is on patient A's team: the portal user may write to them.
    let recipients = format!("/api/v1/portal/patients/{}/message-recipients", world.patient_a);
    let staff = get(&world, Caller::PortalA, &recipients).await.json();
    assert_eq!(staff["staff"], json!([{ "staff_id": world.id(Caller::Clinician), "name": "Cleo Clinician" }]));
    let started = post(
        &world,
        Caller::PortalA,
        PORTAL_CONVERSATIONS,
        &json!({ "patient_id": world.patient_a, "staff_id": world.id(Caller::Clinician), "subject": "Refill", "body": "Could I get a refill?" }),
    )
    .await;
    started.assert_status(201);
    let id = started.json()["conversation_id"].as_str().unwrap().to_owned();
    post(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}/messages"), &json!({ "body": "Yes." }))
        .await
        .assert_status(201);

    // Removed from the team: neither side can reply, and both threads say why.
    world
        .send_as(
            Caller::PracticeManager,
            TestRequest::delete(format!(
                "/api/v1/patients/{}/care-team/{}",
                world.patient_a,
                world.id(Caller::Clinician)
            )),
        )
        .await
        .assert_status(200);
    let why = "Cleo Clinician is not on this patient's care team.";
    let p = post(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}/messages"), &json!({ "body": "Also..." }))
        .await
        .assert_problem(409);
    assert_eq!(p["detail"], why);
    let p =
        post(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{id}/messages"), &json!({ "body": "Hello?" }))
            .await
            .assert_problem(409);
    assert_eq!(p["detail"], why);
    let thread = get(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}")).await.json();
    assert_eq!(thread["reply_refused"], why);
    assert_eq!(thread["messages"].as_array().map(Vec::len), Some(2), "the thread stays, read-only");
    assert_eq!(
        get(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{id}")).await.json()["reply_refused"],
        why
    );
    // Nobody is offered any more, on either side.
    assert_eq!(get(&world, Caller::PortalA, &recipients).await.json()["staff"], json!([]));
    let options = get(&world, Caller::Clinician, &format!("/api/v1/patients/{}/message-recipients", world.patient_a))
        .await
        .json();
    assert_eq!(options["types"], json!(["portal", "staff"]));
    assert_eq!(options["portal_refused"], why);
    let p =
        post(&world, Caller::Clinician, CONVERSATIONS, &portal_message(&world, "New thread")).await.assert_problem(409);
    assert_eq!(p["detail"], why);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_message_about_a_patient_needs_recipients_who_can_see_them() {
    let world = World::new().await;
    let about_a = |to: Vec<&str>| json!({ "kind": "staff", "patient_id": world.patient_a, "recipient_staff_ids": to, "body": "About Alice" });
    let p = post(
        &world,
        Caller::PracticeManager,
        CONVERSATIONS,
        &about_a(vec![world.id(Caller::FrontDesk), world.id(Caller::FrontDeskB)]),
    )
    .await
    .assert_problem(409);
    assert_eq!(p["detail"], "Bea Desk cannot see this patient's records (location access or permissions).");
    // The recipient list about patient A leaves her out, and the caller.
    let list =
        get(&world, Caller::PracticeManager, &format!("/api/v1/message-recipients?patient_id={}", world.patient_a))
            .await
            .json();
    let names: Vec<_> =
        list["staff"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert!(!names.contains(&"Bea Desk".to_owned()) && !names.contains(&"Pat Manager".to_owned()), "{names:?}");
    assert!(names.contains(&"Fran Desk".to_owned()), "{names:?}");
    // Compose without a patient: anyone but oneself; several recipients at once.
    let list = get(&world, Caller::PracticeManager, "/api/v1/message-recipients").await.json();
    assert!(list["staff"].as_array().unwrap().iter().any(|s| s["name"] == "Bea Desk"));
    let body = json!({ "kind": "staff", "recipient_staff_ids": [world.id(Caller::FrontDesk), world.id(Caller::FrontDeskB)],
                       "body": "Staff meeting at noon" });
    let res = post(&world, Caller::PracticeManager, CONVERSATIONS, &body).await;
    res.assert_status(201);
    let id = res.json()["conversation_id"].as_str().unwrap().to_owned();
    for caller in [Caller::FrontDesk, Caller::FrontDeskB] {
        assert_eq!(unread(&world, caller).await, 1);
        let thread = get(&world, caller, &format!("{CONVERSATIONS}/{id}")).await.json();
        assert_eq!(thread["conversation"]["patient_id"], Value::Null);
        assert_eq!(thread["conversation"]["others"].as_array().map(Vec::len), Some(2));
    }
    let p = post(
        &world,
        Caller::PracticeManager,
        CONVERSATIONS,
        &json!({ "kind": "staff", "recipient_staff_ids": [world.id(Caller::PracticeManager)], "body": "Me" }),
    )
    .await
    .assert_problem(409);
    assert_eq!(p["detail"], "You cannot send a message to yourself.");
    let p = post(
        &world,
        Caller::PracticeManager,
        CONVERSATIONS,
        &json!({ "kind": "staff", "recipient_staff_ids": [], "body": "Nobody" }),
    )
    .await
    .assert_problem(409);
    assert_eq!(p["detail"], "Choose at least one recipient.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_sends_once() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;
    let send = |key: &str, body: &str| {
        TestRequest::post(CONVERSATIONS).header("Idempotency-Key", key).json(&portal_message(&world, body))
    };
    let first = world.send_as(Caller::Clinician, send("key-1", "Hello")).await;
    first.assert_status(201);
    let again = world.send_as(Caller::Clinician, send("key-1", "Hello")).await;
    again.assert_status(200);
    let (a, b) = (first.json(), again.json());
    assert_eq!(a["conversation_id"], b["conversation_id"]);
    assert_eq!(a["message"], b["message"]);
    assert_eq!((a["replayed"].clone(), b["replayed"].clone()), (json!(false), json!(true)));
    assert_eq!(again.header("location"), first.header("location"));
    let id = a["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&get(&world, Caller::Clinician, CONVERSATIONS).await), [id.as_str()]);
    assert_eq!(unread(&world, Caller::PortalA).await, 1);
    assert_eq!(notices(&world).await.len(), 1, "one e-mail");

    // The same key for something else is the client's mistake.
    let p = world.send_as(Caller::Clinician, send("key-1", "Something else")).await.assert_problem(422);
    assert_eq!(p["detail"], "This Idempotency-Key was already used for a different message.");

    // Replies too, and keys are per sender: the portal user's "key-1" is theirs.
    let reply = |key: &str| {
        TestRequest::post(format!("{PORTAL_CONVERSATIONS}/{id}/messages"))
            .header("Idempotency-Key", key)
            .json(&json!({ "body": "Thanks" }))
    };
    world.send_as(Caller::PortalA, reply("key-1")).await.assert_status(201);
    let replay = world.send_as(Caller::PortalA, reply("key-1")).await;
    replay.assert_status(200);
    assert_eq!(replay.json()["replayed"], true);
    let thread = get(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}")).await.json();
    assert_eq!(thread["messages"].as_array().map(Vec::len), Some(2));

    // Requests racing with one key: one message.
    let racing =
        futures_util::future::join_all((0..6).map(|_| world.send_as(Caller::Clinician, send("key-race", "At once"))))
            .await;
    let mut codes: Vec<u16> = racing.iter().map(TestResponse::code).collect();
    codes.sort();
    assert_eq!(
        codes,
        [200, 200, 200, 200, 200, 201],
        "{:?}",
        racing.iter().map(TestResponse::text).collect::<Vec<_>>()
    );
    let message_ids: std::collections::BTreeSet<_> =
        racing.iter().map(|r| r.json()["message"]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(message_ids.len(), 1);
    assert_eq!(ids(&get(&world, Caller::Clinician, CONVERSATIONS).await).len(), 2);

    // Malformed keys are refused before anything is sent, naming the header.
    for (key, detail) in [
        ("k".repeat(201), "Idempotency-Key must be at most 200 characters"),
        ("two words".to_owned(), "Idempotency-Key contains characters that are not allowed"),
        (" ".to_owned(), "Idempotency-Key must not be empty (leave the header out to send without one)"),
    ] {
        let res = world.send_as(Caller::Clinician, send(&key, "Bad key")).await;
        assert_eq!(res.error_fields(), ["Idempotency-Key".to_owned()].into());
        assert_eq!(res.json()["detail"], detail);
        let res = world.send_as(Caller::PortalA, reply(&key)).await;
        assert_eq!(res.error_fields(), ["Idempotency-Key".to_owned()].into());
    }
    // Two headers: which one would the client mean?
    let mut twice = send("a", "Twice");
    twice.headers.push(("idempotency-key".parse().unwrap(), "b".parse().unwrap()));
    world.send_as(Caller::Clinician, twice).await.assert_problem(422);
    assert_eq!(ids(&get(&world, Caller::Clinician, CONVERSATIONS).await).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_pages_with_an_opaque_cursor() {
    let world = World::new().await;
    let mut sent = Vec::new();
    for i in 0..27 {
        let body = json!({ "kind": "staff", "recipient_staff_ids": [world.id(Caller::FrontDesk)], "subject": format!("Note {i}"), "body": "Note" });
        let res = post(&world, Caller::PracticeManager, CONVERSATIONS, &body).await;
        res.assert_status(201);
        sent.push(res.json()["conversation_id"].as_str().unwrap().to_owned());
    }
    let first = get(&world, Caller::FrontDesk, CONVERSATIONS).await;
    let page1 = ids(&first);
    assert_eq!(page1.len(), 25);
    let next = first.json()["next"].as_str().expect("a next cursor").to_owned();
    assert!(next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {next}");
    let second = get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}?after={next}")).await;
    let page2 = ids(&second);
    assert_eq!(page2.len(), 2);
    assert_eq!(second.json()["next"], Value::Null);
    // Newest message first, every conversation exactly once.
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let times: Vec<time::OffsetDateTime> = [&first, &second]
        .iter()
        .flat_map(|r| r.json()["conversations"].as_array().unwrap().clone())
        .map(|c| time::OffsetDateTime::parse(c["last_message_at"].as_str().unwrap(), rfc3339).expect("RFC 3339"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let mut all: Vec<_> = page1.iter().chain(&page2).cloned().collect();
    all.sort();
    all.dedup();
    sent.sort();
    assert_eq!(all, sent);
    // The archived folder has its own pages.
    let archived = get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}?folder=archived&after={next}")).await;
    assert!(ids(&archived).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_thread_reads_earlier_messages_page_by_page() {
    let world = World::new().await;
    let start = json!({ "kind": "staff", "recipient_staff_ids": [world.id(Caller::FrontDesk)], "body": "m0" });
    let res = post(&world, Caller::PracticeManager, CONVERSATIONS, &start).await;
    res.assert_status(201);
    let id = res.json()["conversation_id"].as_str().unwrap().to_owned();
    for i in 1..205 {
        let who = if i % 2 == 0 { Caller::PracticeManager } else { Caller::FrontDesk };
        post(&world, who, &format!("{CONVERSATIONS}/{id}/messages"), &json!({ "body": format!("m{i}") }))
            .await
            .assert_status(201);
    }
    let bodies = |v: &Value| -> Vec<String> {
        v["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
    };
    let thread = get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}/{id}")).await;
    thread.assert_status(200);
    let t = thread.json();
    assert_eq!((bodies(&t).len(), t["has_earlier"].as_bool()), (200, Some(true)));
    let first = t["messages"][0]["id"].as_str().unwrap().to_owned();
    let earlier = get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}/{id}/messages?before={first}")).await;
    earlier.assert_status(200);
    assert_eq!(bodies(&earlier.json()), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(earlier.json()["has_earlier"], json!(false));
    // Without `before`: the newest page, the same as the thread's.
    let newest = get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}/{id}/messages")).await;
    assert_eq!(bodies(&newest.json()), bodies(&t));
    // Someone not in it (a Super Admin too), a message of another conversation, a bad id: 404.
    get(&world, Caller::SuperAdmin, &format!("{CONVERSATIONS}/{id}/messages?before={first}")).await.assert_status(404);
    let other = post(&world, Caller::PracticeManager, CONVERSATIONS, &start).await.json();
    let foreign = other["message"]["id"].as_str().unwrap();
    get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}/{id}/messages?before={foreign}")).await.assert_status(404);
    get(&world, Caller::FrontDesk, &format!("{CONVERSATIONS}/{id}/messages?before=..%2F")).await.assert_status(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problems() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;
    let started = post(&world, Caller::Clinician, CONVERSATIONS, &portal_message(&world, "Hello")).await;
    started.assert_status(201);
    let id = started.json()["conversation_id"].as_str().unwrap().to_owned();

    // Unknown fields: a body cannot set what its action does not take.
    let mut extra = portal_message(&world, "Hi");
    extra["sender_id"] = json!(world.id(Caller::SuperAdmin));
    post(&world, Caller::Clinician, CONVERSATIONS, &extra).await.assert_problem(422);
    post(
        &world,
        Caller::Clinician,
        &format!("{CONVERSATIONS}/{id}/messages"),
        &json!({ "body": "x", "conversation_id": id }),
    )
    .await
    .assert_problem(422);
    let portal_extra =
        json!({ "patient_id": world.patient_a, "staff_id": world.id(Caller::Clinician), "body": "x", "kind": "staff" });
    post(&world, Caller::PortalA, PORTAL_CONVERSATIONS, &portal_extra).await.assert_problem(422);
    world
        .send_as(
            Caller::Clinician,
            TestRequest::put(format!("{CONVERSATIONS}/{id}/archived")).json(&json!({ "archived": true, "for": "all" })),
        )
        .await
        .assert_problem(422);

    // An empty body, a blank or too long message, a missing recipient, an unknown kind.
    let empty = TestRequest::post(format!("{CONVERSATIONS}/{id}/messages")).raw(Some("application/json"), "");
    world.send_as(Caller::Clinician, empty).await.assert_problem(400);
    let long = "x".repeat(10_001);
    let res =
        post(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{id}/messages"), &json!({ "body": long })).await;
    assert_eq!(res.error_fields(), ["body".to_owned()].into());
    assert_eq!(res.json()["detail"], "body must be at most 10000 characters");
    let res =
        post(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{id}/messages"), &json!({ "body": " \n " }))
            .await;
    assert_eq!(res.error_fields(), ["body".to_owned()].into());
    let res = post(
        &world,
        Caller::Clinician,
        CONVERSATIONS,
        &json!({ "kind": "portal", "patient_id": world.patient_a, "recipient_staff_ids": [], "subject": "s".repeat(201), "body": "" }),
    )
    .await;
    assert_eq!(
        res.error_fields(),
        ["recipient_account_id", "recipient_staff_ids", "subject", "body"].map(String::from).into()
    );
    let res = post(&world, Caller::Clinician, CONVERSATIONS, &json!({ "kind": "fax", "body": "Hi" })).await;
    assert_eq!(res.error_fields(), ["kind".to_owned()].into());
    let res = post(
        &world,
        Caller::Clinician,
        CONVERSATIONS,
        &json!({ "kind": "staff", "recipient_account_id": "x", "body": "Hi" }),
    )
    .await;
    assert_eq!(res.error_fields(), ["recipient_account_id", "recipient_staff_ids"].map(String::from).into());
    post(&world, Caller::Clinician, CONVERSATIONS, &json!({ "body": "no kind" })).await.assert_problem(422);

    // Bad ids answer like missing ones.
    for bad in ["not-an-id", &common::missing_id(), "7C9E6679-7425-40DE-944B-E07FC1F90AE7"] {
        get(&world, Caller::Clinician, &format!("{CONVERSATIONS}/{bad}")).await.assert_problem(404);
        get(&world, Caller::PortalA, &format!("{PORTAL_CONVERSATIONS}/{bad}")).await.assert_problem(404);
        get(&world, Caller::Clinician, &format!("/api/v1/patients/{bad}/message-recipients")).await.assert_problem(404);
        get(&world, Caller::PortalA, &format!("/api/v1/portal/patients/{bad}/message-recipients"))
            .await
            .assert_problem(404);
        let to_bad_patient = json!({ "kind": "portal", "patient_id": bad, "recipient_account_id": world.id(Caller::PortalA), "body": "Hi" });
        post(&world, Caller::Clinician, CONVERSATIONS, &to_bad_patient).await.assert_problem(404);
    }
    // A recipient that is not offered says so, the same way for an unknown id.
    for to in ["not-an-id".to_owned(), common::missing_id(), world.id(Caller::PortalB).to_owned()] {
        let body = json!({ "kind": "portal", "patient_id": world.patient_a, "recipient_account_id": to, "body": "Hi" });
        let p = post(&world, Caller::Clinician, CONVERSATIONS, &body).await.assert_problem(409);
        assert_eq!(p["detail"], "This recipient is not available for messages.");
    }
    for to in ["not-an-id".to_owned(), common::missing_id(), world.id(Caller::FrontDesk).to_owned()] {
        let body = json!({ "patient_id": world.patient_a, "staff_id": to, "body": "Hi" });
        let p = post(&world, Caller::PortalA, PORTAL_CONVERSATIONS, &body).await.assert_problem(409);
        assert_eq!(p["detail"], "This recipient is not available for messages.");
    }

    // The inbox's parameters: each named in the 422.
    for (query, field) in [
        ("after=bm90LWEtY3Vyc29y", "after"),
        ("after=%21%21%21", "after"),
        ("after=MTIzfm5vdC1hbi1pZA", "after"),
        ("folder=trash", "folder"),
        ("q=ab", "q"),
        ("q=%21%21%21%21", "q"),
        ("q=abc&after=bm90", "after"),
    ] {
        for (caller, uri) in [(Caller::Clinician, CONVERSATIONS), (Caller::PortalA, PORTAL_CONVERSATIONS)] {
            let res = get(&world, caller, &format!("{uri}?{query}")).await;
            assert!(res.error_fields().contains(field), "{uri}?{query}: {}", res.text());
        }
    }
    get(&world, Caller::Clinician, &format!("{CONVERSATIONS}?q=%00abc")).await.assert_problem(400);

    // The setting takes one of its values.
    let res = world
        .send_as(
            Caller::SuperAdmin,
            TestRequest::put("/api/v1/settings/portal-messaging").json(&json!({ "recipients": "everyone" })),
        )
        .await;
    assert_eq!(res.error_fields(), ["recipients".to_owned()].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_messaging() {
    let world = World::new().await;
    let doc = world.send(TestRequest::get("/api/v1/openapi.json")).await.json();
    assert!(doc["tags"].as_array().unwrap().iter().any(|t| t["name"] == "messaging"));
    for (path, method, tag) in [
        ("/api/v1/conversations", "post", "messaging"),
        ("/api/v1/conversations/{id}/messages", "post", "messaging"),
        ("/api/v1/portal/conversations", "post", "portal"),
        ("/api/v1/portal/conversations/{id}/messages", "post", "portal"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["tags"], json!([tag]), "{method} {path}");
        let params = op["parameters"].as_array().expect("parameters");
        assert!(
            params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header" && p["required"] == false),
            "{method} {path}: {params:?}"
        );
        assert!(op["responses"]["201"]["headers"]["location"].is_object(), "{method} {path}");
        assert!(op["responses"]["200"].is_object(), "{method} {path}: the replay");
    }
    for schema in ["SentDto", "ThreadDto", "InboxPageDto", "MessageRecipientsDto", "NewConversationRequest"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
