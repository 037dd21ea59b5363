//! The staff pages of the Patient Portal Queue (seed 002, "Patient Portal Queue" and
//! "Un-Archiving Patient Portal Requests"), driven in-process with staff sessions against a real
//! database: the queue and its buttons, dismissal to the archive, archive search, un-archiving
//! with its confirmation, one request with the reply form and past correspondence, the helper's
//! task page and the home page's block. Requests are made the way portal users make them
//! (`portal_queue::portal::submit`). Every rule is tested from the side of the person refused;
//! bad input always gets a readable page.

mod common;

use common::{Caller, TestRequest, TestResponse, World, form_body, missing_id};
use portal_core::requests::RawRequestDetails;
use portal_core::staff::PortalPermission;
use portal_queue::portal::{self, NewRequestInput};
use portal_store::testing::fixtures::portal_principal;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn get(w: &World, caller: Caller, uri: &str) -> TestResponse {
    w.send_as(caller, TestRequest::get(uri)).await
}

async fn post(w: &World, caller: Caller, uri: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let req = TestRequest::post(uri).raw(Some("application/x-www-form-urlencoded"), form_body(pairs));
    w.send_as(caller, req).await
}

#[track_caller]
fn redirected_to(res: &TestResponse) -> String {
    res.assert_status(303);
    res.header("location").expect("a Location header").to_owned()
}

/// The page is HTML a person can read (never a bare text or a problem document).
#[track_caller]
fn readable(res: &TestResponse, status: u16) -> String {
    assert_eq!(res.code(), status, "{} {}: {}", res.method, res.uri, res.text());
    let ct = res.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "{} {}: content type {ct}", res.method, res.uri);
    res.text()
}

/// The value of the idempotency key field of a page's reply form.
#[track_caller]
fn key_of(page: &str) -> String {
    let marker = r#"name="idempotency_key" value=""#;
    let start = page.find(marker).expect("a reply form with an idempotency key") + marker.len();
    page[start..start + page[start..].find('"').expect("end of value")].to_owned()
}

