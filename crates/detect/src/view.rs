//! The evaluation form of decoded events: [`EventView`] / [`AuditView`].
//!
//! An [`AuditView`] borrows its text from the input line when it can (or from an owned
//! [`AuditEvent`]) and keeps the request/response bodies as light [`Node`] trees that borrow
//! the input too. Why: building owned strings and `serde_json::Value` trees for every event
//! cost as much as running the whole catalog, while only the few events that alert need
//! owned data. [`AuditView::to_event`] builds the owned [`AuditEvent`]; it equals what
//! [`AuditEvent::from_value`] gives for the same JSON.
//!
//! Invariant (redaction): a body is reachable only through [`AuditView::request_body`],
//! [`AuditView::request_object`] (and the response twins) and the conversions to owned
//! events, all of which give the tree as redacted by [`crate::redact::redact_value`]: the
//! input's tree itself when redaction would change nothing in it, else the redacted copy.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::{AuditEvent, ObjectReference, ResponseStatus, UserInfo};
use crate::decode::Event;
use crate::node::Node;
use crate::process::ProcessEvent;

/// Text borrowed from the input (or from an owned event), owned only when it had to be
/// unescaped.
pub type Text<'a> = Cow<'a, str>;

/// A short list of texts (groups, source IPs).
pub type TextList<'a> = Few<Text<'a>>;

/// A list that holds up to two items without an allocation: the groups, source IPs and
/// annotations of nearly every event fit, and a heap allocation per list was a measurable
/// share of decoding. (Unlike `smallvec`, it keeps views covariant in their lifetime.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Few<T> {
    Zero,
    One(T),
    Two([T; 2]),
    Many(Vec<T>),
}

// Written by hand: `derive(Default)` would require `T: Default`.
#[allow(clippy::derivable_impls)]
impl<T> Default for Few<T> {
    fn default() -> Self {
        Few::Zero
    }
}

impl<T> Few<T> {
    /// An empty list.
    pub fn new() -> Few<T> {
        Few::Zero
    }

    /// Appends an item.
    pub fn push(&mut self, item: T) {
        *self = match std::mem::take(self) {
            Few::Zero => Few::One(item),
            Few::One(a) => Few::Two([a, item]),
            Few::Two([a, b]) => Few::Many(vec![a, b, item]),
            Few::Many(mut v) => {
                v.push(item);
                Few::Many(v)
            }
        }
    }

    /// The items as a `Vec`.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Few::Zero => Vec::new(),
            Few::One(a) => vec![a],
            Few::Two(two) => Vec::from(two),
            Few::Many(v) => v,
        }
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Few::Zero => &[],
            Few::One(a) => std::slice::from_ref(a),
            Few::Two(two) => two,
            Few::Many(v) => v,
        }
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Few<T> {
        let mut out = Few::Zero;
        for item in items {
            out.push(item);
        }
        out
    }
}

fn opt_text(s: &Option<String>) -> Option<Text<'_>> {
    s.as_deref().map(Cow::Borrowed)
}

fn opt_owned(s: Option<Text<'_>>) -> Option<String> {
    s.map(Cow::into_owned)
}

fn texts(list: &[String]) -> TextList<'_> {
    list.iter().map(|s| Cow::Borrowed(s.as_str())).collect()
}

/// `Vec<Text>` → `Vec<String>`: both are three words per element, so the standard library
/// reuses the allocation.
fn owned_texts(list: TextList<'_>) -> Vec<String> {
    list.into_vec().into_iter().map(Cow::into_owned).collect()
}

/// A JSON value from the input, or an owned event's.
#[derive(Debug, Clone)]
pub(crate) enum Json<'a> {
    Node(Node<'a>),
    Value(Cow<'a, Value>),
}

impl Json<'_> {
    fn into_value(self) -> Value {
        match self {
            Json::Node(n) => n.to_value(),
            Json::Value(v) => v.into_owned(),
        }
    }
}

/// A request or response body.
#[derive(Clone, Default)]
pub(crate) struct Body<'a> {
    src: Option<Json<'a>>,
    /// The event is on the `secrets` resource (see [`crate::redact::redact_event`]).
    secretish: bool,
    /// For an input tree: whether redaction leaves it as it is.
    clean: OnceCell<bool>,
    /// The tree rules read when `src` cannot be read as it is: the redacted copy of an input
    /// tree, or an owned event's `Value` as a `Node`.
    node: OnceCell<Node<'a>>,
    /// The redacted `Value` of an input tree.
    value: OnceCell<Value>,
}

