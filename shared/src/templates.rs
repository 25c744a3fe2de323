//! WhatsApp message templates, as Tata's template API lists them and its
//! send API takes them (`docs/contracts/tata-whatsapp-media-and-templates.md`).
//! A template is the only message WhatsApp lets a business send outside
//! the 24-hour window, or to a number that never wrote: how a salesperson
//! answers a CarDekho or CarWale lead on WhatsApp. The worker fetches the
//! list and the console offers it; both read it through these types.

use serde::{Deserialize, Serialize};

/// The only status a template can be sent in.
pub const APPROVED: &str = "APPROVED";

/// Most characters WhatsApp takes in one template field.
pub const MAX_PARAMETER_CHARS: usize = 1_024;

/// Most fields one template send may carry (far more than any body uses).
pub const MAX_PARAMETERS: usize = 64;

/// `GET {base}/v1/whatsapp/templates`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateList {
    pub templates: Vec<Template>,
}

/// One template, as Tata lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED` or `DISABLED`.
    pub status: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub components: Vec<Component>,
}

/// A template's header, body, footer or buttons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `HEADER`, `BODY`, `FOOTER` or `BUTTONS`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A header's `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT` or `LOCATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<serde_json::Value>,
}

impl Template {
    /// The body's text, with its `{{n}}` fields.
    pub fn body(&self) -> Option<&str> {
        self.component("BODY").and_then(|c| c.text.as_deref())
    }

    /// How many fields the body takes (its highest `{{n}}`).
    pub fn parameters(&self) -> usize {
        self.body().map_or(0, parameter_count)
    }

    /// Whether it can be sent as this product sends templates: approved,
    /// with a body, and no header or button that needs a field of its own
    /// (a media header needs a link; a text header with a field, one more
    /// parameter list). Those are listed but not offered.
    pub fn sendable(&self) -> bool {
        self.status == APPROVED
            && self.body().is_some()
            && self.components.iter().all(|c| match c.kind.as_str() {
                "HEADER" => {
                    c.format.as_deref().is_none_or(|f| f == "TEXT")
                        && c.text.as_deref().is_none_or(|t| parameter_count(t) == 0)
                }
                _ => true,
            })
    }

    fn component(&self, kind: &str) -> Option<&Component> {
        self.components
            .iter()
            .find(|c| c.kind.eq_ignore_ascii_case(kind))
    }
}

/// The highest `{{n}}` in `text` (WhatsApp numbers fields from 1).
pub fn parameter_count(text: &str) -> usize {
    fields(text).map(|(_, n, _)| n).max().unwrap_or(0)
}

/// `text` with each `{{n}}` replaced by `parameters[n - 1]` (a field with
/// no parameter stays as it is).
pub fn render(text: &str, parameters: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (start, n, end) in fields(text) {
        out.push_str(&text[rest..start]);
        match parameters.get(n - 1) {
            Some(value) => out.push_str(value),
            None => out.push_str(&text[start..end]),
        }
        rest = end;
    }
    out.push_str(&text[rest..]);
    out
}

/// Each `{{n}}` (n ≥ 1) in `text`: its start, n, and its end.
fn fields(text: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(open) = text[from..].find("{{").map(|i| i + from) {
            let digits_start = open + 2;
            let digits = text[digits_start..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let close = digits_start + digits;
            from = open + 2;
            if digits > 0
                && text[close..].starts_with("}}")
                && let Ok(n) = text[digits_start..close].parse::<usize>()
                && n >= 1
            {
                from = close + 2;
                return Some((open, n, close + 2));
            }
        }
        None
    })
}

/// Why one field cannot be sent, in words for the person who typed it.
pub fn check_parameter(position: usize, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err(format!("field {{{{{position}}}}} is empty"));
    }
    if chars > MAX_PARAMETER_CHARS {
        return Err(format!(
            "field {{{{{position}}}}} has {chars} characters; WhatsApp takes at most {MAX_PARAMETER_CHARS}"
        ));
    }
    if value.contains(['\n', '\r', '\t']) || value.contains("    ") {
        return Err(format!(
            "field {{{{{position}}}}} holds a line break, a tab or four spaces in a row, which WhatsApp refuses in a template field"
        ));
    }
    Ok(())
}

