//! Container log tailing over the kubelet layout
//! `<pods_dir>/<namespace>_<pod>_<uid>/<container>/<n>.log`, producing `ContainerLogV2` rows.
//!
//! Each `<n>.log` is a *stream*: the live file plus its rotated predecessors
//! `<n>.log.<suffix>` (optionally `.gz`), where suffixes sort in rotation order (the
//! kubelet's `YYYYMMDD-hhmmss`). A stream's [`StreamPos`] names the file being read by
//! device + inode + a hash of its first bytes (so a file is still found after a rename, and
//! after gzip by its decompressed head) and the byte offset consumed, always at a message
//! boundary (never inside a `P…F` sequence).
//!
//! [`LogTailer::poll`] reads from the committed positions and returns rows plus proposed new
//! positions; the caller ships the rows and only then [`LogTailer::commit`]s — a failed ship
//! simply re-reads next time. Rotation: when the live file's identity changes, the old file
//! is drained from its rotated name, newer rotated files follow, then the new live file.
//! Truncation (same inode, smaller size or different head) restarts at 0.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::checkpoint::{FileId, HEAD_BYTES, StreamPos};
use crate::cri::{self, Joiner, LogRecord};
use crate::k8s::{ContainerIndex, NamespaceFilter, PodInfo, parse_pod_dir, split_image};
use crate::output::RawRows;
use crate::util::fnv1a64;

/// Tailer settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// The pods log directory (`/var/log/pods`).
    pub pods_dir: PathBuf,
    /// Lines per second per container (token bucket, 1 s burst); 0 = unlimited.
    pub rate_limit: u32,
    /// Raw bytes read per poll, over all streams (bounds memory and batch size).
    pub max_bytes_per_poll: usize,
    /// Physical lines read per poll, over all streams.
    pub max_lines_per_poll: usize,
    /// A rotated file still receiving writes is kept open this long unless newer data exists.
    pub rotate_wait: Duration,
    /// Namespace include/exclude.
    pub filter: NamespaceFilter,
}

impl LogConfig {
    /// Defaults for a pods directory.
    pub fn new(pods_dir: PathBuf) -> Self {
        LogConfig {
            pods_dir,
            rate_limit: 0,
            max_bytes_per_poll: 1 << 20,
            max_lines_per_poll: 4000,
            rotate_wait: Duration::from_secs(2),
            filter: NamespaceFilter::default(),
        }
    }
}

/// What one poll produced.
#[derive(Debug, Default)]
pub struct PollResult {
    /// ContainerLogV2 rows, in file order per stream.
    pub rows: RawRows,
    /// Proposed stream positions (commit them once `rows` are shipped).
    pub positions: BTreeMap<String, StreamPos>,
    /// True when the per-poll budget ran out: poll again soon.
    pub more: bool,
    /// Lines dropped by the per-container rate limit.
    pub rate_limited: u64,
    /// Lines that were not CRI (skipped).
    pub parse_errors: u64,
    /// Files that disappeared before they were fully read.
    pub lost_files: u64,
    /// Truncations detected.
    pub truncations: u64,
}

#[derive(Debug, Clone)]
struct FileEntry {
    path: PathBuf,
    suffix: String,
    gz: bool,
}