impl fmt::Debug for Body<'_> {
    /// The redacted tree: debug output must not show what redaction removes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Body").field(&self.node()).finish()
    }
}

impl<'a> Body<'a> {
    /// A body from the input; it is redacted before anything reads it.
    pub(crate) fn input(node: Option<Node<'a>>, secretish: bool) -> Body<'a> {
        Body { src: node.map(Json::Node), secretish, ..Body::default() }
    }

    /// A body of an owned event, which is redacted already.
    fn owned(v: Option<Cow<'a, Value>>) -> Body<'a> {
        Body { src: v.map(Json::Value), ..Body::default() }
    }

    fn redacted_value(n: &Node<'_>, secretish: bool) -> Value {
        let mut v = n.to_value();
        crate::redact::redact_value(&mut v, secretish);
        v
    }

    /// The redacted tree.
    fn node(&self) -> Option<&Node<'a>> {
        match self.src.as_ref()? {
            Json::Node(n) => {
                if *self.clean.get_or_init(|| !self.secretish && !n.may_hold_secret()) {
                    Some(n)
                } else {
                    Some(self.node.get_or_init(|| {
                        Node::from_value(self.value.get_or_init(|| Body::redacted_value(n, self.secretish)))
                            .into_owned()
                    }))
                }
            }
            Json::Value(Cow::Borrowed(v)) => Some(self.node.get_or_init(|| Node::from_value(v))),
            Json::Value(Cow::Owned(v)) => Some(self.node.get_or_init(|| Node::from_value(v).into_owned())),
        }
    }

    /// The redacted `Value`.
    fn value(&self) -> Option<&Value> {
        match self.src.as_ref()? {
            Json::Node(n) => Some(self.value.get_or_init(|| Body::redacted_value(n, self.secretish))),
            Json::Value(v) => Some(v),
        }
    }

    fn into_value(self) -> Option<Value> {
        match self.src? {
            Json::Node(n) => Some(self.value.into_inner().unwrap_or_else(|| Body::redacted_value(&n, self.secretish))),
            Json::Value(v) => Some(v.into_owned()),
        }
    }
}

/// The event's annotations: string pairs from the input (a later duplicate key wins, as in a
/// JSON map), or an owned event's map.
#[derive(Debug, Clone)]
pub(crate) enum Annotations<'a> {
    Pairs(Few<(Text<'a>, Text<'a>)>),
    Map(Cow<'a, Map<String, Value>>),
}

impl Default for Annotations<'_> {
    fn default() -> Self {
        Annotations::Pairs(Few::new())
    }
}

impl Annotations<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self {
            Annotations::Pairs(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_ref()),
            Annotations::Map(map) => map.get(key).and_then(Value::as_str),
        }
    }

    fn into_map(self) -> Map<String, Value> {
        match self {
            Annotations::Pairs(pairs) => {
                pairs.into_vec().into_iter().map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect()
            }
            Annotations::Map(map) => map.into_owned(),
        }
    }
}

/// [`UserInfo`], borrowed.
#[derive(Debug, Clone, Default)]
pub struct UserView<'a> {
    pub username: Text<'a>,
    pub uid: Option<Text<'a>>,
    pub groups: TextList<'a>,
    pub(crate) extra: Option<Json<'a>>,
}

impl<'a> UserView<'a> {
    fn from_info(u: &'a UserInfo) -> UserView<'a> {
        UserView {
            username: Cow::Borrowed(&u.username),
            uid: opt_text(&u.uid),
            groups: texts(&u.groups),
            extra: u.extra.as_ref().map(|v| Json::Value(Cow::Borrowed(v))),
        }
    }

    fn into_info(self) -> UserInfo {
        UserInfo {
            username: self.username.into_owned(),
            uid: opt_owned(self.uid),
            groups: owned_texts(self.groups),
            extra: self.extra.map(Json::into_value),
        }
    }
}

/// [`ObjectReference`], borrowed.
#[derive(Debug, Clone, Default)]
pub struct ObjectRefView<'a> {
    pub resource: Option<Text<'a>>,
    pub namespace: Option<Text<'a>>,
    pub name: Option<Text<'a>>,
    pub uid: Option<Text<'a>>,
    pub api_group: Option<Text<'a>>,
    pub api_version: Option<Text<'a>>,
    pub resource_version: Option<Text<'a>>,
    pub subresource: Option<Text<'a>>,
}

