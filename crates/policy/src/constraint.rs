//! Constraints (`constraints.gatekeeper.sh/v1beta1`, any kind a loaded template defines):
//! parameters, `spec.match` and `spec.enforcementAction` (including `scoped`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::PolicyError;

/// What a violation does at its enforcement point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject the request (admission) / count as a failure (audit).
    Deny,
    /// Admit with a warning.
    Warn,
    /// Record only.
    Dryrun,
}

impl Action {
    /// Gatekeeper's spelling: `deny`, `warn`, `dryrun`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Dryrun => "dryrun",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        match s.to_ascii_lowercase().as_str() {
            "deny" => Some(Action::Deny),
            "warn" => Some(Action::Warn),
            "dryrun" => Some(Action::Dryrun),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a review happens; `scoped` enforcement actions select by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnforcementPoint {
    /// The admission webhook (`validation.gatekeeper.sh`).
    Validation,
    /// Audit of existing objects or manifests (`audit.gatekeeper.sh`).
    Audit,
    /// gator / `policy verify` (`gator.gatekeeper.sh`).
    Gator,
}

impl EnforcementPoint {
    /// Gatekeeper's name of the point.
    pub fn name(self) -> &'static str {
        match self {
            EnforcementPoint::Validation => "validation.gatekeeper.sh",
            EnforcementPoint::Audit => "audit.gatekeeper.sh",
            EnforcementPoint::Gator => "gator.gatekeeper.sh",
        }
    }
}

/// `spec.enforcementAction` of a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// `deny`, `warn` or `dryrun` at every point.
    All(Action),
    /// `scoped`: actions per enforcement point name (`*` = all points).
    Scoped(Vec<(Action, Vec<String>)>),
}

impl Enforcement {
    /// The action at `point`, or `None` when the constraint does not apply there. With several
    /// scoped actions for one point the strongest wins (deny > warn > dryrun).
    pub fn action_at(&self, point: EnforcementPoint) -> Option<Action> {
        match self {
            Enforcement::All(a) => Some(*a),
            Enforcement::Scoped(list) => list
                .iter()
                .filter(|(_, points)| points.iter().any(|p| p == "*" || p == point.name()))
                .map(|(a, _)| *a)
                .min(),
        }
    }
}

/// Where a constraint came from when an Assignment generated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentRef {
    /// Assignment `metadata.name`.
    pub assignment: String,
    /// Built-in definition name (e.g. `no-privileged-containers`).
    pub definition: String,
}

/// A label selector (`matchLabels` + `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// Label selector operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    fn parse(v: &Value, field: &str) -> Result<LabelSelector, String> {
        let mut sel = LabelSelector::default();
        if let Some(ml) = v.get("matchLabels") {
            let obj = ml.as_object().ok_or(format!("{field}.matchLabels must be a map of strings"))?;
            for (k, x) in obj {
                let s = x.as_str().ok_or(format!("{field}.matchLabels.{k} must be a string"))?;
                sel.match_labels.insert(k.clone(), s.to_string());
            }
        }
        if let Some(me) = v.get("matchExpressions") {
            let arr = me.as_array().ok_or(format!("{field}.matchExpressions must be a list"))?;
            for (i, e) in arr.iter().enumerate() {
                let at = format!("{field}.matchExpressions[{i}]");
                let key = e.get("key").and_then(Value::as_str).ok_or(format!("{at}.key is missing"))?;
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Operator::In,
                    Some("NotIn") => Operator::NotIn,
                    Some("Exists") => Operator::Exists,
                    Some("DoesNotExist") => Operator::DoesNotExist,
                    other => {
                        return Err(format!("{at}.operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"));
                    }
                };
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default();
                if matches!(op, Operator::In | Operator::NotIn) && values.is_empty() {
                    return Err(format!("{at}.values must be non-empty for operator In/NotIn"));
                }
                if matches!(op, Operator::Exists | Operator::DoesNotExist) && !values.is_empty() {
                    return Err(format!("{at}.values must be empty for operator Exists/DoesNotExist"));
                }
                sel.match_expressions.push(Requirement { key: key.to_string(), operator: op, values });
            }
        }
        Ok(sel)
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| match r.operator {
                Operator::In => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                Operator::NotIn => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
                Operator::Exists => get(&r.key).is_some(),
                Operator::DoesNotExist => get(&r.key).is_none(),
            })
    }
}

/// `spec.match` of a constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// (apiGroups, kinds) pairs; empty = all.
    pub kinds: Vec<(Vec<String>, Vec<String>)>,
    /// `*` (or empty), `Cluster` or `Namespaced`.
    pub scope: String,
    pub namespaces: Vec<String>,
    pub excluded_namespaces: Vec<String>,
    pub label_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    /// Name glob; empty = any.
    pub name: String,
}

