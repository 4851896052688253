//! Hostile layers, one test each: path traversal, absolute paths, symlink loops (and a symlink
//! pointing out of the root), a gzip bomb, a million tiny files and truncated/corrupt tars.
//! Every case runs through the real walker (and, where an image can carry it, a full
//! `docker save` archive load with a layer cache in the scratch directory) and asserts:
//! - it ends in bounded time with a clear error or a result whose skips are counted;
//! - bounded memory: peak heap growth of the test's thread, measured by a counting global
//!   allocator, stays under a stated bound;
//! - nothing is written outside the scratch directory: canary paths the layer aims at (under
//!   /tmp, through `..`, absolute names and a symlinked directory) do not exist afterwards, and
//!   the scratch directory holds exactly the image and the expected cache entries.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keelwatch_vuln::catalog;
use keelwatch_vuln::source::{self, LoadOptions, Target};
use keelwatch_vuln::walker::{self, Limits};

mod common;
use common::*;

/// Counts live heap bytes per thread (tests run one per thread) and the peak.
struct CountingAlloc;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v)
            }
        });
    });
}

// SAFETY: delegates every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            track(l.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        track(-(l.size() as i64));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            track(new as i64 - l.size() as i64);
        }
        q
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Run `f`, returning its result, the wall time and the peak heap growth on this thread.
fn bounded<T>(f: impl FnOnce() -> T) -> (T, Duration, i64) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let t = Instant::now();
    let r = f();
    (r, t.elapsed(), PEAK.with(Cell::get) - start)
}

const MIB: i64 = 1 << 20;

/// Canary paths a hostile layer aims at; none may exist after the scan.
struct Canaries(Vec<PathBuf>);

impl Canaries {
    fn new(tag: &str, names: &[&str]) -> Canaries {
        let c = Canaries(
            names.iter().map(|n| PathBuf::from(format!("/tmp/kw-hostile-{}-{tag}-{n}", std::process::id()))).collect(),
        );
        for p in &c.0 {
            assert!(!p.exists(), "stale canary {}", p.display());
        }
        c
    }
    fn name(&self, i: usize) -> String {
        self.0[i].display().to_string()
    }
    fn assert_absent(&self) {
        for p in &self.0 {
            assert!(!p.exists(), "{} was written outside the scratch directory", p.display());
        }
    }
}

/// Load `layers` as a docker archive in a fresh scratch dir with a cache inside it.
fn load_archive(layers: &[Vec<u8>]) -> (tempfile::TempDir, Result<source::LoadedImage, keelwatch_vuln::Error>) {
    let t = tempfile::tempdir().expect("tempdir");
    let img = t.path().join("img.tar");
    docker_archive(&img, layers);
    let opts = LoadOptions { cache_dir: Some(t.path().join("cache")), ..Default::default() };
    let r = source::load(&Target::Archive(img), &opts);
    (t, r)
}

fn cache_entry(layer: &[u8]) -> String {
    format!("cache/v2/{}.json", sha(layer).replace(':', "-"))
}

fn assert_scratch(dir: &Path, cached: &[&[u8]]) {
    let mut want: Vec<String> = cached.iter().map(|l| cache_entry(l)).collect();
    want.push("img.tar".into());
    want.sort();
    assert_eq!(all_files(dir), want);
}

#[test]
fn path_traversal() {
    let c = Canaries::new("trav", &["a", "b"]);
    let a = format!("../../../../../..{}", c.name(0));
    let b = format!("etc/../../..{}", c.name(1));
    let layer = tar_bytes(&[
        E::Raw(b"../../../../etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"),
        E::Raw(a.as_bytes(), b"payload"),
        E::Raw(b.as_bytes(), b"payload"),
    ]);
    let (r, took, peak) = bounded(|| walker::walk_layer(gz(&layer).as_slice(), "sha256:t", &Limits::default()));
    let r = r.expect("walk");
    assert_eq!(r.stats.skipped.get("path with '..' (normalised)"), Some(&3));
    assert!(r.files.contains_key("etc/os-release"), "{:?}", r.files.keys());
    assert!(took < Duration::from_secs(5) && peak < 8 * MIB, "{took:?} {peak}");
    let inv = catalog::catalog(&walker::merge(&[r]), &[None]);
    assert_eq!(inv.os.and_then(|o| o.ecosystem).as_deref(), Some("Alpine:v3.19"));
    let (t, loaded) = load_archive(std::slice::from_ref(&layer));
    loaded.expect("load");
    assert_scratch(t.path(), &[&layer]);
    c.assert_absent();
}

