//! Staff managing portal access: status and access level, invitations, credentials set in
//! person, grants, the Onboarding Tool and the auto-enable settings.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
