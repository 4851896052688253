//! `keelwatch db`: the offline OSV vulnerability database (import, update, status) and the
//! `compare-versions` debugging aid.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keelwatch_vuln::db;
use keelwatch_vuln::version::Family;

/// Where the database lives (shared by `db` and `scan`).
#[derive(Args, Debug, Clone)]
pub struct DbDir {
    /// Database directory [default: $XDG_CACHE_HOME/keelwatch/db or ~/.cache/keelwatch/db].
    #[arg(long = "db", env = "KEELWATCH_DB", value_name = "DIR")]
    pub db: Option<PathBuf>,
}

impl DbDir {
    pub fn dir(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(db::default_dir)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import OSV records from `<ECOSYSTEM>/all.zip` dumps, directories of JSON files or single
    /// JSON files. Ecosystems present in the input replace what the database held for them.
    Import {
        #[arg(required = true, value_name = "FILE.zip|DIR|FILE.json")]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        db: DbDir,
    },
    /// Download `<ECOSYSTEM>/all.zip` from the OSV bucket (or a mirror) and import it.
    /// Without --ecosystem, refreshes the ecosystems the database already holds.
    Update {
        /// OSV ecosystem name as in the bucket (`PyPI`, `Debian`, `AlmaLinux`, `Go`...). Repeatable.
        #[arg(long = "ecosystem", value_name = "E")]
        ecosystems: Vec<String>,
        /// Base URL serving `<ECOSYSTEM>/all.zip`.
        #[arg(long, default_value = db::OSV_BUCKET, env = "KEELWATCH_DB_MIRROR")]
        mirror: String,
        /// Timeout per download, seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[command(flatten)]
        db: DbDir,
    },
    /// Show the database: location, age, records per ecosystem, sources.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbDir,
    },
    /// Compare two versions with an ecosystem's ordering; prints `<`, `=` or `>`.
    CompareVersions {
        /// Ecosystem (`Debian:12`, `PyPI`, `npm`, `Go`, `Maven`, `RubyGems`, `AlmaLinux:9`,
        /// `Alpine:v3.19`...) or family (`dpkg`, `apk`, `rpm`, `pep440`, `semver`, `maven`, `rubygems`).
        ecosystem: String,
        a: String,
        b: String,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::CompareVersions { ecosystem, a, b } => {
            let Some(fam) = Family::for_ecosystem(&ecosystem) else {
                bail!(
                    "unknown ecosystem '{ecosystem}': use an OSV ecosystem (Debian:12, Alpine:v3.19, AlmaLinux:9, PyPI, npm, crates.io, Go, Maven, RubyGems) or a family (dpkg, apk, rpm, pep440, semver, maven, rubygems)"
                );
            };
            let sym = match fam.compare(&a, &b) {
                std::cmp::Ordering::Less => "<",
                std::cmp::Ordering::Equal => "=",
                std::cmp::Ordering::Greater => ">",
            };
            println!("{sym}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { inputs, db } => {
            let dir = db.dir();
            let start = std::time::Instant::now();
            let ins: Vec<db::Input> = inputs.iter().map(db::Input::path).collect();
            let rep = db::import(&dir, &ins).with_context(|| format!("import into {}", dir.display()))?;
            print_report(&dir, &rep, start.elapsed());
            Ok(ExitCode::SUCCESS)
        }
        Command::Update { ecosystems, mirror, timeout, db } => {
            let dir = db.dir();
            let start = std::time::Instant::now();
            let rep = db::update(&dir, &ecosystems, &mirror, Duration::from_secs(timeout))?;
            print_report(&dir, &rep, start.elapsed());
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json, db } => {
            let dir = db.dir();
            let d = db::Database::open(&dir)?;
            let m = d.meta();
            let age = chrono::DateTime::parse_from_rfc3339(&m.built)
                .map(|t| chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc)))
                .ok();
            if json {
                let v = serde_json::json!({
                    "dir": dir.display().to_string(),
                    "built": m.built,
                    "age_seconds": age.map(|a| a.num_seconds()),
                    "advisories": m.advisories,
                    "packages": m.packages,
                    "ecosystems": m.ecosystems,
                    "sources": m.sources,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("database:   {}", dir.display());
            println!("built:      {} ({} ago)", m.built, age.map(human_age).unwrap_or_else(|| "unknown".into()));
            println!("advisories: {} ({} package keys)", m.advisories, m.packages);
            let mut t = keelwatch_core::output::Table::new(["ECOSYSTEM", "RECORDS"]);
            for (e, n) in &m.ecosystems {
                t.row([e.clone(), n.to_string()]);
            }
            print!("{}", t.render());
            let mut t = keelwatch_core::output::Table::new(["SOURCE", "ECOSYSTEMS", "RECORDS", "IMPORTED"]);
            for s in &m.sources {
                t.row([s.origin.clone(), s.ecosystems.join(","), s.records.to_string(), s.imported.clone()]);
            }
            print!("{}", t.render());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn human_age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn print_report(dir: &std::path::Path, rep: &db::ImportReport, took: Duration) {
    println!(
        "imported {} records from {} files into {} in {:.2}s ({} withdrawn skipped, {} invalid skipped); {} advisories total",
        rep.records_imported,
        rep.files_read,
        dir.display(),
        took.as_secs_f64(),
        rep.withdrawn_skipped,
        rep.invalid_skipped,
        rep.advisories_total
    );
    for e in &rep.invalid_examples {
        eprintln!("warning: skipped invalid record {e}");
    }
    for (e, n) in &rep.ecosystems {
        println!("  {e}: {n}");
    }
}
