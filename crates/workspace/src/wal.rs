//! The write-ahead log: one directory of segments per table.
//!
//! Segment files are named `<first-lsn, 20 digits>.wal`. A record is framed as
//! `len: u32 LE | crc32: u32 LE | lsn: u64 LE | rows: u32 LE | payload[len]`, where the CRC
//! covers the lsn, rows and payload bytes and the payload is an Arrow IPC stream holding the
//! record's rows. One record per append request; LSNs are per table, start at 1 and increase
//! by one per record.
//!
//! Durability: the writer writes a record (a zeroed header, the payload streamed, then the real
//! header in place, see [`WalWriter::append_with`]) and the caller then makes it
//! durable with [`Segment::sync_upto`] (group commit: one `fdatasync` covers every record written
//! before it, so concurrent appenders share it). A segment is fsynced before the next one is
//! created. A torn tail (incomplete or bad-CRC last record of the last segment) is what a crash
//! mid-write leaves; recovery cuts it off. Damage anywhere else is reported as corruption.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

const HEADER: usize = 20;
/// Upper bound on one record's payload; anything larger in a header is treated as damage.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

/// A decoded record.
pub(crate) struct WalRecord {
    pub lsn: u64,
    pub payload: Vec<u8>,
}

/// An open segment that appenders sync through.
pub(crate) struct Segment {
    pub path: PathBuf,
    file: File,
    last_written: AtomicU64,
    synced: Mutex<u64>,
}

impl Segment {
    /// Makes every record up to `lsn` durable (group commit: returns at once if a concurrent
    /// caller's fsync already covered it).
    pub fn sync_upto(&self, lsn: u64) -> Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= lsn {
            return Ok(());
        }
        let target = self.last_written.load(Ordering::Acquire);
        self.file.sync_data().map_err(Error::io("fsync WAL segment", &self.path))?;
        *synced = (*synced).max(target);
        Ok(())
    }
}

/// The appending side of one table's log.
pub(crate) struct WalWriter {
    dir: PathBuf,
    current: Arc<Segment>,
    len: u64,
    /// Sealed (fsynced) segments and the last LSN each holds (0 when empty).
    sealed: Vec<(PathBuf, u64)>,
    poisoned: bool,
    segment_max_bytes: u64,
}

pub(crate) fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("fsync directory", dir))
}

fn open_segment(dir: &Path, first_lsn: u64) -> Result<Arc<Segment>> {
    let path = segment_path(dir, first_lsn);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(Error::io("create WAL segment", &path))?;
    sync_dir(dir)?;
    Ok(Arc::new(Segment {
        path,
        file,
        last_written: AtomicU64::new(first_lsn.saturating_sub(1)),
        synced: Mutex::new(first_lsn.saturating_sub(1)),
    }))
}

