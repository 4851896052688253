//! Fields a condition or output can read, per event source, and their extraction.
//!
//! `k8s_audit` fields follow the Falco k8saudit plugin (`ka.*`, `jevt.*`); process fields
//! follow Falco's syscall names for exec events (`proc.*`, `user.uid`, `container.*`,
//! `k8s.pod.name`, `k8s.ns.name`, `evt.*`). Every extracted value is text (numbers and
//! booleans as JSON text, objects as compact JSON). List fields ([`Field::is_list`]) yield
//! one value per element (per container, per volume, per rule…).
//!
//! Differences from the Falco plugin, all supersets: `ka.req.pod.*` also read the pod
//! template of workload controllers (deployments, daemonsets, statefulsets, replicasets,
//! jobs, replicationcontrollers, cronjobs); `ka.sourceips` reads the event's `sourceIPs`;
//! `kw.*` fields are keelwatch additions (`kw.req.service.port_numbers`,
//! `kw.req.configmap.keys`, `kw.req.configmap.values`, `kw.req.pod.images`).

use std::borrow::Cow;

use serde_json::Value;

use crate::node::Node;
use crate::process::ProcessEvent;
use crate::view::AuditView;

/// The event source a rule is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Kubernetes audit events (`source: k8s_audit`).
    K8sAudit,
    /// Node process exec events (`source: syscall` or `process`).
    Process,
}

impl Source {
    /// Parses a rule's `source:` value; `None` for sources keelwatch does not evaluate.
    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "k8s_audit" | "k8saudit" => Some(Source::K8sAudit),
            "syscall" | "process" => Some(Source::Process),
            _ => None,
        }
    }
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::K8sAudit => "k8s_audit",
            Source::Process => "syscall",
        }
    }
}

/// Extracted values of one field for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vals<'a> {
    /// The field is not available on this event.
    Missing,
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Vals<'a> {
    /// The values as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[Cow<'a, str>]) = match self {
            Vals::Missing => (None, &[]),
            Vals::One(v) => (Some(v.as_ref()), &[]),
            Vals::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(|c| c.as_ref()))
    }
    /// True if no value is available.
    pub fn is_empty(&self) -> bool {
        match self {
            Vals::Missing => true,
            Vals::One(_) => false,
            Vals::Many(v) => v.is_empty(),
        }
    }
    /// Renders for outputs: `<NA>` when missing, `(a,b)` for lists.
    pub fn render(&self, list: bool) -> String {
        match self {
            Vals::Missing => "<NA>".to_string(),
            Vals::One(v) if !list => v.to_string(),
            _ => format!("({})", self.iter().collect::<Vec<_>>().join(",")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodList {
    Containers,
    Init,
    Ephemeral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CField {
    Name,
    Image,
    ImageRepo,
    Command,
    Args,
    Privileged,
    AllowPrivEsc,
    ReadOnlyFs,
    RunAsUser,
    EffRunAsUser,
    RunAsGroup,
    EffRunAsGroup,
    ProcMount,
    AddCaps,
    HostPort,
}

/// Scalar fields of the event outside the bodies, resolved once at compile time (matching
/// key paths per event showed up in profiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    AuditId,
    Stage,
    Verb,
    Uri,
    UserAgent,
    UserName,
    ImpUserName,
    Namespace,
    Resource,
    Subresource,
    RespCode,
    RespReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    // --- k8s_audit ---
    Scalar(Scalar),
    /// A value at a key path inside the request object.
    ReqPath(&'static [&'static str]),
    /// A value at a key path inside the response object.
    RespPath(&'static [&'static str]),
    /// The elements of an array at a key path inside the request object.
    ReqList(&'static [&'static str]),
    Annotation(&'static str),
    UserGroups,
    UriParam,
    TargetName,
    TargetPodName,
    SubjectNames(&'static str),
    SubjectHasName,
    ConfigmapObj,
    Container(PodList, CField),
    FirstContainerImage {
        repo: bool,
    },
    AnyPrivileged,
    PodSpec(&'static [&'static str]),
    PodSpecList(&'static [&'static str]),
    RoleRulesField(&'static str),
    ServicePorts,
    VolumeHostpathPrefix,
    PodVolumes(&'static [&'static str]),
    PodVolumeTypes,
    SourceIps,
    JevtValue,
    JevtObj,
    JevtTime,
    JevtRawtime,
    KwPortNumbers,
    KwConfigmapKeys,
    KwConfigmapValues,
    KwAllImages,
    // --- process ---
    PTime,
    PType,
    PDir,
    PNode,
    PName,
    PExe,
    PExePath,
    PCmdline,
    PArgs,
    PArgv,
    PPid,
    PPpid,
    PCwd,
    PPname,
    PPexePath,
    PUid,
    PContainerId,
    PContainerName,
    PImage,
    PImageRepo,
    PPod,
    PNamespace,
}

/// A resolved field reference (name + optional argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field as written, e.g. `jevt.value[/stage]`.
    pub display: String,
    pub source: Source,
    kind: Kind,
    arg: Option<String>,
    index: Option<usize>,
    list: bool,
}

