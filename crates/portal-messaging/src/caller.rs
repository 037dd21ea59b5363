use portal_core::AccessError;
use portal_core::access::{Actor, Principal, StaffPrincipal};
use portal_core::audit::AuditAction;
use portal_core::ids::PatientId;
use portal_core::portal_accounts::{GrantScope, PortalPrincipal};
use portal_store::audit::AuditEntry;
use portal_store::messaging::Party;

/// Who is reading or writing messages: a signed-in staff member or portal user. The command
/// line's system principal has no inbox.
#[derive(Debug, Clone)]
pub enum Caller {
    Staff { staff: StaffPrincipal, actor: Actor },
    Portal { principal: PortalPrincipal, ip: Option<String> },
}

impl Caller {
    /// A staff member's request; the system principal is refused (it takes part in no
    /// conversation).
    pub fn staff(actor: &Actor) -> Result<Caller, AccessError> {
        match &actor.principal {
            Principal::Staff(s) => Ok(Caller::Staff { staff: s.clone(), actor: actor.clone() }),
            Principal::System => Err(AccessError::Forbidden { needs: "a staff account" }),
        }
    }

    /// A portal user's request, with the grants loaded fresh for it.
    pub fn portal(principal: PortalPrincipal, ip: Option<String>) -> Caller {
        Caller::Portal { principal, ip }
    }

    pub fn party(&self) -> Party {
        match self {
            Caller::Staff { staff, .. } => Party { kind: "staff", id: staff.id.to_string() },
            Caller::Portal { principal, .. } => Party { kind: "portal", id: principal.account_id.to_string() },
        }
    }

    /// For a portal user, the patients whose messages they may reach now (grants in force that
    /// cover messages; none while the password is a temporary one). `None` for staff: staff
    /// keep their own conversations (seed 001: a changed location access disables replying, the
    /// thread stays theirs, read-only).
    pub fn message_patients(&self) -> Option<Vec<String>> {
        match self {
            Caller::Staff { .. } => None,
            Caller::Portal { principal, .. } => Some(
                principal
                    .grants
                    .iter()
                    .filter(|g| principal.require(&g.patient_id, GrantScope::Messages).is_ok())
                    .map(|g| g.patient_id.to_string())
                    .collect(),
            ),
        }
    }

    /// May this caller see conversations about `patient` at all? Staff: yes (participation is
    /// what counts); a portal user: only with a grant in force covering messages.
    pub fn may_reach(&self, patient: Option<&str>) -> bool {
        match (self, patient) {
            (Caller::Staff { .. }, _) => true,
            (Caller::Portal { .. }, None) => false,
            (Caller::Portal { principal, .. }, Some(p)) => {
                principal.require(&PatientId::from_trusted(p.to_owned()), GrantScope::Messages).is_ok()
            }
        }
    }

    /// An audit entry for `action` by this caller.
    pub fn entry(&self, action: AuditAction) -> AuditEntry {
        match self {
            Caller::Staff { actor, .. } => AuditEntry::by(actor, action),
            Caller::Portal { principal, ip } => {
                let mut e = AuditEntry::by(&Actor::new(Principal::System, ip.clone()), action);
                e.actor_kind = "portal";
                e.actor_id = Some(principal.account_id.to_string());
                e.actor_name = principal.username.to_string();
                e
            }
        }
    }
}