/// Passes bytes on to `out`, counting them into a CRC and a length.
struct CrcWriter<W: Write> {
    out: W,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl WalWriter {
    /// Starts a fresh segment at `first_lsn`; `sealed` are older segments still needed.
    pub fn create(
        dir: &Path,
        first_lsn: u64,
        sealed: Vec<(PathBuf, u64)>,
        segment_max_bytes: u64,
    ) -> Result<WalWriter> {
        std::fs::create_dir_all(dir).map_err(Error::io("create WAL directory", dir))?;
        let current = open_segment(dir, first_lsn)?;
        Ok(WalWriter { dir: dir.to_path_buf(), current, len: 0, sealed, poisoned: false, segment_max_bytes })
    }

    /// Writes one record; returns the segment to sync through. On a failed write the segment
    /// is cut back to its previous length; if that fails too the writer refuses further writes.
    #[cfg(test)]
    pub fn append(&mut self, table: &str, lsn: u64, rows: u32, payload: &[u8]) -> Result<Arc<Segment>> {
        self.append_with(table, lsn, rows, |w| w.write_all(payload).map_err(Error::io("write WAL payload", "-")))
    }

    /// Writes one record whose payload `write` streams into the segment (through a buffer for
    /// small pieces; large ones go straight to the file): the payload is never assembled in
    /// memory. Encoding a batch into a buffer first was a second copy of every ingested byte
    /// (perf). The header is written last, at the record's start, once length and CRC are
    /// known; a crash before that leaves a torn tail, which recovery cuts off (and the record
    /// was not acknowledged: acknowledgement waits for [`Segment::sync_upto`]). On a failed
    /// write the segment is cut back to its previous length; if that fails too the writer
    /// refuses further writes.
    pub fn append_with(
        &mut self,
        table: &str,
        lsn: u64,
        rows: u32,
        write: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Arc<Segment>> {
        use std::os::unix::fs::FileExt;
        if self.poisoned {
            return Err(Error::WalPoisoned(table.to_string()));
        }
        let seg = self.current.clone();
        let start = self.len;
        let written = (|| -> Result<u64> {
            let io = |op: &'static str| Error::io(op, &seg.path);
            (&seg.file).write_all(&[0u8; HEADER]).map_err(io("write WAL segment"))?;
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&lsn.to_le_bytes());
            hasher.update(&rows.to_le_bytes());
            let mut sink = CrcWriter { out: std::io::BufWriter::with_capacity(64 << 10, &seg.file), hasher, len: 0 };
            write(&mut sink)?;
            sink.out.flush().map_err(io("write WAL segment"))?;
            if sink.len > MAX_PAYLOAD as u64 {
                return Err(Error::Io {
                    op: "write WAL segment",
                    path: seg.path.clone(),
                    source: std::io::Error::other(format!("record of {} bytes is over the 1 GiB limit", sink.len)),
                });
            }
            let mut header = [0u8; HEADER];
            header[0..4].copy_from_slice(&(sink.len as u32).to_le_bytes());
            header[4..8].copy_from_slice(&sink.hasher.finalize().to_le_bytes());
            header[8..16].copy_from_slice(&lsn.to_le_bytes());
            header[16..20].copy_from_slice(&rows.to_le_bytes());
            seg.file.write_all_at(&header, start).map_err(io("write WAL segment"))?;
            Ok(sink.len)
        })();
        let payload_len = match written {
            Ok(n) => n,
            Err(e) => {
                if seg.file.set_len(self.len).is_err() {
                    self.poisoned = true;
                }
                // The file position may be past the cut; `File` writes at the position, so
                // re-seek to the end.
                use std::io::Seek;
                if (&seg.file).seek(std::io::SeekFrom::Start(self.len)).is_err() {
                    self.poisoned = true;
                }
                return Err(e);
            }
        };
        self.len += HEADER as u64 + payload_len;
        seg.last_written.store(lsn, Ordering::Release);
        if self.len >= self.segment_max_bytes {
            self.rotate(lsn + 1)?;
        }
        Ok(seg)
    }

    /// Seals the current segment (fsync) and starts a new one at `next_lsn`. Does nothing when
    /// the current segment is empty.
    pub fn rotate(&mut self, next_lsn: u64) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let old = self.current.clone();
        old.sync_upto(old.last_written.load(Ordering::Acquire))?;
        let new = open_segment(&self.dir, next_lsn)?;
        self.sealed.push((old.path.clone(), old.last_written.load(Ordering::Acquire)));
        self.current = new;
        self.len = 0;
        Ok(())
    }

    /// Removes from the sealed list, and returns, the segments whose records all have
    /// LSN ≤ `lsn` (the caller deletes the files once that LSN is durable in Parquet).
    pub fn take_sealed_upto(&mut self, lsn: u64) -> Vec<PathBuf> {
        let (done, keep): (Vec<_>, Vec<_>) = self.sealed.drain(..).partition(|(_, last)| *last <= lsn);
        self.sealed = keep;
        done.into_iter().map(|(p, _)| p).collect()
    }
}

