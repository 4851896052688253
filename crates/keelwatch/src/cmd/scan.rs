//! `keelwatch scan image` and `keelwatch sbom`: container image vulnerability scanning and
//! inventory, fully offline against the local OSV database (`keelwatch db`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keelwatch_core::Severity;
use keelwatch_vuln::db::Database;
use keelwatch_vuln::report;
use keelwatch_vuln::scan::{self, Filters};
use keelwatch_vuln::source::{LayerCache, LoadOptions, ProgressEvent, ProgressSink, Target};
use keelwatch_vuln::suppress;

use super::db::DbDir;

/// Where the image comes from (exactly one).
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Registry reference (`registry/repo:tag`, `repo@sha256:…`); a local path is also accepted
    /// (directory → rootfs or OCI layout, file → archive).
    #[arg(value_name = "REF", conflicts_with_all = ["input", "layout", "rootfs"])]
    pub reference: Option<String>,
    /// A `docker save` archive or an OCI archive.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// An OCI image layout directory.
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// A root filesystem directory.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Platform to pick from multi-arch images, `os/arch[/variant]` (default linux/<host arch>).
    #[arg(long)]
    pub platform: Option<String>,
    /// Talk plain HTTP to the registry (localhost registries).
    #[arg(long)]
    pub insecure: bool,
    /// Registry user name (else ~/.docker/config.json).
    #[arg(long, env = "KEELWATCH_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Registry password or token.
    #[arg(long, env = "KEELWATCH_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Per-layer result cache [default: $XDG_CACHE_HOME/keelwatch/layers].
    #[arg(long, env = "KEELWATCH_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the layer cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Seconds a docker credential helper (credHelpers / credsStore) may take.
    #[arg(long, env = "KEELWATCH_CRED_HELPER_TIMEOUT", value_name = "SECS", default_value_t = 20)]
    pub cred_helper_timeout: u64,
}

impl SourceArgs {
    fn target(&self) -> anyhow::Result<Target> {
        Ok(match (&self.reference, &self.input, &self.layout, &self.rootfs) {
            (Some(r), None, None, None) => Target::detect(r),
            (None, Some(f), None, None) => Target::Archive(f.clone()),
            (None, None, Some(d), None) => Target::Layout(d.clone()),
            (None, None, None, Some(d)) => Target::Rootfs(d.clone()),
            (None, None, None, None) => bail!("name an image: REF, --input FILE, --layout DIR or --rootfs DIR"),
            _ => bail!("give exactly one of REF, --input, --layout, --rootfs"),
        })
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            platform: self.platform.clone(),
            insecure: self.insecure,
            cache_dir: if self.no_cache {
                None
            } else {
                Some(self.cache_dir.clone().unwrap_or_else(LayerCache::default_dir))
            },
            limits: Default::default(),
            username: self.username.clone(),
            password: self.password.clone(),
            docker_config: None,
            cred_helper_timeout: Some(std::time::Duration::from_secs(self.cred_helper_timeout.max(1))),
            progress: if std::io::stderr().is_terminal() { Some(progress_bar()) } else { None },
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scan a container image for OS and language package vulnerabilities.
    Image(ImageArgs),
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: table, json (schema keelwatch.vuln/v1), sarif, cyclonedx.
    #[arg(short = 'o', long = "output", default_value = "table")]
    pub output: String,
    /// Only report these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN).
    #[arg(long, value_delimiter = ',')]
    pub severity: Vec<String>,
    /// Drop findings that have no fixed version.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Exit with this code when findings remain after filtering (default 0).
    #[arg(long, default_value_t = 0)]
    pub exit_code: u8,
    /// Ignore file: `ID [exp:YYYY-MM-DD] [# reason]` per line.
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// OpenVEX document; `not_affected`/`fixed` statements suppress findings.
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbDir,
}

/// `keelwatch sbom`.
#[derive(Args, Debug)]
pub struct SbomArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format: cyclonedx (default) or json (package inventory).
    #[arg(short = 'o', long = "output", default_value = "cyclonedx")]
    pub output: String,
}

