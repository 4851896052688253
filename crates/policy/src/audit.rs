//! Audit: evaluate a [`PolicySet`] over many objects on all cores (rayon) and summarise
//! compliance per assignment, per definition and per constraint.
//!
//! Output order is deterministic: findings follow input object order, then constraint order
//! (kind, name), then Rego result order. An object is *evaluated* by a group when at least one
//! of the group's constraints matches it, and *non-compliant* when any of them reports a
//! violation (whatever the action) or fails to evaluate.

use rayon::prelude::*;
use serde::Serialize;

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
    let per_object: Vec<PerObject> = objects
        .par_iter()
        .map(|o| {
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
        })
        .collect();

    // Group indices per constraint.
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
    let mut asg = vec![(0usize, 0usize); asg_names.len()];
    let mut def = vec![(0usize, 0usize); def_names.len()];
    let mut con = vec![(0usize, 0usize); n];
    let mut report = AuditReport { objects: objects.len(), ..Default::default() };
    for po in per_object {
        let mut a_seen: Vec<(usize, bool)> = Vec::new();
        let mut d_seen: Vec<(usize, bool)> = Vec::new();
        for &(ci, bad) in &po.outcomes {
            con[ci].0 += 1;
            con[ci].1 += usize::from(bad);
            let (ai, di) = groups_of[ci];
            merge(&mut a_seen, ai, bad);
            merge(&mut d_seen, di, bad);
        }
        for (ai, bad) in a_seen {
            asg[ai].0 += 1;
            asg[ai].1 += usize::from(bad);
        }
        for (di, bad) in d_seen {
            def[di].0 += 1;
            def[di].1 += usize::from(bad);
        }
        report.findings.extend(po.findings);
        report.errors.extend(po.errors);
    }
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
    report.assignments = summarise(asg_names, asg);
    report.definitions = summarise(def_names, def);
    let con_names: Vec<String> = (0..n).map(|i| set.constraint(i).name.clone()).collect();
    report.constraints = summarise(con_names, con);
    report
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