/// Segments in `dir`, oldest first, as `(first_lsn, path)`.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::Io { op: "list WAL directory", path: dir.to_path_buf(), source: e }),
    };
    for entry in rd {
        let entry = entry.map_err(Error::io("list WAL directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".wal")
            && let Ok(first) = stem.parse::<u64>()
        {
            out.push((first, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Result of reading one segment.
pub(crate) struct SegmentRead {
    pub records: Vec<WalRecord>,
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub damage: Option<String>,
    /// Highest LSN among the well-formed records (0 when none).
    pub last_lsn: u64,
}

/// Reads every well-formed record of a segment, stopping at the first damaged one.
/// Records with LSN ≤ `skip_upto` are checked but not returned.
pub(crate) fn read_segment(path: &Path, skip_upto: u64) -> Result<SegmentRead> {
    let mut data = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut data)).map_err(Error::io("read WAL segment", path))?;
    let mut records = Vec::new();
    let mut off = 0usize;
    let mut damage = None;
    let mut prev_lsn = 0u64;
    while off < data.len() {
        if data.len() - off < HEADER {
            damage = Some("incomplete record header".to_string());
            break;
        }
        let h = &data[off..off + HEADER];
        let len = u32::from_le_bytes(h[0..4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(h[4..8].try_into().unwrap_or_default());
        let lsn = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
        if len > MAX_PAYLOAD || data.len() - off - HEADER < len {
            damage = Some(format!("record length {len} runs past the end of the file"));
            break;
        }
        let body = &data[off + 8..off + HEADER + len];
        if crc32fast::hash(body) != crc {
            damage = Some("checksum mismatch".to_string());
            break;
        }
        if lsn <= prev_lsn {
            damage = Some(format!("LSN {lsn} does not follow {prev_lsn}"));
            break;
        }
        prev_lsn = lsn;
        if lsn > skip_upto {
            records.push(WalRecord { lsn, payload: data[off + HEADER..off + HEADER + len].to_vec() });
        }
        off += HEADER + len;
    }
    Ok(SegmentRead { records, valid_len: off as u64, damage, last_lsn: prev_lsn })
}

/// Cuts a segment back to `len` bytes and fsyncs it (torn-tail repair).
pub(crate) fn truncate_segment(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path).map_err(Error::io("open WAL segment", path))?;
    f.set_len(len).map_err(Error::io("truncate WAL segment", path))?;
    f.sync_all().map_err(Error::io("fsync WAL segment", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_rotate_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), 1, Vec::new(), 1 << 20).unwrap();
        for lsn in 1..=3u64 {
            let seg = w.append("T", lsn, 1, format!("payload-{lsn}").as_bytes()).unwrap();
            seg.sync_upto(lsn).unwrap();
        }
        w.rotate(4).unwrap();
        w.append("T", 4, 1, b"four").unwrap().sync_upto(4).unwrap();
        let segs = list_segments(dir.path()).unwrap();
        assert_eq!(segs.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 4]);
        let r = read_segment(&segs[0].1, 1).unwrap();
        assert_eq!(r.records.iter().map(|r| r.lsn).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(r.records[0].payload, b"payload-2");
        assert!(r.damage.is_none());
        assert_eq!(w.take_sealed_upto(3).len(), 1);

        // Torn tail: append half a record by hand.
        let mut f = OpenOptions::new().append(true).open(&segs[1].1).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let r = read_segment(&segs[1].1, 0).unwrap();
        assert_eq!(r.records.len(), 1);
        assert!(r.damage.is_some());
        truncate_segment(&segs[1].1, r.valid_len).unwrap();
        let r = read_segment(&segs[1].1, 0).unwrap();
        assert!(r.damage.is_none());

        // A flipped payload byte fails the checksum.
        let mut bytes = std::fs::read(&segs[1].1).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&segs[1].1, &bytes).unwrap();
        let r = read_segment(&segs[1].1, 0).unwrap();
        assert_eq!(r.records.len(), 0);
        assert_eq!(r.damage.as_deref(), Some("checksum mismatch"));
    }

    /// What a crash between streaming a payload and writing its header leaves: a zeroed header
    /// followed by payload bytes. It reads as damage after the good records (recovery cuts it
    /// off as a torn tail), and a payload that fails to encode leaves nothing behind.
    #[test]
    fn streamed_record_without_its_header_is_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = WalWriter::create(dir.path(), 1, Vec::new(), 1 << 20).unwrap();
        w.append_with("T", 1, 2, |out| out.write_all(b"first").map_err(Error::io("test", "-"))).unwrap();
        let failed = w.append_with("T", 2, 1, |out| {
            out.write_all(b"half of a rec").map_err(Error::io("test", "-"))?;
            Err(Error::io("encode", "-")(std::io::Error::other("encoder failed")))
        });
        assert!(failed.is_err());
        w.append_with("T", 2, 1, |out| out.write_all(b"second").map_err(Error::io("test", "-"))).unwrap();
        let path = segment_path(dir.path(), 1);
        let good = std::fs::metadata(&path).unwrap().len();
        assert_eq!(good, 2 * HEADER as u64 + 11, "the failed record was cut back");
        let r = read_segment(&path, 0).unwrap();
        assert_eq!(
            r.records.iter().map(|r| (r.lsn, r.payload.clone())).collect::<Vec<_>>(),
            [(1, b"first".to_vec()), (2, b"second".to_vec())]
        );
        assert!(r.damage.is_none());

        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; HEADER]).unwrap();
        f.write_all(b"payload whose header never came").unwrap();
        let r = read_segment(&path, 0).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.valid_len, good);
        assert!(r.damage.is_some());
    }
}
