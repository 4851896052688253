//! Packages compiled into executables: Rust binaries with cargo-auditable data (`.dep-v0`,
//! ELF and Mach-O fixtures written here with the `object` crate, and a binary built by the real
//! `cargo auditable` in `crates/keelwatch/tests/vuln_cli.rs`), Go build info in the pre-1.18
//! pointer format (ELF fixtures written here: little-endian 64-bit and big-endian 32-bit, with
//! and without a `.go.buildinfo` section) and the real Go binary `/usr/bin/age` from the
//! Debian package. Each is found through a real tar layer, cataloged and matched against OSV
//! records (the shared Go dump; crates.io records written here).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use keelwatch_vuln::catalog::binary::{self, BinaryFinding, GoModule, RustCrate};
use keelwatch_vuln::catalog::{self, PkgKind, exe};
use keelwatch_vuln::db::{self, Database, Input};
use keelwatch_vuln::matcher;
use keelwatch_vuln::walker::{self, Limits};
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Writer};
use object::{Architecture, BinaryFormat, Endianness, SectionKind, elf};

const GO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

/// cargo-auditable JSON: a local root, two runtime crates.io crates, a build-only proc macro
/// and a git dependency.
fn audit_json() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"format": 1, "packages": [
        {"name": "hello", "version": "0.1.0", "source": "local", "root": true, "dependencies": [1, 2, 3, 4]},
        {"name": "time", "version": "0.1.45", "source": "crates.io", "dependencies": [2]},
        {"name": "libc", "version": "0.2.150", "source": "crates.io"},
        {"name": "serde_derive", "version": "1.0.190", "source": "crates.io", "kind": "build"},
        {"name": "mygit", "version": "0.1.0", "source": "git"}
    ]}))
    .expect("json")
}

/// An object file (ELF or Mach-O) with a real `.dep-v0` section and 4 KiB of code.
fn with_dep_section(format: BinaryFormat, dep: &[u8]) -> Vec<u8> {
    let mut o = object::write::Object::new(format, Architecture::X86_64, Endianness::Little);
    let text = o.section_id(object::write::StandardSection::Text);
    o.append_section_data(text, &[0x90; 4096], 16);
    let seg = o.segment_name(object::write::StandardSegment::Data).to_vec();
    let s = o.add_section(seg, b".dep-v0".to_vec(), SectionKind::ReadOnlyData);
    o.append_section_data(s, dep, 1);
    o.write().expect("write object")
}

fn want_crates() -> Vec<RustCrate> {
    vec![
        RustCrate { name: "libc".into(), version: "0.2.150".into() },
        RustCrate { name: "time".into(), version: "0.1.45".into() },
    ]
}

#[test]
fn auditable_section_in_elf_and_macho() {
    for format in [BinaryFormat::Elf, BinaryFormat::MachO] {
        let bin = with_dep_section(format, &zlib(&audit_json()));
        assert_eq!(exe::scan_binary(&bin), Some(BinaryFinding::Rust { crates: want_crates() }), "{format:?}");
    }
    // Not zlib, not JSON, a zlib bomb over 8 MiB: nothing, no panic.
    for bad in [b"plain".to_vec(), zlib(b"{not json"), zlib(&vec![b' '; 9 << 20])] {
        assert_eq!(exe::scan_binary(&with_dep_section(BinaryFormat::Elf, &bad)), None);
    }
    // Truncated binary: no panic.
    let bin = with_dep_section(BinaryFormat::Elf, &zlib(&audit_json()));
    for cut in [10, 64, bin.len() / 2, bin.len() - 1] {
        let _ = exe::scan_binary(&bin[..cut]);
    }
}