impl<'a> ObjectRefView<'a> {
    fn from_ref(o: &'a ObjectReference) -> ObjectRefView<'a> {
        ObjectRefView {
            resource: opt_text(&o.resource),
            namespace: opt_text(&o.namespace),
            name: opt_text(&o.name),
            uid: opt_text(&o.uid),
            api_group: opt_text(&o.api_group),
            api_version: opt_text(&o.api_version),
            resource_version: opt_text(&o.resource_version),
            subresource: opt_text(&o.subresource),
        }
    }

    fn into_ref(self) -> ObjectReference {
        ObjectReference {
            resource: opt_owned(self.resource),
            namespace: opt_owned(self.namespace),
            name: opt_owned(self.name),
            uid: opt_owned(self.uid),
            api_group: opt_owned(self.api_group),
            api_version: opt_owned(self.api_version),
            resource_version: opt_owned(self.resource_version),
            subresource: opt_owned(self.subresource),
        }
    }
}

/// [`ResponseStatus`], borrowed.
#[derive(Debug, Clone, Default)]
pub struct StatusView<'a> {
    pub code: Option<i64>,
    pub status: Option<Text<'a>>,
    pub reason: Option<Text<'a>>,
    pub message: Option<Text<'a>>,
}

/// One audit event in evaluation form (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct AuditView<'a> {
    pub kind: Text<'a>,
    pub api_version: Text<'a>,
    pub level: Text<'a>,
    pub audit_id: Text<'a>,
    pub stage: Text<'a>,
    pub request_uri: Text<'a>,
    pub verb: Text<'a>,
    pub user: UserView<'a>,
    pub impersonated_user: Option<UserView<'a>>,
    pub source_ips: TextList<'a>,
    pub user_agent: Option<Text<'a>>,
    pub object_ref: Option<ObjectRefView<'a>>,
    pub response_status: Option<StatusView<'a>>,
    pub request_received_timestamp: Option<Text<'a>>,
    pub stage_timestamp: Option<Text<'a>>,
    pub timestamp: Option<Text<'a>>,
    pub(crate) request_object: Body<'a>,
    pub(crate) response_object: Body<'a>,
    pub(crate) annotations: Annotations<'a>,
}

impl<'a> AuditView<'a> {
    /// A view borrowing an owned event (whose bodies are redacted already).
    pub fn from_event(ev: &'a AuditEvent) -> AuditView<'a> {
        AuditView {
            kind: Cow::Borrowed(&ev.kind),
            api_version: Cow::Borrowed(&ev.api_version),
            level: Cow::Borrowed(&ev.level),
            audit_id: Cow::Borrowed(&ev.audit_id),
            stage: Cow::Borrowed(&ev.stage),
            request_uri: Cow::Borrowed(&ev.request_uri),
            verb: Cow::Borrowed(&ev.verb),
            user: UserView::from_info(&ev.user),
            impersonated_user: ev.impersonated_user.as_ref().map(UserView::from_info),
            source_ips: texts(&ev.source_ips),
            user_agent: opt_text(&ev.user_agent),
            object_ref: ev.object_ref.as_ref().map(ObjectRefView::from_ref),
            response_status: ev.response_status.as_ref().map(|s| StatusView {
                code: s.code,
                status: opt_text(&s.status),
                reason: opt_text(&s.reason),
                message: opt_text(&s.message),
            }),
            request_received_timestamp: opt_text(&ev.request_received_timestamp),
            stage_timestamp: opt_text(&ev.stage_timestamp),
            timestamp: opt_text(&ev.timestamp),
            request_object: Body::owned(ev.request_object.as_ref().map(Cow::Borrowed)),
            response_object: Body::owned(ev.response_object.as_ref().map(Cow::Borrowed)),
            annotations: Annotations::Map(Cow::Borrowed(&ev.annotations)),
        }
    }

    /// The owned event (bodies parsed and redacted).
    pub fn into_event(self) -> AuditEvent {
        AuditEvent {
            kind: self.kind.into_owned(),
            api_version: self.api_version.into_owned(),
            level: self.level.into_owned(),
            audit_id: self.audit_id.into_owned(),
            stage: self.stage.into_owned(),
            request_uri: self.request_uri.into_owned(),
            verb: self.verb.into_owned(),
            user: self.user.into_info(),
            impersonated_user: self.impersonated_user.map(UserView::into_info),
            source_ips: owned_texts(self.source_ips),
            user_agent: opt_owned(self.user_agent),
            object_ref: self.object_ref.map(ObjectRefView::into_ref),
            response_status: self.response_status.map(|s| ResponseStatus {
                code: s.code,
                status: opt_owned(s.status),
                reason: opt_owned(s.reason),
                message: opt_owned(s.message),
            }),
            request_object: self.request_object.into_value(),
            response_object: self.response_object.into_value(),
            request_received_timestamp: opt_owned(self.request_received_timestamp),
            stage_timestamp: opt_owned(self.stage_timestamp),
            timestamp: opt_owned(self.timestamp),
            annotations: self.annotations.into_map(),
        }
    }

    /// The owned event (bodies parsed and redacted), leaving the view as it is.
    pub fn to_event(&self) -> AuditEvent {
        self.clone().into_event()
    }

    /// The event's time: `stageTimestamp`, else `requestReceivedTimestamp`, else `timestamp`.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        crate::audit::first_time([
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

    /// The request body, redacted, as a `Value` (built on first call; rules read
    /// [`AuditView::request_body`]).
    pub fn request_object(&self) -> Option<&Value> {
        self.request_object.value()
    }

    /// The response body, redacted, as a `Value` (built on first call).
    pub fn response_object(&self) -> Option<&Value> {
        self.response_object.value()
    }

    /// The request body, redacted.
    pub fn request_body(&self) -> Option<&Node<'a>> {
        self.request_object.node()
    }