/// Why a field reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("unknown field '{0}'")]
    Unknown(String),
    #[error("field '{field}' is not available for source {source_name}")]
    WrongSource { field: String, source_name: &'static str },
    #[error("field '{0}' requires an argument in brackets, e.g. {0}[...]")]
    MissingArg(String),
    #[error("field '{field}': argument '{arg}' must be a number")]
    BadIndex { field: String, arg: String },
    #[error("field '{field}': argument '{arg}' must be a JSON pointer starting with '/'")]
    BadPointer { field: String, arg: String },
}

impl Field {
    /// True for list fields (one value per element).
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// Resolves `name[arg]` for `source`.
    pub fn resolve(name: &str, arg: Option<&str>, source: Source) -> Result<Field, FieldError> {
        let display = match arg {
            Some(a) => format!("{name}[{a}]"),
            None => name.to_string(),
        };
        let (kind, list, field_source, arg_kind) = lookup(name).ok_or_else(|| FieldError::Unknown(display.clone()))?;
        if field_source != source {
            return Err(FieldError::WrongSource { field: display, source_name: source.as_str() });
        }
        let mut index = None;
        match (arg_kind, arg) {
            (ArgKind::Required, None) => return Err(FieldError::MissingArg(name.to_string())),
            (ArgKind::Index, Some(a)) => {
                index = Some(
                    a.trim()
                        .parse::<usize>()
                        .map_err(|_| FieldError::BadIndex { field: name.to_string(), arg: a.to_string() })?,
                );
            }
            (ArgKind::Pointer, Some(a)) if !a.starts_with('/') && !a.is_empty() => {
                return Err(FieldError::BadPointer { field: name.to_string(), arg: a.to_string() });
            }
            (ArgKind::Pointer, None) => return Err(FieldError::MissingArg(name.to_string())),
            _ => {}
        }
        Ok(Field { display, source, kind, arg: arg.map(str::to_string), index, list })
    }

    /// True for single-valued fields that are cheap to extract (no walk into request or
    /// response bodies): the rule index ([`super::compile`]) may read them for every event to
    /// skip rules that cannot match.
    pub(crate) fn cheap_scalar(&self) -> bool {
        if self.list {
            return false;
        }
        match &self.kind {
            Kind::Scalar(_) | Kind::Annotation(_) => true,
            Kind::JevtValue => {
                matches!(self.arg.as_deref(), Some("/stage") | Some("/verb") | Some("/auditID") | Some("/requestURI"))
            }
            Kind::PName | Kind::PExe | Kind::PExePath | Kind::PCwd | Kind::PPname | Kind::PUid => true,
            _ => false,
        }
    }

    /// True if extraction reads the event time passed to [`Field::extract_audit`].
    pub(crate) fn uses_rawtime(&self) -> bool {
        self.kind == Kind::JevtRawtime
    }

    /// Extracts this field from an audit event.
    pub fn extract_audit<'a>(&self, ev: &'a AuditView<'_>, rawtime: i64) -> Vals<'a> {
        extract_audit(self, ev, rawtime)
    }

    /// Extracts this field from a process event.
    pub fn extract_process<'a>(&self, ev: &'a ProcessEvent) -> Vals<'a> {
        extract_process(self, ev)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Index,
    Required,
    Pointer,
}

/// Every supported field name, for `detect rules fields` style listings.
pub fn field_names(source: Source) -> Vec<&'static str> {
    let all: &[&str] = match source {
        Source::K8sAudit => AUDIT_FIELDS,
        Source::Process => PROCESS_FIELDS,
    };
    all.to_vec()
}

const AUDIT_FIELDS: &[&str] = &[
    "ka.auditid",
    "ka.stage",
    "ka.auth.decision",
    "ka.auth.reason",
    "ka.auth.openshift.decision",
    "ka.auth.openshift.username",
    "ka.validations.admission.policy.failure",
    "ka.security.pod.violations",
    "ka.user.name",
    "ka.user.groups",
    "ka.impuser.name",
    "ka.verb",
    "ka.uri",
    "ka.uri.param",
    "ka.target.name",
    "ka.target.namespace",
    "ka.target.resource",
    "ka.target.subresource",
    "ka.target.pod.name",
    "ka.req.binding.subjects",
    "ka.req.binding.subjects.user_names",
    "ka.req.binding.subjects.serviceaccount_names",
    "ka.req.binding.subjects.serviceaccount_ns_names",
    "ka.req.binding.subjects.group_names",
    "ka.req.binding.role",
    "ka.req.binding.subject.has_name",
    "ka.req.configmap.name",
    "ka.req.configmap.obj",
    "ka.req.pod.{containers,initContainers,ephemeralContainers}.{name,image,image.repository,command,args,privileged,allow_privilege_escalation,read_only_fs,run_as_user,eff_run_as_user,run_as_group,eff_run_as_group,proc_mount,add_capabilities,host_port}",
    "ka.req.container.image",
    "ka.req.container.image.repository",
    "ka.req.container.privileged",
    "ka.req.pod.host_ipc",
    "ka.req.pod.host_network",
    "ka.req.container.host_network",
    "ka.req.pod.host_pid",
    "ka.req.pod.run_as_user",
    "ka.req.pod.run_as_group",
    "ka.req.pod.fs_group",
    "ka.req.pod.supplemental_groups",
    "ka.req.role.rules",
    "ka.req.role.rules.apiGroups",
    "ka.req.role.rules.nonResourceURLs",
    "ka.req.role.rules.verbs",
    "ka.req.role.rules.resources",
    "ka.req.service.type",
    "ka.req.service.ports",
    "ka.req.volume.hostpath",
    "ka.req.pod.volumes.hostpath",
    "ka.req.pod.volumes.flexvolume_driver",
    "ka.req.pod.volumes.volume_type",
    "ka.resp.name",
    "ka.response.code",
    "ka.response.reason",
    "ka.useragent",
    "ka.sourceips",
    "ka.cluster.name",
    "jevt.value",
    "jevt.obj",
    "jevt.time",
    "jevt.time.iso8601",
    "jevt.rawtime",
    "kw.req.service.port_numbers",
    "kw.req.configmap.keys",
    "kw.req.configmap.values",
    "kw.req.pod.images",
];

