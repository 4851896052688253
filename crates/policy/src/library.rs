//! The built-in library: our own ConstraintTemplates ("definitions", one per directory under
//! `crates/policy/policies/`, embedded at build time) and the initiatives grouping them.
//!
//! Each definition directory holds `definition.yaml` (name, title, description, the kinds it
//! matches, default parameters), `template.yaml` (the ConstraintTemplate), `suite.yaml` (a
//! gator Suite) and `samples/`. The kinds are Pods and the pod templates of workloads
//! (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, ReplicationController), at
//! admission and in audit alike: a violating Deployment is refused up front rather than
//! failing later when its ReplicaSet creates pods.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::PolicyError;
use crate::template::Template;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// `spec.match.kinds` used by every pod-level definition.
pub fn workload_kinds() -> Value {
    json!([
        {"apiGroups": [""], "kinds": ["Pod", "ReplicationController"]},
        {"apiGroups": ["apps"], "kinds": ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]},
        {"apiGroups": ["batch"], "kinds": ["Job", "CronJob"]}
    ])
}

/// One built-in definition.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub name: String,
    pub title: String,
    pub description: String,
    /// `spec.match.kinds` of generated constraints.
    pub kinds: Value,
    /// Parameters every generated constraint gets unless overridden.
    pub defaults: Value,
    /// The ConstraintTemplate object.
    pub template: Value,
    /// The constraint kind the template defines.
    pub template_kind: String,
}

/// A documented parameter of a definition (from the template's schema).
#[derive(Debug, Clone, Serialize)]
pub struct ParameterDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub description: String,
    pub default: Option<Value>,
}

impl Definition {
    /// Compiles the template.
    pub fn compile(&self) -> Result<Template, PolicyError> {
        Template::from_value(self.template.clone(), &format!("builtin:{}", self.name))
    }

    /// The parameters the template accepts, with descriptions and defaults.
    pub fn parameters(&self) -> Vec<ParameterDoc> {
        let props = self
            .template
            .pointer("/spec/crd/spec/validation/openAPIV3Schema/properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        props
            .iter()
            .map(|(k, s)| {
                let mut ty = s.get("type").and_then(Value::as_str).unwrap_or("any").to_string();
                if ty == "array"
                    && let Some(it) = s.pointer("/items/type").and_then(Value::as_str)
                {
                    ty = format!("array of {it}");
                }
                ParameterDoc {
                    name: k.clone(),
                    ty,
                    description: s.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
                    default: self.defaults.get(k).cloned(),
                }
            })
            .collect()
    }

    /// Whether the template's schema declares parameter `name`.
    pub fn has_parameter(&self, name: &str) -> bool {
        self.template
            .pointer("/spec/crd/spec/validation/openAPIV3Schema/properties")
            .and_then(|p| p.get(name))
            .is_some()
    }
}

/// A named group of definitions assigned together.
#[derive(Debug, Clone, Serialize)]
pub struct Initiative {
    pub name: String,
    pub title: String,
    pub description: String,
    pub definitions: Vec<String>,
    /// Per-member parameters the initiative sets (over the definition defaults).
    pub parameters: serde_json::Map<String, Value>,
}

/// Definitions and initiatives, sorted by name.
#[derive(Debug, Clone)]
pub struct Library {
    definitions: Vec<Definition>,
    initiatives: Vec<Initiative>,
}

fn parse_yaml(text: &str, origin: &str) -> Result<Value, PolicyError> {
    match keelwatch_core::yaml::parse_document(text, 1) {
        Ok(Some(d)) => Ok(d.value),
        Ok(None) => Err(PolicyError::load(origin, "empty document")),
        Err(e) => Err(PolicyError::load(origin, e.to_string())),
    }
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string()
}

/// (rego, libs, rego v1?) of every embedded built-in template, for recognising them when
/// they are loaded from files (see [`crate::compiled`]). Templates that do not parse are
/// skipped here; [`Library::builtin`] reports them.
pub(crate) fn builtin_template_sources() -> Vec<(String, Vec<String>, bool)> {
    embedded::DEFINITIONS
        .iter()
        .filter_map(|(_, _, tpl_text)| {
            let template = parse_yaml(tpl_text, "builtin").ok()?;
            let target = template
                .pointer("/spec/targets")?
                .as_array()?
                .iter()
                .find(|t| t.get("target").and_then(Value::as_str) == Some(crate::template::TARGET))?;
            crate::template::extract_rego(target).ok()
        })
        .collect()
}

impl Library {
    /// The embedded library.
    pub fn builtin() -> Result<Library, PolicyError> {
        let mut definitions = Vec::new();
        for (dir, def_text, tpl_text) in embedded::DEFINITIONS {
            let origin = format!("policies/{dir}/definition.yaml");
            let def = parse_yaml(def_text, &origin)?;
            let template = parse_yaml(tpl_text, &format!("policies/{dir}/template.yaml"))?;
            let template_kind =
                template.pointer("/spec/crd/spec/names/kind").and_then(Value::as_str).unwrap_or("").to_string();
            let kinds = match def.get("kinds") {
                Some(Value::String(s)) if s == "workloads" => workload_kinds(),
                Some(k @ Value::Array(_)) => k.clone(),
                _ => return Err(PolicyError::load(origin, "`kinds` must be `workloads` or a match.kinds list")),
            };
            definitions.push(Definition {
                name: dir.to_string(),
                title: str_field(&def, "title"),
                description: str_field(&def, "description"),
                kinds,
                defaults: def.get("defaults").cloned().filter(Value::is_object).unwrap_or_else(|| json!({})),
                template,
                template_kind,
            });
        }
        let ini = parse_yaml(embedded::INITIATIVES, "policies/initiatives.yaml")?;
        let mut initiatives = Vec::new();
        for i in ini.get("initiatives").and_then(Value::as_array).into_iter().flatten() {
            initiatives.push(Initiative {
                name: str_field(i, "name"),
                title: str_field(i, "title"),
                description: str_field(i, "description"),
                definitions: i
                    .get("definitions")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
                parameters: i.get("parameters").and_then(Value::as_object).cloned().unwrap_or_default(),
            });
        }
        definitions.sort_by(|a, b| a.name.cmp(&b.name));
        initiatives.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Library { definitions, initiatives })
    }

    pub fn definitions(&self) -> &[Definition] {
        &self.definitions
    }

    pub fn initiatives(&self) -> &[Initiative] {
        &self.initiatives
    }

    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.name == name)
    }

    pub fn initiative(&self, name: &str) -> Option<&Initiative> {
        self.initiatives.iter().find(|i| i.name == name)
    }
}
