//! argon2id password hashing (m=19456 KiB, t=2, p=1: ASVS appendix C), on blocking threads
//! behind a bound on concurrent hashes.
//!
//! One hash costs ~18 ms of a core in release; unbounded, a sign-in flood would occupy every
//! blocking thread and core and starve ordinary requests. The semaphore admits one hash per core.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use portal_core::staff::NewPassword;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when an account does not exist so
    /// that the answer takes as long as for a real account.
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // Spelled out rather than `Argon2::default()` so a crate upgrade cannot change them silently.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashFailed;

impl PasswordHasher {
    /// `concurrency` is the number of hashes that may run at once (normally the core count).
    pub fn new(concurrency: usize) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2()
            .hash_password(b"no such account: constant-time filler", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy_hash: Arc::new(dummy) }
    }

    pub async fn hash(&self, password: &NewPassword) -> Result<String, HashFailed> {
        let pw = password.expose().to_owned();
        let _permit = self.permits.acquire().await.map_err(|_| HashFailed)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2().hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| HashFailed)
        })
        .await
        .map_err(|_| HashFailed)?
    }

    /// True when `candidate` matches `hash`. With `hash = None` (no such account) it still spends
    /// the time of a real verification and answers false.
    pub async fn verify(&self, hash: Option<String>, candidate: &str) -> bool {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| (*self.dummy_hash).clone());
        let candidate = candidate.to_owned();
        let Ok(_permit) = self.permits.acquire().await else { return false };
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2().verify_password(candidate.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_verify_and_differ() {
        let h = PasswordHasher::new(2);
        let pw = NewPassword::parse("a long passphrase here").unwrap();
        let a = h.hash(&pw).await.unwrap();
        let b = h.hash(&pw).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(Some(a.clone()), "a long passphrase here").await);
        assert!(!h.verify(Some(a), "a long passphrase herE").await);
        assert!(!h.verify(None, "a long passphrase here").await);
    }
}
