//! The detection engine: a compiled [`RuleSet`] applied to decoded events, producing
//! [`SecurityAlert`]s. Synchronous and deterministic (given event times).
//!
//! One audit request is logged at several stages (ResponseStarted, ResponseComplete): a rule
//! that matches more than one stage of the same `auditID` alerts once (bounded memory of
//! recent (rule, auditID) pairs).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::alert::{self, SecurityAlert};
use crate::decode::Event;
use crate::rules::RuleSet;

/// How many recent (rule, auditID) pairs are remembered for stage de-duplication.
const DEDUPE_CAPACITY: usize = 65_536;

/// Applies rules to events.
#[derive(Debug)]
pub struct Detector {
    rules: Arc<RuleSet>,
    cluster: String,
    seen: HashSet<(usize, String)>,
    order: VecDeque<(usize, String)>,
    uses_rawtime: bool,
    /// Events evaluated so far.
    pub events: u64,
}

impl Detector {
    /// A detector over `rules`; `cluster` names the cluster in alert entities ("" if unknown;
    /// an event's `cluster_name` annotation wins).
    /// Takes a `RuleSet` or an `Arc<RuleSet>` (shared between detectors).
    pub fn new(rules: impl Into<Arc<RuleSet>>, cluster: impl Into<String>) -> Detector {
        let rules: Arc<RuleSet> = rules.into();
        Detector {
            uses_rawtime: rules.uses_rawtime(),
            rules,
            cluster: cluster.into(),
            seen: HashSet::new(),
            order: VecDeque::new(),
            events: 0,
        }
    }

    /// The compiled rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Evaluates one event; returns one alert (Count 1) per matching rule.
    pub fn process(&mut self, event: &Event) -> Vec<SecurityAlert> {
        self.events += 1;
        let now = Utc::now();
        match event {
            Event::Audit(ev) => {
                // Parsing the event time costs more than most rules: only when a rule reads it.
                let rawtime = if self.uses_rawtime {
                    ev.time().and_then(|t| t.timestamp_nanos_opt()).or_else(|| now.timestamp_nanos_opt()).unwrap_or(1)
                } else {
                    0
                };
                let matches = self.rules.eval_audit(ev, rawtime);
                let mut out = Vec::with_capacity(matches.len());
                for m in matches {
                    if !ev.audit_id.is_empty() && !self.remember(m.rule, &ev.audit_id) {
                        continue;
                    }
                    let rule = &self.rules.rules()[m.rule];
                    out.push(alert::from_audit(rule, &m.message, ev, &self.cluster, now));
                }
                out
            }
            Event::Process(ev) => self
                .rules
                .eval_process(ev)
                .into_iter()
                .map(|m| alert::from_process(&self.rules.rules()[m.rule], &m.message, ev, &self.cluster, now))
                .collect(),
        }
    }

    /// Records (rule, auditID); false if it was already seen.
    fn remember(&mut self, rule: usize, audit_id: &str) -> bool {
        let key = (rule, audit_id.to_string());
        if self.seen.contains(&key) {
            return false;
        }
        if self.order.len() >= DEDUPE_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(key.clone());
        self.seen.insert(key);
        true
    }
}

/// The time an event happened (for aggregation clocks), if it carries one.
pub fn event_time(event: &Event) -> Option<DateTime<Utc>> {
    match event {
        Event::Audit(ev) => ev.time(),
        Event::Process(p) => DateTime::parse_from_rfc3339(&p.time).ok().map(|t| t.with_timezone(&Utc)),
    }
}
