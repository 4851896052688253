//! Suppression of findings: OpenVEX `not_affected` (and `fixed`) statements and an ignore
//! file. Suppressed findings are moved to the report's `suppressed` list with the reason, so
//! the report says what was hidden and why.
//!
//! Ignore file format (one entry per line, `#` starts a comment that becomes the reason):
//! `ID [exp:YYYY-MM-DD] [# reason]`. The id may be the advisory id or any alias (CVE).
//! Entries past their expiry date no longer suppress and are listed as expired.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::matcher::Finding;

/// One ignore-file entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreEntry {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub line: usize,
}

/// Parse an ignore file.
pub fn parse_ignore(text: &str, path: &str) -> Result<Vec<IgnoreEntry>, Error> {
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        let (body, reason) = match raw.split_once('#') {
            Some((b, r)) => (b.trim(), Some(r.trim().to_string()).filter(|r| !r.is_empty())),
            None => (raw.trim(), None),
        };
        if body.is_empty() {
            continue;
        }
        let mut parts = body.split_whitespace();
        let id = parts.next().unwrap_or("").to_string();
        let mut expires = None;
        for p in parts {
            match p.strip_prefix("exp:") {
                Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => expires = Some(d.to_string()),
                _ => {
                    return Err(Error::Input {
                        path: format!("{path}:{}", i + 1),
                        what: format!("unexpected '{p}': expected `ID [exp:YYYY-MM-DD] [# reason]`"),
                    });
                }
            }
        }
        out.push(IgnoreEntry { id, expires, reason, line: i + 1 });
    }
    Ok(out)
}

/// An OpenVEX statement reduced to what matching needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VexStatement {
    pub vulnerability: Vec<String>,
    pub products: Vec<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
}

#[derive(Deserialize)]
struct VexDoc {
    #[serde(default)]
    statements: Vec<Value>,
}

fn ids_of(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => {
            let mut out: Vec<String> =
                ["name", "@id"].iter().filter_map(|k| o.get(*k).and_then(|x| x.as_str()).map(str::to_string)).collect();
            if let Some(a) = o.get("aliases").and_then(|a| a.as_array()) {
                out.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
            out
        }
        _ => vec![],
    }
}

/// Parse an OpenVEX document (v0.2.0; the older string forms are accepted too).
pub fn parse_vex(data: &[u8], path: &str) -> Result<Vec<VexStatement>, Error> {
    let doc: VexDoc = serde_json::from_slice(data)
        .map_err(|e| Error::Input { path: path.to_string(), what: format!("not an OpenVEX JSON document: {e}") })?;
    let mut out = vec![];
    for (i, s) in doc.statements.iter().enumerate() {
        let status = s.get("status").and_then(|x| x.as_str()).unwrap_or("").to_string();
        let vulnerability = s.get("vulnerability").map(ids_of).unwrap_or_default();
        if vulnerability.is_empty() {
            return Err(Error::Input {
                path: format!("{path}: statements[{i}]"),
                what: "statement without vulnerability".into(),
            });
        }
        let mut products = vec![];
        if let Some(ps) = s.get("products").and_then(|p| p.as_array()) {
            for p in ps {
                products.extend(ids_of(p));
                if let Some(ids) = p.get("identifiers").and_then(|x| x.as_object()) {
                    products.extend(ids.values().filter_map(|x| x.as_str().map(str::to_string)));
                }
                if let Some(subs) = p.get("subcomponents").and_then(|x| x.as_array()) {
                    products.extend(subs.iter().flat_map(ids_of));
                }
            }
        }
        out.push(VexStatement {
            vulnerability,
            products,
            status,
            justification: s.get("justification").and_then(|x| x.as_str()).map(str::to_string),
            impact_statement: s.get("impact_statement").and_then(|x| x.as_str()).map(str::to_string),
        });
    }
    Ok(out)
}

fn purl_base(p: &str) -> &str {
    (p.split(['?', '#']).next().unwrap_or(p)) as _
}

fn product_matches(product: &str, f: &Finding, image: &str) -> bool {
    if product == image || product.is_empty() {
        return true;
    }
    if !product.starts_with("pkg:") {
        return false;
    }
    let want = purl_base(product);
    let have = purl_base(&f.purl);
    if want.contains('@') { want == have } else { have.split('@').next() == Some(want) }
}

/// A hidden finding and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suppressed {
    pub finding: Finding,
    /// `vex` or `ignore-file`.
    pub by: String,
    pub reason: String,
}

/// Split findings into kept and suppressed. Returns also the expired ignore entries.
pub fn apply(
    findings: Vec<Finding>,
    vex: &[VexStatement],
    ignores: &[IgnoreEntry],
    image: &str,
    today: chrono::NaiveDate,
) -> (Vec<Finding>, Vec<Suppressed>, Vec<IgnoreEntry>) {
    let mut kept = vec![];
    let mut gone = vec![];
    let expired: Vec<IgnoreEntry> = ignores
        .iter()
        .filter(|e| {
            e.expires
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .is_some_and(|d| d < today)
        })
        .cloned()
        .collect();
    'outer: for f in findings {
        let names: Vec<&str> = std::iter::once(f.id.as_str()).chain(f.aliases.iter().map(String::as_str)).collect();
        for s in vex {
            if (s.status == "not_affected" || s.status == "fixed")
                && s.vulnerability.iter().any(|v| names.contains(&v.as_str()))
                && (s.products.is_empty() || s.products.iter().any(|p| product_matches(p, &f, image)))
            {
                let why = [Some(format!("VEX {}", s.status)), s.justification.clone(), s.impact_statement.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                gone.push(Suppressed { finding: f, by: "vex".into(), reason: why });
                continue 'outer;
            }
        }
        for e in ignores {
            if names.contains(&e.id.as_str()) && !expired.contains(e) {
                let why = e.reason.clone().unwrap_or_else(|| format!("ignore file line {}", e.line));
                gone.push(Suppressed { finding: f, by: "ignore-file".into(), reason: why });
                continue 'outer;
            }
        }
        kept.push(f);
    }
    (kept, gone, expired)
}
