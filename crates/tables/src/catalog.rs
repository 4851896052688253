//! The catalog: every table's and view's columns, as static data.
//!
//! Container Insights tables copy the names and types of Azure Monitor's tables (see
//! `docs/tables.md`); SecurityAlert follows the shared contract in the team brief;
//! PolicyResults and ContainerImageVulnerability are keelwatch's own designs.

use crate::{Column, ColumnType as T, TableKind, TableSchema};

const fn c(name: &'static str, ty: T, description: &'static str) -> Column {
    Column { name, ty, description }
}

const TG: Column = c("TimeGenerated", T::DateTime, "When the record was generated (UTC).");

const CONTAINER_LOG_V2: &[Column] = &[
    TG,
    c("Computer", T::String, "Node name."),
    c("ContainerId", T::String, "Container ID (runtime ID without scheme)."),
    c("ContainerName", T::String, "Container name as in the pod spec."),
    c("PodName", T::String, "Pod name."),
    c("PodNamespace", T::String, "Pod namespace."),
    c(
        "LogMessage",
        T::Dynamic,
        "The log line: parsed JSON when the line is JSON, else a string. Lines are cut at 16 KB.",
    ),
    c("LogSource", T::String, "stdout or stderr."),
    c(
        "LogLevel",
        T::String,
        "From a JSON `level` key if any, else guessed: CRITICAL, ERROR, WARNING, INFO, DEBUG, TRACE, UNKNOWN.",
    ),
    c("KubernetesMetadata", T::Dynamic, "podLabels, podAnnotations, podUid, image, imageID, imageRepo, imageTag."),
];

const KUBE_POD_INVENTORY: &[Column] = &[
    TG,
    c("ClusterId", T::String, "Cluster resource ID."),
    c("ClusterName", T::String, "Cluster name."),
    c("Computer", T::String, "Node the pod is scheduled on."),
    c("ContainerCreationTimeStamp", T::DateTime, "When the container was created."),
    c("ContainerID", T::String, "Container ID."),
    c("ContainerLastStatus", T::String, "Last terminated state as a JSON string (reason, exitCode, finishedAt...)."),
    c("ContainerName", T::String, "\"<podUid>/<containerName>\"."),
    c("ContainerRestartCount", T::Int, "Restarts of this container."),
    c("ContainerStartTime", T::DateTime, "When the container started."),
    c("ContainerStatus", T::String, "running, waiting or terminated."),
    c("ContainerStatusReason", T::String, "Reason of the waiting/terminated state (e.g. CrashLoopBackOff)."),
    c("ControllerKind", T::String, "Owner kind (ReplicaSet, DaemonSet, StatefulSet, Job...)."),
    c("ControllerName", T::String, "Owner name."),
    c("InstanceName", T::String, "\"<clusterId>/<podUid>/<containerName>\"."),
    c("Name", T::String, "Pod name."),
    c("Namespace", T::String, "Pod namespace."),
    c("PodCreationTimeStamp", T::DateTime, "When the pod was created."),
    c("PodIp", T::String, "Pod IP address."),
    c("PodLabel", T::String, "Pod labels as a JSON array string, e.g. [{\"app\":\"web\"}]."),
    c("PodRestartCount", T::Int, "Sum of container restarts in the pod."),
    c("PodStartTime", T::DateTime, "When the pod started."),
    c("PodStatus", T::String, "Pod phase: Pending, Running, Succeeded, Failed, Unknown."),
    c("PodUid", T::String, "Pod UID."),
    c("ServiceName", T::String, "Service selecting the pod, if any."),
];

const KUBE_NODE_INVENTORY: &[Column] = &[
    TG,
    c("ClusterId", T::String, "Cluster resource ID."),
    c("ClusterName", T::String, "Cluster name."),
    c("Computer", T::String, "Node name."),
    c("CreationTimeStamp", T::DateTime, "When the Node object was created."),
    c("DockerVersion", T::String, "Container runtime version (e.g. containerd://1.7.15)."),
    c("KubeletVersion", T::String, "Kubelet version."),
    c("KubeProxyVersion", T::String, "Kube-proxy version."),
    c("KubernetesProviderID", T::String, "Provider ID (e.g. azure, aws, kind)."),
    c("Labels", T::String, "Node labels as a JSON array string."),
    c("LastTransitionTimeReady", T::DateTime, "Last transition of the Ready condition."),
    c("OperatingSystem", T::String, "OS image."),
    c("Status", T::String, "Node conditions that are true, e.g. Ready."),
];

