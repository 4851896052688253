//! Reports: the versioned JSON document ([`Report`], schema [`SCHEMA`]), the text table, SARIF
//! 2.1.0 and CycloneDX 1.5 (SBOM alone or with vulnerabilities and VEX analysis).
//!
//! JSON schema `keelwatch.vuln/v1` (documented in docs/vuln.md): `schema`, `artifact`
//! {name, type, digest, layers}, `os`, `db` {built, advisories}, `targets[]` {name, class,
//! type, packages[], vulnerabilities[]}, `suppressed[]` {finding, by, reason}, `warnings[]`,
//! `stats`. A finding has id, aliases, package, installed, fixed, status, severity, cvss,
//! title, references, ecosystem, type, purl, path, layer. New fields may be added within v1;
//! renames or removals bump the version.

use std::collections::BTreeMap;

use keelwatch_core::Severity;
use keelwatch_core::output::Table;
use keelwatch_core::output::sarif::{Message, Rule, SarifLog, SarifResult};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::{Inventory, OsInfo, Package};
use crate::db::Database;
use crate::matcher::Finding;
use crate::scan::ScanTimes;
use crate::source::{LoadStats, LoadedImage};
use crate::suppress::Suppressed;

/// JSON report schema identifier.
pub const SCHEMA: &str = "keelwatch.vuln/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Layer diffIDs, lowest first.
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DbInfo {
    pub built: String,
    pub advisories: usize,
}

/// Packages and findings of one target (the OS, or one language/binary).
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub name: String,
    /// `os-pkgs` or `lang-pkgs`.
    pub class: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub packages: Vec<Package>,
    pub vulnerabilities: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    #[serde(flatten)]
    pub load: LoadStats,
    #[serde(flatten)]
    pub times: ScanTimes,
}

/// The full scan report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub artifact: Artifact,
    pub os: Option<OsInfo>,
    pub db: DbInfo,
    pub targets: Vec<TargetReport>,
    pub suppressed: Vec<Suppressed>,
    pub warnings: Vec<String>,
    pub stats: Stats,
}

fn target_key(p: &Package, os: Option<&OsInfo>) -> (String, String, String) {
    use crate::catalog::PkgKind::*;
    match p.kind {
        Deb | Apk | Rpm => {
            let osname = os.map(|o| format!("{} {}", o.id, o.version_id)).unwrap_or_else(|| "unknown OS".into());
            (format!("{} ({})", osname.trim(), p.kind.title()), "os-pkgs".into(), p.kind.title().into())
        }
        Go | GoStdlib | Maven | RustBinary => {
            let outer = p.path.split("!/").next().unwrap_or(&p.path).to_string();
            let kind = match p.kind {
                Maven => "jar",
                RustBinary => "rustbinary",
                _ => "gobinary",
            };
            (outer, "lang-pkgs".into(), kind.into())
        }
        k => (k.title().to_string(), "lang-pkgs".into(), k.title().to_ascii_lowercase()),
    }
}

/// Assemble the report. Targets: OS first, then language targets by name.
pub fn build(
    img: &LoadedImage,
    inv: &Inventory,
    findings: Vec<Finding>,
    suppressed: Vec<Suppressed>,
    warnings: Vec<String>,
    db: &Database,
    times: ScanTimes,
) -> Report {
    let mut targets: BTreeMap<(bool, String), TargetReport> = BTreeMap::new();
    for p in &inv.packages {
        let (name, class, kind) = target_key(p, inv.os.as_ref());
        let t = targets.entry((class != "os-pkgs", name.clone())).or_insert_with(|| TargetReport {
            name,
            class,
            kind,
            packages: vec![],
            vulnerabilities: vec![],
        });
        t.packages.push(p.clone());
    }
    for f in findings {
        let probe = Package {
            name: f.package.clone(),
            version: f.installed.clone(),
            kind: f.kind,
            source_name: None,
            source_version: None,
            arch: None,
            purl: f.purl.clone(),
            path: f.path.clone(),
            layer: None,
            go_version: None,
        };
        let (name, class, _) = target_key(&probe, inv.os.as_ref());
        if let Some(t) = targets.get_mut(&(class != "os-pkgs", name)) {
            t.vulnerabilities.push(f);
        }
    }
    Report {
        schema: SCHEMA,
        artifact: Artifact {
            name: img.name.clone(),
            kind: img.kind.to_string(),
            digest: img.digest.clone(),
            layers: img.layer_ids.iter().flatten().cloned().collect(),
        },
        os: inv.os.clone(),
        db: DbInfo { built: db.meta().built.clone(), advisories: db.meta().advisories },
        targets: targets.into_values().collect(),
        suppressed,
        warnings,
        stats: Stats { load: img.stats.clone(), times },
    }
}

