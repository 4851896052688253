//! Layer walking with real tar streams: whiteouts across layers of a docker archive, the layer
//! cache, jars (nested), and hostile input — path traversal, absolute paths, symlink loops, a
//! gzip bomb, many files, entry-count limits, truncated and corrupt streams. Nothing may be
//! written outside the scratch/cache directory and every case ends with a result or a clear
//! error.

use std::io::Write;
use std::path::Path;

use keelwatch_vuln::catalog::{self, PkgKind};
use keelwatch_vuln::source::{self, LoadOptions, Target};
use keelwatch_vuln::walker::{self, Limits};
use sha2::{Digest, Sha256};

enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    /// Raw name bytes written straight into the header (bypasses the tar crate's checks).
    Raw(&'a [u8], &'a [u8]),
}

fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(p, d, mode) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(d.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, p, *d).expect("append");
            }
            E::Link(p, t) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).expect("link");
            }
            E::Raw(name, d) => {
                let mut h = tar::Header::new_old();
                h.as_old_mut().name[..name.len()].copy_from_slice(name);
                h.set_size(d.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append(&h, *d).expect("raw");
            }
        }
    }
    b.into_inner().expect("finish")
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}

fn sha(d: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(d)))
}

/// A docker-save archive with the given (uncompressed) layer tars; layers stored gzipped.
fn docker_archive(path: &Path, layers: &[Vec<u8>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    let mut names = vec![];
    let mut diffs = vec![];
    for (i, l) in layers.iter().enumerate() {
        diffs.push(sha(l));
        let name = format!("l{i}/layer.tar");
        let data = gz(l);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, data.as_slice()).expect("layer");
        names.push(name);
    }
    let config =
        serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}});
    let cfg = serde_json::to_vec(&config).expect("json");
    let cfg_name = format!("{}.json", hex::encode(Sha256::digest(&cfg)));
    let manifest =
        serde_json::to_vec(&serde_json::json!([{"Config": cfg_name, "RepoTags": ["t/x:1"], "Layers": names}]))
            .expect("json");
    for (n, d) in [(cfg_name.as_str(), cfg.as_slice()), ("manifest.json", manifest.as_slice())] {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, n, d).expect("meta");
    }
    b.into_inner().expect("finish").flush().expect("flush");
}

fn meta(name: &str, version: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes()
}

