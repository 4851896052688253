//! Kubernetes identity: pods from the kubelet's log layout
//! (`/var/log/pods/<namespace>_<pod>_<uid>/<container>/`), container ids from the
//! `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` symlinks, pod uid and
//! container id from cgroup paths (cgroupfs and systemd drivers), pod metadata (labels,
//! annotations, images, container ids) from the API server or the kubelet in kubernetes mode
//! ([`PodInfo`], see `kubeapi` and `kubelet`), which Service selects a pod
//! ([`ServiceSelectors`]), and the namespace + pod label filter.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

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

/// Pod metadata from the API server (kubernetes mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Containers: regular ones in spec order, then init containers, then ephemeral ones
    /// (all three kinds have cgroups, logs and processes that need a name).
    pub containers: Vec<ContainerInfo>,
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContainerKind {
    /// `spec.containers`.
    #[default]
    Regular,
    /// `spec.initContainers` (including restartable "sidecar" init containers).
    Init,
    /// `spec.ephemeralContainers` (`kubectl debug`).
    Ephemeral,
}

/// One container of a [`PodInfo`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Name from the pod spec (unique across the three kinds within a pod).
    pub name: String,
    /// Which spec list it comes from.
    pub kind: ContainerKind,
    /// Runtime container id without the `containerd://` style prefix (empty until started).
    pub id: String,
    /// Image reference as in the status (or the spec before the container started).
    pub image: String,
    /// Image id (`…@sha256:…`), empty until pulled.
    pub image_id: String,
    /// `resources.requests.cpu` in nanocores, when the spec sets it.
    pub cpu_request_nanocores: Option<u64>,
    /// `resources.requests.memory` in bytes, when the spec sets it.
    pub memory_request_bytes: Option<u64>,
}

/// Parses a Kubernetes resource quantity (`250m`, `0.5`, `128Mi`, `1G`, `1e3`, `100n`) into
/// base units (cores or bytes). `None` for anything that is not a quantity.
///
/// Why by hand: k8s-openapi keeps quantities as strings and no small crate parses them.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let base: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = base * factor;
    (v.is_finite() && v >= 0.0).then_some(v)
}

impl PodInfo {
    /// The container with this name.
    pub fn container(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// An image reference split the way Container Insights reports it: `(repository, image,
/// tag)` where the repository is the registry host (empty for Docker Hub short names), the
/// image the path without registry and tag, and the tag `latest` when none is given.
/// `docker.io/library/nginx:1.27` → `("docker.io", "library/nginx", "1.27")`.
pub fn split_image(reference: &str) -> (String, String, String) {
    let no_digest = reference.split('@').next().unwrap_or("");
    let (path, tag) = match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => (&no_digest[..i], &no_digest[i + 1..]),
        _ => (no_digest, "latest"),
    };
    let (repo, image) = match path.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, rest),
        _ => ("", path),
    };
    (repo.to_string(), image.to_string(), tag.to_string())
}

