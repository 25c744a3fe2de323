//! Phone numbers to E.164 with libphonenumber's metadata (the
//! `rlibphonenumber` crate), so "+91 98765 43210", "09876543210" and
//! "9876543210" are one customer.

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, Region};

/// Normalises a phone number to E.164. Numbers without a country code are
/// read as Indian (every partner here is an Indian dealer system). `None`
/// when no reading gives a valid number.
///
/// A number written without `+` is read two ways, the library's first: as
/// libphonenumber reads it for India (which takes a leading `91` as the
/// country code, so `919876543210` works) and as an Indian national number
/// (so `9123456780`, which that heuristic would misread as `+91 23456780`,
/// works too).
pub fn to_e164(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return None;
    }
    let mut readings = vec![trimmed.to_owned()];
    if !trimmed.starts_with('+') {
        readings.push(format!("+91{trimmed}"));
    }
    readings.iter().find_map(|reading| {
        let number = PHONE_NUMBER_UTIL.parse(reading, Some(Region::IN)).ok()?;
        PHONE_NUMBER_UTIL.is_valid_number(&number).then(|| {
            PHONE_NUMBER_UTIL
                .format(&number, PhoneNumberFormat::E164)
                .into_owned()
        })
    })
}

/// A WhatsApp id (`wa_id`, `from`) is a full international number without
/// the `+`; reads it as such, not as a national number.
pub fn from_wa_id(raw: &str) -> Option<String> {
    to_e164(&format!("+{}", raw.trim().trim_start_matches('+')))
}

#[cfg(test)]
mod tests {
    use super::to_e164;

    #[test]
    fn indian_numbers_in_every_common_spelling_become_one() {
        for raw in [
            "+919876543210",
            "9876543210",
            "09876543210",
            "+91 98765 43210",
            "+91-98765-43210",
            "919876543210",
        ] {
            assert_eq!(to_e164(raw).as_deref(), Some("+919876543210"), "{raw}");
        }
        // The CarWale contract's sample, which starts with 91 like a country code.
        assert_eq!(to_e164("9123456780").as_deref(), Some("+919123456780"));
    }

    #[test]
    fn numbers_of_the_wrong_length_are_refused() {
        for raw in ["98765", "987654321", "98765432101", "+9198765"] {
            assert_eq!(to_e164(raw), None, "{raw}");
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(to_e164("+14155552671").as_deref(), Some("+14155552671"));
    }

    #[test]
    fn garbage_is_not_a_number() {
        for raw in ["", "abc", "12", "+91", "98765432109876543210"] {
            assert_eq!(to_e164(raw), None, "{raw}");
        }
    }
}
