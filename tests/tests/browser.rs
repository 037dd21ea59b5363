//! Browser tests: the pages in a real headless Chromium. Run by `cargo xtask test` (which sets
//! PORTAL_BROWSER=1, PORTAL_CHROMIUM and PORTAL_CHROMEDRIVER); skipped otherwise.

mod browser_support;
mod browser_walks;

use browser_support::*;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_and_out() {
    if !enabled() {
        return;
    }
    let app = start_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    // A wrong password shows the same readable error as an unknown account, and keeps the e-mail.
    c.goto(&format!("{}/staff/sign-in", app.base)).await.unwrap();
    c.find(Locator::Id("email")).await.unwrap().send_keys(ADMIN_EMAIL).await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys("not the password").await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, ".error-summary", "incorrect").await;
    let kept = c.find(Locator::Id("email")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some(ADMIN_EMAIL));

    sign_in(&c, &app.base, ADMIN_EMAIL).await;
    assert!(page_text(&c).await.contains("Ada Admin"));

    // A page that needs a session sends an anonymous visitor to sign in and back.
    c.find(Locator::Css("form[action='/staff/sign-out'] button")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, ".notice", "signed out").await;
    c.goto(&format!("{}/", app.base)).await.unwrap();
    wait_for_text(&c, "h1", "Staff sign-in").await;
    c.close().await.unwrap();
}

