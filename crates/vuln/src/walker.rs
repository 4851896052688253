//! The streaming layer walker.
//!
//! A layer (tar, tar+gzip or tar+zstd, sniffed from its first bytes) is read exactly once, as
//! a stream: no unpacking to disk and no index of all files. Only paths catalogers need are
//! kept ([`want`]), each bounded in size; executables (ELF/PE/Mach-O) and jars are buffered
//! (bounded) and parsed on the spot, so only their findings are kept.
//! Whiteouts (`.wh.<name>`, `.wh..wh..opq`) are recorded per layer and applied by [`merge`].
//!
//! Hostile input: paths are normalised (no `..` above the root, leading `/` stripped — nothing
//! is ever written from a layer, so traversal cannot escape anyway); entry counts, decompressed
//! size and compression ratio are bounded ([`Limits`]); a truncated or corrupt tar is an error
//! naming the layer and the entry count reached.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::catalog::binary::{self, BinaryFinding};

/// Resource bounds for walking one layer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Entries per layer before the layer is rejected.
    pub max_entries: u64,
    /// Decompressed bytes per layer.
    pub max_layer_bytes: u64,
    /// Decompressed/compressed ratio tolerated once past `ratio_after` bytes.
    pub max_ratio: u64,
    pub ratio_after: u64,
    /// Largest kept metadata file (package databases, METADATA, package.json...).
    pub max_kept_file: u64,
    /// Total kept bytes per layer.
    pub max_kept_total: u64,
    /// Largest jar buffered for parsing.
    pub max_archive: u64,
    /// Largest executable buffered for section-table parsing (cargo-auditable, Go < 1.18);
    /// larger ones are only streamed for Go ≥ 1.18 build info (and counted as skipped).
    pub max_binary: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 5_000_000,
            max_layer_bytes: 64 << 30,
            max_ratio: 200,
            ratio_after: 256 << 20,
            max_kept_file: 256 << 20,
            max_kept_total: 1 << 30,
            max_archive: 128 << 20,
            max_binary: 64 << 20,
        }
    }
}

/// What one layer contributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerResult {
    /// Kept files: normalised path (no leading `/`) → content.
    #[serde(with = "b64map")]
    pub files: BTreeMap<String, Vec<u8>>,
    /// Kept symlinks: path → target (as stored).
    pub symlinks: BTreeMap<String, String>,
    /// Paths deleted from lower layers.
    pub whiteouts: Vec<String>,
    /// Directories whose lower-layer contents are hidden.
    pub opaque: Vec<String>,
    /// Packages found inside binaries and archives, by path.
    pub binaries: BTreeMap<String, BinaryFinding>,
    pub stats: LayerStats,
}

/// Counters for one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerStats {
    pub entries: u64,
    pub bytes: u64,
    /// Reason → count of entries not examined (too large, bad path, ...).
    pub skipped: BTreeMap<String, u64>,
}

impl LayerStats {
    pub fn skip(&mut self, why: &str) {
        *self.skipped.entry(why.to_string()).or_default() += 1;
    }
}

mod b64map {
    use std::collections::BTreeMap;

    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v))))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let m: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| {
                base64::engine::general_purpose::STANDARD.decode(v).map(|b| (k, b)).map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// How a path is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Keep the content for a cataloger.
    Keep,
    /// A Java archive: buffer and parse.
    Archive,
    /// Not interesting by name (executables are still checked for Go build info).
    No,
}

/// Normalise a tar/rootfs path: strip leading `/` and `./`, resolve `.` and `..` without ever
/// going above the root. Returns `None` for an empty result.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

const OS_FILES: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/debian_version",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/system-release",
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
];

