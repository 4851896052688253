//! CVSS scores of advisory vectors. v3.0/v3.1 base score computed from the vector per the
//! FIRST specification (section 7, with the 3.1 `Roundup`); v4.0 scored by [`crate::cvss4`].
//! v2 vectors are kept unscored (severity then comes from another vector or the label).

use serde::{Deserialize, Serialize};

/// One CVSS vector attached to an advisory, with its computed base score when known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// `3.1`, `3.0`, `4.0` or `2.0`.
    pub version: String,
    pub vector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

fn roundup(x: f64) -> f64 {
    let i = (x * 100_000.0).round() as i64;
    if i % 10_000 == 0 { i as f64 / 100_000.0 } else { ((i / 10_000) + 1) as f64 / 10.0 }
}

/// Base score of a CVSS v3.x vector (`CVSS:3.1/AV:N/...`); `None` if the vector is malformed
/// or misses a base metric.
pub fn v3_base_score(vector: &str) -> Option<f64> {
    let mut parts = vector.trim().split('/');
    let head = parts.next()?;
    if head != "CVSS:3.1" && head != "CVSS:3.0" {
        return None;
    }
    let (mut av, mut ac, mut pr, mut ui, mut s, mut c, mut i, mut a) = (None, None, None, None, None, None, None, None);
    for p in parts {
        let (k, v) = p.split_once(':')?;
        match k {
            "AV" => {
                av = Some(match v {
                    "N" => 0.85,
                    "A" => 0.62,
                    "L" => 0.55,
                    "P" => 0.2,
                    _ => return None,
                })
            }
            "AC" => {
                ac = Some(match v {
                    "L" => 0.77,
                    "H" => 0.44,
                    _ => return None,
                })
            }
            "PR" => pr = Some(v.to_string()),
            "UI" => {
                ui = Some(match v {
                    "N" => 0.85,
                    "R" => 0.62,
                    _ => return None,
                })
            }
            "S" => {
                s = Some(match v {
                    "U" => false,
                    "C" => true,
                    _ => return None,
                })
            }
            "C" | "I" | "A" => {
                let w = match v {
                    "H" => 0.56,
                    "L" => 0.22,
                    "N" => 0.0,
                    _ => return None,
                };
                match k {
                    "C" => c = Some(w),
                    "I" => i = Some(w),
                    _ => a = Some(w),
                }
            }
            _ => {} // temporal / environmental metrics do not change the base score
        }
    }
    let changed = s?;
    let pr = match (pr?.as_str(), changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let iss: f64 = 1.0 - (1.0 - c?) * (1.0 - i?) * (1.0 - a?);
    let impact: f64 = if changed { 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15) } else { 6.42 * iss };
    let expl: f64 = 8.22 * av? * ac? * pr * ui?;
    if impact <= 0.0 {
        return Some(0.0);
    }
    Some(if changed { roundup((1.08 * (impact + expl)).min(10.0)) } else { roundup((impact + expl).min(10.0)) })
}

/// Parse an OSV `severity[]` entry (`type`, `score`) into a [`Cvss`].
pub fn from_osv(kind: &str, score: &str) -> Option<Cvss> {
    let version = match kind {
        "CVSS_V3" => {
            if score.starts_with("CVSS:3.0") {
                "3.0"
            } else {
                "3.1"
            }
        }
        "CVSS_V4" => "4.0",
        "CVSS_V2" => "2.0",
        _ => return None,
    };
    let s = match version {
        "4.0" => crate::cvss4::score(score),
        "2.0" => None,
        _ => v3_base_score(score),
    };
    Some(Cvss { version: version.to_string(), vector: score.to_string(), score: s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        // Reference values from the FIRST CVSS v3.1 calculator.
        let cases = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:L", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
        ];
        for (v, want) in cases {
            assert_eq!(v3_base_score(v), Some(want), "{v}");
        }
        assert_eq!(v3_base_score("CVSS:3.1/AV:N/AC:L"), None);
        assert_eq!(v3_base_score("CVSS:2.0/AV:N"), None);
        assert_eq!(v3_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), None);
    }
}
