//! `keelwatch detect`: replay audit/process events through the detection rules, serve the
//! API server's audit webhook, list and check rules files.

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use keelwatch_detect::alert::severity_rank;
use keelwatch_detect::decode::read_stream_views;
use keelwatch_detect::engine::event_time;
use keelwatch_detect::output::{WebhookFormat, WebhookSink, table, write_json_line};
use keelwatch_detect::rules::{RuleSet, Source, load_rules};
use keelwatch_detect::{Aggregator, Detector, SecurityAlert};

#[derive(Subcommand)]
pub enum Command {
    /// Evaluate audit-log / process-event files (JSON lines, EventList, AKS diagnostic records;
    /// `-` for stdin) and print SecurityAlerts.
    Replay(ReplayArgs),
    /// Follow growing audit-log / process-event files (like `tail -F`: rename rotation and
    /// copytruncate are handled) and print each alert as a JSON line as it is raised.
    Tail(TailArgs),
    /// Receive the API server's audit webhook backend at POST /audit over HTTPS and emit alerts.
    Serve(ServeArgs),
    /// Rules: list the loaded rules or check rules files.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// List the rules (built-in catalog plus --rules files).
    List(ListArgs),
    /// Load and compile rules files (on top of the built-in catalog); exit 1 on errors.
    Check(CheckArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum HookFormat {
    Generic,
    Alertmanager,
    /// The keelwatch workspace ingestion API (`<url>/api/ingest/SecurityAlert`).
    Workspace,
}

#[derive(Args, Clone)]
pub struct RuleArgs {
    /// Extra Falco-format rules file, loaded after the built-in catalog (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Do not load the built-in catalog.
    #[arg(long)]
    no_builtin: bool,
}

#[derive(Args, Clone)]
pub struct AlertArgs {
    /// Aggregation window in seconds: repeats of an alert type on the same entity within it
    /// become one alert with a Count.
    #[arg(long, default_value_t = 300)]
    window: i64,
    /// Cluster name for alert entities (an event's cluster_name annotation wins).
    #[arg(long, default_value = "")]
    cluster: String,
    /// Only emit alerts of at least this severity.
    #[arg(long, value_parser = ["Informational", "Low", "Medium", "High"], default_value = "Informational")]
    min_severity: String,
    /// Also POST alerts to this URL.
    #[arg(long)]
    webhook: Option<String>,
    /// Webhook body format.
    #[arg(long, value_enum, default_value = "generic")]
    webhook_format: HookFormat,
    /// File with a bearer token sent to the webhook (e.g. the workspace ingest token).
    #[arg(long, value_name = "FILE")]
    webhook_token_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Input files (`-` for stdin).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    alerts: AlertArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Exit 1 when an alert of at least this severity was raised.
    #[arg(long, value_parser = ["Informational", "Low", "Medium", "High"])]
    fail_on: Option<String>,
}

#[derive(Args)]
pub struct TailArgs {
    /// Files to follow; a file that does not exist yet is followed once it appears.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Read what the files already hold first (default: only what is appended from now on).
    #[arg(long)]
    from_start: bool,
    /// How often the files are checked for new data, in milliseconds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    poll_ms: u64,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    alerts: AlertArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: super::tls_args::TlsArgs,
    /// File holding the bearer token the API server must send.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// PEM CA bundle: require client certificates signed by it.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// Append alerts (JSON lines) to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    alerts_out: Option<PathBuf>,
    /// Largest accepted request body, bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    body_limit: usize,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    alerts: AlertArgs,
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    rules: RuleArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Rules files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Check the files alone, without the built-in catalog.
    #[arg(long)]
    no_builtin: bool,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Replay(a) => replay(a),
        Command::Tail(a) => tail(a),
        Command::Serve(a) => serve(a),
        Command::Rules(RulesCommand::List(a)) => list(a),
        Command::Rules(RulesCommand::Check(a)) => check(a),
    }
}

fn read_rule_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading rules file {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

fn compile(args: &RuleArgs) -> anyhow::Result<RuleSet> {
    let files = read_rule_files(&args.rules)?;
    load_rules(!args.no_builtin, &files).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("rules failed to load:\n{}", lines.join("\n"))
    })
}

fn webhook(args: &AlertArgs) -> anyhow::Result<Option<WebhookSink>> {
    let Some(url) = &args.webhook else { return Ok(None) };
    let token = match &args.webhook_token_file {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?.trim().to_string())
        }
        None => None,
    };
    let format = match args.webhook_format {
        HookFormat::Generic => WebhookFormat::Generic,
        HookFormat::Alertmanager => WebhookFormat::Alertmanager,
        HookFormat::Workspace => WebhookFormat::WorkspaceIngest,
    };
    Ok(Some(WebhookSink::new(url, format, token)?))
}

fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let rules = compile(&args.rules)?;
    let hook = webhook(&args.alerts)?;
    let min = severity_rank(&args.alerts.min_severity);
    let mut detector = Detector::new(rules, args.alerts.cluster.clone());
    let mut agg = Aggregator::new(chrono::Duration::seconds(args.alerts.window.max(0)), false);
    let mut unreadable = false;
    let mut malformed_total = 0u64;
    let mut shown = 0u32;
    let mut all: Vec<SecurityAlert> = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let emit = |alerts: Vec<SecurityAlert>, out: &mut dyn Write, all: &mut Vec<SecurityAlert>| -> anyhow::Result<()> {
        for a in alerts.into_iter().filter(|a| severity_rank(&a.alert_severity) >= min) {
            if args.output == Format::Json {
                write_json_line(&mut *out, &a)?;
            }
            all.push(a);
        }
        Ok(())
    };
    for path in &args.files {
        let name = path.display().to_string();
        let reader: Box<dyn std::io::BufRead> = if name == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            match std::fs::File::open(path) {
                Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
                Err(e) => {
                    eprintln!("error: {name}: {e}");
                    unreadable = true;
                    continue;
                }
            }
        };
        let mut pending: Vec<SecurityAlert> = Vec::new();
        // Events in evaluation form: nothing is copied out of a line unless a rule alerts.
        let result = read_stream_views(
            &name,
            reader,
            |ev| {
                for a in detector.process(&ev) {
                    pending.extend(agg.push(a));
                }
                if let Some(t) = event_time(&ev) {
                    pending.extend(agg.expire(t));
                }
            },
            |m| {
                malformed_total += 1;
                if shown < 100 {
                    eprintln!("warning: malformed input: {m}");
                    shown += 1;
                }
            },
        );
        emit(std::mem::take(&mut pending), &mut out, &mut all)?;
        match result {
            Ok(stats) => {
                if stats.malformed > 0 || stats.skipped > 0 {
                    eprintln!(
                        "{name}: {} audit events, {} process events, {} malformed, {} skipped",
                        stats.audit_events, stats.process_events, stats.malformed, stats.skipped
                    );
                }
            }
            Err(e) => {
                eprintln!("error: {name}: read failed: {e}");
                unreadable = true;
            }
        }
    }
    emit(agg.flush(), &mut out, &mut all)?;
    if shown >= 100 && malformed_total > 100 {
        eprintln!("warning: {} more malformed values not shown", malformed_total - 100);
    }
    if args.output == Format::Table {
        out.write_all(table(&all).as_bytes())?;
    }
    out.flush()?;
    if let Some(hook) = hook {
        for chunk in all.chunks(500) {
            hook.send(chunk)?;
        }
    }
    if unreadable {
        return Ok(ExitCode::from(2));
    }
    if let Some(level) = &args.fail_on {
        let rank = severity_rank(level);
        if all.iter().any(|a| severity_rank(&a.alert_severity) >= rank) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tail(args: TailArgs) -> anyhow::Result<ExitCode> {
    use keelwatch_detect::tail::{Follower, Start};
    let rules = compile(&args.rules)?;
    let hook = webhook(&args.alerts)?;
    let min = severity_rank(&args.alerts.min_severity);
    let mut detector = Detector::new(rules, args.alerts.cluster.clone());
    // Live input: first occurrences at once, aggregates when their window closes (wall clock).
    let mut agg = Aggregator::new(chrono::Duration::seconds(args.alerts.window.max(0)), true);
    let start = if args.from_start { Start::Beginning } else { Start::End };
    let mut followers: Vec<Follower> = args.files.iter().map(|p| Follower::new(p, start)).collect();
    let mut last_error: Vec<Option<String>> = vec![None; followers.len()];
    let mut rotations: Vec<(u64, u64)> = vec![(0, 0); followers.len()];
    let mut malformed_total = 0u64;
    let poll = std::time::Duration::from_millis(args.poll_ms);
    let emit = |alerts: Vec<SecurityAlert>| -> anyhow::Result<()> {
        let alerts: Vec<SecurityAlert> =
            alerts.into_iter().filter(|a| severity_rank(&a.alert_severity) >= min).collect();
        if alerts.is_empty() {
            return Ok(());
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for a in &alerts {
            write_json_line(&mut out, a)?;
        }
        out.flush()?;
        if let Some(hook) = &hook
            && let Err(e) = hook.send(&alerts)
        {
            eprintln!("warning: webhook: {e}");
        }
        Ok(())
    };
    for p in &args.files {
        if !p.exists() {
            eprintln!("detect tail: {} does not exist yet; waiting for it", p.display());
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut announced = false;
        loop {
            let mut pending = Vec::new();
            for (i, f) in followers.iter_mut().enumerate() {
                let result = f.poll_views(
                    |ev| {
                        for a in detector.process(&ev) {
                            pending.extend(agg.push(a));
                        }
                    },
                    |m| {
                        malformed_total += 1;
                        if malformed_total <= 100 {
                            eprintln!("warning: malformed input: {m}");
                        }
                    },
                );
                match result {
                    Ok(()) => last_error[i] = None,
                    Err(e) => {
                        let msg = e.to_string();
                        if last_error[i].as_deref() != Some(msg.as_str()) {
                            eprintln!("warning: {}: {msg} (retrying)", f.path().display());
                        }
                        last_error[i] = Some(msg);
                    }
                }
                if (f.rotations, f.truncations) != rotations[i] {
                    eprintln!(
                        "detect tail: {} was rotated ({} renames, {} truncations so far); reading the new file",
                        f.path().display(),
                        f.rotations,
                        f.truncations
                    );
                    rotations[i] = (f.rotations, f.truncations);
                }
            }
            pending.extend(agg.expire(chrono::Utc::now()));
            emit(pending)?;
            if !announced {
                // After the first poll: whatever is appended from now on will be read.
                eprintln!("detect tail: following {} file(s)", followers.len());
                announced = true;
            }
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        anyhow::Ok(())
    })?;
    emit(agg.flush())?;
    if malformed_total > 100 {
        eprintln!("warning: {} more malformed values not shown", malformed_total - 100);
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    use keelwatch_detect::server::{ServerConfig, TlsSource, serve};
    let tls = match args.tls.choice()? {
        super::tls_args::TlsChoice::Files { cert, key } => TlsSource::Files { cert: cert.clone(), key: key.clone() },
        super::tls_args::TlsChoice::SelfSigned { dir } => {
            TlsSource::SelfSigned { dir: dir.clone(), names: args.tls.dns_names.clone() }
        }
    };
    let token = match &args.token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p).with_context(|| format!("reading token file {}", p.display()))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("token file {} is empty", p.display());
            }
            Some(t)
        }
        None => None,
    };
    let rules = compile(&args.rules)?;
    let config = ServerConfig {
        listen: args.listen,
        tls,
        token,
        client_ca: args.client_ca.clone(),
        body_limit: args.body_limit,
        alerts_out: args.alerts_out.clone(),
        webhook: webhook(&args.alerts)?,
    };
    let detector = Detector::new(rules, args.alerts.cluster.clone());
    let agg = Aggregator::new(chrono::Duration::seconds(args.alerts.window.max(0)), true);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        // Register the SIGINT handler before announcing the address, so an interrupt sent as
        // soon as "listening" appears stops the server cleanly instead of killing it.
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .context("installing the SIGINT handler")?;
        serve(config, detector, agg, |addr| eprintln!("detect serve: listening on https://{addr}/audit"), async move {
            interrupt.recv().await;
        })
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let rules = compile(&args.rules)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.output == Format::Json {
        for r in rules.rules() {
            let a = r.alert.clone().unwrap_or_default();
            let v = serde_json::json!({
                "name": r.name, "alertType": keelwatch_detect::alert::alert_type_of(r),
                "alertName": a.name, "severity": a.severity.unwrap_or_else(|| r.priority.severity().to_string()),
                "priority": r.priority.as_str(), "source": r.source.as_str(), "enabled": r.enabled,
                "tactics": a.tactics, "techniques": a.techniques, "tags": r.tags, "origin": r.origin,
                "desc": r.desc,
            });
            writeln!(out, "{v}")?;
        }
    } else {
        let rows: Vec<[String; 5]> = rules
            .rules()
            .iter()
            .map(|r| {
                let a = r.alert.clone().unwrap_or_default();
                [
                    keelwatch_detect::alert::alert_type_of(r),
                    a.severity.unwrap_or_else(|| r.priority.severity().to_string()),
                    r.source.as_str().to_string(),
                    if r.enabled { "yes".into() } else { "no".into() },
                    a.tactics.join(","),
                ]
            })
            .collect();
        let header = ["TYPE", "SEVERITY", "SOURCE", "ENABLED", "TACTICS"];
        let mut w = header.map(str::len);
        for r in &rows {
            for (wi, c) in w.iter_mut().zip(r) {
                *wi = (*wi).max(c.len());
            }
        }
        let fmt = |cells: [&str; 5]| {
            cells.iter().zip(w).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
        };
        writeln!(out, "{}", fmt(header))?;
        for r in &rows {
            writeln!(out, "{}", fmt([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let files = match read_rule_files(&args.files) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    match load_rules(!args.no_builtin, &files) {
        Ok(rules) => {
            let from_files =
                rules.rules().iter().filter(|r| !r.origin.starts_with(keelwatch_detect::rules::BUILTIN_ORIGIN)).count();
            println!(
                "ok: {from_files} rules from {} file(s) compiled ({} audit and {} process rules enabled in total)",
                files.len(),
                rules.enabled_count(Source::K8sAudit),
                rules.enabled_count(Source::Process)
            );
            for s in &rules.skipped {
                println!(
                    "skipped: rule '{}' ({}): source '{}' is not evaluated by keelwatch",
                    s.name, s.origin, s.source
                );
            }
            for n in &rules.notes {
                println!("note: {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s)", errs.len());
            Ok(ExitCode::from(1))
        }
    }
}