    /// The response body, redacted.
    pub fn response_body(&self) -> Option<&Node<'a>> {
        self.response_object.node()
    }

    /// Name of the target object, falling back to the request object's `metadata.name`
    /// (creates have no name in `objectRef`), then the response object's.
    pub fn target_name(&self) -> Option<&str> {
        self.object_ref
            .as_ref()
            .and_then(|o| o.name.as_deref())
            .or_else(|| self.request_body()?.at(&["metadata", "name"])?.as_str())
            .or_else(|| self.response_body()?.at(&["metadata", "name"])?.as_str())
    }

    /// The last entry of `sourceIPs` (the only one the API server vouches for).
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ips.last().map(|s| s.as_ref())
    }

    /// An annotation's value as text.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key)
    }

    /// The pod spec inside the request object (see [`AuditEvent::request_pod_spec`]).
    pub fn request_pod_spec(&self) -> Option<&Node<'a>> {
        let obj = self.request_body()?;
        match self.resource() {
            Some("deployments" | "daemonsets" | "statefulsets" | "replicasets" | "jobs" | "replicationcontrollers") => {
                obj.at(&["spec", "template", "spec"])
            }
            Some("cronjobs") => obj.at(&["spec", "jobTemplate", "spec", "template", "spec"]),
            Some("podtemplates") => obj.at(&["template", "spec"]),
            _ => obj.get("spec"),
        }
    }

    /// The event as a JSON value (for `jevt.value` pointers outside the bodies).
    pub fn to_value(&self) -> Value {
        self.to_event().to_value()
    }
}

// Generic in the lifetime (rather than `'static`): views are invariant in it (their caches
// are cells).
impl<'a> From<AuditEvent> for AuditView<'a> {
    /// Moves an owned event into a view (no copies).
    fn from(ev: AuditEvent) -> AuditView<'a> {
        let user = |u: UserInfo| UserView {
            username: Cow::Owned(u.username),
            uid: u.uid.map(Cow::Owned),
            groups: u.groups.into_iter().map(Cow::Owned).collect(),
            extra: u.extra.map(|v| Json::Value(Cow::Owned(v))),
        };
        let owned = |s: Option<String>| s.map(Cow::Owned);
        AuditView {
            kind: Cow::Owned(ev.kind),
            api_version: Cow::Owned(ev.api_version),
            level: Cow::Owned(ev.level),
            audit_id: Cow::Owned(ev.audit_id),
            stage: Cow::Owned(ev.stage),
            request_uri: Cow::Owned(ev.request_uri),
            verb: Cow::Owned(ev.verb),
            user: user(ev.user),
            impersonated_user: ev.impersonated_user.map(user),
            source_ips: ev.source_ips.into_iter().map(Cow::Owned).collect(),
            user_agent: owned(ev.user_agent),
            object_ref: ev.object_ref.map(|o| ObjectRefView {
                resource: owned(o.resource),
                namespace: owned(o.namespace),
                name: owned(o.name),
                uid: owned(o.uid),
                api_group: owned(o.api_group),
                api_version: owned(o.api_version),
                resource_version: owned(o.resource_version),
                subresource: owned(o.subresource),
            }),
            response_status: ev.response_status.map(|s| StatusView {
                code: s.code,
                status: owned(s.status),
                reason: owned(s.reason),
                message: owned(s.message),
            }),
            request_received_timestamp: owned(ev.request_received_timestamp),
            stage_timestamp: owned(ev.stage_timestamp),
            timestamp: owned(ev.timestamp),
            request_object: Body::owned(ev.request_object.map(Cow::Owned)),
            response_object: Body::owned(ev.response_object.map(Cow::Owned)),
            annotations: Annotations::Map(Cow::Owned(ev.annotations)),
        }
    }
}

