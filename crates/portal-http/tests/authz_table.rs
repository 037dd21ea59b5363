//! THE authorization table: every API route x every kind of caller x own, foreign and missing
//! record, with the answer each must get.
//!
//! The routes come from the OpenAPI document: a route without rows here (or rows for a route
//! that no longer exists) fails the test, so no later route can be added unguarded. Every
//! request carries a valid body, so that what decides the answer is the permission check and
//! not validation: the 2xx expected of the allowed callers proves that.
//!
//! The expected answers are written out by hand from the rules (portal-core `staff.rs`, the
//! role -> permission table, `access.rs`, and `messaging.rs` for secure messaging), not computed
//! from them:
//!
//! | role                   | Manage Users | View / Edit Patients | Care Teams | Company | Audit | All locations |
//! |------------------------|:-----:|:-----:|:-----:|:-----:|:-----:|:-----:|
//! | Super Admin            |   x   | x / x |   x   |   x   |   x   |   x   |
//! | Practice Manager       |   x   | x / x |   x   |       |       |       |
//! | Clinician              |       | x / x |   x   |       |       |       |
//! | Front Desk             |       | x / x |       |       |       |       |
//! | Billing                |       | x /   |       |       |       |       |
//!
//! Manage Portal Settings comes with no role (Super Admin included) and is granted by a Super
//! Admin only; the other portal permissions follow Manage Users. Anonymous callers get 401
//! everywhere but sign-in. A patient of a location the caller cannot access answers 404, exactly
//! like a missing one; a missing permission answers 403 before any record is looked up.
//!
//! The last two columns are portal users: PA holds a grant to patient A (the "own" record), PB
//! only to patient B. Staff routes do not accept a portal session (401); portal routes do not
//! accept a staff session (401), and a portal user reaches only the patients they hold a grant
//! for: another patient answers 404 like a missing one.
//!
//! Conversations (secure messaging) are opened by taking part in them, nothing else: no role or
//! permission, Super Admin included, reads another's (seed 001). Their records are chosen by
//! participant (see `common::Conversations`), so that each row's 200s are exactly the people in
//! that conversation and everyone else gets 404. Only the Clinician and the Front Desk of B hold
//! Available for Portal Messages there, so only they start portal conversations.
//!
//! Notification rules (seed 000) are set up by Super Admins only: everyone else gets 403.
//!
//! Requests (the Patient Portal Queue, seed 002) follow the patients' rule: View Patients and
//! the request's location (another location's request answers 404 like a missing one), Edit
//! Patients for the helpers' tasks, Available for Portal Messages to reply.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

use common::{Caller, Rec, World, api_routes};

/// One row: a route, a record, an optional variant (see `World::call`) and the expected status
/// for each caller in the order of `COLUMNS`.
struct Row {
    method: &'static str,
    path: &'static str,
    rec: Rec,
    variant: &'static str,
    expect: [u16; 10],
}

/// Column order of `Row::expect`.
const COLUMNS: [Caller; 10] = Caller::ALL;

macro_rules! table {
    ($($method:ident $path:literal $rec:ident $variant:literal => [$($s:literal),*];)*) => {
        vec![$(Row {
            method: stringify!($method),
            path: $path,
            rec: Rec::$rec,
            variant: $variant,
            expect: [$($s),*],
        }),*]
    };
}

