//! CVSS vector parsing and scoring (v3.x formula, v4.0 macro vectors) on arbitrary strings.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    for kind in ["CVSS_V3", "CVSS_V4"] {
        if let Some(c) = keelwatch_vuln::cvss::from_osv(kind, &s)
            && let Some(score) = c.score
        {
            assert!((0.0..=10.0).contains(&score), "{s}: {score}");
        }
    }
    let v4 = format!("CVSS:4.0/{s}");
    if let Some(score) = keelwatch_vuln::cvss4::score(&v4) {
        assert!((0.0..=10.0).contains(&score), "{v4}: {score}");
    }
});