/// One decoded input event in evaluation form; see [`Event`] for the owned form.
// The audit view is the common case; boxing it would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EventView<'a> {
    Audit(AuditView<'a>),
    Process(Cow<'a, ProcessEvent>),
}

impl<'a> EventView<'a> {
    /// A view borrowing an owned event.
    pub fn from_event(event: &'a Event) -> EventView<'a> {
        match event {
            Event::Audit(a) => EventView::Audit(AuditView::from_event(a)),
            Event::Process(p) => EventView::Process(Cow::Borrowed(p)),
        }
    }

    /// The owned event (bodies parsed and redacted).
    pub fn into_event(self) -> Event {
        match self {
            EventView::Audit(a) => Event::Audit(Box::new(a.into_event())),
            EventView::Process(p) => Event::Process(p.into_owned()),
        }
    }

    /// The owned event, leaving the view as it is.
    pub fn to_event(&self) -> Event {
        self.clone().into_event()
    }

    /// The time the event happened, if it carries one.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            EventView::Audit(a) => a.time(),
            EventView::Process(p) => process_time(p),
        }
    }
}

impl<'a> From<Event> for EventView<'a> {
    /// Moves an owned event into a view (no copies).
    fn from(event: Event) -> EventView<'a> {
        match event {
            Event::Audit(a) => EventView::Audit(AuditView::from(*a)),
            Event::Process(p) => EventView::Process(Cow::Owned(p)),
        }
    }
}

fn process_time(p: &ProcessEvent) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&p.time).ok().map(|t| t.with_timezone(&Utc))
}

/// What the detector evaluates: an owned [`Event`] or an [`EventView`].
pub trait AsEventView {
    /// Calls `f` with this event in evaluation form.
    fn with_view<R>(&self, f: impl FnOnce(&EventView<'_>) -> R) -> R;

    /// The time the event happened, if it carries one.
    fn event_time(&self) -> Option<DateTime<Utc>> {
        self.with_view(|v| v.time())
    }
}

impl AsEventView for Event {
    fn with_view<R>(&self, f: impl FnOnce(&EventView<'_>) -> R) -> R {
        f(&EventView::from_event(self))
    }

    fn event_time(&self) -> Option<DateTime<Utc>> {
        match self {
            Event::Audit(a) => a.time(),
            Event::Process(p) => process_time(p),
        }
    }
}

impl AsEventView for EventView<'_> {
    fn with_view<R>(&self, f: impl FnOnce(&EventView<'_>) -> R) -> R {
        f(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_round_trips_through_views() {
        let v = json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a",
            "stage":"ResponseComplete","requestURI":"/api/v1/namespaces/d/configmaps","verb":"create",
            "user":{"username":"u","groups":["g1","g2"],"extra":{"k":["v"]}},"impersonatedUser":{"username":"i"},
            "sourceIPs":["1.2.3.4"],"userAgent":"ua","objectRef":{"resource":"configmaps","namespace":"d"},
            "responseStatus":{"code":201,"reason":"r"},"requestObject":{"kind":"ConfigMap","metadata":{"name":"c"}},
            "stageTimestamp":"2026-11-27T09:00:00Z","annotations":{"a":"1","b":"2"}});
        let ev = AuditEvent::from_value(v).unwrap();
        let view = AuditView::from_event(&ev);
        assert_eq!(view.target_name(), Some("c"));
        assert_eq!(view.annotation("b"), Some("2"));
        assert_eq!(view.to_event(), ev);
        assert_eq!(AuditView::from(ev.clone()).into_event(), ev);
        let secret = r#"{"auditID":"s","objectRef":{"resource":"secrets"},"requestObject":{"data":{"k":"c2VjcmV0"}}}"#;
        let (views, _, _) = crate::decode::decode_body_views("t", secret.as_bytes());
        let shown = format!("{views:?}");
        assert!(!shown.contains("c2VjcmV0") && shown.contains("<redacted>"), "{shown}");
        let event = Event::Audit(Box::new(ev));
        assert_eq!(EventView::from_event(&event).to_event(), event);
        assert_eq!(EventView::from(event.clone()).time(), crate::engine::event_time(&event));
    }
}
