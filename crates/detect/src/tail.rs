//! Following JSON-lines files as they grow (`keelwatch detect tail`), across log rotation.
//!
//! A [`Follower`] owns one path. Each [`Follower::poll`] reads whatever was appended since
//! the last call, feeds complete lines to a [`LineDecoder`] and keeps an incomplete last line
//! until its newline arrives. It handles:
//! - **rename rotation** (logrotate `create`, the API server's own `--audit-log-maxsize`): when
//!   a different file (device and inode) appears at the path, the old file is read to its
//!   end, then the new one is read from its start. While the path is missing (between the
//!   rename and the creation) the old file is still followed;
//! - **copytruncate**: when the file becomes shorter than what was read, reading restarts at
//!   offset 0;
//! - **partial last lines**: bytes after the last newline wait for the rest of the line; at a
//!   rotation or truncation they are decoded as a final line (a torn line is then reported
//!   as malformed, never silently merged with unrelated bytes);
//! - a path that does not exist yet (followed once it appears, from its start).
//!
//! Memory is bounded: an unterminated line longer than [`MAX_DOCUMENT`] is reported and
//! skipped up to its newline. Polling (not inotify) keeps this portable and simple; the
//! caller chooses the interval.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::decode::{DecodeStats, Event, EventView, LineDecoder, MAX_DOCUMENT, Malformed};

/// Where to start in a file that already exists when following begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Read the existing content first.
    Beginning,
    /// Only what is appended from now on (files created later are read from their start).
    End,
}

/// Identity of an open file (device, inode), to notice a new file at the same path.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// Follows one file path.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    name: String,
    start: Start,
    first_open: bool,
    file: Option<File>,
    id: Option<FileId>,
    /// Bytes of the open file consumed so far.
    offset: u64,
    /// The incomplete last line.
    partial: Vec<u8>,
    /// Inside an over-long line: skip up to its newline.
    discarding: bool,
    decoder: LineDecoder,
    /// Counters of files already finished (rotated away or truncated).
    done: DecodeStats,
    chunk: Vec<u8>,
    /// Rename rotations seen.
    pub rotations: u64,
    /// Truncations (copytruncate) seen.
    pub truncations: u64,
}