impl Report {
    /// All findings across targets.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.targets.iter().flat_map(|t| t.vulnerabilities.iter())
    }
}

fn counts(fs: &[Finding]) -> String {
    let mut parts = vec![];
    for s in Severity::ALL.iter().rev() {
        let n = fs.iter().filter(|f| f.severity == *s).count();
        if n > 0 || matches!(s, Severity::Critical | Severity::High | Severity::Medium | Severity::Low) {
            parts.push(format!("{}: {n}", s.as_str()));
        }
    }
    format!("Total: {} ({})", fs.len(), parts.join(", "))
}

/// Human-readable table grouped by target with a severity summary.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!("{} ({})", r.artifact.name, r.artifact.kind));
    if let Some(os) = &r.os {
        out.push_str(&format!(
            " — {}",
            if os.pretty_name.is_empty() { format!("{} {}", os.id, os.version_id) } else { os.pretty_name.clone() }
        ));
    }
    out.push('\n');
    for t in &r.targets {
        out.push_str(&format!(
            "\n{} [{}] — {} packages\n{}\n",
            t.name,
            t.kind,
            t.packages.len(),
            counts(&t.vulnerabilities)
        ));
        if t.vulnerabilities.is_empty() {
            continue;
        }
        let mut tab =
            Table::new(["PACKAGE", "VULNERABILITY", "SEVERITY", "STATUS", "INSTALLED", "FIXED", "TITLE"]).max_width(60);
        for f in &t.vulnerabilities {
            let id = match f.aliases.iter().find(|a| a.starts_with("CVE-")) {
                Some(c) if *c != f.id => format!("{} ({c})", f.id),
                _ => f.id.clone(),
            };
            tab.row([
                f.package.clone(),
                id,
                f.severity.as_str().to_string(),
                f.status.as_str().to_string(),
                f.installed.clone(),
                f.fixed.clone().unwrap_or_default(),
                f.title.clone(),
            ]);
        }
        out.push_str(&tab.render());
    }
    if !r.suppressed.is_empty() {
        out.push_str(&format!("\nSuppressed: {}\n", r.suppressed.len()));
        let mut tab = Table::new(["PACKAGE", "VULNERABILITY", "BY", "REASON"]).max_width(70);
        for s in &r.suppressed {
            tab.row([s.finding.package.clone(), s.finding.id.clone(), s.by.clone(), s.reason.clone()]);
        }
        out.push_str(&tab.render());
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// SARIF 2.1.0: one rule per advisory id, one result per finding located at the package's file.
pub fn render_sarif(r: &Report) -> SarifLog {
    let mut log = SarifLog::new("keelwatch", env!("CARGO_PKG_VERSION"), "https://example.invalid/keelwatch");
    let run = log.run_mut();
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    for f in r.findings() {
        if !rules.contains_key(&f.id) {
            let mut rule = Rule::new(&f.id, &f.id, if f.title.is_empty() { &f.id } else { &f.title }, f.severity);
            rule.help_uri = f.references.first().cloned();
            rule.help = Some(Message::new(&format!(
                "{} affects {} {}. {}",
                f.id,
                f.package,
                f.installed,
                f.fixed.as_ref().map(|x| format!("Fixed in {x}.")).unwrap_or_else(|| "No fix available.".into())
            )));
            rule.properties = json!({"tags": ["vulnerability", "security", f.severity.as_str()], "security-severity": f.cvss.iter().filter_map(|c| c.score).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s)))).map(|s| format!("{s:.1}"))});
            let idx = run.add_rule(rule);
            rules.insert(f.id.clone(), idx);
        }
        let msg = format!(
            "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nStatus: {}",
            f.package,
            f.installed,
            f.id,
            f.severity.as_str(),
            f.fixed.clone().unwrap_or_default(),
            f.status.as_str()
        );
        let mut res = SarifResult::new(
            &f.id,
            f.severity,
            &msg,
            &format!("{}/{}", r.artifact.name.trim_end_matches('/'), f.path),
            0,
        );
        res.properties = json!({"purl": f.purl, "aliases": f.aliases, "layer": f.layer});
        run.add_result(res);
    }
    log
}

