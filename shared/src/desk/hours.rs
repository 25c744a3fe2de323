//! Business hours in India: a response target of five minutes counts only
//! the minutes the showroom is open, so a lead at 21:00 is due five minutes
//! after the next opening, not at 21:05.

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, Utc, Weekday};

/// The days and hours (IST) the desk works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Open days.
    pub days: Vec<Weekday>,
    /// Opening time, IST.
    pub opens: NaiveTime,
    /// Closing time, IST (after `opens`).
    pub closes: NaiveTime,
}

impl Default for BusinessHours {
    /// Every day, 09:00 to 20:00 IST: Indian showrooms open on Sundays.
    fn default() -> Self {
        Self {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            closes: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
        }
    }
}

impl BusinessHours {
    /// Reads `mon,tue,…` and `HH:MM-HH:MM` (`24:00` closes at midnight);
    /// the error says what is wrong.
    pub fn parse(days: &str, hours: &str) -> Result<Self, String> {
        let days = days
            .split(',')
            .map(|d| {
                d.trim()
                    .parse::<Weekday>()
                    .map_err(|_| format!("{d:?} is not a day (mon, tue, …)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if days.is_empty() {
            return Err("at least one open day".into());
        }
        let (opens, closes) = hours
            .split_once('-')
            .ok_or("hours are HH:MM-HH:MM, for example 09:00-20:00")?;
        let time = |t: &str| match t.trim() {
            // The end of the day, for a desk open round the clock.
            "24:00" => NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
                .ok_or_else(|| "24:00".to_owned()),
            t => NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("{t:?} is not a time HH:MM")),
        };
        let (opens, closes) = (time(opens)?, time(closes)?);
        if closes <= opens {
            return Err("the closing time must come after the opening time".into());
        }
        Ok(Self {
            days,
            opens,
            closes,
        })
    }

    /// The moment `business` of open time has passed since `start`.
    pub fn deadline(&self, start: DateTime<Utc>, business: TimeDelta) -> DateTime<Utc> {
        let ist = crate::time::ist();
        let mut now = start.with_timezone(&ist);
        let mut left = business;
        // A week of closed days at most before an open one; bounded anyway.
        for _ in 0..(400 * 8) {
            let day = now.date_naive();
            let open_today = self.days.contains(&day.weekday());
            let opens = day.and_time(self.opens).and_local_timezone(ist).single();
            let closes = day.and_time(self.closes).and_local_timezone(ist).single();
            if let (true, Some(opens), Some(closes)) = (open_today, opens, closes) {
                if now < opens {
                    now = opens;
                }
                if now < closes {
                    let room = closes - now;
                    if left <= room {
                        return (now + left).with_timezone(&Utc);
                    }
                    left -= room;
                }
            }
            // On to the next day's start.
            let next = day.succ_opt().unwrap_or(day).and_time(NaiveTime::MIN);
            match next.and_local_timezone(ist).single() {
                Some(next) => now = next,
                None => break,
            }
        }
        start + business
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ist(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        crate::time::ist()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_target_inside_open_hours_is_plain_addition() {
        let hours = BusinessHours::default();
        let start = ist(2026, 12, 7, 10, 0);
        assert_eq!(
            hours.deadline(start, TimeDelta::minutes(5)),
            ist(2026, 12, 7, 10, 5)
        );
    }

    #[test]
    fn a_lead_after_closing_is_due_after_the_next_opening() {
        let hours = BusinessHours::parse("mon,tue,wed,thu,fri,sat", "09:30-19:00").unwrap();
        // Monday 18:58: two minutes today, three after Tuesday's opening.
        assert_eq!(
            hours.deadline(ist(2026, 12, 7, 18, 58), TimeDelta::minutes(5)),
            ist(2026, 12, 8, 9, 33)
        );
        // Saturday night: Sunday is closed, so Monday 09:35.
        assert_eq!(
            hours.deadline(ist(2026, 12, 12, 22, 0), TimeDelta::minutes(5)),
            ist(2026, 12, 14, 9, 35)
        );
    }

    #[test]
    fn bad_hours_are_refused_with_a_reason() {
        assert!(BusinessHours::parse("mon,funday", "09:00-18:00").is_err());
        assert!(BusinessHours::parse("mon", "18:00-09:00").is_err());
        assert!(BusinessHours::parse("mon", "9-18").is_err());
    }
}
