//! Browser walk of staff notifications (seed 000, "Set up Notifications"): a Super Admin creates a
//! Warning rule for Portal Registration Completed at one location, for the care team, by toast and
//! e-mail; a patient of that location completes registration; a signed-in care-team member sees
//! the yellow toast without a reload, and the e-mail arrives over SMTP without health information;
//! a patient of another location completing registration triggers nothing.

use std::time::Duration;

use fantoccini::Locator;
use portal_auth::invitations::InviteTo;
use portal_core::Actor;

use super::messaging::{CLINICIAN_EMAIL, clinician};
use super::{PATIENT_PASSWORD, click, enable, fill, invite, north_clinic, set_password, set_value};
use crate::browser_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_rule_toasts_the_care_team_and_emails_them_for_its_location_only() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let sys = Actor::system();
    // The patient-to-be of the main location, with the clinician on the care team.
    let main_patient = app.patient("Paula", "Park", "1985-05-05", "paula@example.test").await;
    enable(&app, &main_patient).await;
    clinician(&app, &[&main_patient]).await;
    // A patient of another location, the same clinician on the care team there too.
    let north = north_clinic(&app).await;
    let north_patient = portal_practice::patients::create(
        &app.db.db,
        &sys,
        portal_practice::patients::PatientInput {
            first_name: "Nora".into(),
            last_name: "North".into(),
            date_of_birth: "1975-07-07".into(),
            email: Some("nora@example.test".into()),
            zip: Some("62701".into()),
            location_id: north.id.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("patient")
    .id;
    enable(&app, &north_patient).await;

    // The Super Admin sets up the rule at the main location.
    let driver = start_driver().await;
    let admin = browser(&driver).await;
    sign_in(&admin, &app.base, ADMIN_EMAIL).await;
    admin.goto(&format!("{}/settings/notifications?location={}", app.base, app.location_id)).await.unwrap();
    click(&admin, "#new-rule").await;
    wait_for_text(&admin, "#rule-form", "").await;
    admin
        .find(Locator::Css("select[name=event] option[value=registration_completed]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&admin, "name", "New registrations").await;
    set_value(&admin, "starts_on", "2020-01-01").await;
    click(&admin, "select[name=severity] option[value=warning]").await;
    click(&admin, "input[name=recipient_care_team]").await;
    fill(&admin, "title", "{patient_name} registered").await;
    fill(&admin, "message", "{patient_name} ({relation}) completed registration at {location}.").await;
    for name in ["toast", "email"] {
        let checked =
            admin.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap().prop("checked").await.unwrap();
        if checked.as_deref() != Some("true") {
            click(&admin, &format!("input[name={name}]")).await;
        }
    }
    click(&admin, "#rule-save").await;
    wait_for_text(&admin, "#rules-table", "New registrations").await;

    // The clinician is signed in, on the home page.
    let staff_driver = start_driver().await;
    let c = browser(&staff_driver).await;
    sign_in(&c, &app.base, CLINICIAN_EMAIL).await;
    wait_for_text(&c, "h1", "").await;

    // The patient of the main location completes registration (the invitation's link).
    let patient_driver = start_driver().await;
    let p = browser(&patient_driver).await;
    invite(&app, &main_patient, InviteTo::Patient, None).await;
    let link = app.link_in_mail_to("paula@example.test", 0).await;
    p.goto(&link).await.unwrap();
    set_password(&p, Some("paula.park"), PATIENT_PASSWORD).await;

    // The yellow toast, without a reload.
    let toast = wait_for_text(&c, ".toast.toast-yellow", "Paula Park registered").await;
    assert!(toast.contains("Paula Park registered"), "{toast}");
    // The e-mail: the location and a link, nothing about the patient.
    let mail = app.mail.as_ref().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let notice = loop {
        if let Some(m) = mail.received().into_iter().find(|m| m.rcpt_to.iter().any(|r| r == CLINICIAN_EMAIL)) {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no notification e-mail to the clinician");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let text = notice.text();
    assert!(text.contains("A portal event needs your attention at Main Street Clinic"), "{text}");
    for secret in ["Paula", "Park", "registered"] {
        assert!(!notice.data.contains(secret), "the e-mail must not carry {secret:?}");
    }

    // The patient of the other location completes registration: nothing for the clinician.
    invite(&app, &north_patient, InviteTo::Patient, None).await;
    let link = app.link_in_mail_to("nora@example.test", 0).await;
    p.goto(&link).await.unwrap();
    set_password(&p, Some("nora.north"), PATIENT_PASSWORD).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.goto(&format!("{}/notifications", app.base)).await.unwrap();
    let page = page_text(&c).await;
    assert!(page.contains("Paula Park registered"));
    assert!(!page.contains("Nora North"), "a patient of another location triggers nothing");
    p.close().await.unwrap();
    c.close().await.unwrap();
    admin.close().await.unwrap();
}
