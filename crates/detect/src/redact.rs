//! Redaction of Secret values in audit events, applied before anything is evaluated,
//! stored, sent or printed.
//!
//! What is removed (replaced by [`REDACTED`], keys kept so rules and humans still see *which*
//! keys changed):
//! - `data` / `stringData` of every object whose `kind` is `Secret`, of every item of a
//!   `SecretList`, and of the request/response bodies of any event on the `secrets` resource
//!   (including `List` items, merge patches and items without `kind`);
//! - the `value` of every JSON-patch operation on the `secrets` resource;
//! - the `kubectl.kubernetes.io/last-applied-configuration` annotation, which is JSON text of
//!   the applied object: parsed, redacted the same way and re-serialised (replaced whole when
//!   it cannot be parsed and belongs to a Secret).

use serde_json::{Map, Value};

use crate::audit::AuditEvent;

/// The replacement for every redacted value.
pub const REDACTED: &str = "<redacted>";

/// The annotation kubectl writes with the full applied object as JSON text.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Redacts an audit event in place.
pub fn redact_event(event: &mut AuditEvent) {
    let secrets_resource = event.resource() == Some("secrets");
    for body in [&mut event.request_object, &mut event.response_object].into_iter().flatten() {
        redact_value(body, secrets_resource);
    }
}

/// Redacts a JSON value; `secretish` says the value itself is (part of) a Secret.
///
/// A read-only scan runs first (no hashing, no allocation): a value that is not secretish and
/// contains no `Secret`/`SecretList` object and no last-applied annotation is left as is,
/// which is what the rewriting walk would do with it, only slower.
pub fn redact_value(value: &mut Value, secretish: bool) {
    if !secretish && !may_hold_secret(value, 0) {
        return;
    }
    redact_walk(value, secretish);
}

/// True if a value contains an object of kind `Secret`/`SecretList` or a last-applied
/// annotation key anywhere (or is nested too deeply to tell cheaply).
fn may_hold_secret(value: &Value, depth: usize) -> bool {
    if depth > 256 {
        return true;
    }
    match value {
        Value::Object(obj) => obj.iter().any(|(k, v)| {
            (k == "kind" && matches!(v.as_str(), Some("Secret" | "SecretList")))
                || k == LAST_APPLIED
                || (matches!(v, Value::Object(_) | Value::Array(_)) && may_hold_secret(v, depth + 1))
        }),
        Value::Array(items) => items.iter().any(|v| may_hold_secret(v, depth + 1)),
        _ => false,
    }
}

fn redact_walk(value: &mut Value, secretish: bool) {
    match value {
        Value::Object(obj) => redact_object(obj, secretish),
        Value::Array(items) => {
            for item in items {
                if secretish && is_patch_op(item) {
                    if let Some(v) = item.get_mut("value") {
                        *v = Value::String(REDACTED.to_string());
                    }
                } else {
                    redact_walk(item, secretish);
                }
            }
        }
        _ => {}
    }
}

fn is_patch_op(v: &Value) -> bool {
    v.get("op").is_some_and(Value::is_string) && v.get("path").is_some_and(Value::is_string)
}

fn redact_object(obj: &mut Map<String, Value>, secretish: bool) {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let is_secret = secretish || kind == "Secret";
    let items_secret = is_secret || kind == "SecretList";
    if is_secret {
        for key in ["data", "stringData"] {
            if let Some(data) = obj.get_mut(key) {
                match data {
                    Value::Object(map) => {
                        for v in map.values_mut() {
                            *v = Value::String(REDACTED.to_string());
                        }
                    }
                    Value::Null => {}
                    other => *other = Value::String(REDACTED.to_string()),
                }
            }
        }
    }
    if let Some(Value::Object(annotations)) = obj.get_mut("metadata").and_then(|m| m.get_mut("annotations"))
        && let Some(Value::String(text)) = annotations.get_mut(LAST_APPLIED)
    {
        match serde_json::from_str::<Value>(text) {
            Ok(mut applied) => {
                redact_value(&mut applied, is_secret);
                *text = serde_json::to_string(&applied).unwrap_or_else(|_| REDACTED.into());
            }
            Err(_) if is_secret => *text = REDACTED.to_string(),
            Err(_) => {}
        }
    }
    for (key, child) in obj.iter_mut() {
        match key.as_str() {
            "data" | "stringData" if is_secret => {}
            "items" => redact_walk(child, items_secret),
            _ => redact_walk(child, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_lists_patches_and_last_applied() {
        let applied = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"pw":"hunter2"}})
            .to_string();
        let mut v = json!({"kind":"List","items":[
            {"kind":"Secret","data":{"k":"c2VjcmV0"},"metadata":{"annotations":{LAST_APPLIED: applied}}},
            {"kind":"ConfigMap","data":{"visible":"yes"}},
            {"kind":"SecretList","items":[{"data":{"k2":"dG9w"}}]}
        ]});
        redact_value(&mut v, false);
        let text = v.to_string();
        for secret in ["c2VjcmV0", "hunter2", "dG9w"] {
            assert!(!text.contains(secret), "{secret} survived: {text}");
        }
        assert!(text.contains("visible"), "configmaps untouched");
        assert!(text.contains("\\\"pw\\\""), "keys kept: {text}");

        let mut patch = json!([{"op":"replace","path":"/data/pw","value":"aGk="}]);
        redact_value(&mut patch, true);
        assert_eq!(patch[0]["value"], REDACTED);

        let mut broken = json!({"kind":"Secret","metadata":{"annotations":{LAST_APPLIED: "{not json"}}});
        redact_value(&mut broken, false);
        assert_eq!(broken["metadata"]["annotations"][LAST_APPLIED], REDACTED);
    }
}
