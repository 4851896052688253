//! CVSS v4.0 scores from a `CVSS:4.0/…` vector, per the FIRST CVSS v4.0 specification
//! (section 8, "CVSS v4.0 Scoring") and the macro-vector score table FIRST publishes with its
//! reference calculator (data: [`LOOKUP`], 270 macro vectors).
//!
//! The vector is parsed strictly (all 11 base metrics, each metric once, known values only).
//! Threat (`E`) and environmental metrics (`CR`/`IR`/`AR`, `M…`) are honoured when present, so
//! the result is the CVSS-B, -BT, -BE or -BTE score the vector denotes; supplemental metrics
//! do not change the score. Steps: the six equivalence classes (EQ1…EQ6) give the macro
//! vector and its score; the vector's severity distance from the highest-severity vectors of
//! its macro vector, as a proportion of each EQ's depth, scales the score gap to the next lower
//! macro vector; the mean of those adjustments is subtracted and the result rounded to one
//! decimal (with the calculator's 1e-6 guard against binary representation error).

use std::collections::HashMap;

const BASE: [(&str, &[&str]); 11] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
];

const OPTIONAL: [(&str, &[&str]); 21] = [
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// Severity distance levels per metric (0 = most severe), as in the specification.
fn level(metric: &str, value: &str) -> f64 {
    match (metric, value) {
        ("AV", "N") | ("PR", "N") | ("UI", "N") | ("AC", "L") | ("AT", "N") => 0.0,
        ("AV", "A") | ("PR", "L") | ("UI", "P") | ("AC", "H") | ("AT", "P") => 0.1,
        ("AV", "L") | ("PR", "H") | ("UI", "A") => 0.2,
        ("AV", "P") => 0.3,
        ("VC" | "VI" | "VA", "H") => 0.0,
        ("VC" | "VI" | "VA", "L") => 0.1,
        ("VC" | "VI" | "VA", "N") => 0.2,
        ("SI" | "SA", "S") => 0.0,
        ("SC" | "SI" | "SA", "H") => 0.1,
        ("SC" | "SI" | "SA", "L") => 0.2,
        ("SC" | "SI" | "SA", "N") => 0.3,
        ("CR" | "IR" | "AR", "H") => 0.0,
        ("CR" | "IR" | "AR", "M") => 0.1,
        ("CR" | "IR" | "AR", "L") => 0.2,
        ("E", "A") => 0.0,
        ("E", "P") => 0.1,
        ("E", "U") => 0.2,
        _ => 0.0,
    }
}

const DISTANCE_METRICS: [&str; 15] =
    ["AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR", "E"];

/// A parsed CVSS v4.0 vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    metrics: HashMap<String, String>,
}

impl Vector {
    /// Parse `CVSS:4.0/AV:N/…`; `None` if malformed, a base metric is missing, a metric
    /// repeats or a value is unknown.
    pub fn parse(s: &str) -> Option<Vector> {
        let mut parts = s.trim().split('/');
        if parts.next()? != "CVSS:4.0" {
            return None;
        }
        let mut metrics = HashMap::new();
        for p in parts {
            let (k, v) = p.split_once(':')?;
            let allowed = BASE.iter().chain(OPTIONAL.iter()).find(|(m, _)| *m == k)?.1;
            if !allowed.contains(&v) || metrics.insert(k.to_string(), v.to_string()).is_some() {
                return None;
            }
        }
        BASE.iter().all(|(m, _)| metrics.contains_key(*m)).then_some(Vector { metrics })
    }

    fn raw(&self, m: &str) -> &str {
        self.metrics.get(m).map(String::as_str).unwrap_or("X")
    }

    /// The value scoring uses: `E:X` → `A`; `CR`/`IR`/`AR` `X` → `H`; a defined modified
    /// metric (`MAV`…) overrides its base metric.
    fn eff(&self, m: &str) -> &str {
        match (m, self.raw(m)) {
            ("E", "X") => return "A",
            ("CR" | "IR" | "AR", "X") => return "H",
            ("E" | "CR" | "IR" | "AR", v) => return v,
            _ => {}
        }
        match self.metrics.get(&format!("M{m}")).map(String::as_str) {
            Some(v) if v != "X" => v,
            _ => self.raw(m),
        }
    }