/// Which paths catalogers read.
pub fn want(path: &str) -> Want {
    if OS_FILES.contains(&path) {
        return Want::Keep;
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return if !rest.contains('/') && !rest.ends_with(".md5sums") { Want::Keep } else { Want::No };
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/info/") {
        return if !rest.contains('/') && rest.ends_with(".list") { Want::Keep } else { Want::No };
    }
    let file = path.rsplit('/').next().unwrap_or(path);
    let parent = path.rsplit('/').nth(1).unwrap_or("");
    if (file == "METADATA" && parent.ends_with(".dist-info")) || (file == "PKG-INFO" && parent.ends_with(".egg-info")) {
        return Want::Keep;
    }
    if file.ends_with(".egg-info") && !path.contains("/.") {
        return Want::Keep; // legacy single-file egg-info
    }
    if file == "package.json" {
        let mut it = path.rsplit('/').skip(1);
        let (p1, p2, p3) = (it.next(), it.next(), it.next());
        if p2 == Some("node_modules") || (p3 == Some("node_modules") && p2.is_some_and(|s| s.starts_with('@'))) {
            return if p1.is_some_and(|s| !s.starts_with('.')) { Want::Keep } else { Want::No };
        }
        return Want::No;
    }
    if file.ends_with(".gemspec") && parent == "specifications" {
        return Want::Keep;
    }
    if file == "Cargo.lock" {
        return Want::Keep;
    }
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".jar") || lower.ends_with(".war") || lower.ends_with(".ear") {
        return Want::Archive;
    }
    Want::No
}

/// Counts bytes passing through a reader into a shared cell.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Enforces the decompressed-size and ratio bounds.
struct Guard<R> {
    inner: R,
    compressed: Rc<Cell<u64>>,
    out: u64,
    limits: Limits,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let c = self.compressed.get().max(1);
        if self.out > self.limits.max_layer_bytes
            || (self.out > self.limits.ratio_after && self.out / c > self.limits.max_ratio)
        {
            self.tripped.set(true);
            return Err(io::Error::other(format!(
                "decompressed size {} bytes from {} compressed bytes exceeds the limits (max {} bytes, ratio {}:1): possible decompression bomb",
                self.out, c, self.limits.max_layer_bytes, self.limits.max_ratio
            )));
        }
        Ok(n)
    }
}

/// Reads consecutive zstd frames until the input ends.
struct MultiZstd<R: Read> {
    dec: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> Read for MultiZstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else { return Ok(0) };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let mut inner = self.dec.take().map(|d| d.into_inner()).ok_or_else(|| io::Error::other("zstd state"))?;
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let d =
                ruzstd::decoding::StreamingDecoder::new(inner).map_err(|e| io::Error::other(format!("zstd: {e}")))?;
            self.dec = Some(d);
        }
    }
}

/// Compression of a layer stream, from its first bytes.
pub fn sniff(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        "gzip"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "zstd"
    } else {
        "tar"
    }
}

/// A decompressing reader plus the flag set when the bomb guard tripped.
type Decompressed<'a> = (Box<dyn Read + 'a>, Rc<Cell<bool>>);

/// Wrap a raw layer stream in the right decompressor plus the bomb guard.
fn decompressor<'a, R: Read + 'a>(raw: R, limits: &Limits, layer: &str) -> Result<Decompressed<'a>, Error> {
    let compressed = Rc::new(Cell::new(0u64));
    let mut br = BufReader::with_capacity(256 << 10, Counting { inner: raw, count: compressed.clone() });
    let head =
        br.fill_buf().map_err(|e| Error::Layer { layer: layer.to_string(), what: format!("read: {e}") })?.to_vec();
    let dec: Box<dyn Read + 'a> = match sniff(&head) {
        "gzip" => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        "zstd" => {
            let d = ruzstd::decoding::StreamingDecoder::new(br)
                .map_err(|e| Error::Layer { layer: layer.to_string(), what: format!("bad zstd stream: {e}") })?;
            Box::new(MultiZstd { dec: Some(d) })
        }
        _ => Box::new(br),
    };
    let tripped = Rc::new(Cell::new(false));
    Ok((Box::new(Guard { inner: dec, compressed, out: 0, limits: limits.clone(), tripped: tripped.clone() }), tripped))
}

/// Skip reason for executables over [`Limits::max_binary`].
pub const SKIP_BIG_BINARY: &str = "executable over max_binary: only Go >= 1.18 build info searched";

