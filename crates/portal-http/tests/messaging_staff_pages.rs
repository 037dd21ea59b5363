//! The staff pages of secure messaging (seed 001, "My Messages"), driven in-process with staff
//! sessions: the inbox (Active, Archived, pages, search), a thread (unread marks, reply,
//! archive, unarchive, the read-only reason), Compose and New Message from the chart (Portal or
//! Staff), the header's unread badge and the instance setting. Every rule about who may see or
//! send what is tested from the side of the person refused; bad input always gets a page.

mod common;

use common::{Caller, TestRequest, TestResponse, World, form_body, missing_id};
use portal_core::Actor;
use portal_core::staff::PortalPermission;

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
    res.assert_status(status);
    let ct = res.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "{} {}: content type {ct}", res.method, res.uri);
    res.text()
}

/// The value of the idempotency key field of a page's send form.
#[track_caller]
fn key_of(page: &str) -> String {
    let marker = r#"name="idempotency_key" value=""#;
    let start = page.find(marker).expect("a send form with an idempotency key") + marker.len();
    page[start..start + page[start..].find('"').expect("end of value")].to_owned()
}

/// The `<li>` of a conversation in a list, if it is listed.
fn line<'a>(page: &'a str, conversation: &str) -> Option<&'a str> {
    let at = page.find(&format!(r#"id="conversation-{conversation}""#))?;
    let start = page[..at].rfind("<li").unwrap_or(at);
    let end = page[start..].find("</li>").map_or(page.len(), |e| start + e);
    Some(&page[start..end])
}

/// The conversation a send was redirected to.
#[track_caller]
fn conversation_of(res: &TestResponse) -> String {
    let to = redirected_to(res);
    let rest = to.strip_prefix("/messages/").unwrap_or_else(|| panic!("not a thread: {to}"));
    rest.split(['?', '#']).next().unwrap_or_default().to_owned()
}

/// Compose (no patient) from `from` to `to`, through the page's own form.
async fn compose(w: &World, from: Caller, to: &[Caller], subject: &str, body: &str) -> String {
    let page = readable(&get(w, from, "/messages/new").await, 200);
    let key = key_of(&page);
    let ids: Vec<String> = to.iter().map(|c| w.id(*c).to_owned()).collect();
    let mut pairs = vec![("type", "staff"), ("subject", subject), ("body", body), ("idempotency_key", key.as_str())];
    for id in &ids {
        pairs.push(("recipient", id.as_str()));
    }
    conversation_of(&post(w, from, "/messages/new", &pairs).await)
}

/// A reply through the thread's own form.
async fn reply(w: &World, caller: Caller, conversation: &str, body: &str) -> TestResponse {
    let page = readable(&get(w, caller, &format!("/messages/{conversation}")).await, 200);
    let key = key_of(&page);
    post(w, caller, &format!("/messages/{conversation}/reply"), &[("body", body), ("idempotency_key", &key)]).await
}

async fn allow_portal_messages(w: &World, caller: Caller) {
    common::grant(w.db(), w.id(caller), PortalPermission::AvailableForPortalMessages).await;
}

/// A portal message from `from` (who holds Available for Portal Messages) to patient A's own
/// portal user, from the chart.
async fn portal_message(w: &World, from: Caller, body: &str) -> String {
    let patient = &w.patient_a;
    let page = readable(&get(w, from, &format!("/messages/new?patient={patient}&type=portal")).await, 200);
    let key = key_of(&page);
    let account = w.id(Caller::PortalA).to_owned();
    let res = post(
        w,
        from,
        "/messages/new",
        &[
            ("type", "portal"),
            ("patient", patient),
            ("recipient_account_id", &account),
            ("subject", "Your appointment"),
            ("body", body),
            ("idempotency_key", &key),
        ],
    )
    .await;
    conversation_of(&res)
}

const NO_SUCH: &str = "This conversation does not exist, or you are not taking part in it.";

// ---------------------------------------------------------------------------------------------
// Who sees what
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_people_in_a_conversation_see_it_super_admin_included() {
    let w = World::new().await;
    let id =
        compose(&w, Caller::Clinician, &[Caller::FrontDesk], "Zebrafish results", "The zebrafish assay is back.").await;
    let mine = readable(&get(&w, Caller::Clinician, "/messages").await, 200);
    assert!(line(&mine, &id).is_some_and(|l| l.contains("Fran Desk") && l.contains("Zebrafish results")), "{mine}");
    let theirs = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    let row = line(&theirs, &id).expect("the recipient sees it");
    assert!(row.contains("Cleo Clinician") && row.contains("1 unread") && row.contains("is-unread"), "{row}");
    assert!(!line(&mine, &id).unwrap_or_default().contains("unread</span>"), "the sender has nothing unread");

    // Nobody else, whatever their role: not listed, not found by search, not opened, not changed.
    for other in [Caller::SuperAdmin, Caller::PracticeManager, Caller::Billing, Caller::FrontDeskB] {
        let list = readable(&get(&w, other, "/messages").await, 200);
        assert!(line(&list, &id).is_none(), "{other:?} lists someone else's conversation");
        assert!(list.contains(r#"id="inbox-empty""#), "{other:?}: the empty state");
        let found = readable(&get(&w, other, "/messages?q=zebrafish").await, 200);
        assert!(line(&found, &id).is_none() && found.contains("No conversation of yours matches"), "{other:?}");
        let thread = get(&w, other, &format!("/messages/{id}")).await;
        assert!(readable(&thread, 404).contains(NO_SUCH), "{other:?} opens someone else's thread");
        assert!(!thread.text().contains("zebrafish"), "nothing of the thread leaks");
        let res =
            post(&w, other, &format!("/messages/{id}/reply"), &[("body", "me too"), ("idempotency_key", "k1")]).await;
        readable(&res, 404);
        readable(&post(&w, other, &format!("/messages/{id}/archive"), &[]).await, 404);
        readable(&post(&w, other, &format!("/messages/{id}/unarchive"), &[]).await, 404);
    }
    // A missing id and a malformed one answer exactly alike.
    for bad in [missing_id(), "not-an-id".to_owned(), "%00".to_owned()] {
        let res = get(&w, Caller::Clinician, &format!("/messages/{bad}")).await;
        assert!(res.code() == 404 || res.code() == 400, "{bad}: {}", res.code());
        readable(&res, res.code());
    }
    assert!(readable(&get(&w, Caller::Clinician, &format!("/messages/{}", missing_id())).await, 404).contains(NO_SUCH));
    // The recipient's thread is untouched by all of that.
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains("The zebrafish assay is back.") && !thread.contains("me too"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_desk_without_the_permission_sees_no_type_choice_and_cannot_forge_a_portal_message() {
    let w = World::new().await;
    let patient = w.patient_a.clone();
    for uri in [format!("/messages/new?patient={patient}"), format!("/messages/new?patient={patient}&type=portal")] {
        let page = readable(&get(&w, Caller::FrontDesk, &uri).await, 200);
        assert!(!page.contains(r#"id="type-choice""#) && !page.contains(r#"name="type" value="portal""#), "{uri}");
        assert!(page.contains(r#"<input type="hidden" name="type" value="staff">"#), "staff messages only");
        assert!(page.contains(r#"id="recipients""#), "the staff recipients are offered");
        assert!(!page.contains(r#"name="recipient_account_id""#), "no portal recipient is offered");
    }
    // A hand-made Portal form is refused by the domain, said in words, with the text kept.
    let page = readable(&get(&w, Caller::FrontDesk, &format!("/messages/new?patient={patient}")).await, 200);
    let key = key_of(&page);
    let account = w.id(Caller::PortalA).to_owned();
    let res = post(
        &w,
        Caller::FrontDesk,
        "/messages/new",
        &[
            ("type", "portal"),
            ("patient", &patient),
            ("recipient_account_id", &account),
            ("subject", "Forged"),
            ("body", "A forged portal message"),
            ("idempotency_key", &key),
        ],
    )
    .await;
    let body = readable(&res, 409);
    assert!(body.contains("You need the Available for Portal Messages permission to send portal messages."), "{body}");
    assert!(body.contains("A forged portal message") && body.contains(r#"value="Forged""#), "what was typed is kept");
    assert!(!body.contains(r#"id="type-choice""#));
    let inbox = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    assert!(inbox.contains(r#"id="inbox-empty""#), "nothing was sent");

    // With the permission, the choice appears, Portal first, with the patient's portal user.
    allow_portal_messages(&w, Caller::Clinician).await;
    let page = readable(&get(&w, Caller::Clinician, &format!("/messages/new?patient={patient}")).await, 200);
    assert!(page.contains(r#"id="type-choice""#));
    assert!(page.contains(r#"id="type-portal" name="type" value="portal" checked"#), "{page}");
    assert!(page.contains(r#"id="type-staff" name="type" value="staff">"#));
    assert!(
        page.contains(&format!(r#"<option value="{account}" selected>Alice Anders (the patient)</option>"#)),
        "{page}"
    );
    let staff =
        readable(&get(&w, Caller::Clinician, &format!("/messages/new?patient={patient}&type=staff")).await, 200);
    assert!(
        staff.contains(r#"id="type-staff" name="type" value="staff" checked"#) && staff.contains(r#"id="recipients""#)
    );
    // Compose (no patient) never offers a type, whoever asks.
    let compose = readable(&get(&w, Caller::Clinician, "/messages/new?type=portal").await, 200);
    assert!(!compose.contains(r#"id="type-choice""#) && compose.contains(r#"name="type" value="staff""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_message_from_the_chart_opens_its_thread_with_view_patient() {
    let w = World::new().await;
    let patient = w.patient_a.clone();
    let chart = readable(&get(&w, Caller::Clinician, &format!("/patients/{patient}")).await, 200);
    assert!(
        chart.contains(&format!(
            r#"href="/messages/new?patient={patient}" class="button primary" id="chart-new-message""#
        ))
    );
    let tab = readable(&get(&w, Caller::Billing, &format!("/patients/{patient}/portal")).await, 200);
    assert!(tab.contains(r#"id="chart-new-message""#), "the button is in the header of every tab");

    allow_portal_messages(&w, Caller::Clinician).await;
    let id = portal_message(&w, Caller::Clinician, "Please bring your insurance card.").await;
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(
        thread.contains(&format!(r#"<a href="/patients/{patient}" class="button" id="view-patient">View Patient"#))
    );
    assert!(thread.contains("Alice Anders <span class=\"muted\">(portal user)</span>"), "{thread}");
    assert!(thread.contains("Please bring your insurance card.") && thread.contains("Your appointment"));
    assert!(thread.contains(r#"<span class="pill pill-blue kind-pill">Portal</span>"#));
    assert!(thread.contains(r#"id="body" name="body""#), "the sender may reply");

    // A patient without anyone able to receive portal messages says so instead of a form.
    let lonely = common::create_patient(w.db(), "Lone", "Lyle", "1970-01-01", &w.location_a).await;
    let page = readable(&get(&w, Caller::Clinician, &format!("/messages/new?patient={lonely}")).await, 200);
    assert!(
        page.contains(r#"id="no-portal-recipients""#) || page.contains(r#"id="portal-refused""#),
        "no recipient, no form: {page}"
    );
    assert!(!page.contains(r#"id="message-form""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_message_about_a_patient_carries_the_patient_and_only_offers_who_may_see_them() {
    let w = World::new().await;
    let patient = w.patient_a.clone();
    let page = readable(&get(&w, Caller::FrontDesk, &format!("/messages/new?patient={patient}")).await, 200);
    assert!(page.contains("About <strong>Alice Anders</strong>"));
    let clinician = w.id(Caller::Clinician).to_owned();
    let desk_b = w.id(Caller::FrontDeskB).to_owned();
    assert!(page.contains(&format!(r#"value="{clinician}""#)), "a colleague of the patient's location");
    assert!(!page.contains(&format!(r#"value="{desk_b}""#)), "staff who cannot see the patient are not offered");
    let key = key_of(&page);
    let base = [("type", "staff"), ("patient", patient.as_str()), ("body", "Can you call her back?")];

    // Forging a recipient who cannot see the patient is refused, naming them.
    let mut forged = base.to_vec();
    forged.extend([("recipient", desk_b.as_str()), ("idempotency_key", key.as_str())]);
    let body = readable(&post(&w, Caller::FrontDesk, "/messages/new", &forged).await, 409);
    assert!(body.contains("Bea Desk cannot see this patient&#39;s records"), "{body}");
    assert!(body.contains("Can you call her back?"));

    let mut ok = base.to_vec();
    ok.extend([("recipient", clinician.as_str()), ("idempotency_key", key.as_str())]);
    let id = conversation_of(&post(&w, Caller::FrontDesk, "/messages/new", &ok).await);
    let inbox = readable(&get(&w, Caller::Clinician, "/messages").await, 200);
    let row = line(&inbox, &id).expect("listed");
    assert!(row.contains("About Alice Anders") && row.contains("(no subject)") && row.contains("kind-pill\">Staff"));
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(&format!(r#"href="/patients/{patient}" class="button" id="view-patient""#)));
    assert!(thread.contains(r#"<dd id="thread-patient">Alice Anders</dd>"#));
    // Compose without a patient has no View Patient link.
    let plain = compose(&w, Caller::Clinician, &[Caller::FrontDesk], "Rota", "Swap Tuesday?").await;
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{plain}")).await, 200);
    assert!(!thread.contains(r#"id="view-patient""#) && !thread.contains("thread-patient"));
}

// ---------------------------------------------------------------------------------------------
// The life of a conversation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_reply_archive_and_unarchive_round_trip() {
    let w = World::new().await;
    let id =
        compose(&w, Caller::Clinician, &[Caller::FrontDesk, Caller::Billing], "Staff meeting", "Room 4 at noon.").await;
    // The sender lands on the thread, their own message shown as theirs.
    let own = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(own.contains("class=\"message mine\"") && own.contains(r#"<span class="message-sender">You</span>"#));
    assert!(own.contains("Fran Desk, Bill Ing") || own.contains("Bill Ing, Fran Desk"), "{own}");

    // The recipient sees it marked New the first time, not after.
    let first = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(
        first.contains("message theirs unread")
            && first.contains(r#"<span class="pill pill-blue message-new">New</span>"#)
    );
    let again = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(!again.contains("message-new"), "opening marked it read");

    let res = reply(&w, Caller::FrontDesk, &id, "I will be there.\nBringing the slides.").await;
    assert_eq!(redirected_to(&res), format!("/messages/{id}?sent=1#latest"));
    let after = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}?sent=1")).await, 200);
    assert!(after.contains("Your reply has been sent."));
    assert!(after.contains("I will be there.\nBringing the slides."), "line breaks are kept");
    let before_reply = after.find("Room 4 at noon.").expect("first message");
    assert!(before_reply < after.find("I will be there.").expect("reply"), "oldest first");
    let list = readable(&get(&w, Caller::Clinician, "/messages").await, 200);
    assert!(line(&list, &id).is_some_and(|l| l.contains("1 unread")), "the reply is unread for the sender");

    // Archive: out of Active, into Archived, with a way back.
    let res = post(&w, Caller::FrontDesk, &format!("/messages/{id}/archive"), &[]).await;
    assert_eq!(redirected_to(&res), format!("/messages?archived={id}"));
    let active = readable(&get(&w, Caller::FrontDesk, &format!("/messages?archived={id}")).await, 200);
    assert!(line(&active, &id).is_none() && active.contains("The conversation has been moved to Archived."));
    let archived = readable(&get(&w, Caller::FrontDesk, "/messages?folder=archived").await, 200);
    assert!(line(&archived, &id).is_some(), "{archived}");
    assert!(archived.contains(r#"id="tab-archived" aria-current="page""#));
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(r#"id="unarchive""#) && thread.contains(r#"id="archived-pill""#));
    assert!(!thread.contains(r#"id="archive""#));
    // Only for the one who archived it.
    let billing = readable(&get(&w, Caller::Billing, "/messages").await, 200);
    assert!(line(&billing, &id).is_some());

    let res = post(&w, Caller::FrontDesk, &format!("/messages/{id}/unarchive"), &[]).await;
    assert_eq!(redirected_to(&res), format!("/messages/{id}?unarchived=1"));
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}?unarchived=1")).await, 200);
    assert!(thread.contains("The conversation is back in Active.") && thread.contains(r#"id="archive""#));
    let active = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    assert!(line(&active, &id).is_some());
    let archived = readable(&get(&w, Caller::FrontDesk, "/messages?folder=archived").await, 200);
    assert!(line(&archived, &id).is_none() && archived.contains(r#"id="inbox-empty""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_message_brings_an_archived_conversation_back_to_active() {
    let w = World::new().await;
    let id = compose(&w, Caller::Clinician, &[Caller::FrontDesk], "Supplies", "We are out of gloves.").await;
    redirected_to(&post(&w, Caller::FrontDesk, &format!("/messages/{id}/archive"), &[]).await);
    // Someone else's reply: back in Active, unread.
    redirected_to(&reply(&w, Caller::Clinician, &id, "Ordered more.").await);
    let active = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    assert!(line(&active, &id).is_some_and(|l| l.contains("2 unread")), "{active}");
    assert!(line(&readable(&get(&w, Caller::FrontDesk, "/messages?folder=archived").await, 200), &id).is_none());

    // One's own reply from the Archived section: back in Active too, and the form said so.
    redirected_to(&post(&w, Caller::FrontDesk, &format!("/messages/{id}/archive"), &[]).await);
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains("Replying moves the conversation back to Active."));
    redirected_to(&reply(&w, Caller::FrontDesk, &id, "Thanks!").await);
    let active = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    assert!(line(&active, &id).is_some());
    assert!(line(&readable(&get(&w, Caller::FrontDesk, "/messages?folder=archived").await, 200), &id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_needs_three_characters_and_finds_by_keyword_and_by_name() {
    let w = World::new().await;
    let roster =
        compose(&w, Caller::Clinician, &[Caller::FrontDesk], "Quarterly roster", "Check the xylophone schedule.").await;
    let lunch = compose(&w, Caller::Clinician, &[Caller::Billing], "Lunch", "Pizza on Friday.").await;

    let res = get(&w, Caller::FrontDesk, "/messages?q=xy").await;
    let page = readable(&res, 422);
    assert!(page.contains("Enter at least 3 characters"), "{page}");
    assert!(page.contains(r#"value="xy""#), "the term is kept");
    assert!(page.contains(r#"href="/messages" class="clear-search""#), "a way back to the list");
    assert!(line(&page, &roster).is_some(), "the list stays below the message");

    let found = readable(&get(&w, Caller::FrontDesk, "/messages?q=xylo").await, 200);
    assert!(line(&found, &roster).is_some() && line(&found, &lunch).is_none(), "a word's beginning finds it");
    assert!(found.contains("1 conversation matches") && found.contains(r#"id="clear-search""#));
    assert!(!found.contains(r#"id="tab-active""#), "results, not a section");

    // By participant name and by subject, over Active and Archived.
    let by_name = readable(&get(&w, Caller::Clinician, "/messages?q=Bill").await, 200);
    assert!(line(&by_name, &lunch).is_some() && line(&by_name, &roster).is_none(), "{by_name}");
    redirected_to(&post(&w, Caller::Clinician, &format!("/messages/{roster}/archive"), &[]).await);
    let by_subject = readable(&get(&w, Caller::Clinician, "/messages?q=quarterly+roster").await, 200);
    let row = line(&by_subject, &roster).expect("archived conversations are searched too");
    assert!(row.contains(r#"<span class="pill pill-gray">Archived</span>"#));
    let none = readable(&get(&w, Caller::Clinician, "/messages?q=nothinglikethis").await, 200);
    assert!(none.contains("No conversation of yours matches “nothinglikethis”"));
    // Blank is no search: the list.
    let blank = readable(&get(&w, Caller::Clinician, "/messages?q=+++").await, 200);
    assert!(blank.contains(r#"id="tab-active""#) && line(&blank, &lunch).is_some());
    // Only punctuation, or too long: a message, never an error page.
    assert!(
        readable(&get(&w, Caller::Clinician, "/messages?q=%21%21%21").await, 422).contains("class=\"field-error\"")
    );
    let long = format!("/messages?q={}", "a".repeat(101));
    assert!(readable(&get(&w, Caller::Clinician, &long).await, 422).contains("at most 100 characters"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_pages_through_its_conversations_25_at_a_time() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for n in 0..27 {
        ids.push(compose(&w, Caller::Clinician, &[Caller::FrontDesk], &format!("Note {n}"), "A note.").await);
    }
    let first = readable(&get(&w, Caller::FrontDesk, "/messages").await, 200);
    assert_eq!(first.matches(r#"class="conversation is-unread""#).count(), 25);
    assert!(line(&first, &ids[26]).is_some() && line(&first, &ids[0]).is_none(), "newest first");
    let marker = r#"<a href=""#;
    let next_at = first.find(r#"rel="next""#).expect("a next page link");
    let href_start = first[..next_at].rfind(marker).expect("link") + marker.len();
    let next = first[href_start..href_start + first[href_start..].find('"').expect("end")].replace("&amp;", "&");
    let second = readable(&get(&w, Caller::FrontDesk, &next).await, 200);
    assert_eq!(second.matches(r#"class="conversation is-unread""#).count(), 2);
    assert!(line(&second, &ids[0]).is_some() && line(&second, &ids[1]).is_some());
    assert!(!second.contains(r#"rel="next""#) && second.contains(r#"rel="first""#));
    // A damaged link shows the newest conversations with a word about it.
    let bad = readable(&get(&w, Caller::FrontDesk, "/messages?after=garbage").await, 400);
    assert!(bad.contains("could not be read") && line(&bad, &ids[26]).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitting_one_form_twice_sends_one_message() {
    let w = World::new().await;
    let page = readable(&get(&w, Caller::FrontDesk, "/messages/new").await, 200);
    let key = key_of(&page);
    let clinician = w.id(Caller::Clinician).to_owned();
    let pairs = [
        ("type", "staff"),
        ("recipient", clinician.as_str()),
        ("subject", "Double click"),
        ("body", "Sent once, clicked twice."),
        ("idempotency_key", key.as_str()),
    ];
    let first = conversation_of(&post(&w, Caller::FrontDesk, "/messages/new", &pairs).await);
    let second = conversation_of(&post(&w, Caller::FrontDesk, "/messages/new", &pairs).await);
    assert_eq!(first, second, "the retry lands on the same conversation");
    let inbox = readable(&get(&w, Caller::Clinician, "/messages").await, 200);
    assert_eq!(inbox.matches("Double click").count(), 1, "one conversation");
    assert!(line(&inbox, &first).is_some_and(|l| l.contains("1 unread")));

    // The same for a reply.
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{first}")).await, 200);
    let key = key_of(&thread);
    let uri = format!("/messages/{first}/reply");
    for _ in 0..2 {
        let res = post(&w, Caller::Clinician, &uri, &[("body", "Only once, please."), ("idempotency_key", &key)]).await;
        assert_eq!(redirected_to(&res), format!("/messages/{first}?sent=1#latest"));
    }
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{first}")).await, 200);
    assert_eq!(thread.matches("Only once, please.").count(), 1, "one reply");
    // The same form sent again with another text (Back, edit, Send) is not mistaken for the first:
    // the text is kept, with a new key, so that sending it again adds it.
    let res = post(&w, Caller::Clinician, &uri, &[("body", "Something else."), ("idempotency_key", &key)]).await;
    let page = readable(&res, 409);
    assert!(page.contains(r#"id="key-reused""#) && page.contains(">Something else.</textarea>"));
    let fresh = key_of(&page);
    assert_ne!(fresh, key);
    redirected_to(
        &post(&w, Caller::Clinician, &uri, &[("body", "Something else."), ("idempotency_key", &fresh)]).await,
    );
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{first}")).await, 200);
    assert_eq!(thread.matches("Something else.").count(), 1);
    // Every form gets its own key.
    let a = key_of(&readable(&get(&w, Caller::FrontDesk, "/messages/new").await, 200));
    let b = key_of(&readable(&get(&w, Caller::FrontDesk, "/messages/new").await, 200));
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_no_longer_allowed_shows_the_thread_read_only_with_the_reason() {
    let w = World::new().await;
    allow_portal_messages(&w, Caller::Clinician).await;
    let id = portal_message(&w, Caller::Clinician, "How are you feeling?").await;
    // The instance limits portal messages to care teams; the clinician is on patient A's.
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/portal-messaging", &[("recipients", "care_team")]).await;
    assert_eq!(redirected_to(&res), "/settings/instance?messaging_saved=1#portal-messaging");
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(r#"id="body" name="body""#) && !thread.contains(r#"id="read-only""#));

    // Taken off the care team: the thread stays readable, the reply box gives way to the reason.
    portal_practice::patients::remove_care_team_member(w.db(), &Actor::system(), &w.patient_a, w.id(Caller::Clinician))
        .await
        .expect("off the team");
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(r#"id="read-only""#), "{thread}");
    assert!(thread.contains(r#"<p id="reply-refused">Cleo Clinician is not on this patient&#39;s care team.</p>"#));
    assert!(!thread.contains(r#"id="body" name="body""#) && thread.contains("How are you feeling?"));
    // A reply sent from a page opened before the change is refused the same way; its text is kept.
    let res = post(
        &w,
        Caller::Clinician,
        &format!("/messages/{id}/reply"),
        &[("body", "Following up on this."), ("idempotency_key", "late-reply-1")],
    )
    .await;
    let page = readable(&res, 409);
    assert!(page.contains("Cleo Clinician is not on this patient&#39;s care team."));
    assert!(page.contains(">Following up on this.</textarea>") && page.contains("Your reply, not sent"));
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(!thread.contains("Following up on this."), "nothing was sent");

    // The New Message form says the same before anything is typed.
    let page = readable(&get(&w, Caller::Clinician, &format!("/messages/new?patient={}", w.patient_a)).await, 200);
    assert!(
        page.contains(r#"id="portal-refused""#)
            && page.contains("Cleo Clinician is not on this patient&#39;s care team")
    );
    assert!(!page.contains(r#"id="message-form""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_makes_the_portal_thread_read_only() {
    let w = World::new().await;
    allow_portal_messages(&w, Caller::Clinician).await;
    let id = portal_message(&w, Caller::Clinician, "Your results are in.").await;
    let sys = Actor::system();
    for u in portal_auth::portal_grants::portal_users(w.db(), &sys, &w.patient_a).await.expect("portal users") {
        portal_auth::portal_grants::revoke_grant(w.db(), &sys, &w.patient_a, &u.grant_id).await.expect("revoke");
    }
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(r#"id="read-only""#), "{thread}");
    assert!(thread.contains("Alice Anders no longer has portal access to this patient."), "{thread}");
}

// ---------------------------------------------------------------------------------------------
// The header, the setting
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_badge_shows_the_unread_count() {
    let w = World::new().await;
    let badge = |n: i64, hidden: bool| {
        format!(
            r#"<span class="unread-badge" data-unread-url="/api/v1/messages/unread-count" aria-live="polite"{}>{n}</span>"#,
            if hidden { " hidden" } else { "" }
        )
    };
    let home = readable(&get(&w, Caller::FrontDesk, "/").await, 200);
    assert!(home.contains(&badge(0, true)), "present but hidden at zero: {home}");
    assert!(home.contains(r#"<script src="/static/unread-count.js" defer></script>"#));
    assert!(home.contains(r#"<a href="/messages" class="header-messages" id="header-messages">Messages"#));
    assert!(home.contains(r#"<a href="/messages">Messages</a>"#), "the navigation has Messages too");

    let id = compose(&w, Caller::Clinician, &[Caller::FrontDesk], "Count me", "One.").await;
    redirected_to(&reply(&w, Caller::Clinician, &id, "Two.").await);
    let home = readable(&get(&w, Caller::FrontDesk, "/patients").await, 200);
    assert!(home.contains(&badge(2, false)), "every page's header counts: {home}");
    // Opening the thread reads them: its own header already says so.
    let thread = readable(&get(&w, Caller::FrontDesk, &format!("/messages/{id}")).await, 200);
    assert!(thread.contains(&badge(0, true)));
    // The sender's own messages never count.
    assert!(readable(&get(&w, Caller::Clinician, "/").await, 200).contains(&badge(0, true)));
    // Pages without a signed-in user have no badge.
    let sign_in = w.send(TestRequest::get("/staff/sign-in")).await;
    assert!(!sign_in.text().contains("unread-badge"));
    // The script is served, as a script.
    let js = w.send(TestRequest::get("/static/unread-count.js")).await;
    js.assert_status(200);
    assert!(js.header("content-type").unwrap_or_default().starts_with("text/javascript"));
    assert!(js.text().contains("data-unread-url") && js.text().contains("same-origin"));
    w.send(TestRequest::get("/static/messages.js")).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_messaging_setting_is_changed_on_the_instance_page_by_those_allowed() {
    let w = World::new().await;
    let page = readable(&get(&w, Caller::SuperAdmin, "/settings/instance").await, 200);
    assert!(
        page.contains(r#"<p id="portal-messaging-current">Now: <strong>Staff available for portal messages</strong>"#)
    );
    assert!(page.contains(r#"value="available_for_portal_messages" checked"#));
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/portal-messaging", &[("recipients", "care_team")]).await;
    redirected_to(&res);
    let page = readable(&get(&w, Caller::SuperAdmin, "/settings/instance?messaging_saved=1").await, 200);
    assert!(page.contains("The portal messaging setting has been saved."));
    assert!(page.contains("Now: <strong>The patient's care team</strong>"), "{page}");
    assert!(
        page.contains(r#"id="portal-messaging-history""#)
            && page.contains("Staff available for portal messages → The patient's care team")
    );

    // A value that is not an option: said beside the field, the page intact.
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/portal-messaging", &[("recipients", "everyone")]).await;
    assert!(readable(&res, 422).contains("Choose one of the two options."));
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/portal-messaging", &[]).await;
    readable(&res, 422);

    // Without Manage Portal Settings (a Super Admin included): refused, nothing changed.
    for who in [Caller::SuperAdminNoSettings, Caller::PracticeManager, Caller::FrontDesk] {
        let res =
            post(&w, who, "/settings/instance/portal-messaging", &[("recipients", "available_for_portal_messages")])
                .await;
        assert!(readable(&res, 403).contains("Manage Portal Settings"), "{who:?}");
    }
    let now = portal_messaging::settings::portal_messaging_recipients(w.db(), &Actor::system()).await.expect("setting");
    assert_eq!(now.as_str(), "care_team");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_readable_page_with_what_was_typed_never_a_500() {
    let w = World::new().await;
    let page = readable(&get(&w, Caller::FrontDesk, "/messages/new").await, 200);
    let key = key_of(&page);
    let clinician = w.id(Caller::Clinician).to_owned();
    let send = |pairs: Vec<(&'static str, String)>| {
        let w = &w;
        async move {
            let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(w, Caller::FrontDesk, "/messages/new", &p).await
        }
    };
    let with = |extra: &[(&'static str, &str)]| {
        let mut v: Vec<(&'static str, String)> = vec![("type", "staff".into()), ("idempotency_key", key.clone())];
        v.extend(extra.iter().map(|(k, val)| (*k, (*val).to_owned())));
        v
    };

    // An empty message: said beside the field; subject and recipient kept.
    let res = send(with(&[("recipient", &clinician), ("subject", "Kept subject"), ("body", "   ")])).await;
    let body = readable(&res, 422);
    assert!(body.contains("Message is required") && body.contains(r#"value="Kept subject""#));
    assert!(body.contains(&format!(r#"id="recipient-{clinician}" name="recipient" value="{clinician}" checked"#)));
    assert!(body.contains(r#"aria-invalid="true""#) && body.contains("Your message was not sent"));
    // Too long, and no recipient: both said at once.
    let long = "x".repeat(10_001);
    let body = readable(&send(with(&[("body", &long)])).await, 422);
    assert!(
        body.contains("Message must be at most 10000 characters") && body.contains("Choose at least one recipient.")
    );
    assert!(body.contains(&long), "the text is kept, not cut");
    let body =
        readable(&send(with(&[("recipient", &clinician), ("subject", &"s".repeat(201)), ("body", "Hi")])).await, 422);
    assert!(body.contains("Subject must be at most 200 characters"));
    // Unknown, malformed and own ids as recipients.
    for (bad, words) in [
        (missing_id(), "This recipient is not available for messages"),
        ("not-an-id".to_owned(), "This recipient is not available for messages"),
        (w.id(Caller::FrontDesk).to_owned(), "You cannot send a message to yourself"),
    ] {
        let body = readable(&send(with(&[("recipient", &bad), ("body", "Hello there")])).await, 409);
        assert!(body.contains(words) && body.contains(">Hello there</textarea>"), "{bad}: {body}");
    }
    // Markup is text.
    let id = conversation_of(&send(with(&[("recipient", &clinician), ("body", "<script>alert(1)</script>")])).await);
    let thread = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert!(
        thread.contains("&#60;script&#62;alert(1)&#60;/script&#62;") && !thread.contains("<script>alert(1)"),
        "{thread}"
    );

    // Forms and addresses that cannot be read.
    readable(&send(vec![("type", "bogus".into()), ("body", "x".into())]).await, 400);
    assert!(
        readable(&send(vec![("type", "portal".into()), ("body", "x".into())]).await, 400)
            .contains("patient&#39;s chart")
    );
    let nul =
        TestRequest::post("/messages/new").raw(Some("application/x-www-form-urlencoded"), "type=staff&body=a%00b");
    readable(&w.send_as(Caller::FrontDesk, nul).await, 400);
    for uri in [
        "/messages/new?patient=not-an-id".to_owned(),
        format!("/messages/new?patient={}", missing_id()),
        format!("/messages/new?patient={}", w.patient_b),
    ] {
        let res = get(&w, Caller::FrontDesk, &uri).await;
        assert!(readable(&res, 404).contains("No such record"), "{uri}: {}", res.text());
    }
    let res = send(vec![
        ("type", "staff".into()),
        ("patient", w.patient_b.clone()),
        ("recipient", clinician.clone()),
        ("body", "About someone else's patient".into()),
    ])
    .await;
    readable(&res, 404);
    readable(&get(&w, Caller::FrontDesk, "/messages?folder=bogus").await, 400);

    // The reply box: empty, too long, on a malformed or missing conversation.
    let uri = format!("/messages/{id}/reply");
    let body = readable(&post(&w, Caller::FrontDesk, &uri, &[("body", ""), ("idempotency_key", "r-1")]).await, 422);
    assert!(body.contains("Message is required") && body.contains("Your reply was not sent"));
    let body = readable(&post(&w, Caller::FrontDesk, &uri, &[("body", &long), ("idempotency_key", "r-2")]).await, 422);
    assert!(body.contains(&long));
    let body =
        readable(&post(&w, Caller::FrontDesk, &uri, &[("body", "ok"), ("idempotency_key", "with space")]).await, 422);
    assert!(body.contains("Idempotency key"), "{body}");
    for bad in ["not-an-id".to_owned(), missing_id()] {
        let res = post(&w, Caller::FrontDesk, &format!("/messages/{bad}/reply"), &[("body", "hello")]).await;
        readable(&res, 404);
        readable(&post(&w, Caller::FrontDesk, &format!("/messages/{bad}/archive"), &[]).await, 404);
    }
    let odd = TestRequest::post(&uri).raw(Some("application/x-www-form-urlencoded"), "body=%FF%FE");
    let res = w.send_as(Caller::FrontDesk, odd).await;
    assert!(res.code() < 500, "{}", res.code());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_thread_shows_the_newest_200_and_a_link_to_earlier_ones() {
    let w = World::new().await;
    let id = compose(&w, Caller::Clinician, &[Caller::PracticeManager], "Long", "m0").await;
    let pm = {
        let mut conn = w.db().read().await.expect("read");
        let p = portal_auth::sessions::load_staff_principal(&mut conn, w.id(Caller::PracticeManager))
            .await
            .expect("load")
            .expect("active");
        portal_messaging::Caller::staff(&Actor::new(portal_core::Principal::Staff(p), None)).expect("staff")
    };
    for i in 1..205 {
        let input = portal_messaging::send::ReplyInput { body: format!("m{i}"), idempotency_key: None };
        portal_messaging::send::reply(w.db(), &pm, &id, input).await.expect("reply");
    }
    let html = readable(&get(&w, Caller::Clinician, &format!("/messages/{id}")).await, 200);
    assert_eq!(html.matches("<li class=\"message").count(), 200, "the newest 200");
    assert!(html.contains(">m204<") && !html.contains(">m4<"));
    let marker = "id=\"show-earlier\"";
    let at = html.find(marker).unwrap_or_else(|| panic!("no earlier link: {html}"));
    let href = html[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let html = readable(&get(&w, Caller::Clinician, &href).await, 200);
    assert_eq!(html.matches("<li class=\"message").count(), 5);
    assert!(html.contains(">m0<") && html.contains(">m4<") && !html.contains(">m5<"));
    assert!(!html.contains(marker) && html.contains("id=\"show-latest\""));
    // Someone not in the conversation (a Super Admin too) gets the same 404 as for the thread.
    assert_eq!(get(&w, Caller::SuperAdmin, &href).await.code(), 404);
    let before = href.split("before=").nth(1).unwrap().to_owned();
    let other = compose(&w, Caller::Clinician, &[Caller::PracticeManager], "Other", "x").await;
    assert_eq!(get(&w, Caller::Clinician, &format!("/messages/{other}?before={before}")).await.code(), 404);
}
