//! Layer walking with real tar streams: whiteouts across layers of a docker archive, the layer
//! cache, jars (nested) and multi-arch OCI layouts. Hostile layers are in `hostile.rs`.

use std::path::Path;

use keelwatch_vuln::catalog::{self, PkgKind};
use keelwatch_vuln::source::{LoadOptions, Target};
use keelwatch_vuln::walker::{self, Limits};
mod common;
use common::*;

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