const PROCESS_FIELDS: &[&str] = &[
    "evt.time",
    "evt.type",
    "evt.dir",
    "evt.hostname",
    "proc.name",
    "proc.exe",
    "proc.exepath",
    "proc.cmdline",
    "proc.args",
    "proc.argv",
    "proc.pid",
    "proc.ppid",
    "proc.cwd",
    "proc.pname",
    "proc.pexepath",
    "user.uid",
    "container.id",
    "container.name",
    "container.image",
    "container.image.repository",
    "k8s.pod.name",
    "k8s.ns.name",
];

fn lookup(name: &str) -> Option<(Kind, bool, Source, ArgKind)> {
    use ArgKind as A;
    use Kind as K;
    let audit = |k: Kind, list: bool, arg: ArgKind| Some((k, list, Source::K8sAudit, arg));
    let process = |k: Kind| Some((k, false, Source::Process, A::None));
    for (prefix, list) in [
        ("ka.req.pod.containers.", PodList::Containers),
        ("ka.req.pod.initContainers.", PodList::Init),
        ("ka.req.pod.ephemeralContainers.", PodList::Ephemeral),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            let f = match rest {
                "name" => CField::Name,
                "image" => CField::Image,
                "image.repository" => CField::ImageRepo,
                "command" => CField::Command,
                "args" => CField::Args,
                "privileged" => CField::Privileged,
                "allow_privilege_escalation" => CField::AllowPrivEsc,
                "read_only_fs" => CField::ReadOnlyFs,
                "run_as_user" => CField::RunAsUser,
                "eff_run_as_user" => CField::EffRunAsUser,
                "run_as_group" => CField::RunAsGroup,
                "eff_run_as_group" => CField::EffRunAsGroup,
                "proc_mount" => CField::ProcMount,
                "add_capabilities" => CField::AddCaps,
                "host_port" => CField::HostPort,
                _ => return None,
            };
            return audit(K::Container(list, f), true, A::Index);
        }
    }
    match name {
        "ka.auditid" => audit(K::Scalar(Scalar::AuditId), false, A::None),
        "ka.stage" => audit(K::Scalar(Scalar::Stage), false, A::None),
        "ka.auth.decision" => audit(K::Annotation("authorization.k8s.io/decision"), false, A::None),
        "ka.auth.reason" => audit(K::Annotation("authorization.k8s.io/reason"), false, A::None),
        "ka.auth.openshift.decision" => audit(K::Annotation("authentication.openshift.io/decision"), false, A::None),
        "ka.auth.openshift.username" => audit(K::Annotation("authentication.openshift.io/username"), false, A::None),
        "ka.validations.admission.policy.failure" => {
            audit(K::Annotation("validation.policy.admission.k8s.io/validation_failure"), false, A::None)
        }
        "ka.security.pod.violations" => {
            audit(K::Annotation("pod-security.kubernetes.io/audit-violations"), false, A::None)
        }
        "ka.cluster.name" => audit(K::Annotation("cluster_name"), false, A::None),
        "ka.user.name" => audit(K::Scalar(Scalar::UserName), false, A::None),
        "ka.user.groups" => audit(K::UserGroups, true, A::None),
        "ka.impuser.name" => audit(K::Scalar(Scalar::ImpUserName), false, A::None),
        "ka.verb" => audit(K::Scalar(Scalar::Verb), false, A::None),
        "ka.uri" => audit(K::Scalar(Scalar::Uri), false, A::None),
        "ka.uri.param" => audit(K::UriParam, false, A::Required),
        "ka.target.name" | "ka.req.configmap.name" => audit(K::TargetName, false, A::None),
        "ka.target.namespace" => audit(K::Scalar(Scalar::Namespace), false, A::None),
        "ka.target.resource" => audit(K::Scalar(Scalar::Resource), false, A::None),
        "ka.target.subresource" => audit(K::Scalar(Scalar::Subresource), false, A::None),
        "ka.target.pod.name" => audit(K::TargetPodName, false, A::None),
        "ka.req.binding.subjects" => audit(K::ReqList(&["subjects"]), true, A::None),
        "ka.req.binding.subjects.user_names" => audit(K::SubjectNames("User"), true, A::None),
        "ka.req.binding.subjects.serviceaccount_names" => audit(K::SubjectNames("ServiceAccount"), true, A::None),
        "ka.req.binding.subjects.serviceaccount_ns_names" => {
            audit(K::SubjectNames("NamespacedServiceAccount"), true, A::None)
        }
        "ka.req.binding.subjects.group_names" => audit(K::SubjectNames("Group"), true, A::None),
        "ka.req.binding.role" => audit(K::ReqPath(&["roleRef", "name"]), false, A::None),
        "ka.req.binding.subject.has_name" => audit(K::SubjectHasName, false, A::Required),
        "ka.req.configmap.obj" => audit(K::ConfigmapObj, false, A::None),
        "ka.req.container.image" => audit(K::FirstContainerImage { repo: false }, false, A::None),
        "ka.req.container.image.repository" => audit(K::FirstContainerImage { repo: true }, false, A::None),
        "ka.req.container.privileged" => audit(K::AnyPrivileged, false, A::None),
        "ka.req.pod.host_ipc" => audit(K::PodSpec(&["hostIPC"]), false, A::None),
        "ka.req.pod.host_network" | "ka.req.container.host_network" => {
            audit(K::PodSpec(&["hostNetwork"]), false, A::None)
        }
        "ka.req.pod.host_pid" => audit(K::PodSpec(&["hostPID"]), false, A::None),
        "ka.req.pod.run_as_user" => audit(K::PodSpec(&["securityContext", "runAsUser"]), false, A::None),
        "ka.req.pod.run_as_group" => audit(K::PodSpec(&["securityContext", "runAsGroup"]), false, A::None),
        "ka.req.pod.fs_group" => audit(K::PodSpec(&["securityContext", "fsGroup"]), false, A::None),
        "ka.req.pod.supplemental_groups" => {
            audit(K::PodSpecList(&["securityContext", "supplementalGroups"]), true, A::None)
        }
        "ka.req.role.rules" => audit(K::ReqList(&["rules"]), true, A::None),
        "ka.req.role.rules.apiGroups" => audit(K::RoleRulesField("apiGroups"), true, A::Index),
        "ka.req.role.rules.nonResourceURLs" => audit(K::RoleRulesField("nonResourceURLs"), true, A::Index),
        "ka.req.role.rules.verbs" => audit(K::RoleRulesField("verbs"), true, A::Index),
        "ka.req.role.rules.resources" => audit(K::RoleRulesField("resources"), true, A::Index),
        "ka.req.service.type" => audit(K::ReqPath(&["spec", "type"]), false, A::None),
        "ka.req.service.ports" => audit(K::ServicePorts, true, A::Index),
        "ka.req.volume.hostpath" => audit(K::VolumeHostpathPrefix, false, A::Required),
        "ka.req.pod.volumes.hostpath" => audit(K::PodVolumes(&["hostPath", "path"]), true, A::Index),
        "ka.req.pod.volumes.flexvolume_driver" => audit(K::PodVolumes(&["flexVolume", "driver"]), true, A::Index),
        "ka.req.pod.volumes.volume_type" => audit(K::PodVolumeTypes, true, A::Index),
        "ka.resp.name" => audit(K::RespPath(&["metadata", "name"]), false, A::None),
        "ka.response.code" => audit(K::Scalar(Scalar::RespCode), false, A::None),
        "ka.response.reason" => audit(K::Scalar(Scalar::RespReason), false, A::None),
        "ka.useragent" => audit(K::Scalar(Scalar::UserAgent), false, A::None),
        "ka.sourceips" => audit(K::SourceIps, true, A::Index),
        "jevt.value" => audit(K::JevtValue, false, A::Pointer),
        "jevt.obj" => audit(K::JevtObj, false, A::None),
        "jevt.time" | "jevt.time.iso8601" => audit(K::JevtTime, false, A::None),
        "jevt.rawtime" => audit(K::JevtRawtime, false, A::None),
        "kw.req.service.port_numbers" => audit(K::KwPortNumbers, true, A::None),
        "kw.req.configmap.keys" => audit(K::KwConfigmapKeys, true, A::None),
        "kw.req.configmap.values" => audit(K::KwConfigmapValues, true, A::None),
        "kw.req.pod.images" => audit(K::KwAllImages, true, A::None),
        "evt.time" => process(K::PTime),
        "evt.type" => process(K::PType),
        "evt.dir" => process(K::PDir),
        "evt.hostname" => process(K::PNode),
        "proc.name" => process(K::PName),
        "proc.exe" => process(K::PExe),
        "proc.exepath" => process(K::PExePath),
        "proc.cmdline" => process(K::PCmdline),
        "proc.args" => process(K::PArgs),
        "proc.argv" => Some((K::PArgv, true, Source::Process, A::None)),
        "proc.pid" => process(K::PPid),
        "proc.ppid" => process(K::PPpid),
        "proc.cwd" => process(K::PCwd),
        "proc.pname" => process(K::PPname),
        "proc.pexepath" => process(K::PPexePath),
        "user.uid" => process(K::PUid),
        "container.id" => process(K::PContainerId),
        "container.name" => process(K::PContainerName),
        "container.image" => process(K::PImage),
        "container.image.repository" => process(K::PImageRepo),
        "k8s.pod.name" => process(K::PPod),
        "k8s.ns.name" => process(K::PNamespace),
        _ => None,
    }
}

