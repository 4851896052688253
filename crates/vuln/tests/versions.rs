//! Conformance: every comparison line of shared/data/versions/*.txt, in both directions.

use std::cmp::Ordering;

use keelwatch_vuln::version::Family;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/versions/");

fn run(file: &str, fam: Family) -> usize {
    let path = format!("{DIR}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut failures = vec![];
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
            continue;
        }
        let parts: Vec<&str> = l.split(' ').collect();
        assert_eq!(parts.len(), 3, "{file}:{}: malformed line {l:?}", i + 1);
        let want = match parts[1] {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            op => panic!("{file}:{}: bad op {op}", i + 1),
        };
        n += 1;
        let got = fam.compare(parts[0], parts[2]);
        let rev = fam.compare(parts[2], parts[0]);
        if got != want || rev != want.reverse() {
            failures.push(format!("{file}:{}: {l}  (got {got:?}, reversed {rev:?})", i + 1));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} comparisons failed:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(n > 0, "{file}: no comparisons");
    n
}

#[test]
fn alpine() {
    run("alpine-versions.txt", Family::Apk);
    run("alpine-versions-generated.txt", Family::Apk);
}
#[test]
fn debian() {
    run("debian-versions.txt", Family::Dpkg);
    run("debian-versions-generated.txt", Family::Dpkg);
}
#[test]
fn maven() {
    run("maven-versions.txt", Family::Maven);
    run("maven-versions-generated.txt", Family::Maven);
}
#[test]
fn pypi() {
    run("pypi-versions.txt", Family::Pep440);
    run("pypi-versions-generated.txt", Family::Pep440);
}
#[test]
fn rubygems() {
    run("rubygems-versions.txt", Family::RubyGems);
    run("rubygems-versions-generated.txt", Family::RubyGems);
}
#[test]
fn redhat() {
    run("redhat-versions.txt", Family::Rpm);
}
#[test]
fn semver() {
    run("semver-versions.txt", Family::Semver);
}

#[test]
fn every_file_is_covered() {
    let covered = [
        "alpine-versions.txt",
        "alpine-versions-generated.txt",
        "debian-versions.txt",
        "debian-versions-generated.txt",
        "maven-versions.txt",
        "maven-versions-generated.txt",
        "pypi-versions.txt",
        "pypi-versions-generated.txt",
        "rubygems-versions.txt",
        "rubygems-versions-generated.txt",
        "redhat-versions.txt",
        "semver-versions.txt",
    ];
    for e in std::fs::read_dir(DIR).expect("versions dir") {
        let name = e.expect("entry").file_name().to_string_lossy().to_string();
        if name.ends_with(".txt") {
            assert!(covered.contains(&name.as_str()), "{name} is not run by this test");
        }
    }
}
