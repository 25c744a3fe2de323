//! A lead's stage: new → contacted → qualified → test drive booked → test
//! drive done → booking → won, or lost (with a reason).

/// One stage of a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Nobody has reached the customer yet.
    New,
    /// Someone reached them.
    Contacted,
    /// They are a real buyer.
    Qualified,
    /// A test drive is booked.
    TestDriveBooked,
    /// They drove the car.
    TestDriveDone,
    /// A booking amount is paid.
    Booking,
    /// Sold.
    Won,
    /// Not buying (with a reason).
    Lost,
}

/// Every stage, in the desk's order.
pub const STAGES: [Stage; 8] = [
    Stage::New,
    Stage::Contacted,
    Stage::Qualified,
    Stage::TestDriveBooked,
    Stage::TestDriveDone,
    Stage::Booking,
    Stage::Won,
    Stage::Lost,
];

/// Why a lead was lost: the list staff pick from (stored by key).
pub const LOST_REASONS: &[(&str, &str)] = &[
    ("price", "Price"),
    ("bought_elsewhere", "Bought elsewhere"),
    ("not_interested", "Not interested"),
    ("unreachable", "Unreachable"),
    ("finance_rejected", "Finance not approved"),
    ("duplicate", "Duplicate enquiry"),
    ("other", "Other"),
];

impl Stage {
    /// The stored and API name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::Qualified => "qualified",
            Stage::TestDriveBooked => "test_drive_booked",
            Stage::TestDriveDone => "test_drive_done",
            Stage::Booking => "booking",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }

    /// What staff read.
    pub fn label(self) -> &'static str {
        match self {
            Stage::New => "New",
            Stage::Contacted => "Contacted",
            Stage::Qualified => "Qualified",
            Stage::TestDriveBooked => "Test drive booked",
            Stage::TestDriveDone => "Test drive done",
            Stage::Booking => "Booking",
            Stage::Won => "Won",
            Stage::Lost => "Lost",
        }
    }

    /// Reads a stored or sent name.
    pub fn parse(name: &str) -> Option<Self> {
        STAGES.into_iter().find(|s| s.name() == name)
    }

    /// Won or lost: the lead is no longer worked, and its response clock
    /// stops.
    pub fn is_closed(self) -> bool {
        matches!(self, Stage::Won | Stage::Lost)
    }

    /// The stage a CRM `lead_status` means (the mapping README documents):
    /// `proposal_sent` and `negotiation` are a booking being discussed, so
    /// the nearest desk stage is `qualified`; the CRM has no test drives.
    pub fn from_crm_status(status: &str) -> Option<Self> {
        Some(match status {
            "new" => Stage::New,
            "contacted" => Stage::Contacted,
            "qualified" | "proposal_sent" | "negotiation" => Stage::Qualified,
            "won" => Stage::Won,
            "lost" => Stage::Lost,
            _ => return None,
        })
    }
}

/// Whether `reason` is one of [`LOST_REASONS`]' keys.
pub fn is_lost_reason(reason: &str) -> bool {
    LOST_REASONS.iter().any(|(key, _)| *key == reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_reads_back_from_its_name() {
        for stage in STAGES {
            assert_eq!(Stage::parse(stage.name()), Some(stage));
        }
        assert_eq!(Stage::parse("Won"), None);
    }

    #[test]
    fn every_crm_status_maps_to_a_stage() {
        for status in crate::contracts::crm_events::LEAD_STATUSES {
            assert!(Stage::from_crm_status(status).is_some(), "{status}");
        }
    }
}
