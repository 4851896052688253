//! The three real rpm databases in shared/data/pkgdb/rpm list exactly their expected-nvra.txt,
//! and corrupt variants fail cleanly.

use keelwatch_vuln::catalog::rpm;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/pkgdb/rpm/");

fn check(sub: &str, file: &str) -> Vec<rpm::RpmPackage> {
    let data = std::fs::read(format!("{DIR}{sub}/{file}")).expect("read db");
    let want: Vec<String> = std::fs::read_to_string(format!("{DIR}{sub}/expected-nvra.txt"))
        .expect("expected")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let pkgs = rpm::read_any(&data, file).unwrap_or_else(|e| panic!("{sub}: {e}"));
    let mut got: Vec<String> = pkgs.iter().filter(|p| p.name != "gpg-pubkey").map(|p| p.nvra()).collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted, "{sub}");
    pkgs
}

#[test]
fn sqlite_mariner() {
    let p = check("cbl-mariner-2.0", "rpmdb.sqlite");
    let bash = p.iter().find(|p| p.name == "bash").expect("bash");
    assert!(bash.source_rpm.starts_with("bash-5.1.8-1.cm2.src.rpm"), "{}", bash.source_rpm);
    assert!(
        bash.files.iter().any(|f| f.ends_with("/bin/bash")),
        "file list parsed: {:?}",
        &bash.files[..bash.files.len().min(5)]
    );
}

#[test]
fn bdb_libuuid() {
    let p = check("libuuid-bdb", "Packages");
    assert_eq!(p[0].source_rpm, "util-linux-2.32.1-42.el8_8.src.rpm");
}

#[test]
fn ndb_sle() {
    check("sle15-bci", "Packages.db");
}

#[test]
fn corrupt_databases_error_not_panic() {
    for (sub, file) in [("cbl-mariner-2.0", "rpmdb.sqlite"), ("libuuid-bdb", "Packages"), ("sle15-bci", "Packages.db")]
    {
        let data = std::fs::read(format!("{DIR}{sub}/{file}")).expect("read db");
        // Truncations at many points and a bit-flipped copy: Ok or Err, never a panic.
        for cut in [0, 10, 100, 4096, data.len() / 3, data.len() / 2, data.len() - 1] {
            let _ = rpm::read_any(&data[..cut], file);
        }
        let mut flipped = data.clone();
        for i in (0..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5a;
        }
        let _ = rpm::read_any(&flipped, file);
    }
    assert!(rpm::read_any(b"garbage", "Packages").is_err());
    assert!(rpm::parse_header(&[0, 0, 0, 1, 0, 0, 0, 0]).is_err());
}
