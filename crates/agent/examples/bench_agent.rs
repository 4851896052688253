//! Benchmark driver (see bench/agent/README.md): `bench_agent agent <config.json>` runs the
//! agent library with a JSON `AgentConfig`; `bench_agent writer <pods-dir> <containers>
//! <lines-per-second> <seconds>` writes CRI log lines at a steady rate.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The allocator of the `keelwatch` binary (which runs the agent in production), so the RSS
/// and CPU figures describe it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("agent") => {
            let cfg: keelwatch_agent::AgentConfig =
                serde_json::from_str(&std::fs::read_to_string(&args[2]).expect("config file")).expect("config JSON");
            keelwatch_agent::install_signal_handlers();
            keelwatch_agent::run(&cfg, Arc::new(AtomicBool::new(false))).expect("agent run");
        }
        Some("writer") => {
            let pods = std::path::Path::new(&args[2]);
            let containers: usize = args[3].parse().unwrap();
            let rate: u64 = args[4].parse().unwrap();
            let secs: u64 = args[5].parse().unwrap();
            let mut files: Vec<std::fs::File> = (0..containers)
                .map(|i| {
                    let d = pods.join(format!("bench_pod-{i}_00000000-0000-0000-0000-{i:012}/app"));
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::OpenOptions::new().create(true).append(true).open(d.join("0.log")).unwrap()
                })
                .collect();
            let start = Instant::now();
            let mut n: u64 = 0;
            while start.elapsed() < Duration::from_secs(secs) {
                // Write in 10 ms slices to keep the rate steady.
                let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                while n < due {
                    let f = &mut files[(n as usize) % containers];
                    let line = if n.is_multiple_of(4) {
                        format!(
                            "2026-11-27T09:00:00.000000000Z stdout F {{\"level\":\"info\",\"msg\":\"request served\",\"n\":{n},\"path\":\"/api/v1/items\"}}\n"
                        )
                    } else {
                        format!(
                            "2026-11-27T09:00:00.000000000Z stderr F INFO request {n} served in 12ms path=/api/v1/items user=alice\n"
                        )
                    };
                    f.write_all(line.as_bytes()).unwrap();
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!("wrote {n} lines");
        }
        _ => {
            eprintln!("usage: bench_agent agent <config.json> | writer <pods-dir> <containers> <lines/s> <seconds>");
            std::process::exit(2);
        }
    }
}