#[rustfmt::skip]
fn table() -> Vec<Row> {
    table! {
        //                                                                          anon  SA  SA-s  PM  Clin  FD  Bill FD-B  PA   PB
        // Sessions: sign-in is the one public route.
        POST   "/api/v1/staff/sessions"                          None   ""      => [201, 201, 201, 201, 201, 201, 201, 201, 201, 201];
        GET    "/api/v1/staff/me"                                None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        PUT    "/api/v1/staff/me/password"                       None   ""      => [401, 204, 204, 204, 204, 204, 204, 204, 401, 401];

        // Instance settings: Manage Portal Settings only, which the second Super Admin lacks.
        GET    "/api/v1/settings/instance"                       None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/settings/instance/use-portal"            None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];

        // Company and locations: read by every staff user, changed with Manage Company.
        GET    "/api/v1/company"                                 None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        PUT    "/api/v1/company"                                 None   ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/company/logo"                            None   ""      => [401, 204, 204, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/locations"                               None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/locations"                               None   ""      => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/locations/{id}"                          Own    ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/locations/{id}"                          Foreign ""     => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/locations/{id}"                          Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/locations/{id}"                          Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/locations/{id}"                          Own    ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}"                          Foreign ""     => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}"                          Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}"                          Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}/logo"                     Own    ""      => [401, 204, 204, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}/logo"                     Foreign ""     => [401, 204, 204, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}/logo"                     Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/locations/{id}/logo"                     Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];

        // Staff users: Manage Users (not scoped by location); a Super Admin only by a Super Admin.
        GET    "/api/v1/staff-users"                             None   ""      => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/staff-users"                             Own    ""      => [401, 201, 201, 201, 403, 403, 403, 403, 401, 401];
        // A practice manager hands out only locations they hold (portal-core `may_assign_locations`).
        POST   "/api/v1/staff-users"                             Foreign ""     => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/staff-users"                             Own    "super_admin" => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/staff-users/{id}"                        Own    ""      => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/staff-users/{id}"                        Foreign ""     => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/staff-users/{id}"                        Missing ""     => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/staff-users/{id}"                        Malformed ""   => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}"                        Own    ""      => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}"                        Foreign ""     => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}"                        Missing ""     => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}"                        Malformed ""   => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Own "" => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Foreign "" => [401, 200, 200, 200, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Missing "" => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Malformed "" => [401, 404, 404, 404, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Own "manage_portal_settings" => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Foreign "manage_portal_settings" => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Missing "manage_portal_settings" => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" Malformed "manage_portal_settings" => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/staff-users/{id}/portal-permissions/{permission}" OwnWithMissingChild "" => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];

        // Patients: scoped by location; a foreign patient answers like a missing one.
        GET    "/api/v1/patients"                                None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/patients"                                Own    ""      => [401, 201, 201, 201, 201, 201, 403, 422, 401, 401];
        POST   "/api/v1/patients"                                Foreign ""     => [401, 201, 201, 422, 422, 422, 403, 201, 401, 401];
        POST   "/api/v1/patients"                                Missing ""     => [401, 422, 422, 422, 422, 422, 403, 422, 401, 401];
        GET    "/api/v1/patients/{id}"                           Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/patients/{id}"                           Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/patients/{id}"                           Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/patients/{id}"                           Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/patients/{id}"                           Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}"                           Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/patients/{id}"                           Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}"                           Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/contacts"                  Own    ""      => [401, 201, 201, 201, 201, 201, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/contacts"                  Foreign ""     => [401, 201, 201, 404, 404, 404, 403, 201, 401, 401];
        POST   "/api/v1/patients/{id}/contacts"                  Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/contacts"                  Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     OwnWithMissingChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/contacts/{contact_id}"     OwnWithForeignChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     Own    ""      => [401, 204, 204, 204, 204, 204, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     Foreign ""     => [401, 204, 204, 404, 404, 404, 403, 204, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     OwnWithMissingChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/contacts/{contact_id}"     OwnWithForeignChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];

        // Care teams: Manage Care Teams; the member must be able to reach the patient's location.
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      Own    ""      => [401, 200, 200, 200, 200, 403, 403, 403, 401, 401];
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      Foreign ""     => [401, 200, 200, 404, 404, 403, 403, 403, 401, 401];
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      Missing ""     => [401, 404, 404, 404, 404, 403, 403, 403, 401, 401];
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      Malformed ""   => [401, 404, 404, 404, 404, 403, 403, 403, 401, 401];
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      OwnWithMissingChild "" => [401, 422, 422, 422, 422, 403, 403, 403, 401, 401];
        PUT    "/api/v1/patients/{id}/care-team/{staff_id}"      OwnWithForeignChild "" => [401, 422, 422, 422, 422, 403, 403, 403, 401, 401];
        DELETE "/api/v1/patients/{id}/care-team/{staff_id}"      Own    ""      => [401, 200, 200, 200, 200, 403, 403, 403, 401, 401];
        DELETE "/api/v1/patients/{id}/care-team/{staff_id}"      Foreign ""     => [401, 200, 200, 404, 404, 403, 403, 403, 401, 401];
        DELETE "/api/v1/patients/{id}/care-team/{staff_id}"      Missing ""     => [401, 404, 404, 404, 404, 403, 403, 403, 401, 401];
        DELETE "/api/v1/patients/{id}/care-team/{staff_id}"      Malformed ""   => [401, 404, 404, 404, 404, 403, 403, 403, 401, 401];
        DELETE "/api/v1/patients/{id}/care-team/{staff_id}"      OwnWithMissingChild "" => [401, 404, 404, 404, 404, 403, 403, 403, 401, 401];

        // --- The portal users' own API (h1). Signed-in routes take portal sessions only (staff
        // tokens: 401); a patient without a grant answers 404 like a missing one. Public routes
        // (sign-in, registration, reset, links) answer every caller alike; unusable links 410.
        POST   "/api/v1/portal/sessions"                         None   ""      => [201, 201, 201, 201, 201, 201, 201, 201, 201, 201];
        GET    "/api/v1/portal/me"                               None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        GET    "/api/v1/portal/patients/{id}"                    Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/patients/{id}"                    Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/patients/{id}"                    Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/patients/{id}"                    Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        PUT    "/api/v1/portal/me/password"                      None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 204, 204];
        POST   "/api/v1/portal/me/email"                         None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 202, 202];
        GET    "/api/v1/portal/me/sessions"                      None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        DELETE "/api/v1/portal/me/sessions/{id}"                 Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 204, 404];
        DELETE "/api/v1/portal/me/sessions/{id}"                 Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 204];
        DELETE "/api/v1/portal/me/sessions/{id}"                 Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        DELETE "/api/v1/portal/me/sessions/{id}"                 Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        POST   "/api/v1/portal/registrations"                    None   ""      => [202, 202, 202, 202, 202, 202, 202, 202, 202, 202];
        POST   "/api/v1/portal/password-resets"                  None   ""      => [202, 202, 202, 202, 202, 202, 202, 202, 202, 202];
        GET    "/api/v1/portal/links/{token}"                    Own    ""      => [200, 200, 200, 200, 200, 200, 200, 200, 200, 200];
        GET    "/api/v1/portal/links/{token}"                    Foreign ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        GET    "/api/v1/portal/links/{token}"                    Missing ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        GET    "/api/v1/portal/links/{token}"                    Malformed ""   => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/links/{token}"                    Own    ""      => [200, 200, 200, 200, 200, 200, 200, 200, 200, 200];
        POST   "/api/v1/portal/links/{token}"                    Foreign ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/links/{token}"                    Missing ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/links/{token}"                    Malformed ""   => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/email-confirmations/{token}"      Own    ""      => [200, 200, 200, 200, 200, 200, 200, 200, 200, 200];
        POST   "/api/v1/portal/email-confirmations/{token}"      Foreign ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/email-confirmations/{token}"      Missing ""     => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        POST   "/api/v1/portal/email-confirmations/{token}"      Malformed ""   => [410, 410, 410, 410, 410, 410, 410, 410, 410, 410];
        // --- end of the portal users' own API (h1); its sign-out row is next to last.
        // The printable handout (h4): read by every staff user (the front desk prints it);
        // changed with Manage Portal Settings only, which no role implies.
        GET    "/api/v1/handout"                                 None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        PUT    "/api/v1/handout"                                 None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];
        DELETE "/api/v1/handout"                                 None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];

        // Portal access (staff): View Patients to read, Edit Patients to change (Billing lacks it),
        // the patient's location (FD-B reaches only B; a foreign patient answers 404). The look-ups
        // need Edit Patients but no location; an onboarding job is seen by its creator only ("own":
        // the Front Desk of A's job, "foreign": the Front Desk of B's); the auto-enable settings
        // need Manage Portal Settings. Portal callers are not staff: 401.
        GET    "/api/v1/patients/{id}/portal"                    Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/patients/{id}/portal"                    Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/patients/{id}/portal"                    Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/patients/{id}/portal"                    Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/access"             Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/access"             Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/access"             Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/access"             Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/portal/invitations"        Own    ""      => [401, 202, 202, 202, 202, 202, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/portal/invitations"        Foreign ""     => [401, 202, 202, 404, 404, 404, 403, 202, 401, 401];
        POST   "/api/v1/patients/{id}/portal/invitations"        Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        POST   "/api/v1/patients/{id}/portal/invitations"        Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/credentials"        Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/credentials"        Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/credentials"        Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/credentials"        Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        GET    "/api/v1/patients/{id}/portal/users"              Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/patients/{id}/portal/users"              Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/patients/{id}/portal/users"              Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/patients/{id}/portal/users"              Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  OwnWithMissingChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/patients/{id}/portal/grants/{grant_id}"  OwnWithForeignChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  Own    ""      => [401, 204, 204, 204, 204, 204, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  Foreign ""     => [401, 204, 204, 404, 404, 404, 403, 204, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  OwnWithMissingChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        DELETE "/api/v1/patients/{id}/portal/grants/{grant_id}"  OwnWithForeignChild "" => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        GET    "/api/v1/portal-accounts"                         None   ""      => [401, 200, 200, 200, 200, 200, 403, 200, 401, 401];
        GET    "/api/v1/portal-usernames"                        None   ""      => [401, 200, 200, 200, 200, 200, 403, 200, 401, 401];
        GET    "/api/v1/onboarding"                              None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/onboarding/jobs"                         None   ""      => [401, 202, 202, 202, 202, 202, 403, 202, 401, 401];
        GET    "/api/v1/onboarding/jobs/{id}"                    Own    ""      => [401, 404, 404, 404, 404, 200, 404, 404, 401, 401];
        GET    "/api/v1/onboarding/jobs/{id}"                    Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/onboarding/jobs/{id}"                    Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/onboarding/jobs/{id}"                    Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/settings/portal-access"                  None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/settings/portal-access"                  None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];

        // Secure messaging (seed 001). Everyone sees only the conversations they take part in:
        // no permission, Super Admin included, opens another's (404, like a missing one). The
        // records (see `World::conversations`): "own" is the portal conversation of the
        // Clinician and portal user A about patient A; variant "staff" the staff conversation of
        // the Practice Manager, the Front Desk of A and Billing about patient A; variant
        // "super_admins" the two Super Admins' (no patient); "foreign" the portal conversation of
        // the Front Desk of B and portal user B about patient B. The Clinician and the Front Desk
        // of B hold Available for Portal Messages, no one else does: a portal message by anyone
        // else is refused (409) before the patient is looked up, while those two get 404 for a
        // patient they cannot see. Staff messages are open to every staff member who sees the
        // patient. Portal callers use their own routes (staff routes: 401, and back).
        GET    "/api/v1/conversations"                           None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/conversations"                           None   "archived" => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/conversations"                           None   "search" => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/conversations"                           None   ""      => [401, 201, 201, 201, 201, 201, 201, 201, 401, 401];
        POST   "/api/v1/conversations"                           Own    ""      => [401, 201, 201, 201, 201, 201, 201, 404, 401, 401];
        POST   "/api/v1/conversations"                           Foreign ""     => [401, 201, 201, 404, 404, 404, 404, 201, 401, 401];
        POST   "/api/v1/conversations"                           Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/conversations"                           Own    "portal" => [401, 409, 409, 409, 201, 409, 409, 404, 401, 401];
        POST   "/api/v1/conversations"                           Foreign "portal" => [401, 409, 409, 409, 404, 409, 409, 201, 401, 401];
        POST   "/api/v1/conversations"                           Missing "portal" => [401, 409, 409, 409, 404, 409, 409, 404, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Own    ""      => [401, 404, 404, 404, 200, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Own    "staff" => [401, 404, 404, 200, 404, 200, 200, 404, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Own    "super_admins" => [401, 200, 200, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}"                      Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Own    ""      => [401, 404, 404, 404, 200, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Own    "staff" => [401, 404, 404, 200, 404, 200, 200, 404, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Own    "super_admins" => [401, 200, 200, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/conversations/{id}/messages"             Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Own    ""      => [401, 404, 404, 404, 201, 404, 404, 404, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Own    "staff" => [401, 404, 404, 201, 404, 201, 201, 404, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Own    "super_admins" => [401, 201, 201, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 201, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/conversations/{id}/messages"             Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Own    ""      => [401, 404, 404, 404, 204, 404, 404, 404, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Own    "staff" => [401, 404, 404, 204, 404, 204, 204, 404, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Own    "super_admins" => [401, 204, 204, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 204, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/conversations/{id}/archived"             Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/messages/unread-count"                   None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        // The New Message window of a chart: View Patients and the patient's location.
        GET    "/api/v1/patients/{id}/message-recipients"        Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/patients/{id}/message-recipients"        Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/patients/{id}/message-recipients"        Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/patients/{id}/message-recipients"        Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/message-recipients"                      None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/message-recipients"                      Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/message-recipients"                      Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/message-recipients"                      Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        // Whom portal users may write to: read by any staff member, changed with Manage Portal
        // Settings (the first Super Admin's alone).
        GET    "/api/v1/settings/portal-messaging"               None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        PUT    "/api/v1/settings/portal-messaging"               None   ""      => [401, 200, 403, 403, 403, 403, 403, 403, 401, 401];
        // The portal users' side: "own" patient A (portal user A writes to the Clinician),
        // "foreign" patient B (portal user B writes to the Front Desk of B). A staff conversation
        // is nobody's on the portal.
        GET    "/api/v1/portal/conversations"                    None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        GET    "/api/v1/portal/conversations"                    None   "archived" => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        GET    "/api/v1/portal/conversations"                    None   "search" => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        POST   "/api/v1/portal/conversations"                    Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 201, 404];
        POST   "/api/v1/portal/conversations"                    Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 201];
        POST   "/api/v1/portal/conversations"                    Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}"               Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/conversations/{id}"               Own    "staff" => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}"               Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/conversations/{id}"               Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}"               Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}/messages"      Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/conversations/{id}/messages"      Own    "staff" => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}/messages"      Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/conversations/{id}/messages"      Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/conversations/{id}/messages"      Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        POST   "/api/v1/portal/conversations/{id}/messages"      Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 201, 404];
        POST   "/api/v1/portal/conversations/{id}/messages"      Own    "staff" => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        POST   "/api/v1/portal/conversations/{id}/messages"      Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 201];
        POST   "/api/v1/portal/conversations/{id}/messages"      Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        POST   "/api/v1/portal/conversations/{id}/messages"      Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        PUT    "/api/v1/portal/conversations/{id}/archived"      Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 204, 404];
        PUT    "/api/v1/portal/conversations/{id}/archived"      Own    "staff" => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        PUT    "/api/v1/portal/conversations/{id}/archived"      Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 204];
        PUT    "/api/v1/portal/conversations/{id}/archived"      Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        PUT    "/api/v1/portal/conversations/{id}/archived"      Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/messages/unread-count"            None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        GET    "/api/v1/portal/patients/{id}/message-recipients" Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/patients/{id}/message-recipients" Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/patients/{id}/message-recipients" Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/patients/{id}/message-recipients" Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];

        // The request queue (seed 002). Staff: View Patients and the request's location (a
        // request of another location answers 404, like a missing one); the helpers' tasks need
        // Edit Patients (Billing lacks it: 403, after the location); a reply needs Available for
        // Portal Messages (the Clinician's and the Front Desk of B's: the others get 409 after
        // the location). Records (see `World::requests`): "own" is portal user A's refill for
        // patient A, "foreign" portal user B's for patient B; dismissal and reopening use fresh
        // ones. Portal users reach only their own patients' requests (another's: 404).
        GET    "/api/v1/requests"                                None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/requests/archive"                        None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/requests/archive"                        None   "search" => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/requests/{id}"                           Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/requests/{id}"                           Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/requests/{id}"                           Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/requests/{id}"                           Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/dismissal"                 Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        POST   "/api/v1/requests/{id}/dismissal"                 Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        POST   "/api/v1/requests/{id}/dismissal"                 Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/dismissal"                 Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reopen"                    Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reopen"                    Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        POST   "/api/v1/requests/{id}/reopen"                    Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reopen"                    Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/helper"                    Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        POST   "/api/v1/requests/{id}/helper"                    Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        POST   "/api/v1/requests/{id}/helper"                    Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/helper"                    Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reply"                     Own    ""      => [401, 409, 409, 409, 201, 409, 409, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reply"                     Foreign ""     => [401, 409, 409, 404, 404, 404, 404, 201, 401, 401];
        POST   "/api/v1/requests/{id}/reply"                     Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/requests/{id}/reply"                     Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/request-tasks/{id}"                      Own    ""      => [401, 200, 200, 200, 200, 200, 200, 404, 401, 401];
        GET    "/api/v1/request-tasks/{id}"                      Foreign ""     => [401, 200, 200, 404, 404, 404, 404, 200, 401, 401];
        GET    "/api/v1/request-tasks/{id}"                      Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        GET    "/api/v1/request-tasks/{id}"                      Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        PUT    "/api/v1/request-tasks/{id}"                      Own    ""      => [401, 200, 200, 200, 200, 200, 403, 404, 401, 401];
        PUT    "/api/v1/request-tasks/{id}"                      Foreign ""     => [401, 200, 200, 404, 404, 404, 403, 200, 401, 401];
        PUT    "/api/v1/request-tasks/{id}"                      Missing ""     => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        PUT    "/api/v1/request-tasks/{id}"                      Malformed ""   => [401, 404, 404, 404, 404, 404, 403, 404, 401, 401];
        GET    "/api/v1/portal/requests"                         None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 200];
        POST   "/api/v1/portal/requests"                         Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 201, 404];
        POST   "/api/v1/portal/requests"                         Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 201];
        POST   "/api/v1/portal/requests"                         Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        POST   "/api/v1/portal/requests"                         Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/requests/{id}"                    Own    ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/requests/{id}"                    Foreign ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/requests/{id}"                    Missing ""     => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/requests/{id}"                    Malformed ""   => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/patients/{id}/appointment-choices" Own   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 200, 404];
        GET    "/api/v1/portal/patients/{id}/appointment-choices" Foreign ""    => [401, 401, 401, 401, 401, 401, 401, 401, 404, 200];
        GET    "/api/v1/portal/patients/{id}/appointment-choices" Missing ""    => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];
        GET    "/api/v1/portal/patients/{id}/appointment-choices" Malformed ""  => [401, 401, 401, 401, 401, 401, 401, 401, 404, 404];

        // Notification rules (seed 000, "Set up Notifications"): Super Admins only (with or
        // without Manage Portal Settings), at every location. Others are refused (403) before any
        // rule is looked up. Records (see `World::rule`): "own" a rule of location A, "foreign"
        // one of location B; a location that does not exist is a 422 naming `location_id`.
        GET    "/api/v1/notification-rules"                      None   ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules"                      Own    ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules"                      Foreign ""     => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules"                      Missing ""     => [401, 422, 422, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules"                      Own    ""      => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules"                      Foreign ""     => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules"                      Missing ""     => [401, 422, 422, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules/{id}"                 Own    ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules/{id}"                 Foreign ""     => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules/{id}"                 Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        GET    "/api/v1/notification-rules/{id}"                 Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/notification-rules/{id}"                 Own    ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/notification-rules/{id}"                 Foreign ""     => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/notification-rules/{id}"                 Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        PUT    "/api/v1/notification-rules/{id}"                 Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        DELETE "/api/v1/notification-rules/{id}"                 Own    ""      => [401, 204, 204, 403, 403, 403, 403, 403, 401, 401];
        DELETE "/api/v1/notification-rules/{id}"                 Foreign ""     => [401, 204, 204, 403, 403, 403, 403, 403, 401, 401];
        DELETE "/api/v1/notification-rules/{id}"                 Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        DELETE "/api/v1/notification-rules/{id}"                 Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules/{id}/test"            Own    ""      => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules/{id}/test"            Foreign ""     => [401, 201, 201, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules/{id}/test"            Missing ""     => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];
        POST   "/api/v1/notification-rules/{id}/test"            Malformed ""   => [401, 404, 404, 403, 403, 403, 403, 403, 401, 401];

        // The audit log: View Audit Log (Super Admin).
        GET    "/api/v1/audit-events"                            None   ""      => [401, 200, 200, 403, 403, 403, 403, 403, 401, 401];

        // Staff notifications (helper D): one's own only, whatever the role; another person's
        // answers 404 like a missing one. "Own" is the Clinician's, "foreign" the Front Desk of B's.
        GET    "/api/v1/notifications"                           None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        GET    "/api/v1/notifications/unread-count"              None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/notifications/read-all"                  None   ""      => [401, 200, 200, 200, 200, 200, 200, 200, 401, 401];
        POST   "/api/v1/notifications/{id}/read"                 Own    ""      => [401, 404, 404, 404, 200, 404, 404, 404, 401, 401];
        POST   "/api/v1/notifications/{id}/read"                 Foreign ""     => [401, 404, 404, 404, 404, 404, 404, 200, 401, 401];
        POST   "/api/v1/notifications/{id}/read"                 Missing ""     => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];
        POST   "/api/v1/notifications/{id}/read"                 Malformed ""   => [401, 404, 404, 404, 404, 404, 404, 404, 401, 401];

        // Next to last, since it ends the portal callers' sessions (h1).
        DELETE "/api/v1/portal/sessions/current"                 None   ""      => [401, 401, 401, 401, 401, 401, 401, 401, 204, 204];

        // Last, since it ends the callers' sessions.
        DELETE "/api/v1/staff/sessions/current"                  None   ""      => [401, 204, 204, 204, 204, 204, 204, 204, 401, 401];
    }
}

