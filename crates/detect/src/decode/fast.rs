//! Fast path of line decoding: one typed serde pass (with [`super::json`]'s reader) over the
//! bytes for the two shapes that
//! make up nearly all input (a single audit `Event` or process event per line, and the
//! webhook backend's `EventList`), producing [`EventView`]s that borrow the line: strings
//! without escapes are not copied and request/response bodies are light [`Node`] trees
//! ([`crate::view`]).
//!
//! Invariant: the fast path either produces events whose owned form
//! ([`EventView::into_event`]) is exactly what the general path ([`super::decode_value`])
//! produces for the same bytes, or declines (returns `false` having emitted nothing) and the
//! general path runs. It declines on anything unusual: envelopes, type mismatches, duplicate
//! keys, missing `auditID`, null values where the general path would see a key, nested
//! lists and non-string annotation values.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::DecodeStats;
use crate::node::Node;
use crate::process::ProcessEvent;
use crate::view::{
    Annotations, AuditView, Body, EventView, Few, Json, ObjectRefView, StatusView, Text, TextList, UserView,
};

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
        de::IgnoredAny::deserialize(d)?;
        Ok(Seen(true))
    }
}

/// A JSON string, borrowed from the line unless it had escapes. Accepts exactly what a
/// `String` field accepts.
#[derive(Debug, Default)]
struct S<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for S<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<S<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = S<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<S<'de>, E> {
                Ok(S(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<S<'de>, E> {
                Ok(S(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<S<'de>, E> {
                Ok(S(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn text(s: Option<S<'_>>) -> Option<Text<'_>> {
    s.map(|s| s.0)
}

/// A JSON array of strings (accepts exactly what a `Vec<String>` field accepts).
#[derive(Debug, Default)]
struct Texts<'a>(TextList<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Texts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Texts<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts<'de>, A::Error> {
                let mut out = TextList::new();
                while let Some(S(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(Texts(out))
            }
        }
        d.deserialize_seq(V)
    }
}

fn owned(s: Option<S<'_>>) -> Option<String> {
    s.map(|s| s.0.into_owned())
}

/// Annotations as string pairs in input order; any other value type is an error (so the line
/// declines: the general path keeps such values as JSON).
#[derive(Debug, Default)]
struct Pairs<'a>(Few<(Text<'a>, Text<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pairs<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<'de>, A::Error> {
                let mut out = Few::new();
                while let Some(k) = map.next_key::<S<'de>>()? {
                    let v: S<'de> = map.next_value()?;
                    out.push((k.0, v.0));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Default, Deserialize)]
struct UserDoc<'a> {
    #[serde(default, borrow)]
    username: S<'a>,
    #[serde(default, borrow)]
    uid: Option<S<'a>>,
    #[serde(default, borrow)]
    groups: Texts<'a>,
    #[serde(default, borrow)]
    extra: Option<Node<'a>>,
}

impl<'a> UserDoc<'a> {
    fn into_view(self) -> UserView<'a> {
        UserView {
            username: self.username.0,
            uid: text(self.uid),
            groups: self.groups.0,
            extra: self.extra.map(Json::Node),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefDoc<'a> {
    #[serde(default, borrow)]
    resource: Option<S<'a>>,
    #[serde(default, borrow)]
    namespace: Option<S<'a>>,
    #[serde(default, borrow)]
    name: Option<S<'a>>,
    #[serde(default, borrow)]
    uid: Option<S<'a>>,
    #[serde(default, borrow)]
    api_group: Option<S<'a>>,
    #[serde(default, borrow)]
    api_version: Option<S<'a>>,
    #[serde(default, borrow)]
    resource_version: Option<S<'a>>,
    #[serde(default, borrow)]
    subresource: Option<S<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct StatusDoc<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow)]
    status: Option<S<'a>>,
    #[serde(default, borrow)]
    reason: Option<S<'a>>,
    #[serde(default, borrow)]
    message: Option<S<'a>>,
}

/// The union of the audit-event and process-event fields, plus the keys that make a value
/// an envelope. Field types accept exactly what those of [`crate::audit::AuditEvent`] /
/// [`ProcessEvent`] accept, so a value that decodes here decodes the same way there.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a> {
    // --- AuditEvent (same names, types and defaults) ---
    #[serde(default, borrow)]
    kind: S<'a>,
    #[serde(default, borrow)]
    api_version: S<'a>,
    #[serde(default, borrow)]
    level: S<'a>,
    #[serde(rename = "auditID", default, borrow)]
    audit_id: Option<S<'a>>,
    #[serde(default, borrow)]
    stage: S<'a>,
    #[serde(rename = "requestURI", default, borrow)]
    request_uri: S<'a>,
    #[serde(default, borrow)]
    verb: S<'a>,
    #[serde(default, borrow)]
    user: UserDoc<'a>,
    #[serde(default, borrow)]
    impersonated_user: Option<UserDoc<'a>>,
    #[serde(rename = "sourceIPs", default, borrow)]
    source_ips: Texts<'a>,
    #[serde(default, borrow)]
    user_agent: Option<S<'a>>,
    #[serde(default, borrow)]
    object_ref: Option<RefDoc<'a>>,
    #[serde(default, borrow)]
    response_status: Option<StatusDoc<'a>>,
    #[serde(default, borrow)]
    request_object: Option<Node<'a>>,
    #[serde(default, borrow)]
    response_object: Option<Node<'a>>,
    #[serde(default, borrow)]
    request_received_timestamp: Option<S<'a>>,
    #[serde(default, borrow)]
    stage_timestamp: Option<S<'a>>,
    #[serde(default, borrow)]
    timestamp: Option<S<'a>>,
    #[serde(default, borrow)]
    annotations: Pairs<'a>,
    // --- ProcessEvent (snake_case keys) ---
    #[serde(default, borrow)]
    time: Option<S<'a>>,
    #[serde(default, borrow)]
    node: Option<S<'a>>,
    #[serde(default, deserialize_with = "present")]
    pid: Option<Option<u32>>,
    #[serde(default)]
    ppid: Option<u32>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default, borrow)]
    exe: Option<S<'a>>,
    #[serde(default, borrow, deserialize_with = "present")]
    argv: Option<Option<Vec<S<'a>>>>,
    #[serde(default, borrow)]
    cwd: Option<S<'a>>,
    #[serde(rename = "container_id", default, borrow)]
    container_id: Option<S<'a>>,
    #[serde(default, borrow)]
    container: Option<S<'a>>,
    #[serde(default, borrow)]
    pod: Option<S<'a>>,
    #[serde(default, borrow)]
    namespace: Option<S<'a>>,
    #[serde(default, borrow)]
    image: Option<S<'a>>,
    #[serde(rename = "parent_exe", default, borrow)]
    parent_exe: Option<S<'a>>,
    // --- envelope keys: any of these sends the value to the general path ---
    #[serde(default, borrow)]
    items: Option<Vec<Doc<'a>>>,
    #[serde(default)]
    records: Seen,
    #[serde(default)]
    properties: Seen,
}

