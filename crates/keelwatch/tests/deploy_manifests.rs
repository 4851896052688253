//! `deploy/agent.yaml` (the node agent's DaemonSet and RBAC) stays true to the binary: its
//! args go through the real CLI (`keelwatch agent run … --print-config`, with `$(VAR)`
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

fn find<'a>(objs: &'a [Value], kind: &str) -> &'a Value {
    objs.iter().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in deploy/agent.yaml"))
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
    let ds = find(&objs, "DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];

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
    assert!(out.status.success(), "the DaemonSet's args are refused: {}", String::from_utf8_lossy(&out.stderr));
    let cfg: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cfg["mode"], "kubernetes");
    assert_eq!(cfg["node_name"], "fieldref-spec.nodeName");
    assert_eq!(cfg["cluster_id"], env["CLUSTER_ID"]);
    assert!(cfg["output"]["http"].as_str().unwrap().starts_with("https://"), "ships over TLS: {}", cfg["output"]);

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

    // RBAC: the ServiceAccount is bound to a ClusterRole that allows what the pod source calls.
    let sa = spec["serviceAccountName"].as_str().unwrap();
    let ns = ds["metadata"]["namespace"].as_str().unwrap();
    let binding = find(&objs, "ClusterRoleBinding");
    assert!(
        binding["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns),
        "the binding names {ns}/{sa}"
    );
    let role = find(&objs, "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let allows = |resource: &str, verb: &str| {
        role["rules"].as_array().unwrap().iter().any(|r| {
            r["apiGroups"].as_array().unwrap().iter().any(|g| g == "")
                && r["resources"].as_array().unwrap().iter().any(|x| x == resource)
                && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
        })
    };
    assert!(allows("pods", "list") && allows("services", "list"));
    if cfg["pods_from"] == "kubelet" {
        assert!(allows("nodes/proxy", "get"));
    }
    assert!(!allows("secrets", "get") && !allows("secrets", "list"), "the agent never reads Secrets");
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
