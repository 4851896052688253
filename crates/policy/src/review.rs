//! What Rego sees: `input.review` (an AdmissionRequest, for admission and audit alike) and
//! `data.inventory` (the objects known to the run, in Gatekeeper's layout).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use crate::error::PolicyError;

static NEXT_INVENTORY: AtomicU64 = AtomicU64::new(1);

/// Objects known to a run, exposed to Rego as `data.inventory`:
/// `cluster[<groupVersion>][<Kind>][<name>]` for cluster-scoped objects and
/// `namespace[<ns>][<groupVersion>][<Kind>][<name>]` for namespaced ones. Namespace objects
/// also feed `namespaceSelector` matching.
#[derive(Debug)]
pub struct Inventory {
    pub(crate) uid: u64,
    tree: Value,
    namespaces: HashMap<String, Value>,
    /// The tree converted for regorus, built on first use (only referential templates need it).
    data: OnceLock<regorus::Value>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::from_objects(std::iter::empty())
    }
}

impl Inventory {
    /// An empty inventory.
    pub fn empty() -> Inventory {
        Inventory::default()
    }

    /// Builds the inventory from objects (later objects with the same identity win).
    pub fn from_objects(objs: impl IntoIterator<Item = Value>) -> Inventory {
        let mut cluster: Map<String, Value> = Map::new();
        let mut namespaced: Map<String, Value> = Map::new();
        let mut namespaces = HashMap::new();
        for obj in objs {
            let gv = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            if kind.is_empty() || name.is_empty() {
                continue;
            }
            let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
            if kind == "Namespace" && !gv.contains('/') {
                namespaces.insert(name.clone(), obj.clone());
            }
            let root = if ns.is_empty() {
                &mut cluster
            } else {
                namespaced.entry(ns).or_insert_with(|| Value::Object(Map::new())).as_object_mut().expect("object")
            };
            let by_gv = root.entry(gv).or_insert_with(|| Value::Object(Map::new()));
            let by_kind =
                by_gv.as_object_mut().expect("object").entry(kind).or_insert_with(|| Value::Object(Map::new()));
            by_kind.as_object_mut().expect("object").insert(name, obj);
        }
        Inventory {
            uid: NEXT_INVENTORY.fetch_add(1, Ordering::Relaxed),
            tree: json!({"cluster": cluster, "namespace": namespaced}),
            namespaces,
            data: OnceLock::new(),
        }
    }

    /// The Namespace object called `name`, if known.
    pub fn namespace(&self, name: &str) -> Option<&Value> {
        self.namespaces.get(name)
    }

    /// `{"inventory": …}` as regorus data.
    pub(crate) fn data(&self) -> &regorus::Value {
        self.data.get_or_init(|| regorus::Value::from(json!({"inventory": self.tree.clone()})))
    }

    /// The inventory tree (what `data.inventory` holds), as JSON.
    pub fn tree(&self) -> &Value {
        &self.tree
    }
}

/// An AdmissionRequest prepared for evaluation.
#[derive(Debug, Clone)]
pub struct PreparedReview {
    /// The request as Rego sees it (`input.review`), JSON.
    pub request: Value,
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) labels: Option<Map<String, Value>>,
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Builds the AdmissionRequest Gatekeeper's audit (and gator) hands to Rego for a stored
/// object: `uid`, `operation` empty, `userInfo` empty, `object` the object itself.
pub fn request_for_object(obj: &Value) -> Value {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = split_api_version(api_version);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut req = json!({
        "uid": "",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": "", "version": "", "resource": ""},
        "operation": "",
        "userInfo": {},
        "object": obj,
    });
    let m = req.as_object_mut().expect("object");
    if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
        m.insert("name".into(), Value::from(name));
    }
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        m.insert("namespace".into(), Value::from(ns));
    }
    req
}

/// Prepares an AdmissionRequest (the `request` of an AdmissionReview) for evaluation. For
/// DELETE without `object`, `object` is set to `oldObject` (as Gatekeeper does), so templates
/// and matching see the deleted object.
pub fn prepare(request: &Value, inventory: &Inventory) -> Result<PreparedReview, PolicyError> {
    let Some(m) = request.as_object() else {
        return Err(PolicyError::Request("the request must be a JSON object (AdmissionRequest)".into()));
    };
    let mut req = m.clone();
    let has_object = req.get("object").is_some_and(|o| !o.is_null());
    let has_old = req.get("oldObject").is_some_and(|o| !o.is_null());
    if !has_object && !has_old {
        return Err(PolicyError::Request("the AdmissionRequest has neither `object` nor `oldObject` to review".into()));
    }
    if !has_object {
        let op = req.get("operation").and_then(Value::as_str).unwrap_or("");
        if op == "DELETE" || op.is_empty() {
            let old = req.get("oldObject").cloned().unwrap_or(Value::Null);
            req.insert("object".into(), old);
        }
    }
    let obj =
        req.get("object").filter(|o| !o.is_null()).or_else(|| req.get("oldObject")).cloned().unwrap_or(Value::Null);
    let (obj_group, _) = split_api_version(obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
    let group = match req.get("kind").and_then(|k| k.get("group")).and_then(Value::as_str) {
        Some(g) if obj.get("apiVersion").is_none() => g.to_string(),
        _ => obj_group.to_string(),
    };
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .or_else(|| req.get("kind").and_then(|k| k.get("kind")).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| req.get("name").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .or_else(|| req.get("namespace").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    if !namespace.is_empty()
        && !req.contains_key("namespaceObject")
        && let Some(ns) = inventory.namespace(&namespace)
    {
        req.insert("namespaceObject".into(), ns.clone());
    }
    let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).cloned();
    Ok(PreparedReview { request: Value::Object(req), group, kind, name, namespace, labels })
}

/// Splits an AdmissionReview into its request, checking apiVersion (`admission.k8s.io/v1` or
/// `v1beta1`).
pub fn request_of_review(review: &Value) -> Result<&Value, PolicyError> {
    let api = review.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !matches!(api, "admission.k8s.io/v1" | "admission.k8s.io/v1beta1") {
        return Err(PolicyError::Request(format!(
            "apiVersion `{api}` is not admission.k8s.io/v1 or admission.k8s.io/v1beta1"
        )));
    }
    review
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| PolicyError::Request("the AdmissionReview has no `request`".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_layout_matches_gatekeeper() {
        let inv = Inventory::from_objects(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "prod"}}),
        ]);
        assert!(inv.tree().pointer("/cluster/v1/Namespace/prod").is_some());
        assert!(inv.tree().pointer("/namespace/prod/networking.k8s.io~1v1/Ingress/i").is_some());
        assert!(inv.namespace("prod").is_some());
    }

    #[test]
    fn delete_reviews_the_old_object() {
        let req = json!({"operation": "DELETE", "oldObject": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"}}});
        let p = prepare(&req, &Inventory::empty()).unwrap();
        assert_eq!(p.request.pointer("/object/metadata/name"), Some(&json!("p")));
        assert_eq!((p.kind.as_str(), p.namespace.as_str()), ("Pod", "x"));
        assert!(prepare(&json!({"operation": "CREATE"}), &Inventory::empty()).is_err());
    }
}
