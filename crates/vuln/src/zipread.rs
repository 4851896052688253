//! A small read-only ZIP reader for OSV `all.zip` dumps: end of central directory (with
//! Zip64), central directory entries, stored and deflate members. Sizes are bounded by the
//! caller's limit; a malformed archive is an error naming the offset, never a panic.
//! (Written here rather than taking the `zip` crate: we need 5% of it and its default
//! dependency tree is large.)

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::Error;

/// One member of the archive.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    method: u16,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// An open ZIP archive over any seekable reader (a file, or bytes in memory).
pub struct ZipFile<R = File> {
    path: PathBuf,
    file: R,
    pub members: Vec<Member>,
}

fn u16le(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64le(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

impl ZipFile<File> {
    /// Open `path` and read its central directory.
    pub fn open(path: &Path) -> Result<ZipFile<File>, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        ZipFile::from_reader(file, path)
    }
}

impl<R: Read + Seek> ZipFile<R> {
    /// Read the central directory of the archive in `file`; `path` names it in errors.
    pub fn from_reader(mut file: R, path: &Path) -> Result<ZipFile<R>, Error> {
        let bad = |what: String| Error::Zip { path: path.to_path_buf(), what };
        let len = file.seek(SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
        if len < 22 {
            return Err(bad("too short to be a zip file".into()));
        }
        let tail_len = len.min(65_557 + 20);
        let mut tail = vec![0u8; tail_len as usize];
        file.seek(SeekFrom::Start(len - tail_len)).map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut tail).map_err(|e| Error::io(path, e))?;
        let eocd = (0..=tail.len() - 22)
            .rev()
            .find(|&i| u32le(&tail, i) == 0x0605_4b50)
            .ok_or_else(|| bad("no end-of-central-directory record (not a zip file?)".into()))?;
        let mut entries = u16le(&tail, eocd + 10) as u64;
        let mut cd_size = u32le(&tail, eocd + 12) as u64;
        let mut cd_off = u32le(&tail, eocd + 16) as u64;
        if (entries == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff)
            && eocd >= 20
            && u32le(&tail, eocd - 20) == 0x0706_4b50
        {
            let z64_off = u64le(&tail, eocd - 20 + 8);
            let mut rec = [0u8; 56];
            file.seek(SeekFrom::Start(z64_off)).map_err(|e| Error::io(path, e))?;
            file.read_exact(&mut rec).map_err(|e| Error::io(path, e))?;
            if u32le(&rec, 0) != 0x0606_4b50 {
                return Err(bad(format!("bad zip64 end-of-central-directory at offset {z64_off}")));
            }
            entries = u64le(&rec, 32);
            cd_size = u64le(&rec, 40);
            cd_off = u64le(&rec, 48);
        }
        if cd_off.checked_add(cd_size).is_none_or(|e| e > len) || cd_size > len.min(1 << 30) {
            return Err(bad(format!("central directory (offset {cd_off}, size {cd_size}) lies outside the file")));
        }
        let mut cd = vec![0u8; cd_size as usize];
        file.seek(SeekFrom::Start(cd_off)).map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut cd).map_err(|e| Error::io(path, e))?;
        let mut members = Vec::with_capacity(entries.min(1 << 20) as usize);
        let mut p = 0usize;
        while p + 46 <= cd.len() && u32le(&cd, p) == 0x0201_4b50 {
            let method = u16le(&cd, p + 10);
            let mut compressed = u32le(&cd, p + 20) as u64;
            let mut uncompressed = u32le(&cd, p + 24) as u64;
            let nlen = u16le(&cd, p + 28) as usize;
            let xlen = u16le(&cd, p + 30) as usize;
            let clen = u16le(&cd, p + 32) as usize;
            let mut local_offset = u32le(&cd, p + 42) as u64;
            let end = p + 46 + nlen + xlen + clen;
            if end > cd.len() {
                return Err(bad(format!("central directory entry at offset {} is truncated", cd_off + p as u64)));
            }
            let name = String::from_utf8_lossy(&cd[p + 46..p + 46 + nlen]).into_owned();
            // Zip64 extended information extra field.
            let mut x = p + 46 + nlen;
            let xend = x + xlen;
            while x + 4 <= xend {
                let id = u16le(&cd, x);
                let sz = u16le(&cd, x + 2) as usize;
                let mut q = x + 4;
                if id == 1 {
                    for field in [&mut uncompressed, &mut compressed, &mut local_offset] {
                        if *field == 0xffff_ffff && q + 8 <= x + 4 + sz && q + 8 <= xend {
                            *field = u64le(&cd, q);
                            q += 8;
                        }
                    }
                }
                x += 4 + sz;
            }
            members.push(Member { name, method, compressed, uncompressed, local_offset });
            p = end;
        }
        Ok(ZipFile { path: path.to_path_buf(), file, members })
    }

    /// Read member `m` fully, refusing members larger than `limit` bytes uncompressed.
    pub fn read(&mut self, m: &Member, limit: u64) -> Result<Vec<u8>, Error> {
        let path = self.path.clone();
        let bad = |what: String| Error::Zip { path: path.clone(), what };
        if m.uncompressed > limit {
            return Err(bad(format!("member {} is {} bytes, over the {limit}-byte limit", m.name, m.uncompressed)));
        }
        let mut hdr = [0u8; 30];
        self.file.seek(SeekFrom::Start(m.local_offset)).map_err(|e| Error::io(&path, e))?;
        self.file.read_exact(&mut hdr).map_err(|e| Error::io(&path, e))?;
        if u32le(&hdr, 0) != 0x0403_4b50 {
            return Err(bad(format!("member {}: no local header at offset {}", m.name, m.local_offset)));
        }
        let skip = u16le(&hdr, 26) as i64 + u16le(&hdr, 28) as i64;
        self.file.seek(SeekFrom::Current(skip)).map_err(|e| Error::io(&path, e))?;
        let raw = (&mut self.file).take(m.compressed);
        let mut out = Vec::with_capacity(m.uncompressed.min(limit) as usize);
        match m.method {
            0 => {
                raw.take(limit + 1).read_to_end(&mut out).map_err(|e| Error::io(&path, e))?;
            }
            8 => {
                flate2::read::DeflateDecoder::new(raw)
                    .take(limit + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(format!("member {}: bad deflate data: {e}", m.name)))?;
            }
            other => return Err(bad(format!("member {}: unsupported compression method {other}", m.name))),
        }
        if out.len() as u64 > limit {
            return Err(bad(format!("member {} inflates past the {limit}-byte limit", m.name)));
        }
        Ok(out)
    }
}
