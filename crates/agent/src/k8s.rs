//! Kubernetes identity without an API server: pods from the kubelet's log layout
//! (`/var/log/pods/<namespace>_<pod>_<uid>/<container>/`), container ids from the
//! `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` symlinks, pod uid and
//! container id from cgroup paths (cgroupfs and systemd drivers), and namespace filters.

use std::collections::HashMap;
use std::path::Path;

/// A pod as identified by its log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
}

/// A container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// The pod.
    pub pod: PodRef,
    /// Container name from the pod spec.
    pub name: String,
    /// Runtime container id (64 hex digits).
    pub id: String,
}

/// Parses a pod log directory name `<namespace>_<pod>_<uid>`.
pub fn parse_pod_dir(name: &str) -> Option<PodRef> {
    let mut it = name.splitn(3, '_');
    let (ns, pod, uid) = (it.next()?, it.next()?, it.next()?);
    if ns.is_empty() || pod.is_empty() || uid.is_empty() {
        return None;
    }
    Some(PodRef { namespace: ns.to_string(), name: pod.to_string(), uid: uid.to_string() })
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a `/var/log/containers` link name `<pod>_<namespace>_<container>-<id>.log` into
/// (pod, namespace, container, id).
pub fn parse_container_link(name: &str) -> Option<(String, String, String, String)> {
    let stem = name.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    if !is_container_id(id) {
        return None;
    }
    let mut it = rest.splitn(3, '_');
    let (pod, ns, container) = (it.next()?, it.next()?, it.next()?);
    Some((pod.into(), ns.into(), container.into(), id.into()))
}

/// Pod uid and container id found in a cgroup path, for both cgroup drivers:
/// `/kubepods/burstable/pod<uid>/<id>` and
/// `/kubepods.slice/…/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`
/// (also `docker-`, `crio-`, `containerd-` prefixes).
pub fn ids_from_cgroup_path(path: &str) -> (Option<String>, Option<String>) {
    let mut pod_uid = None;
    let mut container_id = None;
    for seg in path.split('/') {
        let s = seg.strip_suffix(".slice").unwrap_or(seg);
        if let Some(pos) = s.rfind("pod") {
            let cand = &s[pos + 3..];
            let uid = cand.replace('_', "-");
            if uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                pod_uid = Some(uid);
                continue;
            }
        }
        let s = seg.strip_suffix(".scope").unwrap_or(seg);
        let s = ["cri-containerd-", "docker-", "crio-", "containerd-", "cri-o-"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .unwrap_or(s);
        if is_container_id(s) {
            container_id = Some(s.to_string());
        }
    }
    (pod_uid, container_id)
}

/// True when a cgroup path is Kubernetes bookkeeping above container level (the kubepods
/// tree, a QoS class or a pod cgroup) rather than a container.
pub fn is_kube_ancestor(path: &str) -> bool {
    let in_kube = path.split('/').any(|s| s.starts_with("kubepods"));
    in_kube && ids_from_cgroup_path(path).1.is_none()
}

/// Index of the node's pods and containers, rebuilt from the log layout.
#[derive(Debug, Clone, Default)]
pub struct ContainerIndex {
    pods_by_uid: HashMap<String, PodRef>,
    by_id: HashMap<String, ContainerRef>,
    /// (namespace, pod, container) → container id.
    id_by_name: HashMap<(String, String, String), String>,
}

impl ContainerIndex {
    /// Scans `pods_dir` (`/var/log/pods`) and its sibling `containers` directory.
    pub fn scan(pods_dir: &Path) -> ContainerIndex {
        let mut idx = ContainerIndex::default();
        if let Ok(rd) = std::fs::read_dir(pods_dir) {
            for e in rd.flatten().take(100_000) {
                if let Some(p) = e.file_name().to_str().and_then(parse_pod_dir) {
                    idx.pods_by_uid.insert(p.uid.clone(), p);
                }
            }
        }
        let containers = pods_dir.parent().map(|p| p.join("containers")).unwrap_or_default();
        if let Ok(rd) = std::fs::read_dir(containers) {
            for e in rd.flatten().take(100_000) {
                let Some((pod, ns, container, id)) = e.file_name().to_str().and_then(parse_container_link) else {
                    continue;
                };
                let pod_ref = idx
                    .pods_by_uid
                    .values()
                    .find(|p| p.name == pod && p.namespace == ns)
                    .cloned()
                    .unwrap_or(PodRef { namespace: ns.clone(), name: pod.clone(), uid: String::new() });
                idx.id_by_name.insert((ns, pod, container.clone()), id.clone());
                idx.by_id.insert(id.clone(), ContainerRef { pod: pod_ref, name: container, id });
            }
        }
        idx
    }

    /// The pod with this uid.
    pub fn pod(&self, uid: &str) -> Option<&PodRef> {
        self.pods_by_uid.get(uid)
    }

    /// The container with this runtime id.
    pub fn container(&self, id: &str) -> Option<&ContainerRef> {
        self.by_id.get(id)
    }

    /// The runtime id of a named container.
    pub fn container_id(&self, namespace: &str, pod: &str, container: &str) -> Option<&str> {
        self.id_by_name.get(&(namespace.to_string(), pod.to_string(), container.to_string())).map(String::as_str)
    }
}

/// Include/exclude filter on Kubernetes namespaces. Patterns are exact names or a prefix
/// followed by `*`. Items without a namespace (host cgroups, host processes, node metrics)
/// always pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamespaceFilter {
    /// When non-empty, only these namespaces are collected.
    #[serde(default)]
    pub include: Vec<String>,
    /// These namespaces are never collected (wins over include).
    #[serde(default)]
    pub exclude: Vec<String>,
}