fn text<'a>(v: &'a Node<'_>) -> Cow<'a, str> {
    v.text()
}

fn one<'a>(v: Option<&'a Node<'_>>) -> Vals<'a> {
    match v {
        Some(Node::Null) | None => Vals::Missing,
        Some(v) => Vals::One(text(v)),
    }
}

/// [`one`] for a `Value` (pointers into whole bodies).
fn one_value(v: Option<&Value>) -> Vals<'_> {
    match v {
        Some(Value::Null) | None => Vals::Missing,
        Some(Value::String(s)) => Vals::One(Cow::Borrowed(s)),
        Some(other) => Vals::One(Cow::Owned(other.to_string())),
    }
}

fn many<'a>(items: impl Iterator<Item = Cow<'a, str>>) -> Vals<'a> {
    Vals::Many(items.collect())
}

fn path<'a, 'n>(v: &'a Node<'n>, keys: &[&str]) -> Option<&'a Node<'n>> {
    v.at(keys)
}

/// Values at `keys` below each element of the array `list` (or only element `index`).
fn each<'a, 'n>(list: Option<&'a Node<'n>>, index: Option<usize>, keys: &[&str]) -> Option<Vec<&'a Node<'n>>> {
    let arr = list?.as_array()?;
    let items: Box<dyn Iterator<Item = &'a Node<'n>>> = match index {
        Some(i) => Box::new(arr.get(i).into_iter()),
        None => Box::new(arr.iter()),
    };
    Some(items.filter_map(|item| path(item, keys)).filter(|v| !v.is_null()).collect())
}

