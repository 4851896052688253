//! What Rego sees: `input.review` (an AdmissionRequest, for admission and audit alike) and
//! `data.inventory` (the objects known to the run, in Gatekeeper's layout).

use std::collections::{BTreeMap, HashMap};
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
            if is_core_namespace(&obj) {
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

    /// Only what `namespaceSelector` matching needs: the Namespace objects among `objs`, with
    /// an empty `data.inventory`. For runs whose templates never read `data.inventory`
    /// ([`crate::PolicySet::uses_inventory`]): a 100,000-object audit then does not hold
    /// every object twice.
    pub fn namespaces_only<'a>(objs: impl IntoIterator<Item = &'a Value>) -> Inventory {
        let mut inv = Inventory::empty();
        for obj in objs {
            if let (true, Some(name)) = (is_core_namespace(obj), obj.pointer("/metadata/name").and_then(Value::as_str))
                && !name.is_empty()
            {
                inv.namespaces.insert(name.to_string(), obj.clone());
            }
        }
        inv
    }

    /// The Namespace object called `name`, if known.
    pub fn namespace(&self, name: &str) -> Option<&Value> {
        self.namespaces.get(name)
    }

    /// `{"inventory": …}` as regorus data.
    pub(crate) fn data(&self) -> &regorus::Value {
        self.data.get_or_init(|| {
            let mut root = BTreeMap::new();
            root.insert(regorus::Value::from("inventory"), to_rego(&self.tree));
            regorus::Value::from(root)
        })
    }

    /// The inventory tree (what `data.inventory` holds), as JSON.
    pub fn tree(&self) -> &Value {
        &self.tree
    }
}

/// Whether `obj` is a core (`v1`) Namespace, the kind `namespaceSelector` reads labels from.
fn is_core_namespace(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && !obj.get("apiVersion").and_then(Value::as_str).unwrap_or("").contains('/')
}

/// Converts JSON to a regorus value directly, without cloning the JSON first (what
/// `regorus::Value::from(serde_json::Value)` needs). Same result as that conversion: integers
/// that fit `u64`/`i64` stay integers, other numbers become floats, objects become objects
/// with string keys.
pub fn to_rego(v: &Value) -> regorus::Value {
    match v {
        Value::Null => regorus::Value::Null,
        Value::Bool(b) => regorus::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                regorus::Value::from(u)
            } else if let Some(i) = n.as_i64() {
                regorus::Value::from(i)
            } else {
                // serde_json numbers are finite (no NaN/inf in JSON).
                regorus::Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => regorus::Value::from(s.as_str()),
        Value::Array(a) => regorus::Value::from(a.iter().map(to_rego).collect::<Vec<_>>()),
        Value::Object(m) => regorus::Value::from(
            m.iter().map(|(k, v)| (regorus::Value::from(k.as_str()), to_rego(v))).collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// An AdmissionRequest prepared for evaluation: `input.review` already converted for regorus
/// (once per request, shared by every constraint) and the fields matching needs.
#[derive(Debug, Clone)]
pub struct PreparedReview<'a> {
    /// The request as Rego sees it (`input.review`).
    pub(crate) review: regorus::Value,
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) labels: Option<&'a Map<String, Value>>,
    /// Labels of the object's namespace for `namespaceSelector`: `None` for cluster-scoped
    /// objects and unknown namespaces, `Some(None)` for a known namespace without labels.
    pub(crate) namespace_labels: Option<Option<&'a Map<String, Value>>>,
}

impl PreparedReview<'_> {
    /// `input.review`, converted for regorus.
    pub fn review(&self) -> &regorus::Value {
        &self.review
    }
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

/// The labels of the namespace `namespace` for matching: the inventory's Namespace object
/// wins over the request's `namespaceObject`.
fn namespace_labels<'a>(
    namespace: &str,
    inventory: &'a Inventory,
    namespace_object: Option<&'a Value>,
) -> Option<Option<&'a Map<String, Value>>> {
    if namespace.is_empty() {
        return None;
    }
    inventory
        .namespace(namespace)
        .or(namespace_object)
        .map(|ns| ns.pointer("/metadata/labels").and_then(Value::as_object))
}

