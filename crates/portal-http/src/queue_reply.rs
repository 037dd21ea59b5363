//! A reply from the Patient Portal Queue (seed 002): a secure message to the portal user who made
//! the request, sent by portal-messaging (with or without the e-mail notice), then recorded
//! against the request with its disposition by portal-queue. The two crates never call each
//! other; the staff page and the API both come through here.
//!
//! Two transactions, and neither loses anything: the message is sent (idempotent under its key)
//! before the request changes; a retry with the same key finds the message and records it once.
//! When the request changed in between (another staff member dismissed it), the message stays
//! sent and the answer says why the disposition was not applied.

use portal_core::Actor;
use portal_core::requests::Disposition;
use portal_messaging::MessagingError;
use portal_messaging::send::{self, PortalMessageInput, Sent};
use portal_queue::staff::{self as queue, RecordReply};
use portal_queue::{QueueError, RequestView};
use portal_store::Db;
use serde::Deserialize;

/// What the reply form holds.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueReply {
    pub body: String,
    /// Blank: "Re: <the request's type>".
    pub subject: Option<String>,
    /// E-mail the patient that a message waits (the seed's default).
    pub notify_by_email: bool,
    /// Associate the message with the request (the seed's default).
    pub link_to_request: bool,
    pub disposition: Disposition,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueReplyError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Messaging(#[from] MessagingError),
    /// The message went out; recording it against the request failed.
    #[error("your message was sent, but the request was not updated: {error}")]
    NotRecorded { sent: Box<Sent>, error: QueueError },
}

pub async fn reply(
    db: &Db,
    actor: &Actor,
    request_id: &str,
    input: QueueReply,
) -> Result<(Sent, RequestView), QueueReplyError> {
    let target = queue::reply_target(db, actor, request_id, input.idempotency_key.as_deref()).await?;
    let subject = input
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Re: {}", target.request.kind_label));
    let sent = send::start_portal_conversation(
        db,
        actor,
        PortalMessageInput {
            patient_id: target.patient_id.clone(),
            recipient_account_id: target.recipient_account_id.clone(),
            subject: Some(subject),
            body: input.body,
            idempotency_key: input.idempotency_key,
            skip_email_notice: !input.notify_by_email,
        },
    )
    .await?;
    let record = RecordReply {
        conversation_id: sent.conversation_id.clone(),
        message_id: sent.message.id.clone(),
        linked: input.link_to_request,
        disposition: input.disposition,
    };
    match queue::record_reply(db, actor, &target.request.id, record).await {
        Ok(view) => Ok((sent, view)),
        Err(error) => Err(QueueReplyError::NotRecorded { sent: Box::new(sent), error }),
    }
}
