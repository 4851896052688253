//! OSV database: import of the real shared dumps, lookups, merge across releases, carry-over of
//! other ecosystems, and `update` over real HTTP from a 127.0.0.1 server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keelwatch_core::Severity;
use keelwatch_vuln::db::{self, Database, Input};
use keelwatch_vuln::matcher::{Status, evaluate};
use keelwatch_vuln::version::Family;

const OSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/osv/");

fn zip(name: &str) -> PathBuf {
    PathBuf::from(format!("{OSV}{name}-all.zip"))
}

/// One import of all three dumps shared by the tests of this binary.
fn full_db() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let rep = db::import(
            &t.path().join("db"),
            &[Input::path(zip("AlmaLinux")), Input::path(zip("Go")), Input::path(zip("PyPI"))],
        )
        .expect("import");
        assert_eq!(rep.files_read, 5680 + 4291 + 2661);
        assert_eq!(rep.withdrawn_skipped, 17 + 10);
        assert_eq!(rep.invalid_skipped, 0, "{:?}", rep.invalid_examples);
        t
    })
    .path()
}

#[test]
fn import_counts_per_ecosystem() {
    let d = Database::open(&full_db().join("db")).expect("open");
    let m = d.meta();
    assert_eq!(m.ecosystems.get("AlmaLinux:8"), Some(&3237));
    assert_eq!(m.ecosystems.get("AlmaLinux:9"), Some(&1783));
    assert_eq!(m.ecosystems.get("AlmaLinux:10"), Some(&660));
    assert_eq!(m.ecosystems.get("Go"), Some(&4274));
    assert_eq!(m.ecosystems.get("PyPI"), Some(&2651));
    // 5680 Alma files hold 5637 distinct ids (the same id exists for several releases).
    assert_eq!(m.advisories, 5637 + 4274 + 2651);
    assert_eq!(m.sources.len(), 3);
}

#[test]
fn lookup_pypi_normalised_name_and_aliases() {
    let d = Database::open(&full_db().join("db")).expect("open");
    // PEP 503 normalisation on both sides.
    let hits = d.lookup("PyPI", "Jinja2").expect("lookup");
    let ids: Vec<&str> = hits.iter().map(|e| e.id.as_str()).collect();
    assert!(ids.contains(&"PYSEC-2021-66"), "{ids:?}");
    let e = hits.iter().find(|e| e.id == "PYSEC-2021-66").expect("entry");
    let adv = d.advisory(e).expect("advisory");
    assert!(adv.aliases.contains(&"CVE-2020-28493".to_string()));
    let v = evaluate(Family::Pep440, "2.11.2", e).expect("affected");
    assert_eq!((v.status, v.fixed.as_deref()), (Status::Fixed, Some("2.11.3")));
    assert!(evaluate(Family::Pep440, "2.11.3", e).is_none());
    assert!(d.lookup("PyPI", "no-such-package-xyz").expect("lookup").is_empty());
}