fn bom_ref(p: &Package) -> String {
    format!("{}#{}", p.purl, p.path)
}

fn uuid_from(bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// CycloneDX 1.5 JSON: components (OS and language packages) and, when given, vulnerabilities
/// with ratings, affects and — for suppressed ones — a VEX `analysis`.
pub fn render_cyclonedx(
    artifact: &Artifact,
    os: Option<&OsInfo>,
    packages: &[Package],
    findings: Option<(&[Finding], &[Suppressed])>,
) -> Value {
    let mut comps: Vec<Value> = vec![];
    if let Some(o) = os {
        comps.push(json!({"bom-ref": format!("os:{}-{}", o.id, o.version_id), "type": "operating-system", "name": o.id, "version": o.version_id, "description": o.pretty_name}));
    }
    for p in packages {
        let mut props = vec![
            json!({"name": "keelwatch:package:type", "value": format!("{:?}", p.kind).to_ascii_lowercase()}),
            json!({"name": "keelwatch:path", "value": p.path}),
        ];
        if let Some(l) = &p.layer {
            props.push(json!({"name": "keelwatch:layer", "value": l}));
        }
        if let Some(s) = &p.source_name {
            props.push(json!({"name": "keelwatch:source:name", "value": s}));
        }
        if let Some(s) = &p.source_version {
            props.push(json!({"name": "keelwatch:source:version", "value": s}));
        }
        comps.push(json!({"bom-ref": bom_ref(p), "type": "library", "name": p.name, "version": p.version, "purl": p.purl, "properties": props}));
    }
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "tools": {"components": [{"type": "application", "name": "keelwatch", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"bom-ref": "artifact", "type": "container", "name": artifact.name, "version": artifact.digest.clone().unwrap_or_default()}
        },
        "components": comps,
    });
    if let Some((fs, sup)) = findings {
        let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
        let mut add = |f: &Finding, analysis: Option<Value>| {
            let r = format!("{}#{}", f.purl, f.path);
            let key = format!("{}|{}", f.id, analysis.is_some());
            let e = by_id.entry(key).or_insert_with(|| {
                let mut ratings: Vec<Value> = f
                    .cvss
                    .iter()
                    .map(|c| {
                        let method = match c.version.as_str() {
                            "3.1" => "CVSSv31",
                            "3.0" => "CVSSv3",
                            "4.0" => "CVSSv4",
                            _ => "CVSSv2",
                        };
                        let mut v = json!({"method": method, "vector": c.vector, "severity": f.severity.as_str().to_ascii_lowercase()});
                        if let Some(s) = c.score {
                            v["score"] = json!(s);
                        }
                        v
                    })
                    .collect();
                if ratings.is_empty() {
                    ratings.push(json!({"severity": match f.severity { Severity::Unknown => "unknown".to_string(), Severity::Informational => "info".to_string(), s => s.as_str().to_ascii_lowercase() }, "method": "other"}));
                }
                let mut v = json!({
                    "bom-ref": format!("vuln:{}", f.id),
                    "id": f.id,
                    "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", f.id)},
                    "references": f.aliases.iter().map(|a| json!({"id": a, "source": {"name": if a.starts_with("CVE-") {"NVD"} else {"OSV"}}})).collect::<Vec<_>>(),
                    "ratings": ratings,
                    "description": f.title,
                    "advisories": f.references.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
                    "affects": [],
                });
                if let Some(fx) = &f.fixed {
                    v["recommendation"] = json!(format!("Upgrade {} to {fx}", f.package));
                }
                if let Some(a) = &analysis {
                    v["analysis"] = a.clone();
                }
                v
            });
            if let Some(a) = e["affects"].as_array_mut() {
                a.push(json!({"ref": r, "versions": [{"version": f.installed, "status": "affected"}]}));
            }
        };
        for f in fs {
            add(f, None);
        }
        for s in sup {
            let state = if s.by == "vex" && s.reason.starts_with("VEX fixed") { "resolved" } else { "not_affected" };
            add(&s.finding, Some(json!({"state": state, "detail": format!("{}: {}", s.by, s.reason)})));
        }
        doc["vulnerabilities"] = Value::Array(by_id.into_values().collect());
    }
    let serial = uuid_from(serde_json::to_vec(&doc["components"]).unwrap_or_default().as_slice());
    doc["serialNumber"] = json!(serial);
    doc
}
