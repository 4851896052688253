//! Packages embedded in binaries and archives, found while the layer streams by:
//! executables (see [`crate::catalog::exe`] for the section-table based parsers: Rust
//! cargo-auditable data and Go build info in both formats) and Java archives
//! (pom.properties, MANIFEST.MF, nested jars).
//!
//! Executables up to [`crate::walker::Limits::max_binary`] are buffered and parsed with their
//! section tables. Larger ones are streamed through [`scan_executable`], which needs no
//! section table: a Go ≥ 1.18 build-info blob starts with the 14-byte magic
//! `\xff Go buildinf:` at a 16-byte aligned file offset and carries its strings inline, so it
//! is found in one forward pass with a bounded window. (The pre-1.18 format stores pointers
//! that need the whole file; cargo-auditable data needs the section table at the file's end.)

use std::io::{self, Cursor, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::zipread::ZipFile;

const GO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// A Go module reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoModule {
    pub path: String,
    pub version: String,
}

/// A Maven artifact found in a jar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JarArtifact {
    pub group: String,
    pub artifact: String,
    pub version: String,
    /// Location inside the outer archive (`outer.jar!/BOOT-INF/lib/x.jar`).
    pub location: String,
}

/// A crate compiled into a Rust binary (from its cargo-auditable `.dep-v0` data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RustCrate {
    pub name: String,
    pub version: String,
}

/// What a binary or archive contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BinaryFinding {
    Go {
        go_version: String,
        main: Option<GoModule>,
        deps: Vec<GoModule>,
    },
    Jar {
        artifacts: Vec<JarArtifact>,
    },
    /// crates.io packages a cargo-auditable binary was built from (runtime dependencies).
    Rust {
        crates: Vec<RustCrate>,
    },
}

/// Result of examining one executable file.
#[derive(Debug, Default)]
pub struct ExeScan {
    pub finding: Option<BinaryFinding>,
    /// The file was larger than the buffer limit: only Go ≥ 1.18 build info was searched.
    pub streamed_only: bool,
}

/// First bytes of ELF, PE and (thin) Mach-O files.
pub fn is_binary_magic(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
        || head.starts_with(b"MZ")
        || [[0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe]]
            .iter()
            .any(|m| head.starts_with(m))
}

/// Examine an executable of `size` bytes read from `r`: buffered and parsed with its section
/// table when `size <= max_buffer` (cargo-auditable, Go build info in both formats), else
/// streamed for Go ≥ 1.18 build info only. Non-binaries are left unread after 4 bytes.
pub fn examine_executable<R: Read>(r: &mut R, size: u64, max_buffer: u64) -> io::Result<ExeScan> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if got < 4 || !is_binary_magic(&head) {
        return Ok(ExeScan::default());
    }
    if size > max_buffer {
        let mut chained = (&head[..]).chain(r);
        return Ok(ExeScan { finding: scan_executable(&mut chained)?, streamed_only: true });
    }
    let mut data = Vec::with_capacity(size as usize);
    data.extend_from_slice(&head);
    r.take(max_buffer.saturating_sub(4)).read_to_end(&mut data)?;
    Ok(ExeScan { finding: crate::catalog::exe::scan_binary(&data), streamed_only: false })
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        x |= ((c & 0x7f) as u64) << (7 * i);
        if c < 0x80 {
            return Some((x, i + 1));
        }
    }
    None
}

/// The 14-byte magic that starts a Go build-info blob.
pub const GO_BUILDINFO_MAGIC: &[u8; 14] = GO_MAGIC;

/// Parse an inline (Go ≥ 1.18) build-info blob starting at the magic. `None` for the
/// pointer-based pre-1.18 format (see [`crate::catalog::exe`]) or garbage.
pub fn parse_go_buildinfo(b: &[u8]) -> Option<BinaryFinding> {
    if b.len() < 32 || &b[..14] != GO_MAGIC || b[15] & 2 == 0 {
        return None;
    }
    let mut p = 32;
    let (n, k) = uvarint(b.get(p..)?)?;
    p += k;
    let version = std::str::from_utf8(b.get(p..p.checked_add(n as usize)?)?).ok()?.to_string();
    p += n as usize;
    let (n, k) = uvarint(b.get(p..)?)?;
    p += k;
    let modinfo = b.get(p..p.checked_add(n as usize)?)?;
    go_finding(&version, modinfo)
}

