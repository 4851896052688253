//! Runs policy reviews off the async runtime, on a fixed pool of CPU threads, under a deadline.
//!
//! Why a dedicated pool: regorus evaluation is CPU-bound and cannot be cancelled, and the
//! policy engine keeps compiled engines per thread; a small fixed pool (one thread per core)
//! keeps those caches warm and memory bounded, where tokio's blocking pool would grow to
//! hundreds of threads under load. A queue bound turns overload into an immediate answer
//! under the failure policy instead of unbounded latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keelwatch_policy::{EnforcementPoint, Inventory, PolicySet, Violation};
use serde_json::Value;

/// What to answer when a review cannot finish in time (or the server is overloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit the request with a warning (Gatekeeper's default, `failurePolicy: Ignore`).
    Open,
    /// Reject the request (for clusters that must never admit unchecked objects).
    Closed,
}

impl std::str::FromStr for FailurePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "open" | "ignore" => Ok(FailurePolicy::Open),
            "closed" | "fail" => Ok(FailurePolicy::Closed),
            _ => Err(format!("unknown failure policy '{s}': expected open or closed")),
        }
    }
}

/// The policies and inventory a review runs against; swapped whole on reload.
#[derive(Debug, Default)]
pub struct Policies {
    pub set: PolicySet,
    pub inventory: Inventory,
}

/// Why a review produced no verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalFailure {
    /// The deadline passed before evaluation finished.
    Timeout(Duration),
    /// Too many reviews are queued.
    Overloaded,
    /// The request could not be evaluated (bad request shape or a Rego error).
    Error(String),
}

impl std::fmt::Display for EvalFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalFailure::Timeout(d) => write!(f, "policy evaluation did not finish within {} ms", d.as_millis()),
            EvalFailure::Overloaded => f.write_str("too many reviews in flight; the webhook is overloaded"),
            EvalFailure::Error(m) => f.write_str(m),
        }
    }
}

/// Evaluates AdmissionRequests against the current [`Policies`].
pub struct Evaluator {
    pool: rayon::ThreadPool,
    policies: RwLock<Arc<Policies>>,
    in_flight: AtomicUsize,
    max_in_flight: usize,
    deadline: Duration,
    failure_policy: FailurePolicy,
}

impl Evaluator {
    /// `threads` = 0 means one per available core.
    pub fn new(
        policies: Policies,
        threads: usize,
        deadline: Duration,
        failure_policy: FailurePolicy,
    ) -> std::io::Result<Self> {
        let threads =
            if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("kw-eval-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Evaluator {
            pool,
            policies: RwLock::new(Arc::new(policies)),
            in_flight: AtomicUsize::new(0),
            max_in_flight: threads * 256,
            deadline,
            failure_policy,
        })
    }

    pub fn failure_policy(&self) -> FailurePolicy {
        self.failure_policy
    }

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The policies in force now.
    pub fn policies(&self) -> Arc<Policies> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the policies; reviews already running finish on the old ones.
    pub fn replace(&self, policies: Policies) {
        let new = Arc::new(policies);
        match self.policies.write() {
            Ok(mut p) => *p = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// Reviews `request` (the AdmissionRequest) at the validation enforcement point.
    pub async fn review(&self, request: Value) -> Result<Vec<Violation>, EvalFailure> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(EvalFailure::Overloaded);
        }
        let guard = InFlight(&self.in_flight);
        let started = std::time::Instant::now();
        let policies = self.policies();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // A closed receiver means the deadline passed; skip the work if it has not started.
            if tx.is_closed() {
                return;
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                policies.set.review(&request, &policies.inventory, EnforcementPoint::Validation)
            }));
            let result = match result {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(EvalFailure::Error(e.to_string())),
                Err(_) => Err(EvalFailure::Error("policy evaluation panicked; this is a keelwatch bug".into())),
            };
            let _ = tx.send(result);
        });
        let out = match tokio::time::timeout(self.deadline, rx).await {
            // tokio's timer fires on millisecond ticks, so a result can arrive after a shorter
            // deadline has passed; it is late all the same, and the failure policy applies.
            Ok(Ok(_)) if started.elapsed() > self.deadline => Err(EvalFailure::Timeout(self.deadline)),
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(EvalFailure::Error("evaluation worker stopped".into())),
            Err(_) => Err(EvalFailure::Timeout(self.deadline)),
        };
        drop(guard);
        out
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
