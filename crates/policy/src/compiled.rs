//! The compiled fast path: built-in templates evaluated on regorus's bytecode VM (RVM).
//!
//! Why: regorus's tree-walking interpreter costs 100–400 µs per template on a typical pod
//! (interpreter overhead, measured with perf: path strings, scopes, allocation), so a
//! restricted-initiative decision (8 templates) costs well over a millisecond. The RVM runs the
//! same Rego compiled to bytecode about 5× faster.
//!
//! Why only for built-in templates: regorus 0.14's RVM does not implement everything the
//! interpreter does. Known gaps, found by differential testing: function `else` chains are
//! ignored (the `else` bodies never run), a comprehension over an undefined value
//! (`[p | p := f(x)]` with `f(x)` undefined) yields `[<undefined>]` instead of `[]`, and host
//! extensions are not called (so the
//! [`crate::regorus_compat`] replacements for `sprintf`, `object.get` and the deprecated
//! builtins do not apply). Our own library avoids both — `tests/compiled_equivalence.rs`
//! checks, for every built-in definition, that the RVM and the interpreter give identical
//! results on every suite case and a generated matrix of pods — but third-party templates
//! (gatekeeper-library, users') may use anything, so they always run on the interpreter.
//!
//! A template is eligible when its Rego and libraries are byte-identical to a built-in
//! definition's (so `policy verify crates/policy/policies` exercises the compiled path too).
//! At run time any RVM error (a builtin error, the time limit) re-runs the evaluation on the
//! interpreter, whose answer — value or error — is the one reported: the fast path can change
//! speed, never a verdict.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use regorus::Engine;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::RegoVM;

use crate::regorus_compat::EVALUATION_LIMIT;

/// An RVM program for one template's `violation` rule.
pub(crate) type CompiledRule = Arc<Program>;

/// Whether (rego, libs) is exactly one of the built-in definitions' sources and avoids the
/// constructs the VM is known to get wrong.
pub(crate) fn is_builtin_source(rego: &str, libs: &[String]) -> bool {
    if std::iter::once(rego).chain(libs.iter().map(String::as_str)).any(uses_else) {
        return false;
    }
    static SOURCES: OnceLock<HashSet<(String, Vec<String>)>> = OnceLock::new();
    SOURCES
        .get_or_init(|| {
            crate::library::builtin_template_sources().into_iter().map(|(rego, libs, _)| (rego, libs)).collect()
        })
        .contains(&(rego.to_string(), libs.to_vec()))
}

/// Whether a module uses the `else` keyword outside comments (the VM skips `else` bodies).
fn uses_else(source: &str) -> bool {
    source.lines().any(|line| {
        let code = line.split('#').next().unwrap_or("");
        code.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == "else")
    })
}

/// Compiles `rule` of a prepared engine (cloned: compiling changes engine state) to an RVM
/// program. `None` when the RVM compiler refuses the Rego (the interpreter is used instead).
pub(crate) fn compile(engine: &Engine, rule: &str) -> Option<CompiledRule> {
    let mut e = engine.clone();
    let policy = e.compile_with_entrypoint(&rule.into()).ok()?;
    Compiler::compile_from_policy(&policy, &[rule]).ok()
}

/// A VM ready to run `program` (with `data`, e.g. the inventory, when given).
pub(crate) fn new_vm(program: &CompiledRule, data: Option<regorus::Value>) -> Result<RegoVM, String> {
    let mut vm = RegoVM::new();
    vm.load_program(program.clone());
    vm.set_execution_timer_config(Some(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVALUATION_LIMIT,
        check_interval: std::num::NonZeroU32::new(1024).expect("non-zero"),
    }));
    if let Some(d) = data {
        vm.set_data(d).map_err(|e| format!("adding inventory: {e}"))?;
    }
    Ok(vm)
}

/// Evaluations the VM could not finish (each re-run on the interpreter), process-wide.
static FALLBACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many evaluations fell back from the VM to the interpreter since the process started.
pub fn fallbacks() -> u64 {
    FALLBACKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs the program on `input`; `None` on any VM error (the caller falls back).
pub(crate) fn run(vm: &mut RegoVM, input: regorus::Value) -> Option<regorus::Value> {
    vm.set_input(input);
    match vm.execute() {
        Ok(v) => Some(v),
        // The interpreter's answer (value or error) is the one reported, so the VM's error
        // itself is not kept; the counter shows how often it happens.
        Err(_) => {
            FALLBACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn else_outside_comments_disqualifies() {
        assert!(uses_else("f(x) = 1 { x } else = 2 { true }"));
        assert!(!uses_else("# an else chain would be wrong here\nf(x) = 1 { x }"));
        assert!(!uses_else("elsewhere := 1"));
    }
}
