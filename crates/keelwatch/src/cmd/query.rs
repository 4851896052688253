//! `keelwatch query`: run KQL against a workspace, or `--explain` it (parse + bind against the
//! workspace table schemas, print the plan or the error; data is read only for the keys of a
//! schemaless `evaluate bag_unpack`, whose columns come from the data).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use keelwatch_core::output::Table;
use keelwatch_kql::{ErrorKind, QueryLimits, QueryResult, SchemaCatalog};

/// `keelwatch query [--workspace DIR] [--timespan PT1H] [-o table|json|csv] 'KQL'`
#[derive(Args, Debug)]
pub struct Command {
    /// The KQL query (or use -f FILE).
    query: Option<String>,
    /// Read the query from a file (`-` for standard input).
    #[arg(short = 'f', long = "file", conflicts_with = "query")]
    file: Option<PathBuf>,
    /// Workspace directory.
    #[arg(long = "workspace", env = "KEELWATCH_WORKSPACE", default_value = "./keelwatch-data")]
    workspace: PathBuf,
    /// Only rows whose TimeGenerated is in this ISO 8601 duration back from now (PT1H, P1D) or
    /// `start/end` interval.
    #[arg(long)]
    timespan: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json", "csv"])]
    output: String,
    /// Parse and bind against the table schemas without running; print the plan (exit 2 on error).
    #[arg(long)]
    explain: bool,
    /// Time limit in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Memory limit for sorts, aggregations and joins, in MiB.
    #[arg(long, default_value_t = 2048)]
    memory_mib: usize,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let text = match (&cmd.query, &cmd.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) if f.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the query from standard input")?;
            s
        }
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading query file {}", f.display()))?,
        (None, None) => anyhow::bail!("give a query as an argument or with -f FILE"),
    };
    if cmd.explain {
        let mut explained = keelwatch_kql::explain(&text, &SchemaCatalog);
        // a schemaless `evaluate bag_unpack` takes its columns from the data: read them from the
        // workspace when there is one (only that operator's input runs)
        if let Err(e) = &explained
            && e.message.starts_with(keelwatch_kql::bind::bagunpack::NEEDS_DATA)
            && cmd.workspace.is_dir()
        {
            let ws = keelwatch_workspace::Workspace::open_read_only(&cmd.workspace)
                .with_context(|| format!("opening workspace {}", cmd.workspace.display()))?;
            let ctx = ws.session_context(None).context("preparing the query session")?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the query runtime")?;
            explained = rt.block_on(keelwatch_kql::explain_with_data(&text, &ctx));
        }
        return Ok(match explained {
            Ok(plan) => {
                print!("{plan}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        });
    }
    if !cmd.workspace.is_dir() {
        anyhow::bail!(
            "workspace {} does not exist (create one with `keelwatch workspace demo --workspace {}` or pass --workspace DIR)",
            cmd.workspace.display(),
            cmd.workspace.display()
        );
    }
    let timespan =
        match &cmd.timespan {
            None => None,
            Some(t) => Some(keelwatch_workspace::http::parse_timespan(t, chrono::Utc::now()).with_context(|| {
                format!("--timespan '{t}' is not an ISO 8601 duration (PT1H) or start/end interval")
            })?),
        };
    let ws = keelwatch_workspace::Workspace::open_read_only(&cmd.workspace)
        .with_context(|| format!("opening workspace {}", cmd.workspace.display()))?;
    let ctx = ws.session_context(timespan).context("preparing the query session")?;
    let limits = QueryLimits {
        timeout: Duration::from_secs(cmd.timeout_secs),
        memory_bytes: cmd.memory_mib << 20,
        ..QueryLimits::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the query runtime")?;
    let result = rt.block_on(keelwatch_kql::execute(&text, &ctx, &limits));
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(match e.kind {
                ErrorKind::Syntax | ErrorKind::Binding | ErrorKind::Unsupported => 2,
                _ => 1,
            }));
        }
    };
    let out = render(&result, &cmd.output)?;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn render(r: &QueryResult, format: &str) -> anyhow::Result<String> {
    Ok(match format {
        "json" => format!("{}\n", serde_json::to_string_pretty(&r.to_log_analytics_json())?),
        "csv" => {
            let mut s = String::new();
            let line = |cells: Vec<String>| cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + "\n";
            s.push_str(&line(r.columns.iter().map(|(n, _)| n.clone()).collect()));
            for row in r.rows_text() {
                s.push_str(&line(row));
            }
            s
        }
        _ => {
            let mut t = Table::new(r.columns.iter().map(|(n, _)| n.clone())).max_width(120);
            for row in r.rows_text() {
                t.row(row);
            }
            let mut s = t.render();
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&format!("({} rows)\n", r.row_count()));
            s
        }
    })
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.to_string() }
}
