//! The printable handout (seed 003) over HTTP: the sheet shows the clinic's name, phone and
//! address, the configured portal address and a QR code that a decoder reads back as that
//! address; without a configured public URL it says so instead of guessing from `Host`; the
//! text is escaped and split into paragraphs; every staff user prints, only Manage Portal
//! Settings edits (pages and API), and each change is audited.

mod common;

use common::{Caller, TestApp, TestRequest, TestResponse, World};
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://portal.riverside.example";
const PORTAL_ADDRESS: &str = "https://portal.riverside.example/portal";

async fn world_with_public_url() -> World {
    World::on(TestApp::with_public_url(PUBLIC_URL).await).await
}

/// `application/x-www-form-urlencoded` of `pairs`, every byte but letters and digits escaped.
fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&").into_bytes()
}

fn post_form(uri: &str, pairs: &[(&str, &str)]) -> TestRequest {
    TestRequest::post(uri).raw(Some("application/x-www-form-urlencoded"), form(pairs))
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("`{start}` not found in {text}")) + start.len();
    let len = text[from..].find(end).unwrap_or_else(|| panic!("no `{end}` after `{start}`"));
    &text[from..from + len]
}

/// The inline SVG of the page's QR code.
fn page_qr_svg(html: &str) -> String {
    let qr = &html[html.find("id=\"handout-qr\"").expect("a QR code on the page")..];
    let start = qr.find("<svg").expect("an inline SVG");
    let end = qr.find("</svg>").expect("the end of the SVG") + "</svg>".len();
    qr[start..end].to_owned()
}

/// Reads a QR code drawn as our SVG (a `viewBox` in modules, one `M x y h w v1 h-w z` run per
/// row segment of dark modules) with an independent decoder: rasterised at 4 pixels a module,
/// then decoded by `rqrr`.
fn decode_qr_svg(svg: &str) -> String {
    let size: usize = between(svg, "viewBox=\"0 0 ", " ").parse().expect("viewBox size");
    let d = between(svg, " d=\"", "\"");
    let scale = 4;
    let px = size * scale;
    let mut dark = vec![false; px * px];
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').expect("a run");
        let (x, y) = xy.split_once(' ').expect("x y");
        let (x, y): (usize, usize) = (x.parse().expect("x"), y.parse().expect("y"));
        let w: usize = rest.split_once('v').expect("v").0.parse().expect("width");
        assert!(x + w <= size && y < size, "a run outside the code: {run}");
        for yy in y * scale..(y + 1) * scale {
            for xx in x * scale..(x + w) * scale {
                dark[yy * px + xx] = true;
            }
        }
    }
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(px, px, |x, y| if dark[y * px + x] { 0 } else { 255 });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the SVG");
    let (_meta, content) = grids[0].decode().expect("the QR code decodes");
    content
}

async fn set_company(w: &World, name: &str, phone: &str, brand_by_location: bool) {
    w.send_as(
        Caller::SuperAdmin,
        TestRequest::put("/api/v1/company").json(&json!({
            "name": name, "phone": phone, "brand_by_location": brand_by_location
        })),
    )
    .await
    .assert_status(200);
}

async fn handout_audit_rows(w: &World) -> Vec<portal_store::audit::AuditRow> {
    let mut conn = w.db().read().await.expect("read");
    let filter =
        portal_store::audit::AuditFilter { action: Some("setting_changed".into()), limit: 500, ..Default::default() };
    let mut rows = portal_store::audit::list(&mut conn, &filter).await.expect("audit");
    rows.retain(|r| r.target_id.as_deref() == Some("portal_handout"));
    rows.reverse();
    rows
}

