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
    // NEW COMMAND GROUPS: add a variant above this line (one per group).
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_logging(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
        Command::Admission(c) => cmd::admission::run(c),
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