/// A pre-1.18 Go executable: a read-only PT_LOAD with the string bytes, a writable PT_LOAD
/// with the build-info header (at data offset 0x20) and the two Go string headers.
fn old_go_elf(is_64: bool, big: bool, with_section: bool, version: &str, modinfo: &[u8]) -> Vec<u8> {
    const RO_VA: u64 = 0x40_0000;
    const RW_VA: u64 = 0x60_0000;
    let ps = if is_64 { 8 } else { 4 };
    let put = |buf: &mut [u8], off: usize, v: u64| match (is_64, big) {
        (true, false) => buf[off..off + 8].copy_from_slice(&v.to_le_bytes()),
        (true, true) => buf[off..off + 8].copy_from_slice(&v.to_be_bytes()),
        (false, false) => buf[off..off + 4].copy_from_slice(&(v as u32).to_le_bytes()),
        (false, true) => buf[off..off + 4].copy_from_slice(&(v as u32).to_be_bytes()),
    };
    let mut ro = vec![0xccu8; 0x100];
    let ver_at = RO_VA + ro.len() as u64;
    ro.extend_from_slice(version.as_bytes());
    let mod_at = RO_VA + ro.len() as u64;
    ro.extend_from_slice(modinfo);
    ro.resize(ro.len() + 0x40, 0);
    let hoff = 0x20;
    let mut rw = vec![0u8; 0x200];
    rw[hoff..hoff + 14].copy_from_slice(GO_MAGIC);
    rw[hoff + 14] = ps as u8;
    rw[hoff + 15] = big as u8;
    let (ver_hdr, mod_hdr) = (0x100usize, 0x140usize);
    put(&mut rw, hoff + 16, RW_VA + ver_hdr as u64);
    put(&mut rw, hoff + 16 + ps, RW_VA + mod_hdr as u64);
    put(&mut rw, ver_hdr, ver_at);
    put(&mut rw, ver_hdr + ps, version.len() as u64);
    put(&mut rw, mod_hdr, mod_at);
    put(&mut rw, mod_hdr + ps, modinfo.len() as u64);

    let mut buf = Vec::new();
    let mut w = Writer::new(if big { Endianness::Big } else { Endianness::Little }, is_64, &mut buf);
    w.reserve_file_header();
    w.reserve_program_headers(2);
    let ro_off = w.reserve(ro.len(), 0x1000) as u64;
    let rw_off = w.reserve(rw.len(), 0x1000) as u64;
    w.reserve_null_section_index();
    let name = with_section.then(|| w.add_section_name(b".go.buildinfo"));
    if with_section {
        w.reserve_section_index();
    }
    w.reserve_shstrtab_section_index();
    w.reserve_shstrtab();
    w.reserve_section_headers();
    w.write_file_header(&FileHeader {
        os_abi: 0,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: if big { elf::EM_PPC } else { elf::EM_X86_64 },
        e_entry: RO_VA,
        e_flags: 0,
    })
    .expect("header");
    w.write_align_program_headers();
    for (off, va, len, flags) in
        [(ro_off, RO_VA, ro.len(), elf::PF_R), (rw_off, RW_VA, rw.len(), elf::PF_R | elf::PF_W)]
    {
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: flags,
            p_offset: off,
            p_vaddr: va,
            p_paddr: va,
            p_filesz: len as u64,
            p_memsz: len as u64,
            p_align: 0x1000,
        });
    }
    w.write_align(0x1000);
    w.write(&ro);
    w.write_align(0x1000);
    w.write(&rw);
    w.write_shstrtab();
    w.write_null_section_header();
    if with_section {
        w.write_section_header(&SectionHeader {
            name,
            sh_type: elf::SHT_PROGBITS,
            sh_flags: (elf::SHF_ALLOC | elf::SHF_WRITE) as u64,
            sh_addr: RW_VA + hoff as u64,
            sh_offset: rw_off + hoff as u64,
            sh_size: 32,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 16,
            sh_entsize: 0,
        });
    }
    w.write_shstrtab_section_header();
    buf
}

fn framed(text: &str) -> Vec<u8> {
    let mut m = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
    m.extend_from_slice(text.as_bytes());
    m.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
    m
}

const MODINFO: &str = "path\texample.com/oldtool\nmod\texample.com/oldtool\tv0.3.1\th1:a\ndep\tgolang.org/x/text\tv0.3.5\th1:b\ndep\tgithub.com/gorilla/websocket\tv1.4.0\th1:c\n=>\tgithub.com/gorilla/websocket\tv1.4.2\th1:d\n";

