//! Phone numbers to E.164 with libphonenumber's metadata (the `phonenumber`
//! crate), so "+91 98765 43210", "09876543210" and "9876543210" are one
//! customer.

use phonenumber::{Mode, country};

/// Normalises a phone number to E.164. Numbers without a country code are
/// read as Indian (every partner here is an Indian dealer system). `None`
/// when the input is not a valid number.
pub fn to_e164(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return None;
    }
    let number = phonenumber::parse(Some(country::Id::IN), trimmed).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
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
