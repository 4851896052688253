//! YAML → JSON conversion with line numbers, on top of yaml-rust2's event parser.
//!
//! Why not serde_yaml: we need the line of every document (and of every `items[]` entry of a
//! `kind: List`), per-document error recovery, and a bound on alias expansion; an event parser
//! gives all three. Scalars resolve with the YAML 1.2 core schema (what JSON users expect);
//! `<<` merge keys are honoured; aliases are expanded up to [`MAX_NODES`] nodes per document so
//! an alias bomb is an error instead of an out-of-memory kill.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Upper bound on the number of JSON nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 5_000_000;

/// One parsed YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's value; `Value::Null` for an empty document.
    pub value: Value,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// 1-based start line of each entry of a root mapping's `items` sequence (for `kind: List`).
    pub item_lines: Vec<usize>,
}

/// A document that is not valid YAML (or expands too far).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong, in the parser's words.
    pub message: String,
}

/// Parses one YAML document (the text between two `---` lines). `first_line` is the 1-based
/// line of `text` in its file, so positions point into the file. Returns `Ok(None)` when the
/// text holds only comments or whitespace.
pub fn parse_document(text: &str, first_line: usize) -> Result<Option<Document>, YamlError> {
    let offset = first_line.saturating_sub(1);
    // yaml-rust2 is not fuzzed by us; a panic inside it must not take the caller down.
    let parsed = std::panic::catch_unwind(|| Builder::new(offset).run(text));
    let result = match parsed {
        Ok(result) => result,
        Err(_) => Err(YamlError { line: first_line, message: "the YAML parser failed on this document".into() }),
    };
    match result {
        Err(e) if !e.message.contains("alias bomb") => second_opinion(text, first_line).ok_or(e),
        other => other,
    }
}

/// yaml-rust2 is stricter than libyaml (which kubectl and Helm users' files are tested
/// against) in a few corners, e.g. a multi-line double-quoted scalar whose continuation line
/// is indented like its key. When it refuses a document, libyaml (serde_yaml) gets a second
/// look; a document it accepts loads with its start line but without per-item lines.
fn second_opinion(text: &str, first_line: usize) -> Option<Option<Document>> {
    let value: Value = serde_yaml::from_str(text).ok()?;
    if value.is_null() {
        return Some(None);
    }
    let skipped = text
        .lines()
        .take_while(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t.starts_with("---") || t.starts_with('%')
        })
        .count();
    let line = first_line + skipped;
    Some(Some(Document { value, line, item_lines: Vec::new() }))
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes_before: usize,
        /// Set when this sequence is the root mapping's `items`.
        record_lines: bool,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        nodes_before: usize,
        /// Values merged with `<<`; they yield to keys written in the mapping itself.
        merged: Vec<Map<String, Value>>,
    },
}

struct Builder {
    offset: usize,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Value, usize)>,
    nodes: usize,
    root: Option<Value>,
    root_line: usize,
    item_lines: Vec<usize>,
}

impl Builder {
    fn new(offset: usize) -> Self {
        Builder {
            offset,
            stack: Vec::new(),
            anchors: Default::default(),
            nodes: 0,
            root: None,
            root_line: 0,
            item_lines: Vec::new(),
        }
    }

    fn err(&self, mark: Marker, message: impl Into<String>) -> YamlError {
        YamlError { line: mark.line() + self.offset, message: message.into() }
    }

