//! Where messages come from: the partners whose webhooks we receive, and the
//! console's outbound replies. Each source has its own queues, so one
//! partner's flood or poison messages never delay another's.

use std::fmt;
use std::str::FromStr;

/// A webhook source. Its [`Source::name`] is the routing key and part of
/// every queue name, so it must never change once deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Tata dealer call events (`POST /api/webhook/`).
    TataCalls,
    /// Tata WhatsApp messages and statuses (`POST /webhook/`).
    TataWhatsapp,
    /// CarDekho leads.
    Cardekho,
    /// CarWale leads.
    Carwale,
    /// Call records from dialers (call capture).
    CallCapture,
    /// The CRM microservice's pre-lead, lead and customer events.
    CrmEvents,
    /// WhatsApp replies staff send from the console, which workers deliver
    /// to Tata's WhatsApp API (outbound: no partner sends these).
    WhatsappReplies,
}

impl Source {
    /// Every source, for declaring topology and consuming all queues.
    pub const ALL: &'static [Source] = &[
        Source::TataCalls,
        Source::TataWhatsapp,
        Source::Cardekho,
        Source::Carwale,
        Source::CallCapture,
        Source::CrmEvents,
        Source::WhatsappReplies,
    ];

    /// The stable wire name: routing key, queue-name part, `x-source` header.
    pub fn name(self) -> &'static str {
        match self {
            Source::TataCalls => "tata_calls",
            Source::TataWhatsapp => "tata_whatsapp",
            Source::Cardekho => "cardekho",
            Source::Carwale => "carwale",
            Source::CallCapture => "call_capture",
            Source::CrmEvents => "crm_events",
            Source::WhatsappReplies => "whatsapp_replies",
        }
    }

    /// What staff read for it, in the console's lists, charts and
    /// downloads.
    pub fn label(self) -> &'static str {
        match self {
            Source::TataCalls => "Tata call",
            Source::TataWhatsapp => "WhatsApp",
            Source::Cardekho => "CarDekho",
            Source::Carwale => "CarWale",
            Source::CallCapture => "Captured call",
            Source::CrmEvents => "CRM",
            Source::WhatsappReplies => "WhatsApp reply",
        }
    }

    /// True for messages that leave the system (the webhook log's
    /// `direction=outgoing`); false for partners' webhooks.
    pub fn is_outgoing(self) -> bool {
        matches!(self, Source::WhatsappReplies)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name did not match any known source.
#[derive(Debug, thiserror::Error)]
#[error("unknown source {0:?}")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .iter()
            .copied()
            .find(|source| source.name() == s)
            .ok_or_else(|| UnknownSource(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut names: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
        for source in Source::ALL {
            assert_eq!(source.name().parse::<Source>().unwrap(), *source);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Source::ALL.len());
        assert!("nope".parse::<Source>().is_err());
    }
}
