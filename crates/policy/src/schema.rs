//! A small structural validator for constraint parameters against a template's
//! `openAPIV3Schema`: `type`, `properties`, `items`, `enum`, `required`,
//! `additionalProperties` (as a schema) and `nullable`. Unknown properties are accepted (the
//! API server prunes them), as are keywords we do not check (`pattern`, `format`, …).
//!
//! Errors name the JSON path inside `spec.parameters`, e.g. `spec.parameters.ranges[0].min`.

use serde_json::Value;

/// One schema violation: where (path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

/// Validates `value` against `schema`; returns the first problem found.
pub fn validate(schema: &Value, value: &Value, path: &str) -> Result<(), SchemaError> {
    let Some(schema) = schema.as_object() else { return Ok(()) };
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        // `x-kubernetes-int-or-string` accepts both.
        let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
            && (value.is_string() || value.is_i64() || value.is_u64());
        if !ok && !int_or_string {
            return Err(SchemaError {
                path: path.to_string(),
                message: format!("expected {ty}, got {}", type_name(value)),
            });
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        return Err(SchemaError {
            path: path.to_string(),
            message: format!("value {value} is not one of [{}]", list.join(", ")),
        });
    }
    if let Some(obj) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(SchemaError {
                        path: path.to_string(),
                        message: format!("required field `{r}` is missing"),
                    });
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            let child = format!("{path}.{k}");
            if let Some(s) = props.and_then(|p| p.get(k)) {
                validate(s, v, &child)?;
            } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                validate(s, v, &child)?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            validate(items, v, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_path_and_problem() {
        let schema = json!({"type": "object", "properties": {
            "ranges": {"type": "array", "items": {"type": "object", "required": ["min"],
                "properties": {"min": {"type": "integer"}}}},
            "mode": {"type": "string", "enum": ["a", "b"]}}});
        assert!(validate(&schema, &json!({"ranges": [{"min": 1}], "mode": "a", "extra": 1}), "p").is_ok());
        let e = validate(&schema, &json!({"ranges": [{"min": "x"}]}), "spec.parameters").unwrap_err();
        assert_eq!(e.path, "spec.parameters.ranges[0].min");
        assert_eq!(e.message, "expected integer, got string");
        let e = validate(&schema, &json!({"ranges": [{}]}), "p").unwrap_err();
        assert!(e.message.contains("`min`"));
        let e = validate(&schema, &json!({"mode": "c"}), "p").unwrap_err();
        assert_eq!(e.path, "p.mode");
    }
}
