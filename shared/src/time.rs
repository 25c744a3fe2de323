//! Timestamps in the forms partners send, normalised to UTC.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// India Standard Time, UTC+05:30 (no daylight saving): the zone a naive
/// timestamp from an Indian dealer system is in, and the one staff read
/// times in. The one definition of the offset.
pub fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("+05:30 is within ±24 h")
}

/// Today's date in India.
pub fn ist_today() -> chrono::NaiveDate {
    Utc::now().with_timezone(&ist()).date_naive()
}

/// The first moment of `day` in India, in UTC: where a range of IST days
/// starts (and, for the next day, ends).
pub fn ist_day_start(day: chrono::NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc() - chrono::TimeDelta::minutes(330)
}

/// Now, in seconds since the Unix epoch: what Prometheus' timestamp gauges
/// (last accepted, last persisted) hold.
pub fn unix_seconds_now() -> f64 {
    Utc::now().timestamp_micros() as f64 / 1e6
}

/// Parses an ISO 8601 date-time: with an offset or `Z` (RFC 3339), with a
/// space instead of `T`, with or without fractional seconds. A timestamp
/// without an offset is read as India Standard Time. `None` for anything else.
pub fn parse_iso8601(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.len() < 16 || s.len() > 40 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, format) {
            return ist()
                .from_local_datetime(&naive)
                .single()
                .map(|dt| dt.with_timezone(&Utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_iso8601;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let z = parse_iso8601("2025-11-07T16:30:00Z").unwrap();
        assert_eq!(z.to_rfc3339(), "2025-11-07T16:30:00+00:00");
        let ist = parse_iso8601("2025-11-07T22:00:00+05:30").unwrap();
        assert_eq!(ist, z);
        let spaced = parse_iso8601("2025-11-07 16:30:00.250Z").unwrap();
        assert_eq!(spaced.timestamp_millis(), z.timestamp_millis() + 250);
    }

    #[test]
    fn naive_times_are_india_standard_time() {
        let naive = parse_iso8601("2025-11-07T22:00:00").unwrap();
        assert_eq!(naive, parse_iso8601("2025-11-07T16:30:00Z").unwrap());
    }

    #[test]
    fn the_contracts_counter_examples_are_refused() {
        for raw in [
            "07-11-2025 4:30 PM",
            "2025/11/07 16:30:00",
            "",
            "2025-11-07",
            "2025-13-07T16:30:00Z",
        ] {
            assert!(parse_iso8601(raw).is_none(), "{raw}");
        }
    }
}
