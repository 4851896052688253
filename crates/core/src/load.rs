//! Loading Kubernetes objects from files, directories and stdin.
//!
//! Accepts multi-document YAML (documents split on `---` lines), JSON (an object, an array of
//! objects, or a `kind: List`), `*List` kinds (each item becomes its own object and keeps its
//! own line) and Helm-rendered output (the `# Source: chart/templates/x.yaml` comment is kept
//! as [`Source::template`]). Directories are walked recursively in sorted order, taking
//! `.yaml`, `.yml` and `.json` files and skipping hidden entries, so runs are deterministic.
//!
//! A malformed document never stops the load: it becomes a [`LoadError`] with file:line and
//! the next document is read, unless [`LoadOptions::fail_fast`] is set.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::yaml;

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// File path as given (or found below a given directory); `<stdin>` for standard input.
    pub path: String,
    /// 1-based line where the object starts (0 when unknown).
    pub line: usize,
    /// Helm template the document was rendered from (`# Source:` comment), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 { write!(f, "{}:{}", self.path, self.line) } else { f.write_str(&self.path) }
    }
}

/// A Kubernetes object (as JSON) and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedObject {
    pub value: Value,
    pub source: Source,
}

impl SourcedObject {
    /// `apiVersion` of the object ("" when absent).
    pub fn api_version(&self) -> &str {
        self.value.get("apiVersion").and_then(Value::as_str).unwrap_or("")
    }

    /// `kind` of the object ("" when absent).
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// `metadata.name` ("" when absent).
    pub fn name(&self) -> &str {
        self.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }

    /// `Kind/namespace/name` or `Kind/name`: how messages name the object.
    pub fn display_name(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{}/{}", self.kind(), ns, self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }
}

/// A document or file that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct LoadError {
    /// Where: file and line (line 0 when the whole file failed).
    pub at: Source,
    /// What was wrong and, where useful, what to do.
    pub message: String,
}

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Stop at the first error instead of skipping the bad document.
    pub fail_fast: bool,
    /// Require `apiVersion` and `kind` on every object (documents without them are errors).
    pub require_kind: bool,
    /// Files larger than this are refused (protects memory).
    pub max_file_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { fail_fast: false, require_kind: true, max_file_bytes: 256 * 1024 * 1024 }
    }
}

/// Objects loaded and errors met, both in input order.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    pub objects: Vec<SourcedObject>,
    pub errors: Vec<LoadError>,
}

impl LoadResult {
    fn extend(&mut self, other: LoadResult) {
        self.objects.extend(other.objects);
        self.errors.extend(other.errors);
    }
}

/// Loads every object below the given paths (files, directories, or `-` for stdin).
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> LoadResult {
    let inputs = list_inputs(paths, opts);
    let mut result = LoadResult::default();
    if opts.fail_fast {
        for input in &inputs {
            if !result.errors.is_empty() {
                break;
            }
            result.extend(input.load(opts));
        }
    } else {
        // Parsing dominates large audits: inputs are parsed on all cores, and their results
        // kept in input order, so output stays deterministic.
        use rayon::prelude::*;
        let loaded: Vec<LoadResult> = inputs.par_iter().map(|i| i.load(opts)).collect();
        for r in loaded {
            result.extend(r);
        }
    }
    result
}

/// One input of a load, in the order [`list_inputs`] found it.
#[derive(Debug)]
pub enum Input {
    /// A file given or found below a given directory.
    File(PathBuf),
    /// Standard input, read once (it cannot be read again).
    Stdin(String),
    /// A path that could not be used (its error is reported in order).
    Failed(LoadError),
}