fn repo_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    // A tag is a ':' after the last '/' (a ':' before it is a registry port).
    match no_digest.rfind(':') {
        Some(c) if !no_digest[c..].contains('/') => &no_digest[..c],
        _ => no_digest,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All values of query parameter `key` in a request URI, decoded.
pub fn uri_params(uri: &str, key: &str) -> Vec<String> {
    let Some((_, query)) = uri.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
        .collect()
}

/// Text of the usual HTTP status codes without allocating.
fn common_code(code: i64) -> Option<&'static str> {
    Some(match code {
        101 => "101",
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        _ => return None,
    })
}

fn scalar<'a>(ev: &'a AuditView<'_>, which: Scalar) -> Option<Cow<'a, str>> {
    let s: Option<&'a str> = match which {
        Scalar::AuditId => Some(&ev.audit_id),
        Scalar::Stage => Some(&ev.stage),
        Scalar::Verb => Some(&ev.verb),
        Scalar::Uri => Some(&ev.request_uri),
        Scalar::UserAgent => ev.user_agent.as_deref(),
        Scalar::UserName => Some(&ev.user.username),
        Scalar::ImpUserName => ev.impersonated_user.as_ref().map(|u| u.username.as_ref()),
        Scalar::Namespace => ev.namespace(),
        Scalar::Resource => ev.resource(),
        Scalar::Subresource => ev.subresource(),
        Scalar::RespCode => {
            return ev.response_status.as_ref()?.code.map(|c| match common_code(c) {
                Some(s) => Cow::Borrowed(s),
                None => Cow::Owned(c.to_string()),
            });
        }
        Scalar::RespReason => ev.response_status.as_ref()?.reason.as_deref(),
    };
    s.filter(|s| !s.is_empty()).map(Cow::Borrowed)
}

