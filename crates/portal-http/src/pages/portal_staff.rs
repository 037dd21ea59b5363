//! The facesheet's Portal tab: access level, status with its hint, username, credentials set in
//! person, invitations and grants.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
