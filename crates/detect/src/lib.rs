//! keelwatch threat detection.
//!
//! Owns the event models (Kubernetes audit events, node process events), the rule language
//! (Falco k8saudit YAML), the built-in alert catalog and the `SecurityAlert` records.
//!
//! Data flow: bytes → [`decode`] (JSON lines, EventList, AKS envelope) → [`view::EventView`]
//! (borrows the input; bodies are parsed, and redacted by [`redact`], only when read; the
//! owned [`Event`] form is redacted as it is built) → [`engine::Detector`] (a compiled
//! [`rules::RuleSet`]: built-in `rules/catalog.yaml` + user files) → [`alert::SecurityAlert`]
//! → [`alert::Aggregator`] (repeats within a window become one alert with a count) →
//! [`output`] (JSON lines, table, webhook). [`tail`] follows growing, rotating files.
//!
//! Invariants: no Secret value survives decoding (a view exposes bodies only redacted);
//! malformed input is counted and reported
//! with its origin and never stops a stream; evaluation is synchronous and deterministic.
//! The HTTP receiver is behind the `server` feature and the webhook sender behind `webhook`,
//! so the node agent can depend on this crate (for [`process::ProcessEvent`]) without a web
//! stack.
//!
//! Start reading at [`rules`] (the language) and `rules/catalog.yaml` (the catalog).
#![forbid(unsafe_code)]

pub mod alert;
pub mod audit;
pub mod decode;
pub mod engine;
pub mod node;
pub mod output;
pub mod process;
pub mod redact;
pub mod rules;
#[cfg(feature = "server")]
pub mod server;
pub mod tail;
pub mod view;

pub use alert::{Aggregator, SecurityAlert};
pub use decode::{Event, Malformed};
pub use engine::Detector;
pub use process::ProcessEvent;
pub use view::{AsEventView, EventView};