fn extract_audit<'a>(f: &Field, ev: &'a AuditView<'_>, rawtime: i64) -> Vals<'a> {
    let pod_spec = || ev.request_pod_spec();
    match &f.kind {
        Kind::Scalar(which) => scalar(ev, *which).map_or(Vals::Missing, Vals::One),
        Kind::ReqPath(keys) => one(ev.request_body().and_then(|o| path(o, keys))),
        Kind::RespPath(keys) => one(ev.response_body().and_then(|o| path(o, keys))),
        Kind::ReqList(keys) => match ev.request_body().and_then(|o| path(o, keys)).and_then(Node::as_array) {
            Some(arr) => many(arr.iter().map(text)),
            None => Vals::Missing,
        },
        Kind::Annotation(key) => ev.annotation(key).map_or(Vals::Missing, |s| Vals::One(Cow::Borrowed(s))),
        Kind::UserGroups => many(ev.user.groups.iter().map(|g| Cow::Borrowed(g.as_ref()))),
        Kind::UriParam => {
            let key = f.arg.as_deref().unwrap_or("");
            uri_params(&ev.request_uri, key).into_iter().next().map_or(Vals::Missing, |v| Vals::One(Cow::Owned(v)))
        }
        Kind::TargetName => ev
            .object_ref
            .as_ref()
            .and_then(|o| o.name.as_deref())
            .map_or(Vals::Missing, |s| Vals::One(Cow::Borrowed(s))),
        Kind::TargetPodName => {
            if ev.resource() == Some("pods") && ev.subresource().is_none() {
                one(ev.response_body().and_then(|o| path(o, &["metadata", "name"])))
            } else {
                Vals::Missing
            }
        }
        Kind::SubjectNames(kind) => {
            let Some(subjects) = ev.request_body().and_then(|o| o.get("subjects")).and_then(Node::as_array) else {
                return Vals::Many(Vec::new());
            };
            let (want, with_ns) =
                if *kind == "NamespacedServiceAccount" { ("ServiceAccount", true) } else { (*kind, false) };
            many(subjects.iter().filter_map(|s| {
                if s.get("kind")?.as_str()? != want {
                    return None;
                }
                let name = s.get("name")?.as_str()?;
                if with_ns {
                    Some(Cow::Owned(format!("{}:{name}", s.get("namespace")?.as_str()?)))
                } else {
                    Some(Cow::Borrowed(name))
                }
            }))
        }
        Kind::SubjectHasName => Vals::One(Cow::Borrowed("true")),
        Kind::ConfigmapObj => one(ev.request_body().and_then(|o| o.get("data"))),
        Kind::Container(list, cf) => container_field(ev, *list, *cf, f.index),
        Kind::FirstContainerImage { repo } => {
            match container_field(
                ev,
                PodList::Containers,
                if *repo { CField::ImageRepo } else { CField::Image },
                Some(0),
            ) {
                Vals::Many(mut v) if !v.is_empty() => Vals::One(v.swap_remove(0)),
                _ => Vals::Missing,
            }
        }
        Kind::AnyPrivileged => {
            let Some(spec) = pod_spec() else { return Vals::Missing };
            let vals = each(spec.get("containers"), None, &["securityContext", "privileged"]).unwrap_or_default();
            let any = vals.iter().any(|v| v.as_bool() == Some(true));
            Vals::One(Cow::Borrowed(if any { "true" } else { "false" }))
        }
        Kind::PodSpec(keys) => one(pod_spec().and_then(|s| path(s, keys))),
        Kind::PodSpecList(keys) => match pod_spec().and_then(|s| path(s, keys)).and_then(Node::as_array) {
            Some(arr) => many(arr.iter().map(text)),
            None => Vals::Missing,
        },
        Kind::RoleRulesField(key) => {
            let rules = ev.request_body().and_then(|o| o.get("rules"));
            match each(rules, f.index, &[key]) {
                Some(vals) => {
                    many(vals.into_iter().filter_map(Node::as_array).flatten().filter(|v| !v.is_null()).map(text))
                }
                None => Vals::Missing,
            }
        }
        Kind::ServicePorts => {
            let ports = ev.request_body().and_then(|o| path(o, &["spec", "ports"]));
            match each(ports, f.index, &[]) {
                Some(vals) => many(vals.into_iter().map(text)),
                None => Vals::Missing,
            }
        }
        Kind::VolumeHostpathPrefix => {
            let arg = f.arg.as_deref().unwrap_or("");
            let paths = each(pod_spec().and_then(|s| s.get("volumes")), None, &["hostPath", "path"]);
            let Some(paths) = paths else { return Vals::Missing };
            let hit = paths.iter().filter_map(|v| v.as_str()).any(|p| match arg.strip_suffix('*') {
                Some(prefix) => p.starts_with(prefix),
                None => p == arg,
            });
            Vals::One(Cow::Borrowed(if hit { "true" } else { "false" }))
        }
        Kind::PodVolumes(keys) => match each(pod_spec().and_then(|s| s.get("volumes")), f.index, keys) {
            Some(vals) => many(vals.into_iter().map(text)),
            None => Vals::Missing,
        },
        Kind::PodVolumeTypes => match each(pod_spec().and_then(|s| s.get("volumes")), f.index, &[]) {
            Some(vals) => many(
                vals.into_iter()
                    .filter_map(Node::as_object)
                    .flat_map(|o| o.iter().map(|(k, _)| k))
                    .filter(|k| k.as_ref() != "name")
                    .map(|k| Cow::Borrowed(k.as_ref())),
            ),
            None => Vals::Missing,
        },
        Kind::SourceIps => match f.index {
            Some(i) => ev.source_ips.get(i).map_or(Vals::Missing, |s| Vals::One(Cow::Borrowed(s.as_ref()))),
            None => many(ev.source_ips.iter().map(|s| Cow::Borrowed(s.as_ref()))),
        },
        Kind::JevtValue => {
            let ptr = f.arg.as_deref().unwrap_or("");
            let found = if let Some(rest) = ptr.strip_prefix("/requestObject") {
                ev.request_object().and_then(|o| o.pointer(rest))
            } else if let Some(rest) = ptr.strip_prefix("/responseObject") {
                ev.response_object().and_then(|o| o.pointer(rest))
            } else {
                match ptr {
                    "/stage" => return Vals::One(Cow::Borrowed(&ev.stage)),
                    "/verb" => return Vals::One(Cow::Borrowed(&ev.verb)),
                    "/auditID" => return Vals::One(Cow::Borrowed(&ev.audit_id)),
                    "/requestURI" => return Vals::One(Cow::Borrowed(&ev.request_uri)),
                    _ => {}
                }
                let full = ev.to_value();
                return match full.pointer(ptr) {
                    Some(Value::Null) | None => Vals::Missing,
                    Some(Value::String(s)) => Vals::One(Cow::Owned(s.clone())),
                    Some(other) => Vals::One(Cow::Owned(other.to_string())),
                };
            };
            one_value(found)
        }
        Kind::JevtObj => Vals::One(Cow::Owned(ev.to_value().to_string())),
        Kind::JevtTime => ev.time().map_or(Vals::Missing, |t| Vals::One(Cow::Owned(crate::audit::rfc3339(t)))),
        Kind::JevtRawtime => Vals::One(Cow::Owned(rawtime.to_string())),
        Kind::KwPortNumbers => {
            let ports = ev.request_body().and_then(|o| path(o, &["spec", "ports"])).and_then(Node::as_array);
            match ports {
                Some(ports) => many(
                    ports
                        .iter()
                        .flat_map(|p| ["port", "targetPort", "nodePort"].map(|k| p.get(k)))
                        .flatten()
                        .filter(|v| !v.is_null())
                        .map(text),
                ),
                None => Vals::Missing,
            }
        }
        Kind::KwConfigmapKeys | Kind::KwConfigmapValues => {
            let obj = ev.request_body();
            let maps = ["data", "binaryData"].map(|k| obj.and_then(|o| o.get(k)).and_then(Node::as_object));
            if maps.iter().all(Option::is_none) {
                return Vals::Missing;
            }
            let keys = matches!(f.kind, Kind::KwConfigmapKeys);
            many(
                maps.into_iter()
                    .flatten()
                    .flat_map(|m| m.iter())
                    .map(|(k, v)| if keys { Cow::Borrowed(k.as_ref()) } else { text(v) }),
            )
        }
        Kind::KwAllImages => {
            let mut out = Vec::new();
            for list in [PodList::Containers, PodList::Init, PodList::Ephemeral] {
                if let Vals::Many(v) = container_field(ev, list, CField::Image, None) {
                    out.extend(v);
                }
            }
            if out.is_empty() && pod_spec().is_none() { Vals::Missing } else { Vals::Many(out) }
        }
        _ => Vals::Missing,
    }
}

