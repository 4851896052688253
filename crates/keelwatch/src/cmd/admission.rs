//! `keelwatch admission`: serve the validating webhook; print its ValidatingWebhookConfiguration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use keelwatch_admission::manifest::{WebhookOptions, validating_webhook_configuration};
use keelwatch_admission::reload::PolicySource;
use keelwatch_admission::{FailurePolicy, ServerConfig, tls};

use super::tls_args::TlsChoice;

#[derive(Subcommand)]
pub enum Command {
    /// Serve AdmissionReviews over HTTPS at /validate (plus /healthz, /readyz, /metrics).
    Serve(ServeArgs),
    /// Print the ValidatingWebhookConfiguration (with caBundle) for a self-signed CA directory.
    Manifest(ManifestArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8443 or 127.0.0.1:8443.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    #[command(flatten)]
    tls: super::tls_args::TlsArgs,
    /// The webhook's Service as NAME.NAMESPACE (adds its cluster DNS names to the certificate).
    #[arg(long)]
    service: Option<String>,
    /// keelwatch Assignment files (or directories).
    #[arg(long = "assignment", value_name = "FILE")]
    assignments: Vec<PathBuf>,
    /// ConstraintTemplates and Constraints (files or directories).
    #[arg(long = "policy", value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// Objects for data.inventory and namespaceSelector (e.g. Namespaces).
    #[arg(long = "inventory", value_name = "PATH")]
    inventory: Vec<PathBuf>,
    /// Evaluation deadline per request, in milliseconds.
    #[arg(long, default_value_t = 2500)]
    deadline_ms: u64,
    /// Answer when the deadline passes or the server is overloaded: open (admit with a
    /// warning, like Gatekeeper's failurePolicy Ignore) or closed (reject).
    #[arg(long, default_value = "open")]
    failure_policy: FailurePolicy,
    /// Evaluation threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Do not reload on file changes (SIGHUP still reloads).
    #[arg(long)]
    no_watch: bool,
}

#[derive(Args)]
pub struct ManifestArgs {
    /// The directory given to `serve --self-signed`.
    #[arg(long, value_name = "DIR")]
    ca: PathBuf,
    /// The webhook's Service as NAME.NAMESPACE.
    #[arg(long)]
    service: String,
    #[arg(long, default_value = "/validate")]
    path: String,
    #[arg(long, default_value_t = 443)]
    port: u16,
    /// Ignore (fail-open, the default) or Fail.
    #[arg(long, default_value = "Ignore", value_parser = ["Ignore", "Fail"])]
    failure_policy: String,
    #[arg(long, default_value_t = 3)]
    timeout_seconds: u32,
    /// Namespaces never sent to the webhook.
    #[arg(long = "exempt-namespace", default_values = ["kube-system", "keelwatch-system"])]
    exempt_namespaces: Vec<String>,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Serve(args) => serve(args),
        Command::Manifest(args) => manifest(args),
    }
}

fn service_names(service: &str) -> Vec<String> {
    match service.split_once('.') {
        Some((name, ns)) => {
            vec![format!("{name}.{ns}.svc"), format!("{name}.{ns}.svc.cluster.local"), format!("{name}.{ns}")]
        }
        None => vec![service.to_string()],
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (cert, key) = match args.tls.choice()? {
        TlsChoice::Files { cert, key } => (cert.clone(), key.clone()),
        TlsChoice::SelfSigned { dir } => {
            let mut names = Vec::new();
            if let Some(s) = &args.service {
                names.extend(service_names(s));
            }
            names.extend(args.tls.dns_names.iter().cloned());
            names.push("localhost".into());
            names.push("127.0.0.1".into());
            let paths = tls::ensure_self_signed(dir, &names)?;
            eprintln!("using self-signed certificate {} (CA {})", paths.cert.display(), paths.ca_cert.display());
            (paths.cert, paths.key)
        }
    };
    let tls = tls::server_config(&cert, &key)?;
    let config = ServerConfig {
        listen: args.listen,
        tls,
        source: PolicySource {
            policy_paths: args.policies,
            assignment_paths: args.assignments,
            inventory_paths: args.inventory,
        },
        deadline: Duration::from_millis(args.deadline_ms.max(1)),
        failure_policy: args.failure_policy,
        threads: args.threads,
        watch: !args.no_watch,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = keelwatch_admission::serve(config).await?;
        let n = server.evaluator.policies().set.constraints().count();
        eprintln!("admission webhook listening on https://{} with {n} constraints", server.local_addr);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { eprintln!("interrupted; shutting down"); }
            _ = terminate() => { eprintln!("terminated; shutting down"); }
        }
        server.stop();
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn terminate() {
    #[cfg(unix)]
    {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}

fn manifest(args: ManifestArgs) -> anyhow::Result<ExitCode> {
    let ca_path = args.ca.join("ca.crt");
    let ca = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "reading {} (create it with `keelwatch admission serve --self-signed {}`)",
            ca_path.display(),
            args.ca.display()
        )
    })?;
    let opts = WebhookOptions {
        service: args.service,
        path: args.path,
        port: args.port,
        failure_policy: args.failure_policy,
        timeout_seconds: args.timeout_seconds,
        exempt_namespaces: args.exempt_namespaces,
    };
    let config = validating_webhook_configuration(&ca, &opts).map_err(anyhow::Error::msg)?;
    print!("{}", keelwatch_core::output::to_yaml_string(&config)?);
    Ok(ExitCode::SUCCESS)
}
