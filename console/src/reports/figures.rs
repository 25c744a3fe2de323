//! The manager's figures, computed from the rows of a date range: leads
//! per source per IST day, first-response times per salesperson and per
//! source, the funnel by source with lost reasons, and follow-ups done on
//! time, late or still overdue per person. Pure functions over rows, so
//! they are checked without a database; `read` fetches the rows.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shared::desk::Stage;
use std::collections::BTreeMap;

/// The funnel's steps: a lead that reached a later one reached these too.
pub const FUNNEL: [Stage; 5] = [
    Stage::Contacted,
    Stage::Qualified,
    Stage::TestDriveBooked,
    Stage::Booking,
    Stage::Won,
];

/// First-response buckets (upper bounds in seconds; the last is open).
pub const BUCKETS: [(i64, &str); 5] = [
    (5 * 60, "under 5 min"),
    (15 * 60, "5–15 min"),
    (60 * 60, "15–60 min"),
    (4 * 3600, "1–4 h"),
    (i64::MAX, "over 4 h"),
];

/// One lead as the reports read it.
#[derive(Debug, Clone)]
pub struct LeadRow {
    pub source: String,
    pub owner: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub first_response_seconds: Option<i64>,
    /// The furthest stage it reached before any loss (by its history and
    /// its stage now), in the desk's order: never lost itself.
    pub furthest: Stage,
    pub lost_reason: Option<String>,
}

/// One follow-up as the reports read it.
#[derive(Debug, Clone)]
pub struct FollowUpRow {
    pub assignee: Option<String>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

/// Median and 90th percentile of some response times.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Speed {
    pub answered: usize,
    pub median_seconds: i64,
    pub p90_seconds: i64,
}

/// Follow-ups per person.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FollowUpCounts {
    pub on_time: usize,
    pub late: usize,
    pub overdue: usize,
}

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Days in the range, oldest first.
    pub days: Vec<NaiveDate>,
    /// Per source: leads per day, in `days`' order.
    pub leads_per_day: BTreeMap<String, Vec<usize>>,
    pub total_leads: usize,
    pub speed_by_owner: BTreeMap<String, Speed>,
    pub speed_by_source: BTreeMap<String, Speed>,
    /// Leads answered per bucket of [`BUCKETS`], and unanswered.
    pub response_buckets: Vec<usize>,
    pub unanswered: usize,
    /// Per source: how many reached each step of [`FUNNEL`].
    pub funnel: BTreeMap<String, Vec<usize>>,
    /// Per source: leads in it.
    pub funnel_leads: BTreeMap<String, usize>,
    pub lost_reasons: BTreeMap<String, usize>,
    pub follow_ups: BTreeMap<String, FollowUpCounts>,
}