/// Lists the inputs below `paths` without parsing them: files as given, directories walked
/// ([`manifest_files`]), `-` read from stdin (bounded by [`LoadOptions::max_file_bytes`]).
/// With [`Input::load`] this lets a caller load one file at a time instead of every object at
/// once (see `keelwatch_policy::audit::audit_paths`).
pub fn list_inputs(paths: &[PathBuf], opts: &LoadOptions) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            let limit = opts.max_file_bytes;
            inputs.push(match std::io::stdin().lock().take(limit + 1).read_to_string(&mut text) {
                Ok(n) if n as u64 > limit => {
                    Input::Failed(file_error("<stdin>", format!("input is larger than {limit} bytes")))
                }
                Ok(_) => Input::Stdin(text),
                Err(e) => Input::Failed(file_error("<stdin>", format!("cannot read standard input: {e}"))),
            });
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut errors = Vec::new();
                let files = manifest_files(path, &mut errors);
                inputs.extend(errors.into_iter().map(Input::Failed));
                inputs.extend(files.into_iter().map(Input::File));
            }
            Ok(_) => inputs.push(Input::File(path.clone())),
            Err(e) => inputs.push(Input::Failed(file_error(
                &path.display().to_string(),
                format!("cannot open: {e} (give a file, a directory or - for stdin)"),
            ))),
        }
    }
    inputs
}

impl Input {
    /// Loads the input's objects (a [`Input::Failed`] yields its error).
    pub fn load(&self, opts: &LoadOptions) -> LoadResult {
        match self {
            Input::File(path) => load_file(path, opts),
            Input::Stdin(text) => load_str(text, "<stdin>", opts),
            Input::Failed(e) => LoadResult { objects: vec![], errors: vec![e.clone()] },
        }
    }

    /// The objects of kind `kind` in this input, skipping the parse when the text cannot hold
    /// one. Errors are not reported here (the full [`Input::load`] reports them).
    ///
    /// Why the text test is exact: a `kind` value spelled without its literal characters
    /// needs an escape (YAML double-quoted or JSON `\uXXXX`, or a `\` line continuation), so
    /// a text without both `kind` as a substring and any backslash holds no such object.
    /// Folded multi-line scalars insert a space, and an alias repeats an anchored value that
    /// is itself spelled in the text.
    pub fn objects_of_kind(&self, kind: &str, opts: &LoadOptions) -> Vec<SourcedObject> {
        let owned;
        let (text, origin): (&str, String) = match self {
            Input::Failed(_) => return Vec::new(),
            Input::Stdin(text) => (text, "<stdin>".to_string()),
            Input::File(path) => {
                let Ok(text) = read_text(path, opts) else { return Vec::new() };
                owned = text;
                (&owned, path.display().to_string())
            }
        };
        let bytes = text.as_bytes();
        if memchr::memmem::find(bytes, kind.as_bytes()).is_none() && memchr::memchr(b'\\', bytes).is_none() {
            return Vec::new();
        }
        let mut objects = load_str(text, &origin, opts).objects;
        objects.retain(|o| o.kind() == kind);
        objects
    }
}

/// Manifest files below a directory, sorted, hidden entries skipped.
pub fn manifest_files(dir: &Path, errors: &mut Vec<LoadError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let ext = e.path().extension().and_then(|x| x.to_str()).unwrap_or("");
                if matches!(ext, "yaml" | "yml" | "json") {
                    files.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(e) => {
                let at = e.path().map(|p| p.display().to_string()).unwrap_or_else(|| dir.display().to_string());
                errors.push(file_error(&at, format!("cannot read directory entry: {e}")));
            }
        }
    }
    files
}

/// Loads one file.
pub fn load_file(path: &Path, opts: &LoadOptions) -> LoadResult {
    match read_text(path, opts) {
        Ok(text) => load_str(&text, &path.display().to_string(), opts),
        Err(e) => LoadResult { objects: vec![], errors: vec![e] },
    }
}

