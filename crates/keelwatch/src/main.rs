//! The `keelwatch` binary: a thin clap shell over the library crates.
//!
//! Each command group lives in `cmd/<group>.rs` and exposes a clap `Command` enum plus
//! `run(cmd) -> anyhow::Result<ExitCode>`. Nothing here does real work; libraries do.
//! Exit codes: 0 ok, 1 findings that fail the command (deny violations, vulnerabilities over
//! threshold, failing suites), 2 usage or input errors.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "keelwatch", version, about = "Operate, monitor and secure any Kubernetes cluster")]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `keelwatch_admission=debug`.
    #[arg(long, global = true, env = "KEELWATCH_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gatekeeper-compatible policies: audit manifests, verify suites, list and render built-ins.
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// Admission webhook: serve AdmissionReviews, print the webhook configuration.
    #[command(subcommand)]
    Admission(cmd::admission::Command),
    /// Offline OSV vulnerability database: import, update, status, compare-versions.
    #[command(subcommand)]
    Db(cmd::db::Command),
    /// Workspace store: ingest rows, stats, demo data, compaction, retention, HTTP server.
    #[command(subcommand)]
    Workspace(cmd::workspace::Command),
    /// Threat detection: replay audit/process events, serve the audit webhook, rules.
    #[command(subcommand)]
    Detect(cmd::detect::Command),
    /// Run KQL on the workspace, or --explain it against the table schemas.
    Query(cmd::query::Command),
    /// Scan container images for OS and language package vulnerabilities (offline OSV db).
    #[command(subcommand)]
    Scan(cmd::scan::Command),
    /// Print the CycloneDX 1.5 inventory (SBOM) of an image.
    Sbom(cmd::scan::SbomArgs),
    /// Node agent: node/container metrics, container logs, process events, shipping.
    #[command(subcommand)]
    Agent(cmd::agent::Command),
    // NEW COMMAND GROUPS: add a variant above this line (one per group).
}

/// mimalloc instead of glibc malloc: with glibc, a 100k-pod `policy audit` spent ~20 % of its
/// instructions in malloc/free and its threads' heaps grew by `mprotect` steps; mimalloc's
/// per-thread heaps make it ~30 % faster (bench/policy/README.md). It is built with `no_thp`:
/// mimalloc otherwise asks for transparent huge pages on its arenas, which doubled the node
/// agent's RSS (16 MiB, peak 20-24 MiB); without them the agent stays at 8-9 MiB like with glibc
/// (bench/agent/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Workspace and query commands allocate and free column buffers of tens of MB many times a
/// second (one per ingested batch, per Parquet page, per query operator). mimalloc's default
/// returns freed memory to the OS 10 ms after it is freed, so the next buffer page-faults it
/// back in: in a 10 M-row ingest that doubled the system time (14 s instead of 7 s) and made
/// ingestion ~15 % slower than with glibc (bench/workspace/README.md). A 1 s delay still
/// purged 660 MiB during a 1 M-row ingest (MIMALLOC_SHOW_STATS=1) and 10 s 275 MiB (the page
/// faults of keeping everything); 10 s still gives memory back when a server goes idle.
fn keep_freed_memory_longer() {
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3); libmimalloc-sys does not name it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // mimalloc's own environment variable still wins
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores an integer option; mimalloc reads it when purging.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    }
}

fn main() -> ExitCode {
    // regorus builds `anyhow` errors on hot paths and discards them (e.g. a builtin failing
    // on an undefined value); with RUST_BACKTRACE=1 in the environment each one would capture
    // a backtrace (measured: ~7 % of a policy decision). RUST_LIB_BACKTRACE governs library
    // errors only, so panics still get their backtraces. Set before any thread exists.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: single-threaded here (first statement of main, before any runtime or pool).
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let cli = Cli::parse();
    cmd::init_logging(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
        Command::Admission(c) => cmd::admission::run(c),
        Command::Db(c) => cmd::db::run(c),
        Command::Workspace(c) => {
            keep_freed_memory_longer();
            cmd::workspace::run(c)
        }
        Command::Detect(c) => cmd::detect::run(c),
        Command::Query(c) => {
            keep_freed_memory_longer();
            cmd::query::run(c)
        }
        Command::Scan(c) => cmd::scan::run(c),
        Command::Sbom(a) => cmd::scan::sbom(a),
        Command::Agent(c) => cmd::agent::run(c),
        // NEW COMMAND GROUPS: add a match arm above this line.
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