#[test]
fn same_id_merged_across_releases() {
    let d = Database::open(&full_db().join("db")).expect("open");
    // ALSA-2024:0265 exists under almalinux8/ and almalinux9/: both releases keep their entries.
    let mut found = vec![];
    for (eco, name) in d.keys() {
        if eco.starts_with("AlmaLinux:") {
            for e in d.lookup(eco, name).expect("lookup") {
                if e.id == "ALSA-2024:0265" {
                    found.push(e.ecosystem.clone());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    assert_eq!(found, vec!["AlmaLinux:8".to_string(), "AlmaLinux:9".to_string()]);
}

#[test]
fn severities_from_labels_and_cvss() {
    let d = Database::open(&full_db().join("db")).expect("open");
    // Alma: label from the "Important:" summary prefix.
    let e = d.lookup("AlmaLinux:9", "qatzip").expect("lookup");
    assert!(!e.is_empty());
    let mut sevs = std::collections::BTreeSet::new();
    for (eco, name) in d.keys().filter(|(e, _)| *e == "AlmaLinux:9").take(300) {
        for e in d.lookup(eco, name).expect("lookup") {
            sevs.insert(d.advisory(&e).expect("adv").severity);
        }
    }
    assert!(sevs.contains(&Severity::High) && sevs.contains(&Severity::Medium), "{sevs:?}");
    // PyPI records with CVSS v3 vectors get a computed score.
    let mut scored = 0;
    for (eco, name) in d.keys().filter(|(e, _)| *e == "PyPI") {
        for e in d.lookup(eco, name).expect("lookup") {
            let a = d.advisory(&e).expect("adv");
            if let Some(c) = a.cvss.iter().find(|c| c.score.is_some()) {
                assert_eq!(a.severity, Severity::from_cvss(c.score.unwrap_or(0.0)).max(a.severity));
                scored += 1;
            }
        }
    }
    assert!(scored >= 150, "only {scored} PyPI entries had a computed CVSS score");
}

#[test]
fn import_replaces_family_and_keeps_others() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("db");
    db::import(&dir, &[Input::path(zip("Go"))]).expect("import go");
    db::import(&dir, &[Input::path(zip("PyPI"))]).expect("import pypi");
    let d = Database::open(&dir).expect("open");
    assert_eq!(d.meta().ecosystems.get("Go"), Some(&4274));
    assert_eq!(d.meta().ecosystems.get("PyPI"), Some(&2651));
    assert_eq!(d.meta().sources.len(), 2);
    // A Go advisory carried over still resolves its advisory blob.
    let hits = d.lookup("Go", "stdlib").expect("lookup");
    assert!(hits.len() > 100);
    assert!(!d.advisory(&hits[0]).expect("adv").id.is_empty());
    // Re-importing PyPI replaces (not duplicates) it.
    db::import(&dir, &[Input::path(zip("PyPI"))]).expect("again");
    let d = Database::open(&dir).expect("open");
    assert_eq!(d.meta().ecosystems.get("PyPI"), Some(&2651));
    assert_eq!(d.meta().sources.len(), 2);
}

#[test]
fn import_directory_and_bad_inputs() {
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("src/nested");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("A-1.json"), br#"{"id":"A-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-1"],
        "affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}],
        "database_specific":{"severity":"MODERATE"}}"#).expect("write");
    std::fs::write(src.join("W-1.json"), br#"{"id":"W-1","modified":"x","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"versions":["1.0.0"]}]}"#).expect("write");
    std::fs::write(src.join("broken.json"), b"{not json").expect("write");
    let rep = db::import(&t.path().join("db"), &[Input::path(t.path().join("src"))]).expect("import");
    assert_eq!((rep.records_imported, rep.withdrawn_skipped, rep.invalid_skipped), (1, 1, 1));
    assert!(rep.invalid_examples[0].contains("broken.json"), "{:?}", rep.invalid_examples);
    let d = Database::open(&t.path().join("db")).expect("open");
    let e = d.lookup("npm", "left-pad").expect("lookup");
    assert_eq!(e.len(), 1);
    assert_eq!(d.advisory(&e[0]).expect("adv").severity, Severity::Medium);
    assert_eq!(evaluate(Family::Semver, "1.2.9", &e[0]).and_then(|v| v.fixed).as_deref(), Some("1.3.0"));
    // Not a zip: clear error naming the file.
    let junk = t.path().join("junk.zip");
    std::fs::write(&junk, b"this is not a zip archive at all, really").expect("write");
    let err = db::import(&t.path().join("db2"), &[Input::path(&junk)]).expect_err("junk").to_string();
    assert!(err.contains("junk.zip") && err.contains("zip"), "{err}");
    // Missing database: says how to create one.
    let err = Database::open(&t.path().join("nope")).err().expect("missing").to_string();
    assert!(err.contains("keelwatch db import"), "{err}");
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 for `GET /<ECOSYSTEM>/all.zip`.
fn serve(root: PathBuf, requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let mut seen = vec![];
        for _ in 0..requests {
            let (mut s, _) = l.accept().expect("accept");
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            r.read_line(&mut line).expect("read");
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).expect("hdr") == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            seen.push(path.clone());
            let file = path
                .trim_start_matches('/')
                .strip_suffix("/all.zip")
                .map(|e| root.join(format!("{}-all.zip", e.replace("%20", " "))));
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) => {
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n", body.len()).expect("w");
                    s.write_all(&body).expect("body");
                }
                None => {
                    s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .expect("w");
                }
            }
        }
        seen
    });
    (format!("http://{addr}"), h)
}

