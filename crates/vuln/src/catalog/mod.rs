//! Package catalogers: turn the merged image view ([`crate::walker::Merged`]) into an
//! [`Inventory`] of OS and language packages.
//!
//! OS: os-release (+ distro files), dpkg status and status.d (source package and version),
//! apk installed (origin), rpm databases ([`rpm`]). Language: Python dist-info/egg-info,
//! npm `node_modules/**/package.json`, Ruby gemspecs, Cargo.lock, Go binaries and Java
//! archives ([`binary`], [`exe`]: Go build info in both formats, cargo-auditable Rust binaries). Metadata files owned by an OS package (dpkg `.list` files, apk `F:`/`R:`
//! lines, rpm file lists) are not reported again as language packages; binaries (Go, jars)
//! are reported even when a distro package installed them, since distro advisories do not
//! cover the modules compiled into them.
//!
//! Output is sorted (by kind, name, version, path) so reports are deterministic.

pub mod binary;
pub mod exe;
pub mod rpm;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::walker::Merged;

/// Operating system of the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// os-release `ID` (`debian`, `alpine`, `almalinux`...).
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
    /// OSV ecosystem for OS packages (`Debian:12`, `Alpine:v3.19`, `AlmaLinux:9`), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
}

/// Kind of package (and the cataloger that found it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PkgKind {
    Deb,
    Apk,
    Rpm,
    Python,
    Npm,
    Gem,
    Cargo,
    /// Crates compiled into a Rust binary (cargo-auditable).
    RustBinary,
    Go,
    GoStdlib,
    Maven,
}

impl PkgKind {
    pub fn is_os(self) -> bool {
        matches!(self, PkgKind::Deb | PkgKind::Apk | PkgKind::Rpm)
    }
    /// Language ecosystem (fixed), `None` for OS packages (they use the OS ecosystem).
    pub fn lang_ecosystem(self) -> Option<&'static str> {
        Some(match self {
            PkgKind::Python => "PyPI",
            PkgKind::Npm => "npm",
            PkgKind::Gem => "RubyGems",
            PkgKind::Cargo | PkgKind::RustBinary => "crates.io",
            PkgKind::Go | PkgKind::GoStdlib => "Go",
            PkgKind::Maven => "Maven",
            _ => return None,
        })
    }
    pub fn title(self) -> &'static str {
        match self {
            PkgKind::Deb => "dpkg",
            PkgKind::Apk => "apk",
            PkgKind::Rpm => "rpm",
            PkgKind::Python => "Python",
            PkgKind::Npm => "Node.js",
            PkgKind::Gem => "Ruby",
            PkgKind::Cargo | PkgKind::RustBinary => "Rust",
            PkgKind::Go | PkgKind::GoStdlib => "Go",
            PkgKind::Maven => "Java",
        }
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub kind: PkgKind,
    /// Source package (Debian `Source:`, Alpine origin, rpm SOURCERPM name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub purl: String,
    /// File the package was found in (package database, metadata file or binary).
    pub path: String,
    /// DiffID of the layer that provided that file (`None` for a rootfs directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Go toolchain version for Go binaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
}

/// Everything found in an image.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub os: Option<OsInfo>,
    pub packages: Vec<Package>,
    /// Problems that did not stop the scan (corrupt database, unreadable metadata).
    pub warnings: Vec<String>,
}

fn purl_enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Parse os-release text.
pub fn parse_os_release(text: &str) -> OsInfo {
    let mut o = OsInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => o.id = v,
            "VERSION_ID" => o.version_id = v,
            "PRETTY_NAME" => o.pretty_name = v,
            _ => {}
        }
    }
    o.ecosystem = os_ecosystem(&o.id, &o.version_id);
    o
}

