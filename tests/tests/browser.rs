//! Browser tests: the pages in a real headless Chromium. Run by `cargo xtask test` (which sets
//! PORTAL_BROWSER=1, PORTAL_CHROMIUM and PORTAL_CHROMEDRIVER); skipped otherwise.

mod browser_support;

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