/// What matching looks at for one reviewed object.
#[derive(Debug, Clone, Copy)]
pub struct MatchTarget<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    /// The object's namespace (or the request's); "" for cluster-scoped objects.
    pub namespace: &'a str,
    pub labels: Option<&'a serde_json::Map<String, Value>>,
    /// Labels of the object's Namespace when it is known.
    pub namespace_labels: Option<Option<&'a serde_json::Map<String, Value>>>,
}

/// Gatekeeper's wildcard: `prefix*`, `*suffix`, or an exact name.
pub fn wildcard_matches(pattern: &str, s: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return s.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return s.ends_with(suffix);
    }
    pattern == s
}

impl Match {
    fn parse(v: Option<&Value>) -> Result<Match, String> {
        let mut m = Match::default();
        let Some(v) = v else { return Ok(m) };
        if v.is_null() {
            return Ok(m);
        }
        let strs = |x: Option<&Value>, field: &str| -> Result<Vec<String>, String> {
            match x {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|s| s.as_str().map(str::to_string).ok_or(format!("spec.match.{field} must list strings")))
                    .collect(),
                Some(_) => Err(format!("spec.match.{field} must be a list")),
            }
        };
        if let Some(kinds) = v.get("kinds") {
            let arr = kinds.as_array().ok_or("spec.match.kinds must be a list")?;
            for (i, k) in arr.iter().enumerate() {
                m.kinds.push((
                    strs(k.get("apiGroups"), &format!("kinds[{i}].apiGroups"))?,
                    strs(k.get("kinds"), &format!("kinds[{i}].kinds"))?,
                ));
            }
        }
        m.scope = v.get("scope").and_then(Value::as_str).unwrap_or("*").to_string();
        m.namespaces = strs(v.get("namespaces"), "namespaces")?;
        m.excluded_namespaces = strs(v.get("excludedNamespaces"), "excludedNamespaces")?;
        if let Some(ls) = v.get("labelSelector").filter(|x| !x.is_null()) {
            m.label_selector = Some(LabelSelector::parse(ls, "spec.match.labelSelector")?);
        }
        if let Some(ns) = v.get("namespaceSelector").filter(|x| !x.is_null()) {
            m.namespace_selector = Some(LabelSelector::parse(ns, "spec.match.namespaceSelector")?);
        }
        m.name = v.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        Ok(m)
    }

    /// Gatekeeper's match semantics (kinds, scope, namespaces, excludedNamespaces,
    /// labelSelector, namespaceSelector, name). A namespaced object whose Namespace is unknown
    /// does not match a constraint with a namespaceSelector.
    pub fn matches(&self, t: &MatchTarget<'_>) -> bool {
        let is_namespace = t.kind == "Namespace" && t.group.is_empty();
        // kinds
        if !self.kinds.is_empty()
            && !self.kinds.iter().any(|(groups, kinds)| {
                (kinds.is_empty() || kinds.iter().any(|k| k == "*" || k == t.kind))
                    && (groups.is_empty() || groups.iter().any(|g| g == "*" || g == t.group))
            })
        {
            return false;
        }
        // scope
        let has_namespace = !t.namespace.is_empty();
        match self.scope.as_str() {
            "Cluster" if !is_namespace && has_namespace => return false,
            "Namespaced" if is_namespace || !has_namespace => return false,
            _ => {}
        }
        let ns_for_match = if is_namespace { t.name } else { t.namespace };
        if !self.namespaces.is_empty()
            && !ns_for_match.is_empty()
            && !self.namespaces.iter().any(|p| wildcard_matches(p, ns_for_match))
        {
            return false;
        }
        if !ns_for_match.is_empty() && self.excluded_namespaces.iter().any(|p| wildcard_matches(p, ns_for_match)) {
            return false;
        }
        if let Some(sel) = &self.label_selector
            && !sel.matches(t.labels)
        {
            return false;
        }
        if let Some(sel) = &self.namespace_selector {
            if is_namespace {
                if !sel.matches(t.labels) {
                    return false;
                }
            } else if has_namespace {
                match t.namespace_labels {
                    Some(labels) => {
                        if !sel.matches(labels) {
                            return false;
                        }
                    }
                    None => return false,
                }
            }
        }
        if !self.name.is_empty() && !wildcard_matches(&self.name, t.name) {
            return false;
        }
        true
    }
}

/// A loaded constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The kind (a template's constraint kind).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// Where it was read (file:line, or `assignment:<name>`).
    pub origin: String,
    /// `spec.parameters` (an empty object when absent).
    pub parameters: Value,
    pub enforcement: Enforcement,
    pub matcher: Match,
    /// Set when an Assignment generated this constraint.
    pub assignment: Option<AssignmentRef>,
    /// The constraint object as loaded (rendered back by `policy render`).
    pub raw: Value,
    pub(crate) template_index: usize,
    pub(crate) parameters_rego: regorus::Value,
}

