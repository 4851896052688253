//! The offline OSV advisory database: import (zip dumps, directories, single JSON files),
//! download (`<ECOSYSTEM>/all.zip` from OSV or a mirror), status, and the on-disk index.
//!
//! # On-disk format (format version 1), in the database directory
//! - `meta.json` — format version, build time, records per ecosystem, sources (origin, time).
//! - `advisories.bin` — concatenated compact JSON objects, one per advisory id ([`Advisory`]:
//!   aliases, summary, severity, CVSS, references). Written sorted by id.
//! - `packages.bin` — concatenated compact JSON arrays, one per (ecosystem, package) key, of
//!   [`AffectedEntry`] (advisory id + offset/length of its advisory blob, ranges, versions).
//! - `packages.idx` — the sorted key file: magic `KWOSVIX1`, u32 LE count, then per key
//!   u16 LE key length, key bytes (`ecosystem` NUL `normalised name`), u64 LE offset and
//!   u32 LE length into `packages.bin`.
//!
//! Why: a scan needs "advisories for (ecosystem, package)" a few thousand times. The key file
//! is small (a few MB for all of OSV), is read once and binary-searched; each lookup then
//! reads one blob with `pread` and, for hits only, one advisory blob. No external store, no
//! full parse of the database per scan, deterministic output (sorted keys and ids), and the
//! whole thing is rebuilt atomically (write to a temp dir, rename) on import.
//!
//! Import replaces, per ecosystem family named in the input (`AlmaLinux` covers
//! `AlmaLinux:8/9/10`), what the database held; other ecosystems are carried over. Records
//! with the same id from different inputs (e.g. `almalinux8/` and `almalinux9/` paths) are
//! merged: affected entries are kept per ecosystem key, aliases and references are unioned.
//! Withdrawn records are ignored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use keelwatch_core::Severity;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cvss::{self, Cvss};
use crate::osv;
use crate::zipread::ZipFile;

/// On-disk format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
const IDX_MAGIC: &[u8; 8] = b"KWOSVIX1";
/// Largest single OSV JSON record accepted.
const MAX_RECORD: u64 = 32 << 20;
/// Largest `all.zip` download accepted.
const MAX_DOWNLOAD: u64 = 4 << 30;
/// Default OSV dump location.
pub const OSV_BUCKET: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// Advisory-level data shared by every package it affects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cvss: Vec<Cvss>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default)]
    pub modified: String,
}

/// One range event, in OSV's own JSON shape (`{"introduced": "0"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// An ECOSYSTEM or SEMVER range (GIT ranges are not used for packages and are dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub events: Vec<Event>,
}

/// What one advisory says about one (ecosystem, package).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedEntry {
    pub id: String,
    /// Ecosystem exactly as the record spells it.
    pub ecosystem: String,
    /// Package name exactly as the record spells it.
    pub package: String,
    /// Offset and length of the advisory blob in `advisories.bin`.
    #[serde(default)]
    pub adv: (u64, u32),
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<RangeEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Severity label given for this package (ecosystem/database_specific), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The data says the vendor will not fix this package.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wont_fix: bool,
}

/// Where a part of the database came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Ecosystem families this source provided (`AlmaLinux`, `PyPI`).
    pub ecosystems: Vec<String>,
    /// File path or URL.
    pub origin: String,
    /// RFC 3339 time of import.
    pub imported: String,
    pub records: usize,
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    /// RFC 3339 time the index was built.
    pub built: String,
    /// Distinct advisory ids per ecosystem (`AlmaLinux:9` → n).
    pub ecosystems: BTreeMap<String, usize>,
    pub advisories: usize,
    pub packages: usize,
    pub sources: Vec<SourceInfo>,
}

/// Summary of an import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub files_read: usize,
    pub records_imported: usize,
    pub withdrawn_skipped: usize,
    pub invalid_skipped: usize,
    /// The first few invalid records with the reason.
    pub invalid_examples: Vec<String>,
    pub ecosystems: BTreeMap<String, usize>,
    pub advisories_total: usize,
}

/// Default database directory: `$XDG_CACHE_HOME/keelwatch/db`, else `~/.cache/keelwatch/db`.
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("keelwatch").join("db")
}

