//! The staff pages for portal access, driven in-process with staff sessions: the status pill in
//! the patient list and the chart, the chart's Portal tab (access level, invitations, the PHI
//! warning, credentials at the desk, Link User by Email, revoking), the Onboarding Tool (filters,
//! a red box clicked, a bulk run followed to its summary) and the auto-enable setting. Every
//! rule about who may do what is tested from the side of the person refused.

mod common;

use std::time::Duration;

use common::{Caller, PASSWORD, TestRequest, TestResponse, World, patient_input};
use portal_core::Actor;
use portal_core::events::DomainEvent;
use portal_core::portal_access::PortalAccessLevel;
use portal_core::portal_accounts::GrantScope;

fn form(uri: impl Into<String>, body: &str) -> TestRequest {
    TestRequest::post(uri).raw(Some("application/x-www-form-urlencoded"), body.as_bytes().to_vec())
}

fn enc(s: &str) -> String {
    portal_http::extract::urlencode(s)
}

/// A patient of location A named "Ann <last>", with an e-mail (`ann.<last>@example.test`), a ZIP
/// code when `zip`, and portal access when `enable`.
async fn patient(w: &World, last: &str, zip: bool, enable: bool) -> String {
    let mut input = patient_input("Ann", last, "1980-01-02", &w.location_a);
    if zip {
        input.zip = Some("62701".into());
    }
    let id = portal_practice::patients::create(w.db(), &Actor::system(), input).await.expect("patient").id;
    if enable {
        portal_practice::portal_access::set_access_level(w.db(), &Actor::system(), &id, PortalAccessLevel::CanAccess)
            .await
            .expect("enable");
    }
    id
}

fn email_of(last: &str) -> String {
    format!("ann.{}@example.test", last.to_lowercase())
}

async fn invite_patient(w: &World, id: &str) {
    portal_auth::invitations::invite(
        w.db(),
        &Actor::system(),
        id,
        portal_auth::invitations::InviteInput {
            to: portal_auth::invitations::InviteTo::Patient,
            relation: None,
            scopes: None,
            ends_on: None,
            message: None,
            intake_form_ids: vec![],
            phi_warning_acknowledged: false,
        },
    )
    .await
    .expect("invite");
}

async fn get(w: &World, caller: Caller, uri: &str) -> TestResponse {
    w.send_as(caller, TestRequest::get(uri)).await
}

async fn post(w: &World, caller: Caller, uri: &str, body: &str) -> TestResponse {
    w.send_as(caller, form(uri, body)).await
}

#[track_caller]
fn redirected_to(res: &TestResponse) -> String {
    res.assert_status(303);
    res.header("location").expect("a Location header").to_owned()
}

