//! The bound on concurrent password hashes (SECURITY.md: hash on a blocking thread behind a
//! bound, so that a sign-in flood cannot starve other requests).
//!
//! Observed by when hashes finish: started together behind one permit, they finish one after
//! another, each a whole hash after the previous one; unbounded, two cores would finish two at
//! nearly the same moment. Gaps between finishes only grow when the machine is busy, so the
//! check is robust to load; its own test binary all the same, so no other test hashes beside it.

use std::time::{Duration, Instant};

use portal_auth::PasswordHasher;
use portal_core::staff::NewPassword;

async fn one_hash(h: &PasswordHasher, pw: &NewPassword) -> Duration {
    let started = Instant::now();
    h.hash(pw).await.unwrap();
    started.elapsed()
}

/// Starts one hash per hasher at once; returns the gaps between consecutive finishes.
async fn finish_gaps(hashers: &[PasswordHasher], pw: &NewPassword) -> Vec<Duration> {
    let tasks: Vec<_> = hashers
        .iter()
        .map(|h| {
            let (h, pw) = (h.clone(), pw.clone());
            tokio::spawn(async move {
                h.hash(&pw).await.unwrap();
                Instant::now()
            })
        })
        .collect();
    let mut finished = Vec::new();
    for t in tasks {
        finished.push(t.await.unwrap());
    }
    finished.sort();
    finished.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_permit_runs_hashes_one_after_another() {
    let pw = NewPassword::parse("a long passphrase here").unwrap();
    let serial = PasswordHasher::new(1);
    // The fastest of several single hashes: the cost of one on an idle core.
    one_hash(&serial, &pw).await;
    let mut single = Duration::MAX;
    for _ in 0..5 {
        single = single.min(one_hash(&serial, &pw).await);
    }

    let gaps = finish_gaps(&vec![serial.clone(); 4], &pw).await;
    // Clones share the permits: a clone does not bring one of its own.
    let clone_gaps = finish_gaps(&[serial.clone(), serial.clone(), serial.clone()], &pw).await;
    // Measured again afterwards: the smaller figure is the closer to an idle machine's.
    for _ in 0..5 {
        single = single.min(one_hash(&serial, &pw).await);
    }
    eprintln!("one hash {single:?}; gaps between finishes behind one permit {gaps:?}, of clones {clone_gaps:?}");
    for g in &gaps {
        assert!(*g >= single.mul_f64(0.3), "two hashes finished {g:?} apart; one hash takes {single:?}");
    }
    for g in &clone_gaps {
        assert!(*g >= single.mul_f64(0.3), "clones overlapped: {clone_gaps:?}, one hash takes {single:?}");
    }

    // Verification waits for a permit too, and a bad stored hash is simply "no".
    let h = PasswordHasher::new(1);
    let hash = h.hash(&pw).await.unwrap();
    assert!(h.verify(Some(hash), "a long passphrase here").await);
    assert!(!h.verify(Some("not a hash".into()), "a long passphrase here").await);
    assert!(!h.verify(None, "a long passphrase here").await);
}
