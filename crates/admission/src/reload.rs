//! Where policies come from, and reloading them on file change or SIGHUP.
//!
//! A reload builds a complete new policy set first and swaps it in only when it loaded
//! cleanly; a broken edit is logged and counted while the previous policies keep serving.
//! Files are watched through their parent directory because editors and ConfigMap updates
//! replace files by rename, which a watch on the file itself would miss.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keelwatch_core::{LoadOptions, load};
use keelwatch_policy::{Inventory, PolicySet};
use notify::Watcher;

use crate::evaluator::{Evaluator, Policies};
use crate::metrics::{Metrics, ReloadLabels};

/// The files a server's policies are built from.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// ConstraintTemplates + Constraints (files or directories).
    pub policy_paths: Vec<PathBuf>,
    /// keelwatch Assignments (expanded through the built-in library).
    pub assignment_paths: Vec<PathBuf>,
    /// Objects for `data.inventory` and namespaceSelector (Namespaces etc.).
    pub inventory_paths: Vec<PathBuf>,
}

impl PolicySource {
    /// Loads everything; any error fails the whole load (a partial policy set is never used).
    pub fn load(&self) -> Result<Policies, String> {
        let set = PolicySet::load(&self.policy_paths, &self.assignment_paths).map_err(|e| e.to_string())?;
        let inventory = if self.inventory_paths.is_empty() {
            Inventory::empty()
        } else {
            let loaded = load::load_paths(&self.inventory_paths, &LoadOptions::default());
            if let Some(err) = loaded.errors.first() {
                return Err(format!("inventory {err}"));
            }
            Inventory::from_objects(loaded.objects.into_iter().map(|o| o.value))
        };
        Ok(Policies { set, inventory })
    }

    fn watch_targets(&self) -> Vec<(PathBuf, notify::RecursiveMode)> {
        let mut out = Vec::new();
        for p in self.policy_paths.iter().chain(&self.assignment_paths).chain(&self.inventory_paths) {
            if p.is_dir() {
                out.push((p.clone(), notify::RecursiveMode::Recursive));
            } else {
                let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
                out.push((parent.to_path_buf(), notify::RecursiveMode::NonRecursive));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Reloads now; returns whether the new set is in force.
pub async fn reload_now(source: &PolicySource, evaluator: &Evaluator, metrics: &Metrics) -> bool {
    let src = source.clone();
    let loaded = tokio::task::spawn_blocking(move || src.load())
        .await
        .unwrap_or_else(|e| Err(format!("reload task failed: {e}")));
    match loaded {
        Ok(policies) => {
            let n = policies.set.constraints().count();
            evaluator.replace(policies);
            metrics.constraints.set(n as i64);
            metrics.reloads.get_or_create(&ReloadLabels { result: "ok".into() }).inc();
            tracing::info!(constraints = n, "policies reloaded");
            true
        }
        Err(e) => {
            metrics.reloads.get_or_create(&ReloadLabels { result: "error".into() }).inc();
            tracing::error!(error = %e, "policy reload failed; keeping the previous policies");
            false
        }
    }
}

/// Watches the source files and SIGHUP; reloads after changes settle (250 ms debounce).
/// Runs until the returned task is aborted.
pub fn spawn_watcher(
    source: PolicySource,
    evaluator: Arc<Evaluator>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(16);
    let watcher = {
        let tx = tx.clone();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok_and(|ev| !matches!(ev.kind, notify::EventKind::Access(_))) {
                let _ = tx.try_send(());
            }
        })
    };
    let watcher = match watcher {
        Ok(mut w) => {
            for (path, mode) in source.watch_targets() {
                if let Err(e) = w.watch(&path, mode) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot watch; reload with SIGHUP instead");
                }
            }
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "file watching unavailable; reload with SIGHUP");
            None
        }
    };
    #[cfg(unix)]
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                while hup.recv().await.is_some() {
                    let _ = tx.send(()).await;
                }
            }
        });
    }
    tokio::spawn(async move {
        let _keep = watcher;
        while rx.recv().await.is_some() {
            // Let a burst of writes (an editor save, a ConfigMap swap) settle into one reload.
            tokio::time::sleep(Duration::from_millis(250)).await;
            while rx.try_recv().is_ok() {}
            reload_now(&source, &evaluator, &metrics).await;
        }
    })
}