#[test]
fn absolute_paths() {
    let c = Canaries::new("abs", &["short", "long"]);
    // > 100 bytes: written with a GNU long-name extension entry.
    let long = format!("{}-{}", c.name(1), "x".repeat(120));
    let layer = tar_bytes(&[
        E::Raw(b"/lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"),
        E::Raw(b"/etc/alpine-release", b"3.19.1\n"),
        E::Raw(c.name(0).as_bytes(), b"payload"),
        E::RawLong(long.as_bytes(), b"payload"),
    ]);
    let (r, took, peak) = bounded(|| walker::walk_layer(layer.as_slice(), "sha256:a", &Limits::default()));
    let r = r.expect("walk");
    assert!(took < Duration::from_secs(5) && peak < 8 * MIB, "{took:?} {peak}");
    assert_eq!(r.stats.entries, 4);
    let inv = catalog::catalog(&walker::merge(&[r]), &[None]);
    assert_eq!(inv.packages.len(), 1);
    assert_eq!(inv.os.and_then(|o| o.ecosystem).as_deref(), Some("Alpine:v3.19"));
    let (t, loaded) = load_archive(std::slice::from_ref(&layer));
    loaded.expect("load");
    assert_scratch(t.path(), &[&layer]);
    assert!(!Path::new(&long).exists());
    c.assert_absent();
}

#[test]
fn symlink_loops_and_escapes() {
    let c = Canaries::new("link", &["dir"]);
    let layer = tar_bytes(&[
        E::Link("etc/os-release", "/usr/lib/os-release"),
        E::Link("usr/lib/os-release", "../../etc/os-release"),
        E::Link("var/lib/dpkg/status", "status"),
        // A directory symlink out of the root, then a file "inside" it: a writer that
        // followed links would create the canary.
        E::Link("lib/apk", &c.name(0)),
        E::File("lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\no:musl\n\n", 0o644),
    ]);
    let (r, took, peak) = bounded(|| {
        let r = walker::walk_layer(layer.as_slice(), "sha256:l", &Limits::default()).expect("walk");
        let m = walker::merge(&[r]);
        assert!(m.get("etc/os-release").is_none());
        assert!(m.get("var/lib/dpkg/status").is_none());
        catalog::catalog(&m, &[None])
    });
    assert!(took < Duration::from_secs(5) && peak < 8 * MIB, "{took:?} {peak}");
    assert!(r.os.is_none());
    assert_eq!(r.packages.len(), 1, "the apk db is read from the layer, never through the link");
    let (t, loaded) = load_archive(std::slice::from_ref(&layer));
    loaded.expect("load");
    assert_scratch(t.path(), &[&layer]);
    c.assert_absent();
}

#[test]
fn gzip_bomb() {
    let zeros = vec![0u8; 24 << 20];
    let layer = tar_bytes(&[E::File("big", &zeros, 0o644), E::File("etc/os-release", b"ID=debian\n", 0o644)]);
    drop(zeros);
    // Best compression: how small `fast()` gets depends on which deflate backend feature
    // unification picks for the build (miniz_oxide vs zlib-rs).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&layer).expect("gz");
    let bomb = enc.finish().expect("gz");
    assert!(bomb.len() < 200 << 10, "bomb is {} bytes", bomb.len());
    let limits = Limits { ratio_after: 1 << 20, max_ratio: 100, ..Default::default() };
    let (r, took, peak) = bounded(|| walker::walk_layer(bomb.as_slice(), "sha256:bomb", &limits));
    let err = r.expect_err("bomb").to_string();
    assert!(err.contains("decompression bomb") && err.contains("sha256:bomb"), "{err}");
    // A hang guard, not a speed test (bench/vuln measures speed): a debug build on a loaded
    // 2-core CI machine took 10.9 s once, so the bound leaves room.
    assert!(took < Duration::from_secs(30) && peak < 8 * MIB, "{took:?} {peak}");
    let limits = Limits { max_layer_bytes: 8 << 20, ..Default::default() };
    let (r, _, peak) = bounded(|| walker::walk_layer(bomb.as_slice(), "l", &limits));
    assert!(r.expect_err("cap").to_string().contains("exceeds the limits"));
    assert!(peak < 8 * MIB, "{peak}");
    // In an image: the load fails naming the layer, and the failed layer is not cached.
    let t = tempfile::tempdir().expect("tempdir");
    let img = t.path().join("img.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&img).expect("create"));
    let mut h = tar::Header::new_gnu();
    h.set_size(bomb.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "l0/layer.tar", bomb.as_slice()).expect("layer");
    let cfg = serde_json::to_vec(&serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}}))
        .expect("json");
    let manifest =
        serde_json::to_vec(&serde_json::json!([{"Config": "c.json", "Layers": ["l0/layer.tar"]}])).expect("json");
    for (n, d) in [("c.json", cfg.as_slice()), ("manifest.json", manifest.as_slice())] {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, n, d).expect("meta");
    }
    b.into_inner().expect("finish").flush().expect("flush");
    let opts = LoadOptions { cache_dir: Some(t.path().join("cache")), limits, ..Default::default() };
    let err = source::load(&Target::Archive(img), &opts).expect_err("bomb image").to_string();
    assert!(err.contains("exceeds the limits"), "{err}");
    assert_eq!(all_files(t.path()), vec!["img.tar".to_string()]);
}

