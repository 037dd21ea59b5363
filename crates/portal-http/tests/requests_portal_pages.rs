//! The portal users' request pages (seed 002), walked through with a cookie as a browser
//! without JavaScript would: "Make a request" from the patient's home, the type, the form of
//! that type, the list with status badges, one request with its timeline (replies included).
//! Every "who may see what" rule is tried from the refused side: another portal user, another
//! patient's id in the form, a malformed id.

mod common;

use common::*;
use portal_core::Actor;
use serde_json::json;

fn portal(world: &World, who: Caller) -> Browser<'_> {
    Browser::with_session(&world.app, world.token(who).expect("a portal session"))
}

/// The hidden idempotency key of the form on a page.
#[track_caller]
fn hidden_key(html: &str) -> String {
    let marker = "name=\"idempotency_key\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no idempotency key in {html}")) + marker.len();
    html[start..].split('"').next().expect("a value").to_owned()
}

/// The request a submission redirected to.
#[track_caller]
fn request_of(res: &TestResponse) -> String {
    assert_eq!(res.code(), 303, "a submission redirects to its request: {}", res.text());
    let loc = res.location();
    let rest = loc.strip_prefix("/portal/requests/").unwrap_or_else(|| panic!("not a request: {loc}"));
    rest.split(['#', '?']).next().expect("an id").to_owned()
}

/// The `<li>` of request `id` in the list, if listed.
fn row<'h>(html: &'h str, id: &str) -> Option<&'h str> {
    let at = html.find(&format!("id=\"request-{id}\""))?;
    let start = html[..at].rfind("<li").expect("a list item");
    let end = at + html[at..].find("</li>").expect("the item's end");
    Some(&html[start..end])
}

/// Opens the refill form for `patient` and sends it with `fields`; the answer.
async fn send_refill(b: &mut Browser<'_>, patient: &str, fields: &[(&str, &str)]) -> TestResponse {
    let form = b.get(&format!("/portal/requests/new?patient={patient}&kind=refill")).await;
    form.assert_status(200);
    let key = hidden_key(&form.text());
    let mut pairs = vec![("patient_id", patient), ("kind", "refill"), ("idempotency_key", key.as_str())];
    pairs.extend_from_slice(fields);
    b.post("/portal/requests", &pairs).await
}

fn invite_input(to: portal_auth::invitations::InviteTo) -> portal_auth::invitations::InviteInput {
    portal_auth::invitations::InviteInput {
        to,
        relation: Some("guardian".into()),
        scopes: None,
        ends_on: None,
        message: None,
        intake_form_ids: vec![],
        phi_warning_acknowledged: true,
    }
}