    /// The six equivalence classes (EQ1…EQ6).
    fn macro_vector(&self) -> [u8; 6] {
        let e = |m: &str| self.eff(m);
        let eq1 = if e("AV") == "N" && e("PR") == "N" && e("UI") == "N" {
            0
        } else if (e("AV") == "N" || e("PR") == "N" || e("UI") == "N") && e("AV") != "P" {
            1
        } else {
            2
        };
        let eq2 = if e("AC") == "L" && e("AT") == "N" { 0 } else { 1 };
        let eq3 = if e("VC") == "H" && e("VI") == "H" {
            0
        } else if e("VC") == "H" || e("VI") == "H" || e("VA") == "H" {
            1
        } else {
            2
        };
        let eq4 = if self.raw("MSI") == "S" || self.raw("MSA") == "S" {
            0
        } else if e("SC") == "H" || e("SI") == "H" || e("SA") == "H" {
            1
        } else {
            2
        };
        let eq5 = match e("E") {
            "A" => 0,
            "P" => 1,
            _ => 2,
        };
        let eq6 = if (e("CR") == "H" && e("VC") == "H")
            || (e("IR") == "H" && e("VI") == "H")
            || (e("AR") == "H" && e("VA") == "H")
        {
            0
        } else {
            1
        };
        [eq1, eq2, eq3, eq4, eq5, eq6]
    }

    /// The score (0.0–10.0, one decimal).
    pub fn score(&self) -> f64 {
        if ["VC", "VI", "VA", "SC", "SI", "SA"].iter().all(|m| self.eff(m) == "N") {
            return 0.0;
        }
        let mv = self.macro_vector();
        let Some(value) = lookup(mv) else { return 0.0 };
        let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;
        let with = |i: usize, d: u8| {
            let mut m = mv;
            m[i] += d;
            m
        };
        let lower_eq1 = lookup(with(0, 1));
        let lower_eq2 = lookup(with(1, 1));
        let lower_eq3eq6 = match (eq3, eq6) {
            (0 | 1, 1) => lookup(with(2, 1)),
            (1, 0) => lookup(with(5, 1)),
            (0, 0) => {
                let left = lookup(with(5, 1));
                let right = lookup(with(2, 1));
                match (left, right) {
                    (Some(l), Some(r)) if l > r => Some(l),
                    _ => right,
                }
            }
            _ => None,
        };
        let lower_eq4 = lookup(with(3, 1));
        let lower_eq5 = lookup(with(4, 1));

        // Severity distances from the first highest-severity vector of this macro vector that
        // the vector does not exceed in any metric.
        let mut dist: HashMap<&str, f64> = HashMap::new();
        'outer: for a in max_vectors(1, eq1, 0) {
            for b in max_vectors(2, eq2, 0) {
                for c in max_vectors(3, eq3, eq6) {
                    for d in max_vectors(4, eq4, 0) {
                        for e in max_vectors(5, eq5, 0) {
                            let max: HashMap<&str, &str> = [a, b, c, d, e]
                                .iter()
                                .flat_map(|s| s.split('/'))
                                .filter_map(|p| p.split_once(':'))
                                .collect();
                            dist = DISTANCE_METRICS
                                .iter()
                                .map(|m| (*m, level(m, self.eff(m)) - level(m, max.get(m).copied().unwrap_or(""))))
                                .collect();
                            if dist.values().all(|d| *d >= 0.0) {
                                break 'outer;
                            }
                        }
                    }
                }
            }
        }
        let d = |m: &str| dist.get(m).copied().unwrap_or(0.0);
        let cur_eq1 = d("AV") + d("PR") + d("UI");
        let cur_eq2 = d("AC") + d("AT");
        let cur_eq3eq6 = d("VC") + d("VI") + d("VA") + d("CR") + d("IR") + d("AR");
        let cur_eq4 = d("SC") + d("SI") + d("SA");
        const STEP: f64 = 0.1;
        let max_eq1 = [1.0, 4.0, 5.0][eq1 as usize] * STEP;
        let max_eq2 = [1.0, 2.0][eq2 as usize] * STEP;
        let max_eq3eq6 = match (eq3, eq6) {
            (0, 0) => 7.0,
            (0, _) => 6.0,
            (1, _) => 8.0,
            _ => 10.0,
        } * STEP;
        let max_eq4 = [6.0, 5.0, 4.0][eq4 as usize] * STEP;
        let mut n = 0u32;
        let mut sum = 0.0;
        for (lower, cur, max) in [
            (lower_eq1, cur_eq1, max_eq1),
            (lower_eq2, cur_eq2, max_eq2),
            (lower_eq3eq6, cur_eq3eq6, max_eq3eq6),
            (lower_eq4, cur_eq4, max_eq4),
        ] {
            if let Some(l) = lower {
                n += 1;
                sum += (value - l) * (cur / max);
            }
        }
        if lower_eq5.is_some() {
            n += 1; // EQ5's proportion is always 0
        }
        let mean = if n == 0 { 0.0 } else { sum / n as f64 };
        let v = (value - mean).clamp(0.0, 10.0);
        ((v + 1e-6) * 10.0 + 0.5).floor() / 10.0
    }
}

