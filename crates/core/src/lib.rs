//! keelwatch-core: the vocabulary every keelwatch crate shares.
//!
//! - [`load`]: read Kubernetes objects from files, directories and stdin (multi-document YAML,
//!   JSON, `kind: List`, Helm-rendered output). Every object remembers where it came from
//!   ([`Source`]: file and 1-based line) so any later message can point at it.
//! - [`yaml`]: the YAML → JSON value converter behind the loader (keeps line numbers).
//! - [`Severity`]: the one severity scale used by policy, vulnerability and detection results.
//! - [`output`]: output formats shared by all commands (table / json / yaml / sarif).
//!
//! Invariants: nothing here panics on bad input; a malformed document becomes a [`LoadError`]
//! carrying file:line, and loading continues with the next document unless the caller asks
//! to stop. Start reading at [`load::load_paths`].

pub mod load;
pub mod output;
mod severity;
pub mod yaml;

pub use load::{LoadError, LoadOptions, LoadResult, Source, SourcedObject};
pub use output::OutputFormat;
pub use severity::{ParseSeverityError, Severity};
