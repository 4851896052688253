//! Audit: evaluate a [`PolicySet`] over many objects on all cores (rayon) and summarise
//! compliance per assignment, per definition and per constraint.
//!
//! Output order is deterministic: findings follow input object order, then constraint order
//! (kind, name), then Rego result order. An object is *evaluated* by a group when at least one
//! of the group's constraints matches it, and *non-compliant* when any of them reports a
//! violation (whatever the action) or fails to evaluate.

use rayon::prelude::*;
use serde::Serialize;

use std::path::PathBuf;

use keelwatch_core::load::{LoadError, LoadOptions};
use keelwatch_core::{Source, SourcedObject};

use crate::constraint::{Action, EnforcementPoint};
use crate::review::{self, Inventory};
use crate::set::{PolicySet, Violation};

/// Identity of an audited object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    fn of(o: &SourcedObject) -> ObjectRef {
        ObjectRef {
            api_version: o.api_version().to_string(),
            kind: o.kind().to_string(),
            namespace: o.namespace().map(str::to_string),
            name: o.name().to_string(),
        }
    }

    /// `Kind/namespace/name` or `Kind/name`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

/// One violation found on one object.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub object: ObjectRef,
    pub source: Source,
    #[serde(flatten)]
    pub violation: Violation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
}

/// A template that failed to evaluate on an object.
#[derive(Debug, Clone, Serialize)]
pub struct AuditError {
    pub object: ObjectRef,
    pub source: Source,
    pub constraint: String,
    pub message: String,
}

/// Compliance of one assignment, definition or constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    pub name: String,
    /// Objects at least one of the group's constraints matched.
    pub evaluated: usize,
    pub compliant: usize,
    pub non_compliant: usize,
}

impl GroupSummary {
    /// Compliant share of evaluated objects, in percent (100 when nothing was evaluated).
    pub fn compliance_percent(&self) -> f64 {
        if self.evaluated == 0 { 100.0 } else { self.compliant as f64 * 100.0 / self.evaluated as f64 }
    }
}

/// Everything an audit found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Objects audited.
    pub objects: usize,
    pub findings: Vec<Finding>,
    pub errors: Vec<AuditError>,
    pub assignments: Vec<GroupSummary>,
    pub definitions: Vec<GroupSummary>,
    pub constraints: Vec<GroupSummary>,
}

impl AuditReport {
    /// Number of findings whose action is `deny`.
    pub fn deny_count(&self) -> usize {
        self.findings.iter().filter(|f| f.violation.action == Action::Deny).count()
    }
}

/// Group a loose constraint (not from an assignment) is summarised under.
pub const LOOSE_CONSTRAINTS: &str = "(policy files)";

/// What evaluating one object gave, before it is folded into a report.
struct PerObject {
    /// (constraint index, non-compliant?)
    outcomes: Vec<(usize, bool)>,
    findings: Vec<Finding>,
    errors: Vec<AuditError>,
}

/// Audits `objects` against `set` at `point` (normally [`EnforcementPoint::Audit`]).
pub fn audit(
    set: &PolicySet,
    objects: &[SourcedObject],
    inventory: &Inventory,
    point: EnforcementPoint,
) -> AuditReport {
    let mut tally = Tally::new(set);
    tally.add(evaluate_objects(set, objects, inventory, point));
    tally.finish()
}

/// Audits every object below `paths` (files, directories, `-` for stdin; see
/// [`keelwatch_core::load::load_paths`]) and returns the report and the load errors, both in
/// input order. The report is the same as loading everything and calling [`audit`] with
/// [`Inventory::from_objects`] (or [`Inventory::namespaces_only`]) of all objects.
///
/// When no template reads `data.inventory`, objects are not all held at once: a first pass
/// collects the Namespace objects (parsing only inputs whose text can hold one, see
/// [`keelwatch_core::load::Input::objects_of_kind`]), then inputs are loaded, evaluated and dropped one by one on
/// all cores. A 100,000-pod audit then needs a few hundred MB instead of several GB, and the
/// allocator reuses memory instead of growing the heap (measured in `bench/policy/README.md`).
pub fn audit_paths(
    set: &PolicySet,
    paths: &[PathBuf],
    opts: &LoadOptions,
    point: EnforcementPoint,
) -> (AuditReport, Vec<LoadError>) {
    if set.uses_inventory() {
        // `data.inventory` is every object: they must all be known before the first review.
        let loaded = keelwatch_core::load::load_paths(paths, opts);
        let inventory = Inventory::from_objects(loaded.objects.iter().map(|o| o.value.clone()));
        return (audit(set, &loaded.objects, &inventory, point), loaded.errors);
    }
    let inputs = keelwatch_core::load::list_inputs(paths, opts);
    let namespaces: Vec<Vec<SourcedObject>> = inputs.par_iter().map(|i| i.objects_of_kind("Namespace", opts)).collect();
    let inventory = Inventory::namespaces_only(namespaces.iter().flatten().map(|o| &o.value));
    drop(namespaces);
    let per_input: Vec<(Vec<PerObject>, Vec<LoadError>)> = inputs
        .par_iter()
        .map(|input| {
            let loaded = input.load(opts);
            (evaluate_objects(set, &loaded.objects, &inventory, point), loaded.errors)
        })
        .collect();
    let mut tally = Tally::new(set);
    let mut errors = Vec::new();
    for (objects, load_errors) in per_input {
        tally.add(objects);
        errors.extend(load_errors);
    }
    (tally.finish(), errors)
}

