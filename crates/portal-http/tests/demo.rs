//! `portal demo`'s clinic: its portal is on, its patients show every portal status, and the
//! portal user it prints can sign in with what it prints.

mod common;

use common::{TestApp, TestRequest};
use portal_core::Actor;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_has_a_portal_in_every_status_and_a_printed_portal_user() {
    let app = TestApp::new().await;
    let printed = portal_http::demo::seed(&app.state, 60).await.expect("seed");
    assert!(printed.contains("Super Admin  admin@riverside.example  password: "), "{printed}");
    let line = printed.lines().find(|l| l.contains("Portal user")).unwrap_or_else(|| panic!("{printed}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let username = words[2];
    let password = words[4];

    assert!(portal_practice::settings::portal_enabled(app.db()).await.unwrap(), "the demo's portal is on");
    let page = portal_auth::onboarding::onboarding_list(app.db(), &Actor::system(), &Default::default())
        .await
        .expect("onboarding list");
    let c = page.counts;
    assert!(c.red > 0 && c.gray > 0 && c.orange > 0 && c.green == 1, "{c:?}");

    let res = app
        .send(TestRequest::post("/api/v1/portal/sessions").json(&json!({ "username": username, "password": password })))
        .await;
    res.assert_status(201);
    assert_eq!(res.json()["patients"].as_array().map(Vec::len), Some(1));

    // A lived-in inbox: the patient has the welcome conversation, read after their answer; the
    // Super Admin has it (one unread: the answer) and a staff conversation.
    let token = res.json()["token"].as_str().expect("a portal token").to_owned();
    let mine = app.send(TestRequest::get("/api/v1/portal/conversations").bearer(Some(&token))).await;
    mine.assert_status(200);
    assert_eq!(mine.json()["conversations"].as_array().map(Vec::len), Some(1));
    let admin = app
        .send(TestRequest::post("/api/v1/staff/sessions").json(&json!({
            "email": "admin@riverside.example",
            "password": printed.lines().find(|l| l.contains("Super Admin")).unwrap().rsplit(' ').next().unwrap(),
        })))
        .await;
    admin.assert_status(201);
    let admin_token = admin.json()["token"].as_str().unwrap().to_owned();
    let inbox = app.send(TestRequest::get("/api/v1/conversations").bearer(Some(&admin_token))).await;
    assert_eq!(inbox.json()["conversations"].as_array().map(Vec::len), Some(2));
    let count = app.send(TestRequest::get("/api/v1/messages/unread-count").bearer(Some(&admin_token))).await;
    assert_eq!(count.json()["unread"], json!(1));
    // The request queue: the portal user's refill and question open, the billing question
    // answered and archived; the portal user sees all three.
    let queue = app.send(TestRequest::get("/api/v1/requests").bearer(Some(&admin_token))).await;
    queue.assert_status(200);
    assert_eq!(queue.json()["requests"].as_array().map(Vec::len), Some(2));
    let archive = app.send(TestRequest::get("/api/v1/requests/archive").bearer(Some(&admin_token))).await;
    assert_eq!(archive.json()["requests"].as_array().map(Vec::len), Some(1));
    let theirs = app.send(TestRequest::get("/api/v1/portal/requests").bearer(Some(&token))).await;
    assert_eq!(theirs.json()["requests"].as_array().map(Vec::len), Some(3));
}