fn container_field<'a>(ev: &'a AuditView<'_>, list: PodList, cf: CField, index: Option<usize>) -> Vals<'a> {
    let Some(spec) = ev.request_pod_spec() else { return Vals::Missing };
    let key = match list {
        PodList::Containers => "containers",
        PodList::Init => "initContainers",
        PodList::Ephemeral => "ephemeralContainers",
    };
    let containers = spec.get(key);
    let sc = |k: &'static str| -> Vals<'_> {
        match each(containers, index, &["securityContext", k]) {
            Some(v) => many(v.into_iter().map(text)),
            None => Vals::Missing,
        }
    };
    let joined = |k: &str| -> Vals<'_> {
        match each(containers, index, &[k]) {
            Some(v) => {
                let items: Vec<Cow<'_, str>> = v
                    .into_iter()
                    .filter_map(Node::as_array)
                    .map(|a| Cow::Owned(a.iter().map(|x| text(x).into_owned()).collect::<Vec<_>>().join(" ")))
                    .collect();
                if items.is_empty() { Vals::Missing } else { Vals::Many(items) }
            }
            None => Vals::Missing,
        }
    };
    let effective = |k: &'static str| -> Vals<'_> {
        let pod_level = path(spec, &["securityContext", k]).map(|v| text(v).into_owned());
        let Some(arr) = containers.and_then(Node::as_array) else { return Vals::Missing };
        let items: Box<dyn Iterator<Item = &Node<'_>>> = match index {
            Some(i) => Box::new(arr.get(i).into_iter()),
            None => Box::new(arr.iter()),
        };
        many(items.map(|c| match path(c, &["securityContext", k]) {
            Some(v) if !v.is_null() => text(v),
            _ => Cow::Owned(pod_level.clone().unwrap_or_else(|| "0".to_string())),
        }))
    };
    match cf {
        CField::Name => match each(containers, index, &["name"]) {
            Some(v) => many(v.into_iter().map(text)),
            None => Vals::Missing,
        },
        CField::Image | CField::ImageRepo => match each(containers, index, &["image"]) {
            Some(v) => many(
                v.into_iter()
                    .filter_map(Node::as_str)
                    .map(|s| Cow::Borrowed(if cf == CField::ImageRepo { repo_of(s) } else { s })),
            ),
            None => Vals::Missing,
        },
        CField::Command => joined("command"),
        CField::Args => joined("args"),
        CField::Privileged => sc("privileged"),
        CField::AllowPrivEsc => sc("allowPrivilegeEscalation"),
        CField::ReadOnlyFs => sc("readOnlyRootFilesystem"),
        CField::RunAsUser => sc("runAsUser"),
        CField::RunAsGroup => sc("runAsGroup"),
        CField::ProcMount => sc("procMount"),
        CField::EffRunAsUser => effective("runAsUser"),
        CField::EffRunAsGroup => effective("runAsGroup"),
        CField::AddCaps => match each(containers, index, &["securityContext", "capabilities", "add"]) {
            Some(v) => many(v.into_iter().filter_map(Node::as_array).flatten().map(text)),
            None => Vals::Missing,
        },
        CField::HostPort => match each(containers, index, &["ports"]) {
            Some(v) => many(
                v.into_iter()
                    .filter_map(Node::as_array)
                    .flatten()
                    .filter_map(|p| p.get("hostPort").or_else(|| p.get("containerPort")))
                    .map(text),
            ),
            None => Vals::Missing,
        },
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn opt(s: &Option<String>) -> Vals<'_> {
    match s.as_deref() {
        Some(v) if !v.is_empty() => Vals::One(Cow::Borrowed(v)),
        _ => Vals::Missing,
    }
}