fn read_bounded<R: Read>(r: &mut R, size: u64, limit: u64) -> io::Result<Option<Vec<u8>>> {
    if size > limit {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(size as usize);
    r.take(limit + 1).read_to_end(&mut buf)?;
    Ok(if buf.len() as u64 > limit { None } else { Some(buf) })
}

/// Walk one layer stream (any compression), keeping what catalogers need.
pub fn walk_layer<R: Read>(raw: R, layer: &str, limits: &Limits) -> Result<LayerResult, Error> {
    let lerr = |what: String| Error::Layer { layer: layer.to_string(), what };
    let (dec, tripped) = decompressor(raw, limits, layer)?;
    let mut ar = tar::Archive::new(dec);
    let mut out = LayerResult::default();
    let mut kept_total = 0u64;
    let entries = ar.entries().map_err(|e| lerr(format!("not a tar stream: {e}")))?;
    for entry in entries {
        let mut e = match entry {
            Ok(e) => e,
            Err(err) => {
                if tripped.get() {
                    return Err(lerr(err.to_string()));
                }
                return Err(lerr(format!("truncated or corrupt tar after {} entries: {err}", out.stats.entries)));
            }
        };
        out.stats.entries += 1;
        if out.stats.entries > limits.max_entries {
            return Err(lerr(format!(
                "more than {} entries; refusing (raise the limit if this image is genuine)",
                limits.max_entries
            )));
        }
        let raw_path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let Some(path) = normalize(&raw_path) else {
            out.stats.skip("empty path");
            continue;
        };
        if raw_path.split('/').any(|p| p == "..") {
            out.stats.skip("path with '..' (normalised)");
        }
        let size = e.header().size().unwrap_or(0);
        out.stats.bytes += size;
        let (dir, file) = match path.rsplit_once('/') {
            Some((d, f)) => (d, f),
            None => ("", path.as_str()),
        };
        if let Some(hidden) = file.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                out.opaque.push(dir.to_string());
            } else if !hidden.is_empty() {
                out.whiteouts.push(if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") });
            }
            continue;
        }
        let kind = e.header().entry_type();
        let w = want(&path);
        if kind.is_symlink() {
            if w == Want::Keep
                && let Ok(Some(t)) = e.link_name()
            {
                out.symlinks.insert(path, t.to_string_lossy().into_owned());
            }
            continue;
        }
        if kind.is_hard_link() {
            if w == Want::Keep
                && let Some(src) = e.link_name().ok().flatten().and_then(|t| normalize(&t.to_string_lossy()))
                && let Some(data) = out.files.get(&src).cloned()
            {
                out.files.insert(path, data);
            }
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            continue;
        }
        let io_err = |err: io::Error, tripped: &Rc<Cell<bool>>| {
            if tripped.get() {
                lerr(err.to_string())
            } else {
                lerr(format!("truncated or corrupt tar in {path}: {err}"))
            }
        };
        match w {
            Want::Keep => {
                if kept_total + size > limits.max_kept_total {
                    out.stats.skip("kept-size budget exhausted");
                    continue;
                }
                match read_bounded(&mut e, size, limits.max_kept_file).map_err(|x| io_err(x, &tripped))? {
                    Some(data) => {
                        kept_total += data.len() as u64;
                        out.files.insert(path, data);
                    }
                    None => out.stats.skip("metadata file over size limit"),
                }
            }
            Want::Archive => match read_bounded(&mut e, size, limits.max_archive).map_err(|x| io_err(x, &tripped))? {
                Some(data) => {
                    if let Some(f) = binary::scan_jar(&data, &path, 0) {
                        out.binaries.insert(path, f);
                    }
                }
                None => out.stats.skip("archive over size limit"),
            },
            Want::No => {
                let mode = e.header().mode().unwrap_or(0);
                if mode & 0o111 != 0 && size >= 1024 {
                    let x =
                        binary::examine_executable(&mut e, size, limits.max_binary).map_err(|x| io_err(x, &tripped))?;
                    if x.streamed_only {
                        out.stats.skip(SKIP_BIG_BINARY);
                    }
                    if let Some(f) = x.finding {
                        out.binaries.insert(path, f);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The merged view of all layers, lowest first, after whiteouts.
#[derive(Debug, Default)]
pub struct Merged {
    /// path → (content, index of the layer that provided it).
    pub files: BTreeMap<String, (Vec<u8>, usize)>,
    pub symlinks: BTreeMap<String, (String, usize)>,
    pub binaries: BTreeMap<String, (BinaryFinding, usize)>,
}

fn under(path: &str, dir: &str) -> bool {
    dir.is_empty() || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

fn remove_where<V>(m: &mut BTreeMap<String, V>, f: impl Fn(&str) -> bool) {
    m.retain(|k, _| !f(k));
}

/// Merge layer results bottom-up applying OCI whiteout rules: in each layer the opaque
/// markers and whiteouts apply to lower layers only, before the layer's own entries.
pub fn merge(layers: &[LayerResult]) -> Merged {
    let mut m = Merged::default();
    for (i, l) in layers.iter().enumerate() {
        for d in &l.opaque {
            remove_where(&mut m.files, |p| under(p, d));
            remove_where(&mut m.symlinks, |p| under(p, d));
            remove_where(&mut m.binaries, |p| under(p, d));
        }
        for w in &l.whiteouts {
            let hit = |p: &str| p == w || under(p, w);
            remove_where(&mut m.files, hit);
            remove_where(&mut m.symlinks, hit);
            remove_where(&mut m.binaries, hit);
        }
        for (p, d) in &l.files {
            m.symlinks.remove(p);
            m.files.insert(p.clone(), (d.clone(), i));
        }
        for (p, t) in &l.symlinks {
            m.files.remove(p);
            m.symlinks.insert(p.clone(), (t.clone(), i));
        }
        for (p, b) in &l.binaries {
            m.binaries.insert(p.clone(), (b.clone(), i));
        }
    }
    m
}

impl Merged {
    /// Content of `path`, following kept symlinks (at most 8 hops, relative targets resolved
    /// against the link's directory, absolute ones against the image root).
    pub fn get(&self, path: &str) -> Option<(&[u8], usize)> {
        let mut p = path.to_string();
        for _ in 0..8 {
            if let Some((d, l)) = self.files.get(&p) {
                return Some((d.as_slice(), *l));
            }
            let (t, _) = self.symlinks.get(&p)?;
            let base = if t.starts_with('/') {
                String::new()
            } else {
                p.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
            };
            p = normalize(&format!("{base}/{t}"))?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_paths() {
        assert_eq!(want("var/lib/dpkg/status"), Want::Keep);
        assert_eq!(want("var/lib/dpkg/status.d/base"), Want::Keep);
        assert_eq!(want("var/lib/dpkg/status.d/base.md5sums"), Want::No);
        assert_eq!(want("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"), Want::Keep);
        assert_eq!(want("app/node_modules/lodash/package.json"), Want::Keep);
        assert_eq!(want("app/node_modules/@babel/core/package.json"), Want::Keep);
        assert_eq!(want("app/node_modules/lodash/fp/package.json"), Want::No);
        assert_eq!(want("app/package.json"), Want::No);
        assert_eq!(want("usr/share/java/x.JAR"), Want::Archive);
        assert_eq!(want("usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec"), Want::Keep);
    }

    #[test]
    fn normalise_never_escapes() {
        assert_eq!(normalize("/etc/../../../etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalize("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize("../.."), None);
    }

    #[test]
    fn whiteouts_apply_to_lower_layers_only() {
        let mut l0 = LayerResult::default();
        l0.files.insert("etc/os-release".into(), b"ID=a".to_vec());
        l0.files.insert("opt/app/x/METADATA".into(), b"x".to_vec());
        l0.files.insert("var/lib/dpkg/status".into(), b"s".to_vec());
        let mut l1 = LayerResult::default();
        l1.opaque.push("opt/app".into());
        l1.files.insert("opt/app/y/METADATA".into(), b"y".to_vec());
        l1.whiteouts.push("var/lib/dpkg/status".into());
        let mut l2 = LayerResult::default();
        l2.whiteouts.push("etc".into());
        l2.files.insert("etc/os-release".into(), b"ID=b".to_vec());
        let m = merge(&[l0, l1, l2]);
        let keys: Vec<&String> = m.files.keys().collect();
        assert_eq!(keys, vec!["etc/os-release", "opt/app/y/METADATA"]);
        assert_eq!(m.get("etc/os-release").map(|(d, l)| (d.to_vec(), l)), Some((b"ID=b".to_vec(), 2)));
    }

    #[test]
    fn symlink_resolution_bounded() {
        let mut l = LayerResult::default();
        l.symlinks.insert("etc/os-release".into(), "../usr/lib/os-release".into());
        l.files.insert("usr/lib/os-release".into(), b"ID=debian".to_vec());
        l.symlinks.insert("var/lib/dpkg/status".into(), "/var/lib/dpkg/status".into());
        let m = merge(&[l]);
        assert_eq!(m.get("etc/os-release").map(|(d, _)| d.to_vec()), Some(b"ID=debian".to_vec()));
        assert!(m.get("var/lib/dpkg/status").is_none());
    }
}
