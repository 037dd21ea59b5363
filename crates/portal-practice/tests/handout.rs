//! The printable handout (seed 003): Portal's default text until the clinic writes its own,
//! changes only with Manage Portal Settings, each change audited in the same transaction, the
//! text's limits, and the branding printed beside it (company or location).

mod common;

use common::{StaffBuilder, actor, assert_access, audit_of, detail, forbidden, invalid_fields, location, test_db};
use portal_core::Actor;
use portal_core::audit::AuditAction;
use portal_core::handout::{BODY_MAX_CHARS, DEFAULT_TITLE, HandoutBody, TITLE_MAX_CHARS};
use portal_core::staff::StaffRole;
use portal_practice::company::{self, CompanyInput, LocationInput};
use portal_practice::handout::{self, HANDOUT_SETTING, HandoutInput, SheetLogo};
use portal_store::Db;

fn input(title: &str, body: &str) -> HandoutInput {
    HandoutInput { title: title.to_owned(), body: body.to_owned() }
}

async fn handout_audit_rows(db: &Db) -> Vec<portal_store::audit::AuditRow> {
    audit_of(db, AuditAction::SettingChanged)
        .await
        .into_iter()
        .filter(|r| r.target_id.as_deref() == Some(HANDOUT_SETTING))
        .collect()
}

