//! What the worker needs of a partner's message, whatever the partner: the
//! partner's own reference (for the log), how it is written (staged with
//! the batch, or applied alone) and what it stages. Each partner's
//! `persist` file reads its messages into a type implementing [`Message`];
//! `process` dispatches once, from the source to that reader.

use crate::process::Settings;
use crate::staging::Staging;
use shared::Envelope;
use shared::contracts::ContractError;
use shared::contracts::crm_events::CrmWebhook;

/// A partner's message, read by its contract.
pub(crate) trait Message: Send + Sync {
    /// The partner's own id for what the message is about, for the log
    /// (cut to the log's bound by [`log_ref`]).
    fn partner_ref(&self) -> Option<String>;

    /// How this message is written: decided before its claim, so the batch
    /// claims only the messages it stages.
    fn route(&self, _envelope: &Envelope) -> Route<'_> {
        Route::Staged
    }

    /// Stages a [`Route::Staged`] message's effects. `index` is its place
    /// in the batch, for the outcomes only a flush can tell.
    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        index: usize,
        envelope: &'a Envelope,
        settings: &Settings,
    );
}

/// How a message's effects are written.
pub(crate) enum Route<'a> {
    /// Staged with the batch's multi-row statements (see [`Staging`]):
    /// upserts (Tata calls, WhatsApp, captured calls), upserts after a read
    /// the whole batch shares (digital leads' duplicate window), or a CRM
    /// record's creation.
    Staged,
    /// A CRM event that reads its record's current state: applied alone.
    Alone(&'a CrmWebhook),
}

/// Reads a body as its source's contract into its [`Message`], or says why
/// it never can be: each partner's `persist` file has one.
pub(crate) type Reader = fn(&Envelope, &[u8]) -> Result<Box<dyn Message>, String>;

/// Why a body can never be read by its contract: the dead letter's reason.
pub(crate) fn contract_reason(envelope: &Envelope, error: ContractError) -> String {
    let source = envelope.source;
    match error {
        ContractError::Fields(fields) => format!(
            "body does not satisfy the {source} contract: {}",
            serde_json::to_string(&fields).unwrap_or_default()
        ),
        other => format!("body does not satisfy the {source} contract: {other}"),
    }
}

/// A message's partner reference as the log keeps it: at most 255
/// characters, whatever the partner sent.
pub(crate) fn log_ref(message: &dyn Message) -> Option<String> {
    message
        .partner_ref()
        .map(|reference| reference.chars().take(255).collect())
}