fn extract_process<'a>(f: &Field, ev: &'a ProcessEvent) -> Vals<'a> {
    let b = |s: &'a str| Vals::One(Cow::Borrowed(s));
    match f.kind {
        Kind::PTime => b(&ev.time),
        Kind::PType => b("execve"),
        Kind::PDir => b("<"),
        Kind::PNode => b(&ev.node),
        Kind::PName => b(ev.exe_name()),
        Kind::PExe => ev.argv.first().map_or(Vals::Missing, |a| b(a)),
        Kind::PExePath => {
            if ev.exe.is_empty() {
                Vals::Missing
            } else {
                b(&ev.exe)
            }
        }
        Kind::PCmdline => {
            let mut s = ev.exe_name().to_string();
            for a in ev.argv.iter().skip(1) {
                s.push(' ');
                s.push_str(a);
            }
            Vals::One(Cow::Owned(s))
        }
        Kind::PArgs => Vals::One(Cow::Owned(ev.argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" "))),
        Kind::PArgv => many(ev.argv.iter().map(|a| Cow::Borrowed(a.as_str()))),
        Kind::PPid => Vals::One(Cow::Owned(ev.pid.to_string())),
        Kind::PPpid => Vals::One(Cow::Owned(ev.ppid.to_string())),
        Kind::PCwd => b(&ev.cwd),
        Kind::PPname => ev.parent_exe.as_deref().map_or(Vals::Missing, |p| b(basename(p))),
        Kind::PPexePath => opt(&ev.parent_exe),
        Kind::PUid => Vals::One(Cow::Owned(ev.uid.to_string())),
        Kind::PContainerId => match ev.container_id.as_deref() {
            Some(id) if !id.is_empty() => b(id),
            _ => b("host"),
        },
        Kind::PContainerName => opt(&ev.container),
        Kind::PImage => opt(&ev.image),
        Kind::PImageRepo => ev.image.as_deref().map_or(Vals::Missing, |i| b(repo_of(i))),
        Kind::PPod => opt(&ev.pod),
        Kind::PNamespace => opt(&ev.namespace),
        _ => Vals::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_and_params() {
        assert_eq!(repo_of("docker.io/falcosecurity/falco:0.37@sha256:abc"), "docker.io/falcosecurity/falco");
        assert_eq!(repo_of("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(repo_of("localhost:5000/x:1"), "localhost:5000/x");
        assert_eq!(
            uri_params("/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&command=id%20-u&stdin=true", "command"),
            vec!["sh", "-c", "id -u"]
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%"), "%");
    }

    #[test]
    fn resolves_and_rejects() {
        assert!(Field::resolve("ka.verb", None, Source::K8sAudit).is_ok());
        assert!(matches!(Field::resolve("ka.nope", None, Source::K8sAudit), Err(FieldError::Unknown(_))));
        assert!(matches!(Field::resolve("proc.name", None, Source::K8sAudit), Err(FieldError::WrongSource { .. })));
        assert!(matches!(
            Field::resolve("jevt.value", Some("stage"), Source::K8sAudit),
            Err(FieldError::BadPointer { .. })
        ));
        assert!(matches!(Field::resolve("ka.uri.param", None, Source::K8sAudit), Err(FieldError::MissingArg(_))));
        assert!(Field::resolve("ka.req.pod.containers.image", Some("0"), Source::K8sAudit).unwrap().is_list());
    }
}
