//! Fast path of line decoding: one typed serde pass over the bytes for the two shapes that
//! make up nearly all input (a single audit `Event` or process event per line, and the
//! webhook backend's `EventList`), instead of building a `serde_json::Value` tree first and
//! converting it.
//!
//! Invariant: the fast path either produces exactly what the general path
//! ([`super::decode_value`]) would produce for the same bytes, or declines (returns `false`
//! having changed nothing) and the general path runs. It declines on anything unusual:
//! envelopes, type mismatches, duplicate keys, missing `auditID`, null values where the
//! general path would see a key, nested lists. Redaction is applied exactly as in
//! [`AuditEvent::from_value`].

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{DecodeStats, Event};
use crate::audit::{AuditEvent, ObjectReference, ResponseStatus, UserInfo};
use crate::process::ProcessEvent;

/// Deserializes a field that may be present with `null`: absent → `None` (via `default`),
/// `null` → `Some(None)`, value → `Some(Some(v))`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A key whose presence matters but whose value does not (any JSON value, `null` included).
#[derive(Debug, Default)]
struct Seen(bool);

impl<'de> Deserialize<'de> for Seen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seen, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Seen(true))
    }
}

/// The union of the audit-event and process-event fields, plus the keys that make a value
/// an envelope. Field types equal those of [`AuditEvent`] / [`ProcessEvent`] so a value that
/// decodes here decodes the same way there.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    // --- AuditEvent (same names, types and defaults) ---
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    level: String,
    #[serde(rename = "auditID", default)]
    audit_id: Option<String>,
    #[serde(default)]
    stage: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    user: UserInfo,
    #[serde(default)]
    impersonated_user: Option<UserInfo>,
    #[serde(rename = "sourceIPs", default)]
    source_ips: Vec<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    object_ref: Option<ObjectReference>,
    #[serde(default)]
    response_status: Option<ResponseStatus>,
    #[serde(default)]
    request_object: Option<Value>,
    #[serde(default)]
    response_object: Option<Value>,
    #[serde(default)]
    request_received_timestamp: Option<String>,
    #[serde(default)]
    stage_timestamp: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    annotations: Map<String, Value>,
    // --- ProcessEvent (snake_case keys) ---
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pid: Option<Option<u32>>,
    #[serde(default)]
    ppid: Option<u32>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    exe: Option<String>,
    #[serde(default, deserialize_with = "present")]
    argv: Option<Option<Vec<String>>>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(rename = "container_id", default)]
    container_id: Option<String>,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(rename = "parent_exe", default)]
    parent_exe: Option<String>,
    // --- envelope keys: any of these sends the value to the general path ---
    #[serde(default)]
    items: Option<Vec<Doc>>,
    #[serde(default)]
    records: Seen,
    #[serde(default)]
    properties: Seen,
}

impl Doc {
    /// True if nothing about this object would make the general path treat it as an
    /// envelope (records, EventList, AKS record).
    fn plain(&self) -> bool {
        !self.records.0 && !self.properties.0 && self.items.is_none() && self.kind != "EventList"
    }

    fn is_process_shaped(&self) -> bool {
        self.pid.is_some() && self.argv.is_some()
    }

    /// The event this plain object decodes to, or `None` to decline.
    fn into_event(self) -> Option<Event> {
        if !self.plain() {
            return None;
        }
        if self.is_process_shaped() {
            return Some(Event::Process(ProcessEvent {
                time: self.time?,
                node: self.node?,
                pid: self.pid??,
                ppid: self.ppid?,
                uid: self.uid?,
                exe: self.exe?,
                argv: self.argv??,
                cwd: self.cwd?,
                container_id: self.container_id,
                container: self.container,
                pod: self.pod,
                namespace: self.namespace,
                image: self.image,
                parent_exe: self.parent_exe,
            }));
        }
        // The general path recognises audit events by an `auditID` key (or kind/apiVersion);
        // only the unambiguous case is handled here.
        let audit_id = self.audit_id?;
        let mut event = AuditEvent {
            kind: self.kind,
            api_version: self.api_version,
            level: self.level,
            audit_id,
            stage: self.stage,
            request_uri: self.request_uri,
            verb: self.verb,
            user: self.user,
            impersonated_user: self.impersonated_user,
            source_ips: self.source_ips,
            user_agent: self.user_agent,
            object_ref: self.object_ref,
            response_status: self.response_status,
            request_object: self.request_object,
            response_object: self.response_object,
            request_received_timestamp: self.request_received_timestamp,
            stage_timestamp: self.stage_timestamp,
            timestamp: self.timestamp,
            annotations: self.annotations,
        };
        crate::redact::redact_event(&mut event);
        Some(Event::Audit(Box::new(event)))
    }
}

