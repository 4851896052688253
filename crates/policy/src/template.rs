//! ConstraintTemplates: parsing (`templates.gatekeeper.sh/v1` and `v1beta1`), extracting the
//! Rego for the `admission.k8s.gatekeeper.sh` target (legacy `rego` + `libs`, or `code[]`
//! with `engine: Rego`), and compiling it once into a prototype regorus engine that
//! evaluations clone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use regorus::Engine;
use serde_json::Value;

use crate::error::PolicyError;
use crate::regorus_compat;

/// The only Gatekeeper target keelwatch evaluates.
pub const TARGET: &str = "admission.k8s.gatekeeper.sh";

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A compiled ConstraintTemplate.
#[derive(Debug)]
pub struct Template {
    /// `metadata.name`.
    pub name: String,
    /// The constraint kind it defines (`spec.crd.spec.names.kind`).
    pub kind: String,
    /// Where it was read (file:line or `builtin:<definition>`).
    pub origin: String,
    /// `spec.crd.spec.validation.openAPIV3Schema`, the schema of constraint parameters.
    pub schema: Option<Value>,
    /// The template object as loaded (rendered back by `policy render`).
    pub raw: Value,
    /// `data.<package>.violation`: the rule evaluated for every review.
    pub(crate) rule: String,
    /// Whether the Rego reads `data.inventory` (engines then carry the inventory as data).
    pub(crate) uses_inventory: bool,
    /// Process-unique id, keys per-thread engine caches.
    pub(crate) uid: u64,
    /// Parsed, extension-equipped engine; cloned (never evaluated) by evaluators.
    prototype: Mutex<Engine>,
    /// The RVM program of `rule`, for built-in templates only (see [`crate::compiled`]).
    pub(crate) compiled: Option<crate::compiled::CompiledRule>,
}

impl Template {
    /// Parses and compiles a ConstraintTemplate object.
    pub fn from_value(raw: Value, origin: &str) -> Result<Template, PolicyError> {
        let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let err = |message: String| PolicyError::Template { name: name.clone(), origin: origin.to_string(), message };
        let api = raw.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if !api.starts_with("templates.gatekeeper.sh/") {
            return Err(err(format!("apiVersion `{api}` is not templates.gatekeeper.sh/v1 or v1beta1")));
        }
        if name.is_empty() {
            return Err(err("metadata.name is missing".into()));
        }
        let kind = raw
            .pointer("/spec/crd/spec/names/kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| err("spec.crd.spec.names.kind is missing: it names the constraint kind".into()))?
            .to_string();
        if kind.to_lowercase() != name {
            return Err(err(format!(
                "metadata.name must be the lowercase of the constraint kind `{kind}` (Gatekeeper requires `{}`)",
                kind.to_lowercase()
            )));
        }
        let schema = raw.pointer("/spec/crd/spec/validation/openAPIV3Schema").cloned();
        let targets = raw.pointer("/spec/targets").and_then(Value::as_array).cloned().unwrap_or_default();
        let target = targets
            .iter()
            .find(|t| t.get("target").and_then(Value::as_str) == Some(TARGET))
            .ok_or_else(|| err(format!("spec.targets has no entry for target `{TARGET}`")))?;
        let (rego, libs, v1) = extract_rego(target).map_err(err)?;
        let package = package_of(&rego).ok_or_else(|| err("the Rego has no `package` line".into()))?;
        let uses_inventory = std::iter::once(&rego).chain(libs.iter()).any(|s| s.contains("data.inventory"));

        let mut engine = regorus_compat::new_engine(v1);
        engine
            .add_policy(format!("{name}.rego"), regorus_compat::preprocess(&rego))
            .map_err(|e| err(format!("Rego does not compile: {e}")))?;
        for (i, lib) in libs.iter().enumerate() {
            engine
                .add_policy(format!("{name}.lib{i}.rego"), regorus_compat::preprocess(lib))
                .map_err(|e| err(format!("library {i} does not compile: {e}")))?;
        }
        let rule = format!("data.{package}.violation");
        // Prepare once (static analysis, rule gathering) so clones start ready.
        engine.set_input(regorus::Value::new_object());
        if let Err(e) = engine.eval_rule(rule.clone()) {
            let msg = e.to_string();
            if msg.contains("not a valid rule path")
                || msg.contains("could not find")
                || msg.contains("rule") && msg.contains("not found")
            {
                return Err(err(format!("cannot evaluate `{rule}`: {msg} (templates must define a `violation` rule)")));
            }
        }
        let compiled = if crate::compiled::is_builtin_source(&rego, &libs) {
            crate::compiled::compile(&engine, &rule)
        } else {
            None
        };
        Ok(Template {
            name,
            kind,
            origin: origin.to_string(),
            schema,
            raw,
            rule,
            uses_inventory,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            prototype: Mutex::new(engine),
            compiled,
        })
    }

    /// A fresh copy of the compiled engine.
    /// Whether reviews run on the compiled fast path ([`crate::compiled`]).
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    pub(crate) fn engine(&self) -> Engine {
        self.prototype.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Returns (main module, libraries, rego v1?) for a target entry.
pub(crate) fn extract_rego(target: &Value) -> Result<(String, Vec<String>, bool), String> {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    // Legacy `rego` wins over `code[]`.
    if let Some(rego) = target.get("rego").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
        return Ok((rego.to_string(), strings(target.get("libs")), false));
    }
    let code = target.get("code").and_then(Value::as_array).cloned().unwrap_or_default();
    for c in &code {
        if c.get("engine").and_then(Value::as_str) == Some("Rego") {
            let source = c.get("source").cloned().unwrap_or(Value::Null);
            let rego =
                source.get("rego").and_then(Value::as_str).ok_or("code[] entry with engine Rego has no source.rego")?;
            let v1 = source.get("version").and_then(Value::as_str) == Some("v1");
            return Ok((rego.to_string(), strings(source.get("libs")), v1));
        }
    }
    if code.is_empty() {
        Err("the target has neither `rego` nor `code[]`".into())
    } else {
        Err("the target only has non-Rego code (e.g. K8sNativeValidation/CEL); keelwatch evaluates Rego only".into())
    }
}

/// The package path of a Rego module (`package a.b` → `a.b`).
fn package_of(rego: &str) -> Option<String> {
    rego.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("package ").map(|p| p.split('#').next().unwrap_or("").trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_rego_wins_and_cel_only_is_refused() {
        let t = json!({"rego": "package a\nviolation[{\"msg\": \"x\"}] { true }", "code": [{"engine": "Rego", "source": {"rego": "package b"}}]});
        assert_eq!(extract_rego(&t).unwrap().0.lines().next(), Some("package a"));
        let cel = json!({"code": [{"engine": "K8sNativeValidation", "source": {}}]});
        assert!(extract_rego(&cel).unwrap_err().contains("Rego only"));
    }

    #[test]
    fn template_name_must_match_kind() {
        let raw = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": "wrong"}, "spec": {"crd": {"spec": {"names": {"kind": "K8sX"}}},
            "targets": [{"target": TARGET, "rego": "package x\nviolation[{\"msg\": \"m\"}] { true }"}]}});
        let e = Template::from_value(raw, "t.yaml:1").unwrap_err().to_string();
        assert!(e.contains("k8sx"), "{e}");
    }
}
