//! What the staff's portal-access API does, beyond who may call it (the authorization table):
//! status and access level, invitations and their refusals, credentials at the desk, grants
//! and their revocation (felt by the portal user's next request), the look-ups, the Onboarding
//! Tool with a bulk job that runs while other requests are answered, and the auto-enable
//! settings.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Caller, PASSWORD, TestRequest, World, create_patient, outbox_events};
use portal_core::events::DomainEvent;
use serde_json::{Value, json};

fn portal(patient: &str) -> String {
    format!("/api/v1/patients/{patient}/portal")
}

fn invitations(patient: &str) -> String {
    format!("/api/v1/patients/{patient}/portal/invitations")
}

async fn status(world: &World, caller: Caller, patient: &str) -> Value {
    let res = world.send_as(caller, TestRequest::get(portal(patient))).await;
    res.assert_status(200);
    res.json()
}

async fn audit(world: &World, action: &str) -> Vec<Value> {
    let uri = format!("/api/v1/audit-events?action={action}&limit=500");
    let res = world.send_as(Caller::SuperAdmin, TestRequest::get(uri)).await;
    res.assert_status(200);
    res.json().as_array().expect("rows").clone()
}

fn detail(p: &Value) -> &str {
    p["detail"].as_str().unwrap_or("")
}

/// The portal user's session, resolved as their next request would be.
async fn portal_session(world: &World, caller: Caller) -> Option<portal_auth::PortalSession> {
    let token = world.token(caller).expect("a portal token");
    let policy = &world.app.state.app().portal_sessions;
    portal_auth::portal_sessions::authenticate_portal(world.db(), policy, token).await.expect("authenticate")
}

async fn reaches(world: &World, caller: Caller, patient: &str) -> bool {
    let Some(s) = portal_session(world, caller).await else { return false };
    let id = portal_core::ids::PatientId::parse(patient).expect("id");
    s.principal.grant_for(&id).is_ok()
}

