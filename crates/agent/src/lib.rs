//! keelwatch node agent.
//!
//! Owns everything that runs on a node: node and container metrics from `/proc` and cgroups
//! (v1 and v2) as Container Insights `Perf` / `InsightsMetrics` rows, container logs in the
//! CRI format as `ContainerLogV2` rows, process exec events (kernel proc connector, or /proc
//! polling) as [`keelwatch_detect::process::ProcessEvent`]s, and shipping: NDJSON to stdout
//! or a file, or batches to the workspace ingestion API through a bounded on-disk buffer.
//!
//! Invariants:
//! - log positions (checkpoints) advance only after the rows they cover are durable in the
//!   output, and are replaced atomically — a restart neither loses nor repeats a line
//!   (HTTP delivery itself is at-least-once; see [`ship`]);
//! - memory is bounded: per-poll read budgets, a bounded process-event queue, batches on
//!   disk with a byte bound (oldest dropped and counted);
//! - bad input (non-CRI lines, corrupt gzip, vanished cgroups) is skipped and counted,
//!   never a panic.
//!
//! Kubernetes mode (`kubernetes` feature, on by default) adds the node's pods from the API
//! server ([`kubeapi`]) or the kubelet ([`kubelet`]): pod metadata on rows, label filters, and
//! the `KubePodInventory` / `ContainerInventory` tables (`ServiceName` from the API server's
//! Services). Cluster mode ([`cluster`], one replica per cluster) writes the cluster-wide
//! `KubeNodeInventory`, `KubeServices` and `KubeEvents` tables instead.
//!
//! Start reading at [`agent::run`] (the loop), then [`metrics`], [`logs`] and [`spool`].

pub mod agent;
pub mod cgroup;
pub mod checkpoint;
#[cfg(feature = "kubernetes")]
pub mod cluster;
pub mod config;
pub mod cri;
pub mod error;
pub mod k8s;
#[cfg(feature = "kubernetes")]
pub mod kubeapi;
#[cfg(feature = "kubernetes")]
pub mod kubelet;
pub mod logs;
pub mod metrics;
pub mod output;
pub mod process;
pub mod procfs;
pub mod selfmetrics;
pub mod ship;
pub mod spool;
pub mod util;

pub use agent::{RunSummary, install_signal_handlers, run};
pub use config::{AgentConfig, Mode, Output, PodsFrom};
pub use error::AgentError;
pub use process::ProcessSource;
