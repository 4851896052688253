//! End-to-end tests of `keelwatch db`, `keelwatch scan image` and `keelwatch sbom` with real
//! parts: images built here from shared/data (docker archive by hand, OCI layout / OCI
//! archive / zstd layout and a registry push with `skopeo`), a real `docker-registry` on
//! 127.0.0.1 (started by .ci/setup.d/vuln.sh), Python wheels from PyPI, rpm packages built with
//! `rpmbuild`, and a Go binary from a Debian package. Tools missing → the test fails and says
//! to run `.ci/setup.d/vuln.sh`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/");
const KW: &str = env!("CARGO_BIN_EXE_keelwatch");

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] {
        let p = format!("{dir}/{name}");
        if Path::new(&p).exists() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` is not installed: run `bash .ci/setup.d/vuln.sh` (as root) to install the vulnerability-scanner test dependencies"
    );
}

/// The OSV database with the three shared dumps, imported once through the CLI.
fn db() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let osv = format!("{SHARED}osv/");
        let out = ok(Command::new(KW)
            .args([
                "db",
                "import",
                &format!("{osv}AlmaLinux-all.zip"),
                &format!("{osv}Go-all.zip"),
                &format!("{osv}PyPI-all.zip"),
                "--db",
            ])
            .arg(t.path().join("db")));
        assert!(out.contains("12562 advisories total"), "{out}");
        t
    })
    .path()
}

fn dbdir() -> PathBuf {
    db().join("db")
}

fn sha256_file(p: &Path) -> String {
    let out = ok(Command::new(tool("sha256sum")).arg(p));
    out.split_whitespace().next().expect("hash").to_string()
}

/// Build a one-layer `docker save` archive from `rootfs` with system `tar` and `sha256sum`.
fn docker_archive(rootfs: &Path, work: &Path, tag: &str) -> PathBuf {
    let img = work.join("img");
    std::fs::create_dir_all(&img).expect("mkdir");
    let layer = work.join("layer.tar");
    ok(Command::new(tool("tar"))
        .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let diff = sha256_file(&layer);
    std::fs::create_dir_all(img.join(&diff)).expect("mkdir");
    std::fs::rename(&layer, img.join(&diff).join("layer.tar")).expect("mv");
    let config = json!({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff}")]}, "history": [{"created_by": "keelwatch test"}]});
    let cfg_bytes = serde_json::to_vec(&config).expect("json");
    let cfg_path = work.join("config.json");
    std::fs::write(&cfg_path, &cfg_bytes).expect("write");
    let cfg_hash = sha256_file(&cfg_path);
    std::fs::rename(&cfg_path, img.join(format!("{cfg_hash}.json"))).expect("mv");
    let manifest =
        json!([{"Config": format!("{cfg_hash}.json"), "RepoTags": [tag], "Layers": [format!("{diff}/layer.tar")]}]);
    std::fs::write(img.join("manifest.json"), serde_json::to_vec(&manifest).expect("json")).expect("write");
    let out = work.join("image.tar");
    ok(Command::new(tool("tar")).arg("-C").arg(&img).arg("-cf").arg(&out).arg("."));
    out
}

fn copy_dir(from: &Path, to: &Path) {
    ok(Command::new(tool("cp")).arg("-a").arg(format!("{}/.", from.display())).arg(to));
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

fn scan_json(args: &[&str], extra: &[&Path]) -> Value {
    let mut c = Command::new(KW);
    c.args(["scan", "image"]).args(args);
    for e in extra {
        c.arg(e);
    }
    c.arg("--db").arg(dbdir()).args(["-o", "json"]);
    serde_json::from_str(&ok(&mut c)).expect("report json")
}

fn packages(r: &Value) -> BTreeSet<(String, String)> {
    r["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .flat_map(|t| t["packages"].as_array().expect("pkgs").iter())
        .map(|p| (p["name"].as_str().unwrap_or("").to_string(), p["version"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn finding_ids(r: &Value, ecosystem_prefix: &str) -> BTreeSet<String> {
    r["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .flat_map(|t| t["vulnerabilities"].as_array().expect("vulns").iter())
        .filter(|f| f["ecosystem"].as_str().unwrap_or("").starts_with(ecosystem_prefix))
        .map(|f| f["id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn registry() -> String {
    let addr = std::env::var("KEELWATCH_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5077".into());
    if std::net::TcpStream::connect(&addr).is_err() {
        panic!(
            "no docker-registry answering on {addr}: run `bash .ci/setup.d/vuln.sh` (it installs docker-registry and starts it on 127.0.0.1:5077)"
        );
    }
    addr
}

#[test]
fn compare_versions_cli() {
    let cases = [
        ("Debian:12", "1.0~rc1", "1.0", "<"),
        ("AlmaLinux:9", "2:1.34-6.el9_1", "1.99-1", ">"),
        ("PyPI", "1.0.post1", "1.0", ">"),
        ("npm", "1.0.0-rc.1", "1.0.0", "<"),
        ("Go", "v1.2.3", "1.2.3", "="),
        ("Maven", "1.0-SNAPSHOT", "1.0", "<"),
        ("RubyGems", "1.0.a", "1.0", "<"),
        ("Alpine:v3.19", "1.2.3-r1", "1.2.3_rc1-r5", ">"),
        ("dpkg", "1:1", "2", ">"),
    ];
    for (e, a, b, want) in cases {
        let out = ok(Command::new(KW).args(["db", "compare-versions", e, a, b]));
        assert_eq!(out.trim(), want, "{e} {a} {b}");
    }
    let out = run(Command::new(KW).args(["db", "compare-versions", "Nope", "1", "2"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown ecosystem"));
}

#[test]
fn db_status_reports_counts_and_sources() {
    let out = ok(Command::new(KW).args(["db", "status", "--json", "--db"]).arg(dbdir()));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ecosystems"]["AlmaLinux:9"], 1783);
    assert_eq!(v["ecosystems"]["PyPI"], 2651);
    assert_eq!(v["sources"].as_array().map(|a| a.len()), Some(3));
    assert!(v["age_seconds"].as_i64().is_some_and(|a| a < 3600));
    let text = ok(Command::new(KW).args(["db", "status", "--db"]).arg(dbdir()));
    assert!(text.contains("Go") && text.contains("4274"), "{text}");
    // No database → exit 2 and a hint.
    let out = run(Command::new(KW).args(["db", "status", "--db", "/nonexistent/kw-db"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keelwatch db import"));
}

/// (a) debian12 as docker archive, OCI layout, OCI archive, zstd OCI layout and a registry
/// reference: all report the same 707 packages; a rescan is served from the layer cache.
#[test]
fn debian12_image_in_every_format() {
    let skopeo = tool("skopeo");
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(&root).expect("mkdir");
    copy_dir(Path::new(&format!("{SHARED}pkgdb/debian12")), &root);
    let archive = docker_archive(&root, t.path(), "keelwatch-test/deb12:latest");
    let cache = t.path().join("cache");
    let cache_s = cache.to_str().expect("utf8").to_string();

    let from_archive = scan_json(&["--cache-dir", &cache_s, "--input"], &[&archive]);
    let pk = packages(&from_archive);
    assert_eq!(pk.len(), 707, "docker archive");
    assert_eq!(from_archive["os"]["ecosystem"], "Debian:12");
    assert_eq!(from_archive["artifact"]["type"], "docker-archive");
    assert_eq!(from_archive["stats"]["layers_walked"], 1);

    // Warm cache: same diffID, nothing decompressed.
    let again = scan_json(&["--cache-dir", &cache_s, "--input"], &[&archive]);
    assert_eq!(again["stats"]["layers_from_cache"], 1);
    assert_eq!(again["stats"]["layers_walked"], 0);
    assert_eq!(packages(&again), pk);

    let layout = t.path().join("layout");
    ok(Command::new(&skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:latest", layout.display())));
    let r = scan_json(&["--no-cache", "--layout"], &[&layout]);
    assert_eq!(r["artifact"]["type"], "oci-layout");
    assert_eq!(packages(&r), pk, "OCI layout");

    let oci_tar = t.path().join("oci.tar");
    ok(Command::new(&skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci-archive:{}:latest", oci_tar.display())));
    let r = scan_json(&["--no-cache", "--input"], &[&oci_tar]);
    assert_eq!(r["artifact"]["type"], "oci-archive");
    assert_eq!(packages(&r), pk, "OCI archive");

    let zstd = t.path().join("zstd");
    ok(Command::new(&skopeo)
        .args(["copy", "--quiet", "--dest-compress", "--dest-compress-format", "zstd"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:latest", zstd.display())));
    let r = scan_json(&["--no-cache", "--layout"], &[&zstd]);
    assert_eq!(packages(&r), pk, "zstd OCI layout");

    let reg = registry();
    let reference = format!("{reg}/keelwatch-test/deb12:{}", std::process::id());
    ok(Command::new(&skopeo)
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{reference}")));
    let r = scan_json(&["--no-cache", "--insecure", &reference], &[]);
    assert_eq!(r["artifact"]["type"], "registry");
    assert!(r["artifact"]["digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
    assert_eq!(packages(&r), pk, "registry reference");

    // SBOM: CycloneDX 1.5 with the same packages.
    let sbom: Value = serde_json::from_str(&ok(Command::new(KW).args(["sbom", "--no-cache", "--input"]).arg(&archive)))
        .expect("json");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["specVersion"], "1.5");
    let libs = sbom["components"].as_array().expect("components").iter().filter(|c| c["type"] == "library").count();
    assert_eq!(libs, 707);
    // A missing tag in the registry is a clear error, exit 2.
    let out = run(Command::new(KW)
        .args(["scan", "image", "--no-cache", "--insecure", &format!("{reg}/keelwatch-test/none:nope"), "--db"])
        .arg(dbdir()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn python_image(t: &Path) -> PathBuf {
    let wheels = std::env::var("KEELWATCH_TEST_WHEELS").unwrap_or_else(|_| "/var/tmp/keelwatch-vuln-ci/wheels".into());
    let whl: Vec<PathBuf> = std::fs::read_dir(&wheels)
        .unwrap_or_else(|e| {
            panic!("wheel cache {wheels}: {e}: run `bash .ci/setup.d/vuln.sh` to download the test wheels from PyPI")
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert!(whl.len() >= 3, "expected jinja2, urllib3 and requests wheels in {wheels}: run `bash .ci/setup.d/vuln.sh`");
    let root = t.join("pyroot");
    let site = root.join("usr/local/lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).expect("mkdir");
    let mut c = Command::new("python3");
    c.args(["-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-compile", "--target"]).arg(&site);
    for w in &whl {
        c.arg(w);
    }
    ok(&mut c);
    write(&root, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
    // A dist-info owned by a Debian package must not be reported as a Python package.
    write(
        &root,
        "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n",
    );
    write(
        &root,
        "var/lib/dpkg/status",
        b"Package: python3-six\nStatus: install ok installed\nSource: six\nVersion: 1.16.0-4\nArchitecture: all\n",
    );
    write(&root, "var/lib/dpkg/info/python3-six.list", b"/usr/lib/python3/dist-packages/six-1.16.0.dist-info\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n");
    let work = t.join("pywork");
    std::fs::create_dir_all(&work).expect("mkdir");
    docker_archive(&root, &work, "keelwatch-test/python:latest")
}

/// (b) Python packages installed from PyPI wheels at known-vulnerable versions: exactly the ids
/// computed independently (pypa `packaging`) from osv/PyPI-all.zip.
#[test]
fn python_packages_match_pypi_advisories() {
    let t = tempfile::tempdir().expect("tempdir");
    let img = python_image(t.path());
    let r = scan_json(&["--no-cache", "--input"], &[&img]);
    let want: BTreeSet<String> = [
        "PYSEC-2021-66",
        "PYSEC-2019-132",
        "PYSEC-2019-133",
        "PYSEC-2020-148",
        "PYSEC-2021-108",
        "PYSEC-2023-192",
        "PYSEC-2023-207",
        "PYSEC-2023-212",
        "PYSEC-2018-28",
        "PYSEC-2023-74",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(finding_ids(&r, "PyPI"), want);
    let names: BTreeSet<String> = packages(&r).into_iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    assert!(names.contains("jinja2") && names.contains("urllib3") && names.contains("requests"));
    assert!(!names.contains("six"), "dpkg-owned dist-info reported as a Python package");
    let jinja = r["targets"]
        .as_array()
        .expect("t")
        .iter()
        .flat_map(|t| t["vulnerabilities"].as_array().expect("v").iter())
        .find(|f| f["id"] == "PYSEC-2021-66")
        .expect("jinja2 finding")
        .clone();
    assert_eq!(jinja["fixed"], "2.11.3");
    assert_eq!(jinja["status"], "fixed");
    assert!(jinja["aliases"].as_array().expect("aliases").iter().any(|a| a == "CVE-2020-28493"));
    assert!(jinja["layer"].as_str().is_some_and(|l| l.starts_with("sha256:")));
    assert!(jinja["path"].as_str().is_some_and(|p| p.ends_with("Jinja2-2.11.2.dist-info/METADATA")));
}

/// Reports: SARIF, CycloneDX with vulnerabilities, --severity, --ignore-unfixed, --exit-code,
/// ignore file (with expiry) and OpenVEX suppression that the report states.
#[test]
fn report_formats_filters_and_suppression() {
    let t = tempfile::tempdir().expect("tempdir");
    let img = python_image(t.path());
    let base = || {
        let mut c = Command::new(KW);
        c.args(["scan", "image", "--no-cache", "--input"]).arg(&img).arg("--db").arg(dbdir());
        c
    };
    let sarif: Value = serde_json::from_str(&ok(base().args(["-o", "sarif"]))).expect("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 10);
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["id"] == "PYSEC-2021-66")
    );
    let cdx: Value = serde_json::from_str(&ok(base().args(["-o", "cyclonedx"]))).expect("cdx");
    assert_eq!(cdx["specVersion"], "1.5");
    let v = cdx["vulnerabilities"].as_array().expect("vulns");
    assert_eq!(v.len(), 10);
    let refs: BTreeSet<&str> =
        cdx["components"].as_array().expect("c").iter().filter_map(|c| c["bom-ref"].as_str()).collect();
    for x in v {
        for a in x["affects"].as_array().expect("affects") {
            assert!(refs.contains(a["ref"].as_str().unwrap_or("")), "dangling affects ref {a}");
        }
    }
    // Exit code with findings, 0 without.
    let out = run(base().args(["--exit-code", "3", "-o", "table"]));
    assert_eq!(out.status.code(), Some(3));
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(table.contains("Python") && table.contains("PYSEC-2021-66") && table.contains("Total: 10"), "{table}");
    let crit = run(base().args(["--exit-code", "3", "--severity", "CRITICAL", "-o", "json"]));
    let crit_json: Value = serde_json::from_slice(&crit.stdout).expect("json");
    let n_crit = crit_json["targets"]
        .as_array()
        .expect("t")
        .iter()
        .map(|t| t["vulnerabilities"].as_array().map_or(0, |v| v.len()))
        .sum::<usize>();
    assert_eq!(crit.status.code(), Some(if n_crit > 0 { 3 } else { 0 }));
    assert!(n_crit < 10);
    // --ignore-unfixed keeps only findings with a fixed version.
    let unf: Value = serde_json::from_str(&ok(base().args(["--ignore-unfixed", "-o", "json"]))).expect("json");
    assert!(
        unf["targets"]
            .as_array()
            .expect("t")
            .iter()
            .flat_map(|t| t["vulnerabilities"].as_array().expect("v").iter())
            .all(|f| f["fixed"].is_string())
    );
    // Ignore file: by alias, with a reason; an expired entry does not suppress.
    let ign = t.path().join("ignore");
    std::fs::write(
        &ign,
        "CVE-2020-28493  # template injection not reachable\nPYSEC-2018-28 exp:2020-01-01 # old decision\n",
    )
    .expect("write");
    // OpenVEX not_affected for the requests advisory PYSEC-2023-74 on the requests purl.
    let vex = t.path().join("vex.json");
    std::fs::write(&vex, serde_json::to_vec(&json!({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.invalid/vex/1", "author": "test", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "PYSEC-2023-74"}, "products": [{"@id": "pkg:pypi/requests@2.19.1"}], "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}]
    })).expect("json")).expect("write");
    let r: Value =
        serde_json::from_str(&ok(base().arg("--ignore-file").arg(&ign).arg("--vex").arg(&vex).args(["-o", "json"])))
            .expect("json");
    let ids = finding_ids(&r, "PyPI");
    assert!(
        !ids.contains("PYSEC-2021-66") && !ids.contains("PYSEC-2023-74") && ids.contains("PYSEC-2018-28"),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 8);
    let sup = r["suppressed"].as_array().expect("suppressed");
    assert_eq!(sup.len(), 2);
    assert!(sup.iter().any(|s| s["by"] == "ignore-file" && s["reason"] == "template injection not reachable"));
    assert!(sup.iter().any(|s| s["by"] == "vex" && s["reason"].as_str().unwrap_or("").contains("not_affected")));
    assert!(r["warnings"].as_array().expect("w").iter().any(|w| w.as_str().unwrap_or("").contains("expired")));
    // Bad inputs: exit 2 with the file and line.
    std::fs::write(&ign, "CVE-1 whatever\n").expect("write");
    let out = run(base().arg("--ignore-file").arg(&ign));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn rpmbuild(work: &Path, name: &str, epoch: Option<u32>, version: &str, release: &str) -> PathBuf {
    let top = work.join(format!("rpmbuild-{name}"));
    std::fs::create_dir_all(top.join("SPECS")).expect("mkdir");
    let spec = top.join("SPECS").join(format!("{name}.spec"));
    let epoch_line = epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
    std::fs::write(&spec, format!("Name: {name}\n{epoch_line}Version: {version}\nRelease: {release}\nSummary: keelwatch test package\nLicense: MIT\nBuildArch: x86_64\n\n%description\nkeelwatch test package\n\n%install\nmkdir -p %{{buildroot}}/usr/share/doc/{name}\necho test > %{{buildroot}}/usr/share/doc/{name}/README\n\n%files\n/usr/share/doc/{name}/README\n")).expect("spec");
    ok(Command::new(tool("rpmbuild"))
        .arg("-bb")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--target")
        .arg("x86_64")
        .arg(&spec));
    let dir = top.join("RPMS/x86_64");
    std::fs::read_dir(&dir)
        .expect("RPMS")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "rpm"))
        .expect("built rpm")
}

/// (c)+(d) rpm packages built with rpmbuild at versions AlmaLinux advisories fix, installed
/// into an rpm database (sqlite backend) in an AlmaLinux 9 image, match the right ALSA ids.
#[test]
fn rpmbuild_packages_match_almalinux_advisories() {
    let rpm = tool("rpm");
    let t = tempfile::tempdir().expect("tempdir");
    let less = rpmbuild(t.path(), "less", None, "590", "1.el9");
    let tar = rpmbuild(t.path(), "tar", Some(2), "1.34", "6.el9_1");
    let root = t.path().join("alma");
    let dbpath = root.join("var/lib/rpm");
    std::fs::create_dir_all(&dbpath).expect("mkdir");
    ok(Command::new(&rpm).arg("--dbpath").arg(&dbpath).args(["--define", "_db_backend sqlite", "--initdb"]));
    ok(Command::new(&rpm)
        .arg("--dbpath")
        .arg(&dbpath)
        .args([
            "--define",
            "_db_backend sqlite",
            "-i",
            "--justdb",
            "--nodeps",
            "--noscripts",
            "--ignorearch",
            "--ignoreos",
        ])
        .arg(&less)
        .arg(&tar));
    assert!(dbpath.join("rpmdb.sqlite").exists(), "rpm did not write an sqlite database");
    write(&root, "etc/os-release", b"NAME=\"AlmaLinux\"\nID=\"almalinux\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"AlmaLinux 9.3 (Shamrock Pampas Cat)\"\n");
    let img = docker_archive(&root, t.path(), "keelwatch-test/alma:9");
    let r = scan_json(&["--no-cache", "--input"], &[&img]);
    assert_eq!(r["os"]["ecosystem"], "AlmaLinux:9");
    let pk = packages(&r);
    assert!(
        pk.contains(&("less".into(), "590-1.el9".into())) && pk.contains(&("tar".into(), "2:1.34-6.el9_1".into())),
        "{pk:?}"
    );
    let ids = finding_ids(&r, "AlmaLinux:9");
    for want in ["ALSA-2023:3725", "ALSA-2024:1692", "ALSA-2024:3513", "ALSA-2026:0067"] {
        assert!(ids.contains(want), "missing {want} in {ids:?}");
    }
    // tar 2:1.34-6.el9_1 is exactly the version ALSA-2023:0959 fixes: not reported.
    assert!(!ids.contains("ALSA-2023:0959"), "{ids:?}");
    // AlmaLinux 8 advisories are never matched against an AlmaLinux 9 image.
    assert!(finding_ids(&r, "AlmaLinux:8").is_empty());
}

/// (e) A Go binary shipped by a Debian package (`age`) reports its Go version and matches
/// Go standard-library advisories from osv/Go-all.zip.
#[test]
fn go_binary_from_debian_package() {
    let age = Path::new("/usr/bin/age");
    assert!(age.exists(), "/usr/bin/age (Debian package `age`) is not installed: run `bash .ci/setup.d/vuln.sh`");
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("goroot");
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    std::fs::copy(age, root.join("usr/bin/age")).expect("copy");
    write(&root, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    let img = docker_archive(&root, t.path(), "keelwatch-test/go:latest");
    let r = scan_json(&["--no-cache", "--input"], &[&img]);
    let target = r["targets"]
        .as_array()
        .expect("t")
        .iter()
        .find(|t| t["name"] == "usr/bin/age")
        .expect("usr/bin/age target")
        .clone();
    assert_eq!(target["type"], "gobinary");
    let std_pkg =
        target["packages"].as_array().expect("p").iter().find(|p| p["name"] == "stdlib").expect("stdlib").clone();
    let gov = std_pkg["go_version"].as_str().expect("go_version").to_string();
    assert!(gov.starts_with("go1."), "{gov}");
    assert_eq!(std_pkg["version"].as_str(), Some(gov.trim_start_matches("go")));
    let vulns = target["vulnerabilities"].as_array().expect("v");
    assert!(vulns.len() >= 5, "expected stdlib advisories for {gov}, got {}", vulns.len());
    assert!(vulns.iter().all(|f| f["id"].as_str().unwrap_or("").starts_with("GO-") && f["ecosystem"] == "Go"));
    assert!(vulns.iter().any(|f| f["fixed"].is_string()));
}

/// A Rust binary built here by the real `cargo auditable` (installed by .ci/setup.d/vuln.sh)
/// with `time 0.1.45` from crates.io: the scan reads its `.dep-v0` section, reports the crates
/// as crates.io packages of a `rustbinary` target and matches RUSTSEC-2020-0071 (an OSV record
/// written here with that advisory's id, alias and range; no crates.io dump is shared).
#[test]
fn rust_binary_built_with_cargo_auditable() {
    let home = std::env::var("HOME").unwrap_or_default();
    let has_auditable = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("cargo-auditable").exists()))
        .unwrap_or(false)
        || Path::new(&format!("{home}/.cargo/bin/cargo-auditable")).exists();
    assert!(
        has_auditable,
        "`cargo-auditable` is not installed: run `bash .ci/setup.d/vuln.sh` (cargo install cargo-auditable)"
    );
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("kwhello");
    write(&src, "Cargo.toml", b"[package]\nname = \"kwhello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ntime = \"=0.1.45\"\n\n[workspace]\n");
    write(&src, "src/main.rs", b"fn main() {\n    println!(\"{}\", time::now().tm_year);\n}\n");
    let path = format!("{home}/.cargo/bin:{}", std::env::var("PATH").unwrap_or_default());
    ok(Command::new("cargo")
        .args(["auditable", "build", "--quiet"])
        .current_dir(&src)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", t.path().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET"));
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(root.join("usr/local/bin")).expect("mkdir");
    std::fs::copy(t.path().join("target/debug/kwhello"), root.join("usr/local/bin/kwhello")).expect("copy binary");
    write(&root, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    let img = docker_archive(&root, t.path(), "keelwatch-test/rust:latest");

    let osv = t.path().join("osv");
    std::fs::create_dir_all(&osv).expect("mkdir");
    let rec = json!({"schema_version": "1.4.0", "id": "RUSTSEC-2020-0071", "modified": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2020-26235"], "summary": "Potential segfault in the time crate",
        "affected": [{"package": {"ecosystem": "crates.io", "name": "time", "purl": "pkg:cargo/time"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.0.0-0"}, {"fixed": "0.2.23"}]}]}]});
    std::fs::write(osv.join("RUSTSEC-2020-0071.json"), serde_json::to_vec(&rec).expect("json")).expect("write");
    let db = t.path().join("db");
    ok(Command::new(KW).args(["db", "import"]).arg(&osv).arg("--db").arg(&db));
    let out = ok(Command::new(KW)
        .args(["scan", "image", "--no-cache", "-o", "json", "--input"])
        .arg(&img)
        .arg("--db")
        .arg(&db));
    let r: Value = serde_json::from_str(&out).expect("json");
    let target = r["targets"]
        .as_array()
        .expect("t")
        .iter()
        .find(|t| t["name"] == "usr/local/bin/kwhello")
        .expect("kwhello target")
        .clone();
    assert_eq!(target["type"], "rustbinary");
    let pk: BTreeSet<(String, String)> = target["packages"]
        .as_array()
        .expect("p")
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or("").into(), p["version"].as_str().unwrap_or("").into()))
        .collect();
    assert!(pk.contains(&("time".into(), "0.1.45".into())), "{pk:?}");
    assert!(pk.iter().any(|(n, _)| n == "libc"), "{pk:?}");
    assert!(!pk.iter().any(|(n, _)| n == "kwhello"), "root package reported: {pk:?}");
    let v = target["vulnerabilities"].as_array().expect("v");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["id"], "RUSTSEC-2020-0071");
    assert_eq!(v[0]["fixed"], "0.2.23");
    assert_eq!(v[0]["ecosystem"], "crates.io");
    assert_eq!(v[0]["purl"], "pkg:cargo/time@0.1.45");
}

/// A real `docker-registry` with basic auth (htpasswd, bcrypt) started by this test on a free
/// 127.0.0.1 port; killed on drop.
struct AuthRegistry {
    child: std::process::Child,
    addr: String,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn auth_registry(dir: &Path, user: &str, pass: &str) -> AuthRegistry {
    let bin = tool("docker-registry");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let hash = ok(Command::new("python3").args([
        "-W",
        "ignore",
        "-c",
        "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        pass,
    ]));
    std::fs::write(dir.join("htpasswd"), format!("{user}:{}\n", hash.trim())).expect("htpasswd");
    std::fs::create_dir_all(dir.join("storage")).expect("mkdir");
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: keelwatch-test\n    path: {}\n",
        dir.join("storage").display(),
        dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("config.yml"), cfg).expect("config");
    let child = Command::new(bin)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("registry.log")).expect("log"))
        .spawn()
        .expect("start docker-registry");
    let reg = AuthRegistry { child, addr: format!("127.0.0.1:{port}") };
    for _ in 0..100 {
        if std::net::TcpStream::connect(&reg.addr).is_ok() {
            return reg;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("docker-registry with htpasswd did not listen on {}", reg.addr);
}

/// Docker credential helpers: `credHelpers` and `credsStore` in the docker config name a
/// `docker-credential-<name>` script (written here, on PATH) that answers {Username, Secret}
/// for the registry host on stdin; the scan pulls from a real htpasswd-protected
/// docker-registry with them. A helper that hangs times out with a clear error; a missing one
/// or no credentials at all is a clear error, exit 2.
#[test]
fn docker_credential_helpers_against_htpasswd_registry() {
    let skopeo = tool("skopeo");
    let t = tempfile::tempdir().expect("tempdir");
    let reg = auth_registry(t.path(), "kwuser", "kw-s3cret");
    let root = t.path().join("rootfs");
    write(&root, "etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n");
    write(
        &root,
        "usr/local/lib/python3.11/site-packages/Jinja2-2.11.2.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.11.2\n",
    );
    let img = docker_archive(&root, t.path(), "keelwatch-test/cred:1");
    let reference = format!("{}/keelwatch-test/cred:1", reg.addr);
    ok(Command::new(&skopeo)
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", "kwuser:kw-s3cret"])
        .arg(format!("docker-archive:{}", img.display()))
        .arg(format!("docker://{reference}")));

    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let log = t.path().join("helper.log");
    let helper = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("helper");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    helper(
        "kwtest",
        &format!(
            "read -r host\necho \"$1 $host\" >> {log}\nif [ \"$host\" = \"{addr}\" ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"kwuser\",\"Secret\":\"kw-s3cret\"}}' \"$host\"; else echo 'credentials not found in native keychain'; exit 1; fi",
            log = log.display(),
            addr = reg.addr
        ),
    );
    helper("kwslow", "sleep 30");
    helper("kwbroken", "echo 'keychain locked' >&2; exit 3");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let db = t.path().join("db");
    ok(Command::new(KW).args(["db", "import", &format!("{SHARED}osv/PyPI-all.zip"), "--db"]).arg(&db));
    let scan = |config: Value, extra: &[&str]| {
        let dc = t.path().join(format!("dc-{}", rand_suffix()));
        std::fs::create_dir_all(&dc).expect("mkdir");
        std::fs::write(dc.join("config.json"), serde_json::to_vec(&config).expect("json")).expect("config");
        let started = std::time::Instant::now();
        let out = run(Command::new(KW)
            .args(["scan", "image", "--no-cache", "--insecure", "-o", "json", &reference])
            .args(extra)
            .arg("--db")
            .arg(&db)
            .env("PATH", &path)
            .env("DOCKER_CONFIG", &dc)
            .env_remove("KEELWATCH_REGISTRY_USERNAME")
            .env_remove("KEELWATCH_REGISTRY_PASSWORD"));
        (out, started.elapsed())
    };
    // credHelpers for this host.
    let (out, _) = scan(json!({"auths": {}, "credHelpers": {reg.addr.clone(): "kwtest"}}), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(packages(&r).contains(&("Jinja2".to_string(), "2.11.2".to_string())));
    assert!(finding_ids(&r, "PyPI").contains("PYSEC-2021-66"));
    let calls = std::fs::read_to_string(&log).expect("helper log");
    assert_eq!(calls.trim(), format!("get {}", reg.addr));
    // credsStore as the default store.
    let (out, _) = scan(json!({"credsStore": "kwtest"}), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // No credentials: the registry's 401 becomes a clear error.
    let (out, _) = scan(json!({}), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("requires credentials"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A helper that hangs: killed after the timeout.
    let (out, took) = scan(json!({"credHelpers": {reg.addr.clone(): "kwslow"}}), &["--cred-helper-timeout", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("docker-credential-kwslow") && err.contains("did not answer within 1 s"), "{err}");
    assert!(took.as_secs() < 15, "took {took:?}");
    // A failing helper and a missing helper.
    let (out, _) = scan(json!({"credHelpers": {reg.addr.clone(): "kwbroken"}}), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keychain locked"));
    let (out, _) = scan(json!({"credsStore": "kw-not-installed"}), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("docker-credential-kw-not-installed"));
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// On a terminal (a pseudo-terminal from util-linux `script`), `keelwatch sbom` draws a
/// progress bar per layer on stderr; without one (pipes, CI logs) it prints none.
#[test]
fn progress_bar_only_on_a_terminal() {
    let script = tool("script");
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("rootfs");
    std::fs::create_dir_all(&root).expect("mkdir");
    copy_dir(Path::new(&format!("{SHARED}pkgdb/debian12")), &root);
    let archive = docker_archive(&root, t.path(), "keelwatch-test/progress:1");
    let cmd = format!("{KW} sbom --no-cache --input {} > /dev/null", archive.display());
    let out = run(Command::new(script).args(["-qec", &cmd, "/dev/null"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tty = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(tty.contains("\r\x1b[2Klayer 1/1 sha256:"), "{tty:?}");
    assert!(tty.contains("[##############################] ") && tty.contains(" MiB"), "{tty:?}");
    let piped = run(Command::new(KW).args(["sbom", "--no-cache", "--input"]).arg(&archive));
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("layer 1/1"));
}
