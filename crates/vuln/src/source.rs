//! Image sources: rootfs directory, `docker save` archive, OCI layout directory, OCI archive
//! (tar of a layout) and registry references ([`crate::registry`]).
//!
//! Every source resolves to an ordered list of layers (diffID + a way to open the blob); each
//! layer is served from the [`LayerCache`] when its diffID is known, otherwise streamed once
//! through [`crate::walker::walk_layer`] and cached. Archives are never unpacked: a first pass
//! over the tar headers records member offsets, and layers are then read in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::walker::{self, LayerResult, Limits};

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A plain root filesystem directory.
    Rootfs(PathBuf),
    /// A `docker save` archive or an OCI archive (detected from its contents).
    Archive(PathBuf),
    /// An OCI image layout directory.
    Layout(PathBuf),
    /// A registry reference (`registry/repo:tag`, `repo@sha256:…`).
    Registry(String),
}

impl Target {
    /// Guess the kind of a SOURCE argument: an existing directory with `oci-layout` is a
    /// layout, another directory a rootfs, an existing file an archive, anything else a
    /// registry reference.
    pub fn detect(s: &str) -> Target {
        let p = Path::new(s);
        if p.is_dir() {
            if p.join("oci-layout").exists() { Target::Layout(p.into()) } else { Target::Rootfs(p.into()) }
        } else if p.is_file() {
            Target::Archive(p.into())
        } else {
            Target::Registry(s.to_string())
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Rootfs(p) | Target::Archive(p) | Target::Layout(p) => p.display().to_string(),
            Target::Registry(r) => r.clone(),
        }
    }
}

/// Options for loading an image.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `os/arch[/variant]`; default linux/<host arch>.
    pub platform: Option<String>,
    /// Plain HTTP to the registry (for localhost registries).
    pub insecure: bool,
    /// Layer cache directory; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Docker config file for credentials (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// How long a docker credential helper may take (default 20 s).
    pub cred_helper_timeout: Option<std::time::Duration>,
    /// Called as layers are pulled/read (for progress bars); `None` = silent.
    pub progress: Option<ProgressSink>,
}

/// What [`ProgressSink`] is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// Layer `index` (0-based) of `total` starts; `size` is its stored (compressed) size.
    LayerStart { index: usize, total: usize, layer: String, size: Option<u64> },
    /// Stored bytes of the current layer read so far.
    LayerBytes { index: usize, read: u64 },
    /// Layer `index` is done (`cached`: served from the layer cache, nothing read).
    LayerDone { index: usize, cached: bool },
}

/// A progress callback shared by the loaders.
#[derive(Clone)]
pub struct ProgressSink(pub std::sync::Arc<dyn Fn(&ProgressEvent) + Send + Sync>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

impl ProgressSink {
    pub(crate) fn emit(sink: &Option<ProgressSink>, e: ProgressEvent) {
        if let Some(s) = sink {
            (s.0)(&e);
        }
    }
}

/// Reports bytes read through it to a progress sink (every 256 KiB and at the end).
pub(crate) struct ProgressReader<'p, R> {
    pub inner: R,
    pub sink: &'p Option<ProgressSink>,
    pub index: usize,
    pub read: u64,
    pub reported: u64,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.sink.is_some() && (self.read - self.reported >= 256 << 10 || (n == 0 && self.read != self.reported)) {
            self.reported = self.read;
            ProgressSink::emit(self.sink, ProgressEvent::LayerBytes { index: self.index, read: self.read });
        }
        Ok(n)
    }
}

/// Counters for one load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadStats {
    pub layers: usize,
    pub layers_from_cache: usize,
    pub layers_walked: usize,
    pub entries_walked: u64,
    pub bytes_walked: u64,
    pub skipped: std::collections::BTreeMap<String, u64>,
}