impl Follower {
    /// Follows `path`; nothing is read until [`Follower::poll`].
    pub fn new(path: impl Into<PathBuf>, start: Start) -> Follower {
        let path = path.into();
        let name = path.display().to_string();
        Follower {
            decoder: LineDecoder::new(&name),
            path,
            name,
            start,
            first_open: true,
            file: None,
            id: None,
            offset: 0,
            partial: Vec::new(),
            discarding: false,
            done: DecodeStats::default(),
            chunk: vec![0; 256 * 1024],
            rotations: 0,
            truncations: 0,
        }
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while a file is open (the path existed at some poll).
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Counters over every file generation read so far.
    pub fn stats(&self) -> DecodeStats {
        let now = self.decoder.stats();
        DecodeStats {
            audit_events: self.done.audit_events + now.audit_events,
            process_events: self.done.process_events + now.process_events,
            malformed: self.done.malformed + now.malformed,
            skipped: self.done.skipped + now.skipped,
        }
    }

    /// Reads everything appended since the last call (following a rotation or truncation if
    /// one happened) and decodes it. `Err` for I/O errors other than the path being absent;
    /// the follower stays usable and the next call retries.
    pub fn poll(&mut self, mut on_event: impl FnMut(Event), on_malformed: impl FnMut(Malformed)) -> io::Result<()> {
        self.poll_views(|e| on_event(e.into_event()), on_malformed)
    }

    /// [`Follower::poll`] passing events in evaluation form (see
    /// [`crate::decode::read_stream_views`]): the fast form for callers that only evaluate.
    pub fn poll_views(
        &mut self,
        mut on_event: impl FnMut(EventView<'_>),
        mut on_malformed: impl FnMut(Malformed),
    ) -> io::Result<()> {
        // Bounded: at most a few file switches per call (a new generation is read at once).
        for _ in 0..4 {
            if self.file.is_none() && !self.open()? {
                return Ok(());
            }
            self.read_available(&mut on_event, &mut on_malformed)?;
            let Some(file) = self.file.as_ref() else { return Ok(()) };
            let len = file.metadata()?.len();
            if len < self.offset {
                // copytruncate (or the file was emptied): start again at its beginning.
                self.truncations += 1;
                self.end_generation(&mut on_event, &mut on_malformed);
                self.offset = 0;
                if let Some(f) = self.file.as_mut() {
                    f.seek(SeekFrom::Start(0))?;
                }
                continue;
            }
            let at_path = match std::fs::metadata(&self.path) {
                Ok(m) => file_id(&m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            if at_path.is_some() && self.id.is_some() && at_path != self.id {
                // Renamed away and a new file created: finish the old one, then switch.
                self.read_available(&mut on_event, &mut on_malformed)?;
                self.rotations += 1;
                self.end_generation(&mut on_event, &mut on_malformed);
                self.file = None;
                self.id = None;
                self.offset = 0;
                continue;
            }
            return Ok(());
        }
        Ok(())
    }

    /// Opens the path; false if it does not exist (yet).
    fn open(&mut self) -> io::Result<bool> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.first_open = false;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        self.id = file_id(&meta);
        self.offset = 0;
        if self.first_open && self.start == Start::End {
            self.offset = file.seek(SeekFrom::End(0))?;
        }
        self.first_open = false;
        self.file = Some(file);
        Ok(true)
    }

    /// Ends one file generation: decodes a leftover partial line as the last line, closes
    /// open multi-line documents and starts a fresh decoder (line numbers restart).
    fn end_generation(&mut self, on_event: &mut impl FnMut(EventView<'_>), on_malformed: &mut impl FnMut(Malformed)) {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.decoder.push_line_views(&last, on_event, on_malformed);
        }
        self.discarding = false;
        self.decoder.finish(on_malformed);
        let old = std::mem::replace(&mut self.decoder, LineDecoder::new(&self.name)).stats();
        self.done.audit_events += old.audit_events;
        self.done.process_events += old.process_events;
        self.done.malformed += old.malformed;
        self.done.skipped += old.skipped;
    }

    fn read_available(
        &mut self,
        on_event: &mut impl FnMut(EventView<'_>),
        on_malformed: &mut impl FnMut(Malformed),
    ) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        loop {
            let n = match file.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.offset += n as u64;
            let mut rest = &self.chunk[..n];
            while !rest.is_empty() {
                match memchr::memchr(b'\n', rest) {
                    Some(p) => {
                        let (line, tail) = rest.split_at(p + 1);
                        rest = tail;
                        if self.discarding {
                            self.discarding = false;
                            continue;
                        }
                        if self.partial.is_empty() {
                            if line.len() > MAX_DOCUMENT + 1 {
                                self.decoder.overlong_line(on_malformed);
                            } else {
                                self.decoder.push_line_views(line, on_event, on_malformed);
                            }
                        } else {
                            self.partial.extend_from_slice(line);
                            if self.partial.len() > MAX_DOCUMENT + 1 {
                                self.decoder.overlong_line(on_malformed);
                            } else {
                                self.decoder.push_line_views(&self.partial, on_event, on_malformed);
                            }
                            self.partial.clear();
                        }
                    }
                    None => {
                        if !self.discarding {
                            self.partial.extend_from_slice(rest);
                            if self.partial.len() > MAX_DOCUMENT {
                                self.decoder.overlong_line(on_malformed);
                                self.partial = Vec::new();
                                self.discarding = true;
                            }
                        }
                        rest = &[];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn line(id: usize) -> String {
        format!(
            "{{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"auditID\":\"id-{id}\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"user\":{{\"username\":\"u\"}}}}\n"
        )
    }

    fn ids(f: &mut Follower) -> (Vec<String>, Vec<Malformed>) {
        let mut ids = Vec::new();
        let mut bad = Vec::new();
        f.poll(
            |e| {
                if let Event::Audit(a) = e {
                    ids.push(a.audit_id.clone())
                }
            },
            |m| bad.push(m),
        )
        .unwrap();
        (ids, bad)
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn follows_appends_partial_lines_and_rename_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        append(&path, &line(0));
        let mut f = Follower::new(&path, Start::End);
        assert_eq!(ids(&mut f).0, Vec::<String>::new(), "existing content skipped with Start::End");
        append(&path, &(line(1) + &line(2)));
        assert_eq!(ids(&mut f).0, ["id-1", "id-2"]);

        // A line written in two pieces is decoded once complete.
        let l3 = line(3);
        append(&path, &l3[..20]);
        let (got, bad) = ids(&mut f);
        assert!(got.is_empty() && bad.is_empty(), "{got:?} {bad:?}");
        append(&path, &l3[20..]);
        assert_eq!(ids(&mut f).0, ["id-3"]);

        // Rename rotation: the writer still appends to the old file after the rename, then a
        // new file appears at the path.
        let mut old = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        old.write_all(line(4).as_bytes()).unwrap();
        assert_eq!(ids(&mut f).0, ["id-4"], "path missing: the old file is still followed");
        old.write_all(line(5).as_bytes()).unwrap();
        drop(old);
        append(&path, &(line(6) + &line(7)));
        let (got, bad) = ids(&mut f);
        assert_eq!(got, ["id-5", "id-6", "id-7"], "old file drained before the new one");
        assert!(bad.is_empty());
        assert_eq!(f.rotations, 1);
        append(&path, &line(8));
        assert_eq!(ids(&mut f).0, ["id-8"]);
        assert_eq!(f.stats().audit_events, 8);
    }

    #[test]
    fn copytruncate_restarts_at_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        append(&path, &(line(0) + &line(1) + &line(2)));
        let mut f = Follower::new(&path, Start::Beginning);
        assert_eq!(ids(&mut f).0, ["id-0", "id-1", "id-2"]);
        // copytruncate: copy, then truncate the same inode in place; the writer goes on.
        std::fs::copy(&path, dir.path().join("audit.log.1")).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        append(&path, &line(3));
        let (got, bad) = ids(&mut f);
        assert_eq!(got, ["id-3"]);
        assert!(bad.is_empty());
        assert_eq!((f.truncations, f.rotations), (1, 0));
        // A torn line at truncation is reported, not merged with what follows.
        let l4 = line(4);
        append(&path, &l4[..30]);
        assert!(ids(&mut f).0.is_empty());
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(0).unwrap();
        append(&path, &line(5));
        let (got, bad) = ids(&mut f);
        assert_eq!(got, ["id-5"]);
        assert_eq!(bad.len(), 1, "the torn line is reported: {bad:?}");
        assert_eq!(bad[0].line, 2, "{bad:?}");
    }

    #[test]
    fn waits_for_a_missing_file_and_bounds_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.log");
        let mut f = Follower::new(&path, Start::End);
        assert!(ids(&mut f).0.is_empty());
        assert!(!f.is_open());
        append(&path, &line(0));
        assert_eq!(ids(&mut f).0, ["id-0"], "a file created after start is read from its beginning");
        // An over-long unterminated line is dropped without holding it all in memory.
        let chunk = "x".repeat(1 << 20);
        for _ in 0..(MAX_DOCUMENT >> 20) + 1 {
            append(&path, &chunk);
            let _ = ids(&mut f);
        }
        assert!(f.partial.len() <= MAX_DOCUMENT);
        append(&path, &format!("tail of the long line\n{}", line(1)));
        let (got, _) = ids(&mut f);
        assert_eq!(got, ["id-1"]);
        assert_eq!(f.stats().malformed, 1);
    }
}
