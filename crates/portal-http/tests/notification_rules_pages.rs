//! Settings > Notifications (seed 000, "Set up Notifications"), driven in-process with staff
//! sessions against a real database: the location picker, a location's rules, the new and edit
//! forms with every field, errors beside the fields with the input kept, "Send test
//! notification", deleting after a confirmation; and the refused side: only Super Admins see the
//! tab and the pages, everyone else gets a 403 page in words, unknown rules a 404 page.

mod common;

use common::{Caller, TestRequest, TestResponse, World, form_body, missing_id};
use portal_core::staff::PortalPermission;

async fn get(w: &World, caller: Caller, uri: &str) -> TestResponse {
    w.send_as(caller, TestRequest::get(uri)).await
}

async fn post(w: &World, caller: Caller, uri: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let req = TestRequest::post(uri).raw(Some("application/x-www-form-urlencoded"), form_body(pairs));
    w.send_as(caller, req).await
}

#[track_caller]
fn redirected_to(res: &TestResponse) -> String {
    assert_eq!(res.code(), 303, "{} {}: {}", res.method, res.uri, res.text());
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

/// The `<tr>` of a rule in the list, if it is listed.
fn row<'a>(page: &'a str, rule: &str) -> Option<&'a str> {
    let at = page.find(&format!(r#"<tr data-rule-id="{rule}""#))?;
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    Some(&page[at..end])
}

/// The id in a `/settings/notifications/{id}` address.
fn rule_ids(page: &str) -> Vec<String> {
    page.match_indices(r#"<tr data-rule-id=""#)
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"').expect("end")].to_owned()
        })
        .collect()
}