/// A file's text, refused when over [`LoadOptions::max_file_bytes`], unreadable or not UTF-8.
fn read_text(path: &Path, opts: &LoadOptions) -> Result<String, LoadError> {
    let name = path.display().to_string();
    if let Ok(m) = std::fs::metadata(path)
        && m.len() > opts.max_file_bytes
    {
        return Err(file_error(
            &name,
            format!("file is {} bytes, over the {} byte limit", m.len(), opts.max_file_bytes),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| file_error(&name, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        file_error(&name, format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}

/// Loads objects from text; `origin` names it in sources and errors.
pub fn load_str(text: &str, origin: &str, opts: &LoadOptions) -> LoadResult {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut result = LoadResult::default();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON (possibly several concatenated values, as `kubectl get -o json` loops produce).
        // serde_json keeps big integers exact, which the YAML path would not.
        if let Some(r) = load_json(text, origin, opts) {
            return r;
        }
    }
    for chunk in split_documents(text) {
        if opts.fail_fast && !result.errors.is_empty() {
            break;
        }
        match yaml::parse_document(chunk.text, chunk.first_line) {
            Ok(None) => {}
            Ok(Some(doc)) => {
                let source = Source { path: origin.to_string(), line: doc.line, template: chunk.template.clone() };
                push_value(doc.value, source, &doc.item_lines, opts, &mut result);
            }
            Err(e) => result.errors.push(LoadError {
                at: Source { path: origin.to_string(), line: e.line, template: chunk.template.clone() },
                message: format!("invalid YAML: {} (document skipped)", e.message),
            }),
        }
    }
    result
}

fn load_json(text: &str, origin: &str, opts: &LoadOptions) -> Option<LoadResult> {
    let mut result = LoadResult::default();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                let line = line_of_offset(text, start + leading_ws(&text[start..]));
                let source = Source { path: origin.to_string(), line, template: None };
                push_value(value, source, &[], opts, &mut result);
            }
            Some(Err(e)) => {
                if result.objects.is_empty() && result.errors.is_empty() && e.line() <= 1 {
                    // Not JSON after all (e.g. a YAML flow mapping): let the YAML path try.
                    return None;
                }
                result.errors.push(LoadError {
                    at: Source { path: origin.to_string(), line: e.line(), template: None },
                    message: format!("invalid JSON: {e} (rest of file skipped)"),
                });
                break;
            }
        }
    }
    Some(result)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Turns one parsed document into objects: plain objects, `*List` kinds, JSON arrays.
fn push_value(value: Value, source: Source, item_lines: &[usize], opts: &LoadOptions, out: &mut LoadResult) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                push_value(item, source.clone(), &[], opts, out);
            }
        }
        Value::Object(map) => {
            let is_list = map.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array);
            if is_list {
                let Some(Value::Array(items)) = map.get("items").cloned() else { return };
                for (i, item) in items.into_iter().enumerate() {
                    let line = item_lines.get(i).copied().unwrap_or(source.line);
                    let item_source = Source { line, ..source.clone() };
                    push_value(item, item_source, &[], opts, out);
                }
                return;
            }
            let value = Value::Object(map);
            if opts.require_kind {
                let missing: Vec<&str> = ["apiVersion", "kind"]
                    .into_iter()
                    .filter(|k| value.get(*k).and_then(Value::as_str).is_none_or(str::is_empty))
                    .collect();
                if !missing.is_empty() {
                    out.errors.push(LoadError {
                        at: source,
                        message: format!(
                            "not a Kubernetes object: missing {} (every document needs apiVersion and kind)",
                            missing.join(" and ")
                        ),
                    });
                    return;
                }
            }
            out.objects.push(SourcedObject { value, source });
        }
        other => out.errors.push(LoadError {
            at: source,
            message: format!(
                "not a Kubernetes object: the document is a {} (expected a mapping with apiVersion and kind)",
                kind_name(&other)
            ),
        }),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

fn file_error(path: &str, message: String) -> LoadError {
    LoadError { at: Source { path: path.to_string(), line: 0, template: None }, message }
}

struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
    template: Option<String>,
}

/// Splits a YAML stream into documents at `---` lines (and after `...` lines). Splitting
/// before parsing lets one broken document be skipped while the others still load.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut line_no = 1usize;
    let mut after_end_marker = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if is_start || after_end_marker && !bare.trim().is_empty() && !bare.starts_with('#') {
            if offset > start {
                chunks.push(make_chunk(&text[start..offset], start_line));
            }
            start = offset;
            start_line = line_no;
            after_end_marker = false;
        }
        offset += line.len();
        line_no += 1;
        if is_end {
            chunks.push(make_chunk(&text[start..offset - line.len()], start_line));
            start = offset;
            start_line = line_no;
            after_end_marker = true;
        }
    }
    if offset > start {
        chunks.push(make_chunk(&text[start..offset], start_line));
    }
    chunks
}