fn all_files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().expect("ft").is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).expect("prefix").display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn whiteouts_and_cache_across_real_layers() {
    let sp = "usr/lib/python3.11/site-packages";
    let (a, b, c) = (meta("alpha", "1.0"), meta("beta", "2.0"), meta("gamma", "3.0"));
    let l0 = tar_bytes(&[
        E::File("etc/os-release", b"ID=debian\nVERSION_ID=12\n", 0o644),
        E::File(&format!("{sp}/alpha-1.0.dist-info/METADATA"), &a, 0o644),
        E::File(&format!("{sp}/beta-2.0.dist-info/METADATA"), &b, 0o644),
        E::File("opt/app/node_modules/left-pad/package.json", br#"{"name":"left-pad","version":"1.1.0"}"#, 0o644),
    ]);
    // Upper layer: deletes alpha (whiteout of its directory), hides all of opt/app (opaque
    // marker, placed *after* one of its own entries: it must not hide that entry), adds gamma.
    let opq = "opt/app/.wh..wh..opq".to_string();
    let l1 = tar_bytes(&[
        E::File("opt/app/node_modules/is-odd/package.json", br#"{"name":"is-odd","version":"3.0.1"}"#, 0o644),
        E::File(&format!("{sp}/.wh.alpha-1.0.dist-info"), b"", 0o644),
        E::File(&opq, b"", 0o644),
        E::File(&format!("{sp}/gamma-3.0.dist-info/METADATA"), &c, 0o644),
    ]);
    let t = tempfile::tempdir().expect("tempdir");
    let img = t.path().join("img.tar");
    docker_archive(&img, &[l0.clone(), l1.clone()]);
    let opts = LoadOptions { cache_dir: Some(t.path().join("cache")), ..Default::default() };
    let (loaded, inv) = keelwatch_vuln::scan::inventory(&Target::Archive(img.clone()), &opts).expect("load");
    let names: Vec<(String, PkgKind)> = inv.packages.iter().map(|p| (p.name.clone(), p.kind)).collect();
    assert_eq!(
        names,
        vec![("beta".into(), PkgKind::Python), ("gamma".into(), PkgKind::Python), ("is-odd".into(), PkgKind::Npm)]
    );
    assert_eq!(inv.os.as_ref().and_then(|o| o.ecosystem.clone()).as_deref(), Some("Debian:12"));
    assert_eq!(loaded.stats.layers_walked, 2);
    // beta comes from layer 0, gamma from layer 1.
    let beta = inv.packages.iter().find(|p| p.name == "beta").expect("beta");
    assert_eq!(beta.layer.as_deref(), Some(sha(&l0).as_str()));
    // Second load: everything from the cache, identical inventory.
    let (again, inv2) = keelwatch_vuln::scan::inventory(&Target::Archive(img), &opts).expect("reload");
    assert_eq!((again.stats.layers_from_cache, again.stats.layers_walked), (2, 0));
    assert_eq!(inv2.packages, inv.packages);
    // Only the image and the two cache entries exist in the scratch dir.
    let files = all_files(t.path());
    let mut want = vec![
        format!("cache/v2/{}.json", sha(&l0).replace(':', "-")),
        format!("cache/v2/{}.json", sha(&l1).replace(':', "-")),
        "img.tar".to_string(),
    ];
    want.sort();
    assert_eq!(files, want);
}

#[test]
fn traversal_and_absolute_paths_are_normalised_never_written() {
    let t = tempfile::tempdir().expect("tempdir");
    let evil = format!("../../../../tmp/keelwatch-evil-{}", std::process::id());
    let layer = tar_bytes(&[
        E::Raw(b"../../../../etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"),
        E::Raw(b"/lib/apk/db/installed", b"P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"),
        E::Raw(evil.as_bytes(), b"payload"),
    ]);
    let r = walker::walk_layer(gz(&layer).as_slice(), "sha256:test", &Limits::default()).expect("walk");
    assert!(r.files.contains_key("etc/os-release") && r.files.contains_key("lib/apk/db/installed"));
    assert_eq!(r.stats.skipped.get("path with '..' (normalised)"), Some(&2));
    let m = walker::merge(&[r]);
    let inv = catalog::catalog(&m, &[None]);
    assert_eq!(inv.os.and_then(|o| o.ecosystem).as_deref(), Some("Alpine:v3.19"));
    assert_eq!(inv.packages.len(), 1);
    assert!(!Path::new(&format!("/tmp/keelwatch-evil-{}", std::process::id())).exists());
    // Through a full archive load as well: nothing outside the scratch dir.
    let img = t.path().join("img.tar");
    docker_archive(&img, &[layer]);
    let opts = LoadOptions { cache_dir: Some(t.path().join("cache")), ..Default::default() };
    source::load(&Target::Archive(img), &opts).expect("load");
    assert_eq!(all_files(t.path()).len(), 2);
}

#[test]
fn symlink_loops_end() {
    let layer = tar_bytes(&[
        E::Link("etc/os-release", "/usr/lib/os-release"),
        E::Link("usr/lib/os-release", "../../etc/os-release"),
    ]);
    let r = walker::walk_layer(layer.as_slice(), "l", &Limits::default()).expect("walk");
    let m = walker::merge(&[r]);
    assert!(m.get("etc/os-release").is_none());
    assert!(catalog::catalog(&m, &[None]).os.is_none());
}

#[test]
fn gzip_bomb_stops_at_the_limits() {
    let zeros = vec![0u8; 24 << 20];
    let layer = tar_bytes(&[E::File("big", &zeros, 0o644), E::File("etc/os-release", b"ID=debian\n", 0o644)]);
    // Best compression: how small `fast()` gets depends on which deflate backend feature
    // unification picks for the build (miniz_oxide vs zlib-rs).
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&layer).expect("gz");
    let bomb = enc.finish().expect("gz");
    assert!(bomb.len() < 200 << 10, "bomb is {} bytes", bomb.len());
    let limits = Limits { ratio_after: 1 << 20, max_ratio: 100, ..Default::default() };
    let start = std::time::Instant::now();
    let err = walker::walk_layer(bomb.as_slice(), "sha256:bomb", &limits).expect_err("bomb").to_string();
    assert!(err.contains("decompression bomb") && err.contains("sha256:bomb"), "{err}");
    assert!(start.elapsed().as_secs() < 10);
    // Absolute size cap too.
    let limits = Limits { max_layer_bytes: 8 << 20, ..Default::default() };
    let err = walker::walk_layer(bomb.as_slice(), "l", &limits).expect_err("cap").to_string();
    assert!(err.contains("exceeds the limits"), "{err}");
}

#[test]
fn many_files_stream_and_entry_limit() {
    let names: Vec<String> = (0..30_000).map(|i| format!("d{}/f{i}", i % 100)).collect();
    let entries: Vec<E> = names.iter().map(|n| E::File(n, b"", 0o644)).collect();
    let layer = tar_bytes(&entries);
    let r = walker::walk_layer(layer.as_slice(), "l", &Limits::default()).expect("walk");
    assert_eq!(r.stats.entries, 30_000);
    assert!(r.files.is_empty());
    let err = walker::walk_layer(layer.as_slice(), "l", &Limits { max_entries: 10_000, ..Default::default() })
        .expect_err("limit")
        .to_string();
    assert!(err.contains("more than 10000 entries"), "{err}");
}

#[test]
fn truncated_and_corrupt_layers_error_clearly() {
    let status =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/pkgdb/debian12/var/lib/dpkg/status"))
            .expect("status");
    let layer = tar_bytes(&[
        E::File("etc/os-release", b"ID=debian\n", 0o644),
        E::File("var/lib/dpkg/status", &status, 0o644),
        E::File("z", b"x", 0o644),
    ]);
    let cut = &layer[..layer.len() / 2];
    let err = walker::walk_layer(cut, "sha256:cut", &Limits::default()).expect_err("truncated").to_string();
    assert!(err.contains("sha256:cut") && err.contains("truncated"), "{err}");
    let g = gz(&layer);
    let err = walker::walk_layer(&g[..g.len() / 2], "sha256:cutgz", &Limits::default())
        .expect_err("truncated gz")
        .to_string();
    assert!(err.contains("truncated") || err.contains("corrupt"), "{err}");
    let mut garbage = g.clone();
    for b in garbage.iter_mut().skip(20).step_by(7) {
        *b ^= 0xa5;
    }
    assert!(walker::walk_layer(garbage.as_slice(), "l", &Limits::default()).is_err());
    // Not an archive at all.
    let t = tempfile::tempdir().expect("tempdir");
    let p = t.path().join("junk.tar");
    std::fs::write(&p, b"not a tar").expect("write");
    let err = source::load(&Target::Archive(p), &LoadOptions::default()).expect_err("junk").to_string();
    assert!(err.contains("junk.tar"), "{err}");
}

/// A stored (uncompressed) zip written by hand, enough for jar tests.
fn zip_stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![];
    let mut cd = vec![];
    for (name, data) in entries {
        let off = out.len() as u32;
        let crc = {
            let mut h = flate2::Crc::new();
            h.update(data);
            h.sum()
        };
        let mut lh = vec![];
        lh.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        lh.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        lh.extend_from_slice(&crc.to_le_bytes());
        lh.extend_from_slice(&(data.len() as u32).to_le_bytes());
        lh.extend_from_slice(&(data.len() as u32).to_le_bytes());
        lh.extend_from_slice(&(name.len() as u16).to_le_bytes());
        lh.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&lh);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend_from_slice(&crc.to_le_bytes());
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0u8; 12]);
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