/// Seed 000, "Instance Settings": turning the portal on requires acknowledging the fee, and the
/// change shows in the setting's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_admin_turns_the_portal_on_with_the_fee_acknowledged() {
    if !enabled() {
        return;
    }
    let app = start_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, ADMIN_EMAIL).await;

    c.goto(&format!("{}/settings/instance", app.base)).await.unwrap();
    wait_for_text(&c, "#history", "History").await;
    let fee = c.find(Locator::Css("label[for=acknowledge_fee]")).await.unwrap().text().await.unwrap();
    assert!(fee.contains("$200.00") && fee.contains("1 location"), "the fee is stated: {fee}");

    // Without the acknowledgement the portal stays off and the error sits beside the box.
    c.find(Locator::Id("enabled")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("form[action='/settings/instance/use-portal'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, ".error-summary", "acknowledge").await;
    assert!(c.find(Locator::Id("acknowledge_fee-error")).await.is_ok());
    assert!(!portal_practice::settings::portal_enabled(&app.db.db).await.unwrap());

    c.find(Locator::Id("acknowledge_fee")).await.unwrap().click().await.unwrap();
    let enabled = c.find(Locator::Id("enabled")).await.unwrap();
    if enabled.prop("checked").await.unwrap().as_deref() != Some("true") {
        enabled.click().await.unwrap();
    }
    c.find(Locator::Css("form[action='/settings/instance/use-portal'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, ".notice", "saved").await;
    let row = wait_for_text(&c, "#history ~ .table-wrap tbody tr, table tbody tr", "Ada Admin").await;
    assert!(row.contains("Off → On"), "history row: {row}");
    assert!(row.contains("$200.00"), "history row states the fee acknowledged: {row}");
    assert!(portal_practice::settings::portal_enabled(&app.db.db).await.unwrap());
    c.close().await.unwrap();
}

/// Seed 000, "Assign Portal Roles": a Super Admin grants Available for Portal Messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_admin_grants_a_portal_permission() {
    if !enabled() {
        return;
    }
    let app = start_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, ADMIN_EMAIL).await;

    c.goto(&format!("{}/users", app.base)).await.unwrap();
    wait_for_text(&c, "table", "Fran Desk").await;
    c.goto(&format!("{}/users/{}", app.base, app.front_desk_id)).await.unwrap();
    let perm = c.find(Locator::Id("perm-available_for_portal_messages")).await.unwrap();
    assert_eq!(perm.prop("checked").await.unwrap().as_deref(), Some("false"));
    perm.click().await.unwrap();
    c.find(Locator::Css("form[action$='/portal-permissions'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&c, ".notice", "").await;
    let perm = c.find(Locator::Id("perm-available_for_portal_messages")).await.unwrap();
    assert_eq!(perm.prop("checked").await.unwrap().as_deref(), Some("true"), "granted after reload");

    let staff = portal_auth::staff::get(&app.db.db, &portal_core::Actor::system(), &app.front_desk_id).await.unwrap();
    assert!(staff.portal_permissions.contains(&portal_core::staff::PortalPermission::AvailableForPortalMessages));
    let mut conn = app.db.db.read().await.unwrap();
    let granted = portal_store::audit::list(
        &mut conn,
        &portal_store::audit::AuditFilter {
            action: Some("portal_permission_granted".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(granted.iter().any(|r| r.target_id.as_deref() == Some(app.front_desk_id.as_str())), "audited");
    c.close().await.unwrap();
}

/// Seed 000: Manage Portal Settings "can only be provisioned by a Super Admin"; a user with
/// Manage Users sees the control disabled with the reason, and the settings tab refuses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_manager_is_refused_manage_portal_settings() {
    if !enabled() {
        return;
    }
    let app = start_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, MANAGER_EMAIL).await;

    c.goto(&format!("{}/users/{}", app.base, app.front_desk_id)).await.unwrap();
    let locked = c.find(Locator::Id("perm-manage_portal_settings")).await.unwrap();
    assert_eq!(locked.attr("disabled").await.unwrap().as_deref(), Some("true"), "shown disabled");
    let reason = c.find(Locator::Id("perm-manage_portal_settings-reason")).await.unwrap().text().await.unwrap();
    assert!(reason.contains("Only a Super Admin"), "says why: {reason}");
    // The permissions they may change are enabled.
    let open = c.find(Locator::Id("perm-allow_document_share")).await.unwrap();
    assert_eq!(open.attr("disabled").await.unwrap(), None);

    c.goto(&format!("{}/settings/instance", app.base)).await.unwrap();
    let text = page_text(&c).await;
    assert!(text.contains("Manage Portal Settings"), "the refusal names the permission: {text}");
    assert!(c.find(Locator::Id("acknowledge_fee")).await.is_err(), "no settings form");
    c.close().await.unwrap();
}

/// Seeds 002 and 003: front desk creates a patient and adds a guardian.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_desk_creates_a_patient_with_a_contact() {
    if !enabled() {
        return;
    }
    let app = start_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, FRONT_DESK_EMAIL).await;

    c.goto(&format!("{}/patients/new", app.base)).await.unwrap();
    c.find(Locator::Id("first_name")).await.unwrap().send_keys("Mia").await.unwrap();
    c.find(Locator::Id("last_name")).await.unwrap().send_keys("Okafor").await.unwrap();
    // A bad e-mail is refused beside the field and what was typed is kept.
    c.find(Locator::Id("email")).await.unwrap().send_keys("mia.okafor@").await.unwrap();
    c.execute("document.getElementById('date_of_birth').value = '2014-05-09';", vec![]).await.unwrap();
    c.find(Locator::Id("location_id")).await.unwrap().select_by_value(&app.location_id).await.unwrap();
    c.find(Locator::Css("form[action='/patients/new'] button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, ".error-summary", "E-mail").await;
    assert_eq!(c.find(Locator::Id("first_name")).await.unwrap().prop("value").await.unwrap().as_deref(), Some("Mia"));

    let email = c.find(Locator::Id("email")).await.unwrap();
    email.clear().await.unwrap();
    email.send_keys("mia.okafor@example.com").await.unwrap();
    c.find(Locator::Id("zip")).await.unwrap().send_keys("60601").await.unwrap();
    c.find(Locator::Css("form[action='/patients/new'] button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for_text(&c, "h1", "Mia Okafor").await;

    // Add a guardian from the facesheet.
    c.execute("document.querySelector('details.add-form').open = true;", vec![]).await.unwrap();
    c.find(Locator::Id("contact-kind")).await.unwrap().select_by_value("guardian").await.unwrap();
    c.find(Locator::Id("contact-first_name")).await.unwrap().send_keys("Ngozi").await.unwrap();
    c.find(Locator::Id("contact-last_name")).await.unwrap().send_keys("Okafor").await.unwrap();
    c.find(Locator::Id("contact-relation")).await.unwrap().send_keys("Mother").await.unwrap();
    c.find(Locator::Css("form[action$='/contacts'] button[type=submit]")).await.unwrap().click().await.unwrap();
    let contacts = wait_for_text(&c, "table", "Ngozi Okafor").await;
    assert!(contacts.contains("Guardian"), "{contacts}");

    // The patient is findable by name in the list.
    c.goto(&format!("{}/patients?q=okafor", app.base)).await.unwrap();
    wait_for_text(&c, "table", "Okafor").await;
    c.close().await.unwrap();
}