#[test]
fn go_pre_118_pointer_format() {
    let want = BinaryFinding::Go {
        go_version: "go1.16.15".into(),
        main: Some(GoModule { path: "example.com/oldtool".into(), version: "v0.3.1".into() }),
        deps: vec![
            GoModule { path: "golang.org/x/text".into(), version: "v0.3.5".into() },
            GoModule { path: "github.com/gorilla/websocket".into(), version: "v1.4.2".into() },
        ],
    };
    for (is_64, big, section) in [(true, false, true), (true, false, false), (false, true, true), (false, true, false)]
    {
        let bin = old_go_elf(is_64, big, section, "go1.16.15", &framed(MODINFO));
        assert_eq!(exe::scan_binary(&bin).as_ref(), Some(&want), "64-bit {is_64}, big-endian {big}, section {section}");
        // The streaming scanner cannot follow pointers: it must report nothing rather than junk.
        assert_eq!(binary::scan_executable(&mut bin.as_slice()).expect("io"), None);
        for cut in [20, 0x1000, 0x1100, bin.len() - 8] {
            let _ = exe::scan_binary(&bin[..cut.min(bin.len())]);
        }
    }
    // Pointers out of range / absurd lengths: nothing.
    let mut bin = old_go_elf(true, false, true, "go1.16.15", &framed(MODINFO));
    let hdr = bin.windows(14).position(|w| w == GO_MAGIC).expect("magic");
    bin[hdr + 16..hdr + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(exe::scan_binary(&bin), None);
    // Unknown pointer size.
    let mut bin = old_go_elf(true, false, true, "go1.16.15", &framed(MODINFO));
    bin[hdr + 14] = 3;
    assert_eq!(exe::scan_binary(&bin), None);
}

fn age() -> Vec<u8> {
    std::fs::read("/usr/bin/age").unwrap_or_else(|e| {
        panic!("/usr/bin/age (Debian package `age`, a Go binary): {e}: run `bash .ci/setup.d/vuln.sh`")
    })
}

#[test]
fn real_go_binary_from_debian_package() {
    let data = age();
    let Some(BinaryFinding::Go { go_version, main, deps }) = exe::scan_binary(&data) else {
        panic!("no Go build info in /usr/bin/age")
    };
    // Debian builds Go packages in GOPATH mode: a toolchain version, no module list.
    assert!(go_version.starts_with("go1.") && go_version.len() > 5, "{go_version}");
    assert!(main.is_none() && deps.is_empty(), "{main:?} {deps:?}");
    // Buffered (section table) and streamed (inline scan) paths agree on the real binary.
    let streamed = binary::examine_executable(&mut data.as_slice(), data.len() as u64, 1024).expect("io");
    assert!(streamed.streamed_only);
    let buffered = binary::examine_executable(&mut data.as_slice(), data.len() as u64, 1 << 30).expect("io");
    assert!(!buffered.streamed_only);
    assert_eq!(streamed.finding, buffered.finding);
    assert_eq!(buffered.finding, exe::scan_binary(&data));
}

fn tar_layer(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, d, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, p, *d).expect("append");
    }
    b.into_inner().expect("tar")
}