/// One guardian account holding grants to two children of location A, signed in.
async fn guardian_of_two(world: &World) -> (String, String, Browser<'_>) {
    let (eli, _) = enabled_patient(world, "Eli", "Evans", "2015-01-02").await;
    let (fay, _) = enabled_patient(world, "Fay", "Evans", "2017-03-04").await;
    let email = "grace.evans@example.test";
    let to = portal_auth::invitations::InviteTo::Designated { name: "Grace Evans".into(), email: email.into() };
    let sent = portal_auth::invitations::invite(world.db(), &Actor::system(), &eli, invite_input(to))
        .await
        .expect("invite the guardian");
    let token = last_link_to(world.db(), email).await;
    let mut b = Browser::new(&world.app);
    b.post(
        &format!("/portal/set-password/{token}"),
        &[("username", "grace.evans"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
    )
    .await
    .assert_status(200);
    let to = portal_auth::invitations::InviteTo::ExistingAccount { account_id: sent.account_id.clone() };
    portal_auth::invitations::invite(world.db(), &Actor::system(), &fay, invite_input(to))
        .await
        .expect("link the second child");
    assert_eq!(b.sign_in("grace.evans", PASSWORD).await.location(), "/portal");
    (eli, fay, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refill_made_on_the_portal_shows_in_the_list_as_submitted() {
    let world = World::new().await;
    let mut b = portal(&world, Caller::PortalA);
    let a = world.patient_a.clone();

    // The patient's home has the card and the header the link.
    let home = b.get(&format!("/portal/patients/{a}")).await;
    home.assert_status(200);
    let html = home.text();
    assert!(
        html.contains("id=\"make-request\"") && html.contains(&format!("/portal/requests/new?patient={a}")),
        "{html}"
    );
    assert!(html.contains("id=\"portal-nav-requests\""), "{html}");
    // Nothing yet.
    let list = b.get("/portal/requests").await;
    list.assert_status(200);
    assert!(list.text().contains("id=\"no-requests\""));

    // One patient: straight to the type; then the refill form.
    let choose = b.get("/portal/requests/new").await;
    choose.assert_status(200);
    let html = choose.text();
    assert!(html.contains("id=\"request-kind\"") && html.contains("Prescription refill"), "{html}");
    assert!(!html.contains("id=\"request-form\""));
    let form = b.get(&format!("/portal/requests/new?patient={a}&kind=refill")).await;
    let html = form.text();
    assert!(
        html.contains("id=\"request-form\"")
            && html.contains("name=\"medication\"")
            && html.contains("id=\"request-submit\""),
        "{html}"
    );

    // Sent twice with one form (a double click): one request.
    let key = hidden_key(&html);
    let fields = [
        ("patient_id", a.as_str()),
        ("kind", "refill"),
        ("medication", "Lisinopril 10 mg"),
        ("pharmacy", "Main Street Pharmacy"),
        ("note", ""),
        ("idempotency_key", key.as_str()),
    ];
    let id = request_of(&b.post("/portal/requests", &fields).await);
    assert_eq!(request_of(&b.post("/portal/requests", &fields).await), id);

    // The request: Submitted, its fields, its timeline.
    let page = b.get(&format!("/portal/requests/{id}?done=submitted")).await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("id=\"submitted-notice\""), "{html}");
    assert!(html.contains("id=\"request-status\"") && html.contains(">Submitted</span>"), "{html}");
    assert!(html.contains("Lisinopril 10 mg") && html.contains("Main Street Pharmacy"), "{html}");
    assert!(html.contains("id=\"request-timeline\""), "{html}");

    // The list: one row, status Submitted.
    let html = b.get("/portal/requests").await.text();
    let r = row(&html, &id).unwrap_or_else(|| panic!("not listed: {html}"));
    assert!(
        r.contains("Submitted") && r.contains("data-status=\"submitted\"") && r.contains("Lisinopril 10 mg"),
        "{r}"
    );
    assert_eq!(html.matches("data-request-id=").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_errors_are_shown_beside_the_fields_and_keep_the_input() {
    let world = World::new().await;
    let mut b = portal(&world, Caller::PortalA);
    let a = world.patient_a.clone();
    let res = send_refill(
        &mut b,
        &a,
        &[("medication", "  "), ("pharmacy", "Main Street Pharmacy"), ("note", "Out on Friday")],
    )
    .await;
    res.assert_status(422);
    let html = res.text();
    assert!(html.contains("id=\"medication-error\"") && html.contains("error-summary"), "{html}");
    assert!(html.contains("value=\"Main Street Pharmacy\"") && html.contains(">Out on Friday</textarea>"), "{html}");
    assert!(html.contains("id=\"request-form\""), "the form again: {html}");

    // An appointment naming a location that is not offered: said beside that field.
    let form = b.get(&format!("/portal/requests/new?patient={a}&kind=appointment")).await;
    let html = form.text();
    assert!(html.contains("name=\"location_id\"") && html.contains("name=\"preferred_provider_id\""), "{html}");
    assert!(html.contains("Cleo Clinician"), "the clinician of location A is offered: {html}");
    let key = hidden_key(&html);
    let missing = missing_id();
    let res = b
        .post(
            "/portal/requests",
            &[
                ("patient_id", &a),
                ("kind", "appointment"),
                ("reason", "Knee pain when climbing stairs"),
                ("preferred_times", "Mornings"),
                ("location_id", &missing),
                ("idempotency_key", &key),
            ],
        )
        .await;
    res.assert_status(422);
    let html = res.text();
    assert!(html.contains("id=\"location_id-error\""), "{html}");
    assert!(
        html.contains(">Knee pain when climbing stairs</textarea>") && html.contains("value=\"Mornings\""),
        "{html}"
    );

    // An unknown type: the type is asked again; nothing was made.
    let res = b.get(&format!("/portal/requests/new?patient={a}&kind=surgery")).await;
    res.assert_status(422);
    assert!(res.text().contains("id=\"kind-error\""));
    assert!(b.get("/portal/requests").await.text().contains("id=\"no-requests\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_of_two_children_chooses_who_the_request_is_for() {
    let world = World::new().await;
    let (eli, fay, mut g) = guardian_of_two(&world).await;
    let page = g.get("/portal/requests/new").await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("id=\"choose-patient-form\""), "{html}");
    assert!(html.contains(&format!("id=\"patient-{eli}\"")) && html.contains(&format!("id=\"patient-{fay}\"")));
    assert!(!html.contains(" checked"), "no child is chosen for the guardian");
    // Continue without a choice: asked again.
    let res = g.get("/portal/requests/new?chosen=patient").await;
    res.assert_status(422);
    assert!(res.text().contains("id=\"patient-error\""));
    // Fay chosen: the type, then the form for Fay.
    let html = g.get(&format!("/portal/requests/new?patient={fay}&chosen=patient")).await.text();
    assert!(html.contains("id=\"request-kind\"") && html.contains("Fay Evans"), "{html}");
    let id = request_of(&send_refill(&mut g, &fay, &[("medication", "Amoxicillin 250 mg")]).await);
    let html = g.get("/portal/requests").await.text();
    let r = row(&html, &id).unwrap_or_else(|| panic!("not listed: {html}"));
    assert!(r.contains("For Fay Evans") && r.contains("Submitted"), "{r}");
    // The request is Fay's, not Eli's.
    let res = world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/requests/{id}"))).await;
    assert_eq!(res.json()["request"]["patient_id"].as_str(), Some(fay.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_sees_or_makes_another_patients_requests() {
    let world = World::new().await;
    let mut a = portal(&world, Caller::PortalA);
    let id = request_of(&send_refill(&mut a, &world.patient_a.clone(), &[("medication", "Lisinopril 10 mg")]).await);
    let mut b = portal(&world, Caller::PortalB);
    // Another patient's request answers like a missing one, and is not listed.
    let theirs = b.get(&format!("/portal/requests/{id}")).await;
    let missing = b.get(&format!("/portal/requests/{}", missing_id())).await;
    theirs.assert_status(404);
    assert_eq!(theirs.text(), missing.text());
    b.get("/portal/requests/not-an-id").await.assert_status(404);
    b.get("/portal/requests/%FF").await.assert_status(404);
    assert!(row(&b.get("/portal/requests").await.text(), &id).is_none());
    // Nor may B open the form for patient A, or post one with A's id.
    b.get(&format!("/portal/requests/new?patient={}", world.patient_a)).await.assert_status(404);
    let form = b.get("/portal/requests/new?kind=refill").await.text();
    let key = hidden_key(&form);
    let res = b
        .post(
            "/portal/requests",
            &[
                ("patient_id", &world.patient_a),
                ("kind", "refill"),
                ("medication", "Aspirin"),
                ("idempotency_key", &key),
            ],
        )
        .await;
    res.assert_status(404);
    let mine = world.send_as(Caller::PortalA, TestRequest::get("/api/v1/portal/requests")).await.json();
    assert_eq!(mine["requests"].as_array().map(Vec::len), Some(1), "nothing made for patient A by B");
    // A bad page link: a readable warning and the newest page, never a 500.
    let res = a.get("/portal/requests?before=yesterday").await;
    res.assert_status(400);
    assert!(res.text().contains("id=\"bad-page-link\"") && row(&res.text(), &id).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_from_the_queue_shows_in_the_timeline() {
    let world = World::new().await;
    world.conversations().await; // the Clinician answers portal messages
    let mut a = portal(&world, Caller::PortalA);
    let id = request_of(&send_refill(&mut a, &world.patient_a.clone(), &[("medication", "Lisinopril 10 mg")]).await);
    let body = json!({ "body": "Your refill is at the pharmacy.", "disposition": "completed" });
    let res =
        world.send_as(Caller::Clinician, TestRequest::post(format!("/api/v1/requests/{id}/reply")).json(&body)).await;
    res.assert_status(201);
    let conversation = res.json()["conversation_id"].as_str().expect("conversation").to_owned();
    let html = a.get(&format!("/portal/requests/{id}")).await.text();
    assert!(html.contains(">Completed</span>"), "{html}");
    assert!(
        html.contains("Your refill is at the pharmacy.") && html.contains(&format!("/portal/messages/{conversation}")),
        "{html}"
    );
    let list = a.get("/portal/requests").await.text();
    assert!(row(&list, &id).is_some_and(|r| r.contains("data-status=\"completed\"")), "{list}");
}