/// The value below which `share` of `sorted` lies (nearest rank).
fn percentile(sorted: &[i64], share: f64) -> i64 {
    let rank = ((share * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn speed(mut times: Vec<i64>) -> Speed {
    times.sort_unstable();
    Speed {
        answered: times.len(),
        median_seconds: percentile(&times, 0.5),
        p90_seconds: percentile(&times, 0.9),
    }
}

fn stage_rank(stage: Stage) -> usize {
    shared::desk::stage::STAGES
        .iter()
        .position(|s| *s == stage)
        .unwrap_or(0)
}

/// Whether a lead whose furthest stage is `furthest` reached `step`.
fn reached(furthest: Stage, step: Stage) -> bool {
    furthest != Stage::Lost && stage_rank(furthest) >= stage_rank(step)
}

/// The furthest of `stages` (a lead's stage now and every stage in its
/// history), lost aside.
pub fn furthest(stages: impl IntoIterator<Item = Stage>) -> Stage {
    stages
        .into_iter()
        .filter(|s| *s != Stage::Lost)
        .max_by_key(|s| stage_rank(*s))
        .unwrap_or(Stage::New)
}

/// The figures of `leads` (first seen in `days`) and `follow_ups` (due in
/// them), as of `now`.
pub fn compute(
    days: Vec<NaiveDate>,
    leads: &[LeadRow],
    follow_ups: &[FollowUpRow],
    now: DateTime<Utc>,
) -> Figures {
    let ist = shared::time::ist();
    let index: BTreeMap<NaiveDate, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut leads_per_day: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut by_owner: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut by_source: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut response_buckets = vec![0; BUCKETS.len()];
    let mut unanswered = 0;
    let mut funnel: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut funnel_leads: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for lead in leads {
        let day = lead.first_seen_at.with_timezone(&ist).date_naive();
        if let Some(&i) = index.get(&day) {
            leads_per_day
                .entry(lead.source.clone())
                .or_insert_with(|| vec![0; days.len()])[i] += 1;
        }
        match lead.first_response_seconds {
            Some(seconds) => {
                by_source
                    .entry(lead.source.clone())
                    .or_default()
                    .push(seconds);
                if let Some(owner) = &lead.owner {
                    by_owner.entry(owner.clone()).or_default().push(seconds);
                }
                let bucket = BUCKETS
                    .iter()
                    .position(|(bound, _)| seconds < *bound)
                    .unwrap_or(BUCKETS.len() - 1);
                response_buckets[bucket] += 1;
            }
            None => unanswered += 1,
        }
        *funnel_leads.entry(lead.source.clone()).or_default() += 1;
        let steps = funnel
            .entry(lead.source.clone())
            .or_insert_with(|| vec![0; FUNNEL.len()]);
        for (i, step) in FUNNEL.iter().enumerate() {
            if reached(lead.furthest, *step) {
                steps[i] += 1;
            }
        }
        if let Some(reason) = &lead.lost_reason {
            *lost_reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    let mut follow_up_counts: BTreeMap<String, FollowUpCounts> = BTreeMap::new();
    for task in follow_ups {
        let who = task.assignee.clone().unwrap_or_else(|| "(nobody)".into());
        let counts = follow_up_counts.entry(who).or_default();
        match task.done_at {
            Some(done) if done <= task.due_at => counts.on_time += 1,
            Some(_) => counts.late += 1,
            None if task.due_at < now => counts.overdue += 1,
            None => {}
        }
    }
    Figures {
        days,
        leads_per_day,
        total_leads: leads.len(),
        speed_by_owner: by_owner.into_iter().map(|(k, v)| (k, speed(v))).collect(),
        speed_by_source: by_source.into_iter().map(|(k, v)| (k, speed(v))).collect(),
        response_buckets,
        unanswered,
        funnel,
        funnel_leads,
        lost_reasons,
        follow_ups: follow_up_counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        shared::time::ist()
            .with_ymd_and_hms(2026, 12, day, hour, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn lead(
        source: &str,
        owner: &str,
        day: u32,
        response: Option<i64>,
        furthest: Stage,
        lost: bool,
    ) -> LeadRow {
        LeadRow {
            source: source.into(),
            owner: Some(owner.into()),
            first_seen_at: at(day, 10),
            first_response_seconds: response,
            furthest,
            lost_reason: lost.then(|| "price".into()),
        }
    }

    #[test]
    fn the_figures_count_days_speeds_the_funnel_and_follow_ups() {
        let days: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap())
            .collect();
        let leads = vec![
            lead("cardekho", "asha", 1, Some(60), Stage::Won, false),
            lead(
                "cardekho",
                "asha",
                1,
                Some(600),
                Stage::TestDriveBooked,
                false,
            ),
            // Lost after it was contacted: it counts as contacted.
            lead("cardekho", "ravi", 2, Some(7200), Stage::Contacted, true),
            lead("tata_whatsapp", "ravi", 3, None, Stage::New, false),
            lead(
                "tata_whatsapp",
                "asha",
                3,
                Some(120),
                Stage::Contacted,
                false,
            ),
        ];
        let follow_ups = vec![
            FollowUpRow {
                assignee: Some("asha".into()),
                due_at: at(2, 10),
                done_at: Some(at(2, 9)),
            },
            FollowUpRow {
                assignee: Some("asha".into()),
                due_at: at(2, 10),
                done_at: Some(at(2, 11)),
            },
            FollowUpRow {
                assignee: Some("ravi".into()),
                due_at: at(2, 10),
                done_at: None,
            },
            FollowUpRow {
                assignee: Some("ravi".into()),
                due_at: at(9, 10),
                done_at: None,
            },
        ];
        let figures = compute(days, &leads, &follow_ups, at(3, 12));
        assert_eq!(figures.leads_per_day["cardekho"], vec![2, 1, 0]);
        assert_eq!(figures.leads_per_day["tata_whatsapp"], vec![0, 0, 2]);
        assert_eq!(figures.total_leads, 5);
        // Asha: 60, 120, 600 s; Ravi: 7200 s (his other lead is unanswered).
        assert_eq!(
            figures.speed_by_owner["asha"],
            Speed {
                answered: 3,
                median_seconds: 120,
                p90_seconds: 600
            }
        );
        assert_eq!(figures.speed_by_owner["ravi"].median_seconds, 7200);
        assert_eq!(figures.response_buckets, vec![2, 1, 0, 1, 0]);
        assert_eq!(figures.unanswered, 1);
        // CarDekho: all three contacted; two qualified and booked a test
        // drive; one went on to book and win.
        assert_eq!(figures.funnel["cardekho"], vec![3, 2, 2, 1, 1]);
        assert_eq!(figures.funnel["tata_whatsapp"], vec![1, 0, 0, 0, 0]);
        assert_eq!(figures.lost_reasons["price"], 1);
        assert_eq!(
            figures.follow_ups["asha"],
            FollowUpCounts {
                on_time: 1,
                late: 1,
                overdue: 0
            }
        );
        assert_eq!(
            figures.follow_ups["ravi"],
            FollowUpCounts {
                on_time: 0,
                late: 0,
                overdue: 1
            }
        );
    }
}