    fn run(mut self, text: &str) -> Result<Option<Document>, YamlError> {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser
                .next_token()
                .map_err(|e| YamlError { line: e.marker().line() + self.offset, message: e.info().to_string() })?;
            match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::DocumentStart => {
                    if self.root.is_some() {
                        return Err(
                            self.err(mark, "a second document starts here; separate documents with a line `---`")
                        );
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let value = resolve_scalar(text, style, tag.as_ref());
                    self.count(1, mark)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, (value.clone(), 1));
                    }
                    self.push_value(value, mark)?;
                }
                Event::Alias(id) => {
                    let Some((value, size)) = self.anchors.get(&id).cloned() else {
                        return Err(self.err(mark, "alias refers to an unknown anchor"));
                    };
                    self.count(size, mark)?;
                    self.push_value(value, mark)?;
                }
                Event::SequenceStart(anchor, _) => {
                    self.note_start(mark);
                    let record_lines = self.stack.len() == 1
                        && matches!(self.stack.last(), Some(Frame::Map { key: Some(k), .. }) if k == "items");
                    self.count(1, mark)?;
                    self.stack.push(Frame::Seq { items: Vec::new(), anchor, nodes_before: self.nodes, record_lines });
                }
                Event::MappingStart(anchor, _) => {
                    self.note_start(mark);
                    self.count(1, mark)?;
                    self.stack.push(Frame::Map {
                        map: Map::new(),
                        key: None,
                        anchor,
                        nodes_before: self.nodes,
                        merged: Vec::new(),
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.stack.pop() else {
                        return Err(self.err(mark, "unbalanced collection end"));
                    };
                    let (value, anchor, nodes_before) = match frame {
                        Frame::Seq { items, anchor, nodes_before, .. } => (Value::Array(items), anchor, nodes_before),
                        Frame::Map { mut map, anchor, nodes_before, merged, .. } => {
                            for source in merged {
                                for (k, v) in source {
                                    map.entry(k).or_insert(v);
                                }
                            }
                            (Value::Object(map), anchor, nodes_before)
                        }
                    };
                    if anchor > 0 {
                        let size = self.nodes - nodes_before + 1;
                        self.anchors.insert(anchor, (value.clone(), size));
                    }
                    self.push_value(value, mark)?;
                }
            }
        }
        Ok(self.root.map(|value| Document { value, line: self.root_line, item_lines: self.item_lines }))
    }

    fn count(&mut self, n: usize, mark: Marker) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self.err(mark, format!("document expands to more than {MAX_NODES} nodes (alias bomb?)")));
        }
        Ok(())
    }

    /// Records where a collection starts: the document line, or a `kind: List` item line.
    fn note_start(&mut self, mark: Marker) {
        let line = mark.line() + self.offset;
        if self.stack.is_empty() && self.root.is_none() {
            self.root_line = line;
        }
        if let Some(Frame::Seq { record_lines: true, .. }) = self.stack.last() {
            self.item_lines.push(line);
        }
    }

    fn push_value(&mut self, value: Value, mark: Marker) -> Result<(), YamlError> {
        let Some(top) = self.stack.last_mut() else {
            if self.root.is_none() {
                if self.root_line == 0 {
                    self.root_line = mark.line() + self.offset;
                }
                self.root = Some(value);
            }
            return Ok(());
        };
        match top {
            Frame::Seq { items, record_lines, .. } => {
                if *record_lines && !value.is_object() && !value.is_array() {
                    let line = mark.line() + self.offset;
                    self.item_lines.push(line);
                }
                items.push(value);
            }
            Frame::Map { map, key, merged, .. } => match key.take() {
                None => *key = Some(key_string(value)),
                Some(k) if k == "<<" => match value {
                    Value::Object(m) => merged.push(m),
                    Value::Array(list) => {
                        for v in list {
                            if let Value::Object(m) = v {
                                merged.push(m);
                            }
                        }
                    }
                    other => {
                        map.insert(k, other);
                    }
                },
                Some(k) => {
                    map.insert(k, value);
                }
            },
        }
        Ok(())
    }
}