/// Prepares an AdmissionRequest (the `request` of an AdmissionReview) for evaluation. For
/// DELETE without `object`, `object` is set to `oldObject` (as Gatekeeper does), so templates
/// and matching see the deleted object. When the inventory knows the object's namespace and
/// the request has no `namespaceObject`, the inventory's Namespace is added as
/// `namespaceObject`.
pub fn prepare<'a>(request: &'a Value, inventory: &'a Inventory) -> Result<PreparedReview<'a>, PolicyError> {
    let Some(m) = request.as_object() else {
        return Err(PolicyError::Request("the request must be a JSON object (AdmissionRequest)".into()));
    };
    let object = m.get("object").filter(|o| !o.is_null());
    let old = m.get("oldObject").filter(|o| !o.is_null());
    if object.is_none() && old.is_none() {
        return Err(PolicyError::Request("the AdmissionRequest has neither `object` nor `oldObject` to review".into()));
    }
    let op = m.get("operation").and_then(Value::as_str).unwrap_or("");
    // DELETE (or an audit-style request without operation) reviews the old object.
    let substitute_object = object.is_none() && (op == "DELETE" || op.is_empty());
    let obj: &Value = object.or(old).unwrap_or(&Value::Null);
    let (obj_group, _) = split_api_version(obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""));
    let group = match m.get("kind").and_then(|k| k.get("group")).and_then(Value::as_str) {
        Some(g) if obj.get("apiVersion").is_none() => g.to_string(),
        _ => obj_group.to_string(),
    };
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .or_else(|| m.get("kind").and_then(|k| k.get("kind")).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or_else(|| m.get("name").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .or_else(|| m.get("namespace").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let added_namespace = if !namespace.is_empty() && !m.contains_key("namespaceObject") {
        inventory.namespace(&namespace)
    } else {
        None
    };

    let mut review = BTreeMap::new();
    let mut old_rego = None;
    for (k, v) in m {
        let value = to_rego(v);
        if k == "oldObject" {
            old_rego = Some(value.clone());
        }
        review.insert(regorus::Value::from(k.as_str()), value);
    }
    if substitute_object {
        let old_value = old_rego.unwrap_or_else(|| to_rego(obj));
        review.insert(regorus::Value::from("object"), old_value);
    }
    if let Some(ns) = added_namespace {
        review.insert(regorus::Value::from("namespaceObject"), to_rego(ns));
    }
    let namespace_labels = namespace_labels(&namespace, inventory, m.get("namespaceObject"));
    let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
    Ok(PreparedReview { review: regorus::Value::from(review), group, kind, name, namespace, labels, namespace_labels })
}

/// Prepares a stored object for evaluation: the same as
/// `prepare(&request_for_object(obj), inventory)`, without copying the object.
pub fn prepare_object<'a>(obj: &'a Value, inventory: &'a Inventory) -> Result<PreparedReview<'a>, PolicyError> {
    if obj.is_null() {
        return Err(PolicyError::Request("the AdmissionRequest has neither `object` nor `oldObject` to review".into()));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = split_api_version(api_version);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = obj.pointer("/metadata/name").and_then(Value::as_str);
    let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let s = |x: &str| regorus::Value::from(x);
    let object = |pairs: &[(&str, &str)]| {
        regorus::Value::from(pairs.iter().map(|(k, v)| (s(k), s(v))).collect::<BTreeMap<_, _>>())
    };
    let mut review = BTreeMap::new();
    review.insert(s("uid"), s(""));
    review.insert(s("kind"), object(&[("group", group), ("version", version), ("kind", kind)]));
    review.insert(s("resource"), object(&[("group", ""), ("version", ""), ("resource", "")]));
    review.insert(s("operation"), s(""));
    review.insert(s("userInfo"), regorus::Value::new_object());
    review.insert(s("object"), to_rego(obj));
    if let Some(name) = name {
        review.insert(s("name"), s(name));
    }
    if let Some(ns) = namespace {
        review.insert(s("namespace"), s(ns));
    }
    let namespace = namespace.unwrap_or("").to_string();
    if let Some(ns) = inventory.namespace(&namespace).filter(|_| !namespace.is_empty()) {
        review.insert(s("namespaceObject"), to_rego(ns));
    }
    let namespace_labels = namespace_labels(&namespace, inventory, None);
    Ok(PreparedReview {
        review: regorus::Value::from(review),
        group: group.to_string(),
        kind: kind.to_string(),
        name: name.unwrap_or("").to_string(),
        namespace,
        labels: obj.pointer("/metadata/labels").and_then(Value::as_object),
        namespace_labels,
    })
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
    fn namespaces_only_keeps_what_selectors_need() {
        let objs = [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}),
            json!({"apiVersion": "example.com/v1", "kind": "Namespace", "metadata": {"name": "not-core"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"}}),
        ];
        let inv = Inventory::namespaces_only(objs.iter());
        assert_eq!(inv.namespace("prod").unwrap()["metadata"]["labels"]["env"], "prod");
        assert!(inv.namespace("not-core").is_none());
        assert_eq!(inv.tree(), &json!({"cluster": {}, "namespace": {}}));
    }

    #[test]
    fn delete_reviews_the_old_object() {
        let req = json!({"operation": "DELETE", "oldObject": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"}}});
        let inv = Inventory::empty();
        let p = prepare(&req, &inv).unwrap();
        assert_eq!(p.review()["object"]["metadata"]["name"], regorus::Value::from("p"));
        assert_eq!((p.kind.as_str(), p.namespace.as_str()), ("Pod", "x"));
        assert!(prepare(&json!({"operation": "CREATE"}), &inv).is_err());
    }

    #[test]
    fn direct_conversion_equals_regorus_conversion() {
        let v = json!({"a": [1, -2, 2.5, 18446744073709551615u64, -9223372036854775808i64, 1e300],
            "b": {"c": null, "d": true, "e": "x"}, "": [], "f": {}});
        assert_eq!(to_rego(&v), regorus::Value::from(v.clone()));
    }

    #[test]
    fn prepared_object_equals_prepared_audit_request() {
        let inv = Inventory::from_objects(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}),
        ]);
        for obj in [
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop", "labels": {"x": "y"}}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
            json!({"kind": "Thing"}),
        ] {
            let request = request_for_object(&obj);
            let a = prepare(&request, &inv).unwrap();
            let b = prepare_object(&obj, &inv).unwrap();
            assert_eq!(a.review, b.review, "{obj}");
            assert_eq!((&a.group, &a.kind, &a.name, &a.namespace), (&b.group, &b.kind, &b.name, &b.namespace));
            assert_eq!((a.labels, a.namespace_labels), (b.labels, b.namespace_labels));
        }
        // The inventory's Namespace is handed to Rego as namespaceObject.
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}});
        let p = prepare_object(&pod, &inv).unwrap();
        assert_eq!(p.review()["namespaceObject"]["metadata"]["labels"]["team"], regorus::Value::from("a"));
        assert!(p.namespace_labels.flatten().is_some_and(|l| l.contains_key("team")));
        assert!(prepare_object(&Value::Null, &inv).is_err());
    }
}
