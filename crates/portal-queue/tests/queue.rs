//! The request queue end to end against a real database (seed 002, "Patient Portal Queue" and
//! "Un-Archiving Patient Portal Requests"), every rule tried from the side that must be refused.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::events::Relation;
use portal_core::portal_accounts::{GrantScope, GrantScopes};
use portal_core::requests::{
    Dismissal, Disposition, RawRequestDetails, RequestKind, RequestRefused, RequestStatus, TimelineKind,
};
use portal_queue::QueueError;
use portal_queue::helpers::{self, BuiltInHelpers, HelperOutcome, RequestHelpers};
use portal_queue::portal::{self, NewRequestInput};
use portal_queue::staff::{self, RecordReply};

fn not_found<T: std::fmt::Debug>(r: Result<T, QueueError>) {
    match r {
        Err(QueueError::Access(AccessError::NotFound)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn refused<T: std::fmt::Debug>(r: Result<T, QueueError>) -> RequestRefused {
    match r {
        Err(QueueError::Refused(x)) => x,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_reaches_its_locations_queue_and_nobody_elses() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let r = submit(db, &s.account, refill(&s.patient, "Lisinopril 10 mg")).await.unwrap();
    assert_eq!(r.status, RequestStatus::Submitted);
    assert_eq!(r.kind, RequestKind::Refill);
    assert_eq!(r.patient_name, "Ann Lee");
    assert_eq!(r.summary, "Lisinopril 10 mg");
    let q = staff::queue(db, &s.front, None, 25).await.unwrap();
    assert_eq!(q.requests.iter().map(|x| &x.id).collect::<Vec<_>>(), vec![&r.id]);
    assert_eq!(q.open_count, 1);
    // Refused side: the other location's staff neither list nor open it, nor act on it.
    let q = staff::queue(db, &s.outsider, None, 25).await.unwrap();
    assert!(q.requests.is_empty());
    assert_eq!(q.open_count, 0);
    not_found(staff::view(db, &s.outsider, &r.id).await);
    not_found(staff::dismiss(db, &s.outsider, &r.id, Dismissal::Completed).await);
    not_found(BuiltInHelpers.run(db, &s.outsider, &r.id).await);
    // The event for notifications carries ids and the kind, never the medication.
    let ev = events(db, "portal_request_submitted").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["request_kind"], "refill");
    assert!(!ev[0].to_string().contains("Lisinopril"));
    assert_eq!(audit_rows(db, "request_submitted").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_users_reach_only_their_own_patients_requests() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let mine = submit(db, &s.account, question(&s.patient, "general", "Is the clinic open Friday?")).await.unwrap();
    let theirs = submit(db, &s.other_account, question(&s.other_patient, "billing", "Why two charges?")).await.unwrap();
    let me = portal_principal(db, &s.account).await;
    // Refused side: another patient's request does not exist for me, nor may I ask for them.
    not_found(portal::one(db, &me, None, &theirs.id).await);
    not_found(portal::submit(db, &me, None, question(&s.other_patient, "general", "hello")).await);
    not_found(portal::mine(db, &me, None, Some(&s.other_patient), None, 25).await);
    let list = portal::mine(db, &me, None, None, None, 25).await.unwrap();
    assert_eq!(list.iter().map(|r| &r.id).collect::<Vec<_>>(), vec![&mine.id]);
    // A grant that does not cover requests: no requests of that patient.
    let guardian = account(db, "Gus Guardian", true).await;
    grant(db, &guardian, &s.patient, Relation::Guardian, GrantScopes::from_stored(GrantScope::Messages.as_str())).await;
    let g = portal_principal(db, &guardian).await;
    assert!(portal::mine(db, &g, None, None, None, 25).await.unwrap().is_empty());
    assert!(matches!(
        portal::submit(db, &g, None, question(&s.patient, "general", "hello")).await,
        Err(QueueError::Access(AccessError::Forbidden { .. }))
    ));
    not_found(portal::one(db, &g, None, &mine.id).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_field_by_field_and_retries_are_idempotent() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let mut bad = refill(&s.patient, " ");
    bad.details.note = Some("x".repeat(2_001));
    match submit(db, &s.account, bad).await {
        Err(QueueError::Invalid(e)) => assert!(e.get("medication").is_some() && e.get("note").is_some()),
        other => panic!("expected field errors, got {other:?}"),
    }
    // An appointment naming a provider of another location is refused.
    let north_doc = staff_member(db, "Dr North", portal_core::staff::StaffRole::Clinician, &[&s.other_loc], true).await;
    let appt = NewRequestInput {
        patient_id: s.patient.clone(),
        details: RawRequestDetails {
            kind: "appointment".into(),
            reason: Some("Knee pain".into()),
            preferred_provider_id: Some(north_doc.principal.staff().unwrap().id.to_string()),
            ..Default::default()
        },
        idempotency_key: None,
    };
    match submit(db, &s.account, appt.clone()).await {
        Err(QueueError::Invalid(e)) => assert!(e.get("preferred_provider_id").is_some()),
        other => panic!("expected a field error, got {other:?}"),
    }
    let me = portal_principal(db, &s.account).await;
    let choices = portal::appointment_choices(db, &me, &s.patient).await.unwrap();
    assert_eq!(choices.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["Dr Ada Jones"]);
    assert_eq!(choices.locations.len(), 2);
    // The same key twice: one request; the key with other content: refused.
    let mut once = refill(&s.patient, "Metformin");
    once.idempotency_key = Some("key-1".into());
    let a = portal::submit(db, &me, None, once.clone()).await.unwrap();
    let b = portal::submit(db, &me, None, once.clone()).await.unwrap();
    assert!(!a.replayed && b.replayed);
    assert_eq!(a.request.id, b.request.id);
    once.details.medication = Some("Aspirin".into());
    assert!(matches!(portal::submit(db, &me, None, once).await, Err(QueueError::KeyReused)));
    assert_eq!(staff::queue(db, &s.front, None, 25).await.unwrap().requests.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn helpers_open_one_prefilled_task_and_put_the_request_in_review() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let r = submit(db, &s.account, refill(&s.patient, "Lisinopril 10 mg")).await.unwrap();
    let HelperOutcome::Task { task } = BuiltInHelpers.run(db, &s.front, &r.id).await.unwrap() else {
        panic!("a refill opens a task");
    };
    assert_eq!(task.title, "Refill: Lisinopril 10 mg");
    assert!(task.body.contains("Medication: Lisinopril 10 mg"));
    assert!(task.body.contains("Main Street Pharmacy"));
    let HelperOutcome::Task { task: again } = BuiltInHelpers.run(db, &s.clinician, &r.id).await.unwrap() else {
        panic!("the same task");
    };
    assert_eq!(again.id, task.id);
    let detail = staff::view(db, &s.front, &r.id).await.unwrap();
    assert_eq!(detail.request.status, RequestStatus::InReview);
    assert_eq!(detail.tasks.len(), 1);
    // One "in review" entry, however often the helper is used.
    let kinds: Vec<_> = detail.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Submitted, TimelineKind::InReview]);
    // Refused side: billing staff (no Edit Patients) open no clinical task, nor edit one.
    assert!(matches!(
        BuiltInHelpers.run(db, &s.billing, &r.id).await,
        Err(QueueError::Access(AccessError::Forbidden { .. }))
    ));
    assert!(matches!(
        helpers::save_task(db, &s.billing, &task.id, "x", true).await,
        Err(QueueError::Access(AccessError::Forbidden { .. }))
    ));
    not_found(helpers::task(db, &s.outsider, &task.id).await);
    let saved = helpers::save_task(db, &s.front, &task.id, "Refilled for 90 days.", true).await.unwrap();
    assert!(saved.task.done);
    assert_eq!(saved.task.completed_by_name.as_deref(), Some("Fran Desk"));
    // A billing question's helper opens a reply, which billing staff may give.
    let q = submit(db, &s.account, question(&s.patient, "billing", "Why two charges?")).await.unwrap();
    assert!(matches!(BuiltInHelpers.run(db, &s.billing, &q.id).await.unwrap(), HelperOutcome::Reply));
    assert_eq!(BuiltInHelpers.label(RequestKind::Refill), "Open refill note");
}

#[tokio::test(flavor = "multi_thread")]
async fn dismissed_requests_are_archived_searchable_and_can_be_unarchived() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let r = submit(db, &s.account, refill(&s.patient, "Lisinopril 10 mg")).await.unwrap();
    let other = submit(db, &s.account, question(&s.patient, "general", "Parking for the clinic?")).await.unwrap();
    let done = staff::dismiss(db, &s.front, &r.id, Dismissal::Completed).await.unwrap();
    assert_eq!(done.status, RequestStatus::Completed);
    assert_eq!(done.dismissed_by_name.as_deref(), Some("Fran Desk"));
    staff::dismiss(db, &s.front, &other.id, Dismissal::NotCompleted).await.unwrap();
    let q = staff::queue(db, &s.front, None, 25).await.unwrap();
    assert!(q.requests.is_empty());
    assert_eq!(q.open_count, 0, "dismissing counts down");
    // Refused side: a dismissed request is not dismissed again, an open one not "un-archived".
    assert_eq!(
        refused(staff::dismiss(db, &s.front, &r.id, Dismissal::NotCompleted).await),
        RequestRefused::AlreadyDismissed
    );
    let archive = staff::archive(db, &s.front, None, None, 25).await.unwrap();
    assert_eq!(archive.requests.iter().map(|x| &x.id).collect::<Vec<_>>(), vec![&other.id, &r.id]);
    // Search by patient name, by type, by text (prefixes), every word must match.
    for (q, expect) in [
        ("Ann Lee", vec![&other.id, &r.id]),
        ("lisino", vec![&r.id]),
        ("prescription refill", vec![&r.id]),
        ("parking lee", vec![&other.id]),
        ("parking lisinopril", vec![]),
    ] {
        let found = staff::archive(db, &s.front, Some(q), None, 25).await.unwrap();
        assert_eq!(found.requests.iter().map(|x| &x.id).collect::<Vec<_>>(), expect, "search {q:?}");
    }
    assert!(matches!(staff::archive(db, &s.front, Some("ab"), None, 25).await, Err(QueueError::Invalid(_))));
    // The other location's staff find nothing, even by name.
    assert!(staff::archive(db, &s.outsider, Some("Ann Lee"), None, 25).await.unwrap().requests.is_empty());
    not_found(staff::reopen(db, &s.outsider, &r.id).await);
    let back = staff::reopen(db, &s.clinician, &r.id).await.unwrap();
    assert_eq!(back.status, RequestStatus::Submitted);
    assert_eq!(refused(staff::reopen(db, &s.clinician, &r.id).await), RequestRefused::StillOpen);
    let q = staff::queue(db, &s.front, None, 25).await.unwrap();
    assert_eq!(q.requests.iter().map(|x| &x.id).collect::<Vec<_>>(), vec![&r.id]);
    assert_eq!(q.open_count, 1, "un-archiving counts up");
    assert_eq!(staff::open_count(db, &s.outsider).await.unwrap(), 0, "per location");
    let found = staff::archive(db, &s.front, Some("lisinopril"), None, 25).await.unwrap();
    assert!(found.requests.is_empty(), "an un-archived request leaves the archive's search too");
    assert_eq!(audit_rows(db, "request_reopened").await.len(), 1);
    let me = portal_principal(db, &s.account).await;
    let seen = portal::one(db, &me, None, &r.id).await.unwrap();
    let kinds: Vec<_> = seen.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Submitted, TimelineKind::Completed, TimelineKind::Reopened]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_pages_newest_first() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = submit(db, &s.account, question(&s.patient, "general", &format!("Question number {i}"))).await.unwrap();
        staff::dismiss(db, &s.front, &r.id, Dismissal::Completed).await.unwrap();
        ids.push(r.id);
    }
    ids.reverse();
    let first = staff::archive(db, &s.front, Some("question"), None, 3).await.unwrap();
    let second = staff::archive(db, &s.front, Some("question"), first.next_before, 3).await.unwrap();
    let third = staff::archive(db, &s.front, Some("question"), second.next_before, 3).await.unwrap();
    let all: Vec<_> = [first.requests, second.requests, third.requests].concat().into_iter().map(|r| r.id).collect();
    assert_eq!(all, ids);
    assert!(third.next_before.is_none());
}

/// On PostgreSQL a search whose longest word starts exactly one lexeme reads that lexeme's
/// postings newest first; any other search reads the requests themselves. Each kind of search
/// answers the same: newest first, paged, every word, the caller's locations and the archive
/// only. The postings follow every new request.
#[tokio::test(flavor = "multi_thread")]
async fn the_archive_search_answers_alike_by_one_words_postings_and_without() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let mut made = Vec::new();
    for text in ["Gardening leave form", "Garcia invoice", "Garcia copay", "Garlic allergy", "Garcia invoice again"] {
        let r = submit(db, &s.account, question(&s.patient, "billing", text)).await.unwrap();
        staff::dismiss(db, &s.front, &r.id, Dismissal::Completed).await.unwrap();
        made.push(r.id);
    }
    let elsewhere =
        submit(db, &s.other_account, question(&s.other_patient, "billing", "Garcia invoice")).await.unwrap();
    staff::dismiss(db, &s.outsider, &elsewhere.id, Dismissal::Completed).await.unwrap();
    let still_open = submit(db, &s.account, question(&s.patient, "billing", "Garcia refund")).await.unwrap();
    assert_eq!(request_terms_out_of_step(db).await, 0, "every lexeme of every request has its posting");
    let ids = |p: &portal_queue::staff::QueuePage| p.requests.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let (gardening, invoice, copay, garlic, again) = (&made[0], &made[1], &made[2], &made[3], &made[4]);
    for (q, expect) in [
        // One lexeme: its postings.
        ("garcia", vec![again, copay, invoice]),
        ("invoice garcia", vec![again, invoice]),
        ("garc", vec![again, copay, invoice]),
        ("gar leave", vec![gardening]),
        // Nothing else matches: the postings answer nothing, then the plain query neither.
        ("garcia allergy", vec![]),
        // Three lexemes start with "gar": the plain query.
        ("gar", vec![again, garlic, copay, invoice, gardening]),
        // No lexeme at all.
        ("zebra", vec![]),
    ] {
        let found = staff::archive(db, &s.front, Some(q), None, 25).await.unwrap();
        assert_eq!(ids(&found), expect.into_iter().cloned().collect::<Vec<_>>(), "search {q:?}");
    }
    // Pages of two, by the postings and without.
    for (q, expect) in
        [("garcia", vec![again, copay, invoice]), ("gar", vec![again, garlic, copay, invoice, gardening])]
    {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = staff::archive(db, &s.front, Some(q), before, 2).await.unwrap();
            all.extend(ids(&page));
            match page.next_before {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(all, expect.into_iter().cloned().collect::<Vec<_>>(), "pages of {q:?}");
    }
    // The other location's staff find only their own request; the open one is in no archive.
    let theirs = staff::archive(db, &s.outsider, Some("garcia"), None, 25).await.unwrap();
    assert_eq!(ids(&theirs), vec![elsewhere.id.clone()]);
    assert!(!ids(&staff::archive(db, &s.front, Some("refund"), None, 25).await.unwrap()).contains(&still_open.id));
    // Un-archived: gone from the archive's search by either path.
    staff::reopen(db, &s.front, copay).await.unwrap();
    let found = staff::archive(db, &s.front, Some("garcia"), None, 25).await.unwrap();
    assert_eq!(ids(&found), vec![again.clone(), invoice.clone()]);
    let found = staff::archive(db, &s.front, Some("gar"), None, 25).await.unwrap();
    assert_eq!(ids(&found), vec![again.clone(), garlic.clone(), invoice.clone(), gardening.clone()]);
    assert_eq!(request_terms_out_of_step(db).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_is_linked_once_and_applies_its_disposition() {
    let s = queue_scene().await;
    let db = &s.t.db;
    let r = submit(db, &s.account, refill(&s.patient, "Lisinopril 10 mg")).await.unwrap();
    let target = staff::reply_target(db, &s.front, &r.id, None).await.unwrap();
    assert_eq!(target.recipient_account_id, s.account);
    not_found(staff::reply_target(db, &s.outsider, &r.id, None).await);
    let (conv, mid) = message(db, &s.front, &s.account, &s.patient, "Sent to your pharmacy today.").await;
    let reply =
        RecordReply { conversation_id: conv, message_id: mid, linked: true, disposition: Disposition::Completed };
    let after = staff::record_reply(db, &s.front, &r.id, reply.clone()).await.unwrap();
    assert_eq!(after.status, RequestStatus::Completed);
    // A retried reply changes nothing twice.
    staff::record_reply(db, &s.front, &r.id, reply).await.unwrap();
    let me = portal_principal(db, &s.account).await;
    let seen = portal::one(db, &me, None, &r.id).await.unwrap();
    let kinds: Vec<_> = seen.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Submitted, TimelineKind::Replied, TimelineKind::Completed]);
    assert_eq!(seen.timeline[1].reply.as_deref(), Some("Sent to your pharmacy today."));
    assert_eq!(seen.request.status, RequestStatus::Completed);
    // Refused side: the patient's guardian reads that a reply was sent, not the reply; so does
    // another staff member (messages are seen only by those they were sent to or by).
    let guardian = account(db, "Gus Guardian", true).await;
    grant(db, &guardian, &s.patient, Relation::Guardian, GrantScopes::all()).await;
    let g = portal_principal(db, &guardian).await;
    let theirs = portal::one(db, &g, None, &r.id).await.unwrap();
    assert_eq!(theirs.timeline[1].kind, TimelineKind::Replied);
    assert!(theirs.timeline[1].reply.is_none());
    let clinician_view = staff::view(db, &s.clinician, &r.id).await.unwrap();
    assert!(clinician_view.timeline[1].reply.is_none());
    let front_view = staff::view(db, &s.front, &r.id).await.unwrap();
    assert!(front_view.timeline[1].reply.is_some());
    // A dismissed request takes no reply until it is un-archived.
    assert_eq!(refused(staff::reply_target(db, &s.front, &r.id, None).await), RequestRefused::AlreadyDismissed);
    // An unlinked reply that leaves the request open: In review, nothing in the patient's timeline.
    let q = submit(db, &s.account, question(&s.patient, "general", "Parking?")).await.unwrap();
    let (conv, mid) = message(db, &s.front, &s.account, &s.patient, "Behind the building.").await;
    let open = staff::record_reply(
        db,
        &s.front,
        &q.id,
        RecordReply { conversation_id: conv, message_id: mid, linked: false, disposition: Disposition::LeaveOpen },
    )
    .await
    .unwrap();
    assert_eq!(open.status, RequestStatus::InReview);
    let seen = portal::one(db, &me, None, &q.id).await.unwrap();
    let kinds: Vec<_> = seen.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![TimelineKind::Submitted, TimelineKind::InReview]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_requests_while_the_portal_is_off() {
    let s = queue_scene().await;
    let db = &s.t.db;
    db.write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await })).await.unwrap();
    assert_eq!(
        refused(submit(db, &s.account, question(&s.patient, "general", "hello")).await),
        RequestRefused::PortalOff
    );
}