fn rule_form<'a>(w: &'a World, clinician: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("location_id", w.location_a.as_str()),
        ("event", "document_completed"),
        ("name", "Signed documents"),
        ("starts_on", "2026-01-01"),
        ("ends_on", ""),
        ("severity", "warning"),
        ("recipient_users", clinician),
        ("recipient_care_team", "on"),
        ("recipient_roles", "front_desk"),
        ("recipient_roles", "billing"),
        ("title", "{patient_name} completed {document_name}"),
        ("message", "{patient_name} ({relation}) completed {document_name} at {location}."),
        ("toast", "on"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_super_admin_sets_up_tests_changes_and_deletes_a_rule() {
    let w = World::new().await;
    let sa = Caller::SuperAdmin;

    // Two locations: the picker first, and nothing to add to before a location is chosen.
    let page = readable(&get(&w, sa, "/settings/notifications").await, 200);
    assert!(page.contains(r#"id="settings-tab-notifications""#), "{page}");
    assert!(page.contains(r#"id="rules-location""#) && page.contains(r#"name="location""#), "{page}");
    assert!(page.contains(r#"id="rules-choose-location""#) && !page.contains(r#"id="new-rule""#), "{page}");

    let list_a = format!("/settings/notifications?location={}", w.location_a);
    let page = readable(&get(&w, sa, &list_a).await, 200);
    assert!(page.contains(r#"id="rules-empty""#), "{page}");
    assert!(page.contains(&format!(r#"href="/settings/notifications/new?location={}""#, w.location_a)));
    assert!(page.contains(r#"id="new-rule""#));

    // The form: every field, users of the location (not of location B only), roles, delivery.
    let page = readable(&get(&w, sa, &format!("/settings/notifications/new?location={}", w.location_a)).await, 200);
    assert!(page.contains(r#"id="rule-form""#) && page.contains(r#"id="rule-save""#), "{page}");
    for name in [
        "location_id",
        "event",
        "name",
        "starts_on",
        "ends_on",
        "severity",
        "recipient_users",
        "recipient_care_team",
        "recipient_roles",
        "title",
        "message",
        "toast",
        "email",
    ] {
        assert!(page.contains(&format!(r#"name="{name}""#)), "no field {name}");
    }
    let clinician = w.id(Caller::Clinician).to_owned();
    assert!(page.contains(&format!(r#"value="{clinician}""#)), "the clinician of A is offered");
    assert!(!page.contains(&format!(r#"value="{}""#, w.id(Caller::FrontDeskB))), "B's front desk is not");
    assert!(page.contains("Portal Consent Revoked: A portal user revoked a consent form."), "labels + descriptions");
    assert!(page.contains("{document_name}"), "placeholders are listed");

    // Saved.
    let res = post(&w, sa, "/settings/notifications", &rule_form(&w, &clinician)).await;
    let to = redirected_to(&res);
    assert!(to.starts_with(&list_a) && to.contains("created=1"), "{to}");
    let page = readable(&get(&w, sa, &to).await, 200);
    assert!(page.contains(r#"id="rules-table""#), "{page}");
    let ids = rule_ids(&page);
    assert_eq!(ids.len(), 1, "{page}");
    let id = ids[0].clone();
    let line = row(&page, &id).expect("listed");
    assert!(line.contains("Portal Document Completed") && line.contains("Signed documents"), "{line}");
    assert!(line.contains("pill-yellow") && line.contains("Warning"), "severity in colour and words: {line}");
    assert!(line.contains("Cleo Clinician") && line.contains("Care team") && line.contains("Role: Front Desk"));
    assert!(line.contains("From 2026-01-01, no end date") && line.contains("Toast") && !line.contains("E-mail"));
    assert!(line.contains("rule-test"), "{line}");
    // Location-specific: not listed for B.
    let page_b = readable(&get(&w, sa, &format!("/settings/notifications?location={}", w.location_b)).await, 200);
    assert!(row(&page_b, &id).is_none());

    // Send test notification: back to the list with the notice.
    let to = redirected_to(&post(&w, sa, &format!("/settings/notifications/{id}/test"), &[]).await);
    let page = readable(&get(&w, sa, &to).await, 200);
    assert!(page.contains(r#"id="test-sent""#) && page.contains("A test notification was sent to you"), "{page}");
    let mut conn = w.db().read().await.expect("connection");
    let mine = portal_store::notifications::of_staff(&mut conn, w.id(sa), None, 10).await.expect("mine");
    drop(conn);
    assert!(mine.iter().any(|n| n.title == "Test: Test Patient completed Sample consent form"), "{mine:?}");
    // From the edit page, back to the edit page.
    let to = redirected_to(&post(&w, sa, &format!("/settings/notifications/{id}/test"), &[("back", "edit")]).await);
    assert!(to.starts_with(&format!("/settings/notifications/{id}?test_sent=1")), "{to}");

    // The edit form holds the rule; a change is saved.
    let page = readable(&get(&w, sa, &format!("/settings/notifications/{id}")).await, 200);
    assert!(page.contains(r#"value="Signed documents""#), "{page}");
    assert!(page.contains(&format!(r#"value="{clinician}" checked"#)), "{page}");
    assert!(page.contains(r#"value="billing" checked"#) && page.contains(r#"value="warning" selected"#));
    let mut changed = rule_form(&w, &clinician);
    changed.retain(|(k, _)| *k != "name" && *k != "ends_on");
    changed.extend([("name", "Documents at A"), ("ends_on", "2026-06-30"), ("email", "on")]);
    let to = redirected_to(&post(&w, sa, &format!("/settings/notifications/{id}"), &changed).await);
    let page = readable(&get(&w, sa, &to).await, 200);
    let line = row(&page, &id).expect("still listed");
    assert!(line.contains("Documents at A") && line.contains("to 2026-06-30") && line.contains("E-mail"), "{line}");

    // Delete: a confirmation first, saying what will happen; then gone.
    let page = readable(&post(&w, sa, &format!("/settings/notifications/{id}/delete"), &[]).await, 200);
    assert!(page.contains(r#"id="rule-delete-confirm""#) && page.contains("will no longer alert anyone"), "{page}");
    // Asking is not deleting: the rule is still there until confirmed.
    let page = readable(&get(&w, sa, &format!("/settings/notifications/{id}")).await, 200);
    assert!(page.contains(r#"value="Documents at A""#), "{page}");
    let to = redirected_to(&post(&w, sa, &format!("/settings/notifications/{id}/delete"), &[("confirm", "yes")]).await);
    let page = readable(&get(&w, sa, &to).await, 200);
    assert!(row(&page, &id).is_none() && page.contains(r#"id="rule-deleted""#), "{page}");
    let page = readable(&get(&w, sa, &format!("/settings/notifications/{id}")).await, 404);
    assert!(page.contains("does not exist"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_shown_beside_the_fields_and_kept() {
    let w = World::new().await;
    let res = post(
        &w,
        Caller::SuperAdmin,
        "/settings/notifications",
        &[
            ("location_id", w.location_a.as_str()),
            ("event", "party"),
            ("name", "My <b>rule</b>"),
            ("starts_on", "2026-02-30"),
            ("ends_on", "soon"),
            ("severity", ""),
            ("title", "Hello {nobody}"),
            ("message", "Kept message text"),
            ("unknown", "ignored"),
        ],
    )
    .await;
    let page = readable(&res, 422);
    assert!(page.contains(r#"class="error-summary""#), "{page}");
    for id in
        ["event-error", "starts_on-error", "ends_on-error", "severity-error", "recipients-error", "delivery-error"]
    {
        assert!(page.contains(&format!(r#"id="{id}""#)), "no {id}: {page}");
    }
    assert!(page.contains("Choose at least one recipient") && page.contains("Choose an event."), "{page}");
    // With an event chosen, its placeholders decide: one it does not fill is named.
    let res = post(
        &w,
        Caller::SuperAdmin,
        "/settings/notifications",
        &[
            ("location_id", w.location_a.as_str()),
            ("event", "registration_completed"),
            ("name", "Registrations"),
            ("starts_on", "2026-01-01"),
            ("severity", "information"),
            ("recipient_care_team", "on"),
            ("title", "{document_name} signed"),
            ("message", "Hello"),
            ("email", "on"),
        ],
    )
    .await;
    let again = readable(&res, 422);
    assert!(again.contains(r#"id="title-error""#) && again.contains("{document_name}"), "{again}");
    assert!(!again.contains(r#"id="event-error""#) && again.contains(r#"value="registration_completed" selected"#));
    assert!(again.contains("Placeholders this event fills: {patient_name}, {relation}, {location}"), "{again}");
    assert!(
        page.contains("My &lt;b&gt;rule&lt;/b&gt;") || page.contains("My &#60;b&#62;rule&#60;/b&#62;"),
        "kept, escaped"
    );
    assert!(page.contains("Kept message text") && page.contains(r#"value="2026-02-30""#), "{page}");
    // Nothing was saved.
    let list = readable(
        &get(&w, Caller::SuperAdmin, &format!("/settings/notifications?location={}", w.location_a)).await,
        200,
    );
    assert!(list.contains(r#"id="rules-empty""#), "{list}");
    // An unreadable body or an unknown location: readable pages, never a 500.
    let res = w
        .send_as(
            Caller::SuperAdmin,
            TestRequest::post("/settings/notifications").raw(Some("application/x-www-form-urlencoded"), "name=%00"),
        )
        .await;
    readable(&res, 400);
    readable(&get(&w, Caller::SuperAdmin, "/settings/notifications?location=nowhere").await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_super_admins_see_the_tab_and_the_pages() {
    let w = World::new().await;
    let id = w.rule(common::Rec::Own).await;
    // A practice manager who may open the Instance settings still has no Notifications tab.
    common::grant(w.db(), w.id(Caller::PracticeManager), PortalPermission::ManagePortalSettings).await;
    let page = readable(&get(&w, Caller::PracticeManager, "/settings/instance").await, 200);
    assert!(!page.contains("settings-tab-notifications"), "{page}");
    // A Super Admin without Manage Portal Settings has it (Company tab).
    let page = readable(&get(&w, Caller::SuperAdminNoSettings, "/settings/company").await, 200);
    assert!(page.contains("settings-tab-notifications"), "{page}");

    let clinician = w.id(Caller::Clinician).to_owned();
    for caller in [Caller::PracticeManager, Caller::FrontDesk, Caller::Clinician] {
        for res in [
            get(&w, caller, "/settings/notifications").await,
            get(&w, caller, &format!("/settings/notifications?location={}", w.location_a)).await,
            get(&w, caller, &format!("/settings/notifications/new?location={}", w.location_a)).await,
            post(&w, caller, "/settings/notifications", &rule_form(&w, &clinician)).await,
            get(&w, caller, &format!("/settings/notifications/{id}")).await,
            post(&w, caller, &format!("/settings/notifications/{id}"), &rule_form(&w, &clinician)).await,
            post(&w, caller, &format!("/settings/notifications/{id}/delete"), &[("confirm", "yes")]).await,
            post(&w, caller, &format!("/settings/notifications/{id}/test"), &[]).await,
        ] {
            let page = readable(&res, 403);
            assert!(page.contains("Super Admin"), "{} {}: {page}", res.method, res.uri);
        }
    }
    // Still there, unchanged.
    let page = readable(&get(&w, Caller::SuperAdmin, &format!("/settings/notifications/{id}")).await, 200);
    assert!(page.contains(r#"value="New registrations""#), "{page}");

    // Unknown and malformed ids: a 404 page on every route with an id.
    for bad in [missing_id(), "not-an-id".to_owned()] {
        for res in [
            get(&w, Caller::SuperAdmin, &format!("/settings/notifications/{bad}")).await,
            post(&w, Caller::SuperAdmin, &format!("/settings/notifications/{bad}"), &rule_form(&w, &clinician)).await,
            post(&w, Caller::SuperAdmin, &format!("/settings/notifications/{bad}/delete"), &[("confirm", "yes")]).await,
            post(&w, Caller::SuperAdmin, &format!("/settings/notifications/{bad}/test"), &[]).await,
        ] {
            let page = readable(&res, 404);
            assert!(page.contains("does not exist"), "{page}");
        }
    }
}
