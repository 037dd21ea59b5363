//! Loads the facts the rules of `portal_core::messaging` decide on: the other side of a
//! conversation is read fresh from the store at every send, so a permission, location, care-team
//! place or grant changed a moment ago already counts.

use portal_core::access::StaffPrincipal;
use portal_core::ids::{LocationId, StaffId};
use portal_core::messaging::{GrantFacts, PortalFacts, PortalMessagingRecipients, StaffFacts};
use portal_core::portal_accounts::{GrantScope, GrantScopes, grant_in_force};
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_store::portal_access::{self, PatientPortalRow};
use portal_store::portal_accounts::{self as accounts, AccountRow};
use portal_store::staff::{self as staff_store, StaffRow};
use portal_store::{DbConn, StoreError, messaging as store};

use crate::MessagingError;

/// The patient a conversation is about, or `NotFound`.
pub(crate) async fn patient(conn: &mut DbConn, id: &str) -> Result<PatientPortalRow, MessagingError> {
    if portal_core::ids::PatientId::parse(id).is_err() {
        return Err(portal_core::AccessError::NotFound.into());
    }
    Ok(portal_access::patient(conn, id).await?)
}

/// The portal switch and the recipients setting, in one read. An unknown stored setting (a newer
/// version's) reads as the narrower care-team mode rather than widening who can be written to.
pub(crate) async fn portal_settings(conn: &mut DbConn) -> Result<(bool, PortalMessagingRecipients), StoreError> {
    Ok(settings_of(store::portal_messaging_settings(conn).await?))
}

/// [`portal_settings`] from the stored pair already read.
pub(crate) fn settings_of((on, raw): (bool, String)) -> (bool, PortalMessagingRecipients) {
    (on, PortalMessagingRecipients::parse(&raw).unwrap_or(PortalMessagingRecipients::CareTeam))
}

/// The recipients setting alone (see [`portal_settings`]).
pub(crate) async fn recipients_mode(conn: &mut DbConn) -> Result<PortalMessagingRecipients, StoreError> {
    Ok(portal_settings(conn).await?.1)
}

/// A staff row as the principal a request of theirs would carry. `None` for a role this
/// version does not know (it grants nothing).
pub(crate) fn principal_of(row: &StaffRow, locations: Vec<String>) -> Option<StaffPrincipal> {
    Some(StaffPrincipal {
        id: StaffId::from_trusted(row.id.clone()),
        name: row.name.clone(),
        role: StaffRole::parse(&row.role).ok()?,
        portal: row.portal_permissions(),
        locations: locations.into_iter().map(LocationId::from_trusted).collect(),
    })
}

/// A staff member as they stand now towards a patient at `location` (with `care_team`, the
/// patient's care-team ids). `None` when there is no such staff member.
pub(crate) async fn staff_facts(
    conn: &mut DbConn,
    staff_id: &str,
    location: &str,
    care_team: &[String],
) -> Result<Option<(StaffFacts, StaffRow)>, StoreError> {
    let row = match staff_store::find(conn, staff_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    let locations = staff_store::locations_of(conn, staff_id).await?;
    Ok(Some((facts_of_staff(&row, locations, location, care_team), row)))
}

/// [`staff_facts`] from rows already read: the staff row and its location ids.
pub(crate) fn facts_of_staff(
    row: &StaffRow,
    locations: Vec<String>,
    location: &str,
    care_team: &[String],
) -> StaffFacts {
    let on_team = care_team.contains(&row.id);
    match principal_of(row, locations) {
        Some(p) => StaffFacts {
            active: row.active,
            ..StaffFacts::of_principal(&p, &LocationId::from_trusted(location.to_owned()), on_team)
        },
        None => StaffFacts {
            name: row.name.clone(),
            active: false,
            available_for_portal_messages: false,
            sees_patient: false,
            on_care_team: on_team,
        },
    }
}

/// A portal account as it stands now towards `patient`. `None` when there is no such account.
pub(crate) async fn portal_facts(
    conn: &mut DbConn,
    account_id: &str,
    patient: &PatientPortalRow,
) -> Result<Option<(PortalFacts, AccountRow)>, StoreError> {
    let Some(account) = accounts::find_account(conn, account_id).await? else { return Ok(None) };
    let grant = accounts::live_grant(conn, account_id, &patient.id).await?;
    Ok(Some((facts_of_account(&account, grant.as_ref(), patient), account)))
}

pub(crate) fn facts_of_account(
    account: &AccountRow,
    grant: Option<&accounts::GrantRow>,
    patient: &PatientPortalRow,
) -> PortalFacts {
    let today = now_utc().date();
    let grant = match grant {
        Some(g) if grant_in_force(g.revoked_at.is_some(), g.ends_on, today) => {
            if GrantScopes::from_stored(&g.scopes).covers(GrantScope::Messages) {
                GrantFacts::Messages
            } else {
                GrantFacts::WithoutMessages
            }
        }
        _ => GrantFacts::None,
    };
    PortalFacts {
        name: account.display_name.clone(),
        account_active: account.active,
        password_set: account.has_password(),
        grant,
        patient_portal_open: patient.portal_usable(),
    }
}