/// Score of a CVSS v4.0 vector, `None` if it is not a valid `CVSS:4.0/…` vector.
pub fn score(vector: &str) -> Option<f64> {
    Vector::parse(vector).map(|v| v.score())
}

/// Highest-severity vectors per EQ level (EQ3 is combined with EQ6).
fn max_vectors(eq: u8, val: u8, eq6: u8) -> &'static [&'static str] {
    match (eq, val, eq6) {
        (1, 0, _) => &["AV:N/PR:N/UI:N"],
        (1, 1, _) => &["AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"],
        (1, 2, _) => &["AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P"],
        (2, 0, _) => &["AC:L/AT:N"],
        (2, 1, _) => &["AC:H/AT:N", "AC:L/AT:P"],
        (3, 0, 0) => &["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H"],
        (3, 0, 1) => &["VC:H/VI:H/VA:L/CR:M/IR:M/AR:H", "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M"],
        (3, 1, 0) => &["VC:L/VI:H/VA:H/CR:H/IR:H/AR:H", "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H"],
        (3, 1, 1) => &[
            "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H",
            "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M",
            "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M",
            "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H",
            "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M",
        ],
        (3, 2, _) => &["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H"],
        (4, 0, _) => &["SC:H/SI:S/SA:S"],
        (4, 1, _) => &["SC:H/SI:H/SA:H"],
        (4, 2, _) => &["SC:L/SI:L/SA:L"],
        (5, 0, _) => &["E:A"],
        (5, 1, _) => &["E:P"],
        (5, 2, _) => &["E:U"],
        _ => &[],
    }
}

fn lookup(mv: [u8; 6]) -> Option<f64> {
    if mv.iter().any(|d| *d > 9) {
        return None;
    }
    let key = mv.iter().fold(0u32, |k, d| k * 10 + *d as u32);
    LOOKUP.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| LOOKUP[i].1)
}