/// Build the finding from the two build-info strings: the Go version (`go1.21.5`) and the
/// module info (framed by 16 sentinel bytes on each side; lines `path`, `mod`, `dep`, `=>`).
pub fn go_finding(version: &str, modinfo: &[u8]) -> Option<BinaryFinding> {
    let mut modinfo = modinfo;
    if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        modinfo = &modinfo[16..modinfo.len() - 16];
    }
    let text = String::from_utf8_lossy(modinfo);
    let mut main = None;
    let mut deps: Vec<GoModule> = vec![];
    let mut last_is_main = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.first().copied() {
            Some("mod") if f.len() >= 3 => {
                main = Some(GoModule { path: f[1].into(), version: f[2].into() });
                last_is_main = true;
            }
            Some("dep") if f.len() >= 3 => {
                deps.push(GoModule { path: f[1].into(), version: f[2].into() });
                last_is_main = false;
            }
            Some("=>") if f.len() >= 3 => {
                let target = if last_is_main { main.as_mut() } else { deps.last_mut() };
                if let Some(m) = target
                    && !f[2].is_empty()
                {
                    m.path = f[1].into();
                    m.version = f[2].into();
                }
            }
            _ => {}
        }
    }
    if !version.starts_with("go") || version.len() > 64 {
        return None;
    }
    Some(BinaryFinding::Go { go_version: version.to_string(), main, deps })
}

/// Scan an executable stream for Go build info. Reads the stream to its end (or until found).
pub fn scan_executable<R: Read>(r: &mut R) -> io::Result<Option<BinaryFinding>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut head[got..])?;
        if n == 0 {
            return Ok(None);
        }
        got += n;
    }
    if &head != b"\x7fELF" {
        return Ok(None);
    }
    let mut window: Vec<u8> = head.to_vec();
    let mut base: u64 = 0; // file offset of window[0]
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let first = ((16 - (base % 16)) % 16) as usize;
        let mut pos = first;
        while pos + 14 <= window.len() {
            if window[pos] == 0xff && &window[pos..pos + 14] == GO_MAGIC {
                // Pull enough bytes for the header and the two strings (bounded).
                let mut blob = window[pos..].to_vec();
                while blob.len() < (1 << 20) {
                    let n = r.read(&mut chunk)?;
                    if n == 0 {
                        break;
                    }
                    blob.extend_from_slice(&chunk[..n]);
                    if let Some(f) = parse_go_buildinfo(&blob) {
                        return Ok(Some(f));
                    }
                }
                return Ok(parse_go_buildinfo(&blob));
            }
            pos += 16;
        }
        // Keep the unchecked tail (from the next aligned position on).
        let keep_from = pos.min(window.len());
        base += keep_from as u64;
        window.drain(..keep_from);
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&chunk[..n]);
    }
}

fn props(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let l = l.trim();
        if l.starts_with('#') { None } else { l.split_once('=').map(|(k, v)| (k.trim(), v.trim())) }
    })
}