fn key(method: &str, path: &str) -> (String, String) {
    (method.to_owned(), path.to_owned())
}

/// The table and the OpenAPI document name the same routes, and each route with path
/// parameters has rows for its own, foreign, missing and malformed records.
#[test]
fn every_route_has_rows_and_every_row_a_route() {
    let rows = table();
    let documented: BTreeSet<_> = api_routes().iter().map(|r| key(&r.method, &r.path)).collect();
    let tabled: BTreeSet<_> = rows.iter().map(|r| key(r.method, r.path)).collect();
    let unguarded: Vec<_> = documented.difference(&tabled).collect();
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        unguarded.is_empty() && stale.is_empty(),
        "the authorization table and the OpenAPI document disagree.\n  routes without rows: {unguarded:?}\n  rows for no route: {stale:?}"
    );
    for (method, path) in &documented {
        if !path.contains('{') {
            continue;
        }
        for rec in [Rec::Own, Rec::Foreign, Rec::Missing, Rec::Malformed] {
            assert!(
                rows.iter().any(|r| r.method == method && r.path == path && r.rec == rec),
                "{method} {path} has no row for a {rec:?} record"
            );
        }
        if common::template_params(path).len() > 1 {
            assert!(
                rows.iter().any(|r| r.method == method && r.path == path && r.rec == Rec::OwnWithMissingChild),
                "{method} {path} has no row for a missing second parameter"
            );
        }
    }
    // No duplicate cells, which would hide a forgotten variant.
    let mut seen = BTreeSet::new();
    for r in &rows {
        assert!(
            seen.insert((r.method, r.path, r.rec, r.variant)),
            "duplicate row {} {} {:?} {}",
            r.method,
            r.path,
            r.rec,
            r.variant
        );
    }
    // The row that ends sessions must be the last one.
    let last = rows.last().expect("rows");
    assert_eq!((last.method, last.path), ("DELETE", "/api/v1/staff/sessions/current"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_gets_the_expected_answer_on_every_route() {
    let started = Instant::now();
    let world = World::new().await;
    let rows = table();
    let mut mismatches = Vec::new();
    let mut problems = Vec::new();
    let mut cells = 0;
    for row in &rows {
        for (col, caller) in COLUMNS.iter().enumerate() {
            let call = world.call(row.method, row.path, row.rec, row.variant).await;
            let res = world.send_as(*caller, call.request()).await;
            cells += 1;
            let expected = row.expect[col];
            let cell = format!(
                "{} {} [{:?}{}] as {}",
                row.method,
                call.path(),
                row.rec,
                if row.variant.is_empty() { String::new() } else { format!(", {}", row.variant) },
                caller.label()
            );
            if res.code() != expected {
                let detail = serde_json::from_slice::<serde_json::Value>(&res.body)
                    .ok()
                    .and_then(|v| v["detail"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                mismatches.push(format!("{cell}: expected {expected}, got {} {detail}", res.code()));
            }
            if (res.status.is_client_error() || res.status.is_server_error())
                && let Some(why) = res.problem_violation()
            {
                problems.push(format!("{cell}: {why}"));
            }
        }
    }
    let mut msg = String::new();
    if !mismatches.is_empty() {
        let _ = writeln!(msg, "{} of {cells} cells answered otherwise than the table says:", mismatches.len());
        for m in &mismatches {
            let _ = writeln!(msg, "  {m}");
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(msg, "{} error answers were not problem documents:", problems.len());
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
    }
    assert!(msg.is_empty(), "{msg}");
    // The last row signed every caller out: their tokens are dead now.
    for caller in Caller::STAFF {
        let res = world.send_as(caller, common::TestRequest::get("/api/v1/staff/me")).await;
        assert_eq!(res.code(), 401, "{} still signed in after signing out", caller.label());
    }
    eprintln!("{cells} cells in {:?}", started.elapsed());
}

/// A foreign patient answers exactly like a missing one: same status, same body, on every
/// patient route, so that existence does not leak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_patient_answers_exactly_like_a_missing_one() {
    let world = World::new().await;
    let patient_routes: Vec<_> =
        api_routes().into_iter().filter(|r| r.path.starts_with("/api/v1/patients/{id}")).collect();
    assert!(patient_routes.len() >= 6, "patient routes: {patient_routes:?}");
    for caller in [Caller::PracticeManager, Caller::Clinician, Caller::FrontDesk, Caller::Billing] {
        for route in &patient_routes {
            let foreign = world.call(&route.method, &route.path, Rec::Foreign, "").await;
            let missing = foreign.with_param("id", &common::missing_id());
            let a = world.send_as(caller, foreign.request()).await;
            let b = world.send_as(caller, missing.request()).await;
            assert_eq!(
                (a.code(), a.header("content-type"), a.json()),
                (b.code(), b.header("content-type"), b.json()),
                "{} {} as {}: a foreign patient answers unlike a missing one",
                route.method,
                route.path,
                caller.label()
            );
        }
    }
}