/// JSON object keys must be strings: scalars become their text, collections compact JSON.
fn key_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Resolves a scalar with the YAML 1.2 core schema. Takes the parser's string so a string
/// value is moved into the JSON value instead of copied (most scalars in manifests are strings).
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag.filter(|t| t.handle == "!!" || t.handle == "tag:yaml.org,2002:") {
        match tag.suffix.as_str() {
            "str" | "binary" | "timestamp" => return Value::String(text),
            "null" => return Value::Null,
            "bool" => return parse_bool(&text).map(Value::Bool).unwrap_or(Value::String(text)),
            "int" | "float" => return parse_number(&text).unwrap_or(Value::String(text)),
            _ => {}
        }
    }
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = parse_bool(&text) {
        return Value::Bool(b);
    }
    parse_number(&text).unwrap_or(Value::String(text))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_number(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::from);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    match digits {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => return Some(Value::String(text.to_string())),
        _ => {}
    }
    // YAML 1.2 core float: digits with an optional fraction and exponent; nothing else
    // (so "1.2.3", "1e", "-" stay strings).
    let valid = {
        let (mantissa, exponent) = match digits.find(['e', 'E']) {
            Some(i) => (&digits[..i], Some(&digits[i + 1..])),
            None => (digits, None),
        };
        let mut parts = mantissa.splitn(2, '.');
        let int_part = parts.next().unwrap_or("");
        let frac_part = parts.next();
        let int_ok = int_part.bytes().all(|b| b.is_ascii_digit());
        let frac_ok = frac_part.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()));
        let has_digit = !int_part.is_empty() || frac_part.is_some_and(|f| !f.is_empty());
        let exp_ok = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        });
        int_ok && frac_ok && has_digit && exp_ok && (frac_part.is_some() || exponent.is_some())
    };
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number)
}

/// Renders a JSON value as block-style YAML (for `-o yaml`).
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    let yaml = json_to_yaml(value);
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    // Emitting into a String cannot fail for values built from JSON.
    if emitter.dump(&yaml).is_err() {
        return serde_json::to_string_pretty(value).unwrap_or_default();
    }
    // YamlEmitter starts with "---"; keep the marker so multi-document output stays valid.
    out.push('\n');
    out
}

fn json_to_yaml(value: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Yaml::Integer(i)
            } else {
                Yaml::Real(n.to_string())
            }
        }
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(json_to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = yaml_rust2::yaml::Hash::new();
            for (k, v) in map {
                hash.insert(Yaml::String(k.clone()), json_to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(text: &str) -> Document {
        parse_document(text, 1).unwrap().unwrap()
    }

    #[test]
    fn core_schema_scalars() {
        let d = doc("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 1.2.3\ng: 0x1F\nh: -3\ni: 1e3\nj: yes\nk: .5\n");
        assert_eq!(
            d.value,
            json!({"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"1.2.3","g":31,"h":-3,"i":1000.0,"j":"yes","k":0.5})
        );
    }

    #[test]
    fn lines_are_offset_and_items_tracked() {
        let text = "# comment\napiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  apiVersion: v1\n- kind: Service\n  apiVersion: v1\n";
        let d = parse_document(text, 10).unwrap().unwrap();
        assert_eq!(d.line, 11);
        assert_eq!(d.item_lines, vec![14, 16]);
    }

    #[test]
    fn anchors_and_merge_keys() {
        let d = doc("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(d.value["derived"], json!({"y":3,"x":1}));
        assert_eq!(d.value["list"][0], json!({"x":1,"y":2}));
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse_document(&text, 1).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{err}");
    }

    #[test]
    fn syntax_error_points_at_line() {
        let err = parse_document("a: 1\nb: [1, 2\nc: 3\n", 5).unwrap_err();
        assert!(err.line >= 6, "{err}");
    }

    #[test]
    fn libyaml_accepts_what_yaml_rust2_refuses() {
        // gatekeeper-library's httpsonly template writes its message like this.
        let text = "# c\nmsg: \"first part\n  second part\"\nx:\n  y: \"a\n  b\"\n";
        let d = parse_document(text, 3).unwrap().unwrap();
        assert_eq!(d.value["x"]["y"], "a b");
        assert_eq!(d.line, 4);
    }

    #[test]
    fn comments_only_is_none() {
        assert_eq!(parse_document("# just a comment\n\n", 1).unwrap(), None);
    }

    #[test]
    fn yaml_round_trip() {
        let v = json!({"a": [1, "two", {"b": null}], "c": 1.5, "d": "true"});
        let text = to_yaml_string(&v);
        assert_eq!(doc(&text).value, v);
    }
}
