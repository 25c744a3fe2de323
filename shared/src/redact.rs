//! Masking personal data (phone numbers, e-mail addresses) in text an
//! operator reads: raw webhook bodies in the log API, values in log lines.
//! It errs towards masking too much: a masked order id costs a click on
//! "unmask", an unmasked phone number cannot be taken back.

use serde_json::Value;

/// Digits in a run before it is treated as a phone number. Dates
/// (`2025-11-07`, 8 digits) stay readable; Indian mobiles with or without
/// the country code (10 to 12 digits) do not.
const PHONE_MIN_DIGITS: usize = 10;

/// A phone number as `***` and its last four digits.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("***{tail}")
}

/// An e-mail address as its first character, `***`, and the domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A raw body with phone numbers and e-mail addresses masked. A JSON body
/// stays JSON (re-serialised compactly); anything else is masked as text.
pub fn mask_body(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(mut value) => {
            mask_value(&mut value);
            serde_json::to_string(&value).unwrap_or_else(|_| mask_text(body))
        }
        Err(_) => mask_text(body),
    }
}

/// Masks every string and long integer inside a JSON value.
pub fn mask_value(value: &mut Value) {
    match value {
        Value::String(text) => *text = mask_text(text),
        Value::Number(number) => {
            let digits = number.to_string();
            if digits.chars().filter(char::is_ascii_digit).count() >= PHONE_MIN_DIGITS
                && !digits.contains(['.', 'e', 'E'])
            {
                *value = Value::String(mask_phone(&digits));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_value),
        Value::Object(map) => map.values_mut().for_each(mask_value),
        Value::Null | Value::Bool(_) => {}
    }
}

/// Masks phone-like digit runs (digits with spaces, dashes, dots or
/// brackets between them, optionally after `+`) and e-mail addresses in text.
pub fn mask_text(text: &str) -> String {
    let emails_masked: Vec<String> = text
        .split(' ')
        .map(|word| {
            let trimmed = word.trim_matches(|c: char| "\"'<>(),;:".contains(c));
            let looks_like_email = trimmed
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if looks_like_email {
                word.replace(trimmed, &mask_email(trimmed))
            } else {
                word.to_owned()
            }
        })
        .collect();
    mask_digit_runs(&emails_masked.join(" "))
}

fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_run = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_run {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Extend over digits and separators; end on the last digit.
        let mut end = i;
        let mut j = i;
        let mut digits = 0;
        while j < chars.len() {
            let c = chars[j];
            if c.is_ascii_digit() {
                digits += 1;
                end = j + 1;
            } else if !(" -.()".contains(c) || (c == '+' && j == i)) {
                break;
            }
            j += 1;
        }
        let run: String = chars[i..end].iter().collect();
        if digits >= PHONE_MIN_DIGITS {
            out.push_str(&mask_phone(&run));
        } else {
            out.push_str(&run);
        }
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_only_their_last_four_digits() {
        assert_eq!(mask_phone("+919876543210"), "***3210");
        assert_eq!(mask_phone("12"), "***12");
        assert_eq!(mask_text("call +91 98765 43210 now"), "call ***3210 now");
        assert_eq!(mask_text("9876543210"), "***3210");
    }

    #[test]
    fn dates_ids_and_short_numbers_stay_readable() {
        for text in [
            "2025-11-07T16:30:00Z",
            "TATA-CALL-12345",
            "Budget 25L",
            "330",
        ] {
            assert_eq!(mask_text(text), text);
        }
    }

    #[test]
    fn emails_keep_their_first_letter_and_domain() {
        assert_eq!(mask_email("rohit.kumar@gmail.com"), "r***@gmail.com");
        assert_eq!(
            mask_text("mail rohit.kumar@gmail.com, thanks"),
            "mail r***@gmail.com, thanks"
        );
    }

    #[test]
    fn json_bodies_are_masked_value_by_value() {
        let body = r#"{"caller_number":"+919876543210","mobile":9876543210,"email":"a.b@x.in","call_duration":330,"nested":[{"phone":"98765-43210"}]}"#;
        let masked: Value = serde_json::from_str(&mask_body(body)).unwrap();
        assert_eq!(masked["caller_number"], "***3210");
        assert_eq!(masked["mobile"], "***3210");
        assert_eq!(masked["email"], "a***@x.in");
        assert_eq!(masked["call_duration"], 330);
        assert_eq!(masked["nested"][0]["phone"], "***3210");
        assert!(!mask_body("not json 9876543210").contains("98765"));
    }
}
