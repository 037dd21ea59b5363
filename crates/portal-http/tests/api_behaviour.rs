//! What the API does, beyond who may call it: instance settings and the portal fee, portal
//! permissions and their audit rows, patients (validation, search, location scoping), contacts,
//! care teams, logo uploads and the audit log of patient views and searches.

mod common;

use std::collections::BTreeSet;

use common::{Caller, TestRequest, TestResponse, World, jpeg_bytes, png_bytes};
use serde_json::{Value, json};

const USE_PORTAL: &str = "/api/v1/settings/instance/use-portal";
const SETTINGS: &str = "/api/v1/settings/instance";

fn ids(items: &Value) -> BTreeSet<String> {
    items.as_array().expect("array").iter().map(|p| p["id"].as_str().expect("id").to_owned()).collect()
}

async fn audit(world: &World, query: &str) -> Vec<Value> {
    let res = world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/audit-events?{query}"))).await;
    res.assert_status(200);
    res.json().as_array().expect("rows").clone()
}

async fn search(world: &World, caller: Caller, query: &str) -> Value {
    let res = world.send_as(caller, TestRequest::get(format!("/api/v1/patients?{query}"))).await;
    res.assert_status(200);
    res.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_the_portal_on_needs_the_fee_acknowledged_and_is_kept_in_the_history() {
    let world = World::new().await;
    // The world's portal users needed the portal on; this test starts from a clinic without it.
    world.db().write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await })).await.unwrap();
    let sa = world.id(Caller::SuperAdmin).to_owned();
    let settings = world.send_as(Caller::SuperAdmin, TestRequest::get(SETTINGS)).await.json();
    assert_eq!(settings["use_portal"], false);
    assert_eq!(settings["locations"], 2);
    assert_eq!(settings["fee_per_location_cents"], 20_000);
    assert_eq!(settings["fee_monthly_total_cents"], 40_000);
    assert_eq!(settings["history"], json!([]));

    // Without the acknowledgement (left out, or false): refused, nothing recorded.
    for body in [json!({ "enabled": true }), json!({ "enabled": true, "acknowledge_fee": false })] {
        let p = world.send_as(Caller::SuperAdmin, TestRequest::put(USE_PORTAL).json(&body)).await.assert_problem(409);
        assert!(!p["detail"].as_str().unwrap_or("").is_empty());
    }
    let settings = world.send_as(Caller::SuperAdmin, TestRequest::get(SETTINGS)).await.json();
    assert_eq!((settings["use_portal"].clone(), settings["history"].clone()), (json!(false), json!([])));

    let on = json!({ "enabled": true, "acknowledge_fee": true });
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(USE_PORTAL).json(&on)).await;
    res.assert_status(200);
    let settings = res.json();
    assert_eq!(settings["use_portal"], true);
    let history = settings["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{settings}");
    let row = &history[0];
    assert_eq!(row["setting"], "use_portal");
    assert_eq!((row["old_value"].as_str(), row["new_value"].as_str()), (Some("false"), Some("true")));
    assert_eq!(row["fee_locations"], 2);
    assert_eq!(row["fee_total_cents"], 20_000 * 2);
    assert_eq!(row["acknowledged"], true);
    assert_eq!(row["changed_by"], sa.as_str());
    assert_eq!(row["changed_by_name"], world.account(Caller::SuperAdmin).name.as_str());
    assert!(row["changed_at"].as_str().is_some_and(|t| t.ends_with('Z')), "RFC 3339 UTC: {row}");
    let company = world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/company")).await.json();
    assert_eq!(company["use_portal"], true);

    // The same value again: answered, but no new history row and no audit row.
    let audited = audit(&world, "action=setting_changed").await.len();
    world.send_as(Caller::SuperAdmin, TestRequest::put(USE_PORTAL).json(&on)).await.assert_status(200);
    let settings = world.send_as(Caller::SuperAdmin, TestRequest::get(SETTINGS)).await.json();
    assert_eq!(settings["history"].as_array().map(Vec::len), Some(1));
    assert_eq!(audit(&world, "action=setting_changed").await.len(), audited);
    assert_eq!(audited, 1);

    // A third location changes the fee quoted from now on, not the recorded one.
    world
        .send_as(
            Caller::SuperAdmin,
            TestRequest::post("/api/v1/locations")
                .json(&json!({ "name": "Location C", "time_zone": "America/Denver" })),
        )
        .await
        .assert_status(201);
    // Turning it off needs no acknowledgement and records no fee.
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(USE_PORTAL).json(&json!({ "enabled": false }))).await;
    res.assert_status(200);
    let settings = res.json();
    assert_eq!(settings["use_portal"], false);
    assert_eq!(settings["fee_monthly_total_cents"], 60_000);
    let history = settings["history"].as_array().expect("history");
    assert_eq!(history.len(), 2, "{settings}");
    let off = history.iter().find(|h| h["new_value"] == "false").expect("the change to off");
    assert_eq!(off["fee_total_cents"], Value::Null);
    let first = history.iter().find(|h| h["new_value"] == "true").expect("the change to on");
    assert_eq!(first["fee_total_cents"], 40_000, "history keeps the fee as it was");
    // Back on, with three locations now.
    let settings = world.send_as(Caller::SuperAdmin, TestRequest::put(USE_PORTAL).json(&on)).await.json();
    let latest = settings["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["new_value"] == "true")
        .map(|h| h["fee_total_cents"].as_i64().expect("fee"))
        .max();
    assert_eq!(latest, Some(60_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_grant_which_portal_permission_and_the_audit_rows_of_grants() {
    let world = World::new().await;
    let target = world.target_a.id.clone();
    let url = |p: &str| format!("/api/v1/staff-users/{target}/portal-permissions/{p}");
    let grant = json!({ "granted": true });

    let p = world
        .send_as(Caller::PracticeManager, TestRequest::put(url("manage_portal_settings")).json(&grant))
        .await
        .assert_problem(403);
    assert!(p["detail"].as_str().unwrap_or("").contains("Super Admin"), "{p}");
    for (caller, perm) in [
        (Caller::PracticeManager, "available_for_portal_messages"),
        (Caller::PracticeManager, "allow_document_share"),
        (Caller::SuperAdmin, "manage_portal_settings"),
    ] {
        let res = world.send_as(caller, TestRequest::put(url(perm)).json(&grant)).await;
        res.assert_status(200);
        assert!(res.json()["portal_permissions"].as_array().expect("list").contains(&json!(perm)), "{}", res.text());
    }
    // Granting what is already granted records nothing new.
    world
        .send_as(Caller::SuperAdmin, TestRequest::put(url("available_for_portal_messages")).json(&grant))
        .await
        .assert_status(200);
    let staff = world.send_as(Caller::PracticeManager, TestRequest::get(format!("/api/v1/staff-users/{target}"))).await;
    let granted: BTreeSet<_> = staff.json()["portal_permissions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        granted,
        BTreeSet::from(
            ["allow_document_share", "available_for_portal_messages", "manage_portal_settings"].map(String::from)
        )
    );

    let rows = audit(&world, "action=portal_permission_granted").await;
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["target_id"] == target.as_str())
        .map(|r| {
            assert_eq!(r["target_kind"], "staff");
            assert_eq!(r["actor_kind"], "staff");
            let detail: Value = serde_json::from_str(r["detail"].as_str().expect("detail")).expect("detail JSON");
            (r["actor_id"].as_str().expect("actor").to_owned(), detail["permission"].as_str().expect("perm").to_owned())
        })
        .collect();
    seen.sort();
    let pm = world.id(Caller::PracticeManager).to_owned();
    let sa = world.id(Caller::SuperAdmin).to_owned();
    let mut expected = vec![
        (pm.clone(), "allow_document_share".to_owned()),
        (pm, "available_for_portal_messages".to_owned()),
        (sa, "manage_portal_settings".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    // The refused grant left no row; no revocation happened.
    assert!(audit(&world, "action=portal_permission_revoked").await.iter().all(|r| r["target_id"] != target.as_str()));
    // The Super Admin's own rows are findable by actor too.
    let by_sa =
        audit(&world, &format!("actor_id={}&action=portal_permission_granted", world.id(Caller::SuperAdmin))).await;
    assert_eq!(by_sa.len(), 1, "{by_sa:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_with_bad_fields_is_refused_with_every_field_named() {
    let world = World::new().await;
    let bad = json!({
        "first_name": "   ", "last_name": "", "date_of_birth": "2999-01-01",
        "email": "not-an-email", "phone": "12", "zip": "ABCDE", "status": "zombie",
        "record_number": "has spaces!", "location_id": world.location_b,
        "address_line1": "x".repeat(500), "city": "y".repeat(500), "state": "z".repeat(500)
    });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post("/api/v1/patients").json(&bad)).await;
    let fields = res.error_fields();
    let expected: BTreeSet<String> = [
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "phone",
        "zip",
        "status",
        "record_number",
        "location_id",
        "address_line1",
        "city",
        "state",
    ]
    .map(String::from)
    .into();
    assert_eq!(fields, expected, "{}", res.text());
    let p = res.json();
    for e in p["errors"].as_array().expect("errors") {
        assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()), "{e}");
    }
    // Nothing was created.
    let found = search(&world, Caller::SuperAdmin, "q=zombie").await;
    assert_eq!(found["total"], 0);
    // Dates in another shape and of the 1800s are refused too; a missing field is a 422.
    for dob in ["12/31/1990", "1899-12-31", "1990-02-30", "yesterday"] {
        let mut body = world.patient_body(&world.location_a, "Dora", "Date");
        body["date_of_birth"] = json!(dob);
        let res = world.send_as(Caller::FrontDesk, TestRequest::post("/api/v1/patients").json(&body)).await;
        assert_eq!(res.error_fields(), BTreeSet::from(["date_of_birth".to_owned()]), "{dob}");
    }
    let res = world
        .send_as(Caller::FrontDesk, TestRequest::post("/api/v1/patients").json(&json!({ "first_name": "Only" })))
        .await;
    res.assert_problem(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patients_are_created_read_updated_and_found_by_name_birth_date_and_record_number() {
    let world = World::new().await;
    let mut body = world.patient_body(&world.location_a, "Marguerite", "Oyelaran-Smith");
    body["date_of_birth"] = json!("1961-07-14");
    body["record_number"] = json!("mrn-7731");
    let res = world.send_as(Caller::FrontDesk, TestRequest::post("/api/v1/patients").json(&body)).await;
    res.assert_status(201);
    let created = res.json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(portal_core::ids::PatientId::parse(&id).is_ok(), "ids are UUIDs: {id}");
    assert_eq!(created["record_number"], "MRN-7731");
    assert_eq!(created["status"], "active");
    assert_eq!(created["location_id"], world.location_a.as_str());
    // The same record number again is a conflict, not a server error.
    body["first_name"] = json!("Other");
    world.send_as(Caller::FrontDesk, TestRequest::post("/api/v1/patients").json(&body)).await.assert_problem(409);
    // Without one, a number is generated.
    let generated = world
        .send_as(
            Caller::FrontDesk,
            TestRequest::post("/api/v1/patients").json(&world.patient_body(&world.location_a, "Gene", "Rated")),
        )
        .await;
    generated.assert_status(201);
    assert!(!generated.json()["record_number"].as_str().unwrap_or("").is_empty());

    let sheet = world.send_as(Caller::Clinician, TestRequest::get(format!("/api/v1/patients/{id}"))).await;
    sheet.assert_status(200);
    let sheet = sheet.json();
    assert_eq!(sheet["patient"]["first_name"], "Marguerite");
    assert_eq!(sheet["patient"]["date_of_birth"], "1961-07-14");
    assert_eq!(sheet["location_name"], "Location A");
    assert_eq!((sheet["contacts"].clone(), sheet["care_team"].clone()), (json!([]), json!([])));

    let mut update = world.patient_body(&world.location_a, "Marguerite", "Oyelaran");
    update["date_of_birth"] = json!("1961-07-14");
    update["phone"] = json!("555-010-7777");
    let res = world.send_as(Caller::Clinician, TestRequest::put(format!("/api/v1/patients/{id}")).json(&update)).await;
    res.assert_status(200);
    assert_eq!(res.json()["last_name"], "Oyelaran");
    assert_eq!(res.json()["record_number"], "MRN-7731", "the record number is not edited");
    let audit_rows = audit(&world, &format!("action=patient_updated&patient_id={id}")).await;
    let detail: Value = serde_json::from_str(audit_rows[0]["detail"].as_str().expect("detail")).expect("JSON");
    let changed: BTreeSet<_> =
        detail["changed"].as_array().expect("changed").iter().map(|c| c.as_str().unwrap()).collect();
    assert!(changed.contains("last_name") && changed.contains("phone"), "{detail}");
    assert!(!audit_rows[0]["detail"].as_str().unwrap().contains("Oyelaran"), "no PHI in audit details");

    for q in ["oyelaran", "Marguerite Oyelaran", "MARG", "1961-07-14", "07/14/1961", "MRN-7731", "mrn-7731"] {
        let found = search(&world, Caller::FrontDesk, &format!("q={}", q.replace(' ', "%20"))).await;
        assert_eq!(ids(&found["items"]), BTreeSet::from([id.clone()]), "search `{q}`: {found}");
        assert_eq!(found["total"], 1);
    }
    for q in ["Oyelaran-Smith", "Nobody", "1961-07-15", "MRN-7732"] {
        let found = search(&world, Caller::FrontDesk, &format!("q={q}")).await;
        assert_eq!(found["total"], 0, "search `{q}`: {found}");
    }
    // Paging.
    let page = search(&world, Caller::SuperAdmin, "per_page=1&page=2").await;
    assert_eq!((page["page"].as_i64(), page["per_page"].as_i64()), (Some(2), Some(1)));
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert!(page["total"].as_i64().unwrap_or(0) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_see_and_find_only_the_patients_of_their_locations() {
    let world = World::new().await;
    let mut at_a = BTreeSet::from([world.patient_a.clone()]);
    let mut at_b = BTreeSet::from([world.patient_b.clone()]);
    for (loc, set) in [(&world.location_a, &mut at_a), (&world.location_b, &mut at_b)] {
        for first in ["Quinn", "Rory"] {
            let res = world
                .send_as(
                    Caller::SuperAdmin,
                    TestRequest::post("/api/v1/patients").json(&world.patient_body(loc, first, "Sharedname")),
                )
                .await;
            res.assert_status(201);
            set.insert(res.json()["id"].as_str().unwrap().to_owned());
        }
    }
    let all: BTreeSet<_> = at_a.union(&at_b).cloned().collect();
    let shared = |set: &BTreeSet<String>, world: &World| -> BTreeSet<String> {
        set.iter().filter(|id| **id != world.patient_a && **id != world.patient_b).cloned().collect()
    };
    for (caller, visible) in [
        (Caller::FrontDesk, &at_a),
        (Caller::Billing, &at_a),
        (Caller::FrontDeskB, &at_b),
        (Caller::SuperAdmin, &all),
        (Caller::SuperAdminNoSettings, &all),
    ] {
        let everyone = search(&world, caller, "per_page=100").await;
        assert_eq!(&ids(&everyone["items"]), visible, "{} lists", caller.label());
        assert_eq!(everyone["total"], visible.len(), "{} total", caller.label());
        let by_name = search(&world, caller, "q=sharedname").await;
        assert_eq!(ids(&by_name["items"]), shared(visible, &world), "{} by name", caller.label());
        // Asking for the other location's patients does not widen the scope.
        for loc in [&world.location_a, &world.location_b] {
            let page = search(&world, caller, &format!("location_id={loc}&per_page=100")).await;
            assert!(ids(&page["items"]).is_subset(visible), "{} asked for {loc}", caller.label());
        }
        // Nor does the date of birth of a patient elsewhere find them.
        for (patient, dob) in [(&world.patient_a, "1980-04-12"), (&world.patient_b, "1975-09-30")] {
            let found = search(&world, caller, &format!("q={dob}")).await;
            let expected: BTreeSet<String> = visible.iter().filter(|id| *id == patient).cloned().collect();
            assert_eq!(ids(&found["items"]), expected, "{} searched {dob}", caller.label());
        }
    }

    // Front desk of B: patient A is not there, exactly as a missing patient is not.
    let a = world.send_as(Caller::FrontDeskB, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a))).await;
    let missing =
        world.send_as(Caller::FrontDeskB, TestRequest::get(format!("/api/v1/patients/{}", common::missing_id()))).await;
    assert_eq!((a.code(), a.json()), (missing.code(), missing.json()));
    a.assert_problem(404);
    let update = world.patient_body(&world.location_b, "Alice", "Moved");
    let res = world
        .send_as(Caller::FrontDeskB, TestRequest::put(format!("/api/v1/patients/{}", world.patient_a)).json(&update))
        .await;
    res.assert_problem(404);
    // ...and nothing changed.
    let sheet = world
        .send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .json();
    assert_eq!(sheet["patient"]["last_name"], "Anders");
    assert_eq!(sheet["patient"]["location_id"], world.location_a.as_str());
    // A front desk of A cannot move a patient to B, where they could no longer see it.
    let res = world
        .send_as(Caller::FrontDesk, TestRequest::put(format!("/api/v1/patients/{}", world.patient_a)).json(&update))
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["location_id".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_added_edited_and_removed() {
    let world = World::new().await;
    let base = format!("/api/v1/patients/{}/contacts", world.patient_a);
    let body = json!({ "kind": "guarantor", "first_name": "Gwen", "last_name": "Payer", "relation": "Mother",
                       "email": "gwen@example.test", "phone": "555-010-3333" });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(&base).json(&body)).await;
    res.assert_status(201);
    let contact = res.json();
    let cid = contact["id"].as_str().expect("id").to_owned();
    assert_eq!((contact["kind"].as_str(), contact["relation"].as_str()), (Some("guarantor"), Some("Mother")));

    let sheet =
        world.send_as(Caller::Billing, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a))).await.json();
    let listed: BTreeSet<_> = ids(&sheet["contacts"]);
    assert_eq!(listed, BTreeSet::from([cid.clone(), world.contact_a.clone()]));

    let mut edit = body.clone();
    edit["kind"] = json!("emergency");
    edit["phone"] = json!("555-010-4444");
    let res = world.send_as(Caller::Clinician, TestRequest::put(format!("{base}/{cid}")).json(&edit)).await;
    res.assert_status(200);
    assert_eq!((res.json()["kind"].as_str(), res.json()["phone"].as_str()), (Some("emergency"), Some("555-010-4444")));

    // Bad fields are all named.
    let bad = json!({ "kind": "uncle", "first_name": "", "last_name": "Ok", "email": "nope", "phone": "1" });
    let res = world.send_as(Caller::FrontDesk, TestRequest::post(&base).json(&bad)).await;
    assert_eq!(res.error_fields(), ["kind", "first_name", "email", "phone"].map(String::from).into());

    // A contact is reached only through its own patient.
    let other = format!("/api/v1/patients/{}/contacts/{cid}", world.patient_b);
    world.send_as(Caller::SuperAdmin, TestRequest::put(&other).json(&edit)).await.assert_problem(404);
    world.send_as(Caller::SuperAdmin, TestRequest::delete(&other)).await.assert_problem(404);

    world.send_as(Caller::FrontDesk, TestRequest::delete(format!("{base}/{cid}"))).await.assert_status(204);
    let sheet = world
        .send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .json();
    assert_eq!(ids(&sheet["contacts"]), BTreeSet::from([world.contact_a.clone()]));
    world.send_as(Caller::FrontDesk, TestRequest::delete(format!("{base}/{cid}"))).await.assert_problem(404);
    world.send_as(Caller::FrontDesk, TestRequest::put(format!("{base}/{cid}")).json(&edit)).await.assert_problem(404);

    let actions: BTreeSet<_> = audit(&world, &format!("patient_id={}", world.patient_a))
        .await
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["contact_created", "contact_updated", "contact_removed"] {
        assert!(actions.contains(a), "no {a} row: {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_team_members_are_added_and_removed_and_must_reach_the_patient() {
    let world = World::new().await;
    let team = |staff: &str| format!("/api/v1/patients/{}/care-team/{staff}", world.patient_a);
    let desk = world.id(Caller::FrontDesk).to_owned();
    let clin = world.id(Caller::Clinician).to_owned();
    let res = world
        .send_as(Caller::Clinician, TestRequest::put(team(&desk)).json(&json!({ "team_role": "Scheduler" })))
        .await;
    res.assert_status(200);
    let members = |v: &Value| -> BTreeSet<(String, String)> {
        v.as_array()
            .expect("team")
            .iter()
            .map(|m| (m["staff_id"].as_str().unwrap().to_owned(), m["team_role"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(
        members(&res.json()),
        BTreeSet::from([(clin.clone(), "Primary clinician".to_owned()), (desk.clone(), "Scheduler".to_owned())])
    );
    // Putting the same member again changes the team role.
    let res = world
        .send_as(Caller::PracticeManager, TestRequest::put(team(&desk)).json(&json!({ "team_role": "Front office" })))
        .await;
    assert!(members(&res.json()).contains(&(desk.clone(), "Front office".to_owned())), "{}", res.text());

    // A staff member who cannot access location A cannot serve a patient of A.
    let res = world
        .send_as(
            Caller::SuperAdmin,
            TestRequest::put(team(world.id(Caller::FrontDeskB))).json(&json!({ "team_role": "Helper" })),
        )
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["staff_id".to_owned()]));
    // Nor one who is unknown, and an empty team role is refused.
    let res = world
        .send_as(Caller::SuperAdmin, TestRequest::put(team(&common::missing_id())).json(&json!({ "team_role": "X" })))
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["staff_id".to_owned()]));
    let res = world.send_as(Caller::SuperAdmin, TestRequest::put(team(&clin)).json(&json!({ "team_role": " " }))).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["team_role".to_owned()]));
    // A Super Admin reaches every location, so may serve anyone.
    let sa = world.id(Caller::SuperAdminNoSettings).to_owned();
    world
        .send_as(Caller::Clinician, TestRequest::put(team(&sa)).json(&json!({ "team_role": "Medical director" })))
        .await
        .assert_status(200);

    let res = world.send_as(Caller::Clinician, TestRequest::delete(team(&desk))).await;
    res.assert_status(200);
    assert!(!members(&res.json()).iter().any(|(id, _)| *id == desk));
    world.send_as(Caller::Clinician, TestRequest::delete(team(&desk))).await.assert_problem(404);
    let sheet = world
        .send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .json();
    let on_team: BTreeSet<_> = members(&sheet["care_team"]).into_iter().map(|(id, _)| id).collect();
    assert_eq!(on_team, BTreeSet::from([clin, sa]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logos_must_be_png_or_jpeg_by_their_content() {
    let world = World::new().await;
    let company_logo = |ct: Option<&str>, bytes: Vec<u8>| TestRequest::put("/api/v1/company/logo").raw(ct, bytes);
    let has_logo = |v: &Value| v["has_logo"].as_bool().expect("has_logo");
    let company = world.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/company")).await.json();
    assert!(!has_logo(&company));

    let refused: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        (
            "SVG",
            Some("image/svg+xml"),
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
        ),
        ("SVG sent as PNG", Some("image/png"), b"<svg onload=alert(1)>".to_vec()),
        ("text", Some("text/plain"), b"just some words".to_vec()),
        ("HTML", Some("image/png"), b"<!doctype html><script>alert(1)</script>".to_vec()),
        ("GIF", Some("image/gif"), b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
        ("truncated PNG", Some("image/png"), png_bytes()[..10].to_vec()),
        ("empty", Some("image/png"), vec![]),
    ];
    for (what, ct, bytes) in refused {
        let res = world.send_as(Caller::SuperAdmin, company_logo(ct, bytes)).await;
        assert_eq!(res.error_fields(), BTreeSet::from(["logo".to_owned()]), "{what}");
    }
    let company = world.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/company")).await.json();
    assert!(!has_logo(&company), "a refused upload stored something");

    // A PNG is accepted by its bytes, whatever the declared type says.
    world
        .send_as(Caller::SuperAdmin, company_logo(Some("application/octet-stream"), png_bytes()))
        .await
        .assert_status(204);
    let company = world.send_as(Caller::Billing, TestRequest::get("/api/v1/company")).await.json();
    assert!(has_logo(&company));
    world.send_as(Caller::SuperAdmin, company_logo(Some("image/jpeg"), jpeg_bytes())).await.assert_status(204);

    let loc = format!("/api/v1/locations/{}", world.location_b);
    let res = world
        .send_as(Caller::SuperAdmin, TestRequest::put(format!("{loc}/logo")).raw(Some("image/svg+xml"), "<svg/>"))
        .await;
    assert_eq!(res.error_fields(), BTreeSet::from(["logo".to_owned()]));
    world
        .send_as(Caller::SuperAdmin, TestRequest::put(format!("{loc}/logo")).raw(Some("image/png"), png_bytes()))
        .await
        .assert_status(204);
    let location = world.send_as(Caller::FrontDeskB, TestRequest::get(&loc)).await.json();
    assert!(has_logo(&location));
    let other = world
        .send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/locations/{}", world.location_a)))
        .await
        .json();
    assert!(!has_logo(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_views_and_searches_are_audited_without_phi() {
    let world = World::new().await;
    let desk = world.id(Caller::FrontDesk).to_owned();
    let before = audit(&world, "action=patient_viewed").await.len();
    world
        .send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .assert_status(200);
    world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/patients?q=Anders")).await.assert_status(200);
    world.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/patients?q=1980-04-12")).await.assert_status(200);
    // A refused view (foreign patient) shows nothing, and is not recorded as a view.
    world
        .send_as(Caller::FrontDeskB, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .assert_status(404);

    let views = audit(&world, "action=patient_viewed").await;
    assert_eq!(views.len(), before + 1, "{views:?}");
    let v = &views[0];
    assert_eq!(v["patient_id"], world.patient_a.as_str());
    assert_eq!(v["actor_id"], desk.as_str());
    assert_eq!(v["actor_kind"], "staff");
    assert_eq!(v["actor_name"], world.account(Caller::FrontDesk).name.as_str());
    assert!(v["ip"].as_str().is_some_and(|ip| ip.starts_with("10.")), "the client address is kept: {v}");
    assert!(v["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(v["hash"].as_str().map(str::len), Some(64));
    // Filtering by patient finds it too.
    let for_patient = audit(&world, &format!("patient_id={}&action=patient_viewed", world.patient_a)).await;
    assert_eq!(for_patient.len(), 1);

    let searches: Vec<Value> =
        audit(&world, "action=patient_searched").await.into_iter().filter(|r| r["actor_id"] == desk.as_str()).collect();
    assert_eq!(searches.len(), 2, "{searches:?}");
    let kinds: BTreeSet<String> = searches
        .iter()
        .map(|r| {
            assert_eq!(r["patient_id"], Value::Null, "a search names no one patient");
            let detail = r["detail"].as_str().expect("detail");
            assert!(!detail.contains("Anders") && !detail.contains("1980"), "search terms are PHI: {detail}");
            let d: Value = serde_json::from_str(detail).expect("JSON");
            d["by"].as_str().expect("by").to_owned()
        })
        .collect();
    assert_eq!(kinds, BTreeSet::from(["name".to_owned(), "date_of_birth".to_owned()]));

    // Reading the log is itself audited, and newest rows come first.
    let rows = audit(&world, "action=audit_viewed").await;
    assert!(!rows.is_empty());
    let all = audit(&world, "limit=500").await;
    let seqs: Vec<i64> = all.iter().map(|r| r["seq"].as_i64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let page = audit(&world, &format!("before={}&limit=2", seqs[0])).await;
    assert_eq!(page.iter().map(|r| r["seq"].as_i64().unwrap()).collect::<Vec<_>>(), seqs[1..3].to_vec());
}

/// A 4xx body for a bad patient id shows no trace of the input echoed back as HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_details_do_not_echo_markup() {
    let world = World::new().await;
    let res: TestResponse = world
        .send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/patients/%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .await;
    res.assert_problem(404);
    assert!(!res.text().contains("<script>"), "{}", res.text());
}