/// A loaded image: per-layer results, lowest layer first.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub name: String,
    /// `rootfs`, `docker-archive`, `oci-layout`, `oci-archive`, `registry`.
    pub kind: &'static str,
    pub digest: Option<String>,
    pub layer_ids: Vec<Option<String>>,
    pub layers: Vec<LayerResult>,
    pub stats: LoadStats,
}

/// The per-layer result cache: `<dir>/v1/<alg>-<hex>.json`, keyed by diffID.
pub struct LayerCache {
    dir: PathBuf,
}

const CACHE_VERSION: &str = "v2";

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: String,
    walker: String,
    result: LayerResult,
}

fn valid_digest(d: &str) -> Option<(&str, &str)> {
    let (alg, hex) = d.split_once(':')?;
    let ok = matches!(alg, "sha256" | "sha512")
        && !hex.is_empty()
        && hex.len() <= 128
        && hex.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    ok.then_some((alg, hex))
}

impl LayerCache {
    pub fn new(dir: PathBuf) -> LayerCache {
        LayerCache { dir }
    }

    /// Default cache dir: `$XDG_CACHE_HOME/keelwatch/layers` or `~/.cache/keelwatch/layers`.
    pub fn default_dir() -> PathBuf {
        crate::db::default_dir()
            .parent()
            .map(|p| p.join("layers"))
            .unwrap_or_else(|| PathBuf::from(".keelwatch-layers"))
    }

    fn path(&self, diff_id: &str) -> Option<PathBuf> {
        let (alg, hex) = valid_digest(diff_id)?;
        Some(self.dir.join(CACHE_VERSION).join(format!("{alg}-{hex}.json")))
    }

    pub fn get(&self, diff_id: &str) -> Option<LayerResult> {
        let p = self.path(diff_id)?;
        let data = std::fs::read(p).ok()?;
        let f: CacheFile = serde_json::from_slice(&data).ok()?;
        (f.version == CACHE_VERSION && f.walker == env!("CARGO_PKG_VERSION")).then_some(f.result)
    }

    pub fn put(&self, diff_id: &str, r: &LayerResult) -> Result<(), Error> {
        let Some(p) = self.path(diff_id) else { return Ok(()) };
        let dir = p.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let tmp =
            dir.join(format!(".tmp-{}-{}", std::process::id(), p.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
        let data = serde_json::to_vec(&CacheFile {
            version: CACHE_VERSION.into(),
            walker: env!("CARGO_PKG_VERSION").into(),
            result: r.clone(),
        })
        .map_err(|e| Error::Input { path: p.display().to_string(), what: e.to_string() })?;
        std::fs::write(&tmp, data).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))
    }
}

/// A positional reader over a byte range of a file.
pub(crate) struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end {
            return Ok(0);
        }
        let n = ((self.end - self.pos) as usize).min(buf.len());
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

/// Where blobs and metadata files of an archive or layout live.
enum Store {
    Dir(PathBuf),
    Tar { path: PathBuf, file: File, members: HashMap<String, (u64, u64)> },
}

const MAX_ARCHIVE_MEMBERS: usize = 1_000_000;
const MAX_JSON: u64 = 16 << 20;

