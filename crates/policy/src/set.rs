//! [`PolicySet`]: compiled templates plus the constraints that use them, and evaluation of
//! AdmissionRequests against them.
//!
//! Evaluation model: each template is parsed once into a prototype engine. Every thread keeps
//! its own clones in a small cache keyed by (template, inventory) — regorus engines are
//! mutable during evaluation, so threads never share one — and reuses them for every review.
//! Constraints are kept sorted by (kind, name) and violations come out in that order (and in
//! Rego's set order within a constraint), so results are deterministic.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use regorus::Engine;
use serde::Serialize;
use serde_json::Value;

use crate::constraint::{Action, AssignmentRef, Constraint, EnforcementPoint, MatchTarget};
use crate::error::PolicyError;
use crate::review::{self, Inventory, PreparedReview};
use crate::schema;
use crate::template::Template;

/// One violation of one constraint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub constraint_kind: String,
    pub constraint_name: String,
    /// The action at the enforcement point of the review.
    pub action: Action,
    /// The `msg` of the Rego result.
    pub msg: String,
    /// The `details` of the Rego result (`null` when absent).
    pub details: Value,
}

/// Compiled templates and constraints. `Send + Sync`: share it in an `Arc` and review from
/// many threads at once.
#[derive(Debug)]
pub struct PolicySet {
    templates: Vec<Arc<Template>>,
    constraints: Vec<Constraint>,
    /// Whether built-in templates run on the compiled fast path (default true).
    compiled: bool,
}

impl Default for PolicySet {
    fn default() -> PolicySet {
        PolicySet { templates: Vec::new(), constraints: Vec::new(), compiled: true }
    }
}

thread_local! {
    /// Per-thread engines: (template uid, inventory uid or 0) → engine ready to evaluate.
    static ENGINES: RefCell<HashMap<(u64, u64), Engine>> = RefCell::new(HashMap::new());
    /// Per-thread RVMs of compiled templates, keyed like `ENGINES`.
    static VMS: RefCell<HashMap<(u64, u64), regorus::rvm::vm::RegoVM>> = RefCell::new(HashMap::new());
}

/// Bound on cached engines (and VMs) per thread (old entries are dropped wholesale beyond it).
const ENGINE_CACHE_LIMIT: usize = 512;

/// Evaluates one template's `violation` rule with `input`: on the compiled fast path when the
/// template has one (and `compiled` allows it), else — and whenever the VM fails — on this
/// thread's interpreter engine.
fn eval_template(
    t: &Template,
    inventory: &Inventory,
    input: regorus::Value,
    compiled: bool,
) -> Result<regorus::Value, String> {
    let inv_key = if t.uses_inventory { inventory.uid } else { 0 };
    if let (true, Some(program)) = (compiled, &t.compiled) {
        let fast = VMS.with(|cell| {
            let mut map = cell.borrow_mut();
            if map.len() >= ENGINE_CACHE_LIMIT && !map.contains_key(&(t.uid, inv_key)) {
                map.clear();
            }
            let vm = match map.entry((t.uid, inv_key)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let data = t.uses_inventory.then(|| inventory.data().clone());
                    v.insert(crate::compiled::new_vm(program, data).ok()?)
                }
            };
            crate::compiled::run(vm, input.clone())
        });
        if let Some(v) = fast {
            return Ok(v);
        }
    }
    ENGINES.with(|cell| {
        let mut map = cell.borrow_mut();
        if map.len() >= ENGINE_CACHE_LIMIT && !map.contains_key(&(t.uid, inv_key)) {
            map.clear();
        }
        let engine = match map.entry((t.uid, inv_key)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut e = t.engine();
                if t.uses_inventory {
                    e.add_data(inventory.data().clone()).map_err(|e| format!("adding inventory: {e}"))?;
                }
                v.insert(e)
            }
        };
        engine.set_input(input);
        engine.eval_rule(t.rule.clone()).map_err(|e| e.to_string())
    })
}

/// Outcome of evaluating one matched constraint.
pub(crate) struct ConstraintOutcome {
    pub index: usize,
    pub result: Result<Vec<Violation>, String>,
}

impl PolicySet {
    /// An empty set (no constraints: every review passes).
    pub fn new() -> PolicySet {
        PolicySet::default()
    }

    /// The built-in library of definitions and initiatives.
    pub fn builtin_library() -> Result<crate::library::Library, PolicyError> {
        crate::library::Library::builtin()
    }

