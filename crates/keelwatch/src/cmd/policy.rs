//! `keelwatch policy …`: audit manifests, verify gator suites, list and render the built-in
//! library. All work happens in `keelwatch_policy`; this module parses flags and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use keelwatch_core::output::{Table, sarif};
use keelwatch_core::{LoadOptions, OutputFormat, Severity};
use keelwatch_policy::verify::Outcome;
use keelwatch_policy::{Action, AuditReport, EnforcementPoint, Library, PolicySet, PolicySetBuilder};

#[derive(Subcommand)]
pub enum Command {
    /// Audit manifests (files, directories, `-` for stdin) against assignments and/or
    /// Gatekeeper templates and constraints. Without --assignment and --policy, the built-in
    /// `pod-security-baseline` initiative is applied with effect Deny.
    /// Exit 0: no deny-level violation; 1: some; 2: usage or input errors.
    Audit(AuditArgs),
    /// Run gator Suite files (test.gatekeeper.sh/v1alpha1) found below each path.
    /// Exit 0 only when every case passes.
    Verify(VerifyArgs),
    /// List built-in definitions and initiatives with their parameters.
    List(ListArgs),
    /// Print the ConstraintTemplates and Constraints of assignments (and policies) as
    /// multi-document YAML for a real Gatekeeper.
    Render(RenderArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    /// Manifest files or directories (recursive: .yaml, .yml, .json); `-` reads stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Assignment file(s) (policy.keelwatch.dev/v1alpha1 Assignment).
    #[arg(long = "assignment", value_name = "FILE")]
    pub assignments: Vec<PathBuf>,
    /// ConstraintTemplates and Constraints (files or directories).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Output format: table, json, yaml or sarif.
    #[arg(short = 'o', long = "output", default_value = "table")]
    pub output: String,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Suite files or directories containing them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print only failures and the summary line.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ListArgs {
    /// Output format: table, json or yaml.
    #[arg(short = 'o', long = "output", default_value = "table")]
    pub output: String,
}

#[derive(Args)]
pub struct RenderArgs {
    /// Assignment file(s) to expand.
    #[arg(long = "assignment", value_name = "FILE", required = true)]
    pub assignments: Vec<PathBuf>,
    /// Extra ConstraintTemplates and Constraints to include.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Audit(a) => audit(a),
        Command::Verify(v) => verify(v),
        Command::List(l) => list(l),
        Command::Render(r) => render(r),
    }
}

/// The assignment used when `policy audit` gets neither --assignment nor --policy.
fn default_assignment() -> Value {
    json!({
        "apiVersion": keelwatch_policy::assignment::API_VERSION,
        "kind": "Assignment",
        "metadata": {"name": "default-baseline"},
        "spec": {"initiative": "pod-security-baseline", "effect": "Deny"}
    })
}

fn parse_format(s: &str) -> anyhow::Result<OutputFormat> {
    s.parse::<OutputFormat>().map_err(anyhow::Error::from)
}

fn build_set(policies: &[PathBuf], assignments: &[PathBuf], default: bool) -> anyhow::Result<PolicySet> {
    let mut b = PolicySetBuilder::new();
    b.add_paths(policies, false)?;
    b.add_paths(assignments, true)?;
    if default && policies.is_empty() && assignments.is_empty() {
        b.add_object(default_assignment(), "built-in default (pod-security-baseline, Deny)")?;
    }
    Ok(b.build()?)
}

fn audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    let format = parse_format(&a.output)?;
    let set = build_set(&a.policies, &a.assignments, true)?;
    let (report, load_errors) =
        keelwatch_policy::audit::audit_paths(&set, &a.paths, &LoadOptions::default(), EnforcementPoint::Audit);
    for e in &load_errors {
        eprintln!("error: {e}");
    }
    for e in &report.errors {
        eprintln!("error: {} {}: {}: {}", e.source, e.object.display(), e.constraint, e.message);
    }
    let out = match format {
        OutputFormat::Table => audit_table(&report),
        OutputFormat::Json => keelwatch_core::output::to_json_string(&report)?,
        OutputFormat::Yaml => keelwatch_core::output::to_yaml_string(&report)?,
        OutputFormat::Sarif => keelwatch_core::output::to_json_string(&audit_sarif(&report, &set))?,
    };
    print!("{out}");
    if report.deny_count() > 0 {
        Ok(ExitCode::from(1))
    } else if !load_errors.is_empty() || !report.errors.is_empty() {
        Ok(ExitCode::from(2))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn audit_table(r: &AuditReport) -> String {
    let mut out = String::new();
    if !r.findings.is_empty() {
        let mut t = Table::new(["OBJECT", "LOCATION", "CONSTRAINT", "ACTION", "MESSAGE"]);
        for f in &r.findings {
            t.row([
                f.object.display(),
                f.source.to_string(),
                f.violation.constraint_name.clone(),
                f.violation.action.to_string(),
                f.violation.msg.clone(),
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    let summary = |title: &str, groups: &[keelwatch_policy::GroupSummary]| -> String {
        let mut t = Table::new([title, "EVALUATED", "COMPLIANT", "NON-COMPLIANT", "COMPLIANCE"]);
        for g in groups {
            t.row([
                g.name.clone(),
                g.evaluated.to_string(),
                g.compliant.to_string(),
                g.non_compliant.to_string(),
                format!("{:.1}%", g.compliance_percent()),
            ]);
        }
        t.render()
    };
    out.push_str(&summary("ASSIGNMENT", &r.assignments));
    out.push('\n');
    out.push_str(&summary("DEFINITION", &r.definitions));
    out.push('\n');
    let count = |a: Action| r.findings.iter().filter(|f| f.violation.action == a).count();
    out.push_str(&format!(
        "{} objects audited, {} violations ({} deny, {} warn, {} dryrun), {} evaluation errors\n",
        r.objects,
        r.findings.len(),
        count(Action::Deny),
        count(Action::Warn),
        count(Action::Dryrun),
        r.errors.len()
    ));
    out
}

fn audit_sarif(r: &AuditReport, set: &PolicySet) -> sarif::SarifLog {
    let mut log = sarif::SarifLog::new("keelwatch", env!("CARGO_PKG_VERSION"), "https://example.invalid/keelwatch");
    let run = log.run_mut();
    for c in set.constraints() {
        let id = c.assignment.as_ref().map(|a| a.definition.clone()).unwrap_or_else(|| c.kind.clone());
        let t = set.template_of(c);
        run.add_rule(sarif::Rule::new(&id, &t.kind, &format!("Gatekeeper constraint kind {}", t.kind), Severity::High));
    }
    for f in &r.findings {
        let id = f.definition.clone().unwrap_or_else(|| f.violation.constraint_kind.clone());
        let severity = match f.violation.action {
            Action::Deny => Severity::High,
            Action::Warn => Severity::Medium,
            Action::Dryrun => Severity::Low,
        };
        let msg = format!("{} [{}] {}", f.object.display(), f.violation.constraint_name, f.violation.msg);
        let mut res = sarif::SarifResult::new(&id, severity, &msg, &f.source.path, f.source.line);
        res.properties =
            json!({"constraint": f.violation.constraint_name, "enforcementAction": f.violation.action.as_str()});
        run.add_result(res);
    }
    log
}

fn verify(v: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = keelwatch_policy::verify::verify_paths(&v.paths)?;
    if report.cases.is_empty() {
        bail!("no gator Suite files (kind: Suite, test.gatekeeper.sh/v1alpha1) found below the given paths");
    }
    for c in &report.cases {
        let name = if c.case.is_empty() { c.test.clone() } else { format!("{}/{}", c.test, c.case) };
        match &c.outcome {
            Outcome::Pass if !v.quiet => println!("ok    {}: {name}", c.suite.display()),
            Outcome::Pass => {}
            Outcome::Skip if !v.quiet => println!("skip  {}: {name}", c.suite.display()),
            Outcome::Skip => {}
            Outcome::Fail(why) => println!("FAIL  {}: {name}: {why}", c.suite.display()),
        }
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn list(l: ListArgs) -> anyhow::Result<ExitCode> {
    let format = parse_format(&l.output)?;
    let lib = Library::builtin()?;
    match format {
        OutputFormat::Table => {
            let mut t = Table::new(["DEFINITION", "CONSTRAINT KIND", "TITLE", "PARAMETERS"]);
            for d in lib.definitions() {
                let params: Vec<String> = d.parameters().iter().map(|p| format!("{} ({})", p.name, p.ty)).collect();
                t.row([d.name.clone(), d.template_kind.clone(), d.title.clone(), params.join(", ")]);
            }
            print!("{}", t.render());
            println!();
            let mut t = Table::new(["INITIATIVE", "TITLE", "DEFINITIONS"]);
            for i in lib.initiatives() {
                t.row([i.name.clone(), i.title.clone(), i.definitions.join(", ")]);
            }
            print!("{}", t.render());
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            let defs: Vec<Value> = lib
                .definitions()
                .iter()
                .map(|d| {
                    json!({"name": d.name, "constraintKind": d.template_kind, "title": d.title,
                           "description": d.description, "kinds": d.kinds, "parameters": d.parameters()})
                })
                .collect();
            let v = json!({"definitions": defs, "initiatives": lib.initiatives()});
            if format == OutputFormat::Json {
                print!("{}", keelwatch_core::output::to_json_string(&v)?);
            } else {
                print!("{}", keelwatch_core::output::to_yaml_string(&v)?);
            }
        }
        OutputFormat::Sarif => bail!("`policy list` supports table, json and yaml output"),
    }
    Ok(ExitCode::SUCCESS)
}

fn render(r: RenderArgs) -> anyhow::Result<ExitCode> {
    let set = build_set(&r.policies, &r.assignments, false).context("building the policy set")?;
    print!("{}", keelwatch_policy::render::render_yaml(&set));
    Ok(ExitCode::SUCCESS)
}
