//! Assignments (`policy.keelwatch.dev/v1alpha1`, kind `Assignment`): what users write to turn
//! built-in definitions on. An assignment names an initiative or a list of definitions, an
//! effect and Azure-style common parameters, and expands to one Constraint per definition,
//! named `keelwatch-<definition>-<hash>` where the hash (12 hex digits of SHA-256) covers the
//! assignment name, the definition and the final parameters — stable across runs.
//!
//! Parameters, later wins: definition defaults, the initiative's per-member parameters,
//! `excludedImages`/`excludedContainers`, flat `spec.parameters.<param>` (for every member that
//! declares it), then `spec.parameters.<definition>.<param>`.
//!
//! Effects: `Audit` → `dryrun`, `Deny` → `deny`, `Warn` → `warn`, `Disabled` → no constraint.
//! Default effect `Audit` (Azure Policy's default); default `excludedNamespaces`:
//! kube-system, gatekeeper-system, keelwatch-system.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::PolicyError;
use crate::library::Library;

/// The Assignment apiVersion.
pub const API_VERSION: &str = "policy.keelwatch.dev/v1alpha1";

/// Namespaces excluded when an assignment does not say otherwise.
pub const DEFAULT_EXCLUDED_NAMESPACES: &[&str] = &["kube-system", "gatekeeper-system", "keelwatch-system"];

/// Whether `v` is an Assignment object.
pub fn is_assignment(v: &Value) -> bool {
    v.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION)
        && v.get("kind").and_then(Value::as_str) == Some("Assignment")
}

/// Assignment effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Audit,
    Deny,
    Warn,
    Disabled,
}

impl Effect {
    /// The Gatekeeper enforcementAction, or `None` for Disabled.
    pub fn enforcement_action(self) -> Option<&'static str> {
        match self {
            Effect::Audit => Some("dryrun"),
            Effect::Deny => Some("deny"),
            Effect::Warn => Some("warn"),
            Effect::Disabled => None,
        }
    }
}

/// A parsed Assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub name: String,
    pub origin: String,
    /// Definitions assigned (the initiative's members, or `spec.definitions`).
    pub definitions: Vec<String>,
    pub initiative: Option<String>,
    pub effect: Effect,
    pub excluded_namespaces: Vec<String>,
    pub namespaces: Vec<String>,
    pub label_selector: Option<Value>,
    pub excluded_images: Vec<String>,
    pub excluded_containers: Vec<String>,
    pub parameters: Map<String, Value>,
}

/// One constraint produced by an assignment.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub definition: String,
    pub template_kind: String,
    pub constraint: Value,
}

