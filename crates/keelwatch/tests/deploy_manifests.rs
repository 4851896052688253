//! `deploy/agent.yaml` (the node agent's DaemonSet, the cluster collector's Deployment and
//! their RBAC) stays true to the binary: their args go through the real CLI (`keelwatch agent run … --print-config`, with `$(VAR)`
//! expanded from the container's env as the kubelet does), every path the agent reads or
//! writes is inside a volume mount (read-only except the state directory), the host
//! namespaces the proc connector needs are set, and the ClusterRole grants what the
//! configured pod source calls. No cluster exists here, so this checks the manifest's
//! consistency, not a rollout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use keelwatch_core::load::{LoadOptions, load_file};
use serde_json::Value;

fn manifest() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/agent.yaml");
    let loaded = load_file(&path, &LoadOptions::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.objects.into_iter().map(|o| o.value).collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/agent.yaml"))
}

/// The effective configuration of a workload's first container: its args through
/// `keelwatch … --print-config` with `$(VAR)`s expanded from its env.
fn effective_config(workload: &Value) -> Value {
    let c = &workload["spec"]["template"]["spec"]["containers"][0];
    let mut env = BTreeMap::new();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) => v.to_string(),
            None => format!("fieldref-{}", e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap()),
        };
        env.insert(name, value);
    }
    assert_eq!(env["NODE_NAME"], "fieldref-spec.nodeName", "the node name comes from the downward API");
    let args: Vec<String> = c["args"].as_array().unwrap().iter().map(|a| expand(a.as_str().unwrap(), &env)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_keelwatch"))
        .args(&args)
        .arg("--print-config")
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}'s args are refused: {}",
        workload["metadata"]["name"],
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cfg["node_name"], "fieldref-spec.nodeName");
    assert_eq!(cfg["cluster_id"], env["CLUSTER_ID"]);
    assert!(cfg["output"]["http"].as_str().unwrap().starts_with("https://"), "ships over TLS: {}", cfg["output"]);
    cfg
}

/// Whether the ClusterRole bound to the workload's ServiceAccount allows `verb` on the
/// core-group `resource`.
fn rbac_allows(objs: &[Value], workload: &Value) -> impl Fn(&str, &str) -> bool {
    let sa = workload["spec"]["template"]["spec"]["serviceAccountName"].as_str().unwrap().to_string();
    let ns = workload["metadata"]["namespace"].as_str().unwrap().to_string();
    let binding = objs
        .iter()
        .find(|o| {
            o["kind"] == "ClusterRoleBinding"
                && o["subjects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns)
        })
        .unwrap_or_else(|| panic!("no ClusterRoleBinding names {ns}/{sa}"));
    let role = find(objs, "ClusterRole", binding["roleRef"]["name"].as_str().unwrap()).clone();
    move |resource: &str, verb: &str| {
        role["rules"].as_array().unwrap().iter().any(|r| {
            r["apiGroups"].as_array().unwrap().iter().any(|g| g == "")
                && r["resources"].as_array().unwrap().iter().any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
        })
    }
}

/// `$(NAME)` references expanded from the container's `env` (fieldRef values get stand-ins).
fn expand(arg: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = arg.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    assert!(!out.contains("$("), "unexpanded variable in {arg:?}");
    out
}

#[test]
fn agent_daemonset_args_parse_and_mounts_and_rbac_cover_them() {
    let objs = manifest();
    let ds = find(&objs, "DaemonSet", "keelwatch-agent");
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let cfg = effective_config(ds);
    assert_eq!(cfg["mode"], "kubernetes");

    // Every path the agent touches is mounted; only the state directory is writable.
    let mounts: Vec<(PathBuf, bool)> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (PathBuf::from(m["mountPath"].as_str().unwrap()), m["readOnly"].as_bool().unwrap_or(false)))
        .collect();
    let mount_of = |p: &str| {
        mounts
            .iter()
            .filter(|(m, _)| Path::new(p).starts_with(m))
            .max_by_key(|(m, _)| m.as_os_str().len())
            .unwrap_or_else(|| panic!("{p} is not inside any volume mount of the agent container"))
    };
    for key in ["cgroup_root", "log_dir", "token_file", "ca_file"] {
        let p = cfg[key].as_str().unwrap_or_else(|| panic!("{key} is set in the DaemonSet"));
        assert!(mount_of(p).1, "{key} {p} is mounted read-only");
    }
    let log_dir = Path::new(cfg["log_dir"].as_str().unwrap());
    // Container names come from the `../containers/*.log` symlinks next to the pods dir.
    mount_of(log_dir.parent().unwrap().join("containers").to_str().unwrap());
    let state = cfg["state_dir"].as_str().unwrap();
    assert!(!mount_of(state).1, "the state dir (checkpoints, buffer) must be writable");
    let state_volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            c["volumeMounts"].as_array().unwrap().iter().any(|m| m["mountPath"] == state && m["name"] == v["name"])
        })
        .expect("a volume for the state dir");
    assert!(
        state_volume["hostPath"].is_object(),
        "checkpoints and the buffer must survive pod restarts: {state_volume}"
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);

    // The proc connector serves only the initial PID and network namespaces.
    if cfg["process_source"] == "auto" || cfg["process_source"] == "netlink" {
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["hostNetwork"], true);
        let caps: Vec<&str> =
            c["securityContext"]["capabilities"]["add"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(caps.contains(&"NET_ADMIN"), "{caps:?}");
    }

    // RBAC: what the configured pod source calls, and never Secrets.
    let allows = rbac_allows(&objs, ds);
    assert!(allows("pods", "list") && allows("services", "list"));
    if cfg["pods_from"] == "kubelet" {
        assert!(allows("nodes/proxy", "get"));
    }
    assert!(!allows("secrets", "get") && !allows("secrets", "list"), "the agent never reads Secrets");
}

#[test]
fn cluster_collector_deployment_is_single_unprivileged_and_may_list_what_it_reads() {
    let objs = manifest();
    let dep = find(&objs, "Deployment", "keelwatch-cluster");
    assert_eq!(dep["spec"]["replicas"], 1, "two collectors would ship every row twice");
    assert_eq!(dep["spec"]["strategy"]["type"], "Recreate", "no overlap during a rollout either");
    let cfg = effective_config(dep);
    assert_eq!(cfg["mode"], "cluster");
    let spec = &dep["spec"]["template"]["spec"];
    assert!(spec["hostPID"].is_null() && spec["hostNetwork"].is_null(), "the collector needs no host namespaces");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    let c = &spec["containers"][0];
    let mounts: Vec<&str> =
        c["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    for key in ["state_dir", "token_file", "ca_file"] {
        let p = cfg[key].as_str().unwrap();
        assert!(mounts.iter().any(|m| Path::new(p).starts_with(m)), "{key} {p} is not mounted: {mounts:?}");
    }
    let allows = rbac_allows(&objs, dep);
    for resource in ["nodes", "services", "events"] {
        assert!(allows(resource, "list"), "may not list {resource}");
    }
    assert!(!allows("secrets", "list") && !allows("pods", "list"));
}

#[test]
fn print_config_reports_usage_errors_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_keelwatch"))
        .args(["agent", "run", "--mode", "kubernetes", "--print-config"])
        .env_remove("NODE_NAME")
        .env_remove("KEELWATCH_NODE_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NODE_NAME"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
}