/// A tar stream of `n` empty regular files `dNNN/fNNNNNNN` generated on the fly (never held in
/// memory): one ustar header template, with the name digits and checksum patched per entry.
struct ManyFiles {
    n: u64,
    i: u64,
    template: [u8; 512],
    base_sum: u32,
    block: [u8; 512],
    pos: usize,
    trailer: usize,
}

impl ManyFiles {
    fn new(n: u64) -> ManyFiles {
        let mut h = tar::Header::new_ustar();
        h.set_path("d000/f0000000").expect("path");
        h.set_size(0);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        let mut template = [0u8; 512];
        template.copy_from_slice(h.as_bytes());
        template[148..156].fill(b' ');
        let base_sum = template.iter().map(|b| *b as u32).sum::<u32>() - 10 * b'0' as u32;
        ManyFiles { n, i: 0, template, base_sum, block: [0; 512], pos: 512, trailer: 1024 }
    }
}

impl Read for ManyFiles {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == 512 {
            if self.i == self.n {
                let k = buf.len().min(self.trailer);
                buf[..k].fill(0);
                self.trailer -= k;
                return Ok(k);
            }
            self.block = self.template;
            let mut sum = self.base_sum;
            let mut put = |at: usize, width: usize, mut v: u64| {
                for j in (0..width).rev() {
                    let d = b'0' + (v % 10) as u8;
                    self.block[at + j] = d;
                    sum += d as u32;
                    v /= 10;
                }
            };
            put(1, 3, self.i % 1000);
            put(6, 7, self.i);
            let ck = format!("{sum:06o}\0 ");
            self.block[148..156].copy_from_slice(ck.as_bytes());
            self.i += 1;
            self.pos = 0;
        }
        let k = buf.len().min(512 - self.pos);
        buf[..k].copy_from_slice(&self.block[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

#[test]
fn a_million_tiny_files() {
    let (r, took, peak) = bounded(|| walker::walk_layer(ManyFiles::new(1_000_000), "sha256:many", &Limits::default()));
    let r = r.expect("walk");
    assert_eq!(r.stats.entries, 1_000_000);
    assert!(r.files.is_empty() && r.binaries.is_empty());
    // Streaming: memory does not grow with the entry count (no file index).
    assert!(peak < 4 * MIB, "peak heap growth {peak} bytes for a million entries");
    assert!(took < Duration::from_secs(90), "{took:?}");
    // The entry limit refuses a layer past it with a clear error.
    let limits = Limits { max_entries: 50_000, ..Default::default() };
    let (r, _, peak) = bounded(|| walker::walk_layer(ManyFiles::new(60_000), "sha256:many", &limits));
    let err = r.expect_err("limit").to_string();
    assert!(err.contains("more than 50000 entries") && err.contains("sha256:many"), "{err}");
    assert!(peak < 4 * MIB, "{peak}");
}

#[test]
fn truncated_and_corrupt_tars() {
    let status =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/pkgdb/debian12/var/lib/dpkg/status"))
            .expect("status");
    let layer = tar_bytes(&[
        E::File("etc/os-release", b"ID=debian\n", 0o644),
        E::File("var/lib/dpkg/status", &status, 0o644),
        E::File("z", b"x", 0o644),
    ]);
    let cut = &layer[..layer.len() / 2];
    let (r, took, peak) = bounded(|| walker::walk_layer(cut, "sha256:cut", &Limits::default()));
    let err = r.expect_err("truncated").to_string();
    assert!(err.contains("sha256:cut") && err.contains("truncated"), "{err}");
    assert!(took < Duration::from_secs(5) && peak < 16 * MIB, "{took:?} {peak}");
    let g = gz(&layer);
    let err = walker::walk_layer(&g[..g.len() / 2], "sha256:cutgz", &Limits::default()).expect_err("gz").to_string();
    assert!(err.contains("truncated") || err.contains("corrupt"), "{err}");
    let mut garbage = g.clone();
    for b in garbage.iter_mut().skip(20).step_by(7) {
        *b ^= 0xa5;
    }
    assert!(walker::walk_layer(garbage.as_slice(), "l", &Limits::default()).is_err());
    // A truncated layer inside an image: the load fails, nothing is cached for it.
    let (t, loaded) = load_archive(&[cut.to_vec()]);
    let err = loaded.expect_err("truncated image").to_string();
    assert!(err.contains("truncated") || err.contains("corrupt"), "{err}");
    assert_scratch(t.path(), &[]);
    // Not an archive at all.
    let p = t.path().join("junk.tar");
    std::fs::write(&p, b"not a tar").expect("write");
    let err = source::load(&Target::Archive(p), &LoadOptions::default()).expect_err("junk").to_string();
    assert!(err.contains("junk.tar"), "{err}");
}
