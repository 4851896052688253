//! `keelwatch workspace`: ingest files, show statistics, generate a demo cluster, maintain
//! and serve the workspace (ingestion API + Log Analytics query API).

use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keelwatch_workspace::http::{self, ServerConfig, TokenOrigin};
use keelwatch_workspace::{Error, FsyncPolicy, UnknownColumns, Workspace, WorkspaceOptions};

/// Where the workspace lives.
#[derive(Args, Debug, Clone)]
pub struct WorkspaceDir {
    /// Workspace directory.
    #[arg(long = "workspace", env = "KEELWATCH_WORKSPACE", default_value = "./keelwatch-data")]
    pub dir: PathBuf,
}

/// `keelwatch workspace ...`
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Append rows from an NDJSON file (or a JSON array file, or `-` for stdin) to a table.
    Ingest {
        /// Table name, exactly as in Container Insights (e.g. ContainerLogV2).
        table: String,
        /// NDJSON or JSON-array file; `-` reads standard input.
        file: String,
        #[command(flatten)]
        ws: WorkspaceDir,
        /// Drop keys that are not columns of the table instead of rejecting the file.
        #[arg(long)]
        ignore_unknown: bool,
        /// Do not fsync each batch (faster bulk loads; rows survive a process crash, not a
        /// power loss).
        #[arg(long)]
        no_fsync: bool,
        /// Rows per WAL record (each record is all-or-nothing).
        #[arg(long, default_value_t = 20_000)]
        batch_rows: usize,
    },
    /// Rows, files, bytes and time range per table.
    Stats {
        #[command(flatten)]
        ws: WorkspaceDir,
        /// Output format.
        #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
        output: String,
    },
    /// Fill the workspace with a realistic synthetic cluster (deterministic).
    Demo {
        #[command(flatten)]
        ws: WorkspaceDir,
        /// Nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Pods.
        #[arg(long, default_value_t = 30)]
        pods: usize,
        /// Hours of history.
        #[arg(long, default_value_t = 6)]
        hours: u32,
        /// Average log lines per container per hour.
        #[arg(long, default_value_t = 120)]
        log_rate: u32,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// End of the generated period (RFC 3339); default: now, rounded down to the minute.
        #[arg(long)]
        end: Option<String>,
        /// Write one NDJSON file per table into this directory instead of the workspace.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Generate only these tables (comma-separated), e.g. ContainerLogV2,KubePodInventory.
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
    /// Flush buffers, compact small files and apply retention now.
    Compact {
        #[command(flatten)]
        ws: WorkspaceDir,
    },
    /// Show or set a table's retention in days (`none` keeps data forever, `default` uses
    /// the workspace default of 30 days).
    Retention {
        /// Table name.
        table: String,
        /// Days, `none` or `default`; omit to show.
        days: Option<String>,
        #[command(flatten)]
        ws: WorkspaceDir,
    },
    /// Serve the ingestion API and the Log Analytics query API.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        ws: WorkspaceDir,
        /// File holding the bearer token (default: `<workspace>/token`, generated on first start).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// PEM certificate chain for HTTPS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for HTTPS.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Flush a table's buffer at this many rows.
        #[arg(long, default_value_t = 1_000_000)]
        flush_rows: usize,
        /// Flush a table's buffer when its oldest row is this many seconds old.
        #[arg(long, default_value_t = 30.0)]
        flush_age_secs: f64,
        /// Answer 429 while this many bytes are buffered in memory.
        #[arg(long, default_value_t = 1 << 30)]
        max_buffer_bytes: usize,
        /// Drop keys that are not columns instead of answering 400.
        #[arg(long)]
        ignore_unknown: bool,
    },
}