/// Evaluates each object on all cores; results in object order.
fn evaluate_objects(
    set: &PolicySet,
    objects: &[SourcedObject],
    inventory: &Inventory,
    point: EnforcementPoint,
) -> Vec<PerObject> {
    objects.par_iter().map(|o| evaluate_object(set, o, inventory, point)).collect()
}

fn evaluate_object(set: &PolicySet, o: &SourcedObject, inventory: &Inventory, point: EnforcementPoint) -> PerObject {
    let object = ObjectRef::of(o);
    let mut po = PerObject { outcomes: vec![], findings: vec![], errors: vec![] };
    let prepared = match review::prepare_object(&o.value, inventory) {
        Ok(p) => p,
        Err(e) => {
            po.errors.push(AuditError {
                object,
                source: o.source.clone(),
                constraint: String::new(),
                message: e.to_string(),
            });
            return po;
        }
    };
    for outcome in set.evaluate(&prepared, inventory, point) {
        let c = set.constraint(outcome.index);
        match outcome.result {
            Ok(vs) => {
                po.outcomes.push((outcome.index, !vs.is_empty()));
                for v in vs {
                    po.findings.push(Finding {
                        object: object.clone(),
                        source: o.source.clone(),
                        violation: v,
                        assignment: c.assignment.as_ref().map(|a| a.assignment.clone()),
                        definition: c.assignment.as_ref().map(|a| a.definition.clone()),
                    });
                }
            }
            Err(message) => {
                po.outcomes.push((outcome.index, true));
                po.errors.push(AuditError {
                    object: object.clone(),
                    source: o.source.clone(),
                    constraint: format!("{}/{}", c.kind, c.name),
                    message,
                });
            }
        }
    }
    po
}

/// Folds per-object results, in input order, into an [`AuditReport`]: findings and errors in
/// order, and compliance counts per assignment, definition and constraint.
struct Tally<'s> {
    set: &'s PolicySet,
    /// (assignment group, definition group) of each constraint.
    groups_of: Vec<(usize, usize)>,
    asg_names: Vec<String>,
    def_names: Vec<String>,
    /// (evaluated, non-compliant) per assignment, definition and constraint.
    asg: Vec<(usize, usize)>,
    def: Vec<(usize, usize)>,
    con: Vec<(usize, usize)>,
    report: AuditReport,
}

impl<'s> Tally<'s> {
    fn new(set: &'s PolicySet) -> Tally<'s> {
        let n = set.constraint_count();
        let mut asg_names: Vec<String> = Vec::new();
        let mut def_names: Vec<String> = Vec::new();
        let mut groups_of = Vec::with_capacity(n);
        let index_of = |names: &mut Vec<String>, name: String| -> usize {
            match names.iter().position(|x| *x == name) {
                Some(i) => i,
                None => {
                    names.push(name);
                    names.len() - 1
                }
            }
        };
        for i in 0..n {
            let c = set.constraint(i);
            let (a, d) = match &c.assignment {
                Some(r) => (r.assignment.clone(), r.definition.clone()),
                None => (LOOSE_CONSTRAINTS.to_string(), c.kind.clone()),
            };
            groups_of.push((index_of(&mut asg_names, a), index_of(&mut def_names, d)));
        }
        Tally {
            set,
            groups_of,
            asg: vec![(0, 0); asg_names.len()],
            def: vec![(0, 0); def_names.len()],
            con: vec![(0, 0); n],
            asg_names,
            def_names,
            report: AuditReport::default(),
        }
    }

    fn add(&mut self, objects: Vec<PerObject>) {
        self.report.objects += objects.len();
        for po in objects {
            let mut a_seen: Vec<(usize, bool)> = Vec::new();
            let mut d_seen: Vec<(usize, bool)> = Vec::new();
            for &(ci, bad) in &po.outcomes {
                self.con[ci].0 += 1;
                self.con[ci].1 += usize::from(bad);
                let (ai, di) = self.groups_of[ci];
                merge(&mut a_seen, ai, bad);
                merge(&mut d_seen, di, bad);
            }
            for (ai, bad) in a_seen {
                self.asg[ai].0 += 1;
                self.asg[ai].1 += usize::from(bad);
            }
            for (di, bad) in d_seen {
                self.def[di].0 += 1;
                self.def[di].1 += usize::from(bad);
            }
            self.report.findings.extend(po.findings);
            self.report.errors.extend(po.errors);
        }
    }

    fn finish(self) -> AuditReport {
        let summarise = |names: Vec<String>, counts: Vec<(usize, usize)>| -> Vec<GroupSummary> {
            let mut v: Vec<GroupSummary> = names
                .into_iter()
                .zip(counts)
                .map(|(name, (evaluated, bad))| GroupSummary {
                    name,
                    evaluated,
                    compliant: evaluated - bad,
                    non_compliant: bad,
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
        let mut report = self.report;
        report.assignments = summarise(self.asg_names, self.asg);
        report.definitions = summarise(self.def_names, self.def);
        let con_names: Vec<String> = (0..self.con.len()).map(|i| self.set.constraint(i).name.clone()).collect();
        report.constraints = summarise(con_names, self.con);
        report
    }
}

fn merge(seen: &mut Vec<(usize, bool)>, group: usize, bad: bool) {
    match seen.iter_mut().find(|(g, _)| *g == group) {
        Some(e) => e.1 |= bad,
        None => seen.push((group, bad)),
    }
}

impl PolicySet {
    /// Audits objects; see [`audit`].
    pub fn audit(&self, objects: &[SourcedObject], inventory: &Inventory) -> AuditReport {
        audit(self, objects, inventory, EnforcementPoint::Audit)
    }
}
