//! Compose from the inbox (staff recipients only, no patient) and New Message from the patient
//! chart (seed 001): type Portal writes to one portal user of the patient, type Staff to one or
//! more colleagues, the message carrying the patient for the View Patient link. Only staff with
//! Available for Portal Messages are offered the type choice (`send::message_types`); everyone
//! else writes to staff, without a choice, and a forged Portal form is refused by the domain.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use portal_core::AccessError;
use portal_core::messaging::{ConversationKind, MessagingRefused};
use portal_messaging::MessagingError;
use portal_messaging::send::{self, PortalMessageInput, StaffMessageInput};
use serde::Deserialize;

use super::{caller, new_idempotency_key};
use crate::error::capitalise;
use crate::extract::{PageStaff, SignedInStaff};
use crate::pages::forms::{FormErrors, opt};
use crate::pages::{Chrome, PageForm, PageQuery, UNREADABLE_FORM, error_page, problem_page, render_status};
use crate::state::AppState;

/// Said when the patient named is missing, malformed or not at one of the user's locations.
const NO_SUCH_PATIENT: &str =
    "This patient does not exist, or is not at one of your locations. Open the patient's chart from Patients.";

#[derive(Debug, Default, Deserialize)]
pub(super) struct NewParams {
    /// From the chart's New Message button.
    #[serde(default)]
    patient: Option<String>,
    /// `portal` or `staff`: the type chosen (offered only with Available for Portal Messages).
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// The form as typed. Read from the raw pairs: the staff recipients are one checkbox each with
/// the same name, which serde_urlencoded cannot gather into a list field.
#[derive(Debug, Clone, Default)]
struct MessageForm {
    kind: String,
    patient: String,
    recipient_account_id: String,
    recipients: Vec<String>,
    subject: String,
    body: String,
    idempotency_key: String,
}

impl MessageForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = Self::default();
        for (k, v) in pairs {
            match k.as_str() {
                "type" => f.kind = v,
                "patient" => f.patient = v,
                "recipient_account_id" => f.recipient_account_id = v,
                "recipient" => {
                    let v = v.trim().to_owned();
                    if !v.is_empty() && !f.recipients.contains(&v) {
                        f.recipients.push(v);
                    }
                }
                "subject" => f.subject = v,
                "body" => f.body = v,
                "idempotency_key" => f.idempotency_key = v,
                // Fields of no use here are ignored (mass assignment: only these are read).
                _ => {}
            }
        }
        f
    }
}

struct PatientHeader {
    id: String,
    name: String,
    record_number: String,
}

struct PortalOption {
    account_id: String,
    name: String,
    /// `self`, `guardian`, `guarantor` or `other` (the template words it).
    relation: &'static str,
    selected: bool,
}

struct StaffBox {
    id: String,
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "messages_new.html")]
struct NewPage {
    chrome: Chrome,
    patient: Option<PatientHeader>,
    /// Portal and Staff are both offered: the type choice is shown.
    choose_type: bool,
    /// `portal` or `staff`.
    kind: &'static str,
    portal_options: Vec<PortalOption>,
    /// Why this staff member cannot send portal messages about the patient now, as a sentence.
    portal_refused: String,
    staff_options: Vec<StaffBox>,
    form: MessageForm,
    errors: FormErrors,
    /// The form's key had already sent a different message: a new key is in the form now.
    key_reused: bool,
}

impl NewPage {
    fn patient_id(&self) -> &str {
        self.patient.as_ref().map(|p| p.id.as_str()).unwrap_or_default()
    }

    /// Whether the send form is shown: someone can receive the message.
    fn may_send(&self) -> bool {
        if self.kind == "portal" {
            self.portal_refused.is_empty() && !self.portal_options.is_empty()
        } else {
            !self.staff_options.is_empty()
        }
    }

    fn cancel_href(&self) -> String {
        match &self.patient {
            Some(p) => format!("/patients/{}", p.id),
            None => "/messages".to_owned(),
        }
    }

    /// The fields the page shows beside their inputs; other errors are listed in the summary.
    fn shown_fields(&self) -> &'static str {
        if self.kind == "portal" { "type,recipient_account_id,subject,body" } else { "type,recipients,subject,body" }
    }
}