/// Decodes one trimmed line if it is a single event or an `EventList` of plain audit
/// events. On success pushes the events, counts them and returns `true`; otherwise returns
/// `false` with `events` and `stats` untouched.
pub(super) fn decode_line(line: &[u8], events: &mut Vec<Event>, stats: &mut DecodeStats) -> bool {
    if line.first() != Some(&b'{') {
        return false;
    }
    // One UTF-8 check of the whole line is cheaper than serde_json's check of every string;
    // invalid UTF-8 goes to the general path (which reports it).
    let Ok(text) = std::str::from_utf8(line) else { return false };
    let Ok(mut doc) = serde_json::from_str::<Doc>(text) else {
        return false;
    };
    let start = events.len();
    let mut audit = 0u64;
    let mut process = 0u64;
    if doc.kind == "EventList" && !doc.records.0 {
        let Some(items) = doc.items.take() else { return false };
        for item in items {
            if item.is_process_shaped() {
                // Keep it simple: mixed lists go the general way.
                events.truncate(start);
                return false;
            }
            match item.into_event() {
                Some(e) => {
                    audit += 1;
                    events.push(e);
                }
                None => {
                    events.truncate(start);
                    return false;
                }
            }
        }
    } else {
        match doc.into_event() {
            Some(e @ Event::Audit(_)) => {
                audit += 1;
                events.push(e);
            }
            Some(e @ Event::Process(_)) => {
                process += 1;
                events.push(e);
            }
            None => return false,
        }
    }
    stats.audit_events += audit;
    stats.process_events += process;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes through the general path only.
    fn general(line: &str) -> (Vec<Event>, Vec<String>, DecodeStats) {
        let mut events = Vec::new();
        let mut problems = Vec::new();
        let mut stats = DecodeStats::default();
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            super::super::decode_value(v, &mut events, &mut problems, &mut stats);
        }
        (events, problems, stats)
    }

    #[test]
    fn fast_path_equals_general_path_or_declines() {
        let ev = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/secrets","verb":"create","user":{"username":"u","groups":["g"]},"sourceIPs":["1.2.3.4"],"objectRef":{"resource":"secrets","namespace":"d","name":"s"},"responseStatus":{"code":201},"requestObject":{"kind":"Secret","data":{"k":"c2VjcmV0"}},"annotations":{"a":"b"},"unknown":{"x":[1,2]}}"#;
        let proc_line = r#"{"time":"2026-11-27T09:00:00Z","node":"n","pid":1,"ppid":0,"uid":0,"exe":"/bin/sh","argv":["sh"],"cwd":"/","pod":"p"}"#;
        let list =
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{ev},{ev}]}}"#);
        let accepted = [ev.to_string(), proc_line.to_string(), list.clone()];
        for line in &accepted {
            let mut events = Vec::new();
            let mut stats = DecodeStats::default();
            assert!(decode_line(line.as_bytes(), &mut events, &mut stats), "declined {line}");
            let (g_events, g_problems, g_stats) = general(line);
            assert!(g_problems.is_empty());
            assert_eq!(events, g_events, "{line}");
            assert_eq!(stats, g_stats, "{line}");
        }
        let mut events = Vec::new();
        let mut stats = DecodeStats::default();
        assert!(decode_line(ev.as_bytes(), &mut events, &mut stats));
        let Event::Audit(a) = &events[0] else { panic!() };
        assert!(!a.request_object.as_ref().unwrap().to_string().contains("c2VjcmV0"), "redacted");

        // Shapes the fast path must leave to the general path.
        let declined = [
            r#"{"auditID":null,"verb":"get"}"#.to_string(),
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}"#.to_string(),
            r#"{"auditID":"x","verb":"get","verb":"list"}"#.to_string(),
            r#"{"auditID":"x","user":"not-an-object"}"#.to_string(),
            r#"{"auditID":"x","pid":null,"argv":null}"#.to_string(),
            r#"{"pid":"one","argv":[]}"#.to_string(),
            r#"{"pid":1,"argv":["a"]}"#.to_string(),
            r#"{"auditID":"x","items":[]}"#.to_string(),
            r#"{"auditID":"x","records":null}"#.to_string(),
            r#"{"category":"kube-audit","properties":{"log":"{}"}}"#.to_string(),
            format!(r#"{{"kind":"EventList","items":[{ev},{proc_line}]}}"#),
            format!(r#"{{"kind":"EventList","items":[{ev},{{"kind":"EventList","items":[]}}]}}"#),
            r#"{"kind":"EventList","items":[1]}"#.to_string(),
            r#"{"kind":"EventList","items":null}"#.to_string(),
            r#"[{"auditID":"x"}]"#.to_string(),
        ];
        for line in &declined {
            let mut events = Vec::new();
            let mut stats = DecodeStats::default();
            assert!(!decode_line(line.as_bytes(), &mut events, &mut stats), "accepted {line}");
            assert!(events.is_empty() && stats == DecodeStats::default());
        }
    }
}
