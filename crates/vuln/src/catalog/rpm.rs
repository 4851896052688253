//! rpm package databases: the header blob parser and the three storage formats.
//!
//! - SQLite (`rpmdb.sqlite`, RHEL ≥ 9, Fedora, Mariner): `Packages(hnum, blob)` via rusqlite
//!   (bundled SQLite), opened read-only from a private temp copy.
//! - BerkeleyDB hash (`Packages`, RHEL ≤ 8): parsed by hand. No maintained Rust crate reads
//!   BerkeleyDB files (the C library is AGPL/Sleepycat and not vendored by any crate), and we
//!   only need the hash pages' overflow items: page 0 holds the metadata (magic 0x061561 at
//!   byte 12, either endianness; page size at 20; last page at 32); hash pages (type 13, or 2
//!   unsorted) list key/value item offsets after their 26-byte header; values of type
//!   H_OFFPAGE (3) point to a chain of overflow pages (type 7) that hold the header blob.
//! - NDB (`Packages.db`, SUSE): also by hand (no crate exists): a 32-byte header (`RpmP`,
//!   version 0, slot page count), 4 KiB slot pages of 16-byte slots (`Slot`, package index,
//!   block offset, block count), each pointing at a `BlbS` blob header followed by the blob.
//!
//! Every offset is bounds-checked; a corrupt database yields an error, never a panic, and
//! loops over page chains are bounded by the page count.

use std::collections::BTreeSet;

use crate::Error;

/// One installed rpm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<i64>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub source_rpm: String,
    pub license: String,
    pub vendor: String,
    /// Files owned by the package (absolute paths).
    pub files: Vec<String>,
}

impl RpmPackage {
    pub fn nvra(&self) -> String {
        format!("{}-{}-{}.{}", self.name, self.version, self.release, self.arch)
    }
    /// `[epoch:]version-release`, epoch only when non-zero.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) if e != 0 => format!("{e}:{}-{}", self.version, self.release),
            _ => format!("{}-{}", self.version, self.release),
        }
    }
}

