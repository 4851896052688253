//! The whole pipeline: load an image ([`crate::source`]), merge layers ([`crate::walker`]),
//! catalog packages ([`crate::catalog`]), match ([`crate::matcher`]), filter and suppress
//! ([`crate::suppress`]) into a [`crate::report::Report`].

use std::time::Instant;

use keelwatch_core::Severity;

use crate::Error;
use crate::catalog::{self, Inventory};
use crate::db::Database;
use crate::matcher;
use crate::report::{self, Report};
use crate::source::{self, LoadOptions, LoadStats, LoadedImage, Target};
use crate::suppress::{self, IgnoreEntry, VexStatement};
use crate::walker;

/// Filters applied to findings.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Only these severities (empty = all).
    pub severities: Vec<Severity>,
    /// Drop findings without a fixed version.
    pub ignore_unfixed: bool,
    pub vex: Vec<VexStatement>,
    pub ignores: Vec<IgnoreEntry>,
}

/// Load and catalog an image (no database needed): the SBOM path.
pub fn inventory(target: &Target, opts: &LoadOptions) -> Result<(LoadedImage, Inventory), Error> {
    let img = source::load(target, opts)?;
    let merged = walker::merge(&img.layers);
    let inv = catalog::catalog(&merged, &img.layer_ids);
    Ok((img, inv))
}

/// Scan an image against the database.
pub fn scan(target: &Target, opts: &LoadOptions, db: &Database, filters: &Filters) -> Result<Report, Error> {
    let start = Instant::now();
    let (img, inv) = inventory(target, opts)?;
    let loaded = start.elapsed();
    let mut findings = matcher::match_inventory(&inv, db)?;
    if !filters.severities.is_empty() {
        findings.retain(|f| filters.severities.contains(&f.severity));
    }
    if filters.ignore_unfixed {
        findings.retain(|f| f.fixed.is_some());
    }
    let today = chrono::Utc::now().date_naive();
    let (kept, suppressed, expired) = suppress::apply(findings, &filters.vex, &filters.ignores, &img.name, today);
    let mut warnings = inv.warnings.clone();
    for e in &expired {
        warnings.push(format!(
            "ignore entry {} (line {}) expired on {}; the finding is reported again",
            e.id,
            e.line,
            e.expires.clone().unwrap_or_default()
        ));
    }
    if inv.os.as_ref().is_some_and(|o| o.ecosystem.is_none()) {
        warnings.push(format!(
            "OS {:?} has no known advisory ecosystem; OS packages were not matched",
            inv.os.as_ref().map(|o| o.pretty_name.clone()).unwrap_or_default()
        ));
    }
    let stats = ScanTimes { load_ms: loaded.as_millis() as u64, total_ms: start.elapsed().as_millis() as u64 };
    Ok(report::build(&img, &inv, kept, suppressed, warnings, db, stats))
}

/// Timings of a scan.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanTimes {
    pub load_ms: u64,
    pub total_ms: u64,
}

/// Re-export for report building.
pub type Stats = LoadStats;