const KUBE_EVENTS: &[Column] = &[
    TG,
    c("ClusterId", T::String, "Cluster resource ID."),
    c("ClusterName", T::String, "Cluster name."),
    c("Computer", T::String, "Node that reported the event, if any."),
    c("Count", T::Real, "How many times the event occurred."),
    c("FirstSeen", T::DateTime, "First occurrence."),
    c("LastSeen", T::DateTime, "Last occurrence."),
    c("KubeEventType", T::String, "Normal or Warning."),
    c("Message", T::String, "Event message."),
    c("Name", T::String, "Name of the involved object."),
    c("Namespace", T::String, "Namespace of the involved object."),
    c("ObjectKind", T::String, "Kind of the involved object."),
    c("Reason", T::String, "Short reason (BackOff, OOMKilling, FailedScheduling...)."),
    c("SourceComponent", T::String, "Reporting component (kubelet, default-scheduler...)."),
];

const KUBE_SERVICES: &[Column] = &[
    TG,
    c("ClusterId", T::String, "Cluster resource ID."),
    c("ClusterIp", T::String, "Service cluster IP."),
    c("ClusterName", T::String, "Cluster name."),
    c("Namespace", T::String, "Service namespace."),
    c("SelectorLabels", T::String, "Selector as a JSON array string."),
    c("ServiceName", T::String, "Service name."),
    c("ServiceType", T::String, "ClusterIP, NodePort, LoadBalancer or ExternalName."),
];

const CONTAINER_INVENTORY: &[Column] = &[
    TG,
    c("Command", T::String, "Container command as a JSON array string."),
    c("Computer", T::String, "Node name."),
    c("ContainerHostname", T::String, "Hostname inside the container."),
    c("ContainerID", T::String, "Container ID."),
    c("ContainerState", T::String, "Running, Waiting, Terminated or Deleted."),
    c("CreatedTime", T::DateTime, "When the container was created."),
    c("EnvironmentVar", T::String, "Environment variables as a JSON array string."),
    c("ExitCode", T::Int, "Exit code of a terminated container."),
    c("FinishedTime", T::DateTime, "When the container finished."),
    c("Image", T::String, "Image name (without registry and tag)."),
    c("ImageID", T::String, "Image digest."),
    c("ImageTag", T::String, "Image tag."),
    c("Name", T::String, "Container name."),
    c("Ports", T::String, "Exposed ports as a JSON array string."),
    c("Repository", T::String, "Registry/repository of the image."),
    c("StartedTime", T::DateTime, "When the container started."),
];

const PERF: &[Column] = &[
    TG,
    c("Computer", T::String, "Node name."),
    c("ObjectName", T::String, "K8SNode or K8SContainer."),
    c(
        "CounterName",
        T::String,
        "cpuUsageNanoCores, memoryWorkingSetBytes, memoryRssBytes, restartTimeEpoch, cpu/memory Allocatable/Capacity/Request/Limit...",
    ),
    c("CounterPath", T::String, "\\\\<Computer>\\<ObjectName>(<InstanceName>)\\<CounterName>."),
    c("CounterValue", T::Real, "The sampled value."),
    c(
        "InstanceName",
        T::String,
        "<clusterId>/<nodeName> for nodes, <clusterId>/<podUid>/<containerName> for containers.",
    ),
];

const INSIGHTS_METRICS: &[Column] = &[
    TG,
    c("AgentId", T::String, "ID of the collecting agent."),
    c("Computer", T::String, "Node name."),
    c("Name", T::String, "Metric name (e.g. cpuThrottledNanoCores, pvUsedBytes)."),
    c("Namespace", T::String, "Metric namespace (e.g. container.azm.ms/disk)."),
    c("Origin", T::String, "Producer (e.g. container.azm.ms/telegraf)."),
    c("Tags", T::String, "Dimensions as a JSON object string (container.azm.ms/clusterId, hostName, device...)."),
    c("Val", T::Real, "The value."),
];

const AKS_AUDIT: &[Column] = &[
    TG,
    c("Verb", T::String, "Request verb: get, list, watch, create, update, patch, delete..."),
    c("RequestUri", T::String, "Request URI."),
    c("Stage", T::String, "Audit stage: RequestReceived, ResponseStarted, ResponseComplete, Panic."),
    c("Level", T::String, "Audit level: Metadata, Request, RequestResponse."),
    c("AuditId", T::String, "Unique audit ID of the request."),
    c("UserAgent", T::String, "Client user agent."),
    c("User", T::Dynamic, "Authenticated user: username, uid, groups, extra."),
    c("ObjectRef", T::Dynamic, "Target object: resource, namespace, name, apiGroup, apiVersion, subresource."),
    c("SourceIps", T::Dynamic, "Source IP addresses (array)."),
    c("ResponseStatus", T::Dynamic, "Response status: code, status, reason, message."),
    c("RequestObject", T::Dynamic, "Request body (Request / RequestResponse levels)."),
    c("ResponseObject", T::Dynamic, "Response body (RequestResponse level)."),
    c("Annotations", T::Dynamic, "Audit annotations (authorization decision, pod-security...)."),
    c("RequestReceivedTime", T::DateTime, "When the API server received the request."),
    c("StageReceivedTime", T::DateTime, "When the audit stage was reached."),
    c("PodName", T::String, "API server pod that handled the request."),
];

