//! Fixtures of the queue tests: the shared ones of `portal_store::testing::fixtures`, a scene
//! with two locations, and a secure message written through the store (this crate never sends
//! messages: portal-messaging does, and portal-http records the reply here).
#![allow(dead_code)]

pub use portal_store::testing::fixtures::*;

use portal_core::Actor;
use portal_core::events::Relation;
use portal_core::portal_accounts::GrantScopes;
use portal_core::requests::RawRequestDetails;
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_queue::portal::{self, NewRequestInput};
use portal_queue::{QueueError, RequestView};
use portal_store::messaging::{self as msg, NewConversation, NewMessage, Party};
use portal_store::{Db, ids};

pub struct QueueScene {
    pub t: portal_store::testing::TestDb,
    pub loc: String,
    pub other_loc: String,
    pub clinician: Actor,
    pub front: Actor,
    pub billing: Actor,
    /// A front-desk user of the other location only.
    pub outsider: Actor,
    pub patient: String,
    pub account: String,
    /// A patient of the other location, with an account of their own.
    pub other_patient: String,
    pub other_account: String,
}

pub async fn queue_scene() -> QueueScene {
    let t = clinic().await;
    let loc = location(&t.db, "Main").await;
    let other_loc = location(&t.db, "North").await;
    let clinician = staff_member(&t.db, "Dr Ada Jones", StaffRole::Clinician, &[&loc], true).await;
    let front = staff_member(&t.db, "Fran Desk", StaffRole::FrontDesk, &[&loc], true).await;
    let billing = staff_member(&t.db, "Bill Ing", StaffRole::Billing, &[&loc], false).await;
    let outsider = staff_member(&t.db, "Otto North", StaffRole::FrontDesk, &[&other_loc], true).await;
    let patient = patient(&t.db, "Ann", "Lee", &loc).await;
    let account = account(&t.db, "Ann Lee", true).await;
    grant(&t.db, &account, &patient, Relation::Myself, GrantScopes::all()).await;
    let other_patient = self::patient(&t.db, "Olaf", "Berg", &other_loc).await;
    let other_account = self::account(&t.db, "Olaf Berg", true).await;
    grant(&t.db, &other_account, &other_patient, Relation::Myself, GrantScopes::all()).await;
    QueueScene {
        t,
        loc,
        other_loc,
        clinician,
        front,
        billing,
        outsider,
        patient,
        account,
        other_patient,
        other_account,
    }
}

pub fn refill(patient: &str, medication: &str) -> NewRequestInput {
    NewRequestInput {
        patient_id: patient.into(),
        details: RawRequestDetails {
            kind: "refill".into(),
            medication: Some(medication.into()),
            pharmacy: Some("Main Street Pharmacy".into()),
            ..Default::default()
        },
        idempotency_key: None,
    }
}

pub fn question(patient: &str, kind: &str, text: &str) -> NewRequestInput {
    NewRequestInput {
        patient_id: patient.into(),
        details: RawRequestDetails { kind: kind.into(), question: Some(text.into()), ..Default::default() },
        idempotency_key: None,
    }
}

pub async fn submit(db: &Db, account: &str, input: NewRequestInput) -> Result<RequestView, QueueError> {
    let p = portal_principal(db, account).await;
    portal::submit(db, &p, Some("10.0.0.9".into()), input).await.map(|s| s.request)
}

/// A portal conversation from `staff` to `account` with one message; returns (conversation, message).
pub async fn message(db: &Db, staff: &Actor, account: &str, patient: &str, body: &str) -> (String, String) {
    let s = staff.principal.staff().unwrap().clone();
    let (conv, mid) = (ids::new_id(), ids::new_id());
    let (c2, m2, a, p, b) = (conv.clone(), mid.clone(), account.to_owned(), patient.to_owned(), body.to_owned());
    db.write(move |tx| {
        Box::pin(async move {
            let me = Party { kind: "staff", id: s.id.to_string() };
            let at = now_utc();
            msg::insert_conversation(
                tx,
                &NewConversation { id: &c2, kind: "portal", patient_id: Some(&p), subject: None, started_by: &me, at },
                &[(me.clone(), s.name.clone()), (Party { kind: "portal", id: a }, "Ann Lee".into())],
            )
            .await?;
            msg::add_message(
                tx,
                &NewMessage {
                    id: &m2,
                    conversation_id: &c2,
                    sender: &me,
                    sender_name: &s.name,
                    body: &b,
                    at,
                    idempotency_key: None,
                },
            )
            .await
            .map(|_| ())
        })
    })
    .await
    .expect("message");
    (conv, mid)
}