/// A template to send: which one, and its body's fields in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

impl TemplateSend {
    /// Checks what can be checked without the template list.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 512 {
            return Err("a template's name must have 1 to 512 characters".into());
        }
        if self.language.trim().is_empty() || self.language.len() > 16 {
            return Err("a template's language must have 1 to 16 characters".into());
        }
        if self.parameters.len() > MAX_PARAMETERS {
            return Err(format!(
                "a template takes at most {MAX_PARAMETERS} fields, not {}",
                self.parameters.len()
            ));
        }
        for (i, value) in self.parameters.iter().enumerate() {
            check_parameter(i + 1, value)?;
        }
        Ok(())
    }

    /// The send API's `template` member.
    pub fn to_api(&self) -> serde_json::Value {
        let mut template = serde_json::json!({
            "name": self.name,
            "language": {"code": self.language},
        });
        if !self.parameters.is_empty() {
            let parameters: Vec<serde_json::Value> = self
                .parameters
                .iter()
                .map(|text| serde_json::json!({"type": "text", "text": text}))
                .collect();
            template["components"] =
                serde_json::json!([{"type": "body", "parameters": parameters}]);
        }
        template
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(status: &str, components: serde_json::Value) -> Template {
        serde_json::from_value(serde_json::json!({
            "name": "test_drive_invite", "language": "en", "status": status,
            "category": "MARKETING", "components": components,
        }))
        .unwrap()
    }

    #[test]
    fn fields_are_counted_and_filled_in_order() {
        let body = "Hi {{1}}, your {{2}} test drive is ready. {{ 3}} {{0}} {{x}} {{2}}";
        assert_eq!(parameter_count(body), 2);
        assert_eq!(
            render(body, &["Ravi".into(), "MG Windsor EV".into()]),
            "Hi Ravi, your MG Windsor EV test drive is ready. {{ 3}} {{0}} {{x}} MG Windsor EV"
        );
        assert_eq!(render("{{1}} and {{3}}", &["a".into()]), "a and {{3}}");
        assert_eq!(parameter_count("no fields {{"), 0);
        assert_eq!(render("ends with {{", &[]), "ends with {{");
    }

    #[test]
    fn only_approved_templates_with_a_body_and_no_field_in_the_header_are_sendable() {
        let body = serde_json::json!([{"type": "BODY", "text": "Hi {{1}}"}]);
        assert!(template("APPROVED", body.clone()).sendable());
        assert!(!template("PENDING", body).sendable());
        assert!(
            !template(
                "APPROVED",
                serde_json::json!([{"type": "FOOTER", "text": "x"}])
            )
            .sendable()
        );
        let image_header = serde_json::json!([
            {"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}
        ]);
        assert!(!template("APPROVED", image_header).sendable());
        let text_header = serde_json::json!([
            {"type": "HEADER", "format": "TEXT", "text": "Raam MG"}, {"type": "BODY", "text": "Hi"}
        ]);
        assert!(template("APPROVED", text_header).sendable());
    }

    #[test]
    fn a_send_is_the_contracts_shape_and_bad_fields_are_refused() {
        let send = TemplateSend {
            name: "test_drive_invite".into(),
            language: "en".into(),
            parameters: vec!["Ravi".into(), "MG Windsor EV".into()],
        };
        assert_eq!(
            send.to_api(),
            serde_json::json!({"name": "test_drive_invite", "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ravi"}, {"type": "text", "text": "MG Windsor EV"}]}]})
        );
        assert!(send.check().is_ok());
        let mut bad = send.clone();
        bad.parameters[1] = "two\nlines".into();
        assert!(bad.check().unwrap_err().contains("{{2}}"));
        bad.parameters[1] = " ".into();
        assert!(bad.check().unwrap_err().contains("empty"));
        bad = send;
        bad.parameters.clear();
        assert_eq!(
            bad.to_api(),
            serde_json::json!({"name": "test_drive_invite", "language": {"code": "en"}})
        );
    }
}