/// The `<tr>` of a request in a table, if it is listed.
fn row<'a>(page: &'a str, request: &str) -> Option<&'a str> {
    let at = page.find(&format!(r#"<tr data-request-id="{request}""#))?;
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    Some(&page[at..end])
}

/// A request as portal user `who` makes it in the portal.
async fn submit(w: &World, who: Caller, patient: &str, details: RawRequestDetails) -> String {
    let p = portal_principal(w.db(), w.id(who)).await;
    let input = NewRequestInput { patient_id: patient.to_owned(), details, idempotency_key: None };
    portal::submit(w.db(), &p, Some("10.0.0.9".into()), input).await.expect("submit").request.id
}

fn refill(medication: &str) -> RawRequestDetails {
    RawRequestDetails {
        kind: "refill".into(),
        medication: Some(medication.into()),
        pharmacy: Some("Main Street Pharmacy".into()),
        ..Default::default()
    }
}

fn question(kind: &str, text: &str) -> RawRequestDetails {
    RawRequestDetails { kind: kind.into(), question: Some(text.into()), ..Default::default() }
}

/// A refill for patient A (location A) by A's own portal user.
async fn refill_a(w: &World, medication: &str) -> String {
    let patient = w.patient_a.clone();
    submit(w, Caller::PortalA, &patient, refill(medication)).await
}

const NO_SUCH: &str = "This request does not exist, or it belongs to a location you do not work at.";

// ---------------------------------------------------------------------------------------------
// Who sees what
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_of_another_location_see_nothing_and_get_404() {
    let w = World::new().await;
    let id = refill_a(&w, "Lisinopril 10 mg").await;

    // Location A's staff see it, with its buttons.
    let page = readable(&get(&w, Caller::FrontDesk, "/queue").await, 200);
    assert!(page.contains(r#"id="queue-table""#), "{page}");
    let line = row(&page, &id).expect("listed for location A");
    assert!(line.contains("Prescription refill") && line.contains("Alice Anders") && line.contains("Lisinopril 10 mg"));
    assert!(line.contains(&format!(r#"href="/patients/{}""#, w.patient_a)), "the patient links to the chart");
    assert!(line.contains("(Self)"), "requester and relation: {line}");
    assert!(line.contains("helper-button") && line.contains("Open refill note"), "{line}");
    assert!(line.contains(&format!(r#"href="/queue/{id}#reply""#)));
    assert!(line.contains("dismiss-completed") && line.contains("dismiss-not-completed"));

    // Location B's front desk: not listed, not opened, not changed, not in the archive.
    let theirs = readable(&get(&w, Caller::FrontDeskB, "/queue").await, 200);
    assert!(row(&theirs, &id).is_none() && !theirs.contains("Lisinopril"), "{theirs}");
    assert!(theirs.contains(r#"id="queue-empty""#));
    let res = get(&w, Caller::FrontDeskB, &format!("/queue/{id}")).await;
    let body = readable(&res, 404);
    assert!(body.contains(NO_SUCH) && !body.contains("Lisinopril") && !body.contains("Alice"), "{body}");
    for (uri, pairs) in [
        (format!("/queue/{id}/dismiss"), vec![("how", "completed")]),
        (format!("/queue/{id}/helper"), vec![]),
        (format!("/queue/{id}/reopen"), vec![]),
        (format!("/queue/{id}/reply"), vec![("body", "hello"), ("disposition", "completed")]),
    ] {
        let body = readable(&post(&w, Caller::FrontDeskB, &uri, &pairs).await, 404);
        assert!(body.contains(NO_SUCH), "{uri}");
    }
    readable(&get(&w, Caller::FrontDeskB, &format!("/queue/{id}/reopen")).await, 404);
    // The request is untouched: still open, still Submitted, for location A.
    let page = readable(&get(&w, Caller::FrontDesk, "/queue").await, 200);
    assert!(row(&page, &id).expect("still open").contains("Submitted"));

    // A missing id and a malformed one answer exactly alike, never a 500.
    for bad in [missing_id(), "not-an-id".to_owned(), "%00".to_owned(), "1%20OR%201%3D1".to_owned()] {
        let body = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{bad}")).await, 404);
        assert!(body.contains(NO_SUCH), "{bad}");
        readable(&post(&w, Caller::FrontDesk, &format!("/queue/{bad}/dismiss"), &[("how", "completed")]).await, 404);
        readable(&get(&w, Caller::FrontDesk, &format!("/queue/tasks/{bad}")).await, 404);
    }
    // Without a session, the pages send the browser to sign in.
    let res = w.send(TestRequest::get("/queue")).await;
    assert!(redirected_to(&res).starts_with("/staff/sign-in"));
}

// ---------------------------------------------------------------------------------------------
// Dismiss, archive, search, un-archive
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dismissing_moves_a_request_to_the_archive_and_un_archiving_brings_it_back() {
    let w = World::new().await;
    let id = refill_a(&w, "Lisinopril 10 mg").await;
    let other =
        submit(&w, Caller::PortalA, &w.patient_a.clone(), question("general", "Is the clinic open on Friday?")).await;

    let to =
        redirected_to(&post(&w, Caller::FrontDesk, &format!("/queue/{id}/dismiss"), &[("how", "completed")]).await);
    assert_eq!(to, format!("/queue?dismissed={id}&how=completed"));
    let page = readable(&get(&w, Caller::FrontDesk, &to).await, 200);
    assert!(page.contains(r#"id="dismissed-notice""#) && page.contains("dismissed as completed"), "{page}");
    assert!(row(&page, &id).is_none(), "no longer in the queue");
    assert!(row(&page, &other).is_some(), "the other request stays");
    assert!(page.contains("(1 open)"), "{page}");

    // A dismissed request cannot be dismissed again: the reason is said.
    let res = post(&w, Caller::FrontDesk, &format!("/queue/{id}/dismiss"), &[("how", "not_completed")]).await;
    assert!(readable(&res, 409).contains("This request was already dismissed; un-archive it first."));

    // In the archive, with its status as the un-archive link.
    let archive = readable(&get(&w, Caller::FrontDesk, "/queue/archive").await, 200);
    assert!(archive.contains(r#"id="archive-table""#) && archive.contains(r#"id="archive-search""#));
    let line = row(&archive, &id).expect("in the archive");
    assert!(line.contains("Completed") && line.contains("reopen-link"), "{line}");
    assert!(line.contains(&format!(r#"href="/queue/{id}/reopen""#)) && line.contains("Fran Desk"), "{line}");
    assert!(row(&archive, &other).is_none(), "open requests are not in the archive");

    // Search by the patient's name and by the medication; a miss says so; Clear is offered.
    for q in ["Anders", "lisinopril", "alice anders"] {
        let found =
            readable(&get(&w, Caller::FrontDesk, &format!("/queue/archive?q={}", q.replace(' ', "+"))).await, 200);
        assert!(row(&found, &id).is_some(), "{q}: {found}");
        assert!(found.contains(r#"id="clear-search""#) && found.contains(r#"id="results-count""#));
    }
    let miss = readable(&get(&w, Caller::FrontDesk, "/queue/archive?q=metformin").await, 200);
    assert!(row(&miss, &id).is_none() && miss.contains("No handled request matches"), "{miss}");
    // Location B's staff find nothing, even by name.
    let theirs = readable(&get(&w, Caller::FrontDeskB, "/queue/archive?q=Anders").await, 200);
    assert!(row(&theirs, &id).is_none());
    let theirs = readable(&get(&w, Caller::FrontDeskB, "/queue/archive").await, 200);
    assert!(row(&theirs, &id).is_none() && theirs.contains(r#"id="archive-empty""#));

    // The confirmation, then Yes: back in the queue as Submitted, with a notice.
    let confirm = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{id}/reopen")).await, 200);
    assert!(confirm.contains("Mark this request as un-reviewed?") && confirm.contains(r#"id="reopen-confirm""#));
    assert!(confirm.contains(&format!(r#"action="/queue/{id}/reopen""#)) && confirm.contains("Lisinopril 10 mg"));
    let to = redirected_to(&post(&w, Caller::FrontDesk, &format!("/queue/{id}/reopen"), &[]).await);
    assert_eq!(to, format!("/queue?reopened={id}"));
    let page = readable(&get(&w, Caller::FrontDesk, &to).await, 200);
    assert!(page.contains(r#"id="reopened-notice""#));
    assert!(row(&page, &id).expect("back in the queue").contains("Submitted"));
    assert!(page.contains("(2 open)"));
    let archive = readable(&get(&w, Caller::FrontDesk, "/queue/archive").await, 200);
    assert!(row(&archive, &id).is_none(), "no longer in the archive");

    // An open request cannot be un-archived: the confirmation says why and offers no button.
    let confirm = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{id}/reopen")).await, 200);
    assert!(
        confirm.contains("This request is still open in the queue.") && !confirm.contains(r#"id="reopen-confirm""#)
    );
    let res = post(&w, Caller::FrontDesk, &format!("/queue/{id}/reopen"), &[]).await;
    assert!(readable(&res, 409).contains("This request is still open in the queue."));

    // The timeline tells the story.
    let detail = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{id}")).await, 200);
    assert!(detail.contains("timeline-completed") && detail.contains("timeline-reopened"), "{detail}");
}

// ---------------------------------------------------------------------------------------------
// Reply from the queue
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_completes_sends_to_the_requester_and_archives_the_request() {
    let w = World::new().await;
    common::grant(w.db(), w.id(Caller::Clinician), PortalPermission::AvailableForPortalMessages).await;
    let id = refill_a(&w, "Lisinopril 10 mg").await;

    let page = readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200);
    assert!(
        page.contains(r#"id="reply""#) && page.contains(r#"id="reply-form""#) && page.contains(r#"id="reply-send""#)
    );
    assert!(page.contains(r#"name="notify_by_email" value="on" checked"#), "notify is on by default: {page}");
    assert!(page.contains(r#"name="link_to_request" value="on" checked"#), "linked by default");
    assert!(page.contains(r#"<option value="leave_open" selected>"#) && page.contains(r#"value="completed""#));
    assert!(page.contains(r#"name="subject""#) && page.contains(r#"name="body""#));
    assert!(page.contains("Medication") && page.contains("Main Street Pharmacy"));
    assert!(page.contains(r#"id="show-past""#));
    let key = key_of(&page);
    assert_ne!(key, key_of(&readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200)), "fresh keys");

    let res = post(
        &w,
        Caller::Clinician,
        &format!("/queue/{id}/reply"),
        &[
            ("body", "Your refill of Lisinopril was sent to Main Street Pharmacy."),
            ("subject", ""),
            ("notify_by_email", "on"),
            ("link_to_request", "on"),
            ("disposition", "completed"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    assert_eq!(redirected_to(&res), format!("/queue?dismissed={id}&how=completed"));

    // The request is in the archive as Completed, with the reply in its timeline.
    let archive = readable(&get(&w, Caller::Clinician, "/queue/archive").await, 200);
    assert!(row(&archive, &id).expect("archived").contains("Completed"));
    let detail = readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200);
    assert!(detail.contains("timeline-replied") && detail.contains("Your refill of Lisinopril was sent"), "{detail}");
    assert!(detail.contains(r#"id="reply-closed""#), "an archived request is not answered again from here");

    // The recipient is the portal user who made the request.
    let p = portal_principal(w.db(), w.id(Caller::PortalA)).await;
    let caller = portal_messaging::Caller::portal(p, None);
    let inbox = portal_messaging::inbox::inbox(w.db(), &caller, portal_core::messaging::InboxFolder::Active, None)
        .await
        .expect("portal inbox");
    let conv = inbox.conversations.iter().find(|c| c.subject.as_deref() == Some("Re: Prescription refill"));
    let conv = conv.expect("the requester received the reply");
    assert_eq!(conv.unread_count, 1);
    assert!(conv.others.iter().any(|o| o.name == "Cleo Clinician"));
    // Nobody else's portal account did.
    let pb = portal_principal(w.db(), w.id(Caller::PortalB)).await;
    let other = portal_messaging::inbox::inbox(
        w.db(),
        &portal_messaging::Caller::portal(pb, None),
        portal_core::messaging::InboxFolder::Active,
        None,
    )
    .await
    .expect("inbox B");
    assert!(other.conversations.is_empty());

    // The patient answers: the conversation is listed under "Messages from the portal" for the
    // staff member in it, and for nobody else.
    let p = portal_principal(w.db(), w.id(Caller::PortalA)).await;
    portal_messaging::send::reply(
        w.db(),
        &portal_messaging::Caller::portal(p, None),
        &conv.id,
        portal_messaging::send::ReplyInput { body: "Thank you!".into(), idempotency_key: None },
    )
    .await
    .expect("the patient replies");
    let queue = readable(&get(&w, Caller::Clinician, "/queue").await, 200);
    assert!(queue.contains(&format!(r#"id="portal-message-{}""#, conv.id)) && queue.contains("1 unread"), "{queue}");
    let theirs = readable(&get(&w, Caller::FrontDesk, "/queue").await, 200);
    assert!(theirs.contains(r#"id="portal-messages-empty""#) && !theirs.contains(&conv.id));

    // Sending the same form again does not send twice.
    let res = post(
        &w,
        Caller::Clinician,
        &format!("/queue/{id}/reply"),
        &[
            ("body", "Your refill of Lisinopril was sent to Main Street Pharmacy."),
            ("notify_by_email", "on"),
            ("link_to_request", "on"),
            ("disposition", "completed"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    // The first send archived the request; its retry is answered like the first (the message
    // it sent, recorded once), not refused and not sent again.
    assert_eq!(res.status, 303, "the retried form is answered like the first");
    let p = portal_principal(w.db(), w.id(Caller::PortalA)).await;
    let again = portal_messaging::inbox::inbox(
        w.db(),
        &portal_messaging::Caller::portal(p, None),
        portal_core::messaging::InboxFolder::Active,
        None,
    )
    .await
    .expect("portal inbox");
    assert_eq!(again.conversations.len(), 1, "one message, whatever the retries");

    // "Show past correspondence with this patient": the staff member's own conversation.
    let second = refill_a(&w, "Metformin 500 mg").await;
    let past = readable(&get(&w, Caller::Clinician, &format!("/queue/{second}?past=1")).await, 200);
    assert!(past.contains(r#"id="past""#) && past.contains(&format!(r#"href="/messages/{}""#, conv.id)), "{past}");
    // Someone who took no part in it sees none of it.
    let theirs = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{second}?past=1")).await, 200);
    assert!(theirs.contains(r#"id="past-empty""#) && !theirs.contains(&conv.id), "{theirs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_leaves_the_request_open_keeps_it_in_the_queue_in_review() {
    let w = World::new().await;
    common::grant(w.db(), w.id(Caller::Clinician), PortalPermission::AvailableForPortalMessages).await;
    let id = submit(&w, Caller::PortalA, &w.patient_a.clone(), question("general", "Do you take new insurance?")).await;
    let page = readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200);
    let key = key_of(&page);
    // Both checkboxes unticked: absent from the form.
    let res = post(
        &w,
        Caller::Clinician,
        &format!("/queue/{id}/reply"),
        &[
            ("body", "We are checking."),
            ("subject", "Insurance"),
            ("disposition", "leave_open"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    let to = redirected_to(&res);
    assert!(to.starts_with(&format!("/queue/{id}?sent=1&conversation=")), "{to}");
    let page = readable(&get(&w, Caller::Clinician, &to).await, 200);
    assert!(page.contains(r#"id="reply-sent""#) && page.contains("In review"), "{page}");
    let queue = readable(&get(&w, Caller::Clinician, "/queue").await, 200);
    assert!(row(&queue, &id).expect("still open").contains("In review"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_bad_replies_say_why_and_keep_the_text() {
    let w = World::new().await;
    let id = refill_a(&w, "Lisinopril 10 mg").await;

    // Without "Available for Portal Messages": refused, in words, the text kept, nothing sent.
    let page = readable(&get(&w, Caller::FrontDesk, &format!("/queue/{id}")).await, 200);
    let key = key_of(&page);
    let res = post(
        &w,
        Caller::FrontDesk,
        &format!("/queue/{id}/reply"),
        &[("body", "A reply I may not send"), ("disposition", "completed"), ("idempotency_key", &key)],
    )
    .await;
    let body = readable(&res, 409);
    assert!(body.contains("You need the Available for Portal Messages permission to send portal messages."), "{body}");
    assert!(body.contains(r#"id="reply-refused""#) && body.contains("A reply I may not send"));
    assert!(body.contains(r#"<option value="completed" selected>"#), "the choice is kept");
    assert!(!body.contains(r#"name="notify_by_email" value="on" checked"#), "unticked stays unticked");
    let queue = readable(&get(&w, Caller::FrontDesk, "/queue").await, 200);
    assert!(row(&queue, &id).expect("still open").contains("Submitted"), "nothing changed");

    // An empty message: said beside the field; a nonsense disposition too.
    common::grant(w.db(), w.id(Caller::Clinician), PortalPermission::AvailableForPortalMessages).await;
    let page = readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200);
    let key = key_of(&page);
    let res = post(
        &w,
        Caller::Clinician,
        &format!("/queue/{id}/reply"),
        &[("body", "   "), ("subject", "Kept subject"), ("disposition", "completed"), ("idempotency_key", &key)],
    )
    .await;
    let body = readable(&res, 422);
    assert!(body.contains(r#"id="body-error""#) && body.contains("Your message was not sent"), "{body}");
    assert!(body.contains(r#"value="Kept subject""#));
    let res = post(
        &w,
        Caller::Clinician,
        &format!("/queue/{id}/reply"),
        &[("body", "Hello"), ("disposition", "shred_it"), ("idempotency_key", &key)],
    )
    .await;
    let body = readable(&res, 422);
    assert!(body.contains(r#"id="disposition-error""#) && body.contains("Hello"), "{body}");
    // An unreadable form is a readable page too.
    let req = TestRequest::post(format!("/queue/{id}/reply"))
        .raw(Some("application/x-www-form-urlencoded"), "body=%00&disposition=completed");
    readable(&w.send_as(Caller::Clinician, req).await, 400);
    let queue = readable(&get(&w, Caller::Clinician, "/queue").await, 200);
    assert!(row(&queue, &id).expect("still open").contains("Submitted"), "nothing changed");
}

// ---------------------------------------------------------------------------------------------
// Helpers and tasks
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_on_a_refill_opens_a_task_page_with_the_medication() {
    let w = World::new().await;
    let id = refill_a(&w, "Lisinopril 10 mg").await;

    // Billing staff work the queue but may not open a clinical task: the reason is said.
    let res = post(&w, Caller::Billing, &format!("/queue/{id}/helper"), &[]).await;
    let body = readable(&res, 403);
    assert!(body.contains("Edit Patients"), "{body}");

    let to = redirected_to(&post(&w, Caller::Clinician, &format!("/queue/{id}/helper"), &[]).await);
    let task = to.strip_prefix("/queue/tasks/").expect("a task page").to_owned();
    let page = readable(&get(&w, Caller::Clinician, &to).await, 200);
    assert!(page.contains("Refill: Lisinopril 10 mg"), "{page}");
    assert!(
        page.contains(r#"id="task-body""#) && page.contains(r#"id="task-save""#) && page.contains(r#"id="task-done""#)
    );
    let text = &page[page.find(r#"id="task-body""#).unwrap()..];
    assert!(text[..text.find("</textarea>").unwrap()].contains("Medication: Lisinopril 10 mg"), "prefilled");
    // The request is now In review and lists its task; the helper again opens the same task.
    let detail = readable(&get(&w, Caller::Clinician, &format!("/queue/{id}")).await, 200);
    assert!(detail.contains("In review") && detail.contains(&format!(r#"href="/queue/tasks/{task}""#)));
    assert_eq!(redirected_to(&post(&w, Caller::FrontDesk, &format!("/queue/{id}/helper"), &[]).await), to);

    // Save a draft, then mark it done.
    let res = post(&w, Caller::Clinician, &to, &[("body", "Refill approved for 90 days."), ("action", "save")]).await;
    assert_eq!(redirected_to(&res), format!("{to}?saved=save"));
    let page = readable(&get(&w, Caller::Clinician, &format!("{to}?saved=save")).await, 200);
    assert!(page.contains("The draft has been saved.") && page.contains("Refill approved for 90 days."));
    assert!(page.contains(r#"id="task-status">Draft"#));
    let res = post(&w, Caller::Clinician, &to, &[("body", "Refill approved for 90 days."), ("action", "done")]).await;
    let page = readable(&get(&w, Caller::Clinician, &redirected_to(&res)).await, 200);
    assert!(page.contains(r#"id="task-status">Done"#) && page.contains("by Cleo Clinician"), "{page}");

    // Refused sides: billing reads it but cannot save (said, text kept); location B gets 404.
    let page = readable(&get(&w, Caller::Billing, &to).await, 200);
    assert!(page.contains("Read-only") && !page.contains(r#"id="task-save""#));
    let res = post(&w, Caller::Billing, &to, &[("body", "Billing edit"), ("action", "save")]).await;
    let body = readable(&res, 403);
    assert!(body.contains(r#"id="task-refused""#) && body.contains("Edit Patients"), "{body}");
    let body = readable(&get(&w, Caller::FrontDeskB, &to).await, 404);
    assert!(body.contains("This task does not exist") && !body.contains("Lisinopril"));
    readable(&post(&w, Caller::FrontDeskB, &to, &[("body", "x"), ("action", "save")]).await, 404);
    // Bad input: an unknown button, a text far too long.
    readable(&post(&w, Caller::Clinician, &to, &[("body", "x"), ("action", "shred")]).await, 400);
    let long = "a".repeat(20_001);
    let body = readable(&post(&w, Caller::Clinician, &to, &[("body", &long), ("action", "save")]).await, 422);
    assert!(body.contains(r#"id="task-body-error""#), "{body}");

    // On a question, the helper opens the reply form; billing may use it.
    let q = submit(&w, Caller::PortalA, &w.patient_a.clone(), question("billing", "Why was I charged twice?")).await;
    let to = redirected_to(&post(&w, Caller::Billing, &format!("/queue/{q}/helper"), &[]).await);
    assert_eq!(to, format!("/queue/{q}#reply"));
}

// ---------------------------------------------------------------------------------------------
// Home page, paging, bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_block_shows_the_open_count_and_the_newest_requests() {
    let w = World::new().await;
    let empty = readable(&get(&w, Caller::FrontDesk, "/").await, 200);
    assert!(empty.contains(r#"id="queue-block""#) && empty.contains("No open requests."), "{empty}");
    let first = refill_a(&w, "Lisinopril 10 mg").await;
    let second = submit(&w, Caller::PortalA, &w.patient_a.clone(), question("general", "Parking?")).await;
    let home = readable(&get(&w, Caller::FrontDesk, "/").await, 200);
    assert!(home.contains("Patient Portal Queue") && home.contains("<strong>2</strong> open requests"), "{home}");
    assert!(home.contains(r#"id="queue-open-link""#) && home.contains(r#"href="/queue""#));
    assert!(
        home.contains(&format!(r#"href="/queue/{first}""#)) && home.contains(&format!(r#"href="/queue/{second}""#))
    );
    // Location B counts only its own.
    let theirs = readable(&get(&w, Caller::FrontDeskB, "/").await, 200);
    assert!(theirs.contains(r#"id="queue-block""#) && theirs.contains("No open requests."));
    assert!(!theirs.contains(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_25_and_bad_input_get_readable_pages() {
    let w = World::new().await;
    let mut ids = vec![];
    for n in 0..26 {
        ids.push(refill_a(&w, &format!("Medication number {n}")).await);
    }
    let page = readable(&get(&w, Caller::FrontDesk, "/queue").await, 200);
    assert!(page.contains("(26 open)"));
    assert_eq!(page.matches("<tr data-request-id=").count(), 25);
    assert!(row(&page, &ids[25]).is_some() && row(&page, &ids[0]).is_none(), "newest first");
    let link = &page[page.find(r#"id="next-page""#).expect("a next page")..];
    let at = page.find("before=").expect("a next page's position") + "before=".len();
    let digits: String = page[at..].chars().take_while(char::is_ascii_digit).collect();
    assert!(!digits.is_empty() && link.contains("Next page"));
    let page2 = readable(&get(&w, Caller::FrontDesk, &format!("/queue?before={digits}")).await, 200);
    assert_eq!(page2.matches("<tr data-request-id=").count(), 1);
    assert!(row(&page2, &ids[0]).is_some() && !page2.contains(r#"id="next-page""#));

    // A bad `before`: said, and the first page shown.
    for bad in ["abc", "-5", "1e9", "%00"] {
        let res = get(&w, Caller::FrontDesk, &format!("/queue?before={bad}")).await;
        let code = res.code();
        assert!(code == 400, "{bad}: {code}");
        let body = readable(&res, 400);
        if bad != "%00" {
            assert!(body.contains(r#"id="bad-before""#) && row(&body, &ids[25]).is_some(), "{bad}");
        }
        readable(&get(&w, Caller::FrontDesk, &format!("/queue/archive?before={bad}")).await, 400);
    }
    // A search too short: said beside the field, with Clear; the archive is listed anyway.
    let body = readable(&get(&w, Caller::FrontDesk, "/queue/archive?q=ab").await, 422);
    assert!(body.contains(r#"id="archive-search-error""#) && body.contains(r#"id="clear-search""#), "{body}");
    assert!(body.contains(r##"href="#archive-search""##));
    // A dismissal that says neither way.
    let res = post(&w, Caller::FrontDesk, &format!("/queue/{}/dismiss", ids[0]), &[("how", "maybe")]).await;
    assert!(readable(&res, 400).contains("either as completed or as will not be completed"));
    let res = post(&w, Caller::FrontDesk, &format!("/queue/{}/dismiss", ids[0]), &[]).await;
    readable(&res, 400);
}
