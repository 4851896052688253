//! keelwatch-policy: a Gatekeeper-compatible policy engine over regorus, with a built-in
//! library of definitions and initiatives, Assignments, audit and gator suite verification.
//!
//! Data flow: objects (manifests, AdmissionReviews) → [`review`] builds `input.review`
//! (an AdmissionRequest) → [`PolicySet`] matches constraints ([`constraint::Match`]) and
//! evaluates each constraint's template ([`template::Template`], compiled once, cloned into
//! per-thread engines) → [`Violation`]s with the constraint's [`Action`] at the
//! [`EnforcementPoint`]. [`audit`] runs a set over many objects on all cores; [`verify`] runs
//! gator suites; [`library`] + [`assignment`] turn built-in definitions into constraints.
//!
//! Invariants: evaluation is deterministic (constraints sorted by kind and name, results in
//! Rego set order, audit output in input order); nothing panics on bad input; every load
//! error names the file (and line), the object and the field. regorus differences from OPA
//! are handled in one place, [`regorus_compat`].
//!
//! Start reading at [`PolicySet::load`] and [`PolicySet::review`].

pub mod assignment;
pub mod audit;
pub mod compiled;
pub mod constraint;
mod error;
pub mod library;
pub mod regorus_compat;
pub mod render;
pub mod review;
pub mod schema;
mod set;
pub mod template;
pub mod verify;

pub use assignment::{Assignment, Effect};
pub use audit::{AuditReport, Finding, GroupSummary};
pub use constraint::{Action, AssignmentRef, Constraint, Enforcement, EnforcementPoint};
pub use error::PolicyError;
pub use library::{Definition, Initiative, Library};
pub use review::Inventory;
pub use set::{PolicySet, PolicySetBuilder, Violation};
pub use template::Template;