    /// Loads ConstraintTemplates and Constraints from files/directories (`policy_paths`; other
    /// kinds found there are ignored, Assignments are honoured) and expands the Assignments in
    /// `assignment_paths` through the built-in library.
    pub fn load(policy_paths: &[PathBuf], assignment_paths: &[PathBuf]) -> Result<PolicySet, PolicyError> {
        let mut b = PolicySetBuilder::new();
        b.add_paths(policy_paths, false)?;
        b.add_paths(assignment_paths, true)?;
        b.build()
    }

    /// Every constraint, sorted by (kind, name).
    pub fn constraints(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints.iter()
    }

    /// Whether any template reads `data.inventory` (otherwise an [`Inventory`] needs only
    /// the Namespace objects, see [`Inventory::namespaces_only`]).
    pub fn uses_inventory(&self) -> bool {
        self.templates().any(|t| t.uses_inventory)
    }

    /// Every template, sorted by name.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.iter().map(|t| t.as_ref())
    }

    /// The template a constraint uses.
    pub fn template_of(&self, c: &Constraint) -> &Template {
        &self.templates[c.template_index]
    }

    /// Reviews an AdmissionRequest (the `request` of an AdmissionReview) at `point`. Returns
    /// every violation of every matching constraint whose action at `point` is defined. An
    /// error in one template's Rego fails the review (as Gatekeeper does).
    pub fn review(
        &self,
        request: &Value,
        inventory: &Inventory,
        point: EnforcementPoint,
    ) -> Result<Vec<Violation>, PolicyError> {
        let prepared = review::prepare(request, inventory)?;
        self.collect(&prepared, inventory, point)
    }

    /// Evaluates a prepared review; the first evaluation error fails it.
    fn collect(
        &self,
        prepared: &PreparedReview<'_>,
        inventory: &Inventory,
        point: EnforcementPoint,
    ) -> Result<Vec<Violation>, PolicyError> {
        let mut out = Vec::new();
        for o in self.evaluate(prepared, inventory, point) {
            match o.result {
                Ok(v) => out.extend(v),
                Err(message) => {
                    let c = &self.constraints[o.index];
                    return Err(PolicyError::Eval {
                        template: self.templates[c.template_index].name.clone(),
                        constraint: c.name.clone(),
                        message,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Reviews a stored object (audit / manifests): `input.review` is built as Gatekeeper's
    /// audit builds it (operation empty, `object` = the object).
    pub fn review_object(
        &self,
        object: &Value,
        inventory: &Inventory,
        point: EnforcementPoint,
    ) -> Result<Vec<Violation>, PolicyError> {
        let prepared = review::prepare_object(object, inventory)?;
        self.collect(&prepared, inventory, point)
    }

    /// Evaluates every constraint that matches, in constraint order.
    pub(crate) fn evaluate(
        &self,
        prepared: &PreparedReview<'_>,
        inventory: &Inventory,
        point: EnforcementPoint,
    ) -> Vec<ConstraintOutcome> {
        let target = MatchTarget {
            group: &prepared.group,
            kind: &prepared.kind,
            name: &prepared.name,
            namespace: &prepared.namespace,
            labels: prepared.labels,
            namespace_labels: prepared.namespace_labels,
        };
        let mut out = Vec::new();
        for (index, c) in self.constraints.iter().enumerate() {
            let Some(action) = c.enforcement.action_at(point) else { continue };
            if !c.matcher.matches(&target) {
                continue;
            }
            let mut input = BTreeMap::new();
            input.insert(regorus::Value::from("review"), prepared.review.clone());
            input.insert(regorus::Value::from("parameters"), c.parameters_rego.clone());
            let t = &self.templates[c.template_index];
            let result = eval_template(t, inventory, regorus::Value::from(input), self.compiled)
                .map(|set| to_violations(c, action, &set));
            out.push(ConstraintOutcome { index, result });
        }
        out
    }

    /// Turns the compiled fast path off (every template on the interpreter) or back on. The
    /// results are the same either way; this exists for differential tests and debugging.
    pub fn set_compiled(&mut self, on: bool) {
        self.compiled = on;
    }

    pub(crate) fn constraint(&self, index: usize) -> &Constraint {
        &self.constraints[index]
    }

    pub(crate) fn constraint_count(&self) -> usize {
        self.constraints.len()
    }
}

fn to_violations(c: &Constraint, action: Action, set: &regorus::Value) -> Vec<Violation> {
    let items: Vec<&regorus::Value> = match set {
        regorus::Value::Set(s) => s.iter().collect(),
        regorus::Value::Array(a) => a.iter().collect(),
        _ => vec![],
    };
    items
        .into_iter()
        .filter_map(|r| {
            let obj = r.as_object().ok()?;
            let msg = match obj.get(&regorus::Value::from("msg")) {
                Some(regorus::Value::String(s)) => s.to_string(),
                Some(other) => crate::regorus_compat::rego_text(other),
                None => return None,
            };
            let details = obj
                .get(&regorus::Value::from("details"))
                .and_then(|d| serde_json::to_value(d).ok())
                .unwrap_or(Value::Null);
            Some(Violation { constraint_kind: c.kind.clone(), constraint_name: c.name.clone(), action, msg, details })
        })
        .collect()
}

/// Assembles a [`PolicySet`] from objects: templates first, then constraints (validated
/// against their template's schema), then Assignments expanded via the built-in library.
#[derive(Default)]
pub struct PolicySetBuilder {
    templates: Vec<Template>,
    constraints: Vec<(Value, String, Option<AssignmentRef>)>,
    assignments: Vec<(Value, String)>,
}

impl PolicySetBuilder {
    pub fn new() -> PolicySetBuilder {
        PolicySetBuilder::default()
    }

    /// Loads every object below `paths`. With `assignments_only`, every object must be an
    /// Assignment; otherwise templates, constraints and Assignments are taken and anything else
    /// is ignored.
    pub fn add_paths(&mut self, paths: &[PathBuf], assignments_only: bool) -> Result<(), PolicyError> {
        if paths.is_empty() {
            return Ok(());
        }
        let opts = keelwatch_core::LoadOptions { fail_fast: true, ..Default::default() };
        let loaded = keelwatch_core::load::load_paths(paths, &opts);
        if let Some(e) = loaded.errors.first() {
            return Err(PolicyError::load(e.at.to_string(), e.message.clone()));
        }
        for o in loaded.objects {
            let origin = o.source.to_string();
            if assignments_only && !crate::assignment::is_assignment(&o.value) {
                return Err(PolicyError::load(
                    origin,
                    format!(
                        "expected an Assignment ({}), found {} {}",
                        crate::assignment::API_VERSION,
                        o.api_version(),
                        o.kind()
                    ),
                ));
            }
            self.add_object(o.value, &origin)?;
        }
        Ok(())
    }

    /// Adds one object: a ConstraintTemplate, a constraint or an Assignment. Returns whether
    /// the object was used.
    pub fn add_object(&mut self, value: Value, origin: &str) -> Result<bool, PolicyError> {
        let api = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if api.starts_with("templates.gatekeeper.sh/") && kind == "ConstraintTemplate" {
            self.add_template(Template::from_value(value, origin)?)?;
            Ok(true)
        } else if api.starts_with("constraints.gatekeeper.sh/") {
            self.constraints.push((value, origin.to_string(), None));
            Ok(true)
        } else if crate::assignment::is_assignment(&value) {
            self.assignments.push((value, origin.to_string()));
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Adds a compiled template; a second template for the same kind is an error.
    pub fn add_template(&mut self, t: Template) -> Result<(), PolicyError> {
        if let Some(prev) = self.templates.iter().find(|x| x.kind == t.kind) {
            return Err(PolicyError::Template {
                name: t.name.clone(),
                origin: t.origin.clone(),
                message: format!("constraint kind {} is already defined by the template at {}", t.kind, prev.origin),
            });
        }
        self.templates.push(t);
        Ok(())
    }

    /// Adds a constraint object (validated in [`PolicySetBuilder::build`]).
    pub fn add_constraint(&mut self, value: Value, origin: &str, assignment: Option<AssignmentRef>) {
        self.constraints.push((value, origin.to_string(), assignment));
    }

    /// Expands Assignments, validates constraints and produces the set.
    pub fn build(mut self) -> Result<PolicySet, PolicyError> {
        if !self.assignments.is_empty() {
            let library = crate::library::Library::builtin()?;
            for (value, origin) in std::mem::take(&mut self.assignments) {
                let a = crate::assignment::Assignment::from_value(&value, &origin)?;
                for expanded in a.expand(&library)? {
                    if !self.templates.iter().any(|t| t.kind == expanded.template_kind) {
                        let def = library.definition(&expanded.definition).expect("expanded from the library");
                        self.templates.push(def.compile()?);
                    }
                    self.constraints.push((
                        expanded.constraint,
                        format!("assignment {} ({origin})", a.name),
                        Some(AssignmentRef { assignment: a.name.clone(), definition: expanded.definition }),
                    ));
                }
            }
        }
        self.templates.sort_by(|a, b| a.name.cmp(&b.name));
        let kinds: HashMap<String, usize> =
            self.templates.iter().enumerate().map(|(i, t)| (t.kind.clone(), i)).collect();
        let mut constraints = Vec::new();
        for (value, origin, assignment) in self.constraints {
            let mut c = Constraint::from_value(value, &origin)?;
            let Some(&ti) = kinds.get(&c.kind) else {
                return Err(PolicyError::Constraint {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    origin,
                    message: format!(
                        "no ConstraintTemplate defines kind `{}`; load its template with --policy",
                        c.kind
                    ),
                });
            };
            if let Some(schema) = self.templates[ti].schema.as_ref() {
                schema::validate(schema, &c.parameters, "spec.parameters").map_err(|e| PolicyError::Parameters {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    origin: origin.clone(),
                    path: e.path,
                    message: e.message,
                })?;
            }
            if constraints.iter().any(|x: &Constraint| x.kind == c.kind && x.name == c.name) {
                return Err(PolicyError::Constraint {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    origin,
                    message: "a constraint with this kind and name is already loaded".into(),
                });
            }
            c.template_index = ti;
            c.assignment = assignment;
            constraints.push(c);
        }
        constraints.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        Ok(PolicySet { templates: self.templates.into_iter().map(Arc::new).collect(), constraints, compiled: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> PolicySet {
        let mut b = PolicySetBuilder::new();
        b.add_object(
            json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                "metadata": {"name": "k8srequiredlabels"},
                "spec": {"crd": {"spec": {"names": {"kind": "K8sRequiredLabels"},
                    "validation": {"openAPIV3Schema": {"type": "object", "properties": {"labels": {"type": "array", "items": {"type": "string"}}}}}}},
                  "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": "package k8srequiredlabels\nviolation[{\"msg\": msg, \"details\": {\"missing\": missing}}] {\n  provided := {l | input.review.object.metadata.labels[l]}\n  required := {l | l := input.parameters.labels[_]}\n  missing := required - provided\n  count(missing) > 0\n  msg := sprintf(\"you must provide labels: %v\", [missing])\n}\n"}]}}),
            "t.yaml:1",
        )
        .unwrap();
        b.add_object(
            json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sRequiredLabels",
                "metadata": {"name": "must-have-owner"},
                "spec": {"enforcementAction": "warn", "match": {"kinds": [{"apiGroups": [""], "kinds": ["Namespace"]}]}, "parameters": {"labels": ["owner"]}}}),
            "c.yaml:1",
        )
        .unwrap();
        b.build().unwrap()
    }

    #[test]
    fn review_reports_violations_with_action() {
        let s = set();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
        let v = s.review_object(&ns, &Inventory::empty(), EnforcementPoint::Audit).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].msg, "you must provide labels: {\"owner\"}");
        assert_eq!(v[0].action, Action::Warn);
        assert_eq!(v[0].details, json!({"missing": ["owner"]}));
        let ok = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"owner": "me"}}});
        assert!(s.review_object(&ok, &Inventory::empty(), EnforcementPoint::Audit).unwrap().is_empty());
        // Kinds not matched are not evaluated.
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
        assert!(s.review_object(&pod, &Inventory::empty(), EnforcementPoint::Audit).unwrap().is_empty());
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let mut b = PolicySetBuilder::new();
        let s = set();
        let t = s.templates().next().unwrap();
        b.add_object(t.raw.clone(), "t.yaml:1").unwrap();
        b.add_object(
            json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sRequiredLabels",
                "metadata": {"name": "bad"}, "spec": {"parameters": {"labels": [1]}}}),
            "c.yaml:7",
        )
        .unwrap();
        let e = b.build().unwrap_err().to_string();
        assert!(
            e.contains("c.yaml:7") && e.contains("spec.parameters.labels[0]") && e.contains("expected string"),
            "{e}"
        );
    }

    #[test]
    fn set_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicySet>();
        let s = Arc::new(set());
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("n{i}")}});
                    s.review_object(&ns, &Inventory::empty(), EnforcementPoint::Validation).unwrap().len()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 1);
        }
    }
}
