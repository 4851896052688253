//! Language and OS metadata catalogers through `catalog::catalog`: os-release, Python
//! METADATA / PKG-INFO, npm package.json, Ruby gemspecs, Cargo.lock, dpkg status.d and the
//! dpkg `.list` ownership files. The first byte picks the path, the rest is the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "etc/os-release",
    "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
    "usr/lib/python3/dist-packages/x-1.0.egg-info/PKG-INFO",
    "usr/lib/python3/dist-packages/x.egg-info",
    "app/node_modules/x/package.json",
    "usr/lib/ruby/gems/3.1.0/specifications/x-1.0.gemspec",
    "app/Cargo.lock",
    "var/lib/dpkg/status.d/x",
    "var/lib/dpkg/info/x.list",
    "etc/alpine-release",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let mut m = keelwatch_vuln::walker::Merged::default();
    // Two files: the selected one, and os-release from the same bytes (distro-dependent purls).
    m.files.insert(PATHS[sel as usize % PATHS.len()].to_string(), (rest.to_vec(), 0));
    m.files.insert("usr/lib/os-release".to_string(), (rest.to_vec(), 0));
    let inv = keelwatch_vuln::catalog::catalog(&m, &[None]);
    for p in &inv.packages {
        assert!(!p.purl.is_empty());
    }
});
