//! `policy verify`: runs gator `Suite` files (`test.gatekeeper.sh/v1alpha1`) with gator's
//! semantics.
//!
//! A suite has `tests[]` (template path, constraint path, `cases[]`); every case reviews one
//! object (a plain object, or an AdmissionReview whose `request` is reviewed as is) with
//! optional `inventory` files, and checks `assertions[]`: `violations` (`yes` = at least one,
//! `no` = none, or an exact count; default `yes`) of the results whose message matches the
//! optional `message` regex. Paths are relative to the suite file. A test marked
//! `invalid: true` passes when its constraint is rejected by the template's schema.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::constraint::EnforcementPoint;
use crate::error::PolicyError;
use crate::review::{self, Inventory};
use crate::set::{PolicySet, PolicySetBuilder, Violation};
use crate::template::Template;

/// Result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip,
}

/// One reported line of a verify run.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub suite: PathBuf,
    pub test: String,
    pub case: String,
    pub outcome: Outcome,
}

/// All case results of a run, in suite-file and declaration order.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub cases: Vec<CaseResult>,
}

impl VerifyReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.outcome == Outcome::Pass).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| matches!(c.outcome, Outcome::Fail(_))).count()
    }
}

fn load_objects(path: &Path) -> Result<Vec<Value>, String> {
    let opts = keelwatch_core::LoadOptions { fail_fast: true, require_kind: false, ..Default::default() };
    let r = keelwatch_core::load::load_file(path, &opts);
    if let Some(e) = r.errors.first() {
        return Err(e.to_string());
    }
    Ok(r.objects.into_iter().map(|o| o.value).collect())
}

/// Finds suite files below `paths` (files are taken as given; directories are walked for
/// `.yaml`/`.yml` files whose document has `kind: Suite`).
pub fn find_suites(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| PolicyError::load(p.display().to_string(), format!("cannot open: {e}")))?;
        if meta.is_file() {
            out.push(p.clone());
            continue;
        }
        let mut errors = Vec::new();
        for f in keelwatch_core::load::manifest_files(p, &mut errors) {
            if f.extension().is_some_and(|e| e == "json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            // Cheap pre-filter before parsing.
            if text.contains("Suite") && load_objects(&f).is_ok_and(|objs| objs.iter().any(is_suite)) {
                out.push(f);
            }
        }
        if let Some(e) = errors.first() {
            return Err(PolicyError::load(e.at.to_string(), e.message.clone()));
        }
    }
    Ok(out)
}

fn is_suite(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Suite")
        && v.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("test.gatekeeper.sh/"))
}

/// Runs every suite below `paths`.
pub fn verify_paths(paths: &[PathBuf]) -> Result<VerifyReport, PolicyError> {
    let mut report = VerifyReport::default();
    for suite in find_suites(paths)? {
        run_suite(&suite, &mut report);
    }
    Ok(report)
}

/// Runs one suite file, appending its case results.
pub fn run_suite(path: &Path, report: &mut VerifyReport) {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let fail_all = |report: &mut VerifyReport, test: &str, msg: String| {
        report.cases.push(CaseResult {
            suite: path.to_path_buf(),
            test: test.into(),
            case: String::new(),
            outcome: Outcome::Fail(msg),
        });
    };
    let suites = match load_objects(path) {
        Ok(o) => o.into_iter().filter(is_suite).collect::<Vec<_>>(),
        Err(e) => return fail_all(report, "", e),
    };
    for suite in suites {
        if suite.get("skip").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let tests = suite.get("tests").and_then(Value::as_array).cloned().unwrap_or_default();
        for t in tests {
            let test_name = t.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if t.get("skip").and_then(Value::as_bool) == Some(true) {
                report.cases.push(CaseResult {
                    suite: path.into(),
                    test: test_name,
                    case: String::new(),
                    outcome: Outcome::Skip,
                });
                continue;
            }
            let invalid = t.get("invalid").and_then(Value::as_bool) == Some(true);
            let set = build_test_set(&dir, &t);
            if invalid {
                let outcome = match set {
                    Err(PolicyError::Parameters { .. }) => Outcome::Pass,
                    Err(e) => Outcome::Fail(format!("want a constraint schema error, got: {e}")),
                    Ok(_) => Outcome::Fail("want a constraint schema error, but the constraint was accepted".into()),
                };
                report.cases.push(CaseResult {
                    suite: path.into(),
                    test: test_name,
                    case: "(invalid constraint)".into(),
                    outcome,
                });
                continue;
            }
            let cases = t.get("cases").and_then(Value::as_array).cloned().unwrap_or_default();
            let set = match set {
                Ok(s) => s,
                Err(e) => {
                    if cases.is_empty() {
                        fail_all(report, &test_name, e.to_string());
                    }
                    for c in &cases {
                        let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                        report.cases.push(CaseResult {
                            suite: path.into(),
                            test: test_name.clone(),
                            case: name,
                            outcome: Outcome::Fail(e.to_string()),
                        });
                    }
                    continue;
                }
            };
            for c in cases {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let outcome = if c.get("skip").and_then(Value::as_bool) == Some(true) {
                    Outcome::Skip
                } else {
                    match run_case(&dir, &set, &c) {
                        Ok(()) => Outcome::Pass,
                        Err(e) => Outcome::Fail(e),
                    }
                };
                report.cases.push(CaseResult { suite: path.into(), test: test_name.clone(), case: name, outcome });
            }
        }
    }
}