#[derive(Debug)]
struct StreamMeta {
    namespace: String,
    pod: String,
    uid: String,
    container: String,
    active: PathBuf,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Budget {
    bytes: usize,
    lines: usize,
}

/// Tails every container log under a pods directory.
pub struct LogTailer {
    cfg: LogConfig,
    committed: BTreeMap<String, StreamPos>,
    buckets: HashMap<String, Bucket>,
}

/// A log file opened once: metadata, head and reads all come from the same descriptor, so a
/// rotation between them cannot mix two files.
struct Opened {
    file: std::fs::File,
    gz: bool,
    meta: std::fs::Metadata,
    head: Vec<u8>,
}

fn open_entry(path: &Path, gz: bool) -> std::io::Result<Opened> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    if gz {
        let mut d = flate2::read::GzDecoder::new(&file).take(HEAD_BYTES as u64);
        match d.read_to_end(&mut head) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e),
        }
    } else {
        let mut buf = [0u8; HEAD_BYTES];
        let mut n = 0;
        while n < HEAD_BYTES {
            let k = file.read_at(&mut buf[n..], n as u64)?;
            if k == 0 {
                break;
            }
            n += k;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(Opened { file, gz, meta, head })
}

fn head_matches(id: &FileId, head: &[u8]) -> bool {
    let n = id.head_len as usize;
    head.len() >= n && fnv1a64(&head[..n]) == id.head_hash
}

fn make_id(o: &Opened) -> FileId {
    FileId { dev: o.meta.dev(), ino: o.meta.ino(), head_len: o.head.len() as u32, head_hash: fnv1a64(&o.head) }
}

fn identifies(o: &Opened, id: &FileId) -> bool {
    if o.gz {
        id.head_len > 0 && head_matches(id, &o.head)
    } else {
        o.meta.dev() == id.dev && o.meta.ino() == id.ino && head_matches(id, &o.head)
    }
}

/// Rotated files of one stream, sorted by suffix; when both plain and `.gz` exist (gzip in
/// progress) the plain one is kept.
fn rotated_files(dir: &Path, stream: &str) -> Vec<FileEntry> {
    let mut rotated = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for fe in rd.flatten().take(10_000) {
            let Some(name) = fe.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some((s, Some((suffix, gz)))) = classify(&name)
                && s == stream
            {
                rotated.push(FileEntry { path: fe.path(), suffix, gz });
            }
        }
    }
    rotated.sort_by(|a, b| a.suffix.cmp(&b.suffix).then(a.gz.cmp(&b.gz)));
    rotated.dedup_by(|b, a| a.suffix == b.suffix);
    rotated
}

/// Classifies a file name in a container directory: `Some((stream, None))` for a live
/// `<n>.log`, `Some((stream, Some((suffix, gz))))` for a rotated one.
fn classify(name: &str) -> Option<(String, Option<(String, bool)>)> {
    let dot = name.find(".log")?;
    let (num, rest) = name.split_at(dot);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let stream = format!("{num}.log");
    let rest = &rest[4..];
    if rest.is_empty() {
        return Some((stream, None));
    }
    let suffix = rest.strip_prefix('.')?;
    if suffix == "tmp" || suffix.ends_with(".tmp") || suffix.is_empty() || suffix == "gz" {
        return None;
    }
    match suffix.strip_suffix(".gz") {
        Some(s) if !s.is_empty() => Some((stream, Some((s.to_string(), true)))),
        Some(_) => None,
        None => Some((stream, Some((suffix.to_string(), false)))),
    }
}

impl LogTailer {
    /// A tailer starting from `committed` positions (from the checkpoint). A stream not in
    /// `committed` is read from its oldest rotated file, then its live file, from the start.
    pub fn new(cfg: LogConfig, committed: BTreeMap<String, StreamPos>) -> Self {
        LogTailer { cfg, committed, buckets: HashMap::new() }
    }

    /// The committed positions.
    pub fn positions(&self) -> &BTreeMap<String, StreamPos> {
        &self.committed
    }

    /// Accepts positions returned by [`poll`](Self::poll) once its rows are shipped.
    pub fn commit(&mut self, positions: BTreeMap<String, StreamPos>) {
        self.committed = positions;
    }