impl Assignment {
    /// Parses an Assignment object (structure only; names are checked by [`Assignment::expand`]).
    pub fn from_value(v: &Value, origin: &str) -> Result<Assignment, PolicyError> {
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let err = |m: String| PolicyError::Assignment { name: name.clone(), origin: origin.to_string(), message: m };
        if !is_assignment(v) {
            return Err(err(format!("expected apiVersion {API_VERSION}, kind Assignment")));
        }
        if name.is_empty() {
            return Err(err("metadata.name is missing".into()));
        }
        let spec = v.get("spec").and_then(Value::as_object).cloned().unwrap_or_default();
        let known = [
            "initiative",
            "definitions",
            "effect",
            "excludedNamespaces",
            "namespaces",
            "labelSelector",
            "excludedImages",
            "excludedContainers",
            "parameters",
        ];
        if let Some(k) = spec.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(err(format!("unknown field spec.{k} (known: {})", known.join(", "))));
        }
        let strings = |k: &str| -> Result<Vec<String>, PolicyError> {
            match spec.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string).ok_or_else(|| err(format!("spec.{k} must list strings"))))
                    .collect(),
                Some(_) => Err(err(format!("spec.{k} must be a list of strings"))),
            }
        };
        let initiative = spec.get("initiative").and_then(Value::as_str).map(str::to_string);
        let definitions = strings("definitions")?;
        if initiative.is_some() != definitions.is_empty() {
            return Err(err("give exactly one of spec.initiative or spec.definitions".into()));
        }
        let effect = match spec.get("effect").and_then(Value::as_str).unwrap_or("Audit") {
            "Audit" | "audit" => Effect::Audit,
            "Deny" | "deny" => Effect::Deny,
            "Warn" | "warn" => Effect::Warn,
            "Disabled" | "disabled" => Effect::Disabled,
            other => return Err(err(format!("spec.effect `{other}` is not Audit, Deny, Warn or Disabled"))),
        };
        let excluded_namespaces = if spec.contains_key("excludedNamespaces") {
            strings("excludedNamespaces")?
        } else {
            DEFAULT_EXCLUDED_NAMESPACES.iter().map(|s| s.to_string()).collect()
        };
        let label_selector =
            spec.get("labelSelector").filter(|s| s.as_object().is_some_and(|o| !o.is_empty())).cloned();
        let parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(err("spec.parameters must be a map".into())),
        };
        Ok(Assignment {
            name: name.clone(),
            origin: origin.to_string(),
            definitions,
            initiative,
            effect,
            excluded_namespaces,
            namespaces: strings("namespaces")?,
            label_selector,
            excluded_images: strings("excludedImages")?,
            excluded_containers: strings("excludedContainers")?,
            parameters,
        })
    }

    /// The definitions this assignment turns on, checked against the library.
    pub fn definition_names(&self, library: &Library) -> Result<Vec<String>, PolicyError> {
        let err =
            |m: String| PolicyError::Assignment { name: self.name.clone(), origin: self.origin.clone(), message: m };
        let names = match &self.initiative {
            Some(i) => library
                .initiative(i)
                .ok_or_else(|| {
                    let known: Vec<&str> = library.initiatives().iter().map(|x| x.name.as_str()).collect();
                    err(format!("unknown initiative `{i}` (known: {})", known.join(", ")))
                })?
                .definitions
                .clone(),
            None => self.definitions.clone(),
        };
        for d in &names {
            if library.definition(d).is_none() {
                return Err(err(format!("unknown definition `{d}` (see `keelwatch policy list`)")));
            }
        }
        Ok(names)
    }

    /// Expands into constraints (none when the effect is Disabled).
    pub fn expand(&self, library: &Library) -> Result<Vec<Expanded>, PolicyError> {
        let err =
            |m: String| PolicyError::Assignment { name: self.name.clone(), origin: self.origin.clone(), message: m };
        let names = self.definition_names(library)?;
        let Some(action) = self.effect.enforcement_action() else { return Ok(vec![]) };
        // Flat parameters must be declared by at least one member; per-definition maps must
        // name a member.
        for (k, v) in &self.parameters {
            if names.contains(k) {
                if !v.is_object() {
                    return Err(err(format!("spec.parameters.{k} must be a map of that definition's parameters")));
                }
                let def = library.definition(k).expect("checked");
                for p in v.as_object().into_iter().flat_map(|m| m.keys()) {
                    if !def.has_parameter(p) {
                        return Err(err(format!(
                            "definition `{k}` has no parameter `{p}` (see `keelwatch policy list`)"
                        )));
                    }
                }
            } else if !names.iter().any(|d| library.definition(d).is_some_and(|def| def.has_parameter(k))) {
                return Err(err(format!(
                    "spec.parameters.{k}: no assigned definition has this parameter (per-definition overrides go under spec.parameters.<definition>)"
                )));
            }
        }
        let mut out = Vec::new();
        for d in &names {
            let def = library.definition(d).expect("checked");
            let mut params = def.defaults.as_object().cloned().unwrap_or_default();
            if let Some(Value::Object(ip)) =
                self.initiative.as_ref().and_then(|i| library.initiative(i)).and_then(|i| i.parameters.get(d))
            {
                for (k, v) in ip {
                    params.insert(k.clone(), v.clone());
                }
            }
            if def.has_parameter("excludedImages") && !self.excluded_images.is_empty() {
                params.insert("excludedImages".into(), json!(self.excluded_images));
            }
            if def.has_parameter("excludedContainers") && !self.excluded_containers.is_empty() {
                params.insert("excludedContainers".into(), json!(self.excluded_containers));
            }
            for (k, v) in &self.parameters {
                if names.contains(k) {
                    continue;
                }
                if def.has_parameter(k) {
                    params.insert(k.clone(), v.clone());
                }
            }
            if let Some(Value::Object(over)) = self.parameters.get(d) {
                for (k, v) in over {
                    params.insert(k.clone(), v.clone());
                }
            }
            let params = Value::Object(params);
            let name = format!("keelwatch-{d}-{}", short_hash(&self.name, d, &params));
            let mut matcher = json!({"kinds": def.kinds});
            if !self.excluded_namespaces.is_empty() {
                matcher["excludedNamespaces"] = json!(self.excluded_namespaces);
            }
            if !self.namespaces.is_empty() {
                matcher["namespaces"] = json!(self.namespaces);
            }
            if let Some(ls) = &self.label_selector {
                matcher["labelSelector"] = ls.clone();
            }
            let constraint = json!({
                "apiVersion": "constraints.gatekeeper.sh/v1beta1",
                "kind": def.template_kind,
                "metadata": {
                    "name": name,
                    "labels": {
                        "policy.keelwatch.dev/assignment": self.name,
                        "policy.keelwatch.dev/definition": d,
                    }
                },
                "spec": {
                    "enforcementAction": action,
                    "match": matcher,
                    "parameters": params,
                }
            });
            out.push(Expanded { definition: d.clone(), template_kind: def.template_kind.clone(), constraint });
        }
        Ok(out)
    }
}

/// 12 hex digits of SHA-256 over assignment name, definition and canonical parameters.
fn short_hash(assignment: &str, definition: &str, params: &Value) -> String {
    let mut h = Sha256::new();
    h.update(assignment.as_bytes());
    h.update([0]);
    h.update(definition.as_bytes());
    h.update([0]);
    h.update(canonical_json(params).as_bytes());
    hex::encode(&h.finalize()[..6])
}

/// JSON with object keys sorted at every level (independent of input order).
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}