#[test]
fn jars_with_pom_properties_manifest_and_nesting() {
    let inner = zip_stored(&[(
        "META-INF/maven/org.yaml/snakeyaml/pom.properties",
        b"groupId=org.yaml\nartifactId=snakeyaml\nversion=1.33\n",
    )]);
    let manifest_only = zip_stored(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nImplementation-Title: commons-text\r\nImplementation-Version: 1.9\r\nImplementation-Vendor-Id: org.apache.commons\r\n")]);
    let outer = zip_stored(&[
        ("META-INF/maven/com.example/app/pom.properties", b"groupId=com.example\nartifactId=app\nversion=0.1.0\n"),
        ("BOOT-INF/lib/snakeyaml-1.33.jar", &inner),
        ("BOOT-INF/lib/commons-text-1.9.jar", &manifest_only),
    ]);
    let layer =
        tar_bytes(&[E::File("app/app.jar", &outer, 0o644), E::File("app/broken.jar", b"PK\x03\x04 not really", 0o644)]);
    let r = walker::walk_layer(layer.as_slice(), "l", &Limits::default()).expect("walk");
    let inv = catalog::catalog(&walker::merge(&[r]), &[None]);
    let got: Vec<(String, String, String)> =
        inv.packages.iter().map(|p| (p.name.clone(), p.version.clone(), p.path.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("com.example:app".into(), "0.1.0".into(), "app/app.jar".into()),
            (
                "org.apache.commons:commons-text".into(),
                "1.9".into(),
                "app/app.jar!/BOOT-INF/lib/commons-text-1.9.jar".into()
            ),
            ("org.yaml:snakeyaml".into(), "1.33".into(), "app/app.jar!/BOOT-INF/lib/snakeyaml-1.33.jar".into()),
        ]
    );
    assert!(inv.packages.iter().all(|p| p.kind == PkgKind::Maven && p.purl.starts_with("pkg:maven/")));
}

fn put_blob(dir: &Path, data: &[u8]) -> (String, usize) {
    let d = sha(data);
    let p = dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("blob");
    (d, data.len())
}

/// An OCI layout whose index.json points at an image index with two platforms.
#[test]
fn oci_layout_multi_arch_platform_selection() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("layout");
    let mut manifests = vec![];
    for (arch, osr) in
        [("amd64", &b"ID=debian\nVERSION_ID=12\n"[..]), ("arm64", &b"ID=alpine\nVERSION_ID=3.19.0\n"[..])]
    {
        let layer = tar_bytes(&[E::File("etc/os-release", osr, 0o644)]);
        let (ld, ll) = put_blob(&dir, &gz(&layer));
        let cfg = serde_json::to_vec(&serde_json::json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}})).expect("json");
        let (cd, cl) = put_blob(&dir, &cfg);
        let m = serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cl},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ll}]}),
        )
        .expect("json");
        let (md, ml) = put_blob(&dir, &m);
        manifests.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ml, "platform": {"os": "linux", "architecture": arch}}));
    }
    // An attestation-like entry with an unknown platform must be ignored.
    manifests.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifests[0]["digest"], "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}}));
    let idx = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).expect("json");
    let (id, il) = put_blob(&dir, &idx);
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("write");
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": il, "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]})).expect("json")).expect("write");
    let os_of = |platform: &str| {
        let opts = LoadOptions { platform: Some(platform.to_string()), ..Default::default() };
        keelwatch_vuln::scan::inventory(&Target::Layout(dir.clone()), &opts)
            .map(|(img, inv)| (img.kind, inv.os.map(|o| o.id)))
    };
    assert_eq!(os_of("linux/amd64").expect("amd64"), ("oci-layout", Some("debian".to_string())));
    assert_eq!(os_of("linux/arm64").expect("arm64"), ("oci-layout", Some("alpine".to_string())));
    let err = os_of("linux/s390x").expect_err("none").to_string();
    assert!(err.contains("linux/amd64") && err.contains("linux/arm64") && err.contains("--platform"), "{err}");
    assert_eq!(Target::detect(dir.to_str().expect("utf8")), Target::Layout(dir.clone()));
}