/// The OSV ecosystem advisories use for this distribution release.
pub fn os_ecosystem(id: &str, version_id: &str) -> Option<String> {
    let major = version_id.split('.').next().unwrap_or("");
    let minor2 = version_id.split('.').take(2).collect::<Vec<_>>().join(".");
    Some(match id {
        "debian" if !major.is_empty() => format!("Debian:{major}"),
        "ubuntu" if !version_id.is_empty() => format!("Ubuntu:{version_id}"),
        "alpine" if !minor2.is_empty() => format!("Alpine:v{minor2}"),
        "almalinux" if !major.is_empty() => format!("AlmaLinux:{major}"),
        "rocky" if !major.is_empty() => format!("Rocky Linux:{major}"),
        "wolfi" => "Wolfi".into(),
        "chainguard" => "Chainguard".into(),
        "mariner" => format!("Mariner:{version_id}"),
        "azurelinux" => format!("Azure Linux:{version_id}"),
        "opensuse-leap" if !version_id.is_empty() => format!("openSUSE:Leap {version_id}"),
        _ => return None,
    })
}

/// RFC 822-style paragraphs (dpkg status). Continuation lines are folded into the field.
fn paragraphs(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = vec![];
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(k) = &last
                && let Some(v) = cur.get_mut(k)
            {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parse a dpkg status file (or a status.d entry). Entries whose Status is present and not
/// "installed" are skipped.
pub fn parse_dpkg(text: &str, path: &str, distro: &str) -> Vec<Package> {
    let mut out = vec![];
    for p in paragraphs(text) {
        let (Some(name), Some(version)) = (p.get("Package"), p.get("Version")) else { continue };
        if let Some(st) = p.get("Status")
            && st.split_whitespace().nth(2) != Some("installed")
        {
            continue;
        }
        let (mut sname, mut sver) = (None, None);
        if let Some(src) = p.get("Source") {
            let src = src.trim();
            match src.split_once(' ') {
                Some((n, v)) => {
                    sname = Some(n.trim().to_string());
                    let v = v.trim().trim_start_matches('(').trim_end_matches(')').trim();
                    if !v.is_empty() {
                        sver = Some(v.to_string());
                    }
                }
                None => sname = Some(src.to_string()),
            }
        }
        let arch = p.get("Architecture").cloned();
        let mut purl = format!(
            "pkg:deb/{}/{}@{}",
            if distro.is_empty() { "debian" } else { distro },
            purl_enc(name),
            purl_enc(version)
        );
        if let Some(a) = &arch {
            purl.push_str(&format!("?arch={}", purl_enc(a)));
        }
        out.push(Package {
            name: name.clone(),
            version: version.clone(),
            kind: PkgKind::Deb,
            source_name: sname,
            source_version: sver,
            arch,
            purl,
            path: path.to_string(),
            layer: None,
            go_version: None,
        });
    }
    out
}

/// Parse an apk `installed` database; also returns the files it owns.
pub fn parse_apk(text: &str, path: &str) -> (Vec<Package>, Vec<String>) {
    let mut out = vec![];
    let mut files = vec![];
    for block in text.split("\n\n") {
        let (mut name, mut ver, mut arch, mut origin) = (None, None, None, None);
        let mut dir = String::new();
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            match k {
                "P" => name = Some(v.to_string()),
                "V" => ver = Some(v.to_string()),
                "A" => arch = Some(v.to_string()),
                "o" => origin = Some(v.to_string()),
                "F" => dir = v.to_string(),
                "R" => files.push(format!("/{dir}/{v}").replace("//", "/")),
                _ => {}
            }
        }
        if let (Some(n), Some(v)) = (name, ver) {
            let mut purl = format!("pkg:apk/alpine/{}@{}", purl_enc(&n), purl_enc(&v));
            if let Some(a) = &arch {
                purl.push_str(&format!("?arch={}", purl_enc(a)));
            }
            out.push(Package {
                name: n,
                version: v,
                kind: PkgKind::Apk,
                source_name: origin,
                source_version: None,
                arch,
                purl,
                path: path.to_string(),
                layer: None,
                go_version: None,
            });
        }
    }
    (out, files)
}

fn header_value(text: &str, key: &str) -> Option<String> {
    for line in text.lines() {
        if line.trim().is_empty() {
            break; // headers end at the first blank line
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(key)
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

fn lang_pkg(kind: PkgKind, name: String, version: String, purl: String, path: &str) -> Package {
    Package {
        name,
        version,
        kind,
        source_name: None,
        source_version: None,
        arch: None,
        purl,
        path: path.to_string(),
        layer: None,
        go_version: None,
    }
}

fn parse_python(text: &str, path: &str) -> Option<Package> {
    let name = header_value(text, "Name")?;
    let version = header_value(text, "Version")?;
    let purl = format!("pkg:pypi/{}@{}", purl_enc(&crate::db::normalize_name("PyPI", &name)), purl_enc(&version));
    Some(lang_pkg(PkgKind::Python, name, version, purl, path))
}

fn parse_npm(data: &[u8], path: &str) -> Option<Package> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let version = v.get("version")?.as_str()?.to_string();
    if name.is_empty() || version.is_empty() {
        return None;
    }
    let purl = match name.split_once('/') {
        Some((scope, n)) if scope.starts_with('@') => {
            format!("pkg:npm/{}/{}@{}", purl_enc(scope), purl_enc(n), purl_enc(&version))
        }
        _ => format!("pkg:npm/{}@{}", purl_enc(&name), purl_enc(&version)),
    };
    Some(lang_pkg(PkgKind::Npm, name, version, purl, path))
}

fn gemspec_field(text: &str, field: &str) -> Option<String> {
    for line in text.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("s.").or_else(|| l.strip_prefix("spec.")) else { continue };
        let Some(rest) = rest.strip_prefix(field) else { continue };
        let rest = rest.trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        let rest = rest.trim();
        let q = rest.chars().next()?;
        if q == '"' || q == '\'' {
            let inner = &rest[1..];
            let end = inner.find(q)?;
            return Some(inner[..end].to_string());
        }
        if let Some(r) = rest.strip_prefix("Gem::Version.new(") {
            let r = r.trim_start_matches(['"', '\'']);
            let end = r.find(['"', '\''])?;
            return Some(r[..end].to_string());
        }
    }
    None
}

fn parse_gemspec(text: &str, path: &str) -> Option<Package> {
    let name = gemspec_field(text, "name")?;
    let version = gemspec_field(text, "version")?;
    let purl = format!("pkg:gem/{}@{}", purl_enc(&name), purl_enc(&version));
    Some(lang_pkg(PkgKind::Gem, name, version, purl, path))
}

fn parse_cargo_lock(text: &str, path: &str) -> Vec<Package> {
    let mut out = vec![];
    let mut name: Option<String> = None;
    let mut version: Option<String> = None;
    let mut registry = false;
    let flush =
        |name: &mut Option<String>, version: &mut Option<String>, registry: &mut bool, out: &mut Vec<Package>| {
            if let (Some(n), Some(v)) = (name.take(), version.take())
                && *registry
            {
                let purl = format!("pkg:cargo/{}@{}", purl_enc(&n), purl_enc(&v));
                out.push(lang_pkg(PkgKind::Cargo, n, v, purl, path));
            }
            *registry = false;
        };
    for line in text.lines() {
        let l = line.trim();
        if l == "[[package]]" {
            flush(&mut name, &mut version, &mut registry, &mut out);
            continue;
        }
        let Some((k, v)) = l.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "name" => name = Some(v),
            "version" => version = Some(v),
            "source" => registry = v.starts_with("registry+"),
            _ => {}
        }
    }
    flush(&mut name, &mut version, &mut registry, &mut out);
    out
}

/// Run every cataloger over the merged view. `layer_ids[i]` is the diffID of layer `i`.
pub fn catalog(m: &Merged, layer_ids: &[Option<String>]) -> Inventory {
    let mut inv = Inventory::default();
    let layer = |i: usize| layer_ids.get(i).cloned().flatten();
    let os = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| m.get(p))
        .map(|(d, _)| parse_os_release(&String::from_utf8_lossy(d)));
    let os = os.or_else(|| {
        m.get("etc/alpine-release").map(|(d, _)| {
            let v = String::from_utf8_lossy(d).trim().to_string();
            OsInfo {
                id: "alpine".into(),
                ecosystem: os_ecosystem("alpine", &v),
                pretty_name: format!("Alpine Linux v{v}"),
                version_id: v,
            }
        })
    });
    let distro = os
        .as_ref()
        .map(|o| if o.version_id.is_empty() { o.id.clone() } else { format!("{}-{}", o.id, o.version_id) })
        .unwrap_or_default();
    let mut owned: HashSet<String> = HashSet::new();
    let mut pkgs: Vec<Package> = vec![];

    // dpkg
    if let Some((d, l)) = m.get("var/lib/dpkg/status") {
        for mut p in parse_dpkg(&String::from_utf8_lossy(d), "var/lib/dpkg/status", &distro) {
            p.layer = layer(l);
            pkgs.push(p);
        }
    }
    for (path, (d, l)) in m.files.range("var/lib/dpkg/status.d/".to_string()..) {
        if !path.starts_with("var/lib/dpkg/status.d/") {
            break;
        }
        for mut p in parse_dpkg(&String::from_utf8_lossy(d), path, &distro) {
            p.layer = layer(*l);
            pkgs.push(p);
        }
    }
    for (path, (d, _)) in m.files.range("var/lib/dpkg/info/".to_string()..) {
        if !path.starts_with("var/lib/dpkg/info/") {
            break;
        }
        if path.ends_with(".list") {
            owned.extend(String::from_utf8_lossy(d).lines().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()));
        }
    }
    // apk
    if let Some((d, l)) = m.get("lib/apk/db/installed") {
        let (ps, files) = parse_apk(&String::from_utf8_lossy(d), "lib/apk/db/installed");
        for mut p in ps {
            p.layer = layer(l);
            pkgs.push(p);
        }
        owned.extend(files);
    }
    // rpm
    for dbp in [
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/Packages.db",
        "var/lib/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages",
    ] {
        let Some((d, l)) = m.get(dbp) else { continue };
        match rpm::read_any(d, dbp) {
            Ok(list) => {
                let distro_name = os.as_ref().map(|o| o.id.clone()).unwrap_or_else(|| "redhat".into());
                for r in list {
                    if r.name == "gpg-pubkey" {
                        continue;
                    }
                    owned.extend(r.files.iter().cloned());
                    let src_name = rpm_source_name(&r.source_rpm);
                    let mut purl = format!(
                        "pkg:rpm/{}/{}@{}-{}?arch={}",
                        purl_enc(&distro_name),
                        purl_enc(&r.name),
                        purl_enc(&r.version),
                        purl_enc(&r.release),
                        purl_enc(&r.arch)
                    );
                    if let Some(e) = r.epoch.filter(|e| *e != 0) {
                        purl.push_str(&format!("&epoch={e}"));
                    }
                    pkgs.push(Package {
                        name: r.name.clone(),
                        version: r.evr(),
                        kind: PkgKind::Rpm,
                        source_name: src_name,
                        source_version: None,
                        arch: Some(r.arch.clone()),
                        purl,
                        path: dbp.to_string(),
                        layer: layer(l),
                        go_version: None,
                    });
                }
            }
            Err(e) => inv.warnings.push(e.to_string()),
        }
        break;
    }
    let os_owned = |path: &str| owned.contains(&format!("/{path}"));

    // Language metadata files.
    for (path, (d, l)) in &m.files {
        let file = path.rsplit('/').next().unwrap_or(path);
        let found: Vec<Package> = if file == "METADATA" || file == "PKG-INFO" || file.ends_with(".egg-info") {
            parse_python(&String::from_utf8_lossy(d), path).into_iter().collect()
        } else if file == "package.json" {
            parse_npm(d, path).into_iter().collect()
        } else if file.ends_with(".gemspec") {
            parse_gemspec(&String::from_utf8_lossy(d), path).into_iter().collect()
        } else if file == "Cargo.lock" {
            parse_cargo_lock(&String::from_utf8_lossy(d), path)
        } else {
            continue;
        };
        if os_owned(path) {
            continue;
        }
        for mut p in found {
            p.layer = layer(*l);
            pkgs.push(p);
        }
    }
    // Binaries and archives.
    for (path, (f, l)) in &m.binaries {
        match f {
            binary::BinaryFinding::Go { go_version, main, deps } => {
                let v = go_version.trim_start_matches("go");
                let v = v.split([' ', '-']).next().unwrap_or(v).to_string();
                let mut p = lang_pkg(
                    PkgKind::GoStdlib,
                    "stdlib".into(),
                    v.clone(),
                    format!("pkg:golang/stdlib@{}", purl_enc(&v)),
                    path,
                );
                p.go_version = Some(go_version.clone());
                p.layer = layer(*l);
                pkgs.push(p);
                for m in main.iter().chain(deps.iter()) {
                    if m.version.is_empty() || m.version == "(devel)" {
                        continue;
                    }
                    let mut p = lang_pkg(
                        PkgKind::Go,
                        m.path.clone(),
                        m.version.clone(),
                        format!("pkg:golang/{}@{}", m.path, purl_enc(&m.version)),
                        path,
                    );
                    p.go_version = Some(go_version.clone());
                    p.layer = layer(*l);
                    pkgs.push(p);
                }
            }
            binary::BinaryFinding::Rust { crates } => {
                for c in crates {
                    let mut p = lang_pkg(
                        PkgKind::RustBinary,
                        c.name.clone(),
                        c.version.clone(),
                        format!("pkg:cargo/{}@{}", purl_enc(&c.name), purl_enc(&c.version)),
                        path,
                    );
                    p.layer = layer(*l);
                    pkgs.push(p);
                }
            }
            binary::BinaryFinding::Jar { artifacts } => {
                for a in artifacts {
                    let mut p = lang_pkg(
                        PkgKind::Maven,
                        format!("{}:{}", a.group, a.artifact),
                        a.version.clone(),
                        format!("pkg:maven/{}/{}@{}", purl_enc(&a.group), purl_enc(&a.artifact), purl_enc(&a.version)),
                        &a.location,
                    );
                    p.layer = layer(*l);
                    pkgs.push(p);
                }
            }
        }
    }
    pkgs.sort_by(|a, b| (a.kind, &a.name, &a.version, &a.path).cmp(&(b.kind, &b.name, &b.version, &b.path)));
    pkgs.dedup_by(|a, b| a.kind == b.kind && a.name == b.name && a.version == b.version && a.path == b.path);
    inv.os = os;
    inv.packages = pkgs;
    let _ = BTreeSet::<()>::new();
    inv
}

