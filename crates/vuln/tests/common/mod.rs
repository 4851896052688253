//! Helpers shared by the layer tests: tar streams built entry by entry (including raw,
//! unchecked names), gzip, docker-save archives and a scratch-directory listing.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

pub enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
    /// Raw name bytes written straight into the header (bypasses the tar crate's checks).
    Raw(&'a [u8], &'a [u8]),
    /// A raw name longer than 100 bytes, written as a GNU long-name entry plus the file.
    RawLong(&'a [u8], &'a [u8]),
}

pub fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(p, d, mode) => {
                let mut h = tar::Header::new_gnu();
                h.set_size(d.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, p, *d).expect("append");
            }
            E::Link(p, t) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).expect("link");
            }
            E::Raw(name, d) => {
                let mut h = tar::Header::new_old();
                h.as_old_mut().name[..name.len()].copy_from_slice(name);
                h.set_size(d.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append(&h, *d).expect("raw");
            }
            E::RawLong(name, d) => {
                let mut l = tar::Header::new_gnu();
                l.as_gnu_mut().expect("gnu").name[..13].copy_from_slice(b"././@LongLink");
                l.set_mode(0o644);
                l.set_entry_type(tar::EntryType::GNULongName);
                l.set_size(name.len() as u64 + 1);
                l.set_cksum();
                let mut long = name.to_vec();
                long.push(0);
                b.append(&l, long.as_slice()).expect("longname");
                let mut h = tar::Header::new_gnu();
                let n = name.len().min(100);
                h.as_gnu_mut().expect("gnu").name[..n].copy_from_slice(&name[..n]);
                h.set_size(d.len() as u64);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                b.append(&h, *d).expect("raw long");
            }
        }
    }
    b.into_inner().expect("finish")
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}

pub fn sha(d: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(d)))
}

/// A docker-save archive with the given (uncompressed) layer tars; layers stored gzipped.
pub fn docker_archive(path: &Path, layers: &[Vec<u8>]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    let mut names = vec![];
    let mut diffs = vec![];
    for (i, l) in layers.iter().enumerate() {
        diffs.push(sha(l));
        let name = format!("l{i}/layer.tar");
        let data = gz(l);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &name, data.as_slice()).expect("layer");
        names.push(name);
    }
    let config =
        serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diffs}});
    let cfg = serde_json::to_vec(&config).expect("json");
    let cfg_name = format!("{}.json", hex::encode(Sha256::digest(&cfg)));
    let manifest =
        serde_json::to_vec(&serde_json::json!([{"Config": cfg_name, "RepoTags": ["t/x:1"], "Layers": names}]))
            .expect("json");
    for (n, d) in [(cfg_name.as_str(), cfg.as_slice()), ("manifest.json", manifest.as_slice())] {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, n, d).expect("meta");
    }
    b.into_inner().expect("finish").flush().expect("flush");
}

pub fn meta(name: &str, version: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes()
}

pub fn all_files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().expect("ft").is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).expect("prefix").display().to_string());
            }
        }
    }
    out.sort();
    out
}
