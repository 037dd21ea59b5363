//! Enumeration resistance at the use-case level (ASVS 6.3.8, SECURITY.md): self-registration and
//! forgot password answer identically for a real patient and an unknown person, and their median
//! durations differ by less than 5 ms. In a binary of its own, so no other test competes for the
//! database or the cores while it measures.

mod portal_common;

use std::time::{Duration, Instant};

use portal_auth::registration::{ForgotPasswordInput, IdentityInput, request_password_reset, request_registration};
use portal_common::*;

const RUNS: usize = 40;

fn facts(email: &str, last: &str) -> IdentityInput {
    IdentityInput {
        email: email.into(),
        last_name: last.into(),
        date_of_birth: "1980-01-15".into(),
        zip: "02139".into(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_and_forgot_password_answer_alike_and_take_as_long() {
    let w = World::new().await;
    // One patient per run, so that every "existing" request takes the full match path (links to
    // one patient are capped per day).
    let mut known = Vec::new();
    for i in 0..RUNS {
        let email = format!("patient{i}@example.org");
        w.enabled_patient(&format!("P{i}"), "Known", &email).await;
        known.push(facts(&email, "Known"));
    }
    let unknown: Vec<IdentityInput> = (0..RUNS).map(|i| facts(&format!("stranger{i}@example.org"), "Nobody")).collect();
    // Warm up connections and caches.
    for _ in 0..5 {
        request_registration(w.db(), &facts("warm@example.org", "Up"), None).await.unwrap();
    }

    let (mut reg_known, mut reg_unknown, mut fp_known, mut fp_unknown) = (vec![], vec![], vec![], vec![]);
    for i in 0..RUNS {
        // Interleaved, so that drift (caches, other load) affects both sides alike.
        let t = Instant::now();
        let a = request_registration(w.db(), &known[i], None).await;
        reg_known.push(t.elapsed());
        let t = Instant::now();
        let b = request_registration(w.db(), &unknown[i], None).await;
        reg_unknown.push(t.elapsed());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "registration answers differ");

        let t = Instant::now();
        let a = request_password_reset(w.db(), &ForgotPasswordInput::Patient(known[i].clone()), None).await;
        fp_known.push(t.elapsed());
        let t = Instant::now();
        let b = request_password_reset(w.db(), &ForgotPasswordInput::Patient(unknown[i].clone()), None).await;
        fp_unknown.push(t.elapsed());
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "forgot-password answers differ");
    }
    // Every known patient got a registration and a reset link; no stranger got anything.
    assert_eq!(w.links_to("patient7@example.org").await.len(), 2);
    assert!(w.links_to("stranger7@example.org").await.is_empty());

    for (what, k, u) in [("registration", reg_known, reg_unknown), ("forgot password", fp_known, fp_unknown)] {
        let (mk, mu) = (median(k), median(u));
        let diff = mk.abs_diff(mu);
        println!("{what}: median known {mk:?}, unknown {mu:?}, difference {diff:?}");
        assert!(diff < Duration::from_millis(5), "{what}: medians {mk:?} vs {mu:?} differ by {diff:?}");
    }
}