    fn scan(&self, index: &ContainerIndex) -> Vec<StreamMeta> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.cfg.pods_dir) else {
            return out;
        };
        let mut pods: Vec<_> = rd.flatten().collect();
        pods.sort_by_key(|e| e.file_name());
        for pe in pods.into_iter().take(10_000) {
            let Some(pod) = pe.file_name().to_str().and_then(parse_pod_dir) else {
                continue;
            };
            // A pod the filter refuses (or whose labels are not known yet while label rules
            // exist) is not read at all: its position stays, so nothing is skipped for good.
            if !self.cfg.filter.allows_pod(&pod.namespace, index.labels(&pod.uid)) {
                continue;
            }
            let Ok(crd) = std::fs::read_dir(pe.path()) else {
                continue;
            };
            let mut containers: Vec<_> = crd.flatten().filter(|e| e.path().is_dir()).collect();
            containers.sort_by_key(|e| e.file_name());
            for ce in containers.into_iter().take(1000) {
                let Some(cname) = ce.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let Ok(frd) = std::fs::read_dir(ce.path()) else {
                    continue;
                };
                let mut streams = std::collections::BTreeSet::new();
                for fe in frd.flatten().take(10_000) {
                    if let Some((stream, _)) = fe.file_name().to_str().and_then(classify) {
                        streams.insert(stream);
                    }
                }
                for stream in streams {
                    out.push(StreamMeta {
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                        uid: pod.uid.clone(),
                        container: cname.clone(),
                        active: ce.path().join(&stream),
                    });
                }
            }
        }
        out
    }

    /// Reads new log lines from every stream, within the per-poll budget.
    pub fn poll(&mut self, node: &str, index: &ContainerIndex) -> PollResult {
        let mut res = PollResult::default();
        let mut budget = Budget { bytes: self.cfg.max_bytes_per_poll, lines: self.cfg.max_lines_per_poll };
        let streams = self.scan(index);
        for meta in &streams {
            let key = meta.active.display().to_string();
            let mut pos = self.committed.get(&key).cloned().unwrap_or_default();
            let container_id =
                index.container_id(&meta.namespace, &meta.pod, &meta.container).unwrap_or("").to_string();
            let ctx = RowCtx { node, meta, container_id: &container_id, pod: index.pod_info(&meta.uid) };
            if budget.bytes > 0 && budget.lines > 0 {
                self.process_stream(&ctx, &mut pos, &mut res, &mut budget);
            } else {
                res.more = true;
            }
            res.positions.insert(key, pos);
        }
        res
    }

    fn process_stream(&mut self, ctx: &RowCtx<'_>, pos: &mut StreamPos, res: &mut PollResult, budget: &mut Budget) {
        let meta = ctx.meta;
        let active = open_entry(&meta.active, false).ok();
        let same_inode = |a: &Opened| pos.file.ino != 0 && a.meta.dev() == pos.file.dev && a.meta.ino() == pos.file.ino;
        if let Some(a) = &active
            && same_inode(a)
            && head_matches(&pos.file, &a.head)
        {
            if a.meta.len() < pos.offset {
                res.truncations += 1;
                pos.offset = 0;
                pos.skipping = false;
            }
            pos.file = make_id(a);
            self.read_file(ctx, a, None, pos, res, budget);
            return;
        }
        // The live file is not the one we were reading: list rotated files now (after
        // opening the live file, so a rotation that replaced it is visible).
        let (dir, stream) = match (meta.active.parent(), meta.active.file_name().and_then(|n| n.to_str())) {
            (Some(d), Some(n)) => (d, n),
            _ => return,
        };
        let cands: Vec<FileEntry> =
            rotated_files(dir, stream).into_iter().filter(|f| f.suffix > pos.rotated_floor).collect();
        let mut opened = Vec::with_capacity(cands.len());
        for f in &cands {
            match open_entry(&f.path, f.gz) {
                Ok(o) => opened.push(o),
                // Vanished (gzip finishing, or deleted) between listing and opening: retry.
                Err(_) => return,
            }
        }
        let found = if pos.file.ino != 0 || pos.file.head_len > 0 {
            opened.iter().position(|o| identifies(o, &pos.file))
        } else {
            None
        };
        if found.is_none()
            && let Some(a) = &active
            && same_inode(a)
        {
            // Same inode, different first bytes and no rotated copy: truncated and rewritten.
            res.truncations += 1;
            pos.offset = 0;
            pos.skipping = false;
            pos.file = make_id(a);
            self.read_file(ctx, a, None, pos, res, budget);
            return;
        }
        let mut start_offset = match found {
            Some(_) => pos.offset,
            None => {
                if pos.offset > 0 {
                    res.lost_files += 1;
                    tracing::warn!(stream = %meta.active.display(), "log file vanished before it was fully read");
                }
                pos.skipping = false;
                0
            }
        };
        let active_has_data = active.as_ref().map(|a| a.meta.len() > 0).unwrap_or(false);
        for (j, (f, o)) in cands.iter().zip(&opened).enumerate().skip(found.unwrap_or(0)) {
            let newer_has_data = j + 1 < cands.len() || active_has_data;
            pos.offset = start_offset;
            start_offset = 0;
            pos.file = make_id(o);
            let rotated_wait =
                if newer_has_data || f.gz { None } else { Some(o.meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)) };
            if !self.read_file(ctx, o, Some(rotated_wait), pos, res, budget) {
                return;
            }
            pos.rotated_floor = f.suffix.clone();
            pos.file = FileId::default();
            pos.offset = 0;
            pos.skipping = false;
        }
        if let Some(a) = &active {
            pos.file = make_id(a);
            pos.offset = 0;
            self.read_file(ctx, a, None, pos, res, budget);
        }
    }

    /// Reads one file from `pos.offset`. `rotated` is `None` for the live file, else
    /// `Some(Some(mtime))` when the rotated file may still receive writes (no newer data yet)
    /// or `Some(None)` when it is final. Returns true when a rotated file is completely read.
    fn read_file(
        &mut self,
        ctx: &RowCtx<'_>,
        f: &Opened,
        rotated: Option<Option<SystemTime>>,
        pos: &mut StreamPos,
        res: &mut PollResult,
        budget: &mut Budget,
    ) -> bool {
        let max = budget.bytes.min(1 << 20);
        if max == 0 || budget.lines == 0 {
            res.more = true;
            return false;
        }
        let (chunk, eof) = match read_chunk(f, pos.offset, max) {
            Ok(Some(v)) => v,
            Ok(None) => {
                // Shorter than our offset: a rotated file cannot shrink, a gz file was cut.
                res.lost_files += 1;
                return rotated.is_some();
            }
            Err(e) => {
                if f.gz && e.kind() == std::io::ErrorKind::UnexpectedEof {
                    tracing::debug!(stream = %ctx.meta.active.display(), "gzip file incomplete, retrying later");
                } else {
                    tracing::warn!(stream = %ctx.meta.active.display(), error = %e, "cannot read log file");
                }
                return false;
            }
        };
        budget.bytes = budget.bytes.saturating_sub(chunk.len());
        let final_file = match rotated {
            None => false,
            Some(None) => eof,
            Some(Some(mtime)) => {
                eof && SystemTime::now().duration_since(mtime).unwrap_or_default() >= self.cfg.rotate_wait
            }
        };
        let mut joiner = Joiner::default();
        let mut cursor = 0usize;
        let mut consumed = 0usize;
        let mut stopped = false;
        while cursor < chunk.len() {
            let (line, next) = match chunk[cursor..].iter().position(|b| *b == b'\n') {
                Some(n) => (&chunk[cursor..cursor + n], cursor + n + 1),
                None if final_file => (&chunk[cursor..], chunk.len()),
                None => break,
            };
            if budget.lines == 0 {
                res.more = true;
                stopped = true;
                break;
            }
            budget.lines -= 1;
            self.handle_line(ctx, line, &mut joiner, pos, res);
            cursor = next;
            if !joiner.has_pending() {
                consumed = cursor;
            }
        }
        if !eof && cursor == 0 && chunk.len() == max {
            // A full chunk without any newline: not a CRI log; skip it.
            res.parse_errors += 1;
            consumed = chunk.len();
        }
        let done = final_file && !stopped && cursor == chunk.len();
        if done {
            if let Some(rec) = joiner.flush() {
                self.emit(ctx, rec, res);
            }
            consumed = cursor;
        }
        if !eof {
            res.more = true;
        }
        pos.offset += consumed as u64;
        done
    }

    fn handle_line(
        &mut self,
        ctx: &RowCtx<'_>,
        line: &[u8],
        joiner: &mut Joiner,
        pos: &mut StreamPos,
        res: &mut PollResult,
    ) {
        let l = match cri::parse_line(line) {
            Ok(l) => l,
            Err(e) => {
                res.parse_errors += 1;
                tracing::debug!(file = %ctx.meta.active.display(), error = %e, "skipping non-CRI line");
                return;
            }
        };
        if pos.skipping {
            if !l.partial {
                pos.skipping = false;
            }
            return;
        }
        if let Some(rec) = joiner.push(&l) {
            self.emit(ctx, rec, res);
        } else if joiner.pending_cut()
            && let Some(rec) = joiner.flush()
        {
            self.emit(ctx, rec, res);
            pos.skipping = true;
        }
    }

    fn emit(&mut self, ctx: &RowCtx<'_>, rec: LogRecord, res: &mut PollResult) {
        if self.cfg.rate_limit > 0 {
            let rate = f64::from(self.cfg.rate_limit);
            let key = format!("{}/{}/{}", ctx.meta.namespace, ctx.meta.pod, ctx.meta.container);
            let now = Instant::now();
            let b = self.buckets.entry(key).or_insert(Bucket { tokens: rate, at: now });
            b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
            b.at = now;
            if b.tokens < 1.0 {
                res.rate_limited += 1;
                return;
            }
            b.tokens -= 1.0;
        }
        res.rows.push_with(|out| ctx.write_row(&rec, out));
    }
}

