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
use crate::rules::RuleSet;
use crate::rules::compile::Scratch;
use crate::view::{AsEventView, EventView};

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
    scratch: Scratch,
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
            scratch: Scratch::default(),
            events: 0,
        }
    }

    /// The compiled rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Evaluates one event — an owned [`crate::Event`] or an [`EventView`] — and returns one
    /// alert (Count 1) per matching rule.
    pub fn process<E: AsEventView + ?Sized>(&mut self, event: &E) -> Vec<SecurityAlert> {
        event.with_view(|v| self.process_view(v))
    }

    fn process_view(&mut self, event: &EventView<'_>) -> Vec<SecurityAlert> {
        self.events += 1;
        match event {
            EventView::Audit(ev) => {
                // Parsing the event time costs more than most rules: only when a rule reads it.
                let rawtime = if self.uses_rawtime {
                    ev.time()
                        .and_then(|t| t.timestamp_nanos_opt())
                        .or_else(|| Utc::now().timestamp_nanos_opt())
                        .unwrap_or(1)
                } else {
                    0
                };
                let matches = self.rules.eval_audit_view(ev, rawtime, &mut self.scratch);
                if matches.is_empty() {
                    return Vec::new();
                }
                let now = Utc::now();
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
            EventView::Process(ev) => {
                let matches = self.rules.eval_process_with(ev, &mut self.scratch);
                if matches.is_empty() {
                    return Vec::new();
                }
                let now = Utc::now();
                matches
                    .into_iter()
                    .map(|m| alert::from_process(&self.rules.rules()[m.rule], &m.message, ev, &self.cluster, now))
                    .collect()
            }
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

/// The time an event (owned or a view) happened, for aggregation clocks, if it carries one.
pub fn event_time<E: AsEventView + ?Sized>(event: &E) -> Option<DateTime<Utc>> {
    event.event_time()
}