/// The Go dump plus crates.io records written here (real RustSec advisories, in OSV form).
fn database() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| {
        let t = tempfile::tempdir().expect("tempdir");
        let osv = t.path().join("crates");
        std::fs::create_dir_all(&osv).expect("mkdir");
        let rec = |id: &str, alias: &str, name: &str, fixed: Option<&str>, summary: &str| {
            let mut events = vec![serde_json::json!({"introduced": "0.0.0-0"})];
            if let Some(f) = fixed {
                events.push(serde_json::json!({"fixed": f}));
            }
            serde_json::json!({"schema_version": "1.4.0", "id": id, "modified": "2024-01-01T00:00:00Z", "aliases": [alias],
                "summary": summary, "affected": [{"package": {"ecosystem": "crates.io", "name": name, "purl": format!("pkg:cargo/{name}")},
                "ranges": [{"type": "SEMVER", "events": events}]}]})
        };
        for (id, r) in [
            ("RUSTSEC-2020-0071", rec("RUSTSEC-2020-0071", "CVE-2020-26235", "time", Some("0.2.23"), "Potential segfault in the time crate")),
            ("RUSTSEC-2021-0145", rec("RUSTSEC-2021-0145", "GHSA-g98v-hv3f-hcfr", "atty", None, "Potential unaligned read")),
        ] {
            std::fs::write(osv.join(format!("{id}.json")), serde_json::to_vec(&r).expect("json")).expect("write");
        }
        let go = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/osv/Go-all.zip");
        db::import(&t.path().join("db"), &[Input::path(go), Input::path(&osv)]).expect("import");
        t
    })
    .path()
}

#[test]
fn binaries_in_a_layer_are_cataloged_and_matched() {
    let rust = with_dep_section(BinaryFormat::Elf, &zlib(&audit_json()));
    let oldgo = old_go_elf(true, false, false, "go1.16.15", &framed(MODINFO));
    let layer = tar_layer(&[
        ("etc/os-release", b"ID=debian\nVERSION_ID=12\n", 0o644),
        ("usr/local/bin/hello", &rust, 0o755),
        ("usr/local/bin/oldtool", &oldgo, 0o755),
        // Not executable: not examined.
        ("usr/share/doc/hello.o", &rust, 0o644),
    ]);
    let r = walker::walk_layer(layer.as_slice(), "sha256:bins", &Limits::default()).expect("walk");
    assert_eq!(r.binaries.len(), 2, "{:?}", r.binaries.keys());
    // Over max_binary: streamed only, counted, and the pointer-format Go info is not found.
    let small = Limits { max_binary: 1024, ..Default::default() };
    let r2 = walker::walk_layer(layer.as_slice(), "sha256:bins", &small).expect("walk");
    assert!(r2.binaries.is_empty());
    assert_eq!(r2.stats.skipped.get(walker::SKIP_BIG_BINARY), Some(&2));

    let inv = catalog::catalog(&walker::merge(&[r]), &[Some("sha256:bins".into())]);
    let rust_pkgs: Vec<(&str, &str, &str)> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PkgKind::RustBinary)
        .map(|p| (p.name.as_str(), p.version.as_str(), p.purl.as_str()))
        .collect();
    assert_eq!(
        rust_pkgs,
        vec![("libc", "0.2.150", "pkg:cargo/libc@0.2.150"), ("time", "0.1.45", "pkg:cargo/time@0.1.45")]
    );
    let std_pkg = inv.packages.iter().find(|p| p.kind == PkgKind::GoStdlib).expect("stdlib");
    assert_eq!((std_pkg.version.as_str(), std_pkg.path.as_str()), ("1.16.15", "usr/local/bin/oldtool"));
    assert!(
        inv.packages
            .iter()
            .any(|p| p.kind == PkgKind::Go && p.name == "github.com/gorilla/websocket" && p.version == "v1.4.2")
    );

    let dbh = Database::open(&database().join("db")).expect("open");
    let findings = matcher::match_inventory(&inv, &dbh).expect("match");
    let time = findings.iter().find(|f| f.id == "RUSTSEC-2020-0071").expect("time advisory");
    assert_eq!((time.package.as_str(), time.installed.as_str()), ("time", "0.1.45"));
    assert_eq!(time.fixed.as_deref(), Some("0.2.23"));
    assert_eq!(time.ecosystem, "crates.io");
    assert!(time.aliases.iter().any(|a| a == "CVE-2020-26235"));
    assert!(!findings.iter().any(|f| f.package == "libc"));
    let go_std: Vec<&str> = findings.iter().filter(|f| f.package == "stdlib").map(|f| f.id.as_str()).collect();
    assert!(go_std.len() >= 20 && go_std.iter().all(|i| i.starts_with("GO-")), "{go_std:?}");
    assert!(findings.iter().all(|f| f.path != "usr/share/doc/hello.o"));
}
