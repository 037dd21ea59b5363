//! The Onboarding Tool (seeds 002, 004): every patient's portal status, enabling and inviting one
//! by one or in bulk with progress.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
