//! `GET /reports/{table}.csv`: each report's table, for the same range,
//! team and source as the page, as a spreadsheet-safe CSV download.

use super::figures::{BUCKETS, FUNNEL, Figures};
use crate::desk::source_label;

/// The tables, by file name: what `/reports/{name}` serves.
pub const TABLES: [&str; 7] = [
    "leads-per-day.csv",
    "speed-by-person.csv",
    "speed-by-source.csv",
    "response-times.csv",
    "funnel.csv",
    "lost-reasons.csv",
    "follow-ups.csv",
];

/// A table's header and rows, or `None` for a name not in [`TABLES`].
pub fn table(name: &str, figures: &Figures) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let text = |s: &str| s.to_owned();
    let table = match name {
        "leads-per-day.csv" => {
            let mut header = vec![text("Day (IST)")];
            header.extend(figures.leads_per_day.keys().map(|s| text(source_label(s))));
            header.push(text("Total"));
            let rows = figures
                .days
                .iter()
                .enumerate()
                .map(|(i, day)| {
                    let counts: Vec<usize> = figures
                        .leads_per_day
                        .values()
                        .map(|per_day| per_day.get(i).copied().unwrap_or(0))
                        .collect();
                    let mut row = vec![day.format("%Y-%m-%d").to_string()];
                    row.extend(counts.iter().map(usize::to_string));
                    row.push(counts.iter().sum::<usize>().to_string());
                    row
                })
                .collect();
            (header, rows)
        }
        "speed-by-person.csv" | "speed-by-source.csv" => {
            let (first, speeds, by_source) = match name {
                "speed-by-person.csv" => ("Salesperson", &figures.speed_by_owner, false),
                _ => ("Source", &figures.speed_by_source, true),
            };
            let header = [
                first,
                "Answered",
                "Median (seconds)",
                "90th percentile (seconds)",
            ]
            .map(text)
            .to_vec();
            let rows = speeds
                .iter()
                .map(|(key, speed)| {
                    vec![
                        if by_source {
                            text(source_label(key))
                        } else {
                            key.clone()
                        },
                        speed.answered.to_string(),
                        speed.median_seconds.to_string(),
                        speed.p90_seconds.to_string(),
                    ]
                })
                .collect();
            (header, rows)
        }
        "response-times.csv" => {
            let header = ["First response", "Leads"].map(text).to_vec();
            let mut rows: Vec<Vec<String>> = BUCKETS
                .iter()
                .zip(&figures.response_buckets)
                .map(|((_, label), n)| vec![text(label), n.to_string()])
                .collect();
            rows.push(vec![text("unanswered"), figures.unanswered.to_string()]);
            (header, rows)
        }
        "funnel.csv" => {
            let mut header = vec![text("Source"), text("Leads")];
            header.extend(FUNNEL.iter().map(|step| text(step.label())));
            let rows = figures
                .funnel
                .iter()
                .map(|(source, steps)| {
                    let mut row = vec![
                        text(source_label(source)),
                        figures
                            .funnel_leads
                            .get(source)
                            .copied()
                            .unwrap_or(0)
                            .to_string(),
                    ];
                    row.extend(steps.iter().map(usize::to_string));
                    row
                })
                .collect();
            (header, rows)
        }
        "lost-reasons.csv" => {
            let header = ["Reason", "Leads"].map(text).to_vec();
            let rows = figures
                .lost_reasons
                .iter()
                .map(|(reason, n)| {
                    let label = shared::desk::LOST_REASONS
                        .iter()
                        .find(|(key, _)| key == reason)
                        .map_or(reason.as_str(), |(_, label)| label);
                    vec![text(label), n.to_string()]
                })
                .collect();
            (header, rows)
        }
        "follow-ups.csv" => {
            let header = ["Person", "On time", "Late", "Overdue"].map(text).to_vec();
            let rows = figures
                .follow_ups
                .iter()
                .map(|(who, counts)| {
                    vec![
                        who.clone(),
                        counts.on_time.to_string(),
                        counts.late.to_string(),
                        counts.overdue.to_string(),
                    ]
                })
                .collect();
            (header, rows)
        }
        _ => return None,
    };
    Some(table)
}
