//! ASVS 6.3.8 (L3): sign-in must not tell, by its answer or its timing, whether an account
//! exists. Not a strict timing test: it checks that an unknown e-mail still costs a full argon2
//! verification, by comparing medians within a generous factor. Its own test binary, so that
//! other tests' hashing does not run beside it.

mod common;

use std::time::{Duration, Instant};

use common::{PASSWORD, World, assert_bad_credentials};
use portal_core::staff::StaffRole;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_accounts_cost_a_full_verification() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let known = "ann@example.org";
    w.staff(StaffRole::FrontDesk, known, &[&main]).await;
    let inactive = "gone@example.org";
    let gone = w.staff(StaffRole::FrontDesk, inactive, &[&main]).await;
    w.set_active_directly(&gone, false).await;
    // Warm up: the first hash of a process pays for allocating argon2's memory.
    assert_bad_credentials(w.sign_in(known, "warming up").await);

    const ROUNDS: usize = 9;
    let (mut wrong_password, mut unknown, mut malformed, mut deactivated) = (vec![], vec![], vec![], vec![]);
    for i in 0..ROUNDS {
        // Interleaved, so that a burst of load elsewhere hits every kind alike. The counts are
        // cleared so that the delay after 5 failures never kicks in.
        w.clear_failures(known).await;
        w.clear_failures(inactive).await;
        let started = Instant::now();
        assert_bad_credentials(w.sign_in(known, "not the password").await);
        wrong_password.push(started.elapsed());

        let started = Instant::now();
        assert_bad_credentials(w.sign_in(&format!("nobody{i}@example.org"), "not the password").await);
        unknown.push(started.elapsed());

        let started = Instant::now();
        assert_bad_credentials(w.sign_in(&format!("no e-mail at all {i}"), "not the password").await);
        malformed.push(started.elapsed());

        let started = Instant::now();
        assert_bad_credentials(w.sign_in(inactive, PASSWORD).await);
        deactivated.push(started.elapsed());
    }
    let known_median = median(wrong_password);
    for (what, times) in
        [("unknown e-mail", unknown), ("malformed e-mail", malformed), ("inactive account", deactivated)]
    {
        let m = median(times);
        let ratio = m.as_secs_f64() / known_median.as_secs_f64();
        eprintln!("{what}: median {m:?} vs wrong password {known_median:?} (ratio {ratio:.2})");
        assert!((1.0 / 3.0..=3.0).contains(&ratio), "{what}: {m:?} against {known_median:?}");
    }
}