const AKS_CONTROL_PLANE: &[Column] = &[
    TG,
    c(
        "Category",
        T::String,
        "Log category: kube-apiserver, kube-controller-manager, kube-scheduler, cluster-autoscaler, guard...",
    ),
    c("Level", T::String, "Log level."),
    c("Message", T::String, "Log message."),
    c("PodName", T::String, "Control-plane pod that wrote the line."),
    c("Stream", T::String, "stdout or stderr."),
];

const SECURITY_ALERT: &[Column] = &[
    TG,
    c("AlertName", T::String, "Display name of the alert."),
    c("AlertType", T::String, "Stable alert type, e.g. K8S_PrivilegedContainer."),
    c("AlertSeverity", T::String, "Informational, Low, Medium or High."),
    c("Description", T::String, "What happened and why it matters."),
    c("Tactics", T::String, "Comma-separated MITRE ATT&CK tactics."),
    c("Techniques", T::String, "Comma-separated MITRE technique IDs, e.g. T1610."),
    c(
        "Entities",
        T::Dynamic,
        "JSON array of {\"Type\": K8s-cluster|K8s-namespace|K8s-pod|container|container-image|account|ip|process|host, ...}.",
    ),
    c("ExtendedProperties", T::Dynamic, "JSON object with rule-specific details."),
    c("CompromisedEntity", T::String, "The main affected entity (pod, node, account)."),
    c("RemediationSteps", T::Dynamic, "JSON array of strings."),
    c("Status", T::String, "Alert status, \"New\" when raised."),
    c("ProviderName", T::String, "\"keelwatch\"."),
    c("SystemAlertId", T::String, "Stable hash identifying the alert."),
    c("StartTime", T::DateTime, "First event of the aggregate."),
    c("EndTime", T::DateTime, "Last event of the aggregate."),
    c("Count", T::Long, "Number of events aggregated."),
    c(
        "ProductName",
        T::String,
        "Product that raised the alert (Sentinel's column): \"keelwatch threat detection\"; empty in rows stored before the column existed.",
    ),
];

const POLICY_RESULTS: &[Column] = &[
    TG,
    c("PolicyAssignment", T::String, "Assignment (initiative or single policy) that produced the result."),
    c("PolicyDefinition", T::String, "Policy definition / ConstraintTemplate name."),
    c("ConstraintKind", T::String, "Constraint kind (the template's CRD kind, e.g. K8sPSPPrivilegedContainer)."),
    c("ConstraintName", T::String, "Constraint name."),
    c("EnforcementAction", T::String, "deny, dryrun or warn."),
    c("ComplianceState", T::String, "Compliant, NonCompliant or Error."),
    c("ResourceKind", T::String, "Kind of the evaluated object."),
    c("ResourceApiVersion", T::String, "apiVersion of the evaluated object."),
    c("ResourceNamespace", T::String, "Namespace of the evaluated object (empty if cluster-scoped)."),
    c("ResourceName", T::String, "Name of the evaluated object."),
    c(
        "ResourceId",
        T::String,
        "Stable ID: <apiVersion>/<kind>/<namespace>/<name> (or file:line for shift-left audits).",
    ),
    c("Message", T::String, "Violation message (empty when compliant)."),
    c("Source", T::String, "Where the result came from: admission, audit, cli."),
];

const CONTAINER_IMAGE_VULNERABILITY: &[Column] = &[
    TG,
    c("Image", T::String, "Full image reference as scanned."),
    c("ImageDigest", T::String, "Image manifest digest (sha256:...)."),
    c("Registry", T::String, "Registry host."),
    c("Repository", T::String, "Repository path."),
    c("Tag", T::String, "Tag (empty when pulled by digest)."),
    c("OSFamily", T::String, "OS family (debian, alpine, ubuntu...)."),
    c("OSVersion", T::String, "OS version."),
    c("PackageName", T::String, "Affected package."),
    c("PackageType", T::String, "Package ecosystem (deb, apk, rpm, npm, pypi, cargo, go...)."),
    c("InstalledVersion", T::String, "Installed version."),
    c("FixedVersion", T::String, "First fixed version (empty if none)."),
    c("VulnerabilityId", T::String, "Advisory ID (CVE-..., GHSA-..., OSV ID)."),
    c("Aliases", T::Dynamic, "Other IDs of the same vulnerability (JSON array)."),
    c("Severity", T::String, "Critical, High, Medium, Low or Unknown."),
    c("CvssScore", T::Real, "CVSS base score (null if unknown)."),
    c("Status", T::String, "fixed, affected, will_not_fix..."),
    c("Title", T::String, "Short advisory summary."),
    c("Layer", T::String, "Digest of the layer that introduced the package."),
    c("Target", T::String, "File or database inside the image where the package was found."),
];

