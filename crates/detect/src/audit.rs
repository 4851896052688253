//! Kubernetes audit events (`audit.k8s.io/v1` and `v1beta1`).
//!
//! [`AuditEvent`] keeps the fields rules read as typed values and the request/response bodies
//! as JSON. Unknown fields are tolerated (ignored). Values of this type built through
//! [`AuditEvent::from_value`] (which every decoder in [`crate::decode`] uses) are already
//! redacted by [`crate::redact`]: nothing downstream ever sees a Secret's data.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Authenticated user information (`authentication.k8s.io/v1` UserInfo).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// The object a request is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

/// The response status (a `metav1.Status`, usually only `code` is set on success).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One audit event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub level: String,
    #[serde(rename = "auditID", default)]
    pub audit_id: String,
    #[serde(default)]
    pub stage: String,
    #[serde(rename = "requestURI", default)]
    pub request_uri: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    #[serde(rename = "sourceIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_received_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_timestamp: Option<String>,
    /// `v1beta1` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
}

impl AuditEvent {
    /// True if a JSON object looks like a single audit event.
    pub fn looks_like(value: &Value) -> bool {
        let Some(obj) = value.as_object() else {
            return false;
        };
        if obj.contains_key("auditID") {
            return true;
        }
        obj.get("kind").and_then(Value::as_str) == Some("Event")
            && obj.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("audit.k8s.io/"))
    }

    /// Builds an event from JSON and redacts it ([`crate::redact::redact_event`]).
    pub fn from_value(value: Value) -> Result<AuditEvent, serde_json::Error> {
        let mut event: AuditEvent = serde_json::from_value(value)?;
        crate::redact::redact_event(&mut event);
        Ok(event)
    }

    /// The event's time: `stageTimestamp`, else `requestReceivedTimestamp`, else `timestamp`.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        first_time([
            self.stage_timestamp.as_deref(),
            self.request_received_timestamp.as_deref(),
            self.timestamp.as_deref(),
        ])
    }

    /// Resource of the target object (`objectRef.resource`).
    pub fn resource(&self) -> Option<&str> {
        self.object_ref.as_ref()?.resource.as_deref()
    }

    /// Subresource of the target object (`objectRef.subresource`).
    pub fn subresource(&self) -> Option<&str> {
        self.object_ref.as_ref()?.subresource.as_deref()
    }

    /// Namespace of the target object.
    pub fn namespace(&self) -> Option<&str> {
        self.object_ref.as_ref()?.namespace.as_deref()
    }

    /// Name of the target object, falling back to the request object's `metadata.name`
    /// (creates have no name in `objectRef`).
    pub fn target_name(&self) -> Option<&str> {
        self.object_ref
            .as_ref()
            .and_then(|o| o.name.as_deref())
            .or_else(|| self.request_object.as_ref()?.pointer("/metadata/name")?.as_str())
            .or_else(|| self.response_object.as_ref()?.pointer("/metadata/name")?.as_str())
    }

    /// The last entry of `sourceIPs` (the only one the API server vouches for).
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ips.last().map(String::as_str)
    }

    /// An annotation's value as text.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).and_then(Value::as_str)
    }

    /// The pod spec inside the request object, wherever the resource keeps it: `spec` for
    /// pods (and unknown resources), `spec.template.spec` for workload controllers,
    /// `spec.jobTemplate.spec.template.spec` for CronJobs.
    pub fn request_pod_spec(&self) -> Option<&Value> {
        let obj = self.request_object.as_ref()?;
        match self.resource() {
            Some("deployments" | "daemonsets" | "statefulsets" | "replicasets" | "jobs" | "replicationcontrollers") => {
                obj.pointer("/spec/template/spec")
            }
            Some("cronjobs") => obj.pointer("/spec/jobTemplate/spec/template/spec"),
            Some("podtemplates") => obj.pointer("/template/spec"),
            _ => obj.get("spec"),
        }
    }

    /// The event as a JSON value (for `jevt.value` pointers outside the bodies).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Formats a time as RFC 3339 UTC with a `Z` suffix.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The first of `candidates` (in order of preference) that parses as an RFC 3339 time, in UTC:
/// how both the owned event and the borrowed view pick an audit event's time.
pub(crate) fn first_time(candidates: [Option<&str>; 3]) -> Option<DateTime<Utc>> {
    candidates.into_iter().flatten().find_map(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_v1_and_v1beta1_with_unknown_fields() {
        let v1 = serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
            "auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods",
            "verb":"list","user":{"username":"alice","groups":["dev"]},"sourceIPs":["10.0.0.1","192.168.1.9"],
            "objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},
            "responseStatus":{"metadata":{},"code":200},"futureField":{"x":1},
            "stageTimestamp":"2026-11-27T09:00:00.123456Z"});
        assert!(AuditEvent::looks_like(&v1));
        let ev = AuditEvent::from_value(v1).unwrap();
        assert_eq!(ev.source_ip(), Some("192.168.1.9"));
        assert_eq!(ev.resource(), Some("pods"));
        assert_eq!(rfc3339(ev.time().unwrap()), "2026-11-27T09:00:00.123456Z");
        let beta = serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"},
            "level":"Request","timestamp":"2026-01-01T00:00:00Z","auditID":"b","stage":"ResponseComplete","verb":"get","user":{"username":"bob"}});
        let ev = AuditEvent::from_value(beta).unwrap();
        assert_eq!(rfc3339(ev.time().unwrap()), "2026-01-01T00:00:00Z");
        assert!(!AuditEvent::looks_like(&serde_json::json!({"kind":"Pod"})));
    }
}