struct RowCtx<'a> {
    node: &'a str,
    meta: &'a StreamMeta,
    container_id: &'a str,
    pod: Option<&'a PodInfo>,
}

/// Appends `s` as a JSON string.
fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl RowCtx<'_> {
    /// Writes one ContainerLogV2 row's members straight into `out` (no intermediate value:
    /// this runs for every log line).
    fn write_row(&self, rec: &LogRecord, out: &mut Vec<u8>) {
        let (json, level) = cri::classify_message(&rec.message);
        out.extend_from_slice(b"\"TimeGenerated\":");
        json_str(out, &rec.time);
        out.extend_from_slice(b",\"Computer\":");
        json_str(out, self.node);
        out.extend_from_slice(b",\"ContainerId\":");
        json_str(out, self.container_id);
        out.extend_from_slice(b",\"ContainerName\":");
        json_str(out, &self.meta.container);
        out.extend_from_slice(b",\"PodName\":");
        json_str(out, &self.meta.pod);
        out.extend_from_slice(b",\"PodNamespace\":");
        json_str(out, &self.meta.namespace);
        out.extend_from_slice(b",\"LogMessage\":");
        match json {
            // Validated JSON: written verbatim as the dynamic value.
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => json_str(out, &rec.message),
        }
        out.extend_from_slice(b",\"LogSource\":\"");
        out.extend_from_slice(rec.stream.as_str().as_bytes());
        out.extend_from_slice(b"\",\"LogLevel\":\"");
        out.extend_from_slice(level.as_bytes());
        out.extend_from_slice(b"\",\"KubernetesMetadata\":");
        self.write_kubernetes_metadata(out);
    }

    /// `KubernetesMetadata`: the pod uid, plus labels, annotations and image facts when the
    /// pod's metadata is known (kubernetes mode).
    fn write_kubernetes_metadata(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"podUid\":");
        json_str(out, &self.meta.uid);
        if let Some(p) = self.pod {
            out.extend_from_slice(b",\"podLabels\":");
            let _ = serde_json::to_writer(&mut *out, &p.labels);
            out.extend_from_slice(b",\"podAnnotations\":");
            let _ = serde_json::to_writer(&mut *out, &p.annotations);
            if let Some(c) = p.container(&self.meta.container) {
                let (repo, _, tag) = split_image(&c.image);
                for (k, v) in
                    [("image", c.image.as_str()), ("imageID", &c.image_id), ("imageRepo", &repo), ("imageTag", &tag)]
                {
                    out.push(b',');
                    json_str(out, k);
                    out.push(b':');
                    json_str(out, v);
                }
            }
        }
        out.push(b'}');
    }
}