impl Store {
    fn open_tar(path: &Path) -> Result<Store, Error> {
        let serr = |what: String| Error::Source { source_desc: path.display().to_string(), what };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut members = HashMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            let entries = ar.entries_with_seek().map_err(|e| serr(format!("not a tar archive: {e}")))?;
            for e in entries {
                let e =
                    e.map_err(|e| serr(format!("truncated or corrupt archive after {} members: {e}", members.len())))?;
                if !e.header().entry_type().is_file() {
                    continue;
                }
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                if let Some(n) = walker::normalize(&name) {
                    members.insert(n, (e.raw_file_position(), e.header().size().unwrap_or(0)));
                }
                if members.len() > MAX_ARCHIVE_MEMBERS {
                    return Err(serr(format!("more than {MAX_ARCHIVE_MEMBERS} members; not an image archive")));
                }
            }
        }
        Ok(Store::Tar { path: path.to_path_buf(), file, members })
    }

    fn desc(&self) -> String {
        match self {
            Store::Dir(p) | Store::Tar { path: p, .. } => p.display().to_string(),
        }
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Store::Dir(d) => walker::normalize(name).is_some_and(|n| d.join(n).is_file()),
            Store::Tar { members, .. } => walker::normalize(name).is_some_and(|n| members.contains_key(&n)),
        }
    }

    /// Stored size of a blob, if known.
    fn size(&self, name: &str) -> Option<u64> {
        let n = walker::normalize(name)?;
        match self {
            Store::Dir(d) => std::fs::metadata(d.join(n)).ok().map(|m| m.len()),
            Store::Tar { members, .. } => members.get(&n).map(|(_, s)| *s),
        }
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + '_>, Error> {
        let missing = || Error::Source { source_desc: self.desc(), what: format!("{name} is missing from the image") };
        if name.split('/').any(|p| p == "..") {
            return Err(Error::Source { source_desc: self.desc(), what: format!("refusing path with '..': {name}") });
        }
        let n = walker::normalize(name).ok_or_else(missing)?;
        match self {
            Store::Dir(d) => {
                let p = d.join(&n);
                let f = File::open(&p)
                    .map_err(|e| if e.kind() == io::ErrorKind::NotFound { missing() } else { Error::io(&p, e) })?;
                Ok(Box::new(f))
            }
            Store::Tar { file, members, .. } => {
                let (off, size) = *members.get(&n).ok_or_else(missing)?;
                Ok(Box::new(RangeReader { file, pos: off, end: off + size }))
            }
        }
    }

    fn read_json(&self, name: &str) -> Result<Value, Error> {
        let mut buf = vec![];
        self.open(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::Source { source_desc: self.desc(), what: format!("{name}: {e}") })?;
        if buf.len() as u64 > MAX_JSON {
            return Err(Error::Source {
                source_desc: self.desc(),
                what: format!("{name} is larger than {MAX_JSON} bytes"),
            });
        }
        serde_json::from_slice(&buf)
            .map_err(|e| Error::Source { source_desc: self.desc(), what: format!("{name}: invalid JSON: {e}") })
    }
}

fn blob_path(digest: &str) -> Option<String> {
    let (alg, hex) = valid_digest(digest)?;
    Some(format!("blobs/{alg}/{hex}"))
}

/// The wanted platform as (os, arch, variant).
pub fn wanted_platform(p: Option<&str>) -> (String, String, Option<String>) {
    if let Some(p) = p {
        let mut it = p.split('/');
        let os = it.next().unwrap_or("linux").to_string();
        let arch = it.next().unwrap_or("amd64").to_string();
        return (os, arch, it.next().map(str::to_string));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        a => a,
    };
    ("linux".into(), arch.into(), None)
}

pub(crate) fn is_index(media: &str, v: &Value) -> bool {
    media.contains("image.index")
        || media.contains("manifest.list")
        || (media.is_empty() && v.get("manifests").is_some())
}

