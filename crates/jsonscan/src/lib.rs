//! A validating, non-allocating JSON scanner shared by ingestion and queries.
//!
//! Building a `serde_json::Value` tree per row dominated both ingestion (every nested object
//! and string allocated, then dynamic values serialised again) and member access in queries
//! (`tostring(KubernetesMetadata.podUid)`). This crate walks JSON text in place instead:
//! - [`scan_object`] splits one object (an NDJSON line) into raw top-level members and says
//!   which values are already in serde_json's compact form (`keelwatch-workspace` ingestion);
//! - [`find`] locates one member by path (`keelwatch-kql` member access), validating the whole
//!   text, or stopping at the member when the text is known to be valid ([`Trust::Valid`]);
//! - [`is_valid`] checks a value without locating anything.
//!
//! One grammar (`scanner.rs`) serves all three, so ingestion and queries agree on what valid
//! JSON is. Differences from serde_json: lone UTF-16 surrogate escapes (`"\ud800"`) are
//! accepted (callers treat escaped text as non-canonical and parse it with serde_json anyway),
//! and UTF-8 is the caller's job.

mod object;
mod path;
mod scanner;

pub use object::{Field, is_valid, scan_object};
pub use path::{Found, Step, Trust, find, member_text};
pub use scanner::MAX_DEPTH;

/// Arrow field metadata key marking a dynamic (JSON text) column whose every value is valid
/// JSON, with the value [`VALID_JSON_METADATA_VALUE`]. The workspace puts it on the fields of
/// the tables it serves (it stores only valid JSON in dynamic columns); KQL's member access
/// reads it to use [`Trust::Valid`].
pub const VALID_JSON_METADATA_KEY: &str = "keelwatch.json";
/// See [`VALID_JSON_METADATA_KEY`].
pub const VALID_JSON_METADATA_VALUE: &str = "valid";

/// Arrow field metadata key marking a *shadow column*: a hidden column holding, for every row,
/// exactly what KQL member access `<column>.<path>` gives on the dynamic column named by the
/// value ([`member_text`] of the text, or the tree walk where the scanner cannot answer).
/// [`SHADOW_PATH_METADATA_KEY`] names the member path (one key). The workspace stores shadow
/// columns for a few members with an agent-defined structure; KQL hides them from tables and
/// reads one instead of scanning the JSON text of every row when a query uses that member.
pub const SHADOW_OF_METADATA_KEY: &str = "keelwatch.shadow_of";
/// See [`SHADOW_OF_METADATA_KEY`].
pub const SHADOW_PATH_METADATA_KEY: &str = "keelwatch.shadow_path";

/// True when a field's metadata marks it as a shadow column ([`SHADOW_OF_METADATA_KEY`]); the
/// one test both the workspace (which writes them) and KQL (which hides and reads them) use.
pub fn is_shadow(metadata: &std::collections::HashMap<String, String>) -> bool {
    metadata.contains_key(SHADOW_OF_METADATA_KEY)
}
