//! The notification rules API (seed 000, "Set up Notifications"; tag `notifications`) against a
//! real database: a Super Admin creates, lists per location, reads, changes, tests and deletes a
//! rule; everyone else is refused, and unknown or malformed ids answer 404.

mod common;

use common::{Caller, Rec, TestRequest, World, missing_id};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_admin_sets_up_a_rule_per_location_and_tests_it() {
    let w = World::new().await;
    let mut body = w.rule_body(&w.location_a);
    body["recipient_users"] = json!([w.id(Caller::Clinician)]);
    body["severity"] = json!("critical");
    let res = w.send_as(Caller::SuperAdmin, TestRequest::post("/api/v1/notification-rules").json(&body)).await;
    res.assert_status(201);
    let rule = res.json();
    let id = rule["id"].as_str().expect("id").to_owned();
    assert_eq!(res.header("location"), Some(format!("/api/v1/notification-rules/{id}").as_str()));
    assert_eq!(rule["event_label"], "Portal Registration Completed");
    assert_eq!(rule["colour"], "red");
    assert_eq!(rule["severity_label"], "Critical");
    assert_eq!(rule["location_name"], "Location A");
    assert_eq!(rule["recipient_users"][0]["name"], "Cleo Clinician");
    assert_eq!(rule["recipient_roles"], json!(["front_desk"]));
    assert_eq!(rule["ends_on"], json!(null));
    assert_eq!(rule["starts_on"], "2026-01-01");
    assert!(rule["placeholders"].as_array().expect("placeholders").contains(&json!("{patient_name}")));

    // Location-specific: listed for A, not for B.
    let uri = |l: &str| format!("/api/v1/notification-rules?location_id={l}");
    let a = w.send_as(Caller::SuperAdmin, TestRequest::get(uri(&w.location_a))).await;
    a.assert_status(200);
    assert!(a.json().as_array().expect("list").iter().any(|r| r["id"] == id.as_str()));
    let b = w.send_as(Caller::SuperAdmin, TestRequest::get(uri(&w.location_b))).await;
    assert!(!b.json().as_array().expect("list").iter().any(|r| r["id"] == id.as_str()));

    // Changed.
    body["name"] = json!("Registrations at A");
    body["ends_on"] = json!("2026-12-31");
    body["email"] = json!(true);
    let res =
        w.send_as(Caller::SuperAdmin, TestRequest::put(format!("/api/v1/notification-rules/{id}")).json(&body)).await;
    res.assert_status(200);
    assert_eq!(res.json()["name"], "Registrations at A");
    assert_eq!(res.json()["ends_on"], "2026-12-31");
    let res = w.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/notification-rules/{id}"))).await;
    assert_eq!(res.json()["email"], true);

    // The test notification goes to the caller, filled with sample facts.
    let res = w.send_as(Caller::SuperAdmin, TestRequest::post(format!("/api/v1/notification-rules/{id}/test"))).await;
    res.assert_status(201);
    let n = res.json();
    assert_eq!(n["title"], "Test: Test Patient registered");
    assert_eq!(n["body"], "Test Patient (Guardian) registered at Location A.");
    assert_eq!(n["severity"], "critical");
    assert_eq!(n["link"], format!("/settings/notifications/{id}"));

    // Deleted: gone from the list, 404 afterwards, a second delete too.
    let res = w.send_as(Caller::SuperAdmin, TestRequest::delete(format!("/api/v1/notification-rules/{id}"))).await;
    res.assert_status(204);
    let a = w.send_as(Caller::SuperAdmin, TestRequest::get(uri(&w.location_a))).await;
    assert!(!a.json().as_array().expect("list").iter().any(|r| r["id"] == id.as_str()));
    for req in [
        TestRequest::get(format!("/api/v1/notification-rules/{id}")),
        TestRequest::delete(format!("/api/v1/notification-rules/{id}")),
        TestRequest::put(format!("/api/v1/notification-rules/{id}")).json(&body),
        TestRequest::post(format!("/api/v1/notification-rules/{id}/test")),
    ] {
        w.send_as(Caller::SuperAdmin, req).await.assert_problem(404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_super_admins_may_and_unknown_ids_are_404() {
    let w = World::new().await;
    let own = w.rule(Rec::Own).await;
    let body = w.rule_body(&w.location_a);
    for caller in [Caller::PracticeManager, Caller::FrontDesk, Caller::Clinician, Caller::Billing, Caller::FrontDeskB] {
        for req in [
            TestRequest::get("/api/v1/notification-rules"),
            TestRequest::post("/api/v1/notification-rules").json(&body),
            TestRequest::get(format!("/api/v1/notification-rules/{own}")),
            TestRequest::put(format!("/api/v1/notification-rules/{own}")).json(&body),
            TestRequest::delete(format!("/api/v1/notification-rules/{own}")),
            TestRequest::post(format!("/api/v1/notification-rules/{own}/test")),
        ] {
            let p = w.send_as(caller, req).await.assert_problem(403);
            assert!(p["detail"].as_str().unwrap_or_default().contains("Super Admin"), "{p}");
        }
    }
    // Portal users and anonymous callers: 401.
    for caller in [Caller::Anonymous, Caller::PortalA] {
        w.send_as(caller, TestRequest::get("/api/v1/notification-rules")).await.assert_problem(401);
    }
    // The rule is untouched.
    let res = w.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/notification-rules/{own}"))).await;
    res.assert_status(200);
    // Unknown and malformed ids: 404 on every route with an id.
    for id in [missing_id(), "not-an-id".to_owned()] {
        for req in [
            TestRequest::get(format!("/api/v1/notification-rules/{id}")),
            TestRequest::put(format!("/api/v1/notification-rules/{id}")).json(&body),
            TestRequest::delete(format!("/api/v1/notification-rules/{id}")),
            TestRequest::post(format!("/api/v1/notification-rules/{id}/test")),
        ] {
            w.send_as(Caller::SuperAdmin, req).await.assert_problem(404);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_naming_every_field() {
    let w = World::new().await;
    let body = json!({
        "location_id": missing_id(), "event": "party", "name": "", "starts_on": "2026-02-30",
        "severity": "mild", "recipient_care_team": false, "title": "{nothing}", "message": "ok",
        "toast": false, "email": false
    });
    let res = w.send_as(Caller::SuperAdmin, TestRequest::post("/api/v1/notification-rules").json(&body)).await;
    let p = res.assert_problem(422);
    let fields = res.error_fields();
    for f in ["location_id", "event", "name", "starts_on", "severity", "recipients", "delivery"] {
        assert!(fields.contains(f), "{f} missing from {p}");
    }
    // An unknown field is refused, not ignored.
    let mut body = w.rule_body(&w.location_a);
    body["colour"] = json!("green");
    w.send_as(Caller::SuperAdmin, TestRequest::post("/api/v1/notification-rules").json(&body))
        .await
        .assert_problem(422);
    // An unknown location in the list's filter names the field.
    let res = w.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/notification-rules?location_id=nowhere")).await;
    res.assert_problem(422);
    assert!(res.error_fields().contains("location_id"));
}

#[test]
fn the_routes_are_documented_under_notifications() {
    let doc = serde_json::to_value(portal_http::app::openapi()).expect("OpenAPI");
    let ops = [
        ("/api/v1/notification-rules", "get", "listNotificationRules"),
        ("/api/v1/notification-rules", "post", "createNotificationRule"),
        ("/api/v1/notification-rules/{id}", "get", "getNotificationRule"),
        ("/api/v1/notification-rules/{id}", "put", "updateNotificationRule"),
        ("/api/v1/notification-rules/{id}", "delete", "deleteNotificationRule"),
        ("/api/v1/notification-rules/{id}/test", "post", "sendTestNotification"),
    ];
    for (path, method, op) in ops {
        let o = &doc["paths"][path][method];
        assert_eq!(o["operationId"], op, "{method} {path}");
        assert_eq!(o["tags"][0], "notifications", "{method} {path}");
    }
    assert!(doc["tags"].as_array().expect("tags").iter().any(|t| t["name"] == "notifications"));
}