/// Choose the descriptor for `platform` among an index's manifests.
pub(crate) fn pick_platform<'a>(index: &'a Value, platform: Option<&str>, what: &str) -> Result<&'a Value, String> {
    let ms = index.get("manifests").and_then(|m| m.as_array()).ok_or("index has no manifests")?;
    let (os, arch, variant) = wanted_platform(platform);
    let plat = |m: &Value| -> Option<(String, String, Option<String>)> {
        let p = m.get("platform")?;
        Some((
            p.get("os")?.as_str()?.to_string(),
            p.get("architecture")?.as_str()?.to_string(),
            p.get("variant").and_then(|v| v.as_str()).map(str::to_string),
        ))
    };
    let candidates: Vec<&Value> = ms
        .iter()
        .filter(|m| match plat(m) {
            Some((o, a, v)) => o == os && a == arch && (variant.is_none() || v == variant),
            None => false,
        })
        .collect();
    if let Some(m) = candidates.first() {
        return Ok(m);
    }
    // A nested index without platform information (docker's layouts): descend into it.
    if let Some(m) = ms.iter().find(|m| {
        m.get("platform").is_none()
            && m.get("mediaType")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.contains("image.index") || t.contains("manifest.list"))
    }) {
        return Ok(m);
    }
    // Single manifest without platform information (e.g. a layout written by skopeo).
    let no_plat: Vec<&Value> = ms.iter().filter(|m| m.get("platform").is_none()).collect();
    if no_plat.len() == 1 && platform.is_none() {
        return Ok(no_plat[0]);
    }
    let avail: Vec<String> = ms
        .iter()
        .filter_map(plat)
        .map(|(o, a, v)| format!("{o}/{a}{}", v.map(|v| format!("/{v}")).unwrap_or_default()))
        .collect();
    Err(format!(
        "{what}: no manifest for platform {os}/{arch}{}; available: {}; choose one with --platform",
        variant.map(|v| format!("/{v}")).unwrap_or_default(),
        if avail.is_empty() { "none".into() } else { avail.join(", ") }
    ))
}

