//! Matching installed packages against advisories.
//!
//! [`evaluate`] decides whether one installed version is affected by one [`AffectedEntry`]:
//! listed in `versions`, or inside an ECOSYSTEM/SEMVER range (events sorted with the
//! ecosystem's comparator; the last event at or below the version decides: `introduced`
//! opens, `fixed`/`limit` close at the version, `last_affected` closes above it).
//! [`match_packages`] picks, for each package, the ecosystem and name the advisories use
//! (Debian/Ubuntu source package, Alpine origin, RHEL-family binary name).

use std::cmp::Ordering;

use serde::Serialize;

use crate::db::{AffectedEntry, Event};
use crate::version::Family;

/// Fix status of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A fixed version exists.
    Fixed,
    /// Affected, no fix published.
    Affected,
    /// The vendor said it will not fix this.
    WillNotFix,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fixed => "fixed",
            Status::Affected => "affected",
            Status::WillNotFix => "will_not_fix",
        }
    }
}

/// Verdict for one installed version against one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// Lowest fixed version above the installed one, if any.
    pub fixed: Option<String>,
}

fn ev_version(e: &Event) -> &str {
    match e {
        Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
    }
}

/// Is `installed` affected by `entry`? `None` if not.
pub fn evaluate(fam: Family, installed: &str, entry: &AffectedEntry) -> Option<Verdict> {
    let cmp = |a: &str, b: &str| fam.compare(a, b);
    let mut affected = entry.versions.iter().any(|v| v == installed || cmp(v, installed) == Ordering::Equal);
    let mut fixed: Option<String> = None;
    for r in &entry.ranges {
        let mut evs: Vec<&Event> = r.events.iter().collect();
        evs.sort_by(|a, b| {
            let (va, vb) = (ev_version(a), ev_version(b));
            let za = matches!(a, Event::Introduced(v) if v == "0");
            let zb = matches!(b, Event::Introduced(v) if v == "0");
            match (za, zb) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => cmp(va, vb),
            }
        });
        let mut inside = false;
        for e in &evs {
            match e {
                Event::Introduced(v) => {
                    if v == "0" || cmp(v, installed) != Ordering::Greater {
                        inside = true;
                    }
                }
                Event::Fixed(v) | Event::Limit(v) => {
                    if cmp(v, installed) != Ordering::Greater {
                        inside = false;
                    }
                }
                Event::LastAffected(v) => {
                    if cmp(v, installed) == Ordering::Less {
                        inside = false;
                    }
                }
            }
        }
        if inside {
            affected = true;
            for e in &evs {
                if let Event::Fixed(v) = e
                    && cmp(v, installed) == Ordering::Greater
                    && fixed.as_deref().is_none_or(|f| cmp(v, f) == Ordering::Less)
                {
                    fixed = Some(v.clone());
                }
            }
        }
    }
    if !affected {
        return None;
    }
    let status = if fixed.is_some() {
        Status::Fixed
    } else if entry.wont_fix {
        Status::WillNotFix
    } else {
        Status::Affected
    };
    Some(Verdict { status, fixed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::RangeEntry;

    fn entry(events: Vec<Event>, versions: &[&str]) -> AffectedEntry {
        AffectedEntry {
            id: "X-1".into(),
            ecosystem: "PyPI".into(),
            package: "p".into(),
            adv: (0, 0),
            ranges: vec![RangeEntry { kind: "ECOSYSTEM".into(), events }],
            versions: versions.iter().map(|s| s.to_string()).collect(),
            severity: None,
            wont_fix: false,
        }
    }

    #[test]
    fn ranges() {
        use Event::*;
        let e = entry(
            vec![Introduced("1.0".into()), Fixed("1.5".into()), Introduced("2.0".into()), Fixed("2.1".into())],
            &[],
        );
        let f = Family::Pep440;
        assert!(evaluate(f, "0.9", &e).is_none());
        assert_eq!(evaluate(f, "1.0", &e).map(|v| v.fixed), Some(Some("1.5".into())));
        assert_eq!(evaluate(f, "1.4.9", &e).map(|v| v.status), Some(Status::Fixed));
        assert!(evaluate(f, "1.5", &e).is_none());
        assert!(evaluate(f, "1.9", &e).is_none());
        assert_eq!(evaluate(f, "2.0.5", &e).and_then(|v| v.fixed), Some("2.1".into()));
        assert!(evaluate(f, "2.1", &e).is_none());
        let e = entry(vec![Introduced("0".into()), LastAffected("3.0".into())], &[]);
        assert_eq!(evaluate(f, "3.0", &e).map(|v| v.status), Some(Status::Affected));
        assert!(evaluate(f, "3.0.1", &e).is_none());
        let e = entry(vec![Introduced("0".into())], &[]);
        assert_eq!(evaluate(Family::Dpkg, "1:2.3-4", &e).map(|v| (v.status, v.fixed)), Some((Status::Affected, None)));
        let mut e = entry(vec![], &["1.2.3"]);
        e.ranges.clear();
        assert!(evaluate(f, "1.2.3", &e).is_some());
        assert!(evaluate(f, "1.2.4", &e).is_none());
        e.wont_fix = true;
        assert_eq!(evaluate(f, "1.2.3", &e).map(|v| v.status), Some(Status::WillNotFix));
    }
}

use crate::catalog::{Inventory, Package, PkgKind};
use crate::cvss::Cvss;
use crate::db::Database;
use keelwatch_core::Severity;

/// One vulnerability in one installed package.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Advisory id (`ALSA-2024:0265`, `PYSEC-2021-66`, `GO-2023-1234`).
    pub id: String,
    /// Other ids for the same issue (CVE, GHSA...).
    pub aliases: Vec<String>,
    pub package: String,
    /// Name the advisory uses when it differs (source package).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory_package: Option<String>,
    pub installed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub status: Status,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    pub title: String,
    pub references: Vec<String>,
    pub ecosystem: String,
    #[serde(rename = "type")]
    pub kind: PkgKind,
    pub purl: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

/// What the advisories call this package, and the version to compare, per ecosystem.
pub fn query_for(p: &Package, os_ecosystem: Option<&str>) -> Vec<(String, String, String)> {
    match p.kind {
        PkgKind::Deb => {
            let Some(eco) = os_ecosystem else { return vec![] };
            let name = p.source_name.clone().unwrap_or_else(|| p.name.clone());
            let ver = p.source_version.clone().unwrap_or_else(|| p.version.clone());
            let mut out = vec![(eco.to_string(), name.clone(), ver.clone())];
            if eco.starts_with("Ubuntu:") {
                out.push((format!("{eco}:LTS"), name, ver));
            }
            out
        }
        PkgKind::Apk => {
            let Some(eco) = os_ecosystem else { return vec![] };
            vec![(eco.to_string(), p.source_name.clone().unwrap_or_else(|| p.name.clone()), p.version.clone())]
        }
        PkgKind::Rpm => {
            let Some(eco) = os_ecosystem else { return vec![] };
            vec![(eco.to_string(), p.name.clone(), p.version.clone())]
        }
        k => match k.lang_ecosystem() {
            Some(eco) => vec![(eco.to_string(), p.name.clone(), p.version.clone())],
            None => vec![],
        },
    }
}

/// Match every package of the inventory against the database. Findings are sorted by
/// package, then severity (highest first), then id.
pub fn match_inventory(inv: &Inventory, db: &Database) -> Result<Vec<Finding>, crate::Error> {
    let os_eco = inv.os.as_ref().and_then(|o| o.ecosystem.clone());
    let mut out = vec![];
    let mut adv_cache: std::collections::HashMap<String, crate::db::Advisory> = std::collections::HashMap::new();
    for p in &inv.packages {
        let mut seen = std::collections::HashSet::new();
        for (eco, name, ver) in query_for(p, os_eco.as_deref()) {
            let Some(fam) = Family::for_ecosystem(&eco) else { continue };
            for e in db.lookup(&eco, &name)? {
                let Some(v) = evaluate(fam, &ver, &e) else { continue };
                if !seen.insert(e.id.clone()) {
                    continue;
                }
                if !adv_cache.contains_key(&e.id) {
                    adv_cache.insert(e.id.clone(), db.advisory(&e)?);
                }
                let a = &adv_cache[&e.id];
                let severity =
                    if a.severity == Severity::Unknown { e.severity.unwrap_or(Severity::Unknown) } else { a.severity };
                out.push(Finding {
                    id: e.id.clone(),
                    aliases: a.aliases.clone(),
                    package: p.name.clone(),
                    advisory_package: (name != p.name).then(|| name.clone()),
                    installed: p.version.clone(),
                    fixed: v.fixed,
                    status: v.status,
                    severity,
                    cvss: a.cvss.clone(),
                    title: a.summary.clone(),
                    references: a.references.clone(),
                    ecosystem: eco.clone(),
                    kind: p.kind,
                    purl: p.purl.clone(),
                    path: p.path.clone(),
                    layer: p.layer.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.package, &a.path, std::cmp::Reverse(a.severity), &a.id).cmp(&(
            &b.package,
            &b.path,
            std::cmp::Reverse(b.severity),
            &b.id,
        ))
    });
    Ok(out)
}
