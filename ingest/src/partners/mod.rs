//! One module per partner contract. Each handler authenticates, reads and
//! validates the body, publishes it with a confirm, and answers as the
//! contract documents; `Err` replies short-circuit with the contract's
//! error shape.

pub(crate) mod call_capture;
pub(crate) mod crm;
pub(crate) mod digital_leads;
pub(crate) mod tata;

use crate::http::Reply;

/// Handlers are written with `?` over `Result<Reply, Reply>`.
pub(crate) fn either(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|reply| reply)
}