/// Macro-vector scores (EQ1…EQ6 digits as a decimal number → score), from FIRST's CVSS v4.0
/// reference calculator. Macro vectors that cannot occur are absent.
pub const LOOKUP: [(u32, f64); 270] = [
    (0, 10.0),
    (1, 9.9),
    (10, 9.8),
    (11, 9.5),
    (20, 9.5),
    (21, 9.2),
    (100, 10.0),
    (101, 9.6),
    (110, 9.3),
    (111, 8.7),
    (120, 9.1),
    (121, 8.1),
    (200, 9.3),
    (201, 9.0),
    (210, 8.9),
    (211, 8.0),
    (220, 8.1),
    (221, 6.8),
    (1000, 9.8),
    (1001, 9.5),
    (1010, 9.5),
    (1011, 9.2),
    (1020, 9.0),
    (1021, 8.4),
    (1100, 9.3),
    (1101, 9.2),
    (1110, 8.9),
    (1111, 8.1),
    (1120, 8.1),
    (1121, 6.5),
    (1200, 8.8),
    (1201, 8.0),
    (1210, 7.8),
    (1211, 7.0),
    (1220, 6.9),
    (1221, 4.8),
    (2001, 9.2),
    (2011, 8.2),
    (2021, 7.2),
    (2101, 7.9),
    (2111, 6.9),
    (2121, 5.0),
    (2201, 6.9),
    (2211, 5.5),
    (2221, 2.7),
    (10000, 9.9),
    (10001, 9.7),
    (10010, 9.5),
    (10011, 9.2),
    (10020, 9.2),
    (10021, 8.5),
    (10100, 9.5),
    (10101, 9.1),
    (10110, 9.0),
    (10111, 8.3),
    (10120, 8.4),
    (10121, 7.1),
    (10200, 9.2),
    (10201, 8.1),
    (10210, 8.2),
    (10211, 7.1),
    (10220, 7.2),
    (10221, 5.3),
    (11000, 9.5),
    (11001, 9.3),
    (11010, 9.2),
    (11011, 8.5),
    (11020, 8.5),
    (11021, 7.3),
    (11100, 9.2),
    (11101, 8.2),
    (11110, 8.0),
    (11111, 7.2),
    (11120, 7.0),
    (11121, 5.9),
    (11200, 8.4),
    (11201, 7.0),
    (11210, 7.1),
    (11211, 5.2),
    (11220, 5.0),
    (11221, 3.0),
    (12001, 8.6),
    (12011, 7.5),
    (12021, 5.2),
    (12101, 7.1),
    (12111, 5.2),
    (12121, 2.9),
    (12201, 6.3),
    (12211, 2.9),
    (12221, 1.7),
    (100000, 9.8),
    (100001, 9.5),
    (100010, 9.4),
    (100011, 8.7),
    (100020, 9.1),
    (100021, 8.1),
    (100100, 9.4),
    (100101, 8.9),
    (100110, 8.6),
    (100111, 7.4),
    (100120, 7.7),
    (100121, 6.4),
    (100200, 8.7),
    (100201, 7.5),
    (100210, 7.4),
    (100211, 6.3),
    (100220, 6.3),
    (100221, 4.9),
    (101000, 9.4),
    (101001, 8.9),
    (101010, 8.8),
    (101011, 7.7),
    (101020, 7.6),
    (101021, 6.7),
    (101100, 8.6),
    (101101, 7.6),
    (101110, 7.4),
    (101111, 5.8),
    (101120, 5.9),
    (101121, 5.0),
    (101200, 7.2),
    (101201, 5.7),
    (101210, 5.7),
    (101211, 5.2),
    (101220, 5.2),
    (101221, 2.5),
    (102001, 8.3),
    (102011, 7.0),
    (102021, 5.4),
    (102101, 6.5),
    (102111, 5.8),
    (102121, 2.6),
    (102201, 5.3),
    (102211, 2.1),
    (102221, 1.3),
    (110000, 9.5),
    (110001, 9.0),
    (110010, 8.8),
    (110011, 7.6),
    (110020, 7.6),
    (110021, 7.0),
    (110100, 9.0),
    (110101, 7.7),
    (110110, 7.5),
    (110111, 6.2),
    (110120, 6.1),
    (110121, 5.3),
    (110200, 7.7),
    (110201, 6.6),
    (110210, 6.8),
    (110211, 5.9),
    (110220, 5.2),
    (110221, 3.0),
    (111000, 8.9),
    (111001, 7.8),
    (111010, 7.6),
    (111011, 6.7),
    (111020, 6.2),
    (111021, 5.8),
    (111100, 7.4),
    (111101, 5.9),
    (111110, 5.7),
    (111111, 5.7),
    (111120, 4.7),
    (111121, 2.3),
    (111200, 6.1),
    (111201, 5.2),
    (111210, 5.7),
    (111211, 2.9),
    (111220, 2.4),
    (111221, 1.6),
    (112001, 7.1),
    (112011, 5.9),
    (112021, 3.0),
    (112101, 5.8),
    (112111, 2.6),
    (112121, 1.5),
    (112201, 2.3),
    (112211, 1.3),
    (112221, 0.6),
    (200000, 9.3),
    (200001, 8.7),
    (200010, 8.6),
    (200011, 7.2),
    (200020, 7.5),
    (200021, 5.8),
    (200100, 8.6),
    (200101, 7.4),
    (200110, 7.4),
    (200111, 6.1),
    (200120, 5.6),
    (200121, 3.4),
    (200200, 7.0),
    (200201, 5.4),
    (200210, 5.2),
    (200211, 4.0),
    (200220, 4.0),
    (200221, 2.2),
    (201000, 8.5),
    (201001, 7.5),
    (201010, 7.4),
    (201011, 5.5),
    (201020, 6.2),
    (201021, 5.1),
    (201100, 7.2),
    (201101, 5.7),
    (201110, 5.5),
    (201111, 4.1),
    (201120, 4.6),
    (201121, 1.9),
    (201200, 5.3),
    (201201, 3.6),
    (201210, 3.4),
    (201211, 1.9),
    (201220, 1.9),
    (201221, 0.8),
    (202001, 6.4),
    (202011, 5.1),
    (202021, 2.0),
    (202101, 4.7),
    (202111, 2.1),
    (202121, 1.1),
    (202201, 2.4),
    (202211, 0.9),
    (202221, 0.4),
    (210000, 8.8),
    (210001, 7.5),
    (210010, 7.3),
    (210011, 5.3),
    (210020, 6.0),
    (210021, 5.0),
    (210100, 7.3),
    (210101, 5.5),
    (210110, 5.9),
    (210111, 4.0),
    (210120, 4.1),
    (210121, 2.0),
    (210200, 5.4),
    (210201, 4.3),
    (210210, 4.5),
    (210211, 2.2),
    (210220, 2.0),
    (210221, 1.1),
    (211000, 7.5),
    (211001, 5.5),
    (211010, 5.8),
    (211011, 4.5),
    (211020, 4.0),
    (211021, 2.1),
    (211100, 6.1),
    (211101, 5.1),
    (211110, 4.8),
    (211111, 1.8),
    (211120, 2.0),
    (211121, 0.9),
    (211200, 4.6),
    (211201, 1.8),
    (211210, 1.7),
    (211211, 0.7),
    (211220, 0.8),
    (211221, 0.2),
    (212001, 5.3),
    (212011, 2.4),
    (212021, 1.4),
    (212101, 2.4),
    (212111, 1.2),
    (212121, 0.5),
    (212201, 1.0),
    (212211, 0.3),
    (212221, 0.1),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors and scores from FIRST's CVSS v4.0 examples document and calculator.
    #[test]
    fn first_published_scores() {
        let cases = [
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:H/SA:H", 7.9),
            ("CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.3),
            ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 7.7),
            ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N", 8.3),
            ("CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 4.6),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 5.1),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:L/SI:L/SA:N", 6.9),
            ("CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:N/VI:N/VA:N/SC:H/SI:N/SA:N", 5.9),
            ("CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 9.4),
            ("CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:H/SI:N/SA:H", 6.4),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N", 5.3),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 6.9),
            // Supplemental metrics do not change the score.
            ("CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:H/SA:N/S:P/V:D", 8.3),
            ("CVSS:4.0/AV:L/AC:L/AT:N/PR:H/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/R:I", 9.3),
            // Threat and environmental metrics (CVSS-BT / -BE).
            ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U", 5.2),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N/E:A", 8.7),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U", 9.1),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:L/VA:L/SC:N/SI:N/SA:N/CR:H/IR:L/AR:L/MAV:N/MAC:H/MVC:H/MVI:L/MVA:L",
                8.1,
            ),
            ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MVI:L/MSA:S", 9.8),
        ];
        for (v, want) in cases {
            assert_eq!(score(v), Some(want), "{v}");
        }
    }

    #[test]
    fn malformed_vectors_are_rejected() {
        for bad in [
            "",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
            "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/ZZ:1",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
        ] {
            assert_eq!(score(bad), None, "{bad}");
        }
        assert_eq!(LOOKUP.len(), 270);
        assert!(LOOKUP.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// Every valid base vector (3×2×2×3×3×3^6 = 104,976 is too many for a unit test; a
    /// stride over them) scores within 0–10 and never panics.
    #[test]
    fn base_space_in_range() {
        let mut i = 0u64;
        let mut n = 0;
        let vals: Vec<&[&str]> = BASE.iter().map(|(_, v)| *v).collect();
        let total: u64 = vals.iter().map(|v| v.len() as u64).product();
        while i < total {
            let mut k = i;
            let mut s = String::from("CVSS:4.0");
            for (j, (m, _)) in BASE.iter().enumerate() {
                let v = vals[j][(k % vals[j].len() as u64) as usize];
                k /= vals[j].len() as u64;
                s.push_str(&format!("/{m}:{v}"));
            }
            let sc = score(&s).expect("valid");
            assert!((0.0..=10.0).contains(&sc), "{s} {sc}");
            n += 1;
            i += 37;
        }
        assert!(n > 2000);
    }
}