/// Source package name from a SOURCERPM file name (`glibc-2.34-1.el9.src.rpm` → `glibc`).
pub fn rpm_source_name(srpm: &str) -> Option<String> {
    let s = srpm.strip_suffix(".rpm")?;
    let s = s.rsplit_once('.').map(|(a, _)| a).unwrap_or(s); // drop .src / .nosrc
    let (nv, _release) = s.rsplit_once('-')?;
    let (n, _version) = nv.rsplit_once('-')?;
    Some(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_source_fields() {
        let t = "Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n\nPackage: bsdutils\nStatus: install ok installed\nSource: util-linux (2.38.1-5)\nVersion: 1:2.38.1-5+b1\nDescription: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let p = parse_dpkg(t, "s", "debian-12");
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].source_name.as_deref(), p[0].source_version.as_deref()), (Some("glibc"), None));
        assert_eq!(
            (p[1].source_name.as_deref(), p[1].source_version.as_deref()),
            (Some("util-linux"), Some("2.38.1-5"))
        );
        assert_eq!(p[1].purl, "pkg:deb/debian-12/bsdutils@1%3A2.38.1-5%2Bb1");
    }

    #[test]
    fn small_parsers() {
        assert_eq!(rpm_source_name("glibc-2.34-60.el9.src.rpm").as_deref(), Some("glibc"));
        assert_eq!(rpm_source_name("python3-pip-21.2.3-7.el9.src.rpm").as_deref(), Some("python3-pip"));
        let g = "Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\nend\n";
        let p = parse_gemspec(g, "x").expect("gem");
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rake", "13.0.6"));
        let n = parse_npm(br#"{"name":"@babel/core","version":"7.0.0"}"#, "x").expect("npm");
        assert_eq!(n.purl, "pkg:npm/%40babel/core@7.0.0");
        let py =
            parse_python("Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.11.2\n\nName: not-this\n", "m").expect("py");
        assert_eq!(
            (py.name.as_str(), py.version.as_str(), py.purl.as_str()),
            ("Jinja2", "2.11.2", "pkg:pypi/jinja2@2.11.2")
        );
        let lock = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"local\"\nversion = \"0.1.0\"\n";
        assert_eq!(parse_cargo_lock(lock, "Cargo.lock").len(), 1);
        assert_eq!(os_ecosystem("alpine", "3.19.1").as_deref(), Some("Alpine:v3.19"));
        assert_eq!(os_ecosystem("almalinux", "9.3").as_deref(), Some("AlmaLinux:9"));
    }
}
