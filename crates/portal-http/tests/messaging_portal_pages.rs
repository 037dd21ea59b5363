//! The portal users' pages of secure messaging (seed 001 "My Messages"), walked through with a
//! cookie as a browser without JavaScript would: New Message to an eligible staff member, the
//! inbox (Active, Archived, search, pages of 25), a thread, reply, archive and unarchive, the
//! header's unread badge. Every "who may see what" rule is tried from the refused side: another
//! portal user, a revoked grant, a staff member who is not offered, a forged id.

mod common;

use common::*;
use portal_core::staff::PortalPermission;
use portal_core::{Actor, Principal};
use portal_messaging::Caller as MessagingCaller;
use portal_messaging::send::{self, PortalMessageInput, ReplyInput};

// ---------------------------------------------------------------------------------------------
// Fixtures of this file
// ---------------------------------------------------------------------------------------------

/// Gives `staff_id` Available for Portal Messages (or takes it away).
async fn set_available(world: &World, staff_id: &str, on: bool) {
    portal_auth::staff::set_portal_permission(
        world.db(),
        &Actor::system(),
        staff_id,
        PortalPermission::AvailableForPortalMessages,
        on,
    )
    .await
    .expect("portal messages permission");
}

/// The staff member as their next request would load them.
async fn staff_actor(world: &World, staff_id: &str) -> Actor {
    let mut conn = world.db().read().await.expect("read");
    let p = portal_auth::sessions::load_staff_principal(&mut conn, staff_id).await.expect("load").expect("active");
    Actor::new(Principal::Staff(p), None)
}

/// A world whose clinician (location A, on patient A's care team) answers portal messages.
async fn world_with_clinician() -> (World, String) {
    let world = World::new().await;
    let clinician = world.id(Caller::Clinician).to_owned();
    set_available(&world, &clinician, true).await;
    (world, clinician)
}

fn portal(world: &World, who: Caller) -> Browser<'_> {
    Browser::with_session(&world.app, world.token(who).expect("a portal session"))
}

/// The hidden idempotency key of the (first) send form on a page.
fn hidden_key(html: &str) -> String {
    let marker = "name=\"idempotency_key\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no idempotency key in {html}")) + marker.len();
    html[start..].split('"').next().expect("a value").to_owned()
}

/// The conversation a send redirected to.
#[track_caller]
fn conversation_of(res: &TestResponse) -> String {
    assert_eq!(res.code(), 303, "a send redirects to its thread: {}", res.text());
    let loc = res.location();
    let rest = loc.strip_prefix("/portal/messages/").unwrap_or_else(|| panic!("not a thread: {loc}"));
    rest.split(['#', '?']).next().expect("an id").to_owned()
}

/// Writes a new message through the form, as the user would: open the form, send it.
async fn write(b: &mut Browser<'_>, patient: &str, staff: &str, subject: &str, body: &str) -> String {
    let form = b.get(&format!("/portal/messages/new?patient={patient}")).await;
    form.assert_status(200);
    let key = hidden_key(&form.text());
    let res = b
        .post(
            "/portal/messages/new",
            &[
                ("patient_id", patient),
                ("staff_id", staff),
                ("subject", subject),
                ("body", body),
                ("idempotency_key", &key),
            ],
        )
        .await;
    conversation_of(&res)
}

/// The `<li>` of conversation `id` in an inbox page, if listed.
fn row<'h>(html: &'h str, id: &str) -> Option<&'h str> {
    let at = html.find(&format!("id=\"conversation-{id}\""))?;
    let start = html[..at].rfind("<li").expect("a list item");
    let end = at + html[at..].find("</li>").expect("the item's end");
    Some(&html[start..end])
}

fn rows_listed(html: &str) -> usize {
    html.matches("id=\"conversation-").count()
}

/// The header's badge: (shown, text).
#[track_caller]
fn badge(html: &str) -> (bool, String) {
    let at = html.find("id=\"portal-unread-badge\"").unwrap_or_else(|| panic!("no unread badge in {html}"));
    let start = html[..at].rfind("<span").expect("the badge element");
    let open_end = at + html[at..].find('>').expect("the tag's end");
    let tag = &html[start..open_end];
    assert!(tag.contains("data-unread-url=\"/api/v1/portal/messages/unread-count\""), "{tag}");
    assert!(tag.contains("aria-live=\"polite\""), "{tag}");
    let text = html[open_end + 1..].split("</span>").next().expect("text").trim().to_owned();
    (!tag.contains(" hidden"), text)
}