impl Constraint {
    /// Parses a constraint object. `template_index` and schema validation are the caller's.
    pub(crate) fn from_value(raw: Value, origin: &str) -> Result<Constraint, PolicyError> {
        let kind = raw.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let err = |message: String| PolicyError::Constraint {
            kind: kind.clone(),
            name: name.clone(),
            origin: origin.to_string(),
            message,
        };
        if name.is_empty() {
            return Err(err("metadata.name is missing".into()));
        }
        let spec = raw.get("spec").cloned().unwrap_or(Value::Null);
        let parameters = match spec.get("parameters") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(p) => p.clone(),
        };
        let enforcement = match spec.get("enforcementAction").and_then(Value::as_str).unwrap_or("deny") {
            "scoped" | "Scoped" => {
                let list = spec
                    .get("scopedEnforcementActions")
                    .and_then(Value::as_array)
                    .ok_or_else(|| err("enforcementAction `scoped` needs spec.scopedEnforcementActions".into()))?;
                let mut out = Vec::new();
                for (i, e) in list.iter().enumerate() {
                    let a = e.get("action").and_then(Value::as_str).unwrap_or("");
                    let action = Action::parse(a).ok_or_else(|| {
                        err(format!("spec.scopedEnforcementActions[{i}].action `{a}` is not deny, warn or dryrun"))
                    })?;
                    let points: Vec<String> = e
                        .get("enforcementPoints")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter().filter_map(|p| p.get("name").and_then(Value::as_str)).map(str::to_string).collect()
                        })
                        .unwrap_or_default();
                    out.push((action, points));
                }
                Enforcement::Scoped(out)
            }
            other => {
                Enforcement::All(Action::parse(other).ok_or_else(|| {
                    err(format!("spec.enforcementAction `{other}` is not deny, warn, dryrun or scoped"))
                })?)
            }
        };
        let matcher = Match::parse(spec.get("match")).map_err(err)?;
        let parameters_rego = regorus::Value::from(parameters.clone());
        Ok(Constraint {
            kind,
            name,
            origin: origin.to_string(),
            parameters,
            enforcement,
            matcher,
            assignment: None,
            raw,
            template_index: usize::MAX,
            parameters_rego,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target<'a>(kind: &'a str, ns: &'a str, labels: Option<&'a serde_json::Map<String, Value>>) -> MatchTarget<'a> {
        MatchTarget { group: "", kind, name: "p1", namespace: ns, labels, namespace_labels: None }
    }

    #[test]
    fn match_rules_follow_gatekeeper() {
        let m = Match::parse(Some(&json!({
            "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
            "excludedNamespaces": ["kube-*"],
            "labelSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
        })))
        .unwrap();
        let labels = json!({"team": "a"});
        let l = labels.as_object();
        assert!(m.matches(&target("Pod", "default", l)));
        assert!(!m.matches(&target("Pod", "kube-system", l)));
        assert!(!m.matches(&target("Service", "default", l)));
        assert!(!m.matches(&target("Pod", "default", None)));
        // Namespaces match by their own name.
        let m2 = Match::parse(Some(&json!({"namespaces": ["prod-*"]}))).unwrap();
        let mut t = target("Namespace", "", None);
        t.name = "prod-1";
        assert!(m2.matches(&t));
        t.name = "dev";
        assert!(!m2.matches(&t));
        // Cluster-scoped objects are not disqualified by namespaces.
        assert!(m2.matches(&target("ClusterRole", "", None)));
        // Scope.
        let m3 = Match::parse(Some(&json!({"scope": "Cluster"}))).unwrap();
        assert!(!m3.matches(&target("Pod", "default", None)));
        assert!(m3.matches(&target("ClusterRole", "", None)));
    }

    #[test]
    fn scoped_enforcement_selects_by_point() {
        let c = Constraint::from_value(
            json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"enforcementAction": "scoped",
                "scopedEnforcementActions": [{"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
                                             {"action": "deny", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]}]}}),
            "x",
        )
        .unwrap();
        assert_eq!(c.enforcement.action_at(EnforcementPoint::Validation), Some(Action::Warn));
        assert_eq!(c.enforcement.action_at(EnforcementPoint::Audit), Some(Action::Deny));
        assert_eq!(c.enforcement.action_at(EnforcementPoint::Gator), None);
        let bad = Constraint::from_value(
            json!({"kind": "K", "metadata": {"name": "n"}, "spec": {"enforcementAction": "block"}}),
            "f:3",
        );
        assert!(bad.unwrap_err().to_string().contains("`block`"));
    }
}
