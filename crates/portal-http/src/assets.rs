//! Static files, embedded in the binary so that the one `portal` file is the whole product.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const FILES: &[(&str, &str, &[u8])] = &[
    ("portal.css", "text/css; charset=utf-8", include_bytes!("../static/portal.css")),
    ("portal.js", "text/javascript; charset=utf-8", include_bytes!("../static/portal.js")),
    ("onboarding.js", "text/javascript; charset=utf-8", include_bytes!("../static/onboarding.js")),
    ("portal-user.css", "text/css; charset=utf-8", include_bytes!("../static/portal-user.css")),
    ("handout.css", "text/css; charset=utf-8", include_bytes!("../static/handout.css")),
    ("handout.js", "text/javascript; charset=utf-8", include_bytes!("../static/handout.js")),
    ("unread-count.js", "text/javascript; charset=utf-8", include_bytes!("../static/unread-count.js")),
    ("messages.js", "text/javascript; charset=utf-8", include_bytes!("../static/messages.js")),
    ("toasts.js", "text/javascript; charset=utf-8", include_bytes!("../static/toasts.js")),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            let mut res = (*bytes).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            res
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
