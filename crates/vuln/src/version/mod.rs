//! Version comparators, one per ecosystem family.
//!
//! Every comparator is total: any two strings compare (invalid versions get a documented,
//! deterministic fallback order) and never panic. Numbers of any length compare exactly
//! (digit strings are compared without converting to machine integers).
//! Conformance: `tests/versions.rs` runs every line of `shared/data/versions/*.txt` in both
//! directions.

mod apk;
mod dpkg;
mod maven;
mod pep440;
mod rpm;
mod rubygems;
mod semver;

use std::cmp::Ordering;
use std::fmt;

/// A family of version syntaxes sharing one ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Debian, Ubuntu (`[epoch:]upstream[-revision]`).
    Dpkg,
    /// Alpine, Wolfi, Chainguard.
    Apk,
    /// RHEL family, SUSE, Mariner (`[epoch:]version[-release]`, rpmvercmp).
    Rpm,
    /// PyPI (PEP 440, legacy versions sort below valid ones).
    Pep440,
    /// npm, crates.io, Go (SemVer 2, optional `v`, build metadata ignored).
    Semver,
    /// Maven ComparableVersion.
    Maven,
    /// RubyGems `Gem::Version`.
    RubyGems,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Dpkg => "dpkg",
            Family::Apk => "apk",
            Family::Rpm => "rpm",
            Family::Pep440 => "pep440",
            Family::Semver => "semver",
            Family::Maven => "maven",
            Family::RubyGems => "rubygems",
        })
    }
}

impl Family {
    /// The family for an OSV ecosystem name (`Debian:12`, `PyPI`, `AlmaLinux:9`...) or a family
    /// name (`dpkg`, `rpm`, ...). Case-insensitive; `None` for ecosystems without a comparator.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Family> {
        let base = ecosystem.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(match base.as_str() {
            "debian" | "ubuntu" | "dpkg" | "deb" => Family::Dpkg,
            "alpine" | "wolfi" | "chainguard" | "apk" | "alpaquita" | "bellsoft hardened containers" => Family::Apk,
            "almalinux" | "rocky linux" | "red hat" | "redhat" | "rhel" | "opensuse" | "suse" | "mariner"
            | "azure linux" | "fedora" | "rpm" | "centos" | "oracle linux" => Family::Rpm,
            "pypi" | "pep440" | "python" => Family::Pep440,
            "npm" | "crates.io" | "go" | "semver" | "cargo" | "golang" | "hex" | "pub" => Family::Semver,
            "maven" => Family::Maven,
            "rubygems" | "gem" => Family::RubyGems,
            _ => return None,
        })
    }

    /// Compare two version strings of this family.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Family::Dpkg => dpkg::compare(a, b),
            Family::Apk => apk::compare(a, b),
            Family::Rpm => rpm::compare(a, b),
            Family::Pep440 => pep440::compare(a, b),
            Family::Semver => semver::compare(a, b),
            Family::Maven => maven::compare(a, b),
            Family::RubyGems => rubygems::compare(a, b),
        }
    }
}

/// Compare two runs of ASCII digits numerically, whatever their length.
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// True if `s` is non-empty and all ASCII digits.
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}