fn diff_ids(config: &Value) -> Vec<String> {
    config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A layer to load: cache key and how to open the blob.
struct LayerPlan {
    diff_id: Option<String>,
    blob: String,
}

fn load_layers(
    store: &Store,
    plan: &[LayerPlan],
    opts: &LoadOptions,
    stats: &mut LoadStats,
) -> Result<Vec<LayerResult>, Error> {
    let cache = opts.cache_dir.clone().map(LayerCache::new);
    let mut out = vec![];
    for (index, l) in plan.iter().enumerate() {
        stats.layers += 1;
        let label = l.diff_id.clone().unwrap_or_else(|| l.blob.clone());
        ProgressSink::emit(
            &opts.progress,
            ProgressEvent::LayerStart { index, total: plan.len(), layer: label.clone(), size: store.size(&l.blob) },
        );
        if let (Some(c), Some(d)) = (&cache, &l.diff_id)
            && let Some(r) = c.get(d)
        {
            stats.layers_from_cache += 1;
            ProgressSink::emit(&opts.progress, ProgressEvent::LayerDone { index, cached: true });
            out.push(r);
            continue;
        }
        let reader = store.open(&l.blob)?;
        let reader = ProgressReader { inner: reader, sink: &opts.progress, index, read: 0, reported: 0 };
        let r = walker::walk_layer(reader, &label, &opts.limits)?;
        ProgressSink::emit(&opts.progress, ProgressEvent::LayerDone { index, cached: false });
        stats.layers_walked += 1;
        stats.entries_walked += r.stats.entries;
        stats.bytes_walked += r.stats.bytes;
        for (k, v) in &r.stats.skipped {
            *stats.skipped.entry(k.clone()).or_default() += v;
        }
        if let (Some(c), Some(d)) = (&cache, &l.diff_id) {
            c.put(d, &r)?;
        }
        out.push(r);
    }
    Ok(out)
}

fn finish(
    name: String,
    kind: &'static str,
    digest: Option<String>,
    plan: &[LayerPlan],
    layers: Vec<LayerResult>,
    stats: LoadStats,
) -> LoadedImage {
    LoadedImage { name, kind, digest, layer_ids: plan.iter().map(|l| l.diff_id.clone()).collect(), layers, stats }
}

fn load_docker(store: &Store, name: String, opts: &LoadOptions) -> Result<LoadedImage, Error> {
    let serr = |what: String| Error::Source { source_desc: store.desc(), what };
    let manifest = store.read_json("manifest.json")?;
    let first =
        manifest.as_array().and_then(|a| a.first()).ok_or_else(|| serr("manifest.json lists no image".into()))?;
    let config_name =
        first.get("Config").and_then(|c| c.as_str()).ok_or_else(|| serr("manifest.json: no Config".into()))?;
    let config = store.read_json(config_name)?;
    let ids = diff_ids(&config);
    let layers: Vec<String> = first
        .get("Layers")
        .and_then(|l| l.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if ids.len() != layers.len() {
        return Err(serr(format!(
            "config lists {} diff_ids but manifest.json lists {} layers",
            ids.len(),
            layers.len()
        )));
    }
    let tag = first
        .get("RepoTags")
        .and_then(|t| t.as_array())
        .and_then(|t| t.first())
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let plan: Vec<LayerPlan> =
        layers.into_iter().zip(ids).map(|(blob, d)| LayerPlan { diff_id: Some(d), blob }).collect();
    let mut stats = LoadStats::default();
    let results = load_layers(store, &plan, opts, &mut stats)?;
    let digest = config_name.rsplit('/').next().map(|h| format!("sha256:{}", h.trim_end_matches(".json")));
    Ok(finish(tag.unwrap_or(name), "docker-archive", digest, &plan, results, stats))
}

fn load_oci(store: &Store, name: String, kind: &'static str, opts: &LoadOptions) -> Result<LoadedImage, Error> {
    let serr = |what: String| Error::Source { source_desc: store.desc(), what };
    let mut index = store.read_json("index.json")?;
    let mut desc: Value;
    let mut depth = 0;
    loop {
        depth += 1;
        if depth > 4 {
            return Err(serr("index nesting deeper than 4".into()));
        }
        desc = pick_platform(&index, opts.platform.as_deref(), "index.json").map_err(serr)?.clone();
        let digest = desc.get("digest").and_then(|d| d.as_str()).unwrap_or("");
        let path = blob_path(digest).ok_or_else(|| serr(format!("bad digest {digest:?}")))?;
        let blob = store.read_json(&path)?;
        let media = desc.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        if is_index(media, &blob) {
            index = blob;
            continue;
        }
        index = blob;
        break;
    }
    let manifest = index;
    let image_name = desc
        .get("annotations")
        .and_then(|a| a.get("org.opencontainers.image.ref.name").or_else(|| a.get("io.containerd.image.name")))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let config_digest = manifest
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(|d| d.as_str())
        .ok_or_else(|| serr("manifest has no config".into()))?;
    let config = store
        .read_json(&blob_path(config_digest).ok_or_else(|| serr(format!("bad config digest {config_digest:?}")))?)?;
    let ids = diff_ids(&config);
    let layers: Vec<&Value> =
        manifest.get("layers").and_then(|l| l.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
    if ids.len() != layers.len() {
        return Err(serr(format!(
            "config lists {} diff_ids but the manifest lists {} layers",
            ids.len(),
            layers.len()
        )));
    }
    let mut plan = vec![];
    for (l, d) in layers.iter().zip(ids) {
        let dg = l.get("digest").and_then(|x| x.as_str()).unwrap_or("");
        plan.push(LayerPlan {
            diff_id: Some(d),
            blob: blob_path(dg).ok_or_else(|| serr(format!("bad layer digest {dg:?}")))?,
        });
    }
    let mut stats = LoadStats::default();
    let results = load_layers(store, &plan, opts, &mut stats)?;
    let digest = desc.get("digest").and_then(|d| d.as_str()).map(str::to_string);
    Ok(finish(image_name.unwrap_or(name), kind, digest, &plan, results, stats))
}

/// Walk a rootfs directory (no symlinks followed) into one layer result.
fn load_rootfs(root: &Path, opts: &LoadOptions) -> Result<LoadedImage, Error> {
    let mut r = LayerResult::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let mut kept_total = 0u64;
    while let Some((dir, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if dir == root => return Err(Error::io(&dir, e)),
            Err(_) => {
                r.stats.skip("unreadable directory");
                continue;
            }
        };
        for e in rd {
            let Ok(e) = e else { continue };
            r.stats.entries += 1;
            if r.stats.entries > opts.limits.max_entries {
                return Err(Error::Source {
                    source_desc: root.display().to_string(),
                    what: format!("more than {} entries", opts.limits.max_entries),
                });
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let Ok(ft) = e.file_type() else { continue };
            let w = walker::want(&path);
            if ft.is_symlink() {
                if w == walker::Want::Keep
                    && let Ok(t) = std::fs::read_link(e.path())
                {
                    r.symlinks.insert(path, t.to_string_lossy().into_owned());
                }
            } else if ft.is_dir() {
                stack.push((e.path(), path));
            } else if ft.is_file() {
                let Ok(md) = e.metadata() else { continue };
                let size = md.len();
                r.stats.bytes += size;
                let Ok(mut f) = File::open(e.path()) else {
                    r.stats.skip("unreadable file");
                    continue;
                };
                match w {
                    walker::Want::Keep => {
                        if size > opts.limits.max_kept_file || kept_total + size > opts.limits.max_kept_total {
                            r.stats.skip("metadata file over size limit");
                            continue;
                        }
                        let mut buf = vec![];
                        if (&mut f).take(opts.limits.max_kept_file).read_to_end(&mut buf).is_ok() {
                            kept_total += buf.len() as u64;
                            r.files.insert(path, buf);
                        }
                    }
                    walker::Want::Archive => {
                        if size > opts.limits.max_archive {
                            r.stats.skip("archive over size limit");
                            continue;
                        }
                        let mut buf = vec![];
                        if f.read_to_end(&mut buf).is_ok()
                            && let Some(b) = crate::catalog::binary::scan_jar(&buf, &path, 0)
                        {
                            r.binaries.insert(path, b);
                        }
                    }
                    walker::Want::No => {
                        use std::os::unix::fs::PermissionsExt;
                        if md.permissions().mode() & 0o111 != 0 && size >= 1024 {
                            let mut br = io::BufReader::new(f);
                            if let Ok(x) =
                                crate::catalog::binary::examine_executable(&mut br, size, opts.limits.max_binary)
                            {
                                if x.streamed_only {
                                    r.stats.skip(walker::SKIP_BIG_BINARY);
                                }
                                if let Some(b) = x.finding {
                                    r.binaries.insert(path, b);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let stats = LoadStats {
        layers: 1,
        layers_walked: 1,
        entries_walked: r.stats.entries,
        bytes_walked: r.stats.bytes,
        skipped: r.stats.skipped.clone(),
        ..Default::default()
    };
    Ok(LoadedImage {
        name: root.display().to_string(),
        kind: "rootfs",
        digest: None,
        layer_ids: vec![None],
        layers: vec![r],
        stats,
    })
}

/// Load an image from any source.
pub fn load(target: &Target, opts: &LoadOptions) -> Result<LoadedImage, Error> {
    match target {
        Target::Rootfs(p) => load_rootfs(p, opts),
        Target::Layout(p) => {
            if !p.join("index.json").is_file() {
                return Err(Error::Source {
                    source_desc: p.display().to_string(),
                    what: "not an OCI layout (no index.json)".into(),
                });
            }
            load_oci(&Store::Dir(p.clone()), p.display().to_string(), "oci-layout", opts)
        }
        Target::Archive(p) => {
            let store = Store::open_tar(p)?;
            if store.exists("manifest.json") {
                load_docker(&store, p.display().to_string(), opts)
            } else if store.exists("index.json") {
                load_oci(&store, p.display().to_string(), "oci-archive", opts)
            } else {
                Err(Error::Source {
                    source_desc: p.display().to_string(),
                    what: "neither a docker-save archive (manifest.json) nor an OCI archive (index.json)".into(),
                })
            }
        }
        Target::Registry(r) => crate::registry::load(r, opts),
    }
}