/// Reads up to `max` bytes from `offset`. `Ok(None)` when the file is shorter than `offset`.
/// The flag is true when the end of the file was reached.
fn read_chunk(f: &Opened, offset: u64, max: usize) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let mut buf;
    let mut file = &f.file;
    if f.gz {
        buf = Vec::with_capacity(max.min(64 << 10));
        file.seek(SeekFrom::Start(0))?;
        let mut d = flate2::read::GzDecoder::new(file);
        let skipped = std::io::copy(&mut (&mut d).take(offset), &mut std::io::sink())?;
        if skipped < offset {
            return Ok(None);
        }
        d.take(max as u64).read_to_end(&mut buf)?;
    } else {
        let len = file.metadata()?.len();
        if len < offset {
            return Ok(None);
        }
        // Sized up front (plus one byte to see the end): no regrowth while reading.
        buf = Vec::with_capacity(((len - offset) as usize).min(max) + 1);
        file.seek(SeekFrom::Start(offset))?;
        file.take(max as u64).read_to_end(&mut buf)?;
    }
    let eof = buf.len() < max;
    Ok(Some((buf, eof)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify("0.log"), Some(("0.log".into(), None)));
        assert_eq!(classify("0.log.20261127-090000"), Some(("0.log".into(), Some(("20261127-090000".into(), false)))));
        assert_eq!(
            classify("12.log.20261127-090000.gz"),
            Some(("12.log".into(), Some(("20261127-090000".into(), true))))
        );
        assert_eq!(classify("x.log"), None);
        assert_eq!(classify("0.log.tmp"), None);
        assert_eq!(classify("0.log.gz"), None);
        assert_eq!(classify("notes.txt"), None);
    }
}
