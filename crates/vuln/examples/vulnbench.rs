//! Benchmark driver for bench/vuln/run.sh: one phase per process so peak RSS is per phase.
//!
//! `vulnbench import DB ZIP...` | `vulnbench scan DB IMAGE.tar [CACHE_DIR]`
//! Prints one line `phase=<p> seconds=<s> peak_rss_mb=<m> ...`.

use std::path::PathBuf;
use std::time::Instant;

use keelwatch_vuln::db::{self, Database, Input};
use keelwatch_vuln::scan::{self, Filters};
use keelwatch_vuln::source::{LoadOptions, Target};

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: vulnbench import DB ZIP... | vulnbench scan DB IMAGE [CACHE_DIR]";
    let phase = args.get(1).ok_or(usage)?;
    let dbdir = PathBuf::from(args.get(2).ok_or(usage)?);
    let start = Instant::now();
    match phase.as_str() {
        "import" => {
            let inputs: Vec<Input> = args[3..].iter().map(Input::path).collect();
            let rep = db::import(&dbdir, &inputs)?;
            println!(
                "phase=import seconds={:.3} peak_rss_mb={:.1} records={} advisories={}",
                start.elapsed().as_secs_f64(),
                peak_rss_mb(),
                rep.records_imported,
                rep.advisories_total
            );
        }
        "scan" => {
            let image = PathBuf::from(args.get(3).ok_or(usage)?);
            let opts = LoadOptions { cache_dir: args.get(4).map(PathBuf::from), ..Default::default() };
            let db = Database::open(&dbdir)?;
            let r = scan::scan(&Target::Archive(image), &opts, &db, &Filters::default())?;
            let pk: usize = r.targets.iter().map(|t| t.packages.len()).sum();
            println!(
                "phase=scan seconds={:.3} peak_rss_mb={:.1} packages={} findings={} layers_walked={} layers_from_cache={} entries={} bytes={}",
                start.elapsed().as_secs_f64(),
                peak_rss_mb(),
                pk,
                r.findings().count(),
                r.stats.load.layers_walked,
                r.stats.load.layers_from_cache,
                r.stats.load.entries_walked,
                r.stats.load.bytes_walked
            );
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