impl<'a> Doc<'a> {
    /// True if nothing about this object would make the general path treat it as an
    /// envelope (records, EventList, AKS record).
    fn plain(&self) -> bool {
        !self.records.0 && !self.properties.0 && self.items.is_none() && self.kind.0 != "EventList"
    }

    fn is_process_shaped(&self) -> bool {
        self.pid.is_some() && self.argv.is_some()
    }

    /// The event this plain object decodes to, or `None` to decline.
    fn into_event(self) -> Option<EventView<'a>> {
        if !self.plain() {
            return None;
        }
        if self.is_process_shaped() {
            return Some(EventView::Process(Cow::Owned(ProcessEvent {
                time: owned(self.time)?,
                node: owned(self.node)?,
                pid: self.pid??,
                ppid: self.ppid?,
                uid: self.uid?,
                exe: owned(self.exe)?,
                argv: self.argv??.into_iter().map(|s| s.0.into_owned()).collect(),
                cwd: owned(self.cwd)?,
                container_id: owned(self.container_id),
                container: owned(self.container),
                pod: owned(self.pod),
                namespace: owned(self.namespace),
                image: owned(self.image),
                parent_exe: owned(self.parent_exe),
            })));
        }
        // The general path recognises audit events by an `auditID` key (or kind/apiVersion);
        // only the unambiguous case is handled here.
        let audit_id = self.audit_id?.0;
        let object_ref = self.object_ref.map(|o| ObjectRefView {
            resource: text(o.resource),
            namespace: text(o.namespace),
            name: text(o.name),
            uid: text(o.uid),
            api_group: text(o.api_group),
            api_version: text(o.api_version),
            resource_version: text(o.resource_version),
            subresource: text(o.subresource),
        });
        // Same rule as `redact::redact_event`.
        let secretish = object_ref.as_ref().and_then(|o| o.resource.as_deref()) == Some("secrets");
        Some(EventView::Audit(AuditView {
            kind: self.kind.0,
            api_version: self.api_version.0,
            level: self.level.0,
            audit_id,
            stage: self.stage.0,
            request_uri: self.request_uri.0,
            verb: self.verb.0,
            user: self.user.into_view(),
            impersonated_user: self.impersonated_user.map(UserDoc::into_view),
            source_ips: self.source_ips.0,
            user_agent: text(self.user_agent),
            object_ref,
            response_status: self.response_status.map(|s| StatusView {
                code: s.code,
                status: text(s.status),
                reason: text(s.reason),
                message: text(s.message),
            }),
            request_received_timestamp: text(self.request_received_timestamp),
            stage_timestamp: text(self.stage_timestamp),
            timestamp: text(self.timestamp),
            request_object: Body::input(self.request_object, secretish),
            response_object: Body::input(self.response_object, secretish),
            annotations: Annotations::Pairs(self.annotations.0),
        }))
    }
}

