//! Ingest benchmark without the CLI: generate demo ContainerLogV2 NDJSON, ingest it through the
//! same path as `keelwatch workspace ingest` (NDJSON line → schema check → Arrow → WAL with
//! fsync per 20k-row batch → Parquet zstd), compact, and report rows/s and bytes on disk.
//! Usage: cargo run --release -p keelwatch-workspace --example bench_ingest -- OUT_DIR [LOG_RATE] [PODS]

use std::io::{BufRead, Write};
use std::time::Instant;

use keelwatch_workspace::{Workspace, WorkspaceOptions};

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() { dir_bytes(&p) } else { e.metadata().map(|m| m.len()).unwrap_or(0) };
        }
    }
    n
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).ok_or("usage: bench_ingest OUT_DIR [LOG_RATE] [PODS]")?);
    let log_rate: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(313);
    let pods: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let file = out.join("ContainerLogV2.ndjson");
    let t = Instant::now();
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&file)?);
        let o = keelwatch_workspace::demo::DemoOptions {
            nodes: 20,
            pods,
            hours: 24,
            log_rate,
            end: chrono::DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")?.to_utc(),
            only: vec!["ContainerLogV2".into(), "KubePodInventory".into()],
            ..Default::default()
        };
        let mut kpi = std::io::BufWriter::new(std::fs::File::create(out.join("KubePodInventory.ndjson"))?);
        keelwatch_workspace::demo::generate(&o, &mut |table, rows| {
            let w: &mut dyn Write = if table == "ContainerLogV2" { &mut w } else { &mut kpi };
            for r in rows {
                serde_json::to_writer(&mut *w, &r).map_err(|e| keelwatch_workspace::Error::Json {
                    line: 0,
                    column: 0,
                    message: e.to_string(),
                })?;
                w.write_all(b"\n").map_err(|source| keelwatch_workspace::Error::Io {
                    op: "write",
                    path: "ndjson".into(),
                    source,
                })?;
            }
            Ok(())
        })?;
        w.flush()?;
        kpi.flush()?;
    }
    let raw = std::fs::metadata(&file)?.len();
    println!("generated {raw} bytes of NDJSON in {:.1} s", t.elapsed().as_secs_f64());

    let ws_dir = out.join("ws");
    for (table, path) in [("ContainerLogV2", file.clone()), ("KubePodInventory", out.join("KubePodInventory.ndjson"))] {
        let ws =
            Workspace::open_with(&ws_dir, WorkspaceOptions { default_retention_days: None, ..Default::default() })?;
        let t = Instant::now();
        let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?);
        let (mut chunk, mut chunk_rows, mut first_line, mut line_no, mut rows) = (Vec::new(), 0, 1, 0, 0usize);
        loop {
            let n = reader.read_until(b'\n', &mut chunk)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            chunk_rows += 1;
            if chunk_rows >= 20_000 {
                rows += ws.append_ndjson(table, &chunk, first_line)?.rows;
                chunk.clear();
                chunk_rows = 0;
                first_line = line_no + 1;
            }
        }
        rows += ws.append_ndjson(table, &chunk, first_line)?.rows;
        ws.flush()?;
        let secs = t.elapsed().as_secs_f64();
        println!("ingested {rows} {table} rows in {secs:.1} s: {:.0} rows/s (one thread)", rows as f64 / secs);
        let t = Instant::now();
        ws.compact()?;
        ws.collect_garbage(true);
        println!("compacted {table} in {:.1} s", t.elapsed().as_secs_f64());
    }
    let pq = dir_bytes(&ws_dir.join("ContainerLogV2"));
    println!("ContainerLogV2: NDJSON {raw} bytes, Parquet {pq} bytes, {:.1}x smaller", raw as f64 / pq as f64);
    Ok(())
}