/// A one-line progress bar on stderr (terminals only): layer i/n, its digest, a bar and the
/// stored bytes read (pulled for registry images), redrawn at most 10 times a second.
fn progress_bar() -> ProgressSink {
    struct State {
        total: usize,
        layer: String,
        size: Option<u64>,
        last: Option<std::time::Instant>,
    }
    let st = std::sync::Mutex::new(State { total: 0, layer: String::new(), size: None, last: None });
    ProgressSink(std::sync::Arc::new(move |e: &ProgressEvent| {
        let Ok(mut s) = st.lock() else { return };
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let line = match e {
            ProgressEvent::LayerStart { index, total, layer, size } => {
                s.total = *total;
                s.layer = layer.chars().take(19).collect();
                s.size = *size;
                s.last = None;
                format!("layer {}/{} {} …", index + 1, total, s.layer)
            }
            ProgressEvent::LayerBytes { index, read } => {
                let complete = s.size.is_some_and(|z| *read >= z);
                if !complete && s.last.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100)) {
                    return;
                }
                s.last = Some(std::time::Instant::now());
                match s.size.filter(|z| *z > 0) {
                    Some(z) => {
                        let done = ((*read as f64 / z as f64).min(1.0) * 30.0) as usize;
                        format!(
                            "layer {}/{} {} [{}{}] {:.1}/{:.1} MiB",
                            index + 1,
                            s.total,
                            s.layer,
                            "#".repeat(done),
                            "-".repeat(30 - done),
                            mib(*read),
                            mib(z)
                        )
                    }
                    None => format!("layer {}/{} {} {:.1} MiB", index + 1, s.total, s.layer, mib(*read)),
                }
            }
            ProgressEvent::LayerDone { index, cached } => {
                let state = match (cached, s.size) {
                    (true, _) => "cached".to_string(),
                    (false, Some(z)) => format!("[{}] {:.1}/{:.1} MiB", "#".repeat(30), mib(z), mib(z)),
                    (false, None) => "done".to_string(),
                };
                let line = format!("layer {}/{} {} {state}", index + 1, s.total, s.layer);
                if index + 1 == s.total {
                    eprint!("\r\x1b[2K{line}\r\x1b[2K");
                    return;
                }
                line
            }
        };
        eprint!("\r\x1b[2K{line}");
    }))
}

fn progress(msg: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("{msg}");
    }
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Image(a) => image(a),
    }
}

fn image(a: ImageArgs) -> anyhow::Result<ExitCode> {
    let fmt = a.output.to_ascii_lowercase();
    if !["table", "json", "sarif", "cyclonedx"].contains(&fmt.as_str()) {
        bail!("unknown output format '{}': expected table, json, sarif or cyclonedx", a.output);
    }
    let mut filters = Filters { ignore_unfixed: a.ignore_unfixed, ..Default::default() };
    for s in &a.severity {
        filters.severities.push(Severity::from_str(s.trim()).map_err(|_| {
            anyhow::anyhow!("--severity: unknown severity '{s}' (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)")
        })?);
    }
    if let Some(f) = &a.ignore_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("read ignore file {}", f.display()))?;
        filters.ignores = suppress::parse_ignore(&text, &f.display().to_string())?;
    }
    for v in &a.vex {
        let data = std::fs::read(v).with_context(|| format!("read VEX {}", v.display()))?;
        filters.vex.extend(suppress::parse_vex(&data, &v.display().to_string())?);
    }
    let db = Database::open(&a.db.dir())?;
    let target = a.source.target()?;
    progress(&format!("scanning {} …", target.describe()));
    let r = scan::scan(&target, &a.source.options(), &db, &filters)?;
    progress(&format!(
        "{} layers ({} from cache), {} entries walked, {} packages",
        r.stats.load.layers,
        r.stats.load.layers_from_cache,
        r.stats.load.entries_walked,
        r.targets.iter().map(|t| t.packages.len()).sum::<usize>()
    ));
    let out = match fmt.as_str() {
        "json" => serde_json::to_string_pretty(&r)?,
        "sarif" => serde_json::to_string_pretty(&report::render_sarif(&r))?,
        "cyclonedx" => {
            let pk: Vec<_> = r.targets.iter().flat_map(|t| t.packages.iter().cloned()).collect();
            let fs: Vec<_> = r.findings().cloned().collect();
            serde_json::to_string_pretty(&report::render_cyclonedx(
                &r.artifact,
                r.os.as_ref(),
                &pk,
                Some((&fs, &r.suppressed)),
            ))?
        }
        _ => report::render_table(&r),
    };
    println!("{}", out.trim_end());
    let n = r.findings().count();
    Ok(if n > 0 && a.exit_code != 0 { ExitCode::from(a.exit_code) } else { ExitCode::SUCCESS })
}

/// `keelwatch sbom SOURCE`.
pub fn sbom(a: SbomArgs) -> anyhow::Result<ExitCode> {
    let target = a.source.target()?;
    let (img, inv) = scan::inventory(&target, &a.source.options())?;
    let artifact = report::Artifact {
        name: img.name.clone(),
        kind: img.kind.to_string(),
        digest: img.digest.clone(),
        layers: img.layer_ids.iter().flatten().cloned().collect(),
    };
    let out = match a.output.to_ascii_lowercase().as_str() {
        "cyclonedx" => {
            serde_json::to_string_pretty(&report::render_cyclonedx(&artifact, inv.os.as_ref(), &inv.packages, None))?
        }
        "json" => serde_json::to_string_pretty(
            &serde_json::json!({"schema": report::SCHEMA, "artifact": artifact, "os": inv.os, "packages": inv.packages, "warnings": inv.warnings}),
        )?,
        o => bail!("unknown output format '{o}': expected cyclonedx or json"),
    };
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
