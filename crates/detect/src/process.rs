//! Node process events: the wire and file format shared by the node agent (producer) and the
//! detection engine (consumer).
//!
//! One [`ProcessEvent`] is one successful `exec` observed on a node, inside a container or on
//! the host. The file/wire format is JSON lines of this struct; `keelwatch detect replay`
//! accepts them mixed with audit events (a JSON object with `"pid"` and `"argv"` keys is a
//! process event).

use serde::{Deserialize, Serialize};

/// One process execution observed on a node.
///
/// Optional Kubernetes context (`container_id` … `image`) is absent for host processes and
/// omitted from the JSON when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEvent {
    /// Time of the exec, RFC 3339 UTC, e.g. `"2026-11-27T09:00:00.123Z"`.
    pub time: String,
    /// Host/node name the process ran on.
    pub node: String,
    /// Process id (in the host pid namespace).
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id of the process.
    pub uid: u32,
    /// Absolute path of the executable (`""` if unknown).
    pub exe: String,
    /// Command line, `argv[0]` first.
    pub argv: Vec<String>,
    /// Working directory at exec time.
    pub cwd: String,
    /// Container runtime id (full or short) when the process runs in a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Container name (from the pod spec) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Pod name when the process runs in a Kubernetes pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Pod namespace when the process runs in a Kubernetes pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Container image reference when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Absolute path of the parent's executable when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_exe: Option<String>,
}

impl ProcessEvent {
    /// True if a decoded JSON object looks like a process event (has `pid` and `argv` keys).
    pub fn looks_like(value: &serde_json::Value) -> bool {
        value.get("pid").is_some() && value.get("argv").is_some()
    }

    /// The executable's file name: the last path component of `exe`, or of `argv[0]` when
    /// `exe` is empty.
    pub fn exe_name(&self) -> &str {
        let path =
            if self.exe.is_empty() { self.argv.first().map(String::as_str).unwrap_or("") } else { self.exe.as_str() };
        path.rsplit('/').next().unwrap_or(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_absent_context() {
        let line = r#"{"time":"2026-11-27T09:00:00.123Z","node":"n1","pid":42,"ppid":1,"uid":0,"exe":"/usr/bin/curl","argv":["curl","-s","http://x"],"cwd":"/"}"#;
        let ev: ProcessEvent = serde_json::from_str(line).unwrap();
        assert_eq!(ev.exe_name(), "curl");
        assert_eq!(ev.pod, None);
        assert_eq!(serde_json::to_string(&ev).unwrap(), line);
        assert!(ProcessEvent::looks_like(&serde_json::from_str(line).unwrap()));
    }
}
