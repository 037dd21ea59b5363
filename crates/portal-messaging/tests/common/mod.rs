//! Fixtures of the messaging tests: the shared ones of `portal_store::testing::fixtures`, and
//! callers built from them.
#![allow(dead_code)]

pub use portal_store::testing::fixtures::*;

use portal_core::Actor;
use portal_messaging::Caller;
use portal_store::Db;

pub fn caller(a: &Actor) -> Caller {
    Caller::staff(a).expect("staff caller")
}

pub async fn portal_caller(db: &Db, account_id: &str) -> Caller {
    Caller::portal(portal_principal(db, account_id).await, Some("10.0.0.9".into()))
}
