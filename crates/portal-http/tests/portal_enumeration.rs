//! Enumeration resistance over HTTP (ASVS 6.3.8, SECURITY.md): registration and forgot password
//! answer a real patient and an unknown person with the same status, the same headers that
//! matter and the same body, on the API and on the pages, and their median times over 40
//! alternating requests differ by less than 5 ms. In a binary of its own, so that no other test
//! competes for the database or the cores while it measures.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const RUNS: usize = 40;
const TOLERANCE: Duration = Duration::from_millis(5);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// What an observer can compare: status, the headers that could differ, the body.
fn observable(r: &TestResponse) -> (u16, Option<String>, Option<String>, Option<String>, Vec<u8>) {
    let h = |n: &str| r.header(n).map(str::to_owned);
    (r.code(), h("content-type"), h("set-cookie"), h("location"), r.body.to_vec())
}

fn facts(email: &str, last: &str, dob: &str) -> serde_json::Value {
    json!({ "email": email, "last_name": last, "date_of_birth": dob, "zip": "62701" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_forgot_password_answer_alike_and_take_as_long_over_http() {
    let world = World::new().await;
    // One patient per run, so that every "known" request takes the full match path (links to
    // one patient at anonymous request are capped per day).
    let mut known = Vec::new();
    for i in 0..RUNS {
        let (_, email) = enabled_patient(&world, &format!("Known{i}"), "Person", "1980-01-15").await;
        known.push(facts(&email, "Person", "1980-01-15"));
    }
    let unknown: Vec<_> =
        (0..RUNS).map(|i| facts(&format!("stranger{i}@example.test"), "Nobody", "1980-01-15")).collect();
    let send = |path: &'static str, body: serde_json::Value| world.send(TestRequest::post(path).json(&body));
    for _ in 0..5 {
        send("/api/v1/portal/registrations", facts("warm@example.test", "Up", "1980-01-15")).await;
    }

    let (mut reg_known, mut reg_unknown, mut fp_known, mut fp_unknown) = (vec![], vec![], vec![], vec![]);
    for i in 0..RUNS {
        // Alternating, so that drift (caches, other load) affects both sides alike.
        let t = Instant::now();
        let a = send("/api/v1/portal/registrations", known[i].clone()).await;
        reg_known.push(t.elapsed());
        let t = Instant::now();
        let b = send("/api/v1/portal/registrations", unknown[i].clone()).await;
        reg_unknown.push(t.elapsed());
        assert_eq!(a.code(), 202);
        assert_eq!(observable(&a), observable(&b), "registration answers differ");

        let mut k = known[i].clone();
        k["kind"] = json!("patient");
        let mut u = unknown[i].clone();
        u["kind"] = json!("patient");
        let t = Instant::now();
        let a = send("/api/v1/portal/password-resets", k).await;
        fp_known.push(t.elapsed());
        let t = Instant::now();
        let b = send("/api/v1/portal/password-resets", u).await;
        fp_unknown.push(t.elapsed());
        assert_eq!(a.code(), 202);
        assert_eq!(observable(&a), observable(&b), "forgot-password answers differ");
    }
    // The known requests did reach their patients (the comparison is of a match with a miss).
    for f in &known {
        last_link_to(world.db(), f["email"].as_str().unwrap()).await;
    }
    let (rk, ru, fk, fu) = (median(reg_known), median(reg_unknown), median(fp_known), median(fp_unknown));
    eprintln!("registration: known {rk:?}, unknown {ru:?}; forgot password: known {fk:?}, unknown {fu:?}");
    assert!(rk.abs_diff(ru) < TOLERANCE, "registration medians differ: known {rk:?}, unknown {ru:?}");
    assert!(fk.abs_diff(fu) < TOLERANCE, "forgot-password medians differ: known {fk:?}, unknown {fu:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_answer_a_match_and_a_miss_with_the_same_bytes() {
    let world = World::new().await;
    let pa = world.account(Caller::PortalA).clone();
    let form = |pairs: &[(&str, &str)]| {
        TestRequest::post("/portal/register").raw(Some("application/x-www-form-urlencoded"), form_body(pairs))
    };
    let known =
        [("email", pa.email.as_str()), ("last_name", "Anders"), ("date_of_birth", "1980-04-12"), ("zip", "62701")];
    let unknown =
        [("email", "z@example.test"), ("last_name", "Zed"), ("date_of_birth", "1980-04-12"), ("zip", "62701")];
    let a = world.send(form(&known)).await;
    let b = world.send(form(&unknown)).await;
    a.assert_status(200);
    assert_eq!(observable(&a), observable(&b));
    let forgot = |pairs: Vec<(&str, &str)>| {
        TestRequest::post("/portal/forgot-password").raw(Some("application/x-www-form-urlencoded"), form_body(&pairs))
    };
    let mut k = vec![("kind", "patient")];
    k.extend(known);
    let mut u = vec![("kind", "patient")];
    u.extend(unknown);
    let a2 = world.send(forgot(k)).await;
    let b2 = world.send(forgot(u)).await;
    assert_eq!(observable(&a2), observable(&b2));
    assert_eq!(a.body, a2.body, "registration and forgot password share their answer");
    let a3 = world.send(forgot(vec![("kind", "account"), ("username", "alice.anders"), ("email", &pa.email)])).await;
    let b3 = world.send(forgot(vec![("kind", "account"), ("username", "nobody.here"), ("email", &pa.email)])).await;
    assert_eq!(observable(&a3), observable(&b3));
}
