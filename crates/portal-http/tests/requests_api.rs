//! The request queue over the JSON API (seed 002, "Patient Portal Queue" and "Un-Archiving
//! Patient Portal Requests"): a portal user makes a request and follows it; staff see it in the
//! queue, use the helper, reply with a disposition, find it in the archive and mark it
//! un-reviewed; the refused sides (another patient's request, another location's request), the
//! idempotent submission and reply, paging and bad input. The rules themselves are tested in
//! portal-queue; here, that the API translates them faithfully.

mod common;

use common::{Caller, TestRequest, TestResponse, World};
use serde_json::{Value, json};

const PORTAL_REQUESTS: &str = "/api/v1/portal/requests";

async fn get(world: &World, caller: Caller, uri: &str) -> TestResponse {
    world.send_as(caller, TestRequest::get(uri)).await
}

async fn post(world: &World, caller: Caller, uri: &str, body: &Value) -> TestResponse {
    world.send_as(caller, TestRequest::post(uri).json(body)).await
}

fn refill(world: &World, medication: &str) -> Value {
    json!({ "patient_id": world.patient_a, "kind": "refill", "medication": medication,
            "pharmacy": "Main Street Pharmacy", "note": "Running out on Friday." })
}

/// The ids of the requests of a list answer.
fn ids(res: &TestResponse) -> Vec<String> {
    res.assert_status(200);
    res.json()["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn grant_portal_messages(world: &World, who: Caller) {
    let url = format!("/api/v1/staff-users/{}/portal-permissions/available_for_portal_messages", world.id(who));
    world.send_as(Caller::SuperAdmin, TestRequest::put(url).json(&json!({ "granted": true }))).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refill_goes_from_the_portal_through_the_queue_and_back() {
    let world = World::new().await;
    grant_portal_messages(&world, Caller::Clinician).await;

    // The portal user asks for a refill, once, though the client sends it twice.
    let first = world
        .send_as(
            Caller::PortalA,
            TestRequest::post(PORTAL_REQUESTS)
                .header("Idempotency-Key", "refill-1")
                .json(&refill(&world, "Lisinopril 10 mg")),
        )
        .await;
    first.assert_status(201);
    let id = first.json()["request"]["id"].as_str().expect("id").to_owned();
    assert_eq!(first.header("location"), Some(format!("{PORTAL_REQUESTS}/{id}").as_str()));
    let body = first.json();
    assert_eq!(body["replayed"], json!(false));
    assert_eq!(body["request"]["status"], "submitted");
    assert_eq!(body["request"]["kind_label"], "Prescription refill");
    assert_eq!(body["request"]["details"]["medication"], "Lisinopril 10 mg");
    let again = world
        .send_as(
            Caller::PortalA,
            TestRequest::post(PORTAL_REQUESTS)
                .header("Idempotency-Key", "refill-1")
                .json(&refill(&world, "Lisinopril 10 mg")),
        )
        .await;
    again.assert_status(200);
    assert_eq!(
        (again.json()["request"]["id"].as_str(), again.json()["replayed"].as_bool()),
        (Some(id.as_str()), Some(true))
    );
    // The same key with another request is the client's mistake.
    world
        .send_as(
            Caller::PortalA,
            TestRequest::post(PORTAL_REQUESTS).header("Idempotency-Key", "refill-1").json(&refill(&world, "Metformin")),
        )
        .await
        .assert_problem(422);
    assert_eq!(ids(&get(&world, Caller::PortalA, PORTAL_REQUESTS).await), vec![id.clone()]);

    // Staff of location A see it in the queue, with the helper's words.
    let queue = get(&world, Caller::Clinician, "/api/v1/requests").await;
    assert_eq!(ids(&queue), vec![id.clone()]);
    assert_eq!(queue.json()["open_count"], 1);
    let detail = get(&world, Caller::Clinician, &format!("/api/v1/requests/{id}")).await;
    detail.assert_status(200);
    assert_eq!(detail.json()["helper_label"], "Open refill note");
    assert_eq!(detail.json()["timeline"][0]["kind"], "submitted");

    // The helper opens a draft refill note; the request is In review.
    let helper = post(&world, Caller::Clinician, &format!("/api/v1/requests/{id}/helper"), &json!(null)).await;
    helper.assert_status(200);
    let helper = helper.json();
    assert_eq!(helper["next"], "task");
    assert!(helper["task"]["body"].as_str().unwrap_or_default().contains("Lisinopril 10 mg"), "{helper}");
    let task = helper["task"]["id"].as_str().expect("task id").to_owned();
    let saved = world
        .send_as(
            Caller::Clinician,
            TestRequest::put(format!("/api/v1/request-tasks/{task}"))
                .json(&json!({ "body": "Refill sent to Main Street Pharmacy.", "done": true })),
        )
        .await;
    saved.assert_status(200);
    assert_eq!(saved.json()["task"]["done"], true);
    assert_eq!(
        get(&world, Caller::Clinician, &format!("/api/v1/request-tasks/{task}")).await.json()["task"]["body"],
        "Refill sent to Main Street Pharmacy."
    );
    let mine = get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}/{id}")).await;
    assert_eq!(mine.json()["request"]["status"], "in_review");

    // A reply leaves it open; a retry sends nothing twice.
    let reply = |key: &'static str, text: &str, disposition: &str| {
        TestRequest::post(format!("/api/v1/requests/{id}/reply"))
            .header("Idempotency-Key", key)
            .json(&json!({ "body": text, "disposition": disposition }))
    };
    let sent = world.send_as(Caller::Clinician, reply("reply-1", "We are on it.", "leave_open")).await;
    sent.assert_status(201);
    let sent = sent.json();
    assert_eq!(sent["request"]["status"], "in_review");
    let first_conversation = sent["conversation_id"].as_str().expect("conversation").to_owned();
    let replayed = world.send_as(Caller::Clinician, reply("reply-1", "We are on it.", "leave_open")).await;
    replayed.assert_status(200);
    assert_eq!(replayed.json()["conversation_id"].as_str(), Some(first_conversation.as_str()));
    assert_eq!(replayed.json()["replayed"], true);
    // The next reply dismisses it as completed.
    let sent = world.send_as(Caller::Clinician, reply("reply-2", "Your refill is at the pharmacy.", "completed")).await;
    sent.assert_status(201);
    let sent = sent.json();
    assert_eq!(sent["request"]["status"], "completed");
    let conversation = sent["conversation_id"].as_str().expect("conversation").to_owned();
    // Its retry (the answer was lost) is answered with the same message, though the request is
    // now dismissed; a new reply to the dismissed request is refused below.
    let retried =
        world.send_as(Caller::Clinician, reply("reply-2", "Your refill is at the pharmacy.", "completed")).await;
    retried.assert_status(200);
    assert_eq!(retried.json()["replayed"], true);
    assert_eq!(retried.json()["conversation_id"].as_str(), Some(conversation.as_str()));
    assert_eq!(retried.json()["request"]["status"], "completed");

    // Dismissed: out of the queue, in the archive (found by the medication), and the portal
    // user reads the reply in the timeline.
    assert!(ids(&get(&world, Caller::Clinician, "/api/v1/requests").await).is_empty());
    assert_eq!(ids(&get(&world, Caller::Clinician, "/api/v1/requests/archive?q=Lisinopril").await), vec![id.clone()]);
    assert!(ids(&get(&world, Caller::Clinician, "/api/v1/requests/archive?q=Metformin").await).is_empty());
    let mine = get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}/{id}")).await.json();
    assert_eq!(mine["request"]["status"], "completed");
    let timeline = mine["timeline"].as_array().expect("timeline");
    let replies: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "replied").collect();
    assert_eq!(replies.len(), 2, "one entry per reply, none for the retry: {timeline:?}");
    assert_eq!(replies[1]["reply"], "Your refill is at the pharmacy.");
    assert_eq!(replies[1]["conversation_id"].as_str(), Some(conversation.as_str()));

    // A dismissed request is neither dismissed again nor answered before it is un-archived.
    let again = post(
        &world,
        Caller::Clinician,
        &format!("/api/v1/requests/{id}/dismissal"),
        &json!({ "how": "not_completed" }),
    )
    .await;
    assert!(again.assert_problem(409)["detail"].as_str().unwrap_or_default().contains("un-archive"));
    // Mark as un-reviewed: back in the queue as Submitted.
    let reopened = post(&world, Caller::Clinician, &format!("/api/v1/requests/{id}/reopen"), &json!(null)).await;
    reopened.assert_status(200);
    assert_eq!(reopened.json()["status"], "submitted");
    assert_eq!(ids(&get(&world, Caller::Clinician, "/api/v1/requests").await), vec![id.clone()]);
    post(&world, Caller::Clinician, &format!("/api/v1/requests/{id}/reopen"), &json!(null)).await.assert_problem(409);
    // Dismissed from the list as will not be completed.
    let dismissed = post(
        &world,
        Caller::FrontDesk,
        &format!("/api/v1/requests/{id}/dismissal"),
        &json!({ "how": "not_completed" }),
    )
    .await;
    dismissed.assert_status(200);
    assert_eq!(dismissed.json()["status"], "not_completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_a_request_they_may_not_see() {
    let world = World::new().await;
    let res = post(&world, Caller::PortalA, PORTAL_REQUESTS, &refill(&world, "Lisinopril 10 mg")).await;
    res.assert_status(201);
    let id = res.json()["request"]["id"].as_str().expect("id").to_owned();
    let missing = common::missing_id();

    // Portal user B holds no grant to patient A: A's request answers exactly like a missing one.
    let theirs = get(&world, Caller::PortalB, &format!("{PORTAL_REQUESTS}/{id}")).await;
    let nothing = get(&world, Caller::PortalB, &format!("{PORTAL_REQUESTS}/{missing}")).await;
    assert_eq!((theirs.code(), theirs.json()), (nothing.code(), nothing.json()));
    theirs.assert_problem(404);
    assert!(ids(&get(&world, Caller::PortalB, PORTAL_REQUESTS).await).is_empty());
    get(&world, Caller::PortalB, &format!("{PORTAL_REQUESTS}?patient_id={}", world.patient_a))
        .await
        .assert_problem(404);
    // Nor makes one about patient A, nor reads what an appointment request there may name.
    post(&world, Caller::PortalB, PORTAL_REQUESTS, &refill(&world, "Aspirin")).await.assert_problem(404);
    get(&world, Caller::PortalB, &format!("/api/v1/portal/patients/{}/appointment-choices", world.patient_a))
        .await
        .assert_problem(404);

    // Staff of location B only: not in their queue, and 404 on every route, like a missing one.
    assert!(ids(&get(&world, Caller::FrontDeskB, "/api/v1/requests").await).is_empty());
    assert_eq!(get(&world, Caller::FrontDeskB, "/api/v1/requests").await.json()["open_count"], 0);
    let foreign = get(&world, Caller::FrontDeskB, &format!("/api/v1/requests/{id}")).await;
    let nothing = get(&world, Caller::FrontDeskB, &format!("/api/v1/requests/{missing}")).await;
    assert_eq!((foreign.code(), foreign.json()), (nothing.code(), nothing.json()));
    foreign.assert_problem(404);
    for (uri, body) in [
        (format!("/api/v1/requests/{id}/dismissal"), json!({ "how": "completed" })),
        (format!("/api/v1/requests/{id}/helper"), json!(null)),
        (format!("/api/v1/requests/{id}/reply"), json!({ "body": "Hello" })),
    ] {
        post(&world, Caller::FrontDeskB, &uri, &body).await.assert_problem(404);
    }
    // Nothing changed: still Submitted, with only its submission in the timeline.
    let mine = get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}/{id}")).await.json();
    assert_eq!(mine["request"]["status"], "submitted");
    assert_eq!(mine["timeline"].as_array().map(Vec::len), Some(1));

    // Staff tokens are not portal sessions, and portal sessions are not staff ones.
    get(&world, Caller::SuperAdmin, PORTAL_REQUESTS).await.assert_problem(401);
    get(&world, Caller::PortalA, "/api/v1/requests").await.assert_problem(401);
    // Billing sees the queue but opens no clinical task.
    post(&world, Caller::Billing, &format!("/api/v1/requests/{id}/helper"), &json!(null)).await.assert_problem(403);
    // A reply needs Available for Portal Messages, and says so.
    let refused =
        post(&world, Caller::FrontDesk, &format!("/api/v1/requests/{id}/reply"), &json!({ "body": "Hello" })).await;
    assert!(!refused.assert_problem(409)["detail"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appointment_requests_name_what_is_offered() {
    let world = World::new().await;
    let choices =
        get(&world, Caller::PortalA, &format!("/api/v1/portal/patients/{}/appointment-choices", world.patient_a)).await;
    choices.assert_status(200);
    let choices = choices.json();
    let locations: Vec<&str> =
        choices["locations"].as_array().expect("locations").iter().filter_map(|l| l["id"].as_str()).collect();
    assert!(locations.contains(&world.location_a.as_str()), "{choices}");
    let providers: Vec<&str> =
        choices["providers"].as_array().expect("providers").iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(providers, vec![world.id(Caller::Clinician)], "the clinician of location A");

    let body = json!({ "patient_id": world.patient_a, "kind": "appointment", "reason": "Knee pain",
        "preferred_times": "Mornings", "location_id": world.location_a, "preferred_provider_id": world.id(Caller::Clinician) });
    let made = post(&world, Caller::PortalA, PORTAL_REQUESTS, &body).await;
    made.assert_status(201);
    assert_eq!(made.json()["request"]["details"]["preferred_provider_id"].as_str(), Some(world.id(Caller::Clinician)));
    // A provider who is not offered (the front desk) and an unknown location are named.
    let body = json!({ "patient_id": world.patient_a, "kind": "appointment", "reason": "Knee pain",
        "location_id": common::missing_id(), "preferred_provider_id": world.id(Caller::FrontDesk) });
    let fields = post(&world, Caller::PortalA, PORTAL_REQUESTS, &body).await.error_fields();
    assert!(fields.contains("location_id") && fields.contains("preferred_provider_id"), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_and_bad_input_is_named() {
    let world = World::new().await;
    for n in 0..27 {
        post(&world, Caller::PortalA, PORTAL_REQUESTS, &refill(&world, &format!("Medication {n}")))
            .await
            .assert_status(201);
    }
    let first = get(&world, Caller::SuperAdmin, "/api/v1/requests").await;
    assert_eq!(ids(&first).len(), 25);
    assert_eq!(first.json()["open_count"], 27);
    assert_eq!(first.json()["requests"][0]["summary"], "Medication 26", "newest first");
    let next = first.json()["next_before"].as_str().expect("a next page").to_owned();
    let second = get(&world, Caller::SuperAdmin, &format!("/api/v1/requests?before={next}")).await;
    assert_eq!(ids(&second).len(), 2);
    assert!(second.json()["next_before"].is_null());
    // The portal user's list pages too.
    let mine = get(&world, Caller::PortalA, PORTAL_REQUESTS).await;
    assert_eq!(ids(&mine).len(), 25);
    let next = mine.json()["next_before"].as_str().expect("a next page").to_owned();
    assert_eq!(ids(&get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}?before={next}")).await).len(), 2);

    // Bad paging and search: a 422 naming the parameter, never a 500.
    for (caller, uri, field) in [
        (Caller::SuperAdmin, "/api/v1/requests?before=abc", "before"),
        (Caller::SuperAdmin, "/api/v1/requests?before=0", "before"),
        (Caller::SuperAdmin, "/api/v1/requests/archive?q=ab", "q"),
        (Caller::SuperAdmin, "/api/v1/requests/archive?before=x1", "before"),
        (Caller::PortalA, "/api/v1/portal/requests?before=%20-4", "before"),
    ] {
        let fields = get(&world, caller, uri).await.error_fields();
        assert!(fields.contains(field), "{uri}: {fields:?}");
    }
    // Bad bodies: every problem named at once.
    let body =
        json!({ "patient_id": world.patient_a, "kind": "refill", "medication": "x".repeat(201), "note": "\u{7}" });
    let fields = post(&world, Caller::PortalA, PORTAL_REQUESTS, &body).await.error_fields();
    assert!(fields.contains("medication") && fields.contains("note"), "{fields:?}");
    let fields =
        post(&world, Caller::PortalA, PORTAL_REQUESTS, &json!({ "patient_id": world.patient_a, "kind": "surgery" }))
            .await
            .error_fields();
    assert!(fields.contains("kind"), "{fields:?}");
    // Unknown fields are refused.
    let body = json!({ "patient_id": world.patient_a, "kind": "general", "question": "Hi", "urgent": true });
    post(&world, Caller::PortalA, PORTAL_REQUESTS, &body).await.assert_problem(422);
    let id = world.request(common::Rec::Own).await;
    let fields =
        post(&world, Caller::SuperAdmin, &format!("/api/v1/requests/{id}/dismissal"), &json!({ "how": "maybe" }))
            .await
            .error_fields();
    assert!(fields.contains("how"), "{fields:?}");
    let fields = post(
        &world,
        Caller::SuperAdmin,
        &format!("/api/v1/requests/{id}/reply"),
        &json!({ "body": "Hi", "disposition": "later" }),
    )
    .await
    .error_fields();
    assert!(fields.contains("disposition"), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_requests() {
    let world = World::new().await;
    let doc = world.send(TestRequest::get("/api/v1/openapi.json")).await.json();
    for (path, method, op, tag) in [
        ("/api/v1/requests", "get", "listRequestQueue", "requests"),
        ("/api/v1/requests/archive", "get", "listRequestArchive", "requests"),
        ("/api/v1/requests/{id}", "get", "getRequest", "requests"),
        ("/api/v1/requests/{id}/dismissal", "post", "dismissRequest", "requests"),
        ("/api/v1/requests/{id}/reopen", "post", "reopenRequest", "requests"),
        ("/api/v1/requests/{id}/helper", "post", "runRequestHelper", "requests"),
        ("/api/v1/requests/{id}/reply", "post", "replyToRequest", "requests"),
        ("/api/v1/request-tasks/{id}", "get", "getRequestTask", "requests"),
        ("/api/v1/request-tasks/{id}", "put", "saveRequestTask", "requests"),
        ("/api/v1/portal/requests", "get", "listPortalRequests", "portal"),
        ("/api/v1/portal/requests", "post", "submitPortalRequest", "portal"),
        ("/api/v1/portal/requests/{id}", "get", "getPortalRequest", "portal"),
        ("/api/v1/portal/patients/{id}/appointment-choices", "get", "getPortalAppointmentChoices", "portal"),
    ] {
        let o = &doc["paths"][path][method];
        assert_eq!(o["operationId"], op, "{method} {path}");
        assert_eq!(o["tags"], json!([tag]), "{method} {path}");
    }
    let headers = |path: &str| doc["paths"][path]["post"]["parameters"].to_string();
    assert!(headers("/api/v1/portal/requests").contains("Idempotency-Key"));
    assert!(headers("/api/v1/requests/{id}/reply").contains("Idempotency-Key"));
    assert!(doc["tags"].as_array().expect("tags").iter().any(|t| t["name"] == "requests"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_no_longer_covers_requests_reaches_none_of_them() {
    let world = World::new().await;
    let made = post(&world, Caller::PortalA, PORTAL_REQUESTS, &refill(&world, "Lisinopril 10 mg")).await;
    made.assert_status(201);
    let id = made.json()["request"]["id"].as_str().expect("id").to_owned();
    // The desk narrows portal user A's grant to messages only.
    let users = portal_auth::portal_grants::portal_users(world.db(), &portal_core::Actor::system(), &world.patient_a)
        .await
        .expect("portal users");
    let grant = users.into_iter().find(|u| u.account_id == world.id(Caller::PortalA)).expect("A's grant").grant_id;
    let uri = format!("/api/v1/patients/{}/portal/grants/{grant}", world.patient_a);
    let body = json!({ "scopes": ["messages"], "ends_on": "" });
    world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&body)).await.assert_status(200);

    // The request is there for staff, and nowhere for the portal user.
    get(&world, Caller::SuperAdmin, &format!("/api/v1/requests/{id}")).await.assert_status(200);
    get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}/{id}")).await.assert_problem(404);
    assert!(ids(&get(&world, Caller::PortalA, PORTAL_REQUESTS).await).is_empty());
    let refused = post(&world, Caller::PortalA, PORTAL_REQUESTS, &refill(&world, "Metformin")).await;
    assert!(matches!(refused.code(), 403 | 404), "{}", refused.text());
    refused.assert_problem(refused.code());
    get(&world, Caller::PortalA, &format!("/api/v1/portal/patients/{}/appointment-choices", world.patient_a))
        .await
        .assert_problem(refused.code());
    // The pages: no card on the home page, and the request answers the portal's 404 page.
    let mut b = common::Browser::with_session(&world.app, world.token(Caller::PortalA).expect("session"));
    let home = b.get(&format!("/portal/patients/{}", world.patient_a)).await.text();
    assert!(!home.contains("id=\"make-request\""), "{home}");
    b.get(&format!("/portal/requests/{id}")).await.assert_status(404);
    assert!(b.get("/portal/requests/new").await.text().contains("id=\"no-request-patients\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_of_a_question_opens_a_reply() {
    let world = World::new().await;
    let body = json!({ "patient_id": world.patient_a, "kind": "billing", "question": "Why was I charged twice?" });
    let made = post(&world, Caller::PortalA, PORTAL_REQUESTS, &body).await;
    made.assert_status(201);
    let id = made.json()["request"]["id"].as_str().expect("id").to_owned();
    assert_eq!(get(&world, Caller::Billing, &format!("/api/v1/requests/{id}")).await.json()["helper_label"], "Reply");
    // Billing may use it: no clinical task is opened.
    let helper = post(&world, Caller::Billing, &format!("/api/v1/requests/{id}/helper"), &json!(null)).await;
    helper.assert_status(200);
    assert_eq!(helper.json(), json!({ "next": "reply", "task": null }));
    let mine = get(&world, Caller::PortalA, &format!("{PORTAL_REQUESTS}/{id}")).await.json();
    assert_eq!(mine["request"]["status"], "in_review");
    assert_eq!(mine["timeline"][1]["kind"], "in_review");
}