fn invite_input(to: portal_auth::invitations::InviteTo) -> portal_auth::invitations::InviteInput {
    portal_auth::invitations::InviteInput {
        to,
        relation: Some("guardian".into()),
        scopes: None,
        ends_on: None,
        message: None,
        intake_form_ids: vec![],
        phi_warning_acknowledged: true,
    }
}

/// One guardian account holding grants to two children of location A, signed in.
async fn guardian_of_two(world: &World) -> (String, String, Browser<'_>) {
    let (eli, _) = enabled_patient(world, "Eli", "Evans", "2015-01-02").await;
    let (fay, _) = enabled_patient(world, "Fay", "Evans", "2017-03-04").await;
    let email = "grace.evans@example.test";
    let to = portal_auth::invitations::InviteTo::Designated { name: "Grace Evans".into(), email: email.into() };
    let sent = portal_auth::invitations::invite(world.db(), &Actor::system(), &eli, invite_input(to))
        .await
        .expect("invite the guardian");
    let token = last_link_to(world.db(), email).await;
    let mut b = Browser::new(&world.app);
    b.post(
        &format!("/portal/set-password/{token}"),
        &[("username", "grace.evans"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
    )
    .await
    .assert_status(200);
    let to = portal_auth::invitations::InviteTo::ExistingAccount { account_id: sent.account_id.clone() };
    portal_auth::invitations::invite(world.db(), &Actor::system(), &fay, invite_input(to))
        .await
        .expect("link the second child");
    assert_eq!(b.sign_in("grace.evans", PASSWORD).await.location(), "/portal");
    (eli, fay, b)
}

async fn revoke(world: &World, patient: &str, account_name: &str) {
    let grant = portal_auth::portal_grants::portal_users(world.db(), &Actor::system(), patient)
        .await
        .expect("portal users")
        .into_iter()
        .find(|u| u.display_name == account_name)
        .expect("the grant");
    portal_auth::portal_grants::revoke_grant(world.db(), &Actor::system(), patient, &grant.grant_id)
        .await
        .expect("revoke");
}

/// Staff write to patient A's portal user (Alice) through the domain, as the staff pages do.
async fn staff_writes_to_alice(world: &World, staff_id: &str, subject: &str, body: &str) -> String {
    let actor = staff_actor(world, staff_id).await;
    let input = PortalMessageInput {
        patient_id: world.patient_a.clone(),
        recipient_account_id: world.id(Caller::PortalA).to_owned(),
        subject: Some(subject.into()),
        body: body.into(),
        idempotency_key: None,
        skip_email_notice: false,
    };
    send::start_portal_conversation(world.db(), &actor, input).await.expect("staff message").conversation_id
}

async fn staff_replies(world: &World, staff_id: &str, conversation: &str, body: &str) {
    let actor = staff_actor(world, staff_id).await;
    let caller = MessagingCaller::staff(&actor).expect("staff caller");
    send::reply(world.db(), &caller, conversation, ReplyInput { body: body.into(), idempotency_key: None })
        .await
        .expect("staff reply");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_user_writes_to_the_clinic_and_only_they_see_the_conversation() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);

    let empty = alice.get("/portal/messages").await;
    empty.assert_status(200);
    assert!(empty.text().contains("id=\"no-messages\"") && empty.text().contains("id=\"new-message\""));

    // One patient: the form opens on her, without a choice of patient.
    let form = alice.get("/portal/messages/new").await;
    form.assert_status(200);
    let html = form.text();
    assert!(html.contains("id=\"new-message-form\"") && !html.contains("id=\"choose-patient-form\""), "{html}");
    assert!(html.contains("Alice Anders") && html.contains(&format!("value=\"{clinician}\"")), "{html}");

    let id = write(
        &mut alice,
        &world.patient_a,
        &clinician,
        "Inhaler refill",
        "Could I get a refill of my inhaler?\nThanks.",
    )
    .await;
    let thread = alice.get(&format!("/portal/messages/{id}")).await;
    thread.assert_status(200);
    let html = thread.text();
    assert!(html.contains("Inhaler refill") && html.contains("Cleo Clinician") && html.contains("Alice Anders"));
    assert!(html.contains("Could I get a refill of my inhaler?\nThanks."), "line breaks kept: {html}");
    assert!(html.contains("id=\"reply-form\"") && html.contains("id=\"archive\""));
    assert_eq!(thread.header("cache-control"), Some("no-store"));

    let inbox = alice.get("/portal/messages").await.text();
    let r = row(&inbox, &id).expect("listed in Active");
    assert!(r.contains("Cleo Clinician") && r.contains("Inhaler refill") && r.contains("About Alice Anders"), "{r}");
    assert!(r.contains("<time"), "{r}");
    assert!(!r.contains("is-unread"), "her own message is not unread to her");

    // The clinician has it, unread, in their own inbox (the domain's view).
    let staff = MessagingCaller::staff(&staff_actor(&world, &clinician).await).unwrap();
    assert_eq!(portal_messaging::inbox::unread_count(world.db(), &staff).await.unwrap(), 1);

    // Another portal user: 404 exactly like a missing conversation, absent from list and search.
    let mut bob = portal(&world, Caller::PortalB);
    let foreign = bob.get(&format!("/portal/messages/{id}")).await;
    foreign.assert_status(404);
    let missing = bob.get(&format!("/portal/messages/{}", missing_id())).await;
    assert_eq!(foreign.body, missing.body, "a foreign conversation answers like a missing one");
    assert!(!bob.get("/portal/messages").await.text().contains(&id));
    let search = bob.get("/portal/messages?q=inhaler").await;
    search.assert_status(200);
    assert!(!search.text().contains(&id) && search.text().contains("id=\"no-results\""));
    for action in ["reply", "archive", "unarchive"] {
        let res = bob.post(&format!("/portal/messages/{id}/{action}"), &[("body", "Let me in")]).await;
        res.assert_status(404);
    }
    // Bob's attempts changed nothing: one message, still Active for Alice.
    let html = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert!(!html.contains("Let me in") && html.contains("id=\"archive\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_writes_about_each_child_separately_and_a_revoked_grant_hides_that_child() {
    let (world, clinician) = world_with_clinician().await;
    let (eli, fay, mut g) = guardian_of_two(&world).await;

    // Two children: the form asks which one first.
    let choose = g.get("/portal/messages/new").await;
    choose.assert_status(200);
    let html = choose.text();
    assert!(html.contains("id=\"choose-patient-form\"") && html.contains("Eli Evans") && html.contains("Fay Evans"));
    assert!(html.contains(&format!("value=\"{eli}\"")) && html.contains(&format!("value=\"{fay}\"")));
    assert!(!html.contains(" checked"), "no child is chosen for the guardian");
    let unchosen = g.get("/portal/messages/new?chosen=1").await;
    unchosen.assert_status(422);
    assert!(unchosen.text().contains("Choose who this message is about."));
    let form = g.get(&format!("/portal/messages/new?patient={fay}")).await.text();
    assert!(form.contains("id=\"message-patient\">Fay Evans") && form.contains("id=\"change-patient\""), "{form}");

    let about_eli = write(&mut g, &eli, &clinician, "Eli's cough", "Eli has been coughing at night.").await;
    let about_fay = write(&mut g, &fay, &clinician, "Fay's rash", "Fay has a rash on her arm.").await;
    assert_ne!(about_eli, about_fay);
    let inbox = g.get("/portal/messages").await.text();
    assert!(row(&inbox, &about_eli).unwrap().contains("About Eli Evans"));
    assert!(row(&inbox, &about_fay).unwrap().contains("About Fay Evans"));
    let t = g.get(&format!("/portal/messages/{about_fay}")).await.text();
    assert!(t.contains(&format!("id=\"thread-patient\"><a href=\"/portal/patients/{fay}\">Fay Evans</a>")), "{t}");
    assert!(t.contains(&format!("id=\"switch-{fay}\" aria-current=\"page\"")), "the switcher marks Fay");

    // Each home links to messages about that child.
    let home = g.get(&format!("/portal/patients/{eli}")).await.text();
    assert!(home.contains(&format!("href=\"/portal/messages/new?patient={eli}\"")), "{home}");

    // Staff reply about Fay: the badge counts it.
    staff_replies(&world, &clinician, &about_fay, "Please send a photo at your next visit.").await;
    assert_eq!(badge(&g.get("/portal/messages").await.text()), (true, "1".into()));

    // Fay's grant is revoked: her conversation is gone from list, search and count; its thread
    // and her form answer 404 like a missing one.
    revoke(&world, &fay, "Grace Evans").await;
    let inbox = g.get("/portal/messages").await.text();
    assert!(row(&inbox, &about_eli).is_some() && row(&inbox, &about_fay).is_none(), "{inbox}");
    assert_eq!(badge(&inbox), (false, "0".into()), "the revoked child's unread message is not counted");
    let found = g.get("/portal/messages?q=rash").await.text();
    assert!(row(&found, &about_fay).is_none() && found.contains("id=\"no-results\""));
    let gone = g.get(&format!("/portal/messages/{about_fay}")).await;
    gone.assert_status(404);
    assert_eq!(gone.body, g.get(&format!("/portal/messages/{}", missing_id())).await.body);
    g.post(&format!("/portal/messages/{about_fay}/reply"), &[("body", "Hello?")]).await.assert_status(404);
    g.get(&format!("/portal/messages/new?patient={fay}")).await.assert_status(404);
    let forged = g
        .post("/portal/messages/new", &[("patient_id", &fay), ("staff_id", &clinician), ("body", "About Fay again")])
        .await;
    forged.assert_status(404);
    // One child left: the form opens on Eli directly.
    let form = g.get("/portal/messages/new").await.text();
    assert!(form.contains("id=\"message-patient\">Eli Evans") && !form.contains("id=\"choose-patient-form\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_eligible_staff_are_offered_and_a_forged_staff_id_is_refused_with_the_text_kept() {
    let world = World::new().await;
    let mut alice = portal(&world, Caller::PortalA);

    // Nobody is available yet: a page that says so, with no form.
    let nobody = alice.get("/portal/messages/new").await;
    nobody.assert_status(200);
    assert!(nobody.text().contains("id=\"nobody-available\"") && !nobody.text().contains("id=\"new-message-form\""));

    let clinician = world.id(Caller::Clinician).to_owned();
    let manager = world.id(Caller::PracticeManager).to_owned();
    let desk_b = world.id(Caller::FrontDeskB).to_owned();
    let desk = world.id(Caller::FrontDesk).to_owned();
    for s in [&clinician, &manager, &desk_b] {
        set_available(&world, s, true).await;
    }
    let html = alice.get("/portal/messages/new").await.text();
    assert!(html.contains("Cleo Clinician") && html.contains("Pat Manager"), "{html}");
    assert!(!html.contains("Fran Desk"), "no permission: not offered");
    assert!(!html.contains("Bea Desk"), "another location: not offered");

    // Forged choices: the same readable refusal, with what was typed kept.
    for forged in [desk.as_str(), desk_b.as_str(), &missing_id(), "not-an-id"] {
        let res = alice
            .post(
                "/portal/messages/new",
                &[
                    ("patient_id", &world.patient_a),
                    ("staff_id", forged),
                    ("subject", "Forged"),
                    ("body", "A message I typed with care"),
                    ("idempotency_key", "forged-key-1"),
                ],
            )
            .await;
        res.assert_status(409);
        let html = res.text();
        assert!(html.contains("The person you chose cannot receive messages about Alice Anders"), "{forged}: {html}");
        assert!(html.contains(">A message I typed with care</textarea>") && html.contains("value=\"Forged\""));
        assert!(html.contains("Cleo Clinician"), "the list is offered again");
    }
    let inbox = alice.get("/portal/messages").await.text();
    assert_eq!(rows_listed(&inbox), 0, "nothing was sent");

    // Care-team mode: only the patient's care team is offered (the clinician, not the manager).
    portal_messaging::settings::set_portal_messaging_recipients(world.db(), &Actor::system(), "care_team")
        .await
        .expect("care-team mode");
    let html = alice.get("/portal/messages/new").await.text();
    assert!(html.contains("Cleo Clinician") && !html.contains("Pat Manager"), "{html}");
    let res = alice
        .post(
            "/portal/messages/new",
            &[("patient_id", &world.patient_a), ("staff_id", &manager), ("body", "To the manager")],
        )
        .await;
    res.assert_status(409);
    write(&mut alice, &world.patient_a, &clinician, "", "To my clinician").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_archive_unarchive_and_a_reply_brings_the_conversation_back() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let id = write(&mut alice, &world.patient_a, &clinician, "Appointment", "Can I move my appointment?").await;

    let page = alice.get(&format!("/portal/messages/{id}")).await.text();
    let key = hidden_key(&page);
    let res = alice
        .post(&format!("/portal/messages/{id}/reply"), &[("body", "Tuesday would suit me."), ("idempotency_key", &key)])
        .await;
    assert!(res.location().starts_with(&format!("/portal/messages/{id}#message-")), "{}", res.location());
    let html = alice.get(&format!("/portal/messages/{id}")).await.text();
    let first = html.find("Can I move my appointment?").unwrap();
    let second = html.find("Tuesday would suit me.").unwrap();
    assert!(first < second, "oldest first");

    // Archive: out of Active, into Archived.
    let res = alice.post(&format!("/portal/messages/{id}/archive"), &[]).await;
    assert_eq!(res.location(), "/portal/messages?done=archived");
    let active = alice.get("/portal/messages?done=archived").await.text();
    assert!(row(&active, &id).is_none() && active.contains("id=\"archived-notice\""));
    let archived = alice.get("/portal/messages?folder=archived").await.text();
    assert!(row(&archived, &id).is_some(), "{archived}");
    assert!(archived.contains("id=\"folder-archived\" aria-current=\"page\""));
    let thread = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert!(thread.contains("id=\"unarchive\"") && thread.contains("id=\"thread-archived\""));

    // Unarchive: back in Active.
    let res = alice.post(&format!("/portal/messages/{id}/unarchive"), &[]).await;
    assert_eq!(res.location(), format!("/portal/messages/{id}?done=unarchived"));
    assert!(alice.get(&res.location()).await.text().contains("id=\"unarchived-notice\""));
    assert!(row(&alice.get("/portal/messages").await.text(), &id).is_some());

    // Archived again, then her own reply brings it back to Active.
    alice.post(&format!("/portal/messages/{id}/archive"), &[]).await;
    let page = alice.get(&format!("/portal/messages/{id}")).await.text();
    let res = alice
        .post(
            &format!("/portal/messages/{id}/reply"),
            &[("body", "Or Wednesday."), ("idempotency_key", &hidden_key(&page))],
        )
        .await;
    assert_eq!(res.code(), 303);
    assert!(row(&alice.get("/portal/messages").await.text(), &id).is_some(), "a reply unarchives");

    // Archived again; the clinic's reply brings it back too, with the unread dot and the count.
    alice.post(&format!("/portal/messages/{id}/archive"), &[]).await;
    staff_replies(&world, &clinician, &id, "Wednesday at 10 is booked.").await;
    let active = alice.get("/portal/messages").await.text();
    assert!(row(&active, &id).expect("back in Active").contains("is-unread"));
    assert_eq!(badge(&active), (true, "1".into()));
    let thread = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert!(thread.contains("message-new"), "the new message is marked");
    assert_eq!(badge(&thread), (false, "0".into()), "opening the thread marks it read");
    assert!(!row(&alice.get("/portal/messages").await.text(), &id).unwrap().contains("is-unread"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_post_of_one_form_sends_once() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let form = alice.get("/portal/messages/new").await.text();
    let key = hidden_key(&form);
    let fields = [
        ("patient_id", world.patient_a.as_str()),
        ("staff_id", clinician.as_str()),
        ("subject", "Twice?"),
        ("body", "Sent with a double click."),
        ("idempotency_key", key.as_str()),
    ];
    let first = alice.post("/portal/messages/new", &fields).await;
    let second = alice.post("/portal/messages/new", &fields).await;
    let id = conversation_of(&first);
    assert_eq!(conversation_of(&second), id, "the retry lands on the same thread");
    assert_eq!(rows_listed(&alice.get("/portal/messages").await.text()), 1);

    let page = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert_eq!(page.matches("Sent with a double click.").count(), 1);
    let reply_key = hidden_key(&page);
    assert_ne!(reply_key, key, "each form gets its own key");
    let reply = [("body", "A reply, also clicked twice."), ("idempotency_key", reply_key.as_str())];
    let a = alice.post(&format!("/portal/messages/{id}/reply"), &reply).await;
    let b = alice.post(&format!("/portal/messages/{id}/reply"), &reply).await;
    assert_eq!(a.location(), b.location());
    let page = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert_eq!(page.matches("A reply, also clicked twice.").count(), 1, "{page}");

    // The same key with another text (edited after the first went through): refused, text kept,
    // and a fresh key so that sending again sends it.
    let changed = alice
        .post(
            &format!("/portal/messages/{id}/reply"),
            &[("body", "An edited reply."), ("idempotency_key", reply_key.as_str())],
        )
        .await;
    changed.assert_status(422);
    let html = changed.text();
    assert!(html.contains("already used to send a different message") && html.contains(">An edited reply.</textarea>"));
    let fresh = hidden_key(&html);
    assert_ne!(fresh, reply_key);
    let res = alice
        .post(&format!("/portal/messages/{id}/reply"), &[("body", "An edited reply."), ("idempotency_key", &fresh)])
        .await;
    assert_eq!(res.code(), 303);
    assert_eq!(alice.get(&format!("/portal/messages/{id}")).await.text().matches("An edited reply.").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_needs_three_characters_and_finds_by_keyword_or_name() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let id = write(&mut alice, &world.patient_a, &clinician, "Lab results", "Are my cholesterol numbers back?").await;
    let other = write(&mut alice, &world.patient_a, &clinician, "Parking", "Where do I park?").await;

    let short = alice.get("/portal/messages?q=ch").await;
    short.assert_status(422);
    let html = short.text();
    assert!(html.contains("Enter at least 3 characters") && html.contains("value=\"ch\""), "{html}");
    assert!(html.contains("id=\"clear-search\"") && html.contains("href=\"#search-q\""));
    assert_eq!(rows_listed(&html), 2, "the list stays below the message");

    let found = alice.get("/portal/messages?q=cholesterol").await;
    found.assert_status(200);
    let html = found.text();
    assert!(row(&html, &id).is_some() && row(&html, &other).is_none(), "{html}");
    assert!(html.contains("value=\"cholesterol\"") && html.contains("href=\"/portal/messages\" id=\"clear-search\""));
    // By the staff member's name, prefix of a word, Active and Archived alike.
    alice.post(&format!("/portal/messages/{id}/archive"), &[]).await;
    let html = alice.get("/portal/messages?q=Cleo").await.text();
    assert!(row(&html, &id).expect("archived ones are found").contains("Archived") && row(&html, &other).is_some());
    let none = alice.get("/portal/messages?q=zebra").await;
    none.assert_status(200);
    assert!(none.text().contains("id=\"no-results\""));
    // A blank search is the list.
    assert_eq!(alice.get("/portal/messages?q=+").await.code(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_badge_counts_unread_messages_on_every_portal_page() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let home = alice.get(&format!("/portal/patients/{}", world.patient_a)).await.text();
    assert_eq!(badge(&home), (false, "0".into()), "hidden at zero");
    assert!(home.contains("<script src=\"/static/unread-count.js\" defer></script>"));
    assert!(home.contains("id=\"portal-nav-messages\"") && home.contains("id=\"send-message-about\""));

    let first = staff_writes_to_alice(&world, &clinician, "Your results", "Your results are in.").await;
    staff_replies(&world, &clinician, &first, "Nothing to worry about.").await;
    staff_writes_to_alice(&world, &clinician, "Reminder", "Your visit is on Friday.").await;
    for page in [format!("/portal/patients/{}", world.patient_a), "/portal/account".into(), "/portal/messages".into()] {
        assert_eq!(badge(&alice.get(&page).await.text()), (true, "3".into()), "{page}");
    }
    let inbox = alice.get("/portal/messages").await.text();
    assert!(row(&inbox, &first).unwrap().contains("2 unread messages"), "the row says how many");
    let thread = alice.get(&format!("/portal/messages/{first}")).await.text();
    assert_eq!(thread.matches("message-new").count(), 2);
    assert_eq!(badge(&thread), (true, "1".into()));
    // Bob's count is his own.
    assert_eq!(badge(&portal(&world, Caller::PortalB).get("/portal/messages").await.text()), (false, "0".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_is_no_longer_allowed_shows_the_thread_read_only_with_the_reason() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let id = write(&mut alice, &world.patient_a, &clinician, "Question", "A first question.").await;
    let page = alice.get(&format!("/portal/messages/{id}")).await.text();
    let key = hidden_key(&page);

    set_available(&world, &clinician, false).await;
    let thread = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert!(thread.contains("id=\"read-only\"") && !thread.contains("id=\"reply-form\""), "{thread}");
    assert!(thread.contains("Cleo Clinician is not available for portal messages."), "{thread}");
    assert!(thread.contains("A first question."), "still readable");
    assert!(!alice.get("/portal/messages/new").await.text().contains("Cleo Clinician"), "no longer offered");

    // A reply typed before the change: refused with the reason, the text kept to copy.
    let res = alice
        .post(&format!("/portal/messages/{id}/reply"), &[("body", "My follow-up question."), ("idempotency_key", &key)])
        .await;
    res.assert_status(409);
    let html = res.text();
    assert!(html.contains("Your reply was not sent") && html.contains("is not available for portal messages"));
    assert!(html.contains(">My follow-up question.</textarea>") && html.contains("id=\"unsent-body\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_readable_page_with_what_was_typed_never_a_500() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let pa = world.patient_a.clone();
    let fields = |staff: &str, subject: &str, body: &str| {
        vec![
            ("patient_id".to_owned(), pa.clone()),
            ("staff_id".to_owned(), staff.to_owned()),
            ("subject".to_owned(), subject.to_owned()),
            ("body".to_owned(), body.to_owned()),
        ]
    };
    async fn post(b: &mut Browser<'_>, fields: Vec<(String, String)>) -> TestResponse {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/portal/messages/new", &pairs).await
    }

    // Empty body and no one chosen: both said at once, the subject kept.
    let res = post(&mut alice, fields("", "Kept subject", "   ")).await;
    res.assert_status(422);
    let html = res.text();
    assert!(html.contains("Write your message before sending it.") && html.contains("Choose who to write to."));
    assert!(
        html.contains("value=\"Kept subject\"")
            && html.contains("href=\"#body\"")
            && html.contains("href=\"#staff_id\"")
    );

    let long = "a".repeat(10_001);
    let res = post(&mut alice, fields(&clinician, &"x".repeat(201), &long)).await;
    res.assert_status(422);
    let html = res.text();
    assert!(html.contains("Your message must be at most 10000 characters"), "{html}");
    assert!(html.contains("Subject must be at most 200 characters"));
    assert!(html.contains(&format!(">{long}</textarea>")), "the long text is kept");
    assert!(html.contains(&format!("value=\"{clinician}\" selected")), "the choice is kept");

    let res = post(&mut alice, fields(&clinician, "", "bell \u{7} here")).await;
    res.assert_status(422);
    assert!(res.text().contains("Your message contains characters that are not allowed"));

    let thread = write(&mut alice, &pa, &clinician, "", "Fine.").await;
    let res = alice.post(&format!("/portal/messages/{thread}/reply"), &[("body", "")]).await;
    res.assert_status(422);
    assert!(res.text().contains("Write your reply before sending it."));

    // Malformed ids: the portal's 404 page, like a missing conversation or patient.
    let missing = alice.get(&format!("/portal/messages/{}", missing_id())).await;
    for url in ["/portal/messages/not-an-id", "/portal/messages/%FF%FE", "/portal/messages/new?patient=not-an-id"] {
        let res = alice.get(url).await;
        res.assert_status(404);
        assert_eq!(res.body, missing.body, "{url}");
    }
    for action in ["reply", "archive", "unarchive"] {
        alice.post(&format!("/portal/messages/not-an-id/{action}"), &[("body", "x")]).await.assert_status(404);
    }
    let res = alice
        .post("/portal/messages/new", &[("patient_id", "not-an-id"), ("staff_id", &clinician), ("body", "Hello")])
        .await;
    res.assert_status(404);

    // A page link that was tampered with shows the newest page; an unknown section is Active.
    let res = alice.get("/portal/messages?after=garbage").await;
    res.assert_status(200);
    assert!(res.text().contains("id=\"bad-page-link\"") && row(&res.text(), &thread).is_some());
    let res = alice.get("/portal/messages?folder=bogus").await;
    res.assert_status(200);
    assert!(res.text().contains("id=\"folder-active\" aria-current=\"page\""));

    // Unreadable forms and addresses: readable pages.
    let res = alice.get("/portal/messages?q=%00abc").await;
    res.assert_status(400);
    let res =
        alice.post("/portal/messages/new", &[("patient_id", &pa), ("staff_id", &clinician), ("body", "nul\0")]).await;
    res.assert_status(400);
    assert!(res.text().contains("The form could not be read"));
    assert_eq!(rows_listed(&alice.get("/portal/messages").await.text()), 1, "only the one good message was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_25_conversations_a_page_with_a_link_to_older_ones() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let mut ids = Vec::new();
    for n in 0..26 {
        let res = alice
            .post(
                "/portal/messages/new",
                &[("patient_id", &world.patient_a), ("staff_id", &clinician), ("body", &format!("Message {n}"))],
            )
            .await;
        ids.push(conversation_of(&res));
    }
    let first = alice.get("/portal/messages").await.text();
    assert_eq!(rows_listed(&first), 25);
    assert!(row(&first, &ids[0]).is_none(), "the oldest is on the next page");
    assert!(first.contains("No subject"));
    let marker = "id=\"next-page\"";
    assert!(first.contains(marker), "{first}");
    let href_end = first.find(marker).unwrap();
    let href = first[..href_end].rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let second = alice.get(&href).await;
    second.assert_status(200);
    let html = second.text();
    assert_eq!(rows_listed(&html), 1);
    assert!(row(&html, &ids[0]).is_some() && !html.contains(marker) && html.contains("id=\"newest-page\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_thread_shows_the_newest_200_and_a_link_to_earlier_ones() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let id = write(&mut alice, &world.patient_a, &clinician, "Long", "m0").await;
    let caller = MessagingCaller::staff(&staff_actor(&world, &clinician).await).expect("staff");
    for i in 1..205 {
        send::reply(world.db(), &caller, &id, ReplyInput { body: format!("m{i}"), idempotency_key: None })
            .await
            .expect("reply");
    }
    let html = alice.get(&format!("/portal/messages/{id}")).await.text();
    assert_eq!(html.matches("<li class=\"message").count(), 200, "the newest 200");
    assert!(html.contains(">m204<") && !html.contains(">m4<"));
    let marker = "id=\"show-earlier\"";
    let at = html.find(marker).unwrap_or_else(|| panic!("no earlier link: {html}"));
    let href = html[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let earlier = alice.get(&href).await;
    earlier.assert_status(200);
    let html = earlier.text();
    assert_eq!(html.matches("<li class=\"message").count(), 5);
    assert!(html.contains(">m0<") && html.contains(">m4<") && !html.contains(">m5<"));
    assert!(!html.contains(marker) && html.contains("id=\"show-latest\""));
    // Another user, or a message id of another conversation: the portal's 404.
    let mut bob = portal(&world, Caller::PortalB);
    assert_eq!(bob.get(&href).await.code(), 404);
    let other = write(&mut alice, &world.patient_a, &clinician, "Other", "x").await;
    let first_of_other = {
        let t = alice.get(&format!("/portal/messages/{other}")).await.text();
        let at = t.find("id=\"message-").unwrap() + "id=\"message-".len();
        t[at..].split('"').next().unwrap().to_owned()
    };
    assert_eq!(alice.get(&format!("/portal/messages/{id}?before={first_of_other}")).await.code(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_messages_page_says_not_available_while_the_portal_is_off() {
    let (world, clinician) = world_with_clinician().await;
    let mut alice = portal(&world, Caller::PortalA);
    let id = write(&mut alice, &world.patient_a, &clinician, "", "Before the portal closed.").await;
    world
        .db()
        .write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await }))
        .await
        .expect("portal off");
    for page in ["/portal/messages".to_owned(), "/portal/messages/new".into(), format!("/portal/messages/{id}")] {
        let res = alice.get(&page).await;
        res.assert_status(503);
        assert!(res.text().contains("The patient portal is not available"), "{page}");
    }
    let new = [("patient_id", world.patient_a.as_str()), ("staff_id", clinician.as_str()), ("body", "Hello")];
    alice.post("/portal/messages/new", &new).await.assert_status(503);
    for action in ["reply", "archive", "unarchive"] {
        alice.post(&format!("/portal/messages/{id}/{action}"), &[("body", "Hello")]).await.assert_status(503);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_visitors_go_to_the_sign_in_page_and_come_back() {
    let world = World::new().await;
    let mut anon = Browser::new(&world.app);
    let res = anon.get("/portal/messages?folder=archived").await;
    assert!(res.location().starts_with("/portal/sign-in?next=/portal/messages"), "{}", res.location());
    let res = anon.post("/portal/messages/new", &[("body", "x")]).await;
    assert_eq!(res.location(), "/portal/sign-in");
}