fn manifest_attrs(text: &str) -> Vec<(String, String)> {
    // Continuation lines start with one space.
    let mut out: Vec<(String, String)> = vec![];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(cont);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Parse a jar (bytes in memory); nested jars up to depth 2. `None` if nothing identifiable.
pub fn scan_jar(data: &[u8], location: &str, depth: usize) -> Option<BinaryFinding> {
    let mut z = ZipFile::from_reader(Cursor::new(data), Path::new(location)).ok()?;
    let members = z.members.clone();
    let mut arts: Vec<JarArtifact> = vec![];
    let mut manifest: Option<(String, String, String)> = None;
    for m in &members {
        let lname = m.name.to_ascii_lowercase();
        if m.name.starts_with("META-INF/maven/") && m.name.ends_with("/pom.properties") {
            let Ok(b) = z.read(m, 1 << 20) else { continue };
            let text = String::from_utf8_lossy(&b);
            let (mut g, mut a, mut v) = (String::new(), String::new(), String::new());
            for (k, val) in props(&text) {
                match k {
                    "groupId" => g = val.into(),
                    "artifactId" => a = val.into(),
                    "version" => v = val.into(),
                    _ => {}
                }
            }
            if !g.is_empty() && !a.is_empty() && !v.is_empty() {
                arts.push(JarArtifact { group: g, artifact: a, version: v, location: location.to_string() });
            }
        } else if m.name == "META-INF/MANIFEST.MF" {
            let Ok(b) = z.read(m, 1 << 20) else { continue };
            let attrs = manifest_attrs(&String::from_utf8_lossy(&b));
            let get = |k: &str| attrs.iter().find(|(x, _)| x.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
            let group = get("Implementation-Vendor-Id")
                .or_else(|| get("Bundle-SymbolicName").and_then(|s| s.rsplit_once('.').map(|(g, _)| g.to_string())));
            let artifact = get("Implementation-Title")
                .or_else(|| get("Bundle-SymbolicName").map(|s| s.rsplit('.').next().unwrap_or("").to_string()));
            let version = get("Implementation-Version").or_else(|| get("Bundle-Version"));
            if let (Some(g), Some(a), Some(v)) = (group, artifact, version) {
                let a = a.split(';').next().unwrap_or("").trim().to_string();
                if !g.is_empty() && !a.is_empty() && !v.is_empty() && !a.contains(' ') {
                    manifest = Some((g, a, v));
                }
            }
        } else if depth < 2 && (lname.ends_with(".jar") || lname.ends_with(".war")) {
            let Ok(b) = z.read(m, 64 << 20) else { continue };
            if let Some(BinaryFinding::Jar { artifacts }) = scan_jar(&b, &format!("{location}!/{}", m.name), depth + 1)
            {
                arts.extend(artifacts);
            }
        }
    }
    let own_found = arts.iter().any(|a| a.location == location);
    if !own_found && let Some((g, a, v)) = manifest {
        arts.push(JarArtifact { group: g, artifact: a, version: v, location: location.to_string() });
    }
    if arts.is_empty() { None } else { Some(BinaryFinding::Jar { artifacts: arts }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = GO_MAGIC.to_vec();
        b.push(8);
        b.push(2);
        b.resize(32, 0);
        b.push(version.len() as u8);
        b.extend_from_slice(version.as_bytes());
        let mut m = vec![0x30u8; 16];
        m.extend_from_slice(modinfo.as_bytes());
        m.extend_from_slice(&[0x31u8; 16]);
        let mut n = m.len();
        while n >= 0x80 {
            b.push((n as u8) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        b.extend_from_slice(&m);
        b
    }

    #[test]
    fn streaming_scan_finds_aligned_magic() {
        let info = "path\texample.com/app\nmod\texample.com/app\tv1.2.3\th1:x\ndep\tgolang.org/x/net\tv0.1.0\th1:y\n=>\tgolang.org/x/net\tv0.7.0\th1:z\ndep\tgithub.com/a/b\tv1.0.0\th1:w\nbuild\t-compiler=gc\n";
        let mut file = b"\x7fELF".to_vec();
        file.resize(200_000 + 7 * 16, 0x11);
        // An unaligned decoy must be ignored.
        file[100_003..100_017].copy_from_slice(GO_MAGIC);
        file.extend_from_slice(&blob("go1.21.5", info));
        file.resize(file.len() + 70_000, 0);
        let f = scan_executable(&mut Cursor::new(&file)).expect("io").expect("found");
        let BinaryFinding::Go { go_version, main, deps } = f else { panic!("not go") };
        assert_eq!(go_version, "go1.21.5");
        assert_eq!(main, Some(GoModule { path: "example.com/app".into(), version: "v1.2.3".into() }));
        assert_eq!(deps[0], GoModule { path: "golang.org/x/net".into(), version: "v0.7.0".into() });
        assert_eq!(deps.len(), 2);
        // Not ELF: ignored.
        assert!(scan_executable(&mut Cursor::new(b"#!/bin/sh\necho hi\n".to_vec())).expect("io").is_none());
        // Truncated blob: no panic, nothing found.
        let mut cut = b"\x7fELF".to_vec();
        cut.resize(16, 0);
        cut.extend_from_slice(&blob("go1.21.5", info)[..40]);
        assert!(scan_executable(&mut Cursor::new(cut)).expect("io").is_none());
    }
}
