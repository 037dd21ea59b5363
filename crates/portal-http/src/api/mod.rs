//! The JSON API under `/api/v1`, documented by OpenAPI generated from these handlers.

pub mod dto;
mod handout;
mod messaging;
mod notification_rules;
mod notifications;
mod org;
mod patients;
mod portal;
mod portal_admin;
mod portal_messaging;
mod portal_requests;
mod requests;
mod sessions;
mod staff_users;

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portal API",
        description = "The JSON API of Portal, an open-source patient portal server. Errors are RFC 9457 `application/problem+json`. Sign in with `POST /api/v1/staff/sessions` and send the token as `Authorization: Bearer TOKEN`.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Sign-in and sign-out"),
        (name = "settings", description = "Instance settings (Manage Portal Settings)"),
        (name = "company", description = "Company and locations"),
        (name = "staff", description = "Staff users and their permissions (Manage Users)"),
        (name = "patients", description = "Patients, contacts and care teams"),
        (name = "audit", description = "The audit log (Super Admin)"),
        (name = "handout", description = "The printable handout for patients: its text (Manage Portal Settings to change), the clinic's branding, the portal address and its QR code"),
        (name = "portal-admin", description = "Staff managing patients' portal access: status, invitations, credentials, grants, the Onboarding Tool"),
        (name = "messaging", description = "Secure messaging for staff (My Messages): inbox, threads, sending with Idempotency-Key, archive, unread count, recipients, the setting of whom portal users may write to. Nobody reads a conversation they are not in"),
        (name = "requests", description = "The Patient Portal Queue for staff: open requests of the caller's locations, the searchable archive, one request with its timeline and tasks, dismissal, un-archiving, the helper button, replies by secure message with a disposition (Idempotency-Key), the helpers' tasks. A request of another location answers 404"),
        (name = "notifications", description = "Staff notifications: the rules Super Admins set up per location (which portal event alerts whom, how urgently, in which words, by toast and/or e-mail), a rule's test notification to oneself, and each staff member's own notifications (list, unread count, mark read)"),
        (name = "portal", description = "The portal users' own API (patients, contacts, designated users): sign-in, account, patients. Public routes: registration, password reset, links from e-mails"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every API route, with its OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(sessions::router())
        .merge(org::router())
        .merge(staff_users::router())
        .merge(patients::router())
        .merge(portal::router())
        .merge(portal_admin::router())
        .merge(handout::router())
        .merge(messaging::router())
        .merge(portal_messaging::router())
        .merge(requests::router())
        .merge(notification_rules::router())
        .merge(portal_requests::router())
        .merge(notifications::router())
}
