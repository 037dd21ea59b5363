//! Browser walk of the patient request queue (seed 002, "Patient Portal Queue" and "Un-Archiving
//! Patient Portal Requests"): a patient asks for a refill; the front desk finds it in the queue,
//! uses the helper (a draft encounter note with the medication), replies "dismiss as completed";
//! the patient reads the reply and the status, and gets the e-mail over SMTP; staff find the
//! request in the archive by search and un-archive it. Then the refused side: staff of another
//! location neither list nor open it.

use fantoccini::{Client, Locator};
use portal_auth::staff::StaffInput;
use portal_core::Actor;
use portal_core::staff::PortalPermission;

use super::messaging::{has, patient_with_account};
use super::{PATIENT_PASSWORD, click, fill, north_clinic, portal_sign_in};
use crate::browser_support::*;

/// The last path segment of the page the browser shows.
async fn id_in_url(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    url.path().rsplit('/').next().unwrap().to_owned()
}

async fn select(c: &Client, name: &str, value: &str) {
    c.find(Locator::Css(&format!("select[name={name}] option[value={value}]")))
        .await
        .unwrap_or_else(|_| panic!("no option {value} of {name}"))
        .click()
        .await
        .expect("select");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refill_request_is_worked_answered_archived_found_and_unarchived() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let sys = Actor::system();
    // The front desk answers the portal: Available for Portal Messages.
    let front_desk = {
        let mut conn = app.db.db.read().await.unwrap();
        portal_store::staff::find_by_email(&mut conn, FRONT_DESK_EMAIL).await.unwrap().expect("front desk").id
    };
    portal_auth::staff::set_portal_permission(
        &app.db.db,
        &sys,
        &front_desk,
        PortalPermission::AvailableForPortalMessages,
        true,
    )
    .await
    .expect("permission");

    // The patient asks for a refill from the portal.
    let patient_driver = start_driver().await;
    let patient = browser(&patient_driver).await;
    let pid = patient_with_account(&app, &patient, "Rhea", "Refill", "rhea.refill").await;
    portal_sign_in(&patient, &app.base, "rhea.refill", PATIENT_PASSWORD).await;
    // Signed in (the answer arrived) before going on: navigating earlier would race the redirect.
    wait_for_text(&patient, "#patient-name", "Rhea Refill").await;
    patient.goto(&format!("{}/portal/requests/new?patient={pid}&kind=refill", app.base)).await.unwrap();
    wait_for_text(&patient, "#request-form", "").await;
    fill(&patient, "medication", "Lisinopril 10 mg").await;
    fill(&patient, "pharmacy", "Main Street Pharmacy").await;
    click(&patient, "#request-submit").await;
    wait_for_text(&patient, "#request-status", "Submitted").await;
    let request = id_in_url(&patient).await;

    // The front desk sees it on the home page's block and in the queue.
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, FRONT_DESK_EMAIL).await;
    wait_for_text(&c, "#queue-block", "Rhea Refill").await;
    click(&c, "#queue-open-link").await;
    let row = format!("#queue-table tr[data-request-id=\"{request}\"]");
    wait_for_text(&c, &row, "Lisinopril 10 mg").await;

    // The helper opens a draft encounter note with the medication; it is saved as done.
    click(&c, &format!("{row} .helper-button")).await;
    wait_for_text(&c, "#task-body", "").await;
    let body = c.find(Locator::Css("#task-body")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert!(body.contains("Lisinopril 10 mg"), "the note holds the medication:\n{body}");
    click(&c, "#task-done").await;
    wait_for_text(&c, "#task-saved", "marked done").await;

    // The reply, "dismiss as completed" (e-mail and link to the request by default).
    c.goto(&format!("{}/queue/{request}", app.base)).await.unwrap();
    wait_for_text(&c, "#reply-form", "").await;
    fill(&c, "body", "Sent to Main Street Pharmacy; ready tomorrow.").await;
    select(&c, "disposition", "completed").await;
    click(&c, "#reply-send").await;
    // Sent and dismissed: back on the queue, off its list.
    wait_for_text(&c, "#dismissed-notice", "completed").await;
    assert!(!has(&c, &row).await, "a completed request leaves the queue");

    // The patient gets the e-mail (a message waits; none of it in the mail), and reads the
    // reply and the status on the request.
    let link = app.link_in_mail_to("rhea@example.test", 1).await;
    assert!(link.starts_with(&app.base), "{link}");
    let mail = app.mail.as_ref().unwrap();
    let notice = mail.received().into_iter().rfind(|m| m.rcpt_to.iter().any(|r| r.contains("rhea@"))).unwrap();
    assert!(!notice.text().contains("Pharmacy"), "the e-mail carries none of the reply");
    patient.goto(&format!("{}/portal/requests/{request}", app.base)).await.unwrap();
    wait_for_text(&patient, "#request-status", "Completed").await;
    wait_for_text(&patient, "#request-timeline", "ready tomorrow").await;

    // Staff find it in the archive by search, click its status and mark it un-reviewed.
    c.goto(&format!("{}/queue/archive", app.base)).await.unwrap();
    fill(&c, "archive-search", "lisinopril").await;
    c.find(Locator::Css("#archive-search")).await.unwrap().send_keys("\u{E007}").await.unwrap();
    let archived = format!("#archive-table tr[data-request-id=\"{request}\"]");
    wait_for_text(&c, &archived, "Completed").await;
    click(&c, &format!("{archived} .reopen-link")).await;
    click(&c, "#reopen-confirm").await;
    wait_for_text(&c, "#reopened-notice", "un-reviewed").await;
    wait_for_text(&c, &row, "Lisinopril 10 mg").await;
    patient.refresh().await.unwrap();
    wait_for_text(&patient, "#request-status", "Submitted").await;

    // The refused side: a front-desk user of another location neither lists nor opens it.
    let north = north_clinic(&app).await;
    portal_auth::staff::create(
        &app.db.db,
        &portal_auth::PasswordHasher::new(2),
        &sys,
        StaffInput {
            name: "Nils North".into(),
            email: "nils.north@clinic.example".into(),
            role: "front_desk".into(),
            location_ids: vec![north.id],
            active: true,
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .expect("staff");
    let other_driver = start_driver().await;
    let o = browser(&other_driver).await;
    sign_in(&o, &app.base, "nils.north@clinic.example").await;
    o.goto(&format!("{}/queue", app.base)).await.unwrap();
    wait_for_text(&o, "h1", "Queue").await;
    assert!(!has(&o, &row).await, "another location's request is not listed");
    o.goto(&format!("{}/queue/{request}", app.base)).await.unwrap();
    assert!(!page_text(&o).await.contains("Lisinopril"), "nor opened");
    o.close().await.unwrap();
    patient.close().await.unwrap();
    c.close().await.unwrap();
}