fn build_test_set(dir: &Path, t: &Value) -> Result<PolicySet, PolicyError> {
    let suite_err = |m: String| PolicyError::Suite { path: dir.to_path_buf(), message: m };
    let template_rel =
        t.get("template").and_then(Value::as_str).ok_or_else(|| suite_err("test has no `template`".into()))?;
    let constraint_rel =
        t.get("constraint").and_then(Value::as_str).ok_or_else(|| suite_err("test has no `constraint`".into()))?;
    let tpath = dir.join(template_rel);
    let cpath = dir.join(constraint_rel);
    let mut b = PolicySetBuilder::new();
    let templates = load_objects(&tpath).map_err(|e| PolicyError::load(tpath.display().to_string(), e))?;
    let template =
        templates.into_iter().next().ok_or_else(|| PolicyError::load(tpath.display().to_string(), "no object"))?;
    b.add_template(Template::from_value(template, &tpath.display().to_string())?)?;
    let constraints = load_objects(&cpath).map_err(|e| PolicyError::load(cpath.display().to_string(), e))?;
    let constraint =
        constraints.into_iter().next().ok_or_else(|| PolicyError::load(cpath.display().to_string(), "no object"))?;
    b.add_constraint(constraint, &cpath.display().to_string(), None);
    b.build()
}

fn run_case(dir: &Path, set: &PolicySet, c: &Value) -> Result<(), String> {
    let object_rel = c.get("object").and_then(Value::as_str).ok_or("case has no `object`")?;
    let assertions = c.get("assertions").and_then(Value::as_array).cloned().unwrap_or_default();
    if assertions.is_empty() {
        return Err("case has no assertions".into());
    }
    let opath = dir.join(object_rel);
    let objects = load_objects(&opath)?;
    if objects.len() != 1 {
        return Err(format!("{} defines {} objects, want exactly 1", opath.display(), objects.len()));
    }
    let mut inventory_objects = Vec::new();
    for inv in c.get("inventory").and_then(Value::as_array).into_iter().flatten() {
        let p = dir.join(inv.as_str().ok_or("inventory entries must be paths")?);
        inventory_objects.extend(load_objects(&p)?);
    }
    let inventory = Inventory::from_objects(inventory_objects);
    let object = &objects[0];
    let results = if object.get("kind").and_then(Value::as_str) == Some("AdmissionReview")
        && object.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("admission.k8s.io/"))
    {
        let request = review::request_of_review(object).map_err(|e| e.to_string())?;
        set.review(request, &inventory, EnforcementPoint::Gator).map_err(|e| e.to_string())?
    } else {
        set.review_object(object, &inventory, EnforcementPoint::Gator).map_err(|e| e.to_string())?
    };
    for (i, a) in assertions.iter().enumerate() {
        check_assertion(a, &results).map_err(|e| format!("assertion {i}: {e}"))?;
    }
    Ok(())
}

/// gator's assertion check.
fn check_assertion(a: &Value, results: &[Violation]) -> Result<(), String> {
    let regex = match a.get("message").and_then(Value::as_str) {
        Some(m) => Some(regex::Regex::new(m).map_err(|e| format!("invalid message regex {m:?}: {e}"))?),
        None => None,
    };
    let matching = results.iter().filter(|r| regex.as_ref().is_none_or(|re| re.is_match(&r.msg))).count();
    let messages: Vec<&str> = results.iter().map(|r| r.msg.as_str()).collect();
    let about = regex.as_ref().map(|r| format!(" matching {:?}", r.as_str())).unwrap_or_default();
    let want = a.get("violations").cloned().unwrap_or(Value::from("yes"));
    let ok = match &want {
        Value::Number(n) => match n.as_u64() {
            Some(w) => matching as u64 == w,
            None => return Err("violations must be a nonnegative integer, \"yes\" or \"no\"".into()),
        },
        Value::String(s) if s == "yes" => matching > 0,
        Value::String(s) if s == "no" => matching == 0,
        // YAML 1.1 readers turn yes/no into booleans; accept them too.
        Value::Bool(true) => matching > 0,
        Value::Bool(false) => matching == 0,
        _ => return Err("violations must be a nonnegative integer, \"yes\" or \"no\"".into()),
    };
    if ok {
        Ok(())
    } else {
        let want_text = match &want {
            Value::String(s) if s == "yes" => "at least 1".to_string(),
            Value::String(s) if s == "no" => "none".to_string(),
            other => format!("exactly {other}"),
        };
        Err(format!("got {matching} violations{about} but want {want_text}; messages: {messages:?}"))
    }
}