/// The digest part of an image id (`docker.io/x@sha256:ab…` → `sha256:ab…`).
pub fn image_digest(image_id: &str) -> &str {
    image_id.rsplit_once('@').map(|(_, d)| d).unwrap_or(image_id)
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

/// Index of the node's pods and containers, rebuilt from the log layout and, in
/// kubernetes mode, completed with the API server's pod list ([`ContainerIndex::add_pods`]).
#[derive(Debug, Clone, Default)]
pub struct ContainerIndex {
    pods_by_uid: HashMap<String, PodRef>,
    by_id: HashMap<String, ContainerRef>,
    /// (namespace, pod, container) → container id.
    id_by_name: HashMap<(String, String, String), String>,
    /// Pod metadata by uid (kubernetes mode).
    meta: HashMap<String, Arc<PodInfo>>,
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

    /// Adds the API server's view of the node's pods: their metadata, and container ids →
    /// names (this is how a cgroup path maps to a pod and container name).
    pub fn add_pods(&mut self, pods: &[Arc<PodInfo>]) {
        for p in pods {
            let pod_ref = PodRef { namespace: p.namespace.clone(), name: p.name.clone(), uid: p.uid.clone() };
            self.pods_by_uid.insert(p.uid.clone(), pod_ref.clone());
            for c in p.containers.iter().filter(|c| is_container_id(&c.id)) {
                self.id_by_name.insert((p.namespace.clone(), p.name.clone(), c.name.clone()), c.id.clone());
                self.by_id.insert(
                    c.id.clone(),
                    ContainerRef { pod: pod_ref.clone(), name: c.name.clone(), id: c.id.clone() },
                );
            }
            self.meta.insert(p.uid.clone(), p.clone());
        }
    }

    /// API-server metadata of the pod with this uid (kubernetes mode only).
    pub fn pod_info(&self, uid: &str) -> Option<&PodInfo> {
        self.meta.get(uid).map(Arc::as_ref)
    }

    /// The labels of a pod, when its metadata is known.
    pub fn labels(&self, uid: &str) -> Option<&BTreeMap<String, String>> {
        self.pod_info(uid).map(|p| &p.labels)
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

/// The Services of the cluster as far as `KubePodInventory.ServiceName` needs them: per
/// namespace, each Service's name and label selector. Built once per inventory round from one
/// Service list and asked once per pod.
///
/// Matching follows Container Insights: a Service selects a pod when it is in the pod's
/// namespace, its selector is non-empty (Services without a selector — ExternalName, or
/// endpoints managed by hand — select nothing) and every selector pair is among the pod's
/// labels. When several Services select a pod, Container Insights reports the first one in
/// the API server's list order, which within a namespace is by name; this picks the smallest
/// name, so the answer is the same and does not depend on the order the list arrived in.
#[derive(Debug, Clone, Default)]
pub struct ServiceSelectors {
    /// namespace → Services, sorted by name.
    by_namespace: HashMap<String, Vec<NamedSelector>>,
}

/// A Service's name and label selector.
type NamedSelector = (String, BTreeMap<String, String>);

impl ServiceSelectors {
    /// Indexes `(namespace, name, selector)` triples; Services without a selector are dropped.
    pub fn new(services: impl IntoIterator<Item = (String, String, BTreeMap<String, String>)>) -> Self {
        let mut by_namespace: HashMap<String, Vec<NamedSelector>> = HashMap::new();
        for (ns, name, selector) in services {
            if !selector.is_empty() {
                by_namespace.entry(ns).or_default().push((name, selector));
            }
        }
        for list in by_namespace.values_mut() {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }
        ServiceSelectors { by_namespace }
    }

    /// The name of the Service selecting a pod in `namespace` with `labels`, `""` when none.
    pub fn service_for(&self, namespace: &str, labels: &BTreeMap<String, String>) -> &str {
        let Some(list) = self.by_namespace.get(namespace) else { return "" };
        list.iter()
            .find(|(_, selector)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .map(|(name, _)| name.as_str())
            .unwrap_or("")
    }

    /// Number of Services with a selector.
    pub fn len(&self) -> usize {
        self.by_namespace.values().map(Vec::len).sum()
    }

    /// True when no Service has a selector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Include/exclude filter on Kubernetes namespaces and pod labels. Namespace patterns are
/// exact names or a prefix followed by `*`; label selectors are `key=value` or `key` (the
/// label exists). Exclusions win over inclusions. Items without a namespace (host cgroups,
/// host processes, node metrics) always pass. Label rules need pod metadata (kubernetes
/// mode): a pod whose labels are not known yet is not collected until they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamespaceFilter {
    /// When non-empty, only these namespaces are collected.
    #[serde(default)]
    pub include: Vec<String>,
    /// These namespaces are never collected (wins over include).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When non-empty, only pods with one of these labels are collected.
    #[serde(default)]
    pub include_labels: Vec<String>,
    /// Pods with any of these labels are never collected.
    #[serde(default)]
    pub exclude_labels: Vec<String>,
}

fn matches(pattern: &str, ns: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ns.starts_with(prefix),
        None => pattern == ns,
    }
}

fn label_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    match selector.split_once('=') {
        Some((k, v)) => labels.get(k.trim()).is_some_and(|have| have == v.trim()),
        None => labels.contains_key(selector.trim()),
    }
}

impl NamespaceFilter {
    /// Whether an item in namespace `ns` (None = not in Kubernetes) passes the namespace
    /// rules (label rules are checked by [`allows_pod`](Self::allows_pod)).
    pub fn allows(&self, ns: Option<&str>) -> bool {
        let Some(ns) = ns else { return true };
        if self.exclude.iter().any(|p| matches(p, ns)) {
            return false;
        }
        self.include.is_empty() || self.include.iter().any(|p| matches(p, ns))
    }

    /// True when label selectors are configured.
    pub fn has_label_rules(&self) -> bool {
        !self.include_labels.is_empty() || !self.exclude_labels.is_empty()
    }

    /// Whether a pod in `ns` with `labels` (None = metadata not known) is collected.
    pub fn allows_pod(&self, ns: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        if !self.allows(Some(ns)) {
            return false;
        }
        if !self.has_label_rules() {
            return true;
        }
        let Some(labels) = labels else { return false };
        if self.exclude_labels.iter().any(|s| label_matches(s, labels)) {
            return false;
        }
        self.include_labels.is_empty() || self.include_labels.iter().any(|s| label_matches(s, labels))
    }

    /// Checks the selector syntax.
    pub fn validate(&self) -> Result<(), String> {
        for s in self.include_labels.iter().chain(&self.exclude_labels) {
            let key = s.split_once('=').map(|(k, _)| k).unwrap_or(s).trim();
            if key.is_empty() || s.contains("!=") || s.contains("==") {
                return Err(format!("label selector `{s}`: use key=value or key"));
            }
        }
        Ok(())
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
        let f = NamespaceFilter {
            include: vec!["prod".into(), "team-*".into()],
            exclude: vec!["team-secret".into()],
            ..Default::default()
        };
        assert!(f.allows(Some("prod")));
        assert!(f.allows(Some("team-a")));
        assert!(!f.allows(Some("team-secret")));
        assert!(!f.allows(Some("kube-system")));
        assert!(f.allows(None));
        assert!(NamespaceFilter::default().allows(Some("anything")));
    }

    #[test]
    fn label_filter() {
        let labels: BTreeMap<String, String> =
            [("app".to_string(), "web".to_string()), ("tier".to_string(), "front".to_string())].into();
        let batch: BTreeMap<String, String> = [("app".to_string(), "batch".to_string())].into();
        let f = NamespaceFilter {
            include: vec!["prod".into()],
            exclude_labels: vec!["app=batch".into()],
            include_labels: vec!["tier".into(), "app=batch".into()],
            ..Default::default()
        };
        assert!(f.allows_pod("prod", Some(&labels)));
        assert!(!f.allows_pod("prod", Some(&batch)), "exclude wins over include");
        assert!(!f.allows_pod("dev", Some(&labels)), "namespace rules still apply");
        assert!(!f.allows_pod("prod", None), "unknown labels are not collected while label rules exist");
        assert!(NamespaceFilter::default().allows_pod("prod", None));
        assert!(f.validate().is_ok());
        let bad = NamespaceFilter { include_labels: vec!["app!=x".into()], ..Default::default() };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn images_and_metadata_index() {
        assert_eq!(
            split_image("docker.io/library/nginx:1.27"),
            ("docker.io".into(), "library/nginx".into(), "1.27".into())
        );
        assert_eq!(split_image("nginx"), ("".into(), "nginx".into(), "latest".into()));
        assert_eq!(
            split_image("localhost:5000/team/app@sha256:abcd"),
            ("localhost:5000".into(), "team/app".into(), "latest".into())
        );
        assert_eq!(image_digest("docker.io/library/nginx@sha256:ab12"), "sha256:ab12");
        let mut idx = ContainerIndex::default();
        let info = PodInfo {
            namespace: "prod".into(),
            name: "web-1".into(),
            uid: UID.into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            containers: vec![
                ContainerInfo { name: "app".into(), id: ID.into(), image: "nginx:1".into(), ..Default::default() },
                ContainerInfo { name: "pending".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        idx.add_pods(&[Arc::new(info)]);
        let c = idx.container(ID).unwrap();
        assert_eq!((c.name.as_str(), c.pod.name.as_str()), ("app", "web-1"));
        assert_eq!(idx.container_id("prod", "web-1", "app"), Some(ID));
        assert_eq!(idx.labels(UID).unwrap()["app"], "web");
        assert_eq!(idx.pod(UID).unwrap().namespace, "prod");
    }

    #[test]
    fn service_selection_matches_container_insights() {
        let sel = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let web = sel(&[("app", "web"), ("pod-template-hash", "7d4b9c6f5")]);
        let services = vec![
            // Listed out of name order on purpose: the answer must not depend on it.
            ("prod".to_string(), "web-admin".to_string(), sel(&[("app", "web")])),
            ("prod".to_string(), "web".to_string(), sel(&[("app", "web")])),
            ("prod".to_string(), "a-web-v2".to_string(), sel(&[("app", "web"), ("version", "v2")])),
            ("prod".to_string(), "a-external".to_string(), BTreeMap::new()),
            ("dev".to_string(), "a-other-ns".to_string(), sel(&[("app", "web")])),
        ];
        let idx = ServiceSelectors::new(services.clone());
        assert_eq!(idx.len(), 4, "a Service without a selector selects nothing");
        assert_eq!(idx.service_for("prod", &web), "web", "several match: the smallest name");
        let mut reversed = services;
        reversed.reverse();
        assert_eq!(ServiceSelectors::new(reversed).service_for("prod", &web), "web");
        let v2 = sel(&[("app", "web"), ("version", "v2")]);
        assert_eq!(idx.service_for("prod", &v2), "a-web-v2", "every selector pair must be among the labels");
        assert_eq!(idx.service_for("staging", &web), "", "only Services of the pod's namespace");
        assert_eq!(idx.service_for("prod", &BTreeMap::new()), "", "a pod without labels");
        assert_eq!(idx.service_for("prod", &sel(&[("app", "WEB")])), "", "values compare exactly");
        assert!(ServiceSelectors::default().is_empty());
    }

    #[test]
    fn quantities_in_base_units() {
        let cases = [
            ("250m", 0.25),
            ("2", 2.0),
            ("0.5", 0.5),
            ("100n", 100e-9),
            ("128Mi", 134_217_728.0),
            ("1Gi", 1_073_741_824.0),
            ("1G", 1e9),
            ("1500k", 1.5e6),
            ("1e3", 1000.0),
        ];
        for (q, want) in cases {
            let got = parse_quantity(q).unwrap_or_else(|| panic!("{q} did not parse"));
            assert!((got - want).abs() <= want * 1e-12, "{q}: {got} != {want}");
        }
        for bad in ["", "m", "12x", "1.2.3", "-1", "1Zi", "1e", "abc"] {
            assert_eq!(parse_quantity(bad), None, "{bad:?}");
        }
    }
}
