//! The rule language: Falco k8saudit YAML (rules, macros, lists, exceptions) over audit and
//! process events, compiled once into an evaluation tree.
//!
//! Flow: [`load::Definitions::add_file`] for each file (built-in catalog first, then user
//! files, so users can tune) → [`RuleSet::compile`] (macros inlined, lists expanded, fields
//! resolved to slots, regexes built) → [`RuleSet::eval_audit`] / [`RuleSet::eval_process`]
//! per event (each field is extracted at most once per event).
//!
//! Sub-modules: [`condition`] (parser), [`fields`] (what can be read), [`load`] (YAML items),
//! [`compile`] (tree + evaluation).

pub mod compile;
pub mod condition;
pub mod fields;
pub mod load;

pub use compile::{CompiledRule, RuleMatch, RuleSet};
pub use fields::Source;
pub use load::{AlertMeta, Definitions, Priority};

/// A rules-file problem: where (file:line), which item, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {item}: {message}")]
pub struct RuleError {
    /// `file:line` of the item (the line where the `- rule:`/`- macro:` item starts).
    pub origin: String,
    /// E.g. `rule 'Create Privileged Pod'` or `macro 'kevt' (used by rule 'X')`.
    pub item: String,
    pub message: String,
}

impl RuleError {
    pub(crate) fn new(origin: String, item: &str, message: String) -> RuleError {
        RuleError { origin, item: item.to_string(), message }
    }
}

/// The built-in catalog's rules file (keelwatch's own rules, embedded at build time).
pub const BUILTIN_RULES: &str = include_str!("../../rules/catalog.yaml");

/// Name used for the built-in catalog in error messages.
pub const BUILTIN_ORIGIN: &str = "builtin:catalog.yaml";

/// Loads the built-in catalog followed by `files` (name, text) and compiles them.
pub fn load_rules(with_builtin: bool, files: &[(String, String)]) -> Result<RuleSet, Vec<RuleError>> {
    let mut defs = Definitions::default();
    let mut errors = Vec::new();
    if with_builtin && let Err(e) = defs.add_file(BUILTIN_ORIGIN, BUILTIN_RULES) {
        errors.extend(e);
    }
    for (name, text) in files {
        if let Err(e) = defs.add_file(name, text) {
            errors.extend(e);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    RuleSet::compile(&defs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_catalog_compiles_with_metadata() {
        let rules = super::load_rules(true, &[]).unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(rules.skipped.is_empty());
        for r in rules.rules() {
            let a = r.alert.as_ref().unwrap_or_else(|| panic!("{} has no alert block", r.name));
            assert_eq!(a.alert_type.as_deref(), Some(r.name.as_str()), "rule name = alert type");
            assert!(a.name.is_some() && a.severity.is_some() && !a.remediation.is_empty(), "{}", r.name);
            assert!(!r.desc.is_empty());
            if !r.name.ends_with("TestAlert") && !r.name.ends_with("EICAR") {
                assert!(!a.tactics.is_empty() && !a.techniques.is_empty(), "{} lacks MITRE mapping", r.name);
            }
        }
    }
}