fn make_chunk(text: &str, first_line: usize) -> Chunk<'_> {
    let template = text
        .lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with('#') || l.starts_with("---"))
        .find_map(|l| l.strip_prefix("# Source:").map(|s| s.trim().to_string()));
    Chunk { text, first_line, template }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> LoadResult {
        load_str(text, "t.yaml", &LoadOptions::default())
    }

    #[test]
    fn multi_document_with_lines() {
        let r = load(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n# c\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n",
        );
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[0].source.line, 1);
        assert_eq!(r.objects[1].source.line, 6);
        assert_eq!(r.objects[1].name(), "b");
    }

    #[test]
    fn broken_document_is_skipped_with_line() {
        let r =
            load("apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: [Pod\n---\napiVersion: v1\nkind: Service\n");
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[1].kind(), "Service");
        assert_eq!(r.objects[1].source.line, 7);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].at.line >= 4 && r.errors[0].at.line <= 6, "{}", r.errors[0]);
        assert!(r.errors[0].to_string().starts_with("t.yaml:"));
    }

    #[test]
    fn fail_fast_stops() {
        let opts = LoadOptions { fail_fast: true, ..Default::default() };
        let r = load_str("kind: [\n---\napiVersion: v1\nkind: Pod\n", "x", &opts);
        assert_eq!(r.objects.len(), 0);
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn list_items_keep_their_lines() {
        let r = load(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\n",
        );
        assert_eq!(r.objects.len(), 2);
        assert_eq!((r.objects[0].source.line, r.objects[1].source.line), (4, 7));
    }

    #[test]
    fn json_list_and_array() {
        let text = r#"{"apiVersion":"v1","kind":"PodList","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","uid":18446744073709551615}}]}"#;
        let r = load_str(text, "x.json", &LoadOptions::default());
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.objects[0].value["metadata"]["uid"], serde_json::json!(18446744073709551615u64));
        let r = load_str(
            "[{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}, {\"kind\":\"Pod\"}]",
            "y.json",
            &LoadOptions::default(),
        );
        assert_eq!(r.objects.len(), 1);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].message.contains("missing apiVersion"));
    }

    #[test]
    fn helm_source_comment_kept() {
        let text = "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n# Source: app/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n";
        let r = load(text);
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[0].source.template.as_deref(), Some("app/templates/deploy.yaml"));
        assert_eq!(r.objects[1].source.template.as_deref(), Some("app/templates/svc.yaml"));
        assert_eq!(r.objects[1].source.line, 9);
    }

    #[test]
    fn scalars_and_missing_kind_are_errors() {
        let r = load("just a string\n---\nmetadata: {name: x}\n");
        assert_eq!(r.objects.len(), 0);
        assert_eq!(r.errors.len(), 2);
        assert!(r.errors[0].message.contains("string"));
    }

    #[test]
    fn directories_are_walked_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join(".hidden")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n").unwrap();
        std::fs::write(dir.path().join("sub/a.yml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n").unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"c\"}}",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join(".hidden/x.yaml"), "apiVersion: v1\nkind: Pod\n").unwrap();
        let r = load_paths(&[dir.path().to_path_buf()], &LoadOptions::default());
        let names: Vec<&str> = r.objects.iter().map(|o| o.name()).collect();
        assert_eq!(names, vec!["b", "c", "a"]);
        let missing = load_paths(&[dir.path().join("nope")], &LoadOptions::default());
        assert!(missing.errors[0].message.contains("cannot open"));
    }

    #[test]
    fn document_end_markers() {
        let r = load("apiVersion: v1\nkind: Pod\n...\napiVersion: v1\nkind: Service\n...\n");
        assert_eq!(r.objects.len(), 2, "{:?}", r.errors);
    }
}
