//! Staff-to-staff conversations (seed 001, "Message EMR Users"): one or more staff recipients,
//! optionally about a patient whom every recipient must be allowed to see.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::messaging::{ConversationKind, Ineligible, MAX_STAFF_RECIPIENTS, MessagingRefused};
use portal_core::staff::StaffRole;
use portal_messaging::MessagingError;
use portal_messaging::inbox;
use portal_messaging::send::{self, ReplyInput, StaffMessageInput};

fn to_staff(ids: Vec<String>, patient: Option<&str>, body: &str) -> StaffMessageInput {
    StaffMessageInput {
        recipient_staff_ids: ids,
        patient_id: patient.map(str::to_owned),
        subject: None,
        body: body.into(),
        idempotency_key: None,
    }
}

fn refused(r: Result<impl std::fmt::Debug, MessagingError>) -> MessagingRefused {
    match r {
        Err(MessagingError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_write_to_several_colleagues_about_a_patient_they_can_all_see() {
    let s = scene().await;
    let db = &s.t.db;
    // Staff messages need no portal permission: the front desk writes too (without a choice).
    let front = staff_member(db, "Fran Desk", StaffRole::FrontDesk, &[&s.loc], false).await;
    let billing = staff_member(db, "Bea Billing", StaffRole::Billing, &[&s.loc], false).await;
    let sent = send::start_staff_conversation(
        db,
        &front,
        to_staff(vec![sid(&s.clinician), sid(&billing), sid(&billing)], Some(&s.patient), "Insurance card updated"),
    )
    .await
    .unwrap();
    for who in [&s.clinician, &billing] {
        let page = inbox::inbox(db, &caller(who), Default::default(), None).await.unwrap();
        assert_eq!(page.conversations.len(), 1);
        let c = &page.conversations[0];
        assert_eq!(c.kind, ConversationKind::Staff);
        assert_eq!(c.patient_id.as_deref(), Some(s.patient.as_str()), "the View Patient link");
        assert_eq!(c.patient_name.as_deref(), Some("Ann Lee"));
        assert_eq!(c.unread_count, 1);
        assert_eq!(c.others.len(), 2, "the duplicate recipient counts once");
    }
    // Everyone in it may reply; each reply reaches all the others.
    send::reply(
        db,
        &caller(&billing),
        &sent.conversation_id,
        ReplyInput { body: "Noted".into(), ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(inbox::unread_count(db, &caller(&s.clinician)).await.unwrap(), 2);
    assert_eq!(inbox::unread_count(db, &caller(&front)).await.unwrap(), 1);
    assert_eq!(inbox::unread_count(db, &caller(&billing)).await.unwrap(), 0);
    // The offered recipients: everyone else who is active, or who can see the patient.
    let north = location(db, "North").await;
    let far = staff_member(db, "Dr Far", StaffRole::Clinician, &[&north], false).await;
    let all = send::staff_recipients(db, &front, None).await.unwrap();
    assert!(all.iter().any(|r| r.name == "Dr Far") && !all.iter().any(|r| r.name == "Fran Desk"));
    let about = send::staff_recipients(db, &front, Some(&s.patient)).await.unwrap();
    assert!(!about.iter().any(|r| r.staff_id == sid(&far)));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_recipient_must_be_allowed_to_see_the_patient() {
    let s = scene().await;
    let db = &s.t.db;
    let north = location(db, "North").await;
    let far = staff_member(db, "Dr Far", StaffRole::Clinician, &[&north], false).await;
    let r = send::start_staff_conversation(db, &s.clinician, to_staff(vec![sid(&far)], Some(&s.patient), "About Ann"))
        .await;
    let e = refused(r);
    assert_eq!(e, MessagingRefused::Ineligible(Ineligible::CannotSeePatient { who: "Dr Far".into() }));
    // Without a patient the same colleague can be written to.
    let sent =
        send::start_staff_conversation(db, &s.clinician, to_staff(vec![sid(&far)], None, "Lunch?")).await.unwrap();
    assert!(
        inbox::open_thread(db, &caller(&far), &sent.conversation_id).await.unwrap().conversation.patient_id.is_none()
    );
    // The sender must see the patient too: a foreign patient answers like a missing one.
    let r = send::start_staff_conversation(db, &far, to_staff(vec![sid(&s.clinician)], Some(&s.patient), "x")).await;
    assert!(matches!(r, Err(MessagingError::Access(AccessError::NotFound))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_are_required_real_other_and_not_too_many() {
    let s = scene().await;
    let db = &s.t.db;
    let me = &s.clinician;
    assert_eq!(
        refused(send::start_staff_conversation(db, me, to_staff(vec![], None, "x")).await),
        MessagingRefused::NoRecipients
    );
    assert_eq!(
        refused(send::start_staff_conversation(db, me, to_staff(vec![sid(me)], None, "x")).await),
        MessagingRefused::MessageToSelf
    );
    for bogus in ["junk", "00000000-0000-4000-8000-000000000000"] {
        assert_eq!(
            refused(send::start_staff_conversation(db, me, to_staff(vec![bogus.into()], None, "x")).await),
            MessagingRefused::RecipientNotAvailable
        );
    }
    let many: Vec<String> = (0..=MAX_STAFF_RECIPIENTS).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
    assert_eq!(
        refused(send::start_staff_conversation(db, me, to_staff(many, None, "x")).await),
        MessagingRefused::TooManyRecipients { max: MAX_STAFF_RECIPIENTS }
    );
    // A deactivated colleague is refused by name.
    let gone = staff_member(db, "Old Timer", StaffRole::Clinician, &[&s.loc], false).await;
    let id = sid(&gone);
    db.write(move |tx| {
        Box::pin(async move {
            let row = portal_store::staff::find(tx, &id).await?;
            portal_store::staff::update_profile(
                tx,
                &id,
                &portal_store::staff::StaffProfile { name: row.name, email: row.email, role: row.role, active: false },
            )
            .await
        })
    })
    .await
    .unwrap();
    let e = refused(send::start_staff_conversation(db, me, to_staff(vec![sid(&gone)], None, "x")).await);
    assert_eq!(e.to_string(), "Old Timer's account is deactivated");
    // A portal user cannot reach a staff conversation at all.
    let sent = send::start_staff_conversation(
        db,
        me,
        to_staff(
            vec![sid(&staff_member(db, "Bo", StaffRole::Clinician, &[&s.loc], false).await)],
            Some(&s.patient),
            "x",
        ),
    )
    .await
    .unwrap();
    let ann = portal_caller(db, &s.account).await;
    let r = send::reply(db, &ann, &sent.conversation_id, ReplyInput { body: "hi".into(), ..Default::default() }).await;
    assert!(matches!(r, Err(MessagingError::Access(AccessError::NotFound))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_about_a_patient_is_refused_once_a_colleague_can_no_longer_see_them() {
    let s = scene().await;
    let db = &s.t.db;
    let bo = staff_member(db, "Dr Bo", StaffRole::Clinician, &[&s.loc], false).await;
    let sent =
        send::start_staff_conversation(db, &s.clinician, to_staff(vec![sid(&bo)], Some(&s.patient), "Ann's labs"))
            .await
            .unwrap();
    let north = location(db, "North").await;
    set_staff_locations(db, &bo, &[&north]).await;
    let r = send::reply(
        db,
        &caller(&s.clinician),
        &sent.conversation_id,
        ReplyInput { body: "x".into(), ..Default::default() },
    )
    .await;
    assert_eq!(refused(r).to_string(), "Dr Bo cannot see this patient's records (location access or permissions)");
    // Bo keeps the thread (it was sent to him), read-only.
    let moved = with_locations(&bo, &[&north]);
    let t = inbox::open_thread(db, &caller(&moved), &sent.conversation_id).await.unwrap();
    assert_eq!(t.messages.len(), 1);
    assert_eq!(
        t.reply_refused.as_deref(),
        Some("Dr Bo cannot see this patient's records (location access or permissions)")
    );
}