fn be32(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse an rpm header blob as stored in the database (no lead, starts with the index count).
pub fn parse_header(blob: &[u8]) -> Result<RpmPackage, String> {
    let il = be32(blob, 0).ok_or("header blob shorter than 8 bytes")? as usize;
    let dl = be32(blob, 4).ok_or("header blob shorter than 8 bytes")? as usize;
    if il > 100_000 || dl > 256 << 20 {
        return Err(format!("implausible header sizes (index {il}, data {dl})"));
    }
    let data_start = 8 + il * 16;
    if data_start + dl > blob.len() {
        return Err(format!("header blob truncated: needs {} bytes, has {}", data_start + dl, blob.len()));
    }
    let data = &blob[data_start..data_start + dl];
    let mut p = RpmPackage {
        name: String::new(),
        epoch: None,
        version: String::new(),
        release: String::new(),
        arch: String::new(),
        source_rpm: String::new(),
        license: String::new(),
        vendor: String::new(),
        files: vec![],
    };
    let mut basenames: Vec<String> = vec![];
    let mut dirnames: Vec<String> = vec![];
    let mut dirindexes: Vec<u32> = vec![];
    let cstr = |off: usize| -> Option<(String, usize)> {
        let s = data.get(off..)?;
        let end = s.iter().position(|&c| c == 0)?;
        Some((String::from_utf8_lossy(&s[..end]).into_owned(), off + end + 1))
    };
    let strings = |off: usize, count: usize| -> Vec<String> {
        let mut out = vec![];
        let mut o = off;
        for _ in 0..count.min(1_000_000) {
            match cstr(o) {
                Some((s, n)) => {
                    out.push(s);
                    o = n;
                }
                None => break,
            }
        }
        out
    };
    for i in 0..il {
        let e = 8 + i * 16;
        let (tag, ty, off, count) = (
            be32(blob, e).unwrap_or(0),
            be32(blob, e + 4).unwrap_or(0),
            be32(blob, e + 8).unwrap_or(0) as usize,
            be32(blob, e + 12).unwrap_or(0) as usize,
        );
        let one = || if matches!(ty, 6 | 8 | 9) { cstr(off).map(|x| x.0) } else { None };
        match tag {
            1000 => p.name = one().unwrap_or_default(),
            1001 => p.version = one().unwrap_or_default(),
            1002 => p.release = one().unwrap_or_default(),
            1003 if ty == 4 => p.epoch = be32(data, off).map(|v| v as i32 as i64),
            1014 => p.license = one().unwrap_or_default(),
            1011 => p.vendor = one().unwrap_or_default(),
            1022 => p.arch = one().unwrap_or_default(),
            1044 => p.source_rpm = one().unwrap_or_default(),
            1116 if ty == 4 => dirindexes = (0..count.min(1_000_000)).map_while(|k| be32(data, off + 4 * k)).collect(),
            1117 if ty == 8 => basenames = strings(off, count),
            1118 if ty == 8 => dirnames = strings(off, count),
            _ => {}
        }
    }
    if p.name.is_empty() {
        return Err("header has no NAME tag".into());
    }
    for (b, d) in basenames.iter().zip(dirindexes.iter()) {
        if let Some(dir) = dirnames.get(*d as usize) {
            p.files.push(format!("{dir}{b}"));
        }
    }
    Ok(p)
}

fn finish(blobs: Vec<Vec<u8>>, path: &str) -> Result<Vec<RpmPackage>, Error> {
    let mut out = vec![];
    for (i, b) in blobs.iter().enumerate() {
        match parse_header(b) {
            Ok(p) => out.push(p),
            Err(e) => return Err(Error::Parse { path: path.to_string(), what: format!("package header #{i}: {e}") }),
        }
    }
    out.sort_by_key(|a| a.nvra());
    Ok(out)
}

/// Read a BerkeleyDB hash `Packages` file from bytes.
pub fn read_bdb(db: &[u8], path: &str) -> Result<Vec<RpmPackage>, Error> {
    let bad = |what: String| Error::Parse { path: path.to_string(), what: format!("BerkeleyDB: {what}") };
    if db.len() < 512 {
        return Err(bad("file shorter than one page".into()));
    }
    let swapped = match (
        u32::from_le_bytes([db[12], db[13], db[14], db[15]]),
        u32::from_be_bytes([db[12], db[13], db[14], db[15]]),
    ) {
        (0x061561, _) => false,
        (_, 0x061561) => true,
        _ => return Err(bad("no hash database magic at byte 12".into())),
    };
    let r32 = |b: &[u8], o: usize| -> Option<u32> {
        let s = b.get(o..o + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if swapped { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    };
    let r16 = |b: &[u8], o: usize| -> Option<u16> {
        let s = b.get(o..o + 2)?;
        Some(if swapped { u16::from_be_bytes([s[0], s[1]]) } else { u16::from_le_bytes([s[0], s[1]]) })
    };
    let page_size = r32(db, 20).unwrap_or(0) as usize;
    if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
        return Err(bad(format!("invalid page size {page_size}")));
    }
    let last = r32(db, 32).unwrap_or(0) as usize;
    let npages = (db.len() / page_size).min(last + 1);
    let page = |n: usize| db.get(n * page_size..(n + 1) * page_size);
    let mut blobs = vec![];
    for n in 0..npages {
        let Some(pg) = page(n) else { break };
        let ptype = pg[25];
        if ptype != 13 && ptype != 2 {
            continue;
        }
        let entries = r16(pg, 20).unwrap_or(0) as usize;
        // Values are the odd items of key/value pairs.
        for k in (1..entries).step_by(2) {
            let Some(off) = r16(pg, 26 + 2 * k) else { break };
            let off = off as usize;
            if pg.get(off) != Some(&3) {
                continue;
            }
            let mut pgno = r32(pg, off + 4).unwrap_or(0) as usize;
            let total = r32(pg, off + 8).unwrap_or(0) as usize;
            if total > 64 << 20 {
                return Err(bad(format!("item of {total} bytes on page {n}")));
            }
            let mut value = Vec::with_capacity(total);
            let mut hops = 0;
            while pgno != 0 {
                hops += 1;
                if hops > npages {
                    return Err(bad(format!("overflow chain from page {n} loops")));
                }
                let op = page(pgno).ok_or_else(|| bad(format!("overflow page {pgno} beyond end of file")))?;
                if op[25] != 7 {
                    return Err(bad(format!("page {pgno} in an overflow chain has type {}", op[25])));
                }
                let next = r32(op, 16).unwrap_or(0) as usize;
                let chunk = if next == 0 {
                    let used = r16(op, 22).unwrap_or(0) as usize;
                    op.get(26..26 + used).ok_or_else(|| bad(format!("overflow page {pgno}: bad length {used}")))?
                } else {
                    &op[26..]
                };
                value.extend_from_slice(chunk);
                pgno = next;
            }
            blobs.push(value);
        }
    }
    finish(blobs, path)
}

/// Read an NDB `Packages.db` file from bytes.
pub fn read_ndb(db: &[u8], path: &str) -> Result<Vec<RpmPackage>, Error> {
    let bad = |what: String| Error::Parse { path: path.to_string(), what: format!("NDB: {what}") };
    let le = |o: usize| db.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    if db.get(0..4) != Some(b"RpmP") {
        return Err(bad("no RpmP magic".into()));
    }
    if le(4) != Some(0) {
        return Err(bad(format!("unsupported version {:?}", le(4))));
    }
    let slot_pages = le(12).unwrap_or(0) as usize;
    if slot_pages == 0 || slot_pages > 2048 {
        return Err(bad(format!("implausible slot page count {slot_pages}")));
    }
    let nslots = slot_pages * 256 - 2;
    let mut blobs = vec![];
    let mut seen = BTreeSet::new();
    for s in 0..nslots {
        let o = 32 + s * 16;
        let Some(magic) = db.get(o..o + 4) else {
            return Err(bad(format!("slot {s} beyond end of file")));
        };
        if magic != b"Slot" {
            return Err(bad(format!("slot {s}: bad magic")));
        }
        let idx = le(o + 4).unwrap_or(0);
        if idx == 0 {
            continue;
        }
        let blk = le(o + 8).unwrap_or(0) as usize * 16;
        if db.get(blk..blk + 4) != Some(b"BlbS") {
            return Err(bad(format!("package {idx}: no blob header at offset {blk}")));
        }
        if le(blk + 4) != Some(idx) {
            return Err(bad(format!("package {idx}: blob at offset {blk} belongs to another package")));
        }
        let len = le(blk + 12).unwrap_or(0) as usize;
        let blob = db
            .get(blk + 16..blk + 16 + len)
            .ok_or_else(|| bad(format!("package {idx}: blob of {len} bytes runs past the end")))?;
        if seen.insert(idx) {
            blobs.push(blob.to_vec());
        }
    }
    finish(blobs, path)
}

/// Read an SQLite `rpmdb.sqlite` from bytes (copied to a private temp file for SQLite).
pub fn read_sqlite(db: &[u8], path: &str) -> Result<Vec<RpmPackage>, Error> {
    let bad = |what: String| Error::Parse { path: path.to_string(), what: format!("SQLite: {what}") };
    if !db.starts_with(b"SQLite format 3\0") {
        return Err(bad("not an SQLite database".into()));
    }
    let dir = tempfile_dir().map_err(|e| bad(format!("temp dir: {e}")))?;
    let file = dir.join("rpmdb.sqlite");
    std::fs::write(&file, db).map_err(|e| bad(format!("write temp copy: {e}")))?;
    let result = (|| {
        let conn = rusqlite::Connection::open_with_flags(
            &file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| bad(e.to_string()))?;
        let mut st = conn.prepare("SELECT blob FROM Packages ORDER BY hnum").map_err(|e| bad(e.to_string()))?;
        let rows = st.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| bad(e.to_string()))?;
        let mut blobs = vec![];
        for r in rows {
            blobs.push(r.map_err(|e| bad(e.to_string()))?);
        }
        finish(blobs, path)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "keelwatch-rpmdb-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Read any of the three formats, chosen by file name and checked by magic.
pub fn read_any(db: &[u8], path: &str) -> Result<Vec<RpmPackage>, Error> {
    if path.ends_with(".sqlite") {
        read_sqlite(db, path)
    } else if path.ends_with("Packages.db") {
        read_ndb(db, path)
    } else {
        read_bdb(db, path)
    }
}