fn matches(pattern: &str, ns: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ns.starts_with(prefix),
        None => pattern == ns,
    }
}

impl NamespaceFilter {
    /// Whether an item in namespace `ns` (None = not in Kubernetes) is collected.
    pub fn allows(&self, ns: Option<&str>) -> bool {
        let Some(ns) = ns else { return true };
        if self.exclude.iter().any(|p| matches(p, ns)) {
            return false;
        }
        self.include.is_empty() || self.include.iter().any(|p| matches(p, ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    #[test]
    fn cgroup_paths_both_drivers() {
        let p = format!("/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(ids_from_cgroup_path(&p), (Some(UID.into()), Some(ID.into())));
        let p = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        );
        assert_eq!(ids_from_cgroup_path(&p), (Some(UID.into()), Some(ID.into())));
        assert!(is_kube_ancestor("/kubepods.slice/kubepods-burstable.slice"));
        assert!(is_kube_ancestor(&format!("/kubepods/pod{UID}")));
        assert!(!is_kube_ancestor("/system.slice/cron.service"));
        assert_eq!(ids_from_cgroup_path("/system.slice/cron.service"), (None, None));
    }

    #[test]
    fn log_layout_index() {
        let t = tempfile::tempdir().unwrap();
        let pods = t.path().join("pods");
        std::fs::create_dir_all(pods.join(format!("prod_web-1_{UID}/app"))).unwrap();
        std::fs::create_dir_all(t.path().join("containers")).unwrap();
        std::fs::write(t.path().join(format!("containers/web-1_prod_app-{ID}.log")), "").unwrap();
        let idx = ContainerIndex::scan(&pods);
        assert_eq!(idx.pod(UID).unwrap().name, "web-1");
        let c = idx.container(ID).unwrap();
        assert_eq!((c.name.as_str(), c.pod.namespace.as_str(), c.pod.uid.as_str()), ("app", "prod", UID));
        assert_eq!(idx.container_id("prod", "web-1", "app"), Some(ID));
        assert!(parse_pod_dir("nounderscore").is_none());
        assert!(parse_container_link("a_b_c-xyz.log").is_none());
    }

    #[test]
    fn namespace_filter() {
        let f = NamespaceFilter { include: vec!["prod".into(), "team-*".into()], exclude: vec!["team-secret".into()] };
        assert!(f.allows(Some("prod")));
        assert!(f.allows(Some("team-a")));
        assert!(!f.allows(Some("team-secret")));
        assert!(!f.allows(Some("kube-system")));
        assert!(f.allows(None));
        assert!(NamespaceFilter::default().allows(Some("anything")));
    }
}