/// The page for `patient` (none: Compose) with the type `wanted` if it is offered, keeping what
/// was typed in `form`.
async fn build(
    state: &AppState,
    s: &SignedInStaff,
    patient: Option<&str>,
    wanted: Option<&str>,
    form: MessageForm,
    errors: FormErrors,
) -> Result<NewPage, Response> {
    let patient = match patient {
        // The chart's own use case: the same visibility rule (View Patients and the location),
        // and showing the patient's name here is audited as opening the chart.
        Some(id) => {
            let f = crate::pages::facesheet::load(state, s, id).await?;
            Some(PatientHeader {
                name: format!("{} {}", f.patient.first_name, f.patient.last_name),
                record_number: f.patient.record_number,
                id: f.patient.id,
            })
        }
        None => None,
    };
    let types = send::message_types(&s.actor).map_err(|e| problem_page(e.into()))?;
    let offered = |k: ConversationKind| types.contains(&k);
    // Compose writes to staff only. From the chart, Portal comes first for those offered it
    // (seed 001 walks it first); a type not offered is never shown, whatever the address says.
    let kind = match &patient {
        None => ConversationKind::Staff,
        Some(_) => match wanted.and_then(|w| ConversationKind::parse(w).ok()) {
            Some(k) if offered(k) => k,
            _ if offered(ConversationKind::Portal) => ConversationKind::Portal,
            _ => ConversationKind::Staff,
        },
    };
    let mut page = NewPage {
        chrome: Chrome::for_staff(state, s, "/messages").await,
        choose_type: patient.is_some() && offered(ConversationKind::Portal) && offered(ConversationKind::Staff),
        kind: kind.as_str(),
        portal_options: vec![],
        portal_refused: String::new(),
        staff_options: vec![],
        patient,
        form,
        errors,
        key_reused: false,
    };
    match (kind, page.patient.as_ref()) {
        (ConversationKind::Portal, Some(p)) => match send::portal_recipients(state.db(), &s.actor, &p.id).await {
            Ok(list) => {
                let only = list.len() == 1;
                page.portal_options = list
                    .into_iter()
                    .map(|r| PortalOption {
                        selected: only || r.account_id == page.form.recipient_account_id.trim(),
                        account_id: r.account_id,
                        name: r.name,
                        relation: r.relation.as_str(),
                    })
                    .collect();
            }
            Err(MessagingError::Refused(r)) => page.portal_refused = capitalise(&r.to_string()),
            Err(e) => return Err(compose_failure(e)),
        },
        _ => {
            let list = send::staff_recipients(state.db(), &s.actor, page.patient.as_ref().map(|p| p.id.as_str()))
                .await
                .map_err(compose_failure)?;
            page.staff_options = list
                .into_iter()
                .map(|r| StaffBox { checked: page.form.recipients.contains(&r.staff_id), id: r.staff_id, name: r.name })
                .collect();
        }
    }
    if page.form.idempotency_key.trim().is_empty() {
        page.form.idempotency_key = new_idempotency_key();
    }
    Ok(page)
}

/// A domain error of these pages: a patient one may not reach reads as missing.
fn compose_failure(e: MessagingError) -> Response {
    match e {
        MessagingError::Access(AccessError::NotFound) => error_page(StatusCode::NOT_FOUND, NO_SUCH_PATIENT),
        other => problem_page(other.into()),
    }
}

pub(super) async fn new_page(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageQuery(p): PageQuery<NewParams>,
) -> Response {
    let patient = p.patient.as_deref().and_then(opt);
    match build(&state, &s, patient.as_deref(), p.kind.as_deref(), MessageForm::default(), FormErrors::none()).await {
        Ok(page) => render_status(StatusCode::OK, &page),
        Err(r) => r,
    }
}

pub(super) async fn send(
    State(state): State<AppState>,
    PageStaff(s): PageStaff,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = caller(&s) {
        return r;
    }
    let mut form = MessageForm::from_pairs(pairs);
    let patient = opt(&form.patient);
    let kind = match form.kind.trim() {
        "" | "staff" => ConversationKind::Staff,
        "portal" => ConversationKind::Portal,
        _ => return error_page(StatusCode::BAD_REQUEST, UNREADABLE_FORM),
    };
    let key = opt(&form.idempotency_key);
    let outcome = match (kind, &patient) {
        (ConversationKind::Portal, None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "A portal message is about a patient: open the patient's chart and choose New Message.",
            );
        }
        (ConversationKind::Portal, Some(p)) => {
            let input = PortalMessageInput {
                patient_id: p.clone(),
                recipient_account_id: form.recipient_account_id.trim().to_owned(),
                subject: opt(&form.subject),
                body: form.body.clone(),
                idempotency_key: key,
                skip_email_notice: false,
            };
            send::start_portal_conversation(state.db(), &s.actor, input).await
        }
        (ConversationKind::Staff, _) => {
            let input = StaffMessageInput {
                recipient_staff_ids: form.recipients.clone(),
                patient_id: patient.clone(),
                subject: opt(&form.subject),
                body: form.body.clone(),
                idempotency_key: key,
            };
            send::start_staff_conversation(state.db(), &s.actor, input).await
        }
    };
    let recipient_field = if kind == ConversationKind::Portal { "recipient_account_id" } else { "recipients" };
    let mut key_reused = false;
    let (status, mut errors) = match outcome {
        // A repeated submission of the same form (same key) lands here too, on the conversation
        // the first one started: one message, whatever the number of clicks.
        Ok(sent) => return Redirect::to(&format!("/messages/{}", sent.conversation_id)).into_response(),
        Err(MessagingError::Invalid(f)) => (StatusCode::UNPROCESSABLE_ENTITY, FormErrors::from_fields(f)),
        Err(MessagingError::Refused(MessagingRefused::IdempotencyKeyReused)) => {
            key_reused = true;
            (StatusCode::CONFLICT, FormErrors::none())
        }
        Err(MessagingError::Refused(r @ MessagingRefused::NeedPortalMessagesPermission)) => {
            (StatusCode::CONFLICT, FormErrors::with_sentence("type", r))
        }
        Err(MessagingError::Refused(r)) => (StatusCode::CONFLICT, FormErrors::with_sentence(recipient_field, r)),
        Err(e) => return compose_failure(e),
    };
    // The domain reports the text's problems first; a missing recipient is said at the same time.
    let no_recipient = match kind {
        ConversationKind::Portal => form.recipient_account_id.trim().is_empty(),
        ConversationKind::Staff => form.recipients.is_empty(),
    };
    if no_recipient && !errors.has(recipient_field) && !errors.has("type") {
        errors.flag(recipient_field);
    }
    // A key that was refused, or is not one at all, is replaced: nothing was sent under it.
    if key_reused || errors.has("idempotency_key") {
        form.idempotency_key = new_idempotency_key();
    }
    let wanted = kind.as_str();
    match build(&state, &s, patient.as_deref(), Some(wanted), form, errors).await {
        Ok(mut page) => {
            page.key_reused = key_reused;
            render_status(status, &page)
        }
        Err(r) => r,
    }
}
