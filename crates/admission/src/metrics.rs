//! Prometheus metrics of the webhook, served at `/metrics` in the text exposition format.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViolationLabels {
    pub constraint: String,
    pub enforcement_action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: String,
}

/// Every metric the webhook exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<DecisionLabels, Counter>,
    pub violations: Family<ViolationLabels, Counter>,
    pub latency: Histogram,
    pub reloads: Family<ReloadLabels, Counter>,
    pub constraints: Gauge,
    pub bad_requests: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<DecisionLabels, Counter>::default();
        let violations = Family::<ViolationLabels, Counter>::default();
        // 50 µs … ~1.6 s: decisions are sub-millisecond, the deadline is seconds.
        let latency = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        let reloads = Family::<ReloadLabels, Counter>::default();
        let constraints = Gauge::default();
        let bad_requests = Counter::default();
        registry.register(
            "keelwatch_admission_requests",
            "AdmissionReview requests by decision (allowed, denied, error)",
            requests.clone(),
        );
        registry.register(
            "keelwatch_admission_violations",
            "Violations found at admission by constraint and enforcement action (deny, warn, dryrun)",
            violations.clone(),
        );
        registry.register(
            "keelwatch_admission_request_duration_seconds",
            "Time from request received to response decided",
            latency.clone(),
        );
        registry.register(
            "keelwatch_admission_policy_reloads",
            "Policy reloads by result (ok, error)",
            reloads.clone(),
        );
        registry.register("keelwatch_admission_constraints", "Constraints currently enforced", constraints.clone());
        registry.register(
            "keelwatch_admission_bad_requests",
            "Requests rejected with HTTP 400 (malformed AdmissionReview)",
            bad_requests.clone(),
        );
        Metrics { registry: Mutex::new(registry), requests, violations, latency, reloads, constraints, bad_requests }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = match self.registry.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
