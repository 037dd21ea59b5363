//! Portal conversations (seed 001, "Message a Patient"): who may send, who is offered, the
//! e-mail notice, portal users writing to staff by the instance setting, and the re-check of
//! eligibility at every reply.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::events::Relation;
use portal_core::messaging::{ConversationKind, Ineligible, MessagingRefused};
use portal_core::portal_accounts::{GrantScope, GrantScopes};
use portal_core::staff::StaffRole;
use portal_messaging::MessagingError;
use portal_messaging::inbox;
use portal_messaging::send::{self, PortalMessageInput, PortalUserMessageInput, ReplyInput};
use portal_messaging::settings;

fn to_patient(patient: &str, account: &str, body: &str) -> PortalMessageInput {
    PortalMessageInput {
        patient_id: patient.into(),
        recipient_account_id: account.into(),
        subject: Some("Your results".into()),
        body: body.into(),
        idempotency_key: None,
        skip_email_notice: false,
    }
}

fn refused(r: Result<impl std::fmt::Debug, MessagingError>) -> MessagingRefused {
    match r {
        Err(MessagingError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn not_found(r: Result<impl std::fmt::Debug, MessagingError>) {
    match r {
        Err(MessagingError::Access(AccessError::NotFound)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn set_care_team_mode(s: &Scene) {
    let admin = staff_member(&s.t.db, "Root", StaffRole::SuperAdmin, &[], false).await;
    let mut a = staff_of(&admin).clone();
    a.portal.manage_portal_settings = true;
    let admin = portal_core::Actor::new(portal_core::Principal::Staff(a), None);
    settings::set_portal_messaging_recipients(&s.t.db, &admin, "care_team").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_without_the_permission_have_no_type_choice_and_cannot_send_portal_messages() {
    let s = scene().await;
    let front = staff_member(&s.t.db, "Fran Desk", StaffRole::FrontDesk, &[&s.loc], false).await;
    assert_eq!(send::message_types(&front).unwrap(), &[ConversationKind::Staff]);
    assert_eq!(send::message_types(&s.clinician).unwrap(), &[ConversationKind::Portal, ConversationKind::Staff]);
    let r = send::start_portal_conversation(&s.t.db, &front, to_patient(&s.patient, &s.account, "Hello")).await;
    assert_eq!(refused(r), MessagingRefused::NeedPortalMessagesPermission);
    assert_eq!(
        refused(send::portal_recipients(&s.t.db, &front, &s.patient).await),
        MessagingRefused::NeedPortalMessagesPermission
    );
    // A Super Admin is no exception.
    let sa = staff_member(&s.t.db, "Root", StaffRole::SuperAdmin, &[], false).await;
    let r = send::start_portal_conversation(&s.t.db, &sa, to_patient(&s.patient, &s.account, "Hello")).await;
    assert_eq!(refused(r), MessagingRefused::NeedPortalMessagesPermission);
    assert!(audit_rows(&s.t.db, "conversation_started").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_active_accounts_with_a_grant_covering_messages_are_offered_and_accepted() {
    let s = scene().await;
    let db = &s.t.db;
    let guardian = account(db, "Gus Lee", true).await;
    grant(db, &guardian, &s.patient, Relation::Guardian, GrantScopes::all()).await;
    let invited = account(db, "Ivy Lee", false).await;
    grant(db, &invited, &s.patient, Relation::Guarantor, GrantScopes::all()).await;
    let billing_only = account(db, "Bill Lee", true).await;
    let only = GrantScopes::parse(Some(&["billing".to_owned()])).unwrap();
    grant(db, &billing_only, &s.patient, Relation::Guarantor, only).await;
    let revoked = account(db, "Rex Lee", true).await;
    let g = grant(db, &revoked, &s.patient, Relation::Other, GrantScopes::all()).await;
    revoke(db, &g).await;
    let stranger = account(db, "Stan Ger", true).await;

    let offered = send::portal_recipients(db, &s.clinician, &s.patient).await.unwrap();
    let mut names: Vec<_> = offered.iter().map(|r| (r.name.as_str(), r.relation)).collect();
    names.sort_by_key(|n| n.0);
    assert_eq!(names, vec![("Ann Lee", Relation::Myself), ("Gus Lee", Relation::Guardian)]);

    let r = send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, &invited, "Hi")).await;
    let e = refused(r);
    assert_eq!(e, MessagingRefused::Ineligible(Ineligible::NoActivePortalAccount { who: "Ivy Lee".into() }));
    assert!(e.to_string().contains("invitation must be accepted and a password set"), "{e}");
    let r = send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, &billing_only, "Hi")).await;
    assert_eq!(refused(r), MessagingRefused::Ineligible(Ineligible::MessagesNotIncluded { who: "Bill Lee".into() }));
    // No live grant: not offered, and not named.
    for who in [&revoked, &stranger, &"00000000-0000-4000-8000-000000000000".to_owned()] {
        let r = send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, who, "Hi")).await;
        assert_eq!(refused(r), MessagingRefused::RecipientNotAvailable);
    }
    assert!(send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, &guardian, "Hi")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_of_another_location_answers_like_a_missing_one() {
    let s = scene().await;
    let other = location(&s.t.db, "North").await;
    let elsewhere = staff_member(&s.t.db, "Dr Far", StaffRole::Clinician, &[&other], true).await;
    not_found(send::start_portal_conversation(&s.t.db, &elsewhere, to_patient(&s.patient, &s.account, "Hi")).await);
    not_found(send::portal_recipients(&s.t.db, &elsewhere, &s.patient).await);
    not_found(send::start_portal_conversation(&s.t.db, &s.clinician, to_patient("nope", &s.account, "Hi")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_sent_while_the_portal_is_off_and_bad_input_is_reported_by_field() {
    let s = scene().await;
    let r = send::start_portal_conversation(
        &s.t.db,
        &s.clinician,
        PortalMessageInput { subject: Some("x".repeat(201)), ..to_patient(&s.patient, &s.account, " ") },
    )
    .await;
    match r {
        Err(MessagingError::Invalid(f)) => {
            assert!(f.get("subject").is_some() && f.get("body").is_some(), "{f:?}");
        }
        other => panic!("{other:?}"),
    }
    s.t.db.write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await })).await.unwrap();
    let r = send::start_portal_conversation(&s.t.db, &s.clinician, to_patient(&s.patient, &s.account, "Hi")).await;
    assert_eq!(refused(r), MessagingRefused::Ineligible(Ineligible::PortalOff));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portal_message_queues_an_email_without_its_content_and_is_audited() {
    let s = scene().await;
    let db = &s.t.db;
    let sent = send::start_portal_conversation(
        db,
        &s.clinician,
        to_patient(&s.patient, &s.account, "Your potassium is 5.9, call us"),
    )
    .await
    .unwrap();
    assert!(!sent.replayed && sent.message.mine);
    let ev = events(db, "portal_message_notice").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["account_id"], s.account.as_str());
    assert_eq!(ev[0]["patient_id"], s.patient.as_str());
    assert_eq!(ev[0]["conversation_id"], sent.conversation_id.as_str());
    let raw = ev[0].to_string();
    assert!(!raw.contains("potassium") && !raw.contains("results"), "no content in the event: {raw}");
    let rows = audit_rows(db, "conversation_started").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].patient_id.as_deref(), Some(s.patient.as_str()));
    assert_eq!(rows[0].target_id.as_deref(), Some(sent.conversation_id.as_str()));
    assert!(!rows[0].detail.contains("potassium"));

    // The patient reads it, replies; the clinician's count goes up and no e-mail goes to staff.
    let ann = portal_caller(db, &s.account).await;
    assert_eq!(inbox::unread_count(db, &ann).await.unwrap(), 1);
    let reply =
        send::reply(db, &ann, &sent.conversation_id, ReplyInput { body: "Calling now".into(), ..Default::default() })
            .await
            .unwrap();
    assert_eq!(reply.message.sender_name, "Ann Lee");
    assert_eq!(inbox::unread_count(db, &caller(&s.clinician)).await.unwrap(), 1);
    assert_eq!(events(db, "portal_message_notice").await.len(), 1);
    // A staff reply e-mails again.
    send::reply(
        db,
        &caller(&s.clinician),
        &sent.conversation_id,
        ReplyInput { body: "Thanks".into(), ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(events(db, "portal_message_notice").await.len(), 2);
    assert_eq!(audit_rows(db, "message_sent").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_users_write_to_staff_by_the_instance_setting() {
    let s = scene().await;
    let db = &s.t.db;
    let off_team = staff_member(db, "Dr Bo Off", StaffRole::Clinician, &[&s.loc], true).await;
    let _no_perm = staff_member(db, "Dr Cy NoPerm", StaffRole::Clinician, &[&s.loc], false).await;
    let other_loc = location(db, "North").await;
    let _elsewhere = staff_member(db, "Dr Di Far", StaffRole::Clinician, &[&other_loc], true).await;
    let ann = portal_principal(db, &s.account).await;

    let names = |v: Vec<send::StaffRecipient>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let offered = names(send::staff_for_portal_user(db, &ann, &s.patient).await.unwrap());
    assert_eq!(offered, vec!["Dr Ada Jones", "Dr Bo Off"]);

    set_care_team_mode(&s).await;
    let offered = names(send::staff_for_portal_user(db, &ann, &s.patient).await.unwrap());
    assert_eq!(offered, vec!["Dr Ada Jones"]);
    let input = |staff_id: String| PortalUserMessageInput {
        patient_id: s.patient.clone(),
        staff_id,
        subject: None,
        body: "A question about my refill".into(),
        idempotency_key: None,
    };
    let r = send::start_as_portal_user(db, &ann, None, input(sid(&off_team))).await;
    assert_eq!(refused(r), MessagingRefused::RecipientNotAvailable);
    let sent = send::start_as_portal_user(db, &ann, None, input(sid(&s.clinician))).await.unwrap();
    assert_eq!(inbox::unread_count(db, &caller(&s.clinician)).await.unwrap(), 1);
    assert!(events(db, "portal_message_notice").await.is_empty(), "staff get a count, not an e-mail");

    // A patient the account holds no grant for answers like a missing one.
    let other = patient(db, "Zed", "Other", &s.loc).await;
    not_found(
        send::start_as_portal_user(
            db,
            &ann,
            None,
            PortalUserMessageInput { patient_id: other, ..input(sid(&s.clinician)) },
        )
        .await,
    );
    // A grant without messages does not reach the inbox's patient either.
    let limited = account(db, "Lim Ited", true).await;
    grant(db, &limited, &s.patient, Relation::Guardian, GrantScopes::parse(Some(&["billing".into()])).unwrap()).await;
    let lim = portal_principal(db, &limited).await;
    assert!(matches!(
        send::staff_for_portal_user(db, &lim, &s.patient).await,
        Err(MessagingError::Access(AccessError::Forbidden { .. }))
    ));
    assert!(lim.require(&portal_core::ids::PatientId::from_trusted(s.patient.clone()), GrantScope::Messages).is_err());
    assert_eq!(sent.message.body, "A question about my refill");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_care_team_member_removed_from_the_team_can_no_longer_reply_and_the_thread_says_why() {
    let s = scene().await;
    let db = &s.t.db;
    set_care_team_mode(&s).await;
    let sent = send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, &s.account, "Hello Ann"))
        .await
        .unwrap();
    remove_from_care_team(db, &s.patient, &s.clinician).await;

    let r = send::reply(
        db,
        &caller(&s.clinician),
        &sent.conversation_id,
        ReplyInput { body: "More".into(), ..Default::default() },
    )
    .await;
    let e = refused(r);
    assert_eq!(e.to_string(), "Dr Ada Jones is not on this patient's care team");
    let thread = inbox::open_thread(db, &caller(&s.clinician), &sent.conversation_id).await.unwrap();
    assert_eq!(thread.reply_refused.as_deref(), Some("Dr Ada Jones is not on this patient's care team"));
    assert_eq!(thread.messages.len(), 1, "the thread stays readable");

    // The patient's reply is refused too, saying why.
    let ann = portal_caller(db, &s.account).await;
    let r = send::reply(db, &ann, &sent.conversation_id, ReplyInput { body: "Hi?".into(), ..Default::default() }).await;
    assert_eq!(refused(r).to_string(), "Dr Ada Jones is not on this patient's care team");
    let t = inbox::open_thread(db, &ann, &sent.conversation_id).await.unwrap();
    assert!(t.reply_refused.is_some());

    // Back on the team, both may reply again.
    add_to_care_team(db, &s.patient, &s.clinician).await;
    assert!(
        send::reply(db, &ann, &sent.conversation_id, ReplyInput { body: "Hi?".into(), ..Default::default() })
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_permission_location_or_grant_disables_replies() {
    let s = scene().await;
    let db = &s.t.db;
    let sent =
        send::start_portal_conversation(db, &s.clinician, to_patient(&s.patient, &s.account, "Hello")).await.unwrap();
    let id = sent.conversation_id.clone();
    let body = || ReplyInput { body: "again".into(), ..Default::default() };
    let ann = portal_caller(db, &s.account).await;

    // The permission removed: the staff member's own reply, and the patient's to them.
    set_messages_permission(db, &s.clinician, false).await;
    let without = with_permission(&s.clinician, false);
    assert_eq!(
        refused(send::reply(db, &caller(&without), &id, body()).await),
        MessagingRefused::NeedPortalMessagesPermission
    );
    let e = refused(send::reply(db, &ann, &id, body()).await);
    assert_eq!(
        e,
        MessagingRefused::Ineligible(Ineligible::NotAvailableForPortalMessages { who: "Dr Ada Jones".into() })
    );
    set_messages_permission(db, &s.clinician, true).await;

    // The location taken away.
    let north = location(db, "North").await;
    set_staff_locations(db, &s.clinician, &[&north]).await;
    let moved = with_locations(&s.clinician, &[&north]);
    let e = refused(send::reply(db, &caller(&moved), &id, body()).await);
    assert!(e.to_string().contains("cannot see this patient's records"), "{e}");
    assert!(refused(send::reply(db, &ann, &id, body()).await).to_string().contains("Dr Ada Jones cannot see"));
    set_staff_locations(db, &s.clinician, &[&s.loc]).await;

    // The portal connection revoked: the staff reply is refused with the reason, and the
    // conversation is gone for the portal user from their next request.
    revoke(db, &s.grant).await;
    let e = refused(send::reply(db, &caller(&s.clinician), &id, body()).await);
    assert_eq!(e.to_string(), "Ann Lee no longer has portal access to this patient");
    let ann = portal_caller(db, &s.account).await;
    not_found(send::reply(db, &ann, &id, body()).await);
    not_found(inbox::open_thread(db, &ann, &id).await);
    assert!(inbox::inbox(db, &ann, Default::default(), None).await.unwrap().conversations.is_empty());
    assert_eq!(inbox::unread_count(db, &ann).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardian_with_one_account_writes_about_each_of_two_children_separately() {
    let s = scene().await;
    let db = &s.t.db;
    let mia = patient(db, "Mia", "Park", &s.loc).await;
    let leo = patient(db, "Leo", "Park", &s.loc).await;
    add_to_care_team(db, &mia, &s.clinician).await;
    add_to_care_team(db, &leo, &s.clinician).await;
    let mom = account(db, "Pat Park", true).await;
    grant(db, &mom, &mia, Relation::Guardian, GrantScopes::all()).await;
    let leo_grant = grant(db, &mom, &leo, Relation::Guardian, GrantScopes::all()).await;
    let pat = portal_principal(db, &mom).await;
    let write = |patient: &str, body: &str| PortalUserMessageInput {
        patient_id: patient.into(),
        staff_id: sid(&s.clinician),
        subject: Some("School form".into()),
        body: body.into(),
        idempotency_key: None,
    };
    let a = send::start_as_portal_user(db, &pat, None, write(&mia, "About Mia")).await.unwrap();
    let b = send::start_as_portal_user(db, &pat, None, write(&leo, "About Leo")).await.unwrap();
    assert_ne!(a.conversation_id, b.conversation_id);

    let page = inbox::inbox(db, &caller(&s.clinician), Default::default(), None).await.unwrap();
    let mut about: Vec<_> = page.conversations.iter().map(|c| c.patient_name.clone().unwrap()).collect();
    about.sort();
    assert_eq!(about, vec!["Leo Park", "Mia Park"]);
    assert!(page.conversations.iter().all(|c| c.others[0].name == "Pat Park"));

    let mine = inbox::inbox(db, &portal_caller(db, &mom).await, Default::default(), None).await.unwrap();
    assert_eq!(mine.conversations.len(), 2);
    // Revoking one child's grant hides only that child's conversation.
    revoke(db, &leo_grant).await;
    let pat = portal_caller(db, &mom).await;
    let left = inbox::inbox(db, &pat, Default::default(), None).await.unwrap();
    assert_eq!(left.conversations.len(), 1);
    assert_eq!(left.conversations[0].patient_id.as_deref(), Some(mia.as_str()));
    not_found(inbox::open_thread(db, &pat, &b.conversation_id).await);
    assert!(inbox::open_thread(db, &pat, &a.conversation_id).await.is_ok());
}