/// Runs a `workspace` subcommand.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Ingest { table, file, ws, ignore_unknown, no_fsync, batch_rows } => {
            ingest(&table, &file, &ws.dir, ignore_unknown, no_fsync, batch_rows.max(1))
        }
        Command::Stats { ws, output } => stats(&ws.dir, &output),
        Command::Demo { ws, nodes, pods, hours, log_rate, seed, end, export, tables } => {
            for t in &tables {
                if let Err(e) = keelwatch_workspace::writable_table(t) {
                    eprintln!("error: --tables: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
            let o = keelwatch_workspace::demo::DemoOptions {
                nodes,
                pods,
                hours,
                log_rate,
                seed,
                only: tables,
                ..Default::default()
            };
            demo(&ws.dir, o, end.as_deref(), export.as_deref())
        }
        Command::Compact { ws } => {
            let w = Workspace::open(&ws.dir)?;
            let flushed = w.flush()?;
            let merged = w.compact()?;
            let expired = w.apply_retention(chrono::Utc::now())?;
            w.collect_garbage(true);
            println!("flushed {flushed} file(s), merged {merged} small file(s), dropped {expired} expired file(s)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention { table, days, ws } => retention(&ws.dir, &table, days.as_deref()),
        Command::Serve {
            listen,
            ws,
            token_file,
            tls_cert,
            tls_key,
            flush_rows,
            flush_age_secs,
            max_buffer_bytes,
            ignore_unknown,
        } => {
            if !(flush_age_secs.is_finite() && flush_age_secs > 0.0) {
                bail!("--flush-age-secs must be a positive number of seconds");
            }
            let opts = WorkspaceOptions {
                inline_flush: false,
                flush_rows: flush_rows.max(1),
                flush_age: Duration::from_secs_f64(flush_age_secs),
                max_buffer_bytes,
                unknown_columns: if ignore_unknown { UnknownColumns::Ignore } else { UnknownColumns::Reject },
                ..Default::default()
            };
            serve(listen, &ws.dir, token_file.as_deref(), tls_cert.zip(tls_key), opts)
        }
    }
}

fn input_error(e: &Error) -> bool {
    matches!(e, Error::Row { .. } | Error::Json { .. } | Error::UnknownTable { .. })
}

fn ingest(
    table: &str,
    file: &str,
    dir: &Path,
    ignore_unknown: bool,
    no_fsync: bool,
    batch_rows: usize,
) -> anyhow::Result<ExitCode> {
    if let Err(e) = keelwatch_workspace::writable_table(table) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let opts = WorkspaceOptions {
        fsync: if no_fsync { FsyncPolicy::Never } else { FsyncPolicy::Always },
        unknown_columns: if ignore_unknown { UnknownColumns::Ignore } else { UnknownColumns::Reject },
        ..Default::default()
    };
    let ws = Workspace::open_with(dir, opts).with_context(|| format!("opening workspace {}", dir.display()))?;
    let mut reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let started = Instant::now();
    let mut stored = 0usize;
    let mut input_bytes = 0u64;
    // A JSON array file is read whole; NDJSON is streamed in batches.
    let first = reader.fill_buf().context("reading input")?.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let result: Result<(), Error> = if first == Some(b'[') {
        let mut body = Vec::new();
        reader.read_to_end(&mut body).context("reading input")?;
        input_bytes = body.len() as u64;
        ws.append_body(table, &body).map(|r| stored += r.rows)
    } else {
        // NDJSON: the input is read in large blocks straight into one buffer, cut into chunks
        // of `batch_rows` non-blank lines, and each chunk is converted without JSON trees
        // (Workspace::append_ndjson); errors name the file's line numbers. (A `read_until` per
        // line copied every byte twice and was 14 % of ingest CPU, perf.)
        const READ: usize = 1 << 20;
        let mut buf: Vec<u8> = vec![0; 32 << 20];
        let mut filled = 0usize; // bytes of `buf` holding input
        let mut pos = 0usize; // end of the lines already counted
        let mut chunk_first_line = 1usize;
        let mut chunk_rows = 0usize;
        let mut line_no = 0usize;
        let mut eof = false;
        let mut res = Ok(());
        loop {
            while chunk_rows < batch_rows
                && let Some(k) = memchr::memchr(b'\n', &buf[pos..filled])
            {
                line_no += 1;
                if buf[pos..pos + k].iter().any(|b| !b.is_ascii_whitespace()) {
                    chunk_rows += 1;
                }
                pos += k + 1;
            }
            if eof && chunk_rows < batch_rows && pos < filled {
                // last line without a newline
                line_no += 1;
                if buf[pos..filled].iter().any(|b| !b.is_ascii_whitespace()) {
                    chunk_rows += 1;
                }
                pos = filled;
            }
            if chunk_rows >= batch_rows || (eof && chunk_rows > 0) {
                match ws.append_ndjson(table, &buf[..pos], chunk_first_line) {
                    Ok(r) => stored += r.rows,
                    Err(e) => {
                        res = Err(e);
                        break;
                    }
                }
                // keep the partial tail (at most about one read) for the next chunk
                buf.copy_within(pos..filled, 0);
                filled -= pos;
                pos = 0;
                chunk_rows = 0;
                chunk_first_line = line_no + 1;
                continue;
            }
            if eof {
                break;
            }
            if buf.len() - filled < READ {
                buf.resize(buf.len() * 2, 0);
            }
            let n = reader.read(&mut buf[filled..filled + READ]).context("reading input")?;
            if n == 0 {
                eof = true;
            }
            filled += n;
            input_bytes += n as u64;
        }
        res
    };
    ws.flush().context("flushing to Parquet")?;
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            println!(
                "ingested {stored} rows into {table} in {secs:.2} s ({:.0} rows/s, {:.1} MB/s of input)",
                stored as f64 / secs.max(1e-9),
                input_bytes as f64 / 1e6 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {file}: {e}");
            if stored > 0 {
                eprintln!("note: {stored} rows before the failing batch were stored");
            }
            Ok(ExitCode::from(if input_error(&e) { 2 } else { 1 }))
        }
    }
}

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", units[u]) }
}

fn stats(dir: &Path, output: &str) -> anyhow::Result<ExitCode> {
    if !dir.is_dir() {
        eprintln!("error: no workspace at {} (create one with `keelwatch workspace ingest` or `demo`)", dir.display());
        return Ok(ExitCode::from(2));
    }
    let ws = Workspace::open_read_only(dir).with_context(|| format!("opening workspace {}", dir.display()))?;
    let stats = ws.stats();
    if output == "json" {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let header = ["TABLE", "ROWS", "BUFFERED", "FILES", "SIZE", "PARTITIONS", "FROM", "TO", "RETENTION"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for s in &stats {
        rows.push(vec![
            s.table.clone(),
            s.file_rows.to_string(),
            s.buffered_rows.to_string(),
            s.files.to_string(),
            human_bytes(s.file_bytes),
            s.partitions.to_string(),
            s.min_time.clone().unwrap_or_else(|| "-".into()),
            s.max_time.clone().unwrap_or_else(|| "-".into()),
            s.retention_days.map(|d| format!("{d}d")).unwrap_or_else(|| "forever".into()),
        ]);
    }
    let widths: Vec<usize> = (0..header.len()).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = std::io::stdout().lock();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    let total_rows: u64 = stats.iter().map(|s| s.file_rows + s.buffered_rows).sum();
    let total_bytes: u64 = stats.iter().map(|s| s.file_bytes).sum();
    writeln!(out, "total: {total_rows} rows, {} in Parquet", human_bytes(total_bytes))?;
    Ok(ExitCode::SUCCESS)
}

fn demo(
    dir: &Path,
    mut o: keelwatch_workspace::demo::DemoOptions,
    end: Option<&str>,
    export: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (nodes, pods, hours) = (o.nodes, o.pods, o.hours);
    if let Some(e) = end {
        o.end = match chrono::DateTime::parse_from_rfc3339(e) {
            Ok(d) => d.to_utc(),
            Err(err) => {
                eprintln!("error: --end '{e}' is not an RFC 3339 time ({err}), e.g. 2026-11-27T12:00:00Z");
                return Ok(ExitCode::from(2));
            }
        };
    }
    if nodes == 0 || pods == 0 || hours == 0 {
        eprintln!("error: --nodes, --pods and --hours must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let started = Instant::now();
    let summary = if let Some(out_dir) = export {
        std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        let mut files: std::collections::HashMap<&'static str, std::io::BufWriter<std::fs::File>> = Default::default();
        let s = keelwatch_workspace::demo::generate(&o, &mut |table, rows| {
            let w = match files.entry(table) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let p = out_dir.join(format!("{table}.ndjson"));
                    let f = std::fs::File::create(&p).map_err(|source| Error::Io { op: "create", path: p, source })?;
                    v.insert(std::io::BufWriter::with_capacity(1 << 20, f))
                }
            };
            for r in rows {
                let line = r.to_string();
                w.write_all(line.as_bytes()).and_then(|_| w.write_all(b"\n")).map_err(|source| Error::Io {
                    op: "write",
                    path: out_dir.join(table),
                    source,
                })?;
            }
            Ok(())
        })?;
        for (_, mut f) in files {
            f.flush()?;
        }
        s
    } else {
        let ws = Workspace::open_with(dir, WorkspaceOptions { fsync: FsyncPolicy::Never, ..Default::default() })
            .with_context(|| format!("opening workspace {}", dir.display()))?;
        let s = keelwatch_workspace::demo::generate(&o, &mut |table, rows| ws.append(table, &rows).map(|_| ()))?;
        ws.flush()?;
        ws.compact()?;
        ws.collect_garbage(true);
        s
    };
    let target = export.unwrap_or(dir);
    println!(
        "generated {} rows ({} nodes, {} pods, {} h ending {}) into {} in {:.1} s",
        summary.total(),
        nodes,
        pods,
        hours,
        o.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        target.display(),
        started.elapsed().as_secs_f64()
    );
    for (t, n) in &summary.tables {
        println!("  {t:<28} {n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn retention(dir: &Path, table: &str, days: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(days) = days else {
        let ws = Workspace::open_read_only(dir).with_context(|| format!("opening workspace {}", dir.display()))?;
        ws.table_schema(table)?;
        let s = ws.stats().into_iter().find(|s| s.table == table);
        match s.and_then(|s| s.retention_days) {
            Some(d) => println!("{table}: {d} days"),
            None => println!("{table}: kept forever"),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let ws = Workspace::open(dir).with_context(|| format!("opening workspace {}", dir.display()))?;
    let value = match days {
        "default" => None,
        "none" => Some(u32::MAX / 86_400 / 1_000),
        d => match d.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                eprintln!("error: retention must be a number of days ≥ 1, `none` or `default`, not '{d}'");
                return Ok(ExitCode::from(2));
            }
        },
    };
    ws.set_retention(table, value)?;
    println!("{table}: retention set to {days}");
    Ok(ExitCode::SUCCESS)
}

fn serve(
    listen: SocketAddr,
    dir: &Path,
    token_file: Option<&Path>,
    tls: Option<(PathBuf, PathBuf)>,
    opts: WorkspaceOptions,
) -> anyhow::Result<ExitCode> {
    let ws = Workspace::open_with(dir, opts).with_context(|| format!("opening workspace {}", dir.display()))?;
    let (token, origin) = http::load_or_create_token(dir, token_file)?;
    match origin {
        TokenOrigin::Generated(p) => {
            eprintln!("generated bearer token (saved to {}):\n{token}", p.display())
        }
        TokenOrigin::File(p) => eprintln!("bearer token read from {}", p.display()),
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let cfg =
            ServerConfig { listen, token, tls, query: query_handler(), maintain_every: Duration::from_millis(200) };
        let server = http::Server::bind(ws, cfg).await?;
        let addr = server.local_addr()?;
        println!("listening on {scheme}://{addr}");
        std::io::stdout().flush()?;
        server
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The query engine behind `POST /v1/workspaces/{id}/query`: the KQL crate, with a 60 s time
/// limit and 1 GiB of operator memory per query. Bad queries and the memory limit are 400
/// `BadArgumentError` (`SyntaxError` / `SemanticError` / ... in `innererror`, with line and
/// position), the time limit 504, engine failures 500.
fn query_handler() -> Option<http::QueryHandler> {
    use keelwatch_kql::{ErrorKind, QueryLimits};
    Some(std::sync::Arc::new(|req: http::QueryRequest, ctx| {
        Box::pin(async move {
            let limits = QueryLimits {
                timespan: req.timespan.map(|(s, e)| {
                    (s.timestamp_nanos_opt().unwrap_or(i64::MIN), e.timestamp_nanos_opt().unwrap_or(i64::MAX))
                }),
                ..QueryLimits::default()
            };
            match keelwatch_kql::execute(&req.query, &ctx, &limits).await {
                Ok(r) => Ok(r.to_log_analytics_json()),
                Err(e) => {
                    let e = e.locate(&req.query);
                    let (status, code, inner) = match e.kind {
                        ErrorKind::Syntax => (400, "BadArgumentError", "SyntaxError"),
                        ErrorKind::Binding => (400, "BadArgumentError", "SemanticError"),
                        ErrorKind::Unsupported => (400, "BadArgumentError", "UnsupportedError"),
                        ErrorKind::MemoryLimit => (400, "BadArgumentError", "QueryMemoryLimitExceeded"),
                        ErrorKind::Timeout => (504, "GatewayTimeout", "QueryTimeout"),
                        ErrorKind::Execution => (500, "InternalServerError", "ExecutionError"),
                    };
                    let mut innererror = serde_json::json!({"code": inner, "message": e.to_string()});
                    if let Some((line, col)) = e.line_col {
                        innererror["line"] = line.into();
                        innererror["pos"] = col.into();
                    }
                    Err(http::QueryFailure { status, body: http::la_error(code, &e.to_string(), innererror) })
                }
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
    }))
}
