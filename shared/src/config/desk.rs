//! The lead desk's response target, escalation and business hours: read by
//! the worker (which sets each lead's deadlines and escalates) and the
//! console (which restarts a reopened lead's clock), so both count alike.

use super::{ConfigError, Env};
use crate::desk::BusinessHours;
use chrono::TimeDelta;

/// How fast a lead must be answered, and what happens when it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskConfig {
    /// `DESK_RESPONSE_TARGET_SECS` (default 300): open time from a lead's
    /// first sighting to its first response before it is overdue.
    pub response_target: TimeDelta,
    /// `DESK_ESCALATE_AFTER_SECS` (default 900): open time after which an
    /// unanswered lead's team managers are notified.
    pub escalate_after: TimeDelta,
    /// `DESK_ESCALATE_REASSIGN` (default false): whether an escalated lead
    /// also moves to the next member on duty.
    pub reassign_on_escalation: bool,
    /// `DESK_BUSINESS_DAYS` (default every day) and `DESK_BUSINESS_HOURS`
    /// (default 09:00-20:00), IST.
    pub hours: BusinessHours,
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            response_target: TimeDelta::minutes(5),
            escalate_after: TimeDelta::minutes(15),
            reassign_on_escalation: false,
            hours: BusinessHours::default(),
        }
    }
}

impl DeskConfig {
    /// Reads the `DESK_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let target: i64 = env.ranged("DESK_RESPONSE_TARGET_SECS", 300, 1..=7 * 86_400)?;
        let escalate: i64 = env.ranged("DESK_ESCALATE_AFTER_SECS", 900, 1..=30 * 86_400)?;
        if escalate < target {
            return Err(ConfigError {
                name: "DESK_ESCALATE_AFTER_SECS",
                message: format!(
                    "must be at least DESK_RESPONSE_TARGET_SECS ({target}): escalation comes after the lead is overdue"
                ),
                value: escalate.to_string(),
            });
        }
        let reassign = env.parse("DESK_ESCALATE_REASSIGN", false, "true or false")?;
        let days = env
            .get("DESK_BUSINESS_DAYS")
            .unwrap_or_else(|| "mon,tue,wed,thu,fri,sat,sun".into());
        let hours = env
            .get("DESK_BUSINESS_HOURS")
            .unwrap_or_else(|| "09:00-20:00".into());
        let hours = BusinessHours::parse(&days, &hours).map_err(|message| ConfigError {
            name: if message.contains("day") {
                "DESK_BUSINESS_DAYS"
            } else {
                "DESK_BUSINESS_HOURS"
            },
            message,
            value: format!("{days} {hours}"),
        })?;
        Ok(Self {
            response_target: TimeDelta::seconds(target),
            escalate_after: TimeDelta::seconds(escalate),
            reassign_on_escalation: reassign,
            hours,
        })
    }

    /// A clock started at `start`: when it is overdue, and when it
    /// escalates.
    pub fn deadlines(
        &self,
        start: chrono::DateTime<chrono::Utc>,
    ) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        (
            self.hours.deadline(start, self.response_target),
            self.hours.deadline(start, self.escalate_after),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_variable() {
        assert_eq!(
            DeskConfig::from_env(&Env::from_pairs(&[])).unwrap(),
            DeskConfig::default()
        );
        let error = DeskConfig::from_env(&Env::from_pairs(&[
            ("DESK_RESPONSE_TARGET_SECS", "600"),
            ("DESK_ESCALATE_AFTER_SECS", "300"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, "DESK_ESCALATE_AFTER_SECS");
        let error = DeskConfig::from_env(&Env::from_pairs(&[("DESK_BUSINESS_HOURS", "9 to 5")]))
            .unwrap_err();
        assert_eq!(error.name, "DESK_BUSINESS_HOURS");
        let error =
            DeskConfig::from_env(&Env::from_pairs(&[("DESK_BUSINESS_DAYS", "mon,someday")]))
                .unwrap_err();
        assert_eq!(error.name, "DESK_BUSINESS_DAYS");
    }
}
