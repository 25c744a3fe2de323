//! CSV downloads (the lead list, each report's table) that are safe to open
//! in a spreadsheet: a cell that starts with `=`, `+`, `-` or `@` (or a tab
//! or carriage return) would be read as a formula, so it is prefixed with
//! `'`, which spreadsheets show as text (OWASP's advice on CSV injection).
//! A phone number "+9198…" therefore reads "'+9198…".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `value` as a cell no spreadsheet evaluates.
pub fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

fn write(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header.iter().map(|h| cell(h)))?;
    for row in rows {
        out.write_record(row.iter().map(|c| cell(c)))?;
    }
    out.into_inner()
        .map_err(|e| anyhow::anyhow!("finishing the CSV: {e}"))
}

/// A CSV file of `header` and `rows` (every cell made safe), offered as a
/// download named `filename`.
pub fn download(filename: &str, header: &[&str], rows: &[Vec<String>]) -> Response {
    let bytes = match write(header, rows) {
        Ok(bytes) => bytes,
        Err(error) => {
            // Writing to memory: not expected to fail.
            tracing::error!(%error, filename, "a CSV download could not be written");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_made_text_and_others_left_alone() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+919833300001"), "'+919833300001");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tcmd"), "'\tcmd");
        assert_eq!(cell("Asha"), "Asha");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a=b"), "a=b");
    }
}
