//! The printable handout for patients (seed 003): branding, portal address, QR code, editable text.
//!
//! `GET /handout` is the sheet itself, for any staff user (the front desk prints it), optionally
//! for one location (`?location=ID`: its address, and its name and logo when the company brands
//! by location). `GET /settings/handout` edits the text (Manage Portal Settings) beside a preview.
//! The portal address comes from the configured public URL only, never from the request's
//! `Host`: without one the sheet says to ask the front desk and prints no QR code.

use std::fmt::Write as _;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_core::handout::{BODY_MAX_CHARS, Block, TITLE_MAX_CHARS};
use portal_practice::PracticeError;
use portal_practice::handout::{self, HandoutInput, HandoutSheet, HandoutText, SheetLocation, SheetLogo};
use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;

use super::forms::{FormErrors, SelectOption, when, when_iso};
use super::settings::SettingsTabs;
use super::{Chrome, PageForm, PageQuery, error_page, problem_page, render, render_status};
use crate::extract::{PageStaff, SignedInStaff};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/handout", get(print_page))
        .route("/settings/handout", get(edit_page).post(save))
        .route("/settings/handout/restore-default", post(restore_default))
}

/// The address patients open: the configured public URL and `/portal`; `None` when no public
/// URL is configured (the default one, derived from the bind address, is no address to print).
pub(crate) fn portal_address(state: &AppState) -> Option<String> {
    let c = state.config();
    c.public_url_configured.then(|| format!("{}/portal", c.public_url))
}

/// Quiet zone around the code, in modules: the four the QR standard asks for.
const QUIET_ZONE: usize = 4;

/// The QR code of `text` as a standalone SVG document (also valid inline in HTML): one square
/// per dark module on a white square, in a `viewBox` of modules so that CSS sets its printed
/// size. Medium error correction (15 %) survives a smudge on paper. `None` if `text` is too long
/// for any QR code.
pub(crate) fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    let size = n + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..n {
        let mut x = 0;
        while x < n {
            if colors[y * n + x] != Color::Dark {
                x += 1;
                continue;
            }
            // One rectangle per horizontal run of dark modules keeps the path short.
            let start = x;
            while x < n && colors[y * n + x] == Color::Dark {
                x += 1;
            }
            let _ = write!(path, "M{} {}h{}v1h-{}z", start + QUIET_ZONE, y + QUIET_ZONE, x - start, x - start);
        }
    }
    Some(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size}" height="{size}" "#,
            r#"shape-rendering="crispEdges" aria-hidden="true" focusable="false">"#,
            r##"<rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{path}"/></svg>"##,
        ),
        size = size,
        path = path,
    ))
}

/// One block of the printed text.
struct BlockView {
    is_list: bool,
    lines: Vec<String>,
}

struct LocationView {
    id: String,
    name: String,
    street: Option<String>,
    /// "Springfield, IL 62701", or empty.
    town: String,
    phone: Option<String>,
}

impl From<&SheetLocation> for LocationView {
    fn from(l: &SheetLocation) -> Self {
        let place = [l.city.as_deref(), l.state.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
        let town = [Some(place.as_str()).filter(|p| !p.is_empty()), l.zip.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Self { id: l.id.clone(), name: l.name.clone(), street: l.address_line1.clone(), town, phone: l.phone.clone() }
    }
}

/// What the sheet template (`handout_sheet.html`) shows.
struct SheetView {
    title: String,
    blocks: Vec<BlockView>,
    clinic_name: String,
    phone: Option<String>,
    logo_src: Option<String>,
    locations: Vec<LocationView>,
    portal_address: Option<String>,
    /// The address cut before each `/` of its path: where a narrow sheet may break the line.
    portal_address_parts: Vec<String>,
    qr_svg: Option<String>,
}

/// `https://host/a/b` -> `["https://host", "/a", "/b"]`.
fn address_parts(address: &str) -> Vec<String> {
    let after_scheme = address.find("://").map_or(0, |i| i + 3);
    let path_at = address[after_scheme..].find('/').map_or(address.len(), |i| i + after_scheme);
    let (origin, mut rest) = address.split_at(path_at);
    let mut parts = vec![origin.to_owned()];
    while !rest.is_empty() {
        let next = rest[1..].find('/').map_or(rest.len(), |i| i + 1);
        parts.push(rest[..next].to_owned());
        rest = &rest[next..];
    }
    parts
}

impl SheetView {
    fn new(state: &AppState, sheet: &HandoutSheet, text: &HandoutText) -> Self {
        let portal_address = portal_address(state);
        let blocks = text
            .blocks()
            .into_iter()
            .map(|b| match b {
                Block::Paragraph(lines) => BlockView { is_list: false, lines },
                Block::List(items) => BlockView { is_list: true, lines: items },
            })
            .collect();
        Self {
            title: text.title.clone(),
            blocks,
            clinic_name: sheet.clinic_name.clone(),
            phone: sheet.phone.clone(),
            logo_src: sheet.logo.as_ref().map(|l| match l {
                SheetLogo::Company => "/branding/logo".to_owned(),
                SheetLogo::Location(id) => format!("/branding/locations/{id}/logo"),
            }),
            locations: sheet.locations.iter().map(Into::into).collect(),
            qr_svg: portal_address.as_deref().and_then(qr_svg),
            portal_address_parts: portal_address.as_deref().map(address_parts).unwrap_or_default(),
            portal_address,
        }
    }
}

#[derive(Template)]
#[template(path = "handout.html")]
struct PrintPage {
    chrome: Chrome,
    sheet: SheetView,
    locations: Vec<SelectOption>,
    may_edit: bool,
}

#[derive(Deserialize)]
struct PrintQuery {
    #[serde(default)]
    location: Option<String>,
}

async fn print_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<PrintQuery>,
) -> Response {
    let sheet = match handout::sheet(state.db(), &s.actor, q.location.as_deref()).await {
        Ok(sheet) => sheet,
        Err(PracticeError::Invalid(_)) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "There is no such location. Choose one from the list on the handout page.",
            );
        }
        Err(e) => return problem_page(e.into()),
    };
    let all = match portal_practice::company::locations(state.db()).await {
        Ok(all) => all,
        Err(e) => return problem_page(e.into()),
    };
    let chosen = sheet.location_id.clone().unwrap_or_default();
    render(&PrintPage {
        chrome: Chrome::for_staff(&state, &s, "").await,
        sheet: SheetView::new(&state, &sheet, &sheet.text),
        locations: all.into_iter().map(|l| SelectOption::new(l.id, l.name, &chosen)).collect(),
        may_edit: s.staff.require_portal_settings().is_ok(),
    })
}