const AZURE_DIAGNOSTICS: &[Column] = &[
    TG,
    c(
        "Category",
        T::String,
        "kube-audit (AKSAudit), kube-audit-admin (AKSAuditAdmin) or the AKSControlPlane category.",
    ),
    c("ResourceProvider", T::String, "Always MICROSOFT.CONTAINERSERVICE."),
    c("ResourceType", T::String, "Always MANAGEDCLUSTERS."),
    c("log_s", T::String, "The audit event as JSON text (audit categories) or the log message."),
    c("pod_s", T::String, "Control-plane pod name."),
    c("stream_s", T::String, "stdout/stderr for control-plane logs, empty for audit."),
];

const CONTAINER_LOG: &[Column] = &[
    TG,
    c("Computer", T::String, "Node name."),
    c("ContainerID", T::String, "Container ID."),
    c("Name", T::String, "Container name."),
    c("LogEntry", T::String, "The log line as text (LogMessage of ContainerLogV2 as text)."),
    c("LogEntrySource", T::String, "stdout or stderr."),
    c("SourceSystem", T::String, "Always Container."),
    c(
        "Image",
        T::String,
        "Always empty, as current Container Insights agents leave it (join ContainerInventory on ContainerID).",
    ),
    c("ImageTag", T::String, "Always empty (see Image)."),
    c("Repository", T::String, "Always empty (see Image)."),
];

const fn t(name: &'static str, description: &'static str, columns: &'static [Column]) -> TableSchema {
    TableSchema { name, description, kind: TableKind::Table, columns }
}

const fn v(name: &'static str, description: &'static str, columns: &'static [Column]) -> TableSchema {
    TableSchema { name, description, kind: TableKind::View, columns }
}

pub(crate) const ALL: &[TableSchema] = &[
    t("ContainerLogV2", "Container stdout/stderr lines collected by the node agent.", CONTAINER_LOG_V2),
    t(
        "KubePodInventory",
        "One row per container per inventory collection: pod and container state.",
        KUBE_POD_INVENTORY,
    ),
    t("KubeNodeInventory", "One row per node per inventory collection.", KUBE_NODE_INVENTORY),
    t("KubeEvents", "Kubernetes events (Normal and Warning).", KUBE_EVENTS),
    t("KubeServices", "One row per service per inventory collection.", KUBE_SERVICES),
    t(
        "ContainerInventory",
        "Container runtime view of containers: image, state, command, environment.",
        CONTAINER_INVENTORY,
    ),
    t("Perf", "Performance counters for nodes (K8SNode) and containers (K8SContainer).", PERF),
    t(
        "InsightsMetrics",
        "Additional metrics (disk, GPU, network, throttling, PV usage) with JSON tags.",
        INSIGHTS_METRICS,
    ),
    t("AKSAudit", "Kubernetes API server audit events (audit.k8s.io/v1).", AKS_AUDIT),
    t("AKSAuditAdmin", "Audit events without get/list verbs (same columns as AKSAudit).", AKS_AUDIT),
    t(
        "AKSControlPlane",
        "Control-plane component logs (apiserver, controller-manager, scheduler...).",
        AKS_CONTROL_PLANE,
    ),
    t("SecurityAlert", "Security alerts raised by keelwatch threat detection.", SECURITY_ALERT),
    t("PolicyResults", "Policy evaluation results from admission, audit and the CLI.", POLICY_RESULTS),
    t(
        "ContainerImageVulnerability",
        "One row per vulnerable package per scanned image.",
        CONTAINER_IMAGE_VULNERABILITY,
    ),
    v(
        "AzureDiagnostics",
        "Compatibility view: AKSAudit, AKSAuditAdmin and AKSControlPlane in the legacy AzureDiagnostics shape.",
        AZURE_DIAGNOSTICS,
    ),
    v("ContainerLog", "Compatibility view: ContainerLogV2 in the legacy ContainerLog shape.", CONTAINER_LOG),
];