/// Decodes one trimmed line if it is a single event or an `EventList` of plain audit
/// events. On success counts the events, passes them to `on_event` and returns `true`;
/// otherwise returns `false` with nothing emitted and `stats` untouched.
pub(super) fn decode_line<'b>(
    line: &'b [u8],
    stats: &mut DecodeStats,
    on_event: &mut impl FnMut(EventView<'b>),
) -> bool {
    if line.first() != Some(&b'{') {
        return false;
    }
    // One UTF-8 check of the whole line is cheaper than serde_json's check of every string;
    // invalid UTF-8 goes to the general path (which reports it).
    let Ok(text) = std::str::from_utf8(line) else { return false };
    let Ok(mut doc) = super::json::from_str::<Doc<'b>>(text) else {
        return false;
    };
    if doc.kind.0 == "EventList" && !doc.records.0 {
        let Some(items) = doc.items.take() else { return false };
        if items.iter().any(Doc::is_process_shaped) {
            // Keep it simple: mixed lists go the general way.
            return false;
        }
        let Some(views) = items.into_iter().map(Doc::into_event).collect::<Option<Vec<_>>>() else {
            return false;
        };
        stats.audit_events += views.len() as u64;
        views.into_iter().for_each(on_event);
        return true;
    }
    match doc.into_event() {
        Some(e) => {
            match &e {
                EventView::Audit(_) => stats.audit_events += 1,
                EventView::Process(_) => stats.process_events += 1,
            }
            on_event(e);
            true
        }
        None => false,
    }
}