/// A PNG signature followed by enough bytes to count as an image.
fn png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(b"\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89");
    png.extend_from_slice(&[0u8; 16]);
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_that_never_edited_gets_the_default_text() {
    let t = test_db().await;
    let desk = actor(StaffBuilder::new(StaffRole::FrontDesk).insert(&t.db).await);
    let text = handout::handout_text(&t.db, &desk).await.unwrap();
    assert!(text.is_default);
    assert_eq!(text.title, DEFAULT_TITLE);
    assert_eq!(text.body, HandoutBody::default_body().as_str());
    assert_eq!((text.updated_at, text.updated_by_name.as_deref()), (None, None));
    assert!(text.body.contains("I am a registered patient"));
    assert!(!text.blocks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_manage_portal_settings_changes_the_text() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let needs = forbidden("Manage Portal Settings");
    let new_text = || input("Our portal", "Sign up at the front desk.");

    // No role implies the permission, Super Admin included (seed 000).
    let mut refused = vec![actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await)];
    for role in [StaffRole::PracticeManager, StaffRole::Clinician, StaffRole::FrontDesk, StaffRole::Billing] {
        refused.push(actor(StaffBuilder::new(role).at(&[&loc]).insert(&t.db).await));
    }
    for a in &refused {
        assert_access(handout::update_handout(&t.db, a, new_text()).await, needs.clone());
        assert_access(handout::restore_default_handout(&t.db, a).await, needs.clone());
        // They may still read and print it.
        assert!(handout::handout_text(&t.db, a).await.unwrap().is_default);
        assert!(handout::sheet(&t.db, a, None).await.is_ok());
    }
    // A refusal is checked before the input: bad input from them is still a 403, not a 422.
    assert_access(handout::update_handout(&t.db, &refused[4], input("", "")).await, needs.clone());
    assert!(handout::handout_text(&t.db, &refused[0]).await.unwrap().is_default, "nothing was written");
    assert!(handout_audit_rows(&t.db).await.is_empty(), "refusals write no setting change");

    let admin = actor(StaffBuilder::new(StaffRole::FrontDesk).at(&[&loc]).portal_settings().insert(&t.db).await);
    let done = handout::update_handout(&t.db, &admin, new_text()).await.unwrap();
    assert!(done.changed);
    assert_eq!(done.handout.title, "Our portal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_stored_normalised_and_audited_once() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).name("Ada Admin").portal_settings().insert(&t.db).await);
    let done = handout::update_handout(
        &t.db,
        &admin,
        input("  Welcome to our portal ", "Line one  \r\nline two\r\n\r\n\r\n\r\n- messages\r\n- bills\r\n\r\n"),
    )
    .await
    .unwrap();
    assert!(done.changed);
    let h = &done.handout;
    assert!(!h.is_default);
    assert_eq!(h.title, "Welcome to our portal");
    assert_eq!(h.body, "Line one\nline two\n\n- messages\n- bills");
    assert_eq!(h.updated_by_name.as_deref(), Some("Ada Admin"));
    assert!(h.updated_at.is_some());
    // What staff read afterwards is what was stored.
    assert_eq!(&handout::handout_text(&t.db, &Actor::system()).await.unwrap(), h);

    let rows = handout_audit_rows(&t.db).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.actor_name, "Ada Admin");
    assert_eq!(row.target_kind.as_deref(), Some("setting"));
    let d = detail(row);
    assert_eq!(d["fields"], serde_json::json!(["title", "body"]));
    assert_eq!(d["from_default"], true);
    assert_eq!(d["title_chars"], 21);
    assert_eq!(d["body_chars"], h.body.chars().count());
    assert!(!row.detail.contains("Line one"), "the audit row keeps lengths, not the text");

    // The same text again (typed differently, normalised alike): nothing written, nothing audited.
    let again = handout::update_handout(
        &t.db,
        &admin,
        input("Welcome to our portal", "Line one\nline two\n\n- messages\n- bills\n"),
    )
    .await
    .unwrap();
    assert!(!again.changed);
    assert_eq!(again.handout.updated_at, h.updated_at);
    assert_eq!(handout_audit_rows(&t.db).await.len(), 1);

    // Only the title: the audit row names only the title.
    handout::update_handout(&t.db, &admin, input("Our portal", &h.body)).await.unwrap();
    let rows = handout_audit_rows(&t.db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(detail(&rows[1])["fields"], serde_json::json!(["title"]));
    assert_eq!(detail(&rows[1])["from_default"], false);
    assert_eq!(common::verify_chain(&t.db).await.first_broken, None, "the audit chain holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_can_be_restored() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    // Restoring while the default is in use records nothing.
    let r = handout::restore_default_handout(&t.db, &admin).await.unwrap();
    assert!(!r.changed && r.handout.is_default);
    assert!(handout_audit_rows(&t.db).await.is_empty());

    handout::update_handout(&t.db, &admin, input("Ours", "Our own words.")).await.unwrap();
    let r = handout::restore_default_handout(&t.db, &admin).await.unwrap();
    assert!(r.changed);
    assert!(r.handout.is_default);
    assert_eq!(r.handout.title, DEFAULT_TITLE);
    let rows = handout_audit_rows(&t.db).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(detail(&rows[1])["restored_default"], true);

    // Saving the default text itself while the default is in use writes nothing either.
    let d = handout::handout_text(&t.db, &admin).await.unwrap();
    let same = handout::update_handout(&t.db, &admin, input(&d.title, &d.body)).await.unwrap();
    assert!(!same.changed && same.handout.is_default);
    assert_eq!(handout_audit_rows(&t.db).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_text_is_refused_per_field_and_changes_nothing() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    assert_eq!(invalid_fields(handout::update_handout(&t.db, &admin, input(" ", "\n\n")).await), ["title", "body"]);
    let long_title = "t".repeat(TITLE_MAX_CHARS + 1);
    let long_body = "b".repeat(BODY_MAX_CHARS + 1);
    assert_eq!(invalid_fields(handout::update_handout(&t.db, &admin, input(&long_title, "ok")).await), ["title"]);
    assert_eq!(invalid_fields(handout::update_handout(&t.db, &admin, input("ok", &long_body)).await), ["body"]);
    assert_eq!(invalid_fields(handout::update_handout(&t.db, &admin, input("a\nb", "ok")).await), ["title"]);
    assert_eq!(invalid_fields(handout::update_handout(&t.db, &admin, input("ok", "nul\u{0}")).await), ["body"]);
    match handout::update_handout(&t.db, &admin, input("ok", &long_body)).await {
        Err(portal_practice::PracticeError::Invalid(e)) => {
            assert_eq!(e.get("body"), Some("must be at most 4000 characters"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(handout::handout_text(&t.db, &admin).await.unwrap().is_default);
    assert!(handout_audit_rows(&t.db).await.is_empty());
}

async fn add_location(db: &Db, name: &str, phone: Option<&str>) -> String {
    company::create_location(
        db,
        &Actor::system(),
        LocationInput {
            name: name.to_owned(),
            address_line1: Some(format!("{name} Road 1")),
            city: Some("Springfield".into()),
            state: Some("IL".into()),
            zip: Some("62701".into()),
            phone: phone.map(str::to_owned),
            time_zone: "America/Chicago".into(),
        },
    )
    .await
    .unwrap()
    .id
}

async fn set_company(db: &Db, name: &str, phone: Option<&str>, brand_by_location: bool) {
    company::update_company(
        db,
        &Actor::system(),
        CompanyInput { name: name.to_owned(), phone: phone.map(str::to_owned), brand_by_location },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_carries_the_company_or_the_locations_branding() {
    let t = test_db().await;
    let desk = actor(StaffBuilder::new(StaffRole::FrontDesk).insert(&t.db).await);
    let north = add_location(&t.db, "North Clinic", Some("555-010-0001")).await;
    let south = add_location(&t.db, "South Clinic", None).await;
    set_company(&t.db, "Riverside Health", Some("555-010-0000"), false).await;

    // The company's sheet: its name and phone, every location's address, no logo yet.
    let s = handout::sheet(&t.db, &desk, None).await.unwrap();
    assert_eq!(s.clinic_name, "Riverside Health");
    assert_eq!(s.phone.as_deref(), Some("555-010-0000"));
    assert_eq!(s.logo, None);
    assert_eq!(s.location_id, None);
    let names: Vec<_> = s.locations.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["North Clinic", "South Clinic"]);
    assert!(s.text.is_default);

    // A location chosen without branding by location: the company's name, that address only.
    let s = handout::sheet(&t.db, &desk, Some(&north)).await.unwrap();
    assert_eq!(s.clinic_name, "Riverside Health");
    assert_eq!(s.phone.as_deref(), Some("555-010-0000"));
    assert_eq!(s.location_id.as_deref(), Some(north.as_str()));
    assert_eq!(s.locations.len(), 1);
    assert_eq!(s.locations[0].address_line1.as_deref(), Some("North Clinic Road 1"));

    // Branding by location: the location's name, phone and logo; the company's as fallbacks.
    set_company(&t.db, "Riverside Health", Some("555-010-0000"), true).await;
    company::set_company_logo(&t.db, &Actor::system(), png()).await.unwrap();
    let s = handout::sheet(&t.db, &desk, Some(&north)).await.unwrap();
    assert_eq!(s.clinic_name, "North Clinic");
    assert_eq!(s.phone.as_deref(), Some("555-010-0001"));
    assert_eq!(s.logo, Some(SheetLogo::Company), "no logo of its own: the company's");
    company::set_location_logo(&t.db, &Actor::system(), &north, png()).await.unwrap();
    let s = handout::sheet(&t.db, &desk, Some(&north)).await.unwrap();
    assert_eq!(s.logo, Some(SheetLogo::Location(north.clone())));
    let s = handout::sheet(&t.db, &desk, Some(&south)).await.unwrap();
    assert_eq!(s.clinic_name, "South Clinic");
    assert_eq!(s.phone.as_deref(), Some("555-010-0000"), "no phone of its own: the company's");
    assert_eq!(s.logo, Some(SheetLogo::Company));
    // Without a location, even when branding by location: the company.
    let s = handout::sheet(&t.db, &desk, None).await.unwrap();
    assert_eq!(s.clinic_name, "Riverside Health");
    assert_eq!(s.logo, Some(SheetLogo::Company));

    // A location that does not exist, or is not an id: a field error, never a 500.
    for bad in [portal_store::ids::new_id(), "not-an-id".to_owned(), "'; DROP TABLE locations; --".to_owned()] {
        assert_eq!(invalid_fields(handout::sheet(&t.db, &desk, Some(&bad)).await), ["location_id"]);
    }
    // A blank choice is no choice.
    assert_eq!(handout::sheet(&t.db, &desk, Some("  ")).await.unwrap().location_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_prints_the_clinics_own_text() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    handout::update_handout(&t.db, &admin, input("Portal", "Hello <b>patients</b>\n\n- one\n- two")).await.unwrap();
    let s = handout::sheet(&t.db, &admin, None).await.unwrap();
    assert_eq!(s.text.title, "Portal");
    assert_eq!(
        s.text.blocks(),
        vec![
            portal_core::handout::Block::Paragraph(vec!["Hello <b>patients</b>".into()]),
            portal_core::handout::Block::List(vec!["one".into(), "two".into()]),
        ]
    );
}