#[test]
fn update_from_local_mirror() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("db");
    let (url, h) = serve(PathBuf::from(OSV), 4);
    let rep =
        db::update(&dir, &["PyPI".into(), "Go".into()], &url, std::time::Duration::from_secs(60)).expect("update");
    assert_eq!(rep.ecosystems.get("PyPI"), Some(&2651));
    let d = Database::open(&dir).expect("open");
    assert!(d.meta().sources.iter().any(|s| s.origin == format!("{url}/PyPI/all.zip")));
    // No ecosystems named: refreshes what the db holds (Go, PyPI).
    drop(d);
    let rep = db::update(&dir, &[], &url, std::time::Duration::from_secs(60)).expect("refresh");
    assert_eq!(rep.ecosystems.len(), 2);
    let seen = h.join().expect("server");
    assert_eq!(seen, vec!["/PyPI/all.zip", "/Go/all.zip", "/Go/all.zip", "/PyPI/all.zip"]);
    // Unknown ecosystem: the 404 is reported with the URL, the db is untouched.
    let (url, h) = serve(PathBuf::from(OSV), 1);
    let err =
        db::update(&dir, &["Nope".into()], &url, std::time::Duration::from_secs(10)).expect_err("404").to_string();
    assert!(err.contains("/Nope/all.zip") && err.contains("404"), "{err}");
    h.join().expect("server");
    assert_eq!(Database::open(&dir).expect("open").meta().ecosystems.len(), 2);
}

/// Severity from a CVSS v4.0 vector alone: the base score is computed at import (9.3 →
/// CRITICAL; 5.3 → MEDIUM beats a GHSA `LOW` label), and the highest of v3/v4 wins.
#[test]
fn cvss_v4_vectors_give_severity() {
    let t = tempfile::tempdir().expect("tempdir");
    let osv = t.path().join("osv");
    std::fs::create_dir_all(&osv).expect("mkdir");
    let rec = |id: &str, name: &str, sev: serde_json::Value, label: Option<&str>| {
        let mut r = serde_json::json!({"id": id, "modified": "2025-01-01T00:00:00Z", "severity": sev,
            "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "versions": ["1.0"]}]});
        if let Some(l) = label {
            r["database_specific"] = serde_json::json!({"severity": l});
        }
        std::fs::write(osv.join(format!("{id}.json")), serde_json::to_vec(&r).expect("json")).expect("write");
    };
    rec(
        "GHSA-v4aa-0000-0001",
        "pkg-a",
        serde_json::json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]),
        None,
    );
    rec(
        "GHSA-v4aa-0000-0002",
        "pkg-b",
        serde_json::json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N"}]),
        Some("LOW"),
    );
    rec(
        "GHSA-v4aa-0000-0003",
        "pkg-c",
        serde_json::json!([
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
            {"type": "CVSS_V4", "score": "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"}
        ]),
        None,
    );
    db::import(&t.path().join("db"), &[Input::path(&osv)]).expect("import");
    let d = Database::open(&t.path().join("db")).expect("open");
    let adv = |name: &str| {
        let e = d.lookup("PyPI", name).expect("lookup");
        d.advisory(&e[0]).expect("advisory")
    };
    let a = adv("pkg-a");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!((a.cvss[0].version.as_str(), a.cvss[0].score), ("4.0", Some(9.3)));
    assert_eq!(adv("pkg-b").severity, Severity::Medium);
    let c = adv("pkg-c");
    assert_eq!(c.severity, Severity::High, "v3 7.5 beats v4 4.6: {:?}", c.cvss);
    assert_eq!(c.cvss.iter().find(|x| x.version == "4.0").and_then(|x| x.score), Some(4.6));
}
