//! The pages driven in-process: who may open what, and that refused forms come back with the
//! errors beside their fields and the typed values kept.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use portal_auth::staff::{self, StaffInput};
use portal_core::Actor;
use portal_core::staff::PortalPermission;
use portal_practice::company::{self, LocationInput};
use portal_practice::patients::{self, PatientInput};
use portal_store::testing::TestDb;
use tower::ServiceExt;

use crate::config::{Config, ConfigArgs};
use crate::state::AppState;

const PASSWORD: &str = "correct horse battery staple";

struct World {
    _db: TestDb,
    state: AppState,
    router: axum::Router,
    location: String,
    patient: String,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl World {
    async fn new() -> World {
        let test_db = TestDb::new().await;
        let config = Config::load(&ConfigArgs { database_url: Some(test_db.url.clone()), ..Default::default() })
            .expect("config");
        let state = AppState::new(test_db.db.clone(), config);
        let db = state.db();
        let sys = Actor::system();
        let location = company::create_location(
            db,
            &sys,
            LocationInput { name: "Downtown".into(), time_zone: "America/New_York".into(), ..Default::default() },
        )
        .await
        .expect("location");
        let people = [
            ("Ada Admin", "admin@x.example", "super_admin", true),
            ("Sam Second", "second@x.example", "super_admin", false),
            ("Pam Manager", "pm@x.example", "practice_manager", false),
            ("Fred Desk", "desk@x.example", "front_desk", false),
        ];
        for (name, email, role, portal_settings) in people {
            let v = staff::create(
                db,
                &state.app().hasher,
                &sys,
                StaffInput {
                    name: name.into(),
                    email: email.into(),
                    role: role.into(),
                    location_ids: vec![location.id.clone()],
                    active: true,
                    password: Some(PASSWORD.into()),
                },
            )
            .await
            .expect("staff");
            if portal_settings {
                staff::set_portal_permission(db, &sys, &v.row.id, PortalPermission::ManagePortalSettings, true)
                    .await
                    .expect("permission");
            }
        }
        let mut patient_ids = Vec::new();
        for i in 0..30 {
            let p = patients::create(
                db,
                &sys,
                PatientInput {
                    first_name: format!("Ann{i}"),
                    last_name: "Lee".into(),
                    date_of_birth: "1980-01-02".into(),
                    email: Some(format!("ann{i}@example.com")),
                    location_id: location.id.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("patient");
            patient_ids.push(p.id);
        }
        let router = crate::app::build(state.clone());
        World { _db: test_db, state, router, location: location.id, patient: patient_ids.remove(0) }
    }

    async fn token(&self, email: &str) -> String {
        let s = &self.state;
        portal_auth::sessions::sign_in_staff(s.db(), &s.app().hasher, &s.app().sessions, email, PASSWORD, None, None)
            .await
            .expect("sign-in")
            .token
    }

    async fn send(&self, token: &str, method: &str, uri: &str, form: Option<&str>) -> Page {
        let mut b = Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
        if form.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = b.body(Body::from(form.unwrap_or_default().to_owned())).expect("request");
        let res = self.router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = String::from_utf8_lossy(&res.into_body().collect().await.expect("body").to_bytes()).into_owned();
        Page { status, location, body }
    }

    async fn get(&self, token: &str, uri: &str) -> Page {
        self.send(token, "GET", uri, None).await
    }

    async fn post(&self, token: &str, uri: &str, form: &str) -> Page {
        self.send(token, "POST", uri, Some(form)).await
    }
}

#[tokio::test]
async fn who_may_open_which_page() {
    let w = World::new().await;
    let admin = w.token("admin@x.example").await;
    let desk = w.token("desk@x.example").await;
    let second = w.token("second@x.example").await;
    for uri in ["/settings/instance", "/settings/company", "/settings/locations", "/users", "/users/new", "/audit"] {
        assert_eq!(w.get(&admin, uri).await.status, StatusCode::OK, "{uri}");
        assert_eq!(w.get(&desk, uri).await.status, StatusCode::FORBIDDEN, "{uri}");
    }
    for uri in ["/", "/patients", "/patients/new", "/account", &format!("/patients/{}", w.patient)] {
        assert_eq!(w.get(&desk, uri).await.status, StatusCode::OK, "{uri}");
    }
    // Seed 000: Manage Portal Settings is not part of Super Admin.
    let page = w.get(&second, "/settings/instance").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("Manage Portal Settings"));
    assert_eq!(w.get(&second, "/settings").await.location, "/settings/company");
    assert_eq!(w.get(&admin, "/settings").await.location, "/settings/instance");
    assert_eq!(w.get(&admin, "/patients/not-an-id").await.status, StatusCode::NOT_FOUND);
    assert_eq!(w.get(&admin, "/users/not-an-id").await.status, StatusCode::NOT_FOUND);
    assert_eq!(w.get(&admin, "/settings/locations/not-an-id").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn use_portal_needs_the_fee_acknowledged() {
    let w = World::new().await;
    let admin = w.token("admin@x.example").await;
    let page = w.get(&admin, "/settings/instance").await;
    assert!(page.body.contains("$200.00 per location per month × 1 location = <strong>$200.00 per month"));
    let page = w.post(&admin, "/settings/instance/use-portal", "enabled=on").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r##"<a href="#acknowledge_fee">"##));
    assert!(page.body.contains(r#"id="acknowledge_fee-error""#));
    assert!(page.body.contains(r#"id="enabled" name="enabled" value="on" checked"#));
    let page = w.post(&admin, "/settings/instance/use-portal", "enabled=on&acknowledge_fee=on").await;
    assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, "/settings/instance?saved=1"));
    let page = w.get(&admin, "/settings/instance?saved=1").await;
    assert!(page.body.contains("Yes: $200.00 per month for 1 location"));
    assert!(page.body.contains("data-confirm="));
    assert!(portal_practice::settings::portal_enabled(w.state.db()).await.expect("setting"));
}

#[tokio::test]
async fn portal_permissions_the_actor_may_not_change_are_disabled_with_the_reason() {
    let w = World::new().await;
    let pm = w.token("pm@x.example").await;
    let users = staff::list(w.state.db(), &Actor::system()).await.expect("staff");
    let desk = users.iter().find(|u| u.row.email == "desk@x.example").expect("desk");
    let page = w.get(&pm, &format!("/users/{}", desk.row.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"name="manage_portal_settings" value="on" disabled"#));
    assert!(page.body.contains("Only a Super Admin can grant or remove Manage Portal Settings."));
    assert!(!page.body.contains(r#"name="allow_document_share" value="on" disabled"#));
    // A forged tick of the disabled box changes nothing; the allowed one is granted.
    let form = "allow_document_share=on&manage_portal_settings=on";
    let page = w.post(&pm, &format!("/users/{}/portal-permissions", desk.row.id), form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let after = staff::get(w.state.db(), &Actor::system(), &desk.row.id).await.expect("staff");
    assert_eq!(after.portal_permissions, vec![PortalPermission::AllowDocumentShare]);
}

#[tokio::test]
async fn refused_forms_keep_what_was_typed() {
    let w = World::new().await;
    let admin = w.token("admin@x.example").await;
    let page = w.post(&admin, "/users/new", "name=&email=kim%40x.example&role=&password=short").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r#"class="error-summary" role="alert" tabindex="-1""#));
    assert!(page.body.contains(r#"value="kim@x.example""#));
    assert!(page.body.contains("Choose a role."));
    assert!(page.body.contains(r#"aria-describedby="password-hint password-error""#));
    let form = "name=Riverside%20West&zip=123&time_zone=America%2FChicago&city=Boston";
    let page = w.post(&admin, "/settings/locations/new", form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r#"value="Boston""#));
    assert!(page.body.contains(r#"<option value="America/Chicago" selected>"#));
    assert!(page.body.contains(r#"id="zip-error""#));
}

#[tokio::test]
async fn a_changed_email_must_be_confirmed_with_the_patient() {
    let w = World::new().await;
    let desk = w.token("desk@x.example").await;
    let base =
        format!("first_name=Ann0&last_name=Lee&date_of_birth=1980-01-02&location_id={}&status=active", w.location);
    let uri = format!("/patients/{}/edit", w.patient);
    let page = w.get(&desk, &uri).await;
    assert!(page.body.contains("Any other people with access to that account could see protected health information"));
    let page = w.post(&desk, &uri, &format!("{base}&email=other%40example.com&phone=12")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(r#"id="confirm_email-error""#));
    assert!(page.body.contains(r#"id="phone-error""#), "the other fields are checked too");
    assert!(page.body.contains(r#"value="other@example.com""#));
    let page = w.post(&desk, &uri, &format!("{base}&email=other%40example.com&confirm_email=on")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // The address on file again: no confirmation needed.
    let page = w.post(&desk, &uri, &format!("{base}&email=OTHER%40example.com")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn patient_pages_keep_the_filters() {
    let w = World::new().await;
    let desk = w.token("desk@x.example").await;
    let page = w.get(&desk, "/patients?q=lee&status=active").await;
    assert!(page.body.contains("Showing 1–25 of 30 patients"));
    assert!(page.body.contains(r#"href="/patients?q=lee&#38;status=active&#38;page=2" rel="next""#));
    let page = w.get(&desk, "/patients?q=lee&status=active&page=2").await;
    assert!(page.body.contains("Showing 26–30 of 30 patients"));
    let page = w.get(&desk, "/patients?q=nobody-like-this").await;
    assert!(page.body.contains("No patients match this search"));
    assert_eq!(w.get(&desk, "/patients?q=%00").await.status, StatusCode::BAD_REQUEST);
}
