//! The printable handout for patients (seed 003): branding, portal address, QR code, editable text.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