/// Normalise a package name the way the ecosystem compares names (PyPI: PEP 503).
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        let mut out = String::with_capacity(name.len());
        let mut sep = false;
        for c in name.trim().chars() {
            if c == '-' || c == '_' || c == '.' {
                sep = true;
            } else {
                if sep && !out.is_empty() {
                    out.push('-');
                }
                sep = false;
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    } else {
        name.to_string()
    }
}

fn key(ecosystem: &str, name: &str) -> String {
    format!("{ecosystem}\0{}", normalize_name(ecosystem, name))
}

fn eco_base(eco: &str) -> &str {
    eco.split(':').next().unwrap_or(eco)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn label(v: Option<&serde_json::Value>) -> Option<Severity> {
    let v = v?;
    let s = v.get("severity").or_else(|| v.get("Severity"))?;
    let s = s.as_str().or_else(|| s.get("level").and_then(|x| x.as_str()))?;
    Severity::from_str(s).ok().filter(|s| *s != Severity::Unknown)
}

fn wont_fix(v: Option<&serde_json::Value>) -> bool {
    fn walk(v: &serde_json::Value, depth: usize) -> bool {
        if depth > 4 {
            return false;
        }
        match v {
            serde_json::Value::String(s) => {
                let s = s.to_ascii_lowercase().replace(['-', '_', '\''], " ");
                s == "will not fix" || s == "wont fix" || s == "won t fix"
            }
            serde_json::Value::Object(m) => m.values().any(|x| walk(x, depth + 1)),
            serde_json::Value::Array(a) => a.iter().any(|x| walk(x, depth + 1)),
            _ => false,
        }
    }
    v.is_some_and(|v| walk(v, 0))
}

/// Severity and CVSS list of a record: highest computed CVSS v3 score, else the record's label
/// (`database_specific.severity`, or a `Low:`/`Moderate:`/`Important:`/`Critical:` summary
/// prefix as RHEL-family advisories use), else UNKNOWN.
fn advisory_of(rec: &osv::Record) -> Advisory {
    let mut cv: Vec<Cvss> = rec.severity.iter().filter_map(|s| cvss::from_osv(&s.kind, &s.score)).collect();
    for a in &rec.affected {
        for s in &a.severity {
            if let Some(c) = cvss::from_osv(&s.kind, &s.score)
                && !cv.iter().any(|x| x.vector == c.vector)
            {
                cv.push(c);
            }
        }
    }
    let best = cv.iter().filter_map(|c| c.score).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
    let summary = rec.summary.clone().unwrap_or_default();
    let severity = best
        .map(Severity::from_cvss)
        .filter(|s| *s != Severity::Unknown)
        .or_else(|| label(rec.database_specific.as_ref()))
        .or_else(|| rec.severity.iter().find(|s| s.kind == "Ubuntu").and_then(|s| Severity::from_str(&s.score).ok()))
        .or_else(|| {
            let (head, _) = summary.split_once(':')?;
            match head.trim() {
                "Low" | "Moderate" | "Important" | "Critical" => Severity::from_str(head.trim()).ok(),
                _ => None,
            }
        })
        .unwrap_or(Severity::Unknown);
    let mut summary = summary;
    if summary.is_empty()
        && let Some(d) = &rec.details
    {
        summary = d.lines().next().unwrap_or("").chars().take(200).collect();
    }
    Advisory {
        id: rec.id.clone(),
        aliases: rec.aliases.clone(),
        summary,
        severity,
        cvss: cv,
        references: rec.references.iter().map(|r| r.url.clone()).filter(|u| !u.is_empty()).take(16).collect(),
        published: rec.published.clone(),
        modified: rec.modified.clone(),
    }
}

/// Accumulates records, then writes the index.
#[derive(Default)]
struct Builder {
    packages: HashMap<String, Vec<AffectedEntry>>,
    advisories: HashMap<String, Advisory>,
    eco_ids: BTreeMap<String, BTreeSet<String>>,
}

impl Builder {
    fn add_advisory(&mut self, adv: Advisory) {
        match self.advisories.get_mut(&adv.id) {
            None => {
                self.advisories.insert(adv.id.clone(), adv);
            }
            Some(old) => {
                for a in adv.aliases {
                    if !old.aliases.contains(&a) {
                        old.aliases.push(a);
                    }
                }
                for r in adv.references {
                    if !old.references.contains(&r) && old.references.len() < 32 {
                        old.references.push(r);
                    }
                }
                for c in adv.cvss {
                    if !old.cvss.iter().any(|x| x.vector == c.vector) {
                        old.cvss.push(c);
                    }
                }
                old.severity = old.severity.max(adv.severity);
                if old.summary.is_empty() {
                    old.summary = adv.summary;
                }
                if adv.modified > old.modified {
                    old.modified = adv.modified;
                }
            }
        }
    }

    fn add_entry(&mut self, e: AffectedEntry) {
        self.eco_ids.entry(e.ecosystem.clone()).or_default().insert(e.id.clone());
        let list = self.packages.entry(key(&e.ecosystem, &e.package)).or_default();
        if let Some(old) = list.iter_mut().find(|x| x.id == e.id) {
            for r in e.ranges {
                if !old.ranges.contains(&r) {
                    old.ranges.push(r);
                }
            }
            for v in e.versions {
                if !old.versions.contains(&v) {
                    old.versions.push(v);
                }
            }
            old.severity = old.severity.max(e.severity);
            old.wont_fix |= e.wont_fix;
        } else {
            list.push(e);
        }
    }

    /// Add one OSV record; returns the ecosystems it touched.
    fn add_record(&mut self, rec: &osv::Record) -> BTreeSet<String> {
        let mut ecos = BTreeSet::new();
        for a in &rec.affected {
            let Some(p) = &a.package else { continue };
            if p.ecosystem.is_empty() || p.name.is_empty() {
                continue;
            }
            let ranges: Vec<RangeEntry> = a
                .ranges
                .iter()
                .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
                .map(|r| RangeEntry {
                    kind: r.kind.clone(),
                    events: r
                        .events
                        .iter()
                        .filter_map(|e| {
                            if let Some(v) = &e.introduced {
                                Some(Event::Introduced(v.clone()))
                            } else if let Some(v) = &e.fixed {
                                Some(Event::Fixed(v.clone()))
                            } else if let Some(v) = &e.last_affected {
                                Some(Event::LastAffected(v.clone()))
                            } else {
                                e.limit.as_ref().map(|v| Event::Limit(v.clone()))
                            }
                        })
                        .collect(),
                })
                .filter(|r: &RangeEntry| !r.events.is_empty())
                .collect();
            if ranges.is_empty() && a.versions.is_empty() {
                continue;
            }
            ecos.insert(p.ecosystem.clone());
            self.add_entry(AffectedEntry {
                id: rec.id.clone(),
                ecosystem: p.ecosystem.clone(),
                package: p.name.clone(),
                adv: (0, 0),
                ranges,
                versions: a.versions.clone(),
                severity: label(a.ecosystem_specific.as_ref()).or_else(|| label(a.database_specific.as_ref())),
                wont_fix: wont_fix(a.ecosystem_specific.as_ref()) || wont_fix(a.database_specific.as_ref()),
            });
        }
        if !ecos.is_empty() {
            self.add_advisory(advisory_of(rec));
        }
        ecos
    }

    fn write(mut self, dir: &Path, sources: Vec<SourceInfo>) -> Result<Meta, Error> {
        let dberr = |what: String| Error::Db { dir: dir.to_path_buf(), what };
        let parent = dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = parent.join(format!(
            ".{}.tmp-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("db"),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;

        let mut ids: Vec<&String> = self.advisories.keys().collect();
        ids.sort();
        let mut adv_pos: HashMap<String, (u64, u32)> = HashMap::with_capacity(ids.len());
        let mut abuf: Vec<u8> = Vec::new();
        for id in ids {
            let a = &self.advisories[id];
            let start = abuf.len() as u64;
            serde_json::to_writer(&mut abuf, a).map_err(|e| dberr(format!("serialise advisory {id}: {e}")))?;
            adv_pos.insert(id.clone(), (start, (abuf.len() as u64 - start) as u32));
        }
        let mut keys: Vec<String> = self.packages.keys().cloned().collect();
        keys.sort();
        let mut pbuf: Vec<u8> = Vec::new();
        let mut ibuf: Vec<u8> = Vec::with_capacity(keys.len() * 40 + 12);
        ibuf.extend_from_slice(IDX_MAGIC);
        ibuf.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for k in &keys {
            let mut list = self.packages.remove(k).unwrap_or_default();
            list.sort_by(|a, b| a.id.cmp(&b.id));
            for e in &mut list {
                e.adv = adv_pos.get(&e.id).copied().unwrap_or((0, 0));
            }
            let start = pbuf.len() as u64;
            serde_json::to_writer(&mut pbuf, &list).map_err(|e| dberr(format!("serialise entries: {e}")))?;
            let kb = k.as_bytes();
            if kb.len() > u16::MAX as usize {
                continue;
            }
            ibuf.extend_from_slice(&(kb.len() as u16).to_le_bytes());
            ibuf.extend_from_slice(kb);
            ibuf.extend_from_slice(&start.to_le_bytes());
            ibuf.extend_from_slice(&((pbuf.len() as u64 - start) as u32).to_le_bytes());
        }
        let meta = Meta {
            format: FORMAT_VERSION,
            built: now_rfc3339(),
            ecosystems: self.eco_ids.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
            advisories: self.advisories.len(),
            packages: keys.len(),
            sources,
        };
        let put = |name: &str, data: &[u8]| -> Result<(), Error> {
            let p = tmp.join(name);
            let mut f = File::create(&p).map_err(|e| Error::io(&p, e))?;
            f.write_all(data).map_err(|e| Error::io(&p, e))?;
            f.sync_all().map_err(|e| Error::io(&p, e))
        };
        put("advisories.bin", &abuf)?;
        put("packages.bin", &pbuf)?;
        put("packages.idx", &ibuf)?;
        put("meta.json", &serde_json::to_vec_pretty(&meta).map_err(|e| dberr(e.to_string()))?)?;
        // Swap directories: old → .old, tmp → dir.
        let old = parent.join(format!(
            ".{}.old-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("db"),
            std::process::id()
        ));
        if dir.exists() {
            fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        }
        fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        let _ = fs::remove_dir_all(&old);
        Ok(meta)
    }
}

/// An opened database.
pub struct Database {
    dir: PathBuf,
    meta: Meta,
    index: Vec<(String, u64, u32)>,
    packages: File,
    advisories: File,
}

impl Database {
    /// Open the database in `dir`. Errors say to run `keelwatch db import` / `db update` when
    /// the directory holds no database.
    pub fn open(dir: &Path) -> Result<Database, Error> {
        let dberr = |what: String| Error::Db { dir: dir.to_path_buf(), what };
        let mp = dir.join("meta.json");
        let text = fs::read(&mp).map_err(|e| {
            dberr(format!("no database here ({e}); create one with `keelwatch db import FILE.zip` or `keelwatch db update --ecosystem E`"))
        })?;
        let meta: Meta = serde_json::from_slice(&text).map_err(|e| dberr(format!("meta.json: {e}")))?;
        if meta.format != FORMAT_VERSION {
            return Err(dberr(format!(
                "format {} is not the supported format {FORMAT_VERSION}; re-import",
                meta.format
            )));
        }
        let ip = dir.join("packages.idx");
        let raw = fs::read(&ip).map_err(|e| Error::io(&ip, e))?;
        if raw.len() < 12 || &raw[..8] != IDX_MAGIC {
            return Err(dberr("packages.idx: bad magic; re-import".into()));
        }
        let n = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
        let mut index = Vec::with_capacity(n.min(raw.len() / 14));
        let mut p = 12;
        for i in 0..n {
            let trunc = || dberr(format!("packages.idx truncated at entry {i}; re-import"));
            let kl = u16::from_le_bytes(raw.get(p..p + 2).ok_or_else(trunc)?.try_into().map_err(|_| trunc())?) as usize;
            p += 2;
            let k = std::str::from_utf8(raw.get(p..p + kl).ok_or_else(trunc)?).map_err(|_| trunc())?.to_string();
            p += kl;
            let off = u64::from_le_bytes(raw.get(p..p + 8).ok_or_else(trunc)?.try_into().map_err(|_| trunc())?);
            p += 8;
            let len = u32::from_le_bytes(raw.get(p..p + 4).ok_or_else(trunc)?.try_into().map_err(|_| trunc())?);
            p += 4;
            index.push((k, off, len));
        }
        let open = |n: &str| {
            let p = dir.join(n);
            File::open(&p).map_err(|e| Error::io(&p, e))
        };
        Ok(Database {
            dir: dir.to_path_buf(),
            meta,
            index,
            packages: open("packages.bin")?,
            advisories: open("advisories.bin")?,
        })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_at(&self, f: &File, off: u64, len: u32, what: &str) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, off).map_err(|e| Error::Db {
            dir: self.dir.clone(),
            what: format!("{what} at offset {off}: {e}; re-import"),
        })?;
        Ok(buf)
    }

    /// Every advisory entry for `(ecosystem, name)`, sorted by id.
    pub fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<AffectedEntry>, Error> {
        let k = key(ecosystem, name);
        let Ok(i) = self.index.binary_search_by(|(x, _, _)| x.as_str().cmp(&k)) else {
            return Ok(vec![]);
        };
        let (_, off, len) = self.index[i];
        let buf = self.read_at(&self.packages, off, len, "packages.bin")?;
        serde_json::from_slice(&buf).map_err(|e| Error::Db {
            dir: self.dir.clone(),
            what: format!("packages.bin entry for {ecosystem}/{name}: {e}"),
        })
    }

    /// The advisory an entry refers to.
    pub fn advisory(&self, e: &AffectedEntry) -> Result<Advisory, Error> {
        let buf = self.read_at(&self.advisories, e.adv.0, e.adv.1, "advisories.bin")?;
        serde_json::from_slice(&buf)
            .map_err(|x| Error::Db { dir: self.dir.clone(), what: format!("advisory {}: {x}", e.id) })
    }

    /// All keys (ecosystem, normalised name) in the index.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.index.iter().filter_map(|(k, _, _)| k.split_once('\0'))
    }
}

fn parse_record(data: &[u8], name: &str, rep: &mut ImportReport) -> Option<osv::Record> {
    match serde_json::from_slice::<osv::Record>(data) {
        Ok(r) if r.withdrawn.as_deref().is_some_and(|w| !w.is_empty()) => {
            rep.withdrawn_skipped += 1;
            None
        }
        Ok(r) => Some(r),
        Err(e) => {
            rep.invalid_skipped += 1;
            if rep.invalid_examples.len() < 10 {
                rep.invalid_examples.push(format!("{name}: {e}"));
            }
            None
        }
    }
}

/// One input to [`import`]: a path and the origin to record for it (a URL for downloads).
pub struct Input {
    pub path: PathBuf,
    pub origin: String,
}

impl Input {
    pub fn path(p: impl Into<PathBuf>) -> Input {
        let path: PathBuf = p.into();
        let origin = fs::canonicalize(&path).unwrap_or_else(|_| path.clone()).display().to_string();
        Input { path, origin }
    }
}

/// Import OSV inputs (`.zip` dumps, directories of `.json`, single `.json` files) into `dir`.
/// Ecosystem families present in the inputs replace what the database held for them.
pub fn import(dir: &Path, inputs: &[Input]) -> Result<ImportReport, Error> {
    let mut rep = ImportReport::default();
    let mut b = Builder::default();
    let mut sources = vec![];
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for input in inputs {
        let mut families: BTreeSet<String> = BTreeSet::new();
        let mut count = 0usize;
        let mut take = |data: &[u8], name: &str, rep: &mut ImportReport, b: &mut Builder| {
            if let Some(rec) = parse_record(data, name, rep) {
                let ecos = b.add_record(&rec);
                if !ecos.is_empty() {
                    count += 1;
                    rep.records_imported += 1;
                }
                for e in ecos {
                    families.insert(eco_base(&e).to_string());
                }
            }
        };
        let p = &input.path;
        let md = fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if md.is_dir() {
            let mut files: Vec<PathBuf> = walk_json(p)?;
            files.sort();
            for f in files {
                let data = read_limited(&f, MAX_RECORD)?;
                rep.files_read += 1;
                take(&data, &f.display().to_string(), &mut rep, &mut b);
            }
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            let data = read_limited(p, MAX_RECORD)?;
            rep.files_read += 1;
            take(&data, &p.display().to_string(), &mut rep, &mut b);
        } else {
            let mut z = ZipFile::open(p)?;
            let members: Vec<_> = z.members.iter().filter(|m| m.name.ends_with(".json")).cloned().collect();
            for m in members {
                let data = z.read(&m, MAX_RECORD)?;
                rep.files_read += 1;
                take(&data, &format!("{}:{}", p.display(), m.name), &mut rep, &mut b);
            }
        }
        replaced.extend(families.iter().cloned());
        sources.push(SourceInfo {
            ecosystems: families.into_iter().collect(),
            origin: input.origin.clone(),
            imported: now_rfc3339(),
            records: count,
        });
    }
    // Carry over ecosystems not replaced by this import.
    if let Ok(old) = Database::open(dir) {
        let mut adv_cache: HashMap<String, Advisory> = HashMap::new();
        for (k, off, len) in &old.index {
            let eco = k.split('\0').next().unwrap_or("");
            if replaced.contains(eco_base(eco)) {
                continue;
            }
            let buf = old.read_at(&old.packages, *off, *len, "packages.bin")?;
            let list: Vec<AffectedEntry> = serde_json::from_slice(&buf)
                .map_err(|e| Error::Db { dir: dir.to_path_buf(), what: format!("carry over {k:?}: {e}") })?;
            for e in list {
                if !adv_cache.contains_key(&e.id) {
                    adv_cache.insert(e.id.clone(), old.advisory(&e)?);
                }
                b.add_entry(e);
            }
        }
        for (_, a) in adv_cache {
            b.add_advisory(a);
        }
        for s in &old.meta.sources {
            if !s.ecosystems.iter().any(|e| replaced.contains(e)) {
                sources.insert(0, s.clone());
            }
        }
    }
    let meta = b.write(dir, sources)?;
    rep.ecosystems = meta.ecosystems;
    rep.advisories_total = meta.advisories;
    Ok(rep)
}

fn read_limited(p: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let f = File::open(p).map_err(|e| Error::io(p, e))?;
    let mut out = vec![];
    f.take(limit + 1).read_to_end(&mut out).map_err(|e| Error::io(p, e))?;
    if out.len() as u64 > limit {
        return Err(Error::Input {
            path: p.display().to_string(),
            what: format!("larger than {limit} bytes; not an OSV record"),
        });
    }
    Ok(out)
}

fn walk_json(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = vec![];
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        if depth > 16 {
            continue;
        }
        for e in fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let e = e.map_err(|e| Error::io(&d, e))?;
            let ft = e.file_type().map_err(|x| Error::io(&e.path(), x))?;
            if ft.is_dir() {
                stack.push((e.path(), depth + 1));
            } else if ft.is_file() && e.path().extension().is_some_and(|x| x == "json") {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

/// Download `<mirror>/<ECOSYSTEM>/all.zip` for each ecosystem and import them. With no
/// ecosystems given, refreshes the families the database already holds.
pub fn update(
    dir: &Path,
    ecosystems: &[String],
    mirror: &str,
    timeout: std::time::Duration,
) -> Result<ImportReport, Error> {
    let mut ecos: Vec<String> = ecosystems.to_vec();
    if ecos.is_empty()
        && let Ok(db) = Database::open(dir)
    {
        let set: BTreeSet<String> = db.meta.sources.iter().flat_map(|s| s.ecosystems.iter().cloned()).collect();
        ecos = set.into_iter().collect();
    }
    if ecos.is_empty() {
        return Err(Error::Db {
            dir: dir.to_path_buf(),
            what: "nothing to update: name ecosystems with --ecosystem (e.g. --ecosystem PyPI --ecosystem Debian)"
                .into(),
        });
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("keelwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Download { url: mirror.to_string(), what: e.to_string() })?;
    let parent = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let mut inputs = vec![];
    let mut temps = vec![];
    let result = (|| {
        for eco in &ecos {
            let url = format!("{}/{}/all.zip", mirror.trim_end_matches('/'), eco.replace(' ', "%20"));
            let derr = |what: String| Error::Download { url: url.clone(), what };
            let mut resp = client.get(&url).send().map_err(|e| derr(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(derr(format!(
                    "HTTP {}; check the ecosystem name (case matters, e.g. PyPI, AlmaLinux) and the mirror",
                    resp.status()
                )));
            }
            let tmp =
                parent.join(format!(".download-{}-{}.zip", std::process::id(), eco.replace(['/', ' ', ':'], "_")));
            temps.push(tmp.clone());
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let n = std::io::copy(&mut (&mut resp).take(MAX_DOWNLOAD + 1), &mut f).map_err(|e| derr(e.to_string()))?;
            if n > MAX_DOWNLOAD {
                return Err(derr(format!("larger than {MAX_DOWNLOAD} bytes")));
            }
            inputs.push(Input { path: tmp, origin: url.clone() });
        }
        import(dir, &inputs)
    })();
    for t in temps {
        let _ = fs::remove_file(t);
    }
    result
}