/// The `<tr>` of `id` in a page (up to the end of the row).
fn row<'a>(body: &'a str, id: &str) -> Option<&'a str> {
    let start = body.find(&format!(r#"id="row-{id}""#))?;
    let end = body[start..].find("</tr>").map_or(body.len(), |e| start + e);
    Some(&body[start..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_pills_show_every_colour_with_words_in_the_list_and_the_chart() {
    let w = World::new().await;
    let red = patient(&w, "Redd", false, false).await;
    let gray = patient(&w, "Grayson", true, true).await;
    let orange = patient(&w, "Orangeman", true, true).await;
    invite_patient(&w, &orange).await;
    // Patient A's own portal user has signed in: green.
    let cases = [
        (&red, "red", "Not enabled"),
        (&gray, "gray", "Enabled, not invited"),
        (&orange, "orange", "Invited, not signed in"),
        (&w.patient_a, "green", "Signed in"),
    ];
    let list = get(&w, Caller::FrontDesk, "/patients").await;
    list.assert_status(200);
    let body = list.text();
    for (id, colour, words) in cases {
        let start = body.find(&format!(r#"href="/patients/{id}""#)).expect("the patient is listed");
        let tr = &body[start..start + body[start..].find("</tr>").expect("row end")];
        assert!(
            tr.contains(&format!(
                r#"<span class="pill pill-{colour} portal-pill" data-portal-status="{colour}">{words}</span>"#
            )),
            "{colour}: {tr}"
        );
        let chart = get(&w, Caller::FrontDesk, &format!("/patients/{id}")).await;
        chart.assert_status(200);
        let chart = chart.text();
        assert!(chart.contains(&format!(r#"data-portal-status="{colour}">{words}<"#)), "{colour} in the chart");
        assert!(chart.contains(r#"id="portal-status-hint""#));
    }
    // The red chart says why and what to do (seed 002's troubleshooting).
    let chart = get(&w, Caller::FrontDesk, &format!("/patients/{red}")).await.text();
    assert!(chart.contains("<li>Patient Portal access is not enabled</li>"));
    assert!(chart.contains("<li>no zip code on file</li>"));
    assert!(chart.contains("Patient Can Access Portal"), "seed 002's troubleshooting hint");
    let green = get(&w, Caller::FrontDesk, &format!("/patients/{}", w.patient_a)).await.text();
    assert!(green.contains("I forgot my password"));
    // Billing (View Patients only) sees the pills too.
    let list = get(&w, Caller::Billing, "/patients").await;
    assert!(list.text().contains(r#"data-portal-status="gray">Enabled, not invited"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_without_a_zip_code_is_refused_with_the_reason_and_works_once_it_is_on_file() {
    let w = World::new().await;
    let id = patient(&w, "Nozip", false, false).await;
    let tab = format!("/patients/{id}/portal");
    let page = get(&w, Caller::FrontDesk, &tab).await;
    page.assert_status(200);
    assert!(page.text().contains("only he or she has access"), "the privacy note is shown before enabling");
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/access"), "access_level=can_access").await;
    res.assert_status(409);
    let body = res.text();
    assert!(body.contains("Add the patient&#39;s home ZIP code before enabling portal access"), "{body}");
    assert!(body.contains(r#"<option value="can_access" selected>"#), "the choice is kept");
    w.app.exec_sql(&format!("UPDATE patients SET zip = '62701' WHERE id = '{id}'")).await;
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/access"), "access_level=can_access").await;
    assert_eq!(redirected_to(&res), format!("{tab}?access_saved=1#access"));
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?access_saved=1")).await.text();
    assert!(page.contains(r#"data-portal-status="gray">Enabled, not invited"#));
    assert!(page.contains("The access level has been saved."));
    // A value that is not a level is a field error, not a crash.
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/access"), "access_level=maybe").await;
    res.assert_status(422);
    assert!(res.text().contains(r#"id="access_level-error""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invitation_from_the_portal_tab_queues_a_link_and_turns_the_patient_orange() {
    let w = World::new().await;
    let id = patient(&w, "Invitee", true, true).await;
    let tab = format!("/patients/{id}/portal");
    let page = get(&w, Caller::FrontDesk, &tab).await.text();
    let email = email_of("Invitee");
    assert!(page.contains(&format!("Send invitation e-mail to {email}")), "{page}");
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/invite"), "to=patient").await;
    assert_eq!(redirected_to(&res), format!("{tab}?sent=invitation#invite-patient"));
    let token = common::last_link_to(w.db(), &email).await;
    assert!(token.len() >= 22, "a real token");
    let issued = common::outbox_events(w.db()).await.into_iter().any(|e| {
        matches!(e, DomainEvent::AccountLinkIssued { ref to, patient_id: Some(ref p), .. } if *to == email && *p == id)
    });
    assert!(issued, "an AccountLinkIssued event names the patient");
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?sent=invitation")).await.text();
    assert!(page.contains(r#"data-portal-status="orange">Invited, not signed in"#));
    assert!(page.contains("An invitation e-mail has been sent."));
    // Patient A has a password already: the button offers a reset.
    let page = get(&w, Caller::FrontDesk, &format!("/patients/{}/portal", w.patient_a)).await.text();
    assert!(page.contains("Send reset e-mail to"));
    assert!(page.contains(r#"id="portal-username">alice.anders<"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inviting_a_contact_needs_the_phi_warning_ticked() {
    let w = World::new().await;
    let contact = portal_practice::patients::add_contact(
        w.db(),
        &Actor::system(),
        &w.patient_a,
        portal_practice::patients::ContactInput {
            kind: "guardian".into(),
            first_name: "Gail".into(),
            last_name: "Guard".into(),
            relation: Some("Mother".into()),
            email: Some("gail.guard@example.test".into()),
            phone: None,
        },
    )
    .await
    .expect("contact")
    .id;
    let chart = get(&w, Caller::FrontDesk, &format!("/patients/{}", w.patient_a)).await.text();
    let tab = format!("/patients/{}/portal", w.patient_a);
    assert!(chart.contains(&format!(r##"href="{tab}?contact={contact}#invite-contact""##)), "the Contacts tab invites");
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?contact={contact}")).await.text();
    assert!(page.contains(&format!(r#"<option value="{contact}" selected>Gail Guard (Guardian)"#)));
    assert!(
        page.contains(
            "A portal invitation grants the recipient access to the patient&#39;s protected health information"
        )
    );
    let base =
        format!("to=contact&contact_id={contact}&scope_messages=on&scope_appointments=on&message=Please+fill+in");
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/invite"), &base).await;
    res.assert_status(422);
    let body = res.text();
    assert!(body.contains(r#"id="contact-phi_warning_acknowledged-error""#), "{body}");
    assert!(body.contains("Confirm that the recipient is authorized to see the patient&#39;s health information"));
    assert!(body.contains(r#"id="contact-scope_messages" name="scope_messages" value="on" checked"#), "ticks kept");
    assert!(!body.contains(r#"id="contact-scope_billing" name="scope_billing" value="on" checked"#));
    assert!(body.contains("Please fill in</textarea>"), "the message is kept");
    let sent = common::outbox_events(w.db())
        .await
        .into_iter()
        .any(|e| matches!(e, DomainEvent::AccountLinkIssued { ref to, .. } if to == "gail.guard@example.test"));
    assert!(!sent, "nothing was sent without the warning");
    let res =
        post(&w, Caller::FrontDesk, &format!("{tab}/invite"), &format!("{base}&phi_warning_acknowledged=on")).await;
    assert_eq!(redirected_to(&res), format!("{tab}?sent=invitation#portal-users"));
    common::last_link_to(w.db(), "gail.guard@example.test").await;
    let users = portal_auth::portal_grants::portal_users(w.db(), &Actor::system(), &w.patient_a).await.expect("users");
    let g = users.iter().find(|u| u.email == "gail.guard@example.test").expect("the contact's grant");
    assert_eq!(g.relation, portal_core::events::Relation::Guardian, "the relation follows the contact's kind");
    assert_eq!(g.scopes.as_slice(), &[GrantScope::Messages, GrantScope::Appointments]);
    let page = get(&w, Caller::FrontDesk, &tab).await.text();
    let row = &page[page.find(&format!(r#"id="grant-{}""#, g.grant_id)).expect("listed")..];
    assert!(row.contains("Guardian") && row.contains("Secure messages, Appointments"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designated_user_needs_a_name_and_an_address_and_keeps_what_was_typed() {
    let w = World::new().await;
    let tab = format!("/patients/{}/portal", w.patient_a);
    let body = "to=designated&name=&email=not-an-address&relation=other&phi_warning_acknowledged=on&scope_billing=on";
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/invite"), body).await;
    res.assert_status(422);
    let page = res.text();
    assert!(page.contains(r##"<a href="#designated-name">"##) && page.contains(r##"<a href="#designated-email">"##));
    assert!(page.contains(r#"value="not-an-address""#));
    assert!(page.contains(r#"<details class="add-form" id="invite-designated" open>"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_ends_access_at_the_portal_users_next_request() {
    let w = World::new().await;
    let portal_token = w.token(Caller::PortalA).expect("portal token").to_owned();
    let state = &w.app.state;
    let principal = |t: String| async move {
        portal_auth::portal_sessions::authenticate_portal(state.db(), &state.app().portal_sessions, &t)
            .await
            .expect("authenticate")
            .expect("a live session")
            .principal
    };
    let pid = portal_core::ids::PatientId::parse(&w.patient_a).expect("id");
    assert!(principal(portal_token.clone()).await.require(&pid, GrantScope::Messages).is_ok());
    let users = portal_auth::portal_grants::portal_users(w.db(), &Actor::system(), &w.patient_a).await.expect("users");
    let grant = users[0].grant_id.clone();
    let tab = format!("/patients/{}/portal", w.patient_a);
    let page = get(&w, Caller::FrontDesk, &tab).await.text();
    assert!(page.contains(&format!(r#"id="revoke-{grant}" data-confirm="Revoke "#)), "revoking asks first");
    // Someone of another location, and someone without Edit Patients, cannot revoke it.
    let res = post(&w, Caller::FrontDeskB, &format!("{tab}/grants/{grant}/revoke"), "").await;
    res.assert_status(404);
    let res = post(&w, Caller::Billing, &format!("{tab}/grants/{grant}/revoke"), "").await;
    res.assert_status(403);
    assert!(principal(portal_token.clone()).await.require(&pid, GrantScope::Messages).is_ok());
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/grants/{grant}/revoke"), "").await;
    assert_eq!(redirected_to(&res), format!("{tab}?revoked=1#portal-users"));
    // The same session, its next request: patient A answers like a missing one.
    let p = principal(portal_token).await;
    assert_eq!(p.require(&pid, GrantScope::Messages), Err(portal_core::AccessError::NotFound));
    let page = get(&w, Caller::FrontDesk, &tab).await.text();
    assert!(page.contains(&format!(r#"id="grant-{grant}" data-grant-state="revoked""#)));
    assert!(!page.contains(&format!(r#"id="revoke-{grant}""#)), "a revoked grant offers no revoke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_grant_needs_at_least_one_part_of_the_portal() {
    let w = World::new().await;
    let users = portal_auth::portal_grants::portal_users(w.db(), &Actor::system(), &w.patient_a).await.expect("users");
    let grant = users[0].grant_id.clone();
    let uri = format!("/patients/{}/portal/grants/{grant}", w.patient_a);
    let res = post(&w, Caller::FrontDesk, &uri, "ends_on=").await;
    res.assert_status(422);
    assert!(res.text().contains(r##"<a href="#portal-users-scopes">"##));
    let res = post(&w, Caller::FrontDesk, &uri, "scope_messages=on&ends_on=2999-12-31").await;
    redirected_to(&res);
    let users = portal_auth::portal_grants::portal_users(w.db(), &Actor::system(), &w.patient_a).await.expect("users");
    assert_eq!(users[0].scopes.as_slice(), &[GrantScope::Messages]);
    assert_eq!(users[0].ends_on.map(|d| d.to_string()).as_deref(), Some("2999-12-31"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_at_the_desk_and_link_user_by_email() {
    let w = World::new().await;
    let id = patient(&w, "Desk", true, true).await;
    let tab = format!("/patients/{id}/portal");
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?check_username=alice.anders")).await.text();
    assert!(page.contains(r#"id="username-availability" class="username-taken""#));
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?check_username=ann.desk")).await.text();
    assert!(page.contains(r#"id="username-availability" class="username-free""#));
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/credentials"), "username=alice.anders&password=short").await;
    res.assert_status(422);
    let body = res.text();
    assert!(body.contains(r#"id="credentials-password-error""#) && body.contains(r#"id="credentials-username-error""#));
    assert!(!body.contains(r#"value="short""#), "a password is never written back into the page");
    let body = format!("username=ann.desk&password={}", enc(PASSWORD));
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/credentials"), &body).await;
    assert_eq!(redirected_to(&res), format!("{tab}?credentials_set=1#credentials"));
    let page = get(&w, Caller::FrontDesk, &tab).await.text();
    assert!(page.contains(r#"id="portal-username">ann.desk<"#));

    // Link User by Email: patient B's portal user gets access to this patient on the same account.
    let b_email = w.account(Caller::PortalB).email.clone();
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?link_email={}", enc(&b_email))).await.text();
    let account_id = w.id(Caller::PortalB).to_owned();
    assert!(page.contains(&format!(r#"name="account_id" value="{account_id}""#)), "{page}");
    let body = format!(
        "to=account&email={}&account_id={account_id}&relation=guardian&scope_messages=on&phi_warning_acknowledged=on",
        enc(&b_email)
    );
    let res = post(&w, Caller::FrontDesk, &format!("{tab}/invite"), &body).await;
    redirected_to(&res);
    let users = portal_auth::portal_grants::portal_users(w.db(), &Actor::system(), &id).await.expect("users");
    assert!(users.iter().any(|u| u.account_id == account_id && u.relation == portal_core::events::Relation::Guardian));
    let page = get(&w, Caller::FrontDesk, &format!("{tab}?link_email=nobody%40example.test")).await.text();
    assert!(page.contains(r#"id="link-user-none""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onboarding_tool_filters_counts_and_turns_a_red_box_gray() {
    let w = World::new().await;
    let red = patient(&w, "Tooltest", true, false).await;
    let no_zip = patient(&w, "Tooltestnozip", false, false).await;
    let gray = patient(&w, "Toolgray", true, true).await;
    let page = get(&w, Caller::FrontDesk, "/onboarding?q=tool").await;
    page.assert_status(200);
    let body = page.text();
    assert!(row(&body, &red).is_some() && row(&body, &gray).is_some() && row(&body, &w.patient_a).is_none());
    assert!(body.contains(r#"id="count-red""#) && body.contains(r#"<span class="count">2</span>"#), "two red");
    assert!(row(&body, &gray).expect("gray row").contains(&format!("Send Invite to {}", email_of("Toolgray"))));
    assert!(!row(&body, &red).expect("red row").contains("Send Invite"), "red rows carry no invitation");
    let body = get(&w, Caller::FrontDesk, "/onboarding?q=tool&status=red").await.text();
    assert!(row(&body, &red).is_some() && row(&body, &gray).is_none());
    let body = get(&w, Caller::FrontDesk, "/onboarding?status=purple").await;
    body.assert_status(422);
    // Clicking the red box enables access; the filters come back.
    let res = post(&w, Caller::FrontDesk, &format!("/onboarding/patients/{red}/enable"), "q=tool&status=&page=1").await;
    let to = redirected_to(&res);
    assert_eq!(to, "/onboarding?q=tool&page=1&done=enabled");
    let body = get(&w, Caller::FrontDesk, &to).await.text();
    assert!(row(&body, &red).expect("row").contains(r#"data-portal-status="gray""#));
    assert!(body.contains("Portal access has been enabled."));
    // A red row without a ZIP code says what is missing.
    let res = post(&w, Caller::FrontDesk, &format!("/onboarding/patients/{no_zip}/enable"), "q=tool").await;
    res.assert_status(409);
    let body = res.text();
    assert!(body.contains("Nothing was done for Ann Tooltestnozip"));
    assert!(body.contains("Add the patient&#39;s home ZIP code before enabling portal access"));
    // "Send Invite to" sends the e-mail at once.
    let res = post(&w, Caller::FrontDesk, &format!("/onboarding/patients/{red}/invite"), "q=tool").await;
    assert_eq!(redirected_to(&res), "/onboarding?q=tool&page=1&done=invitation");
    common::last_link_to(w.db(), &email_of("Tooltest")).await;
}

async fn wait_for_job(w: &World, caller: Caller, uri: &str) -> String {
    for _ in 0..400 {
        let res = get(w, caller, uri).await;
        res.assert_status(200);
        let body = res.text();
        if !body.contains(r#"data-job-status="running""#) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job did not finish in 20 seconds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_over_fifty_patients_shows_progress_then_its_summary() {
    let w = World::new().await;
    for i in 0..50 {
        patient(&w, &format!("Bulk{i:02}"), i % 5 != 0, false).await;
    }
    let res = post(&w, Caller::FrontDesk, "/onboarding/bulk", "action=enable_invite_all&q=bulk&status=red").await;
    let job = redirected_to(&res);
    assert!(job.starts_with("/onboarding/jobs/"), "{job}");
    let body = wait_for_job(&w, Caller::FrontDesk, &job).await;
    assert!(body.contains(r#"data-job-status="finished""#), "{body}");
    assert!(body.contains(r#"<progress id="job-progress" max="50" value="50">"#));
    assert!(body.contains(r#"<dd id="summary-enabled">40</dd>"#));
    assert!(body.contains(r#"<dd id="summary-sent">40</dd>"#));
    assert!(body.contains(r#"<dd id="summary-skipped">10</dd>"#));
    assert!(body.contains("<li>10: no zip code on file</li>"));
    let p = get(&w, Caller::FrontDesk, &format!("{job}/progress")).await;
    p.assert_status(200);
    let p = p.json();
    assert_eq!(
        (p["status"].as_str(), p["processed"].as_i64(), p["sent"].as_i64()),
        (Some("finished"), Some(50), Some(40))
    );
    common::last_link_to(w.db(), &email_of("Bulk01")).await;
    // Only the job's creator sees it.
    get(&w, Caller::PracticeManager, &job).await.assert_status(404);
    get(&w, Caller::PracticeManager, &format!("{job}/progress")).await.assert_problem(404);
    get(&w, Caller::FrontDesk, "/onboarding/jobs/not-a-job").await.assert_status(404);
    let body = get(&w, Caller::FrontDesk, "/onboarding?q=bulk").await.text();
    assert!(
        body.contains(r#"data-portal-status="orange">Invited, not signed in</span> <span class="count">40</span>"#)
    );
    // Selected rows: nothing ticked is refused with the reason; two ticked are enabled.
    let res = post(&w, Caller::FrontDesk, "/onboarding/bulk", "action=enable&q=bulk").await;
    res.assert_status(409);
    assert!(res.text().contains("Select at least one patient first"));
    let a = patient(&w, "Pick", true, false).await;
    let b = patient(&w, "Pock", true, false).await;
    let res =
        post(&w, Caller::FrontDesk, "/onboarding/bulk", &format!("action=enable&patient_{a}=on&patient_{b}=on")).await;
    let job = redirected_to(&res);
    let body = wait_for_job(&w, Caller::FrontDesk, &job).await;
    assert!(body.contains(r#"<dd id="summary-enabled">2</dd>"#) && body.contains(r#"<dd id="summary-sent">0</dd>"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_of_location_b_neither_see_nor_act_on_location_a() {
    let w = World::new().await;
    let red = patient(&w, "Elsewhere", true, false).await;
    let body = get(&w, Caller::FrontDeskB, "/onboarding").await.text();
    assert!(row(&body, &red).is_none() && row(&body, &w.patient_a).is_none());
    assert!(row(&body, &w.patient_b).is_some(), "their own patient is listed");
    let body = get(&w, Caller::FrontDeskB, &format!("/onboarding?location_id={}", w.location_a)).await.text();
    assert!(row(&body, &red).is_none());
    for uri in [format!("/onboarding/patients/{red}/enable"), format!("/onboarding/patients/{}/invite", w.patient_a)] {
        post(&w, Caller::FrontDeskB, &uri, "").await.assert_status(404);
    }
    get(&w, Caller::FrontDeskB, &format!("/patients/{red}/portal")).await.assert_status(404);
    for (uri, body) in [
        (format!("/patients/{red}/portal/access"), "access_level=can_access"),
        (format!("/patients/{}/portal/invite", w.patient_a), "to=patient"),
        (format!("/patients/{red}/portal/credentials"), "username=x.y.z&password=long+enough+password"),
    ] {
        post(&w, Caller::FrontDeskB, &uri, body).await.assert_status(404);
    }
    // A bulk run naming A's patient skips it as not found and changes nothing.
    let res = post(&w, Caller::FrontDeskB, "/onboarding/bulk", &format!("action=enable&patient_{red}=on")).await;
    let job = redirected_to(&res);
    let body = wait_for_job(&w, Caller::FrontDeskB, &job).await;
    assert!(body.contains(r#"<dd id="summary-enabled">0</dd>"#) && body.contains("<li>1: not found</li>"));
    let status = portal_practice::portal_access::portal_status(w.db(), &Actor::system(), &red).await.expect("status");
    assert_eq!(status.status.colour, "red");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_sees_the_statuses_but_cannot_enable_or_invite() {
    let w = World::new().await;
    let red = patient(&w, "Billable", true, false).await;
    let gray = patient(&w, "Billgray", true, true).await;
    let tool = get(&w, Caller::Billing, "/onboarding").await;
    tool.assert_status(200);
    let body = tool.text();
    assert!(row(&body, &red).is_some(), "the list opens with View Patients");
    assert!(!body.contains(r#"id="bulk-form""#) && !body.contains(&format!(r#"id="enable-{red}""#)));
    assert!(!body.contains(r#"href="/onboarding">Onboarding</a>"#), "no Onboarding in Billing's navigation");
    let desk = get(&w, Caller::FrontDesk, "/").await.text();
    assert!(desk.contains(r#"<a href="/onboarding">Onboarding</a>"#));
    for (uri, body) in [
        (format!("/onboarding/patients/{red}/enable"), ""),
        (format!("/onboarding/patients/{gray}/invite"), ""),
        ("/onboarding/bulk".to_owned(), "action=enable_invite_all"),
        (format!("/patients/{red}/portal/access"), "access_level=can_access"),
        (format!("/patients/{gray}/portal/invite"), "to=patient"),
    ] {
        let res = post(&w, Caller::Billing, &uri, body).await;
        res.assert_status(403);
        assert!(res.text().contains("Edit Patients"), "{uri}: the page names the missing permission");
    }
    let tab = get(&w, Caller::Billing, &format!("/patients/{gray}/portal")).await;
    tab.assert_status(200);
    let body = tab.text();
    assert!(!body.contains(r#"id="access-form""#) && !body.contains(r#"id="send-patient-invite""#));
    let status = portal_practice::portal_access::portal_status(w.db(), &Actor::system(), &red).await.expect("status");
    assert_eq!(status.status.colour, "red");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_enable_setting_and_its_location_overrides() {
    let w = World::new().await;
    let page = get(&w, Caller::SuperAdmin, "/settings/instance").await;
    page.assert_status(200);
    assert!(page.text().contains("Should the patient be able to activate portal without further confirmation"));
    // Manage Portal Settings is needed, Super Admin or not.
    post(&w, Caller::SuperAdminNoSettings, "/settings/instance/auto-enable", "auto_enable=on").await.assert_status(403);
    post(&w, Caller::PracticeManager, "/settings/instance/auto-enable", "auto_enable=on").await.assert_status(403);
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/auto-enable", "auto_enable=on").await;
    assert_eq!(redirected_to(&res), "/settings/instance?auto_saved=1#auto-enable");
    let body = format!("location_id={}&value=off", w.location_b);
    redirected_to(&post(&w, Caller::SuperAdmin, "/settings/instance/auto-enable", &body).await);
    let page = get(&w, Caller::SuperAdmin, "/settings/instance").await.text();
    let a = &page[page.find(&format!(r#"id="auto-enable-{}""#, w.location_a)).expect("row A")..];
    assert!(a[..a.find("</tr>").expect("end")].contains(r#"data-effective="on""#));
    let b = &page[page.find(&format!(r#"id="auto-enable-{}""#, w.location_b)).expect("row B")..];
    let b = &b[..b.find("</tr>").expect("end")];
    assert!(b.contains(r#"data-effective="off""#) && b.contains(r#"<option value="off" selected>"#));
    assert!(page.contains(r#"id="auto-enable-history""#));
    let res = post(&w, Caller::SuperAdmin, "/settings/instance/auto-enable", "location_id=x&value=sometimes").await;
    res.assert_status(400);
    // A patient added by staff at A now starts gray; at B (override off) red.
    let at_a = patient(&w, "Autoa", true, false).await;
    let mut input = patient_input("Ann", "Autob", "1980-01-02", &w.location_b);
    input.zip = Some("62701".into());
    let at_b = portal_practice::patients::create(w.db(), &Actor::system(), input).await.expect("patient").id;
    for (id, expected) in [(at_a, "gray"), (at_b, "red")] {
        let st = portal_practice::portal_access::portal_status(w.db(), &Actor::system(), &id).await.expect("status");
        assert_eq!(st.status.colour, expected);
    }
}
