//! The inbox: only one's own conversations (no role sees others'), archive and unarchive per
//! participant, unread counts and marks, search, idempotent sends, paging, the setting.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::messaging::{InboxFolder, MessagingRefused, ParticipantKind};
use portal_core::staff::StaffRole;
use portal_messaging::send::{self, PortalMessageInput, ReplyInput, StaffMessageInput};
use portal_messaging::{Caller, MessagingError, inbox, settings};

fn to_patient(s: &Scene, subject: &str, body: &str, key: Option<&str>) -> PortalMessageInput {
    PortalMessageInput {
        patient_id: s.patient.clone(),
        recipient_account_id: s.account.clone(),
        subject: Some(subject.into()),
        body: body.into(),
        idempotency_key: key.map(str::to_owned),
        skip_email_notice: false,
    }
}

fn reply(body: &str) -> ReplyInput {
    ReplyInput { body: body.into(), idempotency_key: None }
}

fn not_found<T: std::fmt::Debug>(r: Result<T, MessagingError>) {
    assert!(matches!(r, Err(MessagingError::Access(AccessError::NotFound))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_sees_conversations_they_are_not_in_super_admin_included() {
    let s = scene().await;
    let db = &s.t.db;
    let sent = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Results", "Confidential", None))
        .await
        .unwrap();
    let sa = staff_member(db, "Root Admin", StaffRole::SuperAdmin, &[], true).await;
    let colleague = staff_member(db, "Dr Bo", StaffRole::Clinician, &[&s.loc], true).await;
    for outsider in [&sa, &colleague] {
        let c = caller(outsider);
        not_found(inbox::open_thread(db, &c, &sent.conversation_id).await);
        not_found(send::reply(db, &c, &sent.conversation_id, reply("let me in")).await);
        not_found(inbox::archive(db, &c, &sent.conversation_id).await);
        assert!(inbox::inbox(db, &c, InboxFolder::Active, None).await.unwrap().conversations.is_empty());
        assert!(inbox::search(db, &c, "Confidential").await.unwrap().is_empty());
        assert_eq!(inbox::unread_count(db, &c).await.unwrap(), 0);
    }
    // Another portal user of the same clinic sees nothing either.
    let other = account(db, "Other Person", true).await;
    let p2 = patient(db, "Olga", "Other", &s.loc).await;
    grant(db, &other, &p2, portal_core::events::Relation::Myself, Default::default()).await;
    let o = portal_caller(db, &other).await;
    not_found(inbox::open_thread(db, &o, &sent.conversation_id).await);
    not_found(inbox::open_thread(db, &o, "not-an-id").await);
    // The command line's system principal has no inbox.
    assert!(portal_messaging::Caller::staff(&portal_core::Actor::system()).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_is_per_person_and_new_messages_bring_it_back() {
    let s = scene().await;
    let db = &s.t.db;
    let doc = caller(&s.clinician);
    let sent = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "Hello", None)).await.unwrap();
    let id = sent.conversation_id.clone();
    let ann = portal_caller(db, &s.account).await;

    inbox::archive(db, &doc, &id).await.unwrap();
    inbox::archive(db, &doc, &id).await.unwrap(); // twice: nothing more
    assert_eq!(audit_rows(db, "conversation_archived").await.len(), 1);
    assert!(inbox::inbox(db, &doc, InboxFolder::Active, None).await.unwrap().conversations.is_empty());
    let archived = inbox::inbox(db, &doc, InboxFolder::Archived, None).await.unwrap();
    assert_eq!(archived.conversations.len(), 1);
    assert!(archived.conversations[0].archived);
    // The patient's copy is untouched.
    assert_eq!(inbox::inbox(db, &ann, InboxFolder::Active, None).await.unwrap().conversations.len(), 1);

    // Unarchive.
    inbox::unarchive(db, &doc, &id).await.unwrap();
    assert_eq!(inbox::inbox(db, &doc, InboxFolder::Active, None).await.unwrap().conversations.len(), 1);
    assert_eq!(audit_rows(db, "conversation_unarchived").await.len(), 1);

    // A new message moves it back to Active for those it concerns, unread.
    inbox::archive(db, &doc, &id).await.unwrap();
    send::reply(db, &ann, &id, reply("Thanks!")).await.unwrap();
    let active = inbox::inbox(db, &doc, InboxFolder::Active, None).await.unwrap();
    assert_eq!(active.conversations.len(), 1);
    assert_eq!(active.conversations[0].unread_count, 1);
    assert!(inbox::inbox(db, &doc, InboxFolder::Archived, None).await.unwrap().conversations.is_empty());

    // Replying to an archived conversation unarchives it for the replier.
    inbox::archive(db, &ann, &id).await.unwrap();
    inbox::archive(db, &doc, &id).await.unwrap();
    send::reply(db, &ann, &id, reply("One more thing")).await.unwrap();
    let mine = inbox::inbox(db, &ann, InboxFolder::Active, None).await.unwrap();
    assert_eq!(mine.conversations.len(), 1);
    assert_eq!(mine.conversations[0].unread_count, 0, "one's own message is not unread");
    assert_eq!(inbox::inbox(db, &doc, InboxFolder::Active, None).await.unwrap().conversations.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unread_counts_rise_with_others_messages_and_opening_marks_them_read() {
    let s = scene().await;
    let db = &s.t.db;
    let doc = caller(&s.clinician);
    let ann = portal_caller(db, &s.account).await;
    let sent = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "First", None)).await.unwrap();
    let id = sent.conversation_id.clone();
    send::reply(db, &doc, &id, reply("Second")).await.unwrap();
    assert_eq!(inbox::unread_count(db, &ann).await.unwrap(), 2);
    assert_eq!(inbox::unread_count(db, &doc).await.unwrap(), 0);

    let t = inbox::open_thread(db, &ann, &id).await.unwrap();
    let seen: Vec<_> = t.messages.iter().map(|m| (m.body.as_str(), m.unread, m.mine)).collect();
    assert_eq!(seen, vec![("First", true, false), ("Second", true, false)], "oldest first, both marked");
    assert_eq!(t.conversation.unread_count, 0);
    assert!(t.reply_refused.is_none());
    assert_eq!(inbox::unread_count(db, &ann).await.unwrap(), 0);

    send::reply(db, &ann, &id, reply("Third")).await.unwrap();
    send::reply(db, &doc, &id, reply("Fourth")).await.unwrap();
    let t = inbox::open_thread(db, &ann, &id).await.unwrap();
    let marks: Vec<_> = t.messages.iter().map(|m| (m.body.as_str(), m.unread)).collect();
    assert_eq!(marks, vec![("First", false), ("Second", false), ("Third", false), ("Fourth", true)]);
    // Opening again: nothing unread.
    assert!(inbox::open_thread(db, &ann, &id).await.unwrap().messages.iter().all(|m| !m.unread));
    assert!(audit_rows(db, "conversation_viewed").await.len() >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_words_names_and_subjects_in_ones_own_conversations_only() {
    let s = scene().await;
    let db = &s.t.db;
    let doc = caller(&s.clinician);
    let a = send::start_portal_conversation(
        db,
        &s.clinician,
        to_patient(&s, "Prescription refill", "Your amoxicillin is ready", None),
    )
    .await
    .unwrap();
    let bo = staff_member(db, "Dr Bogdan Novak", StaffRole::Clinician, &[&s.loc], false).await;
    let b = send::start_staff_conversation(
        db,
        &s.clinician,
        StaffMessageInput {
            recipient_staff_ids: vec![sid(&bo)],
            patient_id: None,
            subject: None,
            body: "Rota for Zoë's weekend".into(),
            idempotency_key: None,
        },
    )
    .await
    .unwrap();
    // Someone else's conversation with the same words.
    let cy = staff_member(db, "Dr Cy", StaffRole::Clinician, &[&s.loc], false).await;
    let other = send::start_staff_conversation(
        db,
        &cy,
        StaffMessageInput {
            recipient_staff_ids: vec![sid(&bo)],
            patient_id: None,
            subject: Some("Prescription refill".into()),
            body: "amoxicillin amoxicillin".into(),
            idempotency_key: None,
        },
    )
    .await
    .unwrap();

    let ids = |v: Vec<inbox::ConversationSummary>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(inbox::search(db, &doc, "amoxicillin").await.unwrap()), vec![a.conversation_id.clone()]);
    assert_eq!(
        ids(inbox::search(db, &doc, "AMOX").await.unwrap()),
        vec![a.conversation_id.clone()],
        "prefix, any case"
    );
    assert_eq!(ids(inbox::search(db, &doc, "refill").await.unwrap()), vec![a.conversation_id.clone()], "subject");
    assert_eq!(ids(inbox::search(db, &doc, "Novak").await.unwrap()), vec![b.conversation_id.clone()], "a name");
    assert_eq!(ids(inbox::search(db, &doc, "zoë weekend").await.unwrap()), vec![b.conversation_id.clone()]);
    // Every word must match somewhere in the conversation: body and a participant's name.
    assert_eq!(ids(inbox::search(db, &doc, "ready Ann").await.unwrap()), vec![a.conversation_id.clone()]);
    assert!(inbox::search(db, &doc, "ready Novak").await.unwrap().is_empty());
    // What the index keeps to restrict a search to its owner is never matched as a word.
    assert!(inbox::search(db, &doc, "staff").await.unwrap().is_empty());
    assert!(inbox::search(db, &doc, "portal").await.unwrap().is_empty());
    // Operators of either dialect are only words.
    assert!(inbox::search(db, &doc, "amox* OR \"x\" | !refill & NEAR(").await.unwrap().is_empty());
    // Bo is in b and in Cy's conversation, not in a: he finds Cy's amoxicillin, not the patient's.
    assert_eq!(ids(inbox::search(db, &caller(&bo), "amoxicillin").await.unwrap()), vec![other.conversation_id.clone()]);
    assert_eq!(ids(inbox::search(db, &caller(&bo), "rota").await.unwrap()), vec![b.conversation_id.clone()]);
    assert_eq!(ids(inbox::search(db, &caller(&cy), "amoxicillin").await.unwrap()), vec![other.conversation_id]);
    // Archived conversations are found too.
    inbox::archive(db, &doc, &a.conversation_id).await.unwrap();
    let hits = inbox::search(db, &doc, "amoxicillin").await.unwrap();
    assert!(hits[0].archived);
    // The patient finds theirs; too short a term is a field error.
    let ann = portal_caller(db, &s.account).await;
    assert_eq!(ids(inbox::search(db, &ann, "Jones").await.unwrap()), vec![a.conversation_id.clone()]);
    match inbox::search(db, &doc, "ab").await {
        Err(MessagingError::Invalid(f)) => assert_eq!(f.get("q"), Some("enter at least 3 characters")),
        other => panic!("{other:?}"),
    }
    let rows = audit_rows(db, "messages_searched").await;
    assert!(!rows.is_empty() && rows.iter().all(|r| !r.detail.contains("amox")), "the words are not audited");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_send_returns_the_first_message() {
    let s = scene().await;
    let db = &s.t.db;
    let first =
        send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "Hello", Some("key-1"))).await.unwrap();
    let again =
        send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "Hello", Some("key-1"))).await.unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.message.id, first.message.id);
    assert_eq!(again.conversation_id, first.conversation_id);
    assert_eq!(events(db, "portal_message_notice").await.len(), 1);
    assert_eq!(inbox::unread_count(db, &portal_caller(db, &s.account).await).await.unwrap(), 1);
    // The same key for something else is refused, not silently answered.
    let r = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "Different", Some("key-1"))).await;
    assert!(matches!(r, Err(MessagingError::Refused(MessagingRefused::IdempotencyKeyReused))), "{r:?}");
    // Keys are per sender: the patient may use the same one.
    let ann = portal_caller(db, &s.account).await;
    let id = first.conversation_id.clone();
    let r1 = send::reply(db, &ann, &id, ReplyInput { body: "Ok".into(), idempotency_key: Some("key-1".into()) })
        .await
        .unwrap();
    let r2 = send::reply(db, &ann, &id, ReplyInput { body: "Ok".into(), idempotency_key: Some("key-1".into()) })
        .await
        .unwrap();
    assert_eq!(r1.message.id, r2.message.id);
    assert!(r2.replayed);

    // Retries racing each other still send once.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (db, doc) = (db.clone(), caller(&s.clinician));
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            send::reply(&db, &doc, &id, ReplyInput { body: "Once".into(), idempotency_key: Some("race".into()) }).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().message.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let t = inbox::open_thread(db, &caller(&s.clinician), &id).await.unwrap();
    assert_eq!(t.messages.iter().filter(|m| m.body == "Once").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbox_pages_by_25_newest_first() {
    let s = scene().await;
    let db = &s.t.db;
    for i in 0..30 {
        send::start_portal_conversation(db, &s.clinician, to_patient(&s, &format!("n{i}"), "x", None)).await.unwrap();
    }
    let doc = caller(&s.clinician);
    let p1 = inbox::inbox(db, &doc, InboxFolder::Active, None).await.unwrap();
    assert_eq!(p1.conversations.len(), 25);
    assert_eq!(p1.conversations[0].subject.as_deref(), Some("n29"));
    let p2 = inbox::inbox(db, &doc, InboxFolder::Active, p1.next.clone()).await.unwrap();
    assert_eq!(p2.conversations.len(), 5);
    assert!(p2.next.is_none());
    assert_eq!(p2.conversations[4].subject.as_deref(), Some("n0"));
    let mut all: Vec<_> = p1.conversations.iter().chain(&p2.conversations).map(|c| c.id.clone()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30);
    // Each line names the other side, read with the page (the page's own conversations, on
    // the second page too): the clinician sees the portal user, the portal user the clinician.
    let each_names = |pages: [&inbox::InboxPage; 2], kind: ParticipantKind, id: &str| {
        for c in pages.iter().flat_map(|p| &p.conversations) {
            let ids: Vec<_> = c.others.iter().map(|o| (o.kind, o.id.as_str())).collect();
            assert_eq!(ids, [(kind, id)], "{:?}", c.subject);
        }
    };
    each_names([&p1, &p2], ParticipantKind::Portal, &s.account);
    let patient = portal_caller(db, &s.account).await;
    let q1 = inbox::inbox(db, &patient, InboxFolder::Active, None).await.unwrap();
    let q2 = inbox::inbox(db, &patient, InboxFolder::Active, q1.next.clone()).await.unwrap();
    assert_eq!((q1.conversations.len(), q2.conversations.len()), (25, 5));
    each_names([&q1, &q2], ParticipantKind::Staff, s.clinician.principal.staff().unwrap().id.as_str());
    assert_eq!(inbox::unread_count(db, &patient).await.unwrap(), 30);
}

/// A search answers the newest page of matches across Active and Archived together (on
/// PostgreSQL two walks of the inbox index, merged), whoever's are archived.
#[tokio::test(flavor = "multi_thread")]
async fn search_answers_the_newest_page_across_active_and_archived() {
    let s = scene().await;
    let db = &s.t.db;
    let doc = caller(&s.clinician);
    let mut started = Vec::new();
    for i in 0..30 {
        let sent =
            send::start_portal_conversation(db, &s.clinician, to_patient(&s, &format!("n{i}"), "metformin", None))
                .await
                .unwrap();
        started.push(sent.conversation_id);
    }
    // One with other words, newest of all: never an answer.
    send::start_portal_conversation(db, &s.clinician, to_patient(&s, "other", "x", None)).await.unwrap();
    // Every third archived, the newest match among them.
    for id in started.iter().step_by(3).chain(std::iter::once(&started[29])) {
        inbox::archive(db, &doc, id).await.unwrap();
    }
    let hits = inbox::search(db, &doc, "metformin").await.unwrap();
    let subjects: Vec<_> = hits.iter().map(|c| c.subject.clone().unwrap_or_default()).collect();
    let expected: Vec<_> = (5..30).rev().map(|i| format!("n{i}")).collect();
    assert_eq!(subjects, expected, "the newest 25 matches, newest first");
    assert!(hits[0].archived, "n29 is archived and still first");
    assert!(!hits[1].archived);
    assert_eq!(hits.iter().filter(|c| c.archived).count(), 9, "n27, n24, ... n6 and n29");
    // Two words (on PostgreSQL the statement built per search, where one word runs the function
    // `portal_message_search`) that match the same messages: the same answer.
    let again = inbox::search(db, &doc, "metformin metfor").await.unwrap();
    let ids = |v: &[portal_messaging::inbox::ConversationSummary]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&hits));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recipients_setting_needs_manage_portal_settings_and_is_kept_in_the_history() {
    let s = scene().await;
    let db = &s.t.db;
    let sa = staff_member(db, "Root", StaffRole::SuperAdmin, &[], false).await;
    let r = settings::set_portal_messaging_recipients(db, &sa, "care_team").await;
    assert!(matches!(r, Err(MessagingError::Access(AccessError::Forbidden { .. }))), "{r:?}");
    let mut p = staff_of(&sa).clone();
    p.portal.manage_portal_settings = true;
    let admin = portal_core::Actor::new(portal_core::Principal::Staff(p), None);
    assert!(matches!(
        settings::set_portal_messaging_recipients(db, &admin, "everyone").await,
        Err(MessagingError::Invalid(_))
    ));
    settings::set_portal_messaging_recipients(db, &admin, "care_team").await.unwrap();
    settings::set_portal_messaging_recipients(db, &admin, "care_team").await.unwrap();
    assert_eq!(
        settings::portal_messaging_recipients(db, &s.clinician).await.unwrap(),
        portal_core::messaging::PortalMessagingRecipients::CareTeam
    );
    let mut conn = db.read().await.unwrap();
    let history = portal_store::org::setting_history(&mut conn, settings::SETTING).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].old_value.as_str(), history[0].new_value.as_str()),
        ("available_for_portal_messages", "care_team")
    );
    drop(conn);
    assert_eq!(audit_rows(db, "setting_changed").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_thread_shows_its_newest_200_and_earlier_ones_on_request() {
    let s = scene().await;
    let db = &s.t.db;
    let doc = caller(&s.clinician);
    let ann = portal_caller(db, &s.account).await;
    let sent = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Long", "m0", None)).await.unwrap();
    let id = sent.conversation_id.clone();
    for i in 1..205 {
        let who = if i % 2 == 0 { &doc } else { &ann };
        send::reply(db, who, &id, reply(&format!("m{i}"))).await.unwrap();
    }
    let t = inbox::open_thread(db, &ann, &id).await.unwrap();
    assert_eq!(t.messages.len(), inbox::THREAD_MESSAGES as usize);
    assert!(t.has_earlier);
    assert_eq!(
        (t.messages[0].body.as_str(), t.messages[199].body.as_str()),
        ("m5", "m204"),
        "the newest 200, oldest first"
    );

    let earlier = inbox::messages(db, &ann, &id, Some(&t.messages[0].id)).await.unwrap();
    let bodies: Vec<_> = earlier.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["m0", "m1", "m2", "m3", "m4"]);
    assert!(!earlier.has_earlier);
    assert!(earlier.messages.iter().all(|m| !m.unread));
    assert!(!earlier.messages[0].mine && earlier.messages[1].mine, "m0 from the clinician, m1 from Ann");

    // Someone not in the conversation, a message of another conversation, a malformed id: 404.
    let colleague = staff_member(db, "Dr Bo", StaffRole::Clinician, &[&s.loc], true).await;
    not_found(inbox::messages(db, &caller(&colleague), &id, Some(&t.messages[0].id)).await);
    let other = send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Other", "x", None)).await.unwrap();
    not_found(inbox::messages(db, &ann, &id, Some(&other.message.id)).await);
    not_found(inbox::messages(db, &ann, &id, Some("../etc")).await);
    // Without `before`: the newest page, read without marking anything.
    let newest = inbox::messages(db, &ann, &id, None).await.unwrap();
    assert_eq!((newest.messages.len(), newest.has_earlier), (200, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_name_everyone_else_from_the_list_the_migration_writes_for_older_conversations() {
    let s = scene().await;
    let db = &s.t.db;
    let bo = staff_member(db, "Dr Bo", StaffRole::Clinician, &[&s.loc], true).await;
    let al = staff_member(db, "Al Able", StaffRole::Clinician, &[&s.loc], true).await;
    send::start_portal_conversation(db, &s.clinician, to_patient(&s, "Hi", "Hello", None)).await.unwrap();
    let input = StaffMessageInput {
        recipient_staff_ids: vec![sid(&bo), sid(&al)],
        patient_id: None,
        subject: None,
        body: "Rota".into(),
        idempotency_key: None,
    };
    send::start_staff_conversation(db, &s.clinician, input).await.unwrap();
    let lines = |who: Caller| async move {
        let page = inbox::inbox(db, &who, InboxFolder::Active, None).await.unwrap();
        page.conversations
            .into_iter()
            .map(|c| c.others.into_iter().map(|p| (p.kind, p.name)).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let doc = lines(caller(&s.clinician)).await;
    assert_eq!(
        doc,
        vec![
            vec![(ParticipantKind::Staff, "Al Able".to_owned()), (ParticipantKind::Staff, "Dr Bo".to_owned())],
            vec![(ParticipantKind::Portal, "Ann Lee".to_owned())],
        ],
        "newest first; each line names everyone but the reader, staff by name"
    );
    let bos = lines(caller(&bo)).await;
    assert_eq!(
        bos,
        vec![vec![(ParticipantKind::Staff, "Al Able".to_owned()), (ParticipantKind::Staff, "Dr Ada Jones".to_owned())]]
    );
    let ann = lines(portal_caller(db, &s.account).await).await;
    assert_eq!(ann, vec![vec![(ParticipantKind::Staff, "Dr Ada Jones".to_owned())]]);

    // Conversations started before the list existed: the migration's own files drop the
    // column and write it again from the participant rows; every line reads the same.
    let (down, up) = match db.backend() {
        portal_store::Backend::Sqlite => (
            include_str!("../../../migrations/sqlite/2026-12-07-000160_conversation_participant_list/down.sql"),
            include_str!("../../../migrations/sqlite/2026-12-07-000160_conversation_participant_list/up.sql"),
        ),
        portal_store::Backend::Postgres => (
            include_str!("../../../migrations/postgres/2026-12-07-000160_conversation_participant_list/down.sql"),
            include_str!("../../../migrations/postgres/2026-12-07-000160_conversation_participant_list/up.sql"),
        ),
    };
    run_sql(db, down).await;
    run_sql(db, up).await;
    assert_eq!(lines(caller(&s.clinician)).await, doc);
    assert_eq!(lines(caller(&bo)).await, bos);
    assert_eq!(lines(portal_caller(db, &s.account).await).await, ann);
}
