//! Executables parsed with their section tables (ELF, PE, thin Mach-O via the `object`
//! crate), in memory and bounded by the caller ([`crate::walker::Limits::max_binary`]):
//!
//! - **Rust, cargo-auditable**: the `.dep-v0` section (same name in all three formats; in the
//!   `__DATA` segment on Mach-O) holds zlib-compressed JSON `{"format"?, "packages": [{name,
//!   version, source, kind?, dependencies?, root?}]}`. Decompression is capped at 8 MiB.
//!   Packages with `source` `crates.io` and `kind` runtime (the default) are reported; build
//!   dependencies (proc macros and their deps), git/local/other-registry crates and the root
//!   package are not, since crates.io advisories do not describe them.
//! - **Go build info**, both formats. The blob (`\xff Go buildinf:`, 16-byte aligned) is
//!   searched in the first 64 KiB at the start of the data: the `.go.buildinfo` section (ELF),
//!   `__go_buildinfo` (Mach-O), else `.data` (PE), the first writable non-executable `PT_LOAD`
//!   (ELF) or the `__DATA` segment (Mach-O). Header byte 14 is the pointer size, byte 15 the
//!   flags: bit 2 set (Go ≥ 1.18) means the two strings follow inline as varint-prefixed
//!   data; otherwise (Go < 1.18) two pointers follow at offsets 16 and 16+ptrsize, in the
//!   byte order the flags give (non-zero = big-endian), each to a Go string header (data
//!   pointer, length) for `runtime.buildVersion` and `runtime.modinfo`. Virtual addresses are
//!   translated through the loadable segments (sections for files without segments).
//!
//! Anything malformed yields `None` (or the next fallback), never a panic: every offset and
//! length is checked, strings are capped at 1 MiB.

use std::io::Read;

use object::{BinaryFormat, Object, ObjectSection, ObjectSegment, SegmentFlags};
use serde::Deserialize;

use crate::catalog::binary::{self, BinaryFinding, GO_BUILDINFO_MAGIC, RustCrate};

/// Largest decompressed cargo-auditable JSON accepted.
pub const MAX_AUDIT_JSON: u64 = 8 << 20;
const MAX_GO_STRING: u64 = 1 << 20;

/// Find packages in an executable held in memory. Tries cargo-auditable data, then Go build
/// info through the section table, then (ELF only) the section-less inline Go scan.
pub fn scan_binary(data: &[u8]) -> Option<BinaryFinding> {
    if let Ok(file) = object::File::parse(data) {
        if let Some(f) = auditable(&file) {
            return Some(f);
        }
        if let Some(f) = go_buildinfo(&file) {
            return Some(f);
        }
    }
    if data.starts_with(b"\x7fELF") { binary::scan_executable(&mut &data[..]).ok().flatten() } else { None }
}

#[derive(Deserialize)]
struct AuditInfo {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: serde_json::Value,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// Decode the contents of a `.dep-v0` section (zlib JSON) into the crates.io runtime crates.
/// `None` if it is not valid cargo-auditable data.
pub fn parse_auditable(compressed: &[u8]) -> Option<Vec<RustCrate>> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed).take(MAX_AUDIT_JSON + 1).read_to_end(&mut json).ok()?;
    if json.len() as u64 > MAX_AUDIT_JSON {
        return None;
    }
    let info: AuditInfo = serde_json::from_slice(&json).ok()?;
    let mut out: Vec<RustCrate> = info
        .packages
        .into_iter()
        .filter(|p| {
            let src = p.source.as_str().unwrap_or("").to_ascii_lowercase();
            (src == "crates.io" || src == "cratesio")
                && !p.root
                && p.kind.as_deref().is_none_or(|k| k == "runtime")
                && !p.name.is_empty()
                && !p.version.is_empty()
        })
        .map(|p| RustCrate { name: p.name, version: p.version })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup();
    Some(out)
}

fn auditable(file: &object::File) -> Option<BinaryFinding> {
    let sec = file.section_by_name(".dep-v0")?;
    let crates = parse_auditable(sec.data().ok()?)?;
    Some(BinaryFinding::Rust { crates })
}

/// Bytes at virtual address `addr`, at most `len`, up to the end of the containing segment's
/// file data (sections for objects without segments).
fn read_va<'d>(file: &object::File<'d>, addr: u64, len: u64) -> Option<&'d [u8]> {
    let pick = |a: u64, data: &'d [u8]| -> Option<&'d [u8]> {
        let off = addr.checked_sub(a)?;
        if off >= data.len() as u64 {
            return None;
        }
        let end = off.saturating_add(len).min(data.len() as u64);
        data.get(off as usize..end as usize)
    };
    let mut any_segment = false;
    for seg in file.segments() {
        any_segment = true;
        if let Ok(d) = seg.data()
            && let Some(s) = pick(seg.address(), d)
        {
            return Some(s);
        }
    }
    if any_segment {
        return None;
    }
    file.sections().find_map(|s| s.data().ok().and_then(|d| pick(s.address(), d)))
}

/// Address where the linker put the build-info blob (or the start of the data it is near).
fn go_data_start(file: &object::File) -> Option<u64> {
    for name in [".go.buildinfo", "__go_buildinfo"] {
        if let Some(s) = file.section_by_name(name) {
            return Some(s.address());
        }
    }
    match file.format() {
        BinaryFormat::Pe => file.section_by_name(".data").map(|s| s.address()),
        BinaryFormat::Elf => file.segments().find_map(|s| match s.flags() {
            SegmentFlags::Elf { p_flags } if p_flags & (object::elf::PF_X | object::elf::PF_W) == object::elf::PF_W => {
                Some(s.address())
            }
            _ => None,
        }),
        BinaryFormat::MachO => file.segments().find(|s| s.name().ok().flatten() == Some("__DATA")).map(|s| s.address()),
        _ => None,
    }
}

fn go_buildinfo(file: &object::File) -> Option<BinaryFinding> {
    let start = go_data_start(file)?;
    let region = read_va(file, start, 64 << 10)?;
    let mut pos = 0usize;
    while pos + 32 <= region.len() && !region[pos..].starts_with(GO_BUILDINFO_MAGIC) {
        pos += 16;
    }
    let hdr = region.get(pos..pos + 32)?;
    if hdr[15] & 2 != 0 {
        let blob = read_va(file, start.checked_add(pos as u64)?, MAX_GO_STRING * 2 + 64)?;
        return binary::parse_go_buildinfo(blob);
    }
    let ptr_size = hdr[14] as usize;
    let big = hdr[15] != 0;
    let read_ptr = |b: &[u8]| -> Option<u64> {
        Some(match (ptr_size, big) {
            (4, false) => u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as u64,
            (4, true) => u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as u64,
            (8, false) => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            (8, true) => u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            _ => return None,
        })
    };
    let string_at = |addr: u64| -> Option<&[u8]> {
        let h = read_va(file, addr, 2 * ptr_size as u64)?;
        let (data, len) = (read_ptr(h)?, read_ptr(h.get(ptr_size..)?)?);
        if len > MAX_GO_STRING {
            return None;
        }
        let s = read_va(file, data, len)?;
        (s.len() as u64 == len).then_some(s)
    };
    let version = std::str::from_utf8(string_at(read_ptr(&hdr[16..])?)?).ok()?;
    let modinfo = read_ptr(&hdr[16 + ptr_size..]).and_then(string_at).unwrap_or(&[]);
    binary::go_finding(version, modinfo)
}