/// Panics unless the fast path declines `line` (a trimmed line) or decodes it exactly as the
/// general path does (same events in owned form, same counts, no problems). For tests and the
/// `decode_equiv` fuzz target.
pub(super) fn check(line: &[u8]) {
    let mut events = Vec::new();
    let mut stats = DecodeStats::default();
    if !decode_line(line, &mut stats, &mut |e| events.push(e.into_event())) {
        assert!(events.is_empty() && stats == DecodeStats::default(), "declined after emitting");
        return;
    }
    let text = std::str::from_utf8(line).expect("the fast path took invalid UTF-8");
    let value: serde_json::Value = serde_json::from_str(text).expect("the fast path took invalid JSON");
    let (mut general, mut problems, mut general_stats) = (Vec::new(), Vec::new(), DecodeStats::default());
    super::decode_value(value, &mut general, &mut problems, &mut general_stats);
    assert!(problems.is_empty(), "the fast path took what the general path rejects: {problems:?}");
    assert_eq!(events, general);
    assert_eq!(stats, general_stats);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Event;
    use serde_json::Value;

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

    fn fast(line: &str) -> Option<(Vec<Event>, DecodeStats)> {
        let mut events = Vec::new();
        let mut stats = DecodeStats::default();
        let ok = decode_line(line.as_bytes(), &mut stats, &mut |e| events.push(e.into_event()));
        if !ok {
            assert!(events.is_empty() && stats == DecodeStats::default(), "{line}");
        }
        ok.then_some((events, stats))
    }

    /// Random edits of realistic lines: the fast path declines or agrees with the general one.
    #[test]
    fn random_edits_decode_like_the_general_path() {
        let seeds = [
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/secrets","verb":"create","user":{"username":"u","groups":["g"]},"sourceIPs":["1.2.3.4"],"objectRef":{"resource":"secrets","namespace":"d","name":"s"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","data":{"k":"c2VjcmV0"},"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\"}"}}},"annotations":{"a":"b \"q\""}}"#,
            r#"{"kind":"EventList","items":[{"auditID":"x","verb":"get","requestObject":{"spec":{"containers":[{"image":"i","ports":[{"containerPort":80}]}]}}},{"auditID":"y","verb":"list"}]}"#,
            r#"{"time":"2026-11-27T09:00:00Z","node":"n","pid":1,"ppid":0,"uid":0,"exe":"/bin/sh","argv":["sh","-c"],"cwd":"/"}"#,
        ];
        let alphabet: &[u8] = b"{}[]\",:\\-.e0129aukntrl ";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut decoded = 0;
        for _ in 0..5_000 {
            let mut bytes = seeds[next(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + next(2) {
                let at = next(bytes.len());
                if next(2) == 0 {
                    bytes[at] = alphabet[next(alphabet.len())];
                } else {
                    bytes.insert(at, alphabet[next(alphabet.len())]);
                }
            }
            check(&bytes);
            decoded += usize::from(decode_line(&bytes, &mut DecodeStats::default(), &mut |_| {}));
        }
        assert!(decoded > 500, "the edits keep some lines decodable ({decoded})");
    }

    #[test]
    fn fast_path_equals_general_path_or_declines() {
        let ev = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/secrets?x=1\u0026y=2","verb":"create","user":{"username":"u","groups":["g"],"extra":{"k":["v"]}},"sourceIPs":["1.2.3.4"],"objectRef":{"resource":"secrets","namespace":"d","name":"s"},"responseStatus":{"code":201},"requestObject":{"kind":"Secret","data":{"k":"c2VjcmV0"}},"annotations":{"a":"b","a":"c","q":"say \"hi\"\n","u":"caf\u00e9"},"unknown":{"x":[1,2]}}"#;
        let proc_line = r#"{"time":"2026-11-27T09:00:00Z","node":"n","pid":1,"ppid":0,"uid":0,"exe":"/bin/sh","argv":["sh"],"cwd":"/","pod":"p"}"#;
        let list =
            format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{ev},{ev}]}}"#);
        // Bodies with escapes and numbers near the limits.
        let escaped = r#"{"auditID":"e","requestObject":{"s":"\u00e9\ud83d\ude00","n":1.5e100,"m":12e-300}}"#;
        let plain = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"p1","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"configmaps","namespace":"d"},"requestObject":{"kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v\"q\"","n":1.5,"k":"w"}},"responseObject":{"kind":"ConfigMap","metadata":{"name":"c","uid":"1e2"}},"annotations":{"r":"say \"hi\""}}"#;
        let secret = r#"{"auditID":"s1","verb":"create","objectRef":{"resource":"secrets"},"requestObject":{"kind":"Secret","data":{"k":"c2VjcmV0"}}}"#;
        let accepted = [
            ev.to_string(),
            proc_line.to_string(),
            list.clone(),
            escaped.to_string(),
            plain.to_string(),
            secret.to_string(),
        ];
        for line in &accepted {
            let (events, stats) = fast(line).unwrap_or_else(|| panic!("declined {line}"));
            let (g_events, g_problems, g_stats) = general(line);
            assert!(g_problems.is_empty());
            assert_eq!(events, g_events, "{line}");
            assert_eq!(stats, g_stats, "{line}");
        }
        for line in [ev, secret] {
            let (events, _) = fast(line).unwrap();
            let Event::Audit(a) = &events[0] else { panic!() };
            assert!(!a.request_object.as_ref().unwrap().to_string().contains("c2VjcmV0"), "redacted");
            // What rules read is redacted too.
            let mut stats = DecodeStats::default();
            decode_line(line.as_bytes(), &mut stats, &mut |e| {
                let EventView::Audit(a) = e else { panic!() };
                let data = a.request_body().unwrap().get("data").unwrap().text();
                assert!(data.contains("<redacted>") && !data.contains("c2VjcmV0"), "{data}");
            });
        }
        let mut stats = DecodeStats::default();
        decode_line(plain.as_bytes(), &mut stats, &mut |e| {
            let EventView::Audit(a) = e else { panic!() };
            assert_eq!(a.target_name(), Some("c"));
            assert_eq!(a.request_body().unwrap().at(&["data", "k"]).unwrap().as_str(), Some("w"), "last duplicate");
            assert_eq!(a.annotation("r"), Some("say \"hi\""));
        });
        let (events, _) = fast(ev).unwrap();
        let Event::Audit(a) = &events[0] else { panic!() };
        assert_eq!(a.annotations["a"], "c", "a later duplicate annotation wins");

        let deep = |n: usize| format!(r#"{{"auditID":"d","requestObject":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
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
            r#"{"auditID":"x","annotations":{"n":1}}"#.to_string(),
            r#"{"auditID":"x","annotations":null}"#.to_string(),
            r#"{"auditID":"x","annotations":{"s":"\ud800"}}"#.to_string(),
            r#"{"category":"kube-audit","properties":{"log":"{}"}}"#.to_string(),
            format!(r#"{{"kind":"EventList","items":[{ev},{proc_line}]}}"#),
            format!(r#"{{"kind":"EventList","items":[{ev},{{"kind":"EventList","items":[]}}]}}"#),
            r#"{"kind":"EventList","items":[1]}"#.to_string(),
            r#"{"kind":"EventList","items":null}"#.to_string(),
            r#"[{"auditID":"x"}]"#.to_string(),
            // Bodies that do not parse (as in the general path).
            r#"{"auditID":"x","requestObject":{"s":"\ud800"}}"#.to_string(),
            r#"{"auditID":"x","responseObject":[1e999]}"#.to_string(),
            format!(r#"{{"auditID":"x","requestObject":{}}}"#, "9".repeat(400)),
            r#"{"auditID":"x","user":{"extra":{"\udc00":1}}}"#.to_string(),
            deep(127),
        ];
        for line in &declined {
            assert!(fast(line).is_none(), "accepted {line}");
        }
        // Deep nesting is left to the general path (whose limit is serde_json's).
        let limit = super::super::json::MAX_DEPTH;
        let line = deep(limit - 1);
        let (events, _) = fast(&line).expect("within the fast reader's limit");
        assert_eq!(events, general(&line).0);
        assert!(fast(&deep(limit)).is_none() && general(&deep(126)).0.len() == 1);
        assert!(general(&deep(127)).0.is_empty(), "too deep for the general path");
        let in_list = |n: usize| format!(r#"{{"kind":"EventList","items":[{}]}}"#, deep(n));
        assert!(fast(&in_list(limit - 3)).unwrap().0 == general(&in_list(limit - 3)).0);
        assert!(fast(&in_list(limit - 2)).is_none());
    }
}
