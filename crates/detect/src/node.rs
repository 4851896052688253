//! A light JSON tree whose strings borrow from the input: how request/response bodies are
//! held for evaluation.
//!
//! Why not `serde_json::Value`: building one allocates every key and string and hashes every
//! key into an `IndexMap`, which for a Deployment body cost several times the rest of its
//! event's evaluation. A [`Node`] allocates one vector per object or array and nothing else.
//!
//! Invariant: a `Node` holds exactly what the `Value` parsed from the same JSON holds, and
//! [`Node::to_value`] gives that `Value`: numbers are the same [`Number`]s, objects keep their
//! members in input order and, like `Value`, keep one member per key (the first position,
//! the last value), and parsing fails where parsing a `Value` fails.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::redact::LAST_APPLIED;

/// One JSON value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Node<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Members in input order, one per key.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of object keys.
    pub fn at(&self, keys: &[&str]) -> Option<&Node<'a>> {
        keys.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Node<'a>)]> {
        match self {
            Node::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// The value as text, as rules see it: a string as it is, anything else as the compact
    /// JSON `Value::to_string` writes.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Node::String(s) => Cow::Borrowed(s),
            Node::Null => Cow::Borrowed("null"),
            Node::Bool(true) => Cow::Borrowed("true"),
            Node::Bool(false) => Cow::Borrowed("false"),
            Node::Number(n) => Cow::Owned(n.to_string()),
            Node::Array(_) | Node::Object(_) => Cow::Owned(self.to_value().to_string()),
        }
    }

    /// The equivalent `Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    map.insert(k.to_string(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }

    /// A tree borrowing the strings of a `Value`.
    pub fn from_value(v: &'a Value) -> Node<'a> {
        match v {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Cow::Borrowed(s)),
            Value::Array(items) => Node::Array(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => {
                Node::Object(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_value(v))).collect())
            }
        }
    }

    /// The same tree owning its strings.
    pub fn into_owned(self) -> Node<'static> {
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Number(n) => Node::Number(n),
            Node::String(s) => Node::String(Cow::Owned(s.into_owned())),
            Node::Array(items) => Node::Array(items.into_iter().map(Node::into_owned).collect()),
            Node::Object(members) => {
                Node::Object(members.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect())
            }
        }
    }

    /// True if redaction could change this value: it holds an object of kind
    /// `Secret`/`SecretList` or a last-applied annotation key (the test
    /// [`crate::redact::redact_value`] makes before rewriting anything).
    pub(crate) fn may_hold_secret(&self) -> bool {
        match self {
            Node::Object(members) => members.iter().any(|(k, v)| {
                (k == "kind" && matches!(v.as_str(), Some("Secret" | "SecretList")))
                    || k == LAST_APPLIED
                    || v.may_hold_secret()
            }),
            Node::Array(items) => items.iter().any(Node::may_hold_secret),
            _ => false,
        }
    }
}

/// Keeps one member per key as `serde_json::Map` does when it is filled in input order: the
/// position of the first occurrence, the value of the last.
fn dedupe<'a>(members: &mut Vec<(Cow<'a, str>, Node<'a>)>) {
    // Duplicate keys are rare; finding none must be cheap. Small objects are compared pairwise.
    let has_duplicate = if members.len() <= 32 {
        members.iter().enumerate().any(|(i, (k, _))| members[..i].iter().any(|(p, _)| p == k))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        !members.iter().all(|(k, _)| seen.insert(k.as_ref()))
    };
    if !has_duplicate {
        return;
    }
    let mut unique: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(members.len());
    for (k, v) in members.drain(..) {
        match unique.iter_mut().find(|(u, _)| *u == k) {
            Some(slot) => slot.1 = v,
            None => unique.push((k, v)),
        }
    }
    *members = unique;
}

/// A key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node<'a>, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Accepts what `Value`'s visitor accepts and builds the same content.
struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        // Sized for typical bodies: growing from empty reallocated most vectors twice.
        let mut items = Vec::with_capacity(4);
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(8);
        while let Some(Key(k)) = map.next_key()? {
            members.push((k, map.next_value()?));
        }
        dedupe(&mut members);
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_value_holds() {
        let texts = [
            r#"{"a":1,"b":[true,false,null,-1,1.5,1e2,0.1,12345678901234567890,-9223372036854775809,1e300],"c":"x\"y\u00e9","a":{"z":2}}"#,
            r#"{"k":"v","k":"w","m":{"k":1,"j":2,"k":3}}"#,
            r#"[{"kind":"Secret"},"s",{}]"#,
        ];
        for text in texts {
            let node: Node<'_> = serde_json::from_str(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(node.to_value(), value, "{text}");
            assert_eq!(node.to_value().to_string(), value.to_string());
            assert_eq!(Node::from_value(&value), node);
            assert_eq!(node.text(), value.to_string());
            for (k, v) in value.as_object().into_iter().flatten() {
                assert_eq!(
                    node.get(k).unwrap().text(),
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }
                );
            }
        }
        let node: Node<'_> = serde_json::from_str(texts[0]).unwrap();
        for (n, v) in node
            .get("b")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .zip(serde_json::from_str::<Value>(texts[0]).unwrap()["b"].as_array().unwrap())
        {
            assert_eq!(n.text(), v.to_string());
        }
        assert!(matches!(node.get("c"), Some(Node::String(Cow::Owned(_)))), "escaped strings are unescaped");
        // Parsing fails where parsing a Value fails.
        for bad in [r#"{"s":"\ud800"}"#, "[1e999]", "{\"a\":1,}"] {
            assert!(
                serde_json::from_str::<Node<'_>>(bad).is_err() && serde_json::from_str::<Value>(bad).is_err(),
                "{bad}"
            );
        }
        let many: String =
            format!("{{{}}}", (0..40).map(|i| format!("\"k{}\":{i}", i % 35)).collect::<Vec<_>>().join(","));
        let node: Node<'_> = serde_json::from_str(&many).unwrap();
        assert_eq!(node.to_value(), serde_json::from_str::<Value>(&many).unwrap());
    }

    #[test]
    fn sees_what_redaction_would_touch() {
        for (text, touched) in [
            (r#"{"kind":"ConfigMap","data":{"kind":"Secret"}}"#, true),
            (r#"{"items":[{"kind":"SecretList"}]}"#, true),
            (r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}"}}}"#, true),
            (r#"{"kind":"ConfigMap","data":{"k":"Secret"}}"#, false),
        ] {
            let node: Node<'_> = serde_json::from_str(text).unwrap();
            assert_eq!(node.may_hold_secret(), touched, "{text}");
        }
    }
}
