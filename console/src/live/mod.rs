//! Pushed updates for open pages (issue 27): the worker and the console
//! write each change in the same transaction as the change
//! (`store::live`); each console process reads that feed once
//! ([`feed`]) and streams what each page's user may see to it as
//! Server-Sent Events ([`stream`]). The page's `EventSource` reconnects by
//! itself and resumes from the last id it saw.

pub mod feed;
pub mod stream;

pub use feed::Feed;
