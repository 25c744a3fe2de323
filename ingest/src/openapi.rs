//! `/openapi.json`: the routes and answers as written in
//! `ingest/openapi.json`, with every request body's schema taken from the
//! contracts' own code ([`shared::contracts::schemas`]), so the document
//! says exactly what the edge accepts. Built once at start-up.

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::Value;

/// Routes, answers and response bodies, written by hand.
const SKELETON: &str = include_str!("../openapi.json");
/// Where the document keeps its named schemas.
const REFS: &str = "#/components/schemas/";

/// The whole document, as served.
pub(crate) fn document() -> anyhow::Result<Bytes> {
    let mut document: Value =
        serde_json::from_str(SKELETON).context("ingest/openapi.json is not JSON")?;
    let schemas = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .context("ingest/openapi.json has no components/schemas")?;
    for (name, schema) in shared::contracts::schemas(REFS) {
        if schemas.insert(name.clone(), schema).is_some() {
            bail!("schema {name} is both written by hand and built from its contract");
        }
    }
    let mut missing = Vec::new();
    references(&document, &mut |target| {
        let resolves = target
            .strip_prefix('#')
            .is_some_and(|pointer| document.pointer(pointer).is_some());
        if !resolves {
            missing.push(target.to_owned());
        }
    });
    if !missing.is_empty() {
        bail!("/openapi.json refers to schemas it lacks: {missing:?}");
    }
    Ok(Bytes::from(serde_json::to_vec(&document)?))
}

/// Calls `found` with every `$ref` in `value`.
fn references(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => found(target),
                    _ => references(child, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_builds_and_every_reference_resolves() {
        let document: serde_json::Value =
            serde_json::from_slice(&super::document().unwrap()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["components"]["schemas"]["CrmEvent.lead_update"].is_object());
    }
}