fn html(res: &TestResponse) -> String {
    assert!(
        res.header("content-type").is_some_and(|c| c.starts_with("text/html")),
        "{} {}: not a page: {:?}",
        res.method,
        res.uri,
        res.header("content-type")
    );
    res.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_shows_the_clinic_the_address_and_a_qr_code_that_reads_back() {
    let w = world_with_public_url().await;
    set_company(&w, "Riverside Health", "555-010-0000", false).await;

    // The front desk prints it.
    let res = w.send_as(Caller::FrontDesk, TestRequest::get("/handout")).await;
    res.assert_status(200);
    let page = html(&res);
    assert!(page.contains("<link rel=\"stylesheet\" href=\"/static/handout.css\">"));
    assert_eq!(between(&page, "id=\"handout-clinic\">", "<"), "Riverside Health");
    assert_eq!(between(&page, "id=\"handout-phone\">", "<"), "555-010-0000");
    // Printed whole, with a line-break opportunity only before the path.
    assert_eq!(
        between(&page, "id=\"handout-portal-address\">", "</p>"),
        "https://portal.riverside.example<wbr>/portal"
    );
    assert_eq!(between(&page, "id=\"handout-title\">", "<"), portal_core::handout::DEFAULT_TITLE);
    // Every location's address (Location A and B of the world), street and town.
    let footer = between(&page, "id=\"handout-locations\">", "</footer>");
    for must in ["Location A", "Location B", "1 Main St", "Springfield, IL 62701"] {
        assert!(footer.contains(must), "the addresses lack {must}: {footer}");
    }
    // The QR code is inline SVG (no request elsewhere) and reads back as the portal address.
    let svg = page_qr_svg(&page);
    assert_eq!(decode_qr_svg(&svg), PORTAL_ADDRESS);
    assert!(!page.contains("id=\"handout-no-public-url\""));

    // The API carries the same, with the SVG as a string.
    let res = w.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/handout")).await;
    res.assert_status(200);
    let v = res.json();
    assert_eq!(v["portal_url"], PORTAL_ADDRESS);
    assert_eq!(v["is_default"], true);
    assert_eq!(v["updated_at"], Value::Null);
    assert_eq!(v["title"], portal_core::handout::DEFAULT_TITLE);
    assert_eq!(v["body"], portal_core::handout::HandoutBody::default_body().as_str());
    assert_eq!(v["branding"]["clinic_name"], "Riverside Health");
    assert_eq!(v["branding"]["phone"], "555-010-0000");
    assert_eq!(v["branding"]["logo_url"], Value::Null);
    assert_eq!(v["branding"]["locations"].as_array().map(Vec::len), Some(2));
    let api_svg = v["qr_svg"].as_str().expect("qr_svg");
    assert_eq!(api_svg, svg, "the page and the API draw the same code");
    assert_eq!(decode_qr_svg(api_svg), PORTAL_ADDRESS);

    // With a logo the sheet shows it (from the public branding route).
    w.send_as(Caller::SuperAdmin, TestRequest::put("/api/v1/company/logo").raw(Some("image/png"), common::png_bytes()))
        .await
        .assert_status(204);
    let page = html(&w.send_as(Caller::FrontDesk, TestRequest::get("/handout")).await);
    assert!(page.contains("<img src=\"/branding/logo\" alt=\"\" class=\"handout-logo\" id=\"handout-logo\">"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_public_url_the_sheet_says_so_and_never_uses_host() {
    let w = World::new().await;
    let req = TestRequest::get("/handout").header("host", "evil.example").header("x-forwarded-host", "evil.example");
    let res = w.send_as(Caller::FrontDesk, req).await;
    res.assert_status(200);
    let page = html(&res);
    assert!(page.contains("id=\"handout-no-public-url\""), "the page says the address is not configured");
    assert!(page.contains("id=\"handout-portal-address-missing\""));
    assert!(!page.contains("id=\"handout-qr\""), "no QR code of a guessed address");
    assert!(!page.contains("evil.example"));
    assert!(!page.contains("127.0.0.1"), "the default bind address is no address to print");

    let v = w.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/handout")).await.json();
    assert_eq!(v["portal_url"], Value::Null);
    assert_eq!(v["qr_svg"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_is_escaped_and_split_into_paragraphs_and_lists() {
    let w = world_with_public_url().await;
    let body = "Hello <script>alert(1)</script> & welcome.\nSecond line.\n\nYou can:\n- message us\n- pay <b>bills</b>\n\n\n\nBye \"now\"";
    let res = w
        .send_as(
            Caller::SuperAdmin,
            TestRequest::put("/api/v1/handout").json(&json!({ "title": "Our <i>portal</i>", "body": body })),
        )
        .await;
    res.assert_status(200);
    let v = res.json();
    assert_eq!(v["is_default"], false);
    assert_eq!(v["updated_by_name"], "Sam Super");
    assert!(v["updated_at"].is_string());
    assert_eq!(
        v["body"],
        "Hello <script>alert(1)</script> & welcome.\nSecond line.\n\nYou can:\n- message us\n- pay <b>bills</b>\n\nBye \"now\""
    );

    let page = html(&w.send_as(Caller::Billing, TestRequest::get("/handout")).await);
    assert!(!page.contains("<script>alert"), "markup typed by staff is never markup on the page");
    assert!(!page.contains("<b>bills"));
    assert!(!page.contains("<i>portal"));
    assert_eq!(between(&page, "id=\"handout-title\">", "</h2>"), "Our &#60;i&#62;portal&#60;/i&#62;");
    let text = between(&page, "id=\"handout-body\">", "</div>");
    let paragraphs: Vec<&str> = text.split("<p>").skip(1).map(|p| p.split("</p>").next().unwrap_or("")).collect();
    assert_eq!(
        paragraphs,
        [
            "Hello &#60;script&#62;alert(1)&#60;/script&#62; &#38; welcome.<br>Second line.",
            "You can:",
            "Bye &#34;now&#34;",
        ]
    );
    let items: Vec<&str> = text.split("<li>").skip(1).map(|i| i.split("</li>").next().unwrap_or("")).collect();
    assert_eq!(items, ["message us", "pay &#60;b&#62;bills&#60;/b&#62;"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_on_staff_prints_but_only_manage_portal_settings_edits() {
    let w = world_with_public_url().await;
    for caller in Caller::STAFF {
        let res = w.send_as(caller, TestRequest::get("/handout")).await;
        assert_eq!(res.code(), 200, "{} cannot print the handout", caller.label());
        let page = html(&res);
        // The edit link only for those who may edit.
        assert_eq!(page.contains("id=\"handout-edit-link\""), caller == Caller::SuperAdmin, "{}", caller.label());
    }
    // Not signed in, or signed in to the portal: the staff sign-in page.
    for caller in [Caller::Anonymous, Caller::PortalA] {
        let res = w.send_as(caller, TestRequest::get("/handout")).await;
        assert_eq!(res.code(), 303, "{}: {}", caller.label(), res.text());
        assert!(res.header("location").is_some_and(|l| l.contains("sign-in")), "{:?}", res.header("location"));
    }

    // Refused editors: the front desk, and a Super Admin without Manage Portal Settings.
    for caller in [Caller::FrontDesk, Caller::SuperAdminNoSettings, Caller::PracticeManager] {
        let res = w.send_as(caller, TestRequest::get("/settings/handout")).await;
        assert_eq!(res.code(), 403, "{}", caller.label());
        assert!(html(&res).contains("Manage Portal Settings"), "the page names the permission");
        let res = w.send_as(caller, post_form("/settings/handout", &[("title", "Mine"), ("body", "Mine")])).await;
        assert_eq!(res.code(), 403, "{}", caller.label());
        html(&res);
        // Bad input from them is refused for the permission, not for the input.
        let res = w.send_as(caller, post_form("/settings/handout", &[("title", ""), ("body", "")])).await;
        assert_eq!(res.code(), 403, "{}", caller.label());
        let res = w.send_as(caller, TestRequest::post("/settings/handout/restore-default")).await;
        assert_eq!(res.code(), 403, "{}", caller.label());
        let p = w
            .send_as(caller, TestRequest::put("/api/v1/handout").json(&json!({ "title": "Mine", "body": "Mine" })))
            .await
            .assert_problem(403);
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("Manage Portal Settings")), "{p}");
        w.send_as(caller, TestRequest::delete("/api/v1/handout")).await.assert_problem(403);
    }
    let v = w.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/handout")).await.json();
    assert_eq!(v["is_default"], true, "no refused call changed the text");
    assert!(handout_audit_rows(&w).await.is_empty());

    // No Handout tab in Settings for those who cannot edit it.
    let company = w.send_as(Caller::SuperAdminNoSettings, TestRequest::get("/settings/company")).await;
    assert!(!html(&company).contains("id=\"settings-tab-handout\""));
    let instance = w.send_as(Caller::SuperAdmin, TestRequest::get("/settings/instance")).await;
    assert!(html(&instance).contains("id=\"settings-tab-handout\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_edits_previews_and_restores_the_text() {
    let w = world_with_public_url().await;
    let res = w.send_as(Caller::SuperAdmin, TestRequest::get("/settings/handout")).await;
    res.assert_status(200);
    let page = html(&res);
    assert!(page.contains("id=\"handout-form\""));
    assert!(page.contains("aria-current=\"page\">Handout</a>"));
    assert!(page.contains("This is Portal's default text."));
    assert!(!page.contains("id=\"handout-restore-form\""), "nothing to restore yet");
    assert_eq!(
        between(&page, "id=\"title\" name=\"title\" type=\"text\" value=\"", "\""),
        "Your health, online: our patient portal"
    );
    // The preview is the printed sheet, QR code included.
    assert_eq!(decode_qr_svg(&page_qr_svg(&page)), PORTAL_ADDRESS);

    // A bad submission comes back with the errors and what was typed.
    let typed = "My typed text <kept>\n\nSecond paragraph";
    let res = w.send_as(Caller::SuperAdmin, post_form("/settings/handout", &[("title", "  "), ("body", typed)])).await;
    res.assert_status(422);
    let page = html(&res);
    assert!(page.contains("class=\"error-summary\""));
    assert!(page.contains("<a href=\"#title\">Title is required</a>"), "{page}");
    assert!(page.contains("My typed text &#60;kept&#62;\n\nSecond paragraph</textarea>"), "the typed text is kept");
    let long = "x".repeat(portal_core::handout::BODY_MAX_CHARS + 1);
    let res = w.send_as(Caller::SuperAdmin, post_form("/settings/handout", &[("title", "Ok"), ("body", &long)])).await;
    res.assert_status(422);
    assert!(html(&res).contains("Text must be at most 4000 characters"));
    assert!(handout_audit_rows(&w).await.is_empty());

    // A good one is saved, audited once, and shown in the preview and on the printed sheet.
    let res = w
        .send_as(
            Caller::SuperAdmin,
            post_form(
                "/settings/handout",
                &[("title", "Welcome to our portal"), ("body", "Ask us for an invitation.\r\n")],
            ),
        )
        .await;
    res.assert_status(303);
    assert_eq!(res.header("location"), Some("/settings/handout?saved=1"));
    let page = html(&w.send_as(Caller::SuperAdmin, TestRequest::get("/settings/handout?saved=1")).await);
    assert!(page.contains("The handout has been saved."));
    assert!(page.contains("last changed by Sam Super"));
    assert!(page.contains("id=\"handout-restore-form\""));
    let printed = html(&w.send_as(Caller::FrontDesk, TestRequest::get("/handout")).await);
    assert_eq!(between(&printed, "id=\"handout-title\">", "<"), "Welcome to our portal");
    assert!(between(&printed, "id=\"handout-body\">", "</div>").contains("<p>Ask us for an invitation.</p>"));
    let rows = handout_audit_rows(&w).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_id.as_deref(), Some(w.id(Caller::SuperAdmin)));
    assert!(rows[0].ip.is_some(), "the audit row says from where");

    // The same again: nothing changes, nothing is recorded.
    let res = w
        .send_as(
            Caller::SuperAdmin,
            post_form(
                "/settings/handout",
                &[("title", "Welcome to our portal"), ("body", "Ask us for an invitation.")],
            ),
        )
        .await;
    assert_eq!(res.header("location"), Some("/settings/handout?unchanged=1"));
    assert_eq!(handout_audit_rows(&w).await.len(), 1);

    // Restoring the default.
    let res = w.send_as(Caller::SuperAdmin, TestRequest::post("/settings/handout/restore-default")).await;
    assert_eq!(res.header("location"), Some("/settings/handout?restored=1"));
    let v = w.send_as(Caller::FrontDesk, TestRequest::get("/api/v1/handout")).await.json();
    assert_eq!(v["is_default"], true);
    assert_eq!(handout_audit_rows(&w).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_bad_text_per_field() {
    let w = world_with_public_url().await;
    let put = |v: Value| TestRequest::put("/api/v1/handout").json(&v);
    let res = w.send_as(Caller::SuperAdmin, put(json!({ "title": " ", "body": "" }))).await;
    assert_eq!(res.error_fields(), ["title".to_owned(), "body".to_owned()].into());
    let long_title = "t".repeat(121);
    let res = w.send_as(Caller::SuperAdmin, put(json!({ "title": long_title, "body": "ok" }))).await;
    let p = res.assert_problem(422);
    assert_eq!(p["errors"][0]["field"], "title");
    assert_eq!(p["errors"][0]["detail"], "must be at most 120 characters");
    let res = w.send_as(Caller::SuperAdmin, put(json!({ "title": "ok", "body": "b".repeat(4001) }))).await;
    assert_eq!(res.error_fields(), ["body".to_owned()].into());
    let res = w.send_as(Caller::SuperAdmin, put(json!({ "title": "two\nlines", "body": "ok" }))).await;
    assert_eq!(res.error_fields(), ["title".to_owned()].into());
    // A missing field is a shape error, still a 422 problem.
    w.send_as(Caller::SuperAdmin, put(json!({ "title": "only a title" }))).await.assert_problem(422);
    let v = w.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/handout")).await.json();
    assert_eq!(v["is_default"], true);
    assert!(handout_audit_rows(&w).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_sheet_carries_its_branding_when_the_company_brands_by_location() {
    let w = world_with_public_url().await;
    set_company(&w, "Riverside Health", "555-010-0000", true).await;
    let a = w.location_a.clone();
    let page = html(&w.send_as(Caller::FrontDesk, TestRequest::get(format!("/handout?location={a}"))).await);
    assert_eq!(between(&page, "id=\"handout-clinic\">", "<"), "Location A");
    let footer = between(&page, "id=\"handout-locations\">", "</footer>");
    assert!(footer.contains("Location A") && !footer.contains("Location B"), "{footer}");
    assert!(page.contains(&format!("<option value=\"{a}\" selected>Location A</option>")));
    // Still the same portal and QR code: one portal for every location.
    assert_eq!(decode_qr_svg(&page_qr_svg(&page)), PORTAL_ADDRESS);

    let v = w.send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/handout?location_id={a}"))).await.json();
    assert_eq!(v["branding"]["clinic_name"], "Location A");
    assert_eq!(v["branding"]["location_id"], a.as_str());
    assert_eq!(v["branding"]["phone"], "555-010-0000", "the location has no phone: the company's");

    // Unknown or malformed locations: a readable 404 page; a 422 naming the field in the API.
    for bad in [common::missing_id(), "not-an-id".to_owned(), "%27%20OR%201%3D1".to_owned()] {
        let res = w.send_as(Caller::FrontDesk, TestRequest::get(format!("/handout?location={bad}"))).await;
        assert_eq!(res.code(), 404, "{bad}");
        assert!(html(&res).contains("There is no such location."));
        let res = w.send_as(Caller::FrontDesk, TestRequest::get(format!("/api/v1/handout?location_id={bad}"))).await;
        assert_eq!(res.error_fields(), ["location_id".to_owned()].into(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stylesheet_hides_the_navigation_on_paper() {
    let app = TestApp::new().await;
    let res = app.send(TestRequest::get("/static/handout.css")).await;
    res.assert_status(200);
    assert_eq!(res.header("content-type"), Some("text/css; charset=utf-8"));
    let css = res.text();
    let print = &css[css.find("@media print").expect("a print section")..];
    for hidden in [".site-header", ".site-nav", ".no-print", ".tabs"] {
        assert!(print.contains(hidden), "{hidden} is not hidden on paper");
    }
    app.send(TestRequest::get("/static/handout.js")).await.assert_status(200);
}