#[derive(Template)]
#[template(path = "handout_edit.html")]
struct EditPage {
    chrome: Chrome,
    tabs: SettingsTabs,
    errors: FormErrors,
    title: String,
    body: String,
    is_default: bool,
    updated_by: String,
    updated_when: String,
    updated_when_iso: String,
    title_max: usize,
    body_max: usize,
    sheet: SheetView,
    saved: bool,
    unchanged: bool,
    restored: bool,
}

impl EditPage {
    /// The page for the stored text; `typed` replaces the form's values after a bad submission.
    async fn build(state: &AppState, s: &SignedInStaff, typed: Option<(String, String)>) -> Result<Self, Response> {
        let sheet = handout::sheet(state.db(), &s.actor, None).await.map_err(|e| problem_page(e.into()))?;
        let text = &sheet.text;
        let (title, body) = typed.unwrap_or_else(|| (text.title.clone(), text.body.clone()));
        Ok(Self {
            chrome: Chrome::for_staff(state, s, "/settings").await,
            tabs: SettingsTabs::for_staff(s, "handout"),
            errors: FormErrors::none(),
            title,
            body,
            is_default: text.is_default,
            updated_by: text.updated_by_name.clone().unwrap_or_default(),
            updated_when: text.updated_at.map(when).unwrap_or_default(),
            updated_when_iso: text.updated_at.map(when_iso).unwrap_or_default(),
            title_max: TITLE_MAX_CHARS,
            body_max: BODY_MAX_CHARS,
            sheet: SheetView::new(state, &sheet, text),
            saved: false,
            unchanged: false,
            restored: false,
        })
    }
}

#[derive(Deserialize)]
struct EditQuery {
    saved: Option<String>,
    unchanged: Option<String>,
    restored: Option<String>,
}

async fn edit_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(q): PageQuery<EditQuery>,
) -> Response {
    if let Err(e) = s.staff.require_portal_settings() {
        return problem_page(e.into());
    }
    match EditPage::build(&state, &s, None).await {
        Ok(mut page) => {
            page.saved = q.saved.is_some();
            page.unchanged = q.unchanged.is_some();
            page.restored = q.restored.is_some();
            render(&page)
        }
        Err(res) => res,
    }
}

#[derive(Deserialize)]
struct HandoutForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

async fn save(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(form): PageForm<HandoutForm>,
) -> Response {
    let input = HandoutInput { title: form.title.clone(), body: form.body.clone() };
    let errors = match handout::update_handout(state.db(), &s.actor, input).await {
        Ok(done) if done.changed => return Redirect::to("/settings/handout?saved=1").into_response(),
        Ok(_) => return Redirect::to("/settings/handout?unchanged=1").into_response(),
        Err(PracticeError::Invalid(f)) => FormErrors::from_fields(f),
        Err(e) => return problem_page(e.into()),
    };
    match EditPage::build(&state, &s, Some((form.title, form.body))).await {
        Ok(mut page) => {
            page.errors = errors;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(res) => res,
    }
}

async fn restore_default(State(state): State<AppState>, PageStaff(s): PageStaff) -> Response {
    match handout::restore_default_handout(state.db(), &s.actor).await {
        Ok(done) if done.changed => Redirect::to("/settings/handout?restored=1").into_response(),
        Ok(_) => Redirect::to("/settings/handout?unchanged=1").into_response(),
        Err(e) => problem_page(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_draws_every_dark_module_inside_a_quiet_zone() {
        let url = "https://portal.example/portal";
        let svg = qr_svg(url).expect("a short URL fits");
        let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).unwrap();
        let n = code.width();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains(&format!("viewBox=\"0 0 {0} {0}\"", n + 8)));
        // Sum of the run lengths = number of dark modules.
        let dark = code.to_colors().iter().filter(|c| **c == Color::Dark).count();
        let drawn: usize = svg.split('h').skip(1).filter_map(|s| s.split('v').next()?.parse::<usize>().ok()).sum();
        assert_eq!(drawn, dark);
        assert!(!svg.contains("<?xml"), "no XML prolog: the SVG goes inline into HTML");
    }

    #[test]
    fn the_address_breaks_only_before_path_segments() {
        assert_eq!(address_parts("https://portal.example/portal"), ["https://portal.example", "/portal"]);
        assert_eq!(address_parts("http://h:8080/clinic/a/portal"), ["http://h:8080", "/clinic", "/a", "/portal"]);
        assert_eq!(address_parts("https://h/"), ["https://h", "/"]);
        assert_eq!(address_parts("https://h"), ["https://h"]);
    }

    #[test]
    fn text_too_long_for_a_qr_code_gives_none() {
        assert!(qr_svg(&"x".repeat(5000)).is_none());
    }
}
