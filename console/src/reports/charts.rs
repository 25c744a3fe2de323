//! The report's charts, drawn as inline SVG on the server: no script and
//! no outside library, so they show on any phone and the Content-Security-
//! Policy stays `'self'`. Every label is text maud escapes.

use super::figures::{BUCKETS, Figures};
use crate::desk::source_label;
use maud::{Markup, html};

/// A colour per source, the same in every chart and legend (the legend's
/// `.src-*` classes in `console.css` repeat them).
fn colour(source: &str) -> &'static str {
    match source {
        "tata_calls" => "#0f6e5a",
        "tata_whatsapp" => "#25a55f",
        "cardekho" => "#e07b00",
        "carwale" => "#7a4ec2",
        "call_capture" => "#2f6fb3",
        "crm_events" => "#b3261e",
        _ => "#5b6578",
    }
}

/// Leads per source per day, stacked.
pub fn leads_per_day(figures: &Figures) -> Markup {
    let days = figures.days.len().max(1);
    let totals: Vec<usize> = (0..days)
        .map(|i| {
            figures
                .leads_per_day
                .values()
                .map(|v| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let top = totals.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, base) = (600.0_f64, 220.0_f64, 190.0_f64);
    let column = width / days as f64;
    let bar = (column * 0.7).max(1.0);
    let scale = |n: usize| n as f64 / top as f64 * (base - 10.0);
    // Label every day when they fit, else about ten.
    let label_every = days.div_ceil(10).max(1);
    html! {
        svg.chart #leads-per-day viewBox={ "0 0 " (width) " " (height) } role="img" aria-label="Leads per source per day" {
            @for (i, day) in figures.days.iter().enumerate() {
                @let x = i as f64 * column + (column - bar) / 2.0;
                @let mut y = base;
                @for (source, counts) in &figures.leads_per_day {
                    @let n = counts.get(i).copied().unwrap_or(0);
                    @if n > 0 {
                        @let h = scale(n);
                        @let top_y = { y -= h; y };
                        rect x=(format!("{x:.1}")) y=(format!("{top_y:.1}")) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) fill=(colour(source)) {
                            title { (day.format("%d %b")) ": " (n) " from " (source_label(source)) }
                        }
                    }
                }
                @if totals[i] > 0 {
                    text x=(format!("{:.1}", x + bar / 2.0)) y=(format!("{:.1}", base - scale(totals[i]) - 3.0)) text-anchor="middle" font-size="10" { (totals[i]) }
                }
                @if i % label_every == 0 {
                    text x=(format!("{:.1}", x + bar / 2.0)) y=(format!("{:.1}", base + 14.0)) text-anchor="middle" font-size="10" { (day.format("%d %b")) }
                }
            }
            line x1="0" y1=(base) x2=(width) y2=(base) stroke="#dde2ea" {}
            @if figures.total_leads == 0 {
                text.chart-empty x=(width / 2.0) y=(base / 2.0) text-anchor="middle" font-size="16" fill="#5b6578" { "No leads in this range" }
            }
        }
        ul.legend {
            @for source in figures.leads_per_day.keys() {
                // A class, not a style attribute: the CSP allows no inline
                // styles.
                li { span class={ "swatch src-" (source) } {} (source_label(source)) }
            }
        }
    }
}

/// Leads answered per first-response bucket, and those unanswered.
pub fn response_distribution(figures: &Figures) -> Markup {
    let rows: Vec<(&str, usize)> = BUCKETS
        .iter()
        .zip(&figures.response_buckets)
        .map(|((_, label), n)| (*label, *n))
        .chain([("not answered", figures.unanswered)])
        .collect();
    let top = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    html! {
        svg.chart #response-distribution viewBox={ "0 0 600 " (rows.len() * 28 + 4) } role="img" aria-label="First-response times" {
            @for (i, (label, n)) in rows.iter().enumerate() {
                @let y = i * 28 + 4;
                @let w = *n as f64 / top as f64 * 400.0;
                text x="0" y=(y + 15) font-size="12" { (label) }
                rect x="120" y=(y) width=(format!("{w:.1}")) height="20" fill=(if i + 1 == rows.len() { "#b3261e" } else { "#0f6e5a" }) {}
                text x=(format!("{:.1}", 126.0 + w)) y=(y + 15) font-size="12" { (n) }
            }
        }
    }
}
