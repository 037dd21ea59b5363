//! Company settings and locations (seed 000): Manage Company only, every field checked, logos
//! checked by their bytes, every change audited.

mod common;

use common::{
    StaffBuilder, actor, assert_access, audit_of, detail, forbidden, invalid_fields, location, staff_actor, staff_id,
    test_db,
};
use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_practice::company::{self, CompanyInput, LocationInput};

fn png(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len.max(32), 0x42);
    v
}

fn company_input(name: &str, phone: Option<&str>) -> CompanyInput {
    CompanyInput { name: name.into(), phone: phone.map(Into::into), brand_by_location: true }
}

fn location_input(name: &str) -> LocationInput {
    LocationInput {
        name: name.into(),
        address_line1: Some("12 Elm St".into()),
        city: Some("Boston".into()),
        state: Some("MA".into()),
        zip: Some("02110".into()),
        phone: Some("(617) 555-0100".into()),
        time_zone: "America/New_York".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_super_admin_manages_the_company() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let needs = forbidden("Manage Company");
    for role in [StaffRole::PracticeManager, StaffRole::Clinician, StaffRole::FrontDesk, StaffRole::Billing] {
        let a = staff_actor(&t.db, role, &[&loc]).await;
        assert_access(company::update_company(&t.db, &a, company_input("Hijacked", None)).await, needs.clone());
        assert_access(company::set_company_logo(&t.db, &a, png(64)).await, needs.clone());
        assert_access(company::create_location(&t.db, &a, location_input("Rogue")).await, needs.clone());
        assert_access(company::update_location(&t.db, &a, &loc, location_input("Rogue")).await, needs.clone());
        assert_access(company::set_location_logo(&t.db, &a, &loc, png(64)).await, needs.clone());
    }
    let c = company::company(&t.db).await.unwrap();
    assert_eq!(c.name, "My Clinic");
    assert!(company::company_logo(&t.db).await.unwrap().is_none());
    assert_eq!(company::locations(&t.db).await.unwrap().len(), 1);
    assert_eq!(company::location(&t.db, &loc).await.unwrap().name, "Main");
    assert!(audit_of(&t.db, AuditAction::CompanyUpdated).await.is_empty());
    assert!(audit_of(&t.db, AuditAction::LocationCreated).await.is_empty());
    assert!(audit_of(&t.db, AuditAction::LocationUpdated).await.is_empty());

    // A Super Admin needs no portal permission for this.
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let c = company::update_company(&t.db, &admin, company_input("Acme Family Care", Some("(617) 555-0100")))
        .await
        .unwrap();
    assert_eq!(c.name, "Acme Family Care");
    assert_eq!(c.phone.as_deref(), Some("(617) 555-0100"));
    assert!(c.brand_by_location);
    let audit = audit_of(&t.db, AuditAction::CompanyUpdated).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_id.as_deref(), Some(staff_id(&admin).as_str()));
    assert_eq!(detail(&audit[0])["brand_by_location"], true);

    // A blank phone clears it.
    let c = company::update_company(
        &t.db,
        &admin,
        CompanyInput { name: "Acme".into(), phone: Some(" ".into()), brand_by_location: false },
    )
    .await
    .unwrap();
    assert_eq!(c.phone, None);
    assert!(!c.brand_by_location);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_fields_are_checked() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    let r = company::update_company(&t.db, &admin, company_input("Acme", Some("call me"))).await;
    assert_eq!(invalid_fields(r), ["phone"]);
    let r = company::update_company(&t.db, &admin, company_input("Acme", Some("555"))).await;
    assert_eq!(invalid_fields(r), ["phone"]);
    // Several problems are reported at once.
    let r = company::update_company(&t.db, &admin, company_input("  ", Some("12"))).await;
    assert_eq!(invalid_fields(r), ["name", "phone"]);
    let r = company::update_company(&t.db, &admin, company_input("Acme\u{0}", None)).await;
    assert_eq!(invalid_fields(r), ["name"]);
    assert_eq!(company::company(&t.db).await.unwrap().name, "My Clinic");
    assert!(audit_of(&t.db, AuditAction::CompanyUpdated).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logos_are_checked_by_their_bytes() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);

    let logo = png(2048);
    company::set_company_logo(&t.db, &admin, logo.clone()).await.unwrap();
    assert_eq!(company::company_logo(&t.db).await.unwrap(), Some(("image/png".to_owned(), logo.clone())));
    assert_eq!(company::company(&t.db).await.unwrap().logo_content_type.as_deref(), Some("image/png"));

    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];
    company::set_location_logo(&t.db, &admin, &loc, jpeg.clone()).await.unwrap();
    assert_eq!(company::location_logo(&t.db, &loc).await.unwrap(), Some(("image/jpeg".to_owned(), jpeg)));

    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>"#.to_vec();
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("svg", svg),
        ("garbage", b"GIF89a not really".to_vec()),
        ("empty", Vec::new()),
        ("png magic only", b"\x89PNG\r\n\x1a\n".to_vec()),
        ("too large", png(512 * 1024 + 1)),
    ];
    for (what, bytes) in refused {
        let r = company::set_company_logo(&t.db, &admin, bytes.clone()).await;
        assert_eq!(invalid_fields(r), ["logo"], "{what}");
        let r = company::set_location_logo(&t.db, &admin, &loc, bytes).await;
        assert_eq!(invalid_fields(r), ["logo"], "{what}");
    }
    // The refused uploads replaced nothing.
    assert_eq!(company::company_logo(&t.db).await.unwrap(), Some(("image/png".to_owned(), logo)));
    assert_eq!(company::location_logo(&t.db, &loc).await.unwrap().unwrap().0, "image/jpeg");

    // Exactly the limit is fine.
    company::set_company_logo(&t.db, &admin, png(512 * 1024)).await.unwrap();

    // A location that does not exist answers like one.
    let missing = portal_store::ids::new_id();
    assert_access(company::set_location_logo(&t.db, &admin, &missing, png(64)).await, AccessError::NotFound);

    let company_rows = audit_of(&t.db, AuditAction::CompanyUpdated).await;
    assert_eq!(company_rows.len(), 2, "one per accepted company logo");
    assert_eq!(detail(&company_rows[0])["fields"], serde_json::json!(["logo"]));
    let loc_rows = audit_of(&t.db, AuditAction::LocationUpdated).await;
    assert_eq!(loc_rows.len(), 1);
    assert_eq!(loc_rows[0].target_id.as_deref(), Some(loc.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_checked_and_audited() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);

    let mut bad = location_input("Annex");
    bad.time_zone = "Mars/Olympus_Mons".into();
    bad.zip = Some("ABCDE".into());
    assert_eq!(invalid_fields(company::create_location(&t.db, &admin, bad).await), ["zip", "time_zone"]);
    let mut bad = location_input("");
    bad.time_zone = String::new();
    bad.phone = Some("x".into());
    assert_eq!(invalid_fields(company::create_location(&t.db, &admin, bad).await), ["name", "phone", "time_zone"]);
    let mut bad = location_input("Annex");
    bad.zip = Some("1234".into());
    assert_eq!(invalid_fields(company::create_location(&t.db, &admin, bad).await), ["zip"]);
    assert!(company::locations(&t.db).await.unwrap().is_empty());
    assert!(audit_of(&t.db, AuditAction::LocationCreated).await.is_empty());

    let l = company::create_location(&t.db, &admin, location_input("Annex")).await.unwrap();
    assert!(portal_core::ids::LocationId::parse(&l.id).is_ok(), "random id");
    assert_eq!(l.name, "Annex");
    assert_eq!(l.zip.as_deref(), Some("02110"));
    assert_eq!(l.time_zone, "America/New_York");
    let created = audit_of(&t.db, AuditAction::LocationCreated).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].target_kind.as_deref(), Some("location"));
    assert_eq!(created[0].target_id.as_deref(), Some(l.id.as_str()));
    assert_eq!(created[0].actor_id.as_deref(), Some(staff_id(&admin).as_str()));

    // Optional fields may be left out; a ZIP+4 is fine.
    let mut minimal =
        LocationInput { name: "North".into(), time_zone: "Pacific/Honolulu".into(), ..Default::default() };
    minimal.zip = Some("96813-1234".into());
    let north = company::create_location(&t.db, &admin, minimal).await.unwrap();
    assert_eq!(north.city, None);

    let mut bad = location_input("Annex West");
    bad.time_zone = "Europe/Paris".into();
    assert_eq!(invalid_fields(company::update_location(&t.db, &admin, &l.id, bad).await), ["time_zone"]);
    assert_eq!(company::location(&t.db, &l.id).await.unwrap().name, "Annex");

    let mut edit = location_input("Annex West");
    edit.time_zone = "America/Chicago".into();
    edit.city = None;
    let l2 = company::update_location(&t.db, &admin, &l.id, edit).await.unwrap();
    assert_eq!(l2.name, "Annex West");
    assert_eq!(l2.time_zone, "America/Chicago");
    assert_eq!(l2.city, None);
    assert_eq!(l2.created_at, l.created_at);
    let updated = audit_of(&t.db, AuditAction::LocationUpdated).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].target_id.as_deref(), Some(l.id.as_str()));

    let missing = portal_store::ids::new_id();
    assert_access(company::update_location(&t.db, &admin, &missing, location_input("X")).await, AccessError::NotFound);
    assert_access(company::location(&t.db, &missing).await, AccessError::NotFound);
    assert_eq!(audit_of(&t.db, AuditAction::LocationUpdated).await.len(), 1);
    assert_eq!(company::locations(&t.db).await.unwrap().len(), 2);
}