async fn set_use_portal(world: &World, on: bool) {
    world.db().write(move |tx| Box::pin(async move { portal_store::org::set_use_portal(tx, on).await })).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_colour_words_hint_username_and_times() {
    let world = World::new().await;
    // Patient A's own account signed in (the world's portal user): green.
    let a = status(&world, Caller::Billing, &world.patient_a).await;
    assert_eq!(a["patient_id"], world.patient_a.as_str());
    assert_eq!(
        (a["access_level"].as_str(), a["access_level_label"].as_str()),
        (Some("can_access"), Some("Patient Can Access Portal"))
    );
    assert_eq!((a["status"]["status"].as_str(), a["status"]["colour"].as_str()), (Some("signed_in"), Some("green")));
    assert_eq!(a["status"]["reasons"], json!([]));
    assert!(a["status"]["hint"].as_str().is_some_and(|h| h.contains("I forgot my password")), "{a}");
    assert!(!a["status"]["words"].as_str().unwrap_or("").is_empty());
    assert_eq!(a["username"], "alice.anders");
    assert_eq!(a["email"], "alice.anders@example.test");
    for t in ["last_invited_at", "last_signed_in_at"] {
        assert!(a[t].as_str().is_some_and(|t| t.ends_with('Z')), "{t} in {a}");
    }
    assert!(a["mismatch_hint"].as_str().is_some_and(|h| h.contains("zip code")), "{a}");
    assert!(a["email_privacy_warning"].as_str().is_some_and(|h| h.contains("protected health information")));

    // A new patient without a ZIP code: red, and the words say why.
    let loc = world.location_a.clone();
    let fresh = create_patient(world.db(), "Rhea", "Red", "1970-01-01", &loc).await;
    let r = status(&world, Caller::FrontDesk, &fresh).await;
    assert_eq!((r["access_level"].as_str(), r["status"]["colour"].as_str()), (Some("no_access"), Some("red")));
    let reasons: Vec<_> = r["status"]["reasons"].as_array().unwrap().iter().map(|x| x["reason"].clone()).collect();
    assert_eq!(reasons, [json!("access_not_enabled"), json!("no_zip")]);
    assert_eq!(r["status"]["reasons"][1]["words"], "no zip code on file");
    assert_eq!(
        (r["username"].clone(), r["last_invited_at"].clone(), r["last_signed_in_at"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );

    // The front desk of B cannot see A's patients: answered like a missing one.
    let p = world.send_as(Caller::FrontDeskB, TestRequest::get(portal(&fresh))).await.assert_problem(404);
    let q =
        world.send_as(Caller::FrontDeskB, TestRequest::get(portal(&common::missing_id()))).await.assert_problem(404);
    assert_eq!(p, q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_names_what_is_missing_and_disabling_closes_the_portal() {
    let world = World::new().await;
    let loc = world.location_a.clone();
    let fresh = create_patient(world.db(), "Zed", "Nozip", "1970-01-01", &loc).await;
    let uri = format!("/api/v1/patients/{fresh}/portal/access");
    let on = json!({ "enabled": true });

    let p = world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&on)).await.assert_problem(409);
    assert_eq!(detail(&p), "Add the patient's home ZIP code before enabling portal access", "{p}");
    world.app.exec_sql(&format!("UPDATE patients SET email = NULL WHERE id = '{fresh}'")).await;
    let p = world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&on)).await.assert_problem(409);
    assert!(detail(&p).contains("e-mail address and home ZIP code"), "{p}");
    // Billing lacks Edit Patients: refused before anything is looked at, the permission named.
    let p = world.send_as(Caller::Billing, TestRequest::put(&uri).json(&on)).await.assert_problem(403);
    assert!(detail(&p).contains("Edit Patients"), "{p}");
    assert!(audit(&world, "portal_access_changed").await.iter().all(|r| r["patient_id"] != fresh.as_str()));

    world
        .app
        .exec_sql(&format!("UPDATE patients SET email = 'zed@example.test', zip = '62701' WHERE id = '{fresh}'"))
        .await;
    let res = world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&on)).await;
    res.assert_status(200);
    let s = res.json();
    assert_eq!((s["access_level"].as_str(), s["status"]["colour"].as_str()), (Some("can_access"), Some("gray")));
    // Again: the same answer, and no second audit row.
    world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&on)).await.assert_status(200);
    let rows: Vec<_> = audit(&world, "portal_access_changed")
        .await
        .into_iter()
        .filter(|r| r["patient_id"] == fresh.as_str())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");

    // Disabling patient A closes the portal to its portal user from the next request on.
    assert!(reaches(&world, Caller::PortalA, &world.patient_a).await);
    let a_access = format!("/api/v1/patients/{}/portal/access", world.patient_a);
    let res = world.send_as(Caller::FrontDesk, TestRequest::put(&a_access).json(&json!({ "enabled": false }))).await;
    res.assert_status(200);
    assert_eq!(res.json()["status"]["reasons"][0]["reason"], "access_not_enabled");
    assert!(!reaches(&world, Caller::PortalA, &world.patient_a).await);
    assert!(reaches(&world, Caller::PortalB, &world.patient_b).await, "another patient's portal user is untouched");
    // Body checks: only the one field, as a boolean.
    for bad in [json!({ "enabled": "yes" }), json!({}), json!({ "enabled": true, "patient_id": "x" })] {
        world.send_as(Caller::FrontDesk, TestRequest::put(&a_access).json(&bad)).await.assert_problem(422);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_go_to_the_patient_a_contact_a_designated_person_or_an_existing_account() {
    let world = World::new().await;
    let a = world.patient_a.clone();

    // The patient: their account has a password, so this is a reset; the answer never holds
    // the link.
    let res = world
        .send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&json!({ "to": { "kind": "patient" } })))
        .await;
    res.assert_status(202);
    let sent = res.json();
    assert_eq!(sent["relation"], "self");
    assert_eq!(sent["purpose"], "reset");
    assert_eq!(sent["to"], "alice.anders@example.test");
    assert_eq!(sent["grant_created"], false);
    assert!(sent["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let token = common::last_link_to(world.db(), "alice.anders@example.test").await;
    assert!(!res.text().contains(&token), "the link's token must not be in the answer");
    assert_eq!(sent.as_object().map(|o| o.len()), Some(7), "{sent}");

    // A contact (with an address): the PHI warning must be acknowledged.
    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::post(format!("/api/v1/patients/{a}/contacts")).json(&common::contact_body("Gwen")),
        )
        .await;
    res.assert_status(201);
    let contact = res.json()["id"].as_str().unwrap().to_owned();
    let to_contact = json!({ "kind": "contact", "contact_id": contact });
    let p = world
        .send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&json!({ "to": to_contact })))
        .await
        .assert_problem(409);
    assert_eq!(detail(&p), "Confirm that the recipient is authorized to see the patient's health information.");
    let body = json!({ "to": to_contact, "phi_warning_acknowledged": true, "scopes": ["appointments", "billing"],
        "message": "Please fill in the forms before your visit." });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&body)).await;
    res.assert_status(202);
    let guardian = res.json();
    assert_eq!((guardian["relation"].as_str(), guardian["purpose"].as_str()), (Some("guardian"), Some("invitation")));
    assert_eq!(
        (guardian["to"].as_str(), guardian["grant_created"].as_bool()),
        (Some("contact@example.test"), Some(true))
    );
    // The message is kept with the link for the portal, never put in the e-mail's event.
    assert!(outbox_events(world.db()).await.iter().all(|e| !format!("{e:?}").contains("forms before your visit")));

    // "Link User by Email" finds that account; inviting it to another patient adds a grant to
    // the same account (one account for all the guardian's patients).
    let res = world
        .send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/portal-accounts?email=Contact%40Example.test"))
        .await;
    res.assert_status(200);
    let found = res.json();
    let account = guardian["account_id"].as_str().unwrap();
    assert!(found.as_array().unwrap().iter().any(|x| x["account_id"] == account), "{found}");
    let link = json!({ "to": { "kind": "existing_account", "account_id": account }, "relation": "guardian",
        "phi_warning_acknowledged": true });
    let res = world.send_as(Caller::SuperAdmin, TestRequest::post(invitations(&world.patient_b)).json(&link)).await;
    res.assert_status(202);
    assert_eq!((res.json()["account_id"].as_str(), res.json()["grant_created"].as_bool()), (Some(account), Some(true)));

    // A designated person: the field errors name the JSON's fields.
    let bad = json!({ "to": { "kind": "designated", "name": "", "email": "not-an-address" }, "relation": "self",
        "scopes": [], "ends_on": "2001-01-01", "phi_warning_acknowledged": true });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&bad)).await;
    let fields = res.error_fields();
    assert_eq!(fields, BTreeSet::from(["to.name", "to.email", "relation", "scopes", "ends_on"].map(String::from)));
    // Only the invitation's own fields: no role, no other patient named inside `to`.
    for bad in [
        json!({ "to": { "kind": "someone" } }),
        json!({ "to": { "kind": "patient" }, "role": "admin" }),
        json!({ "to": { "kind": "patient", "patient_id": world.patient_b } }),
        json!({ "to": { "kind": "designated", "name": "Dana", "email": "dana@example.test", "relation": "self" },
            "phi_warning_acknowledged": true }),
        json!({}),
    ] {
        world.send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&bad)).await.assert_problem(422);
    }

    // A patient whose access is not enabled: nobody can be invited to it.
    let loc = world.location_a.clone();
    let red = create_patient(world.db(), "Ray", "Red", "1970-01-01", &loc).await;
    let p = world
        .send_as(Caller::FrontDesk, TestRequest::post(invitations(&red)).json(&json!({ "to": { "kind": "patient" } })))
        .await
        .assert_problem(409);
    assert_eq!(detail(&p), "Enable the patient's portal access before inviting anyone to it.");

    // While the portal is off: refused, nothing sent.
    set_use_portal(&world, false).await;
    let before = outbox_events(world.db()).await.len();
    let p = world
        .send_as(Caller::FrontDesk, TestRequest::post(invitations(&a)).json(&json!({ "to": { "kind": "patient" } })))
        .await
        .assert_problem(409);
    assert!(detail(&p).contains("portal is turned off"), "{p}");
    assert_eq!(outbox_events(world.db()).await.len(), before);

    // Every invitation sent is audited, with the patient.
    let rows = audit(&world, "portal_invitation_sent").await;
    assert!(rows.iter().filter(|r| r["patient_id"] == a.as_str()).count() >= 3, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_at_the_desk_and_the_username_check() {
    let world = World::new().await;
    let loc = world.location_a.clone();
    let fresh = world.portal_ready_patient(&loc).await;
    let uri = format!("/api/v1/patients/{fresh}/portal/credentials");

    // A taken username (ignoring case), a short password: both named.
    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::put(&uri).json(&json!({ "username": "Alice.Anders", "temporary_password": "short" })),
        )
        .await;
    let p = res.assert_problem(422);
    assert_eq!(res.error_fields(), BTreeSet::from(["username".to_owned(), "temporary_password".to_owned()]));
    assert!(
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "username" && e["detail"] == "is taken; choose another"),
        "{p}"
    );

    let check = |u: &str| TestRequest::get(format!("/api/v1/portal-usernames?username={u}"));
    let res = world.send_as(Caller::FrontDesk, check("Alice.Anders")).await;
    res.assert_status(200);
    assert_eq!(res.json(), json!({ "username": "alice.anders", "available": false }));
    let res = world.send_as(Caller::FrontDesk, check("dee.desk")).await;
    assert_eq!(res.json(), json!({ "username": "dee.desk", "available": true }));
    assert_eq!(
        world.send_as(Caller::FrontDesk, check("a%20b")).await.error_fields(),
        BTreeSet::from(["username".to_owned()])
    );
    assert_eq!(
        world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/portal-usernames")).await.error_fields(),
        BTreeSet::from(["username".to_owned()])
    );
    world.send_as(Caller::Billing, check("dee.desk")).await.assert_problem(403);

    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::put(&uri).json(&json!({ "username": "Dee.Desk", "temporary_password": PASSWORD })),
        )
        .await;
    res.assert_status(200);
    let set = res.json();
    assert_eq!((set["username"].as_str(), set["account_created"].as_bool()), (Some("dee.desk"), Some(true)));
    assert_eq!(world.send_as(Caller::FrontDesk, check("dee.desk")).await.json()["available"], false);
    // The patient signs in with them and must choose a new password first.
    let app = world.app.state.app();
    let signed = portal_auth::portal_sessions::sign_in_portal(
        world.db(),
        &app.hasher,
        &app.portal_sessions,
        "dee.desk",
        PASSWORD,
        None,
        None,
    )
    .await
    .expect("sign in with the desk's credentials");
    assert!(signed.must_change_password);
    assert_eq!(status(&world, Caller::FrontDesk, &fresh).await["username"], "dee.desk");
    // A set username cannot be changed here.
    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::put(&uri).json(&json!({ "username": "other.name", "temporary_password": PASSWORD })),
        )
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["username".to_owned()]));
    let rows = audit(&world, "portal_credentials_set").await;
    assert_eq!(rows.iter().filter(|r| r["patient_id"] == fresh.as_str()).count(), 1);
    // A patient whose access is not enabled gets no credentials.
    let red = create_patient(world.db(), "Ray", "Red", "1970-01-01", &loc).await;
    let uri = format!("/api/v1/patients/{red}/portal/credentials");
    let p = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::put(&uri).json(&json!({ "username": "ray.red", "temporary_password": PASSWORD })),
        )
        .await
        .assert_problem(409);
    assert!(detail(&p).contains("Enable the patient's portal access"), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_no_longer_opens_the_patient_on_the_next_request() {
    let world = World::new().await;
    let a = world.patient_a.clone();
    let users_uri = format!("/api/v1/patients/{a}/portal/users");
    let res = world.send_as(Caller::Clinician, TestRequest::get(&users_uri)).await;
    res.assert_status(200);
    let users = res.json();
    let own =
        users.as_array().unwrap().iter().find(|u| u["relation"] == "self").expect("the patient's own grant").clone();
    assert_eq!(
        (own["username"].as_str(), own["in_force"].as_bool(), own["registered"].as_bool()),
        (Some("alice.anders"), Some(true), Some(true))
    );
    assert_eq!(own["scopes"], json!(["messages", "requests", "documents", "appointments", "billing"]));
    let grant = own["grant_id"].as_str().unwrap().to_owned();
    let grant_uri = format!("/api/v1/patients/{a}/portal/grants/{grant}");

    // Refused from every side that must be refused; the grant still opens the patient.
    world.send_as(Caller::Billing, TestRequest::delete(&grant_uri)).await.assert_problem(403);
    world.send_as(Caller::FrontDeskB, TestRequest::delete(&grant_uri)).await.assert_problem(404);
    let under_b = format!("/api/v1/patients/{}/portal/grants/{grant}", world.patient_b);
    world.send_as(Caller::SuperAdmin, TestRequest::delete(&under_b)).await.assert_problem(404);
    world.send_as(Caller::PortalA, TestRequest::delete(&grant_uri)).await.assert_problem(401);
    assert!(reaches(&world, Caller::PortalA, &a).await);

    world.send_as(Caller::FrontDesk, TestRequest::delete(&grant_uri)).await.assert_status(204);
    // The session lives on, but the patient is out of reach from the very next request.
    assert!(portal_session(&world, Caller::PortalA).await.is_some());
    assert!(!reaches(&world, Caller::PortalA, &a).await);
    assert!(reaches(&world, Caller::PortalB, &world.patient_b).await);
    // Kept in the list as history; revoking again changes nothing; a revoked grant is not edited.
    let users = world.send_as(Caller::FrontDesk, TestRequest::get(&users_uri)).await.json();
    let own = users.as_array().unwrap().iter().find(|u| u["grant_id"] == grant.as_str()).expect("still listed").clone();
    assert_eq!(own["in_force"], false);
    assert!(own["revoked_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    world.send_as(Caller::FrontDesk, TestRequest::delete(&grant_uri)).await.assert_status(204);
    assert_eq!(audit(&world, "portal_grant_revoked").await.len(), 1);
    let body = json!({ "scopes": ["messages"] });
    world.send_as(Caller::FrontDesk, TestRequest::put(&grant_uri).json(&body)).await.assert_problem(404);
    // The portal tab no longer shows the patient's own username (the grant is gone).
    assert_eq!(status(&world, Caller::FrontDesk, &a).await["username"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grants_parts_and_last_day_can_be_changed() {
    let world = World::new().await;
    let a = world.patient_a.clone();
    let grant = world.designated_grant(&a).await;
    let uri = format!("/api/v1/patients/{a}/portal/grants/{grant}");
    let tomorrow = (time::OffsetDateTime::now_utc().date() + time::Duration::days(1)).to_string();

    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::put(&uri).json(&json!({ "scopes": ["billing", "appointments"], "ends_on": tomorrow })),
        )
        .await;
    res.assert_status(200);
    let g = res.json();
    assert_eq!((g["grant_id"].as_str(), g["relation"].as_str()), (Some(grant.as_str()), Some("other")));
    assert_eq!(g["scopes"], json!(["appointments", "billing"]));
    assert_eq!(g["ends_on"], tomorrow.as_str());
    // Absent fields stay; "" removes the last day.
    let g = world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&json!({ "ends_on": "" }))).await.json();
    assert_eq!((g["scopes"].clone(), g["ends_on"].clone()), (json!(["appointments", "billing"]), Value::Null));
    let res = world
        .send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&json!({ "scopes": [], "ends_on": "2001-01-01" })))
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["scopes".to_owned(), "ends_on".to_owned()]));
    let res = world.send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&json!({ "scopes": ["everything"] }))).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["scopes".to_owned()]));
    // Only its own fields: a relation or a patient cannot be set here.
    world
        .send_as(Caller::FrontDesk, TestRequest::put(&uri).json(&json!({ "relation": "self" })))
        .await
        .assert_problem(422);
    assert_eq!(audit(&world, "portal_grant_updated").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_user_by_email_lists_every_account_on_a_shared_address() {
    let world = World::new().await;
    for name in ["Pat One", "Pat Two"] {
        let body = json!({ "to": { "kind": "designated", "name": name, "email": "family@example.test" }, "phi_warning_acknowledged": true });
        world
            .send_as(Caller::FrontDesk, TestRequest::post(invitations(&world.patient_a)).json(&body))
            .await
            .assert_status(202);
    }
    let res =
        world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/portal-accounts?email=family%40example.test")).await;
    res.assert_status(200);
    let names: BTreeSet<_> =
        res.json().as_array().unwrap().iter().map(|a| a["display_name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, BTreeSet::from(["Pat One".to_owned(), "Pat Two".to_owned()]));
    let res =
        world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/portal-accounts?email=nobody%40example.test")).await;
    assert_eq!(res.json(), json!([]));
    for uri in ["/api/v1/portal-accounts?email=nope", "/api/v1/portal-accounts"] {
        assert_eq!(
            world.send_as(Caller::FrontDesk, TestRequest::get(uri)).await.error_fields(),
            BTreeSet::from(["email".to_owned()])
        );
    }
    let p = world
        .send_as(Caller::Billing, TestRequest::get("/api/v1/portal-accounts?email=family%40example.test"))
        .await
        .assert_problem(403);
    assert!(detail(&p).contains("Edit Patients"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onboarding_list_is_scoped_filtered_and_counted() {
    let world = World::new().await;
    let loc = world.location_a.clone();
    let red = create_patient(world.db(), "Rosa", "Onboard", "1970-01-01", &loc).await;
    let res = world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/onboarding")).await;
    res.assert_status(200);
    let page = res.json();
    let ids: BTreeSet<_> =
        page["items"].as_array().unwrap().iter().map(|r| r["patient_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, BTreeSet::from([world.patient_a.clone(), red.clone()]), "only location A's patients");
    assert_eq!(
        (page["total"].as_i64(), page["page"].as_i64(), page["per_page"].as_i64()),
        (Some(2), Some(1), Some(50))
    );
    assert_eq!(page["counts"], json!({ "red": 1, "gray": 0, "orange": 0, "green": 1 }));
    let row_a =
        page["items"].as_array().unwrap().iter().find(|r| r["patient_id"] == world.patient_a.as_str()).unwrap().clone();
    assert_eq!(row_a["status"]["colour"], "green");
    assert_eq!(row_a["invite_action"], "Send Invite to alice.anders@example.test");
    let row_red = page["items"].as_array().unwrap().iter().find(|r| r["patient_id"] == red.as_str()).unwrap().clone();
    assert_eq!(row_red["invite_action"], Value::Null);

    let res = world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/onboarding?status=green")).await;
    let items = res.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    let res = world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/onboarding?q=rosa")).await;
    assert_eq!(res.json()["total"], 1);
    let res = world.send_as(Caller::FrontDeskB, TestRequest::get("/api/v1/onboarding")).await;
    let ids: Vec<_> =
        res.json()["items"].as_array().unwrap().iter().map(|r| r["patient_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, std::slice::from_ref(&world.patient_b));
    for (uri, field) in [
        ("/api/v1/onboarding?status=zombie", "status"),
        ("/api/v1/onboarding?per_page=201", "per_page"),
        ("/api/v1/onboarding?page=0", "page"),
        ("/api/v1/onboarding?location_id=nowhere", "location_id"),
    ] {
        assert_eq!(
            world.send_as(Caller::FrontDesk, TestRequest::get(uri)).await.error_fields(),
            BTreeSet::from([field.to_owned()]),
            "{uri}"
        );
    }
    world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/onboarding?page=abc")).await.assert_problem(400);
}

/// Polls a job as `caller` until it is no longer running.
async fn wait_for_job(world: &World, caller: Caller, job: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let res = world.send_as(caller, TestRequest::get(format!("/api/v1/onboarding/jobs/{job}"))).await;
        res.assert_status(200);
        let p = res.json();
        if p["status"] != "running" || started.elapsed() > limit {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_enqueues_invitations_while_other_requests_are_answered() {
    let world = World::new().await;
    let loc = world.location_a.clone();
    // 250 patients (two chunks): 240 with an e-mail and a ZIP code, 10 without a ZIP code.
    let mut with_zip = Vec::new();
    for n in 0..250 {
        let mut input = common::patient_input(&format!("P{n}"), "Bulkington", "1980-01-01", &loc);
        if n >= 10 {
            input.zip = Some("62701".into());
        }
        let id = portal_practice::patients::create(world.db(), &portal_core::Actor::system(), input)
            .await
            .expect("patient")
            .id;
        if n >= 10 {
            with_zip.push(id);
        }
    }
    let before_links = outbox_events(world.db()).await.len();

    let started = Instant::now();
    let body = json!({ "filter": { "q": "bulkington" }, "enable": true, "invite": true });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post("/api/v1/onboarding/jobs").json(&body)).await;
    res.assert_status(202);
    let answered_in = started.elapsed();
    let job = res.json();
    assert_eq!(job["total"], 250);
    let id = job["job_id"].as_str().unwrap().to_owned();
    assert_eq!(res.header("location"), Some(format!("/api/v1/onboarding/jobs/{id}").as_str()));
    assert_eq!(job["progress_url"], format!("/api/v1/onboarding/jobs/{id}"));

    // While it runs, other requests are answered, and only its creator sees its progress.
    let mut answered = 0;
    let mut seen_running = false;
    let summary = loop {
        for req in [TestRequest::get(portal(&world.patient_a)), TestRequest::get("/api/v1/patients?q=alice")] {
            world.send_as(Caller::Clinician, req).await.assert_status(200);
            answered += 1;
        }
        for other in [Caller::PracticeManager, Caller::SuperAdmin, Caller::FrontDeskB] {
            let res = world.send_as(other, TestRequest::get(format!("/api/v1/onboarding/jobs/{id}"))).await;
            res.assert_problem(404);
        }
        let res = world.send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/onboarding/jobs/{id}"))).await;
        res.assert_status(200);
        let p = res.json();
        if p["status"] != "running" {
            break p;
        }
        seen_running = true;
        assert!(started.elapsed() < Duration::from_secs(180), "the job did not finish: {p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "202 after {answered_in:?}; job done after {:?}; {answered} other requests answered meanwhile; seen running: {seen_running}",
        started.elapsed()
    );
    assert_eq!(summary["status"], "finished", "{summary}");
    assert_eq!((summary["total"].as_i64(), summary["processed"].as_i64()), (Some(250), Some(250)));
    assert_eq!(
        (summary["enabled"].as_i64(), summary["sent"].as_i64(), summary["skipped"].as_i64()),
        (Some(240), Some(240), Some(10))
    );
    assert_eq!(
        summary["skipped_reasons"],
        json!([{ "reason": "no_zip", "words": "no zip code on file", "count": 10 }])
    );

    // The invitations are queued in the outbox, one per patient invited.
    let events = outbox_events(world.db()).await;
    assert_eq!(events.len() - before_links, 240);
    let bulk_to: BTreeSet<_> = events[before_links..]
        .iter()
        .filter_map(|e| match e {
            DomainEvent::AccountLinkIssued { to, .. } => Some(to.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bulk_to.len(), 240);
    assert!(bulk_to.iter().all(|t| t.ends_with(".bulkington@example.test")));
    // They are orange now; the ones without a ZIP code are still red.
    let s = status(&world, Caller::FrontDesk, &with_zip[0]).await;
    assert_eq!(s["status"]["colour"], "orange");
    let counts =
        world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/onboarding?q=bulkington")).await.json()["counts"]
            .clone();
    assert_eq!(counts, json!({ "red": 10, "gray": 0, "orange": 240, "green": 0 }));
    // The finished job stays readable by its creator only.
    let again = wait_for_job(&world, Caller::FrontDesk, &id, Duration::from_secs(1)).await;
    assert_eq!(again, summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_jobs_are_refused_clearly() {
    let world = World::new().await;
    let jobs = "/api/v1/onboarding/jobs";
    let p = world
        .send_as(
            Caller::Billing,
            TestRequest::post(jobs).json(&json!({ "patient_ids": [world.patient_a], "enable": true })),
        )
        .await
        .assert_problem(403);
    assert!(detail(&p).contains("Edit Patients"));
    // Nothing to do, or no one to do it to.
    let res = world
        .send_as(Caller::FrontDesk, TestRequest::post(jobs).json(&json!({ "patient_ids": [world.patient_a] })))
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["invite".to_owned()]));
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(jobs).json(&json!({ "enable": true }))).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["patient_ids".to_owned()]));
    let res = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::post(jobs).json(&json!({ "filter": { "status": "purple" }, "enable": true })),
        )
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["status".to_owned()]));
    world
        .send_as(Caller::FrontDesk, TestRequest::post(jobs).json(&json!({ "filter": { "page": 2 }, "enable": true })))
        .await
        .assert_problem(422);
    // Inviting while the portal is off.
    set_use_portal(&world, false).await;
    let p = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::post(jobs).json(&json!({ "patient_ids": [world.patient_a], "invite": true })),
        )
        .await
        .assert_problem(409);
    assert!(detail(&p).contains("portal is turned off"), "{p}");
    // Patients of another location are skipped as not found, never touched.
    set_use_portal(&world, true).await;
    let body =
        json!({ "patient_ids": [world.patient_b, common::missing_id(), "not-an-id"], "enable": true, "invite": true });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(jobs).json(&body)).await;
    res.assert_status(202);
    let id = res.json()["job_id"].as_str().unwrap().to_owned();
    let done = wait_for_job(&world, Caller::FrontDesk, &id, Duration::from_secs(60)).await;
    assert_eq!(
        (done["status"].as_str(), done["skipped"].as_i64(), done["sent"].as_i64()),
        (Some("finished"), Some(3), Some(0))
    );
    assert_eq!(done["skipped_reasons"][0]["reason"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_enable_is_set_for_the_instance_and_per_location() {
    let world = World::new().await;
    let uri = "/api/v1/settings/portal-access";
    let s = world.send_as(Caller::SuperAdmin, TestRequest::get(uri)).await.json();
    assert_eq!(s["auto_enable"], false);
    assert_eq!(s["locations"].as_array().map(Vec::len), Some(2));
    assert!(s["locations"].as_array().unwrap().iter().all(|l| l["auto_enable"].is_null() && l["effective"] == false));
    world.send_as(Caller::SuperAdminNoSettings, TestRequest::get(uri)).await.assert_problem(403);
    let p = world
        .send_as(Caller::SuperAdminNoSettings, TestRequest::put(uri).json(&json!({ "auto_enable": true })))
        .await
        .assert_problem(403);
    assert!(detail(&p).contains("Manage Portal Settings"));

    // An unknown location: refused before anything changes.
    let bad = json!({ "auto_enable": true, "location_overrides": [{ "location_id": common::missing_id(), "auto_enable": false }] });
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&bad)).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["location_overrides".to_owned()]));
    let twice = json!({ "auto_enable": true, "location_overrides": [
        { "location_id": world.location_b, "auto_enable": false }, { "location_id": world.location_b } ] });
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&twice)).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["location_overrides".to_owned()]));
    assert_eq!(world.send_as(Caller::SuperAdmin, TestRequest::get(uri)).await.json()["auto_enable"], false);

    let body = json!({ "auto_enable": true, "location_overrides": [{ "location_id": world.location_b, "auto_enable": false }] });
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&body)).await;
    res.assert_status(200);
    let s = res.json();
    assert_eq!(s["auto_enable"], true);
    let of = |id: &str| s["locations"].as_array().unwrap().iter().find(|l| l["location_id"] == id).unwrap().clone();
    assert_eq!(
        (of(&world.location_a)["auto_enable"].clone(), of(&world.location_a)["effective"].clone()),
        (Value::Null, json!(true))
    );
    assert_eq!(
        (of(&world.location_b)["auto_enable"].clone(), of(&world.location_b)["effective"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(s["history"].as_array().map(Vec::len), Some(2), "{s}");
    // The same values again record nothing.
    let s2 = world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&body)).await.json();
    assert_eq!(s2["history"].as_array().map(Vec::len), Some(2));

    // Patients added by staff from now on: enabled at A, not at B.
    for (loc, caller, expected) in
        [(&world.location_a, Caller::FrontDesk, "can_access"), (&world.location_b, Caller::FrontDeskB, "no_access")]
    {
        let body = world.patient_body(loc, "Auto", &format!("Enable{}", world.unique()));
        let res = world.send_as(caller, TestRequest::post("/api/v1/patients").json(&body)).await;
        res.assert_status(201);
        let id = res.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(status(&world, caller, &id).await["access_level"], expected);
    }
    // Back to following the instance.
    let follow = json!({ "auto_enable": true, "location_overrides": [{ "location_id": world.location_b, "auto_enable": null }] });
    let s = world.send_as(Caller::SuperAdmin, TestRequest::put(uri).json(&follow)).await.json();
    let b = s["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location_id"] == world.location_b.as_str())
        .unwrap()
        .clone();
    assert_eq!((b["auto_enable"].clone(), b["effective"].clone()), (Value::Null, json!(true)));
}
