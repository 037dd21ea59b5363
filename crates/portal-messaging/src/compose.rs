//! What the New Message window offers a staff member about one patient (seed 001, "Open the
//! patient chart and click New Message"): the message types, the portal users a portal message
//! can go to, and, when there is nobody, why not, so that the window can say it instead of
//! offering an empty list.
//!
//! Kept apart from `send` so that the chart's window is one call: the patient is checked first
//! (a patient the staff member cannot see answers `NotFound`, like a missing one, whatever their
//! permissions), and only then is the portal side asked, whose refusal becomes a sentence.

use portal_core::AccessError;
use portal_core::access::Actor;
use portal_core::audit::AuditAction;
use portal_core::ids::LocationId;
use portal_core::messaging::{ConversationKind, MessagingRefused};
use portal_core::staff::Permission;
use portal_store::Db;
use portal_store::audit::AuditEntry;
use serde_json::json;

use crate::send::{self, PortalRecipient};
use crate::{Caller, MessagingError, eligibility};

/// Why no portal message can be sent about the patient now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPortalRecipients {
    /// The rule that refuses the staff member (no Available for Portal Messages, not on the care
    /// team in care-team mode, the portal off...), in its own words.
    #[error("{0}")]
    Refused(MessagingRefused),
    /// The staff member may send portal messages about the patient, but nobody can receive them.
    #[error(
        "nobody can receive portal messages about this patient yet: the patient, a guardian or a guarantor needs an active portal account (invitation accepted, password set) with access to messages"
    )]
    NobodyEligible,
}

/// The New Message window's choices about one patient.
#[derive(Debug, Clone)]
pub struct NewMessageOptions {
    /// Portal and Staff with Available for Portal Messages; Staff alone otherwise (no choice).
    pub types: &'static [ConversationKind],
    /// The portal users a portal message may go to (empty when `portal_refused` is set).
    pub portal_recipients: Vec<PortalRecipient>,
    pub portal_refused: Option<NoPortalRecipients>,
}

/// The choices of the New Message window opened from `patient_id`'s chart. `NotFound` for a
/// patient the staff member cannot see (View Patients and the patient's location) or that does
/// not exist; a refusal of portal messages is part of the answer, not an error.
pub async fn new_message_options(
    db: &Db,
    actor: &Actor,
    patient_id: &str,
) -> Result<NewMessageOptions, MessagingError> {
    let Caller::Staff { staff, .. } = Caller::staff(actor)? else {
        return Err(AccessError::NotFound.into());
    };
    staff.require(Permission::ViewPatients)?;
    let patient_id = {
        let mut conn = db.read().await?;
        let patient = eligibility::patient(&mut conn, patient_id).await?;
        if !staff.may_access_location(&LocationId::from_trusted(patient.location_id)) {
            return Err(AccessError::NotFound.into());
        }
        patient.id
    };
    let patient_id = patient_id.as_str();
    let types = send::message_types(actor)?;
    let (portal_recipients, portal_refused) = match send::portal_recipients(db, actor, patient_id).await {
        Ok(list) if list.is_empty() => (list, Some(NoPortalRecipients::NobodyEligible)),
        Ok(list) => (list, None),
        Err(MessagingError::Refused(r)) => (vec![], Some(NoPortalRecipients::Refused(r))),
        Err(e) => return Err(e),
    };
    // The list names who holds portal access to the patient: a read of the record, audited as
    // the patient's portal users are (`part` says which view).
    db.audit_read(
        AuditEntry::by(actor, AuditAction::PatientViewed)
            .patient(patient_id)
            .target("patient", patient_id)
            .detail(json!({ "part": "message_recipients", "count": portal_recipients.len() })),
    )
    .await?;
    Ok(NewMessageOptions { types, portal_recipients, portal_refused })
}
