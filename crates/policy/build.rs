//! Embeds the built-in policy library: every `policies/<definition>/` directory with a
//! `definition.yaml` and a `template.yaml`, plus `policies/initiatives.yaml`, become string
//! constants in `$OUT_DIR/builtin.rs` (sorted by name, so builds are reproducible).
//!
//! The files' *contents* are written as literals and `rerun-if-changed` paths are relative to
//! the package: cargo shares build-script output between checkouts of the workspace that use
//! the same target directory (CI points several clones at one cache), so an absolute
//! `include_str!` path or an absolute rerun path would embed — and watch — another checkout's
//! policies.

use std::fmt::Write as _;
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn main() {
    let root = Path::new("policies");
    println!("cargo:rerun-if-changed=policies");
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut out = String::from("/// (definition name, definition.yaml, template.yaml) of every built-in definition.\n");
    out.push_str("pub static DEFINITIONS: &[(&str, &str, &str)] = &[\n");
    for d in &dirs {
        let def = d.join("definition.yaml");
        let tpl = d.join("template.yaml");
        println!("cargo:rerun-if-changed={}", d.display());
        println!("cargo:rerun-if-changed={}", def.display());
        println!("cargo:rerun-if-changed={}", tpl.display());
        if !def.is_file() || !tpl.is_file() {
            continue;
        }
        let name = d.file_name().and_then(|n| n.to_str()).expect("UTF-8 directory name");
        writeln!(out, "    ({name:?}, {:?}, {:?}),", read(&def), read(&tpl)).expect("write");
    }
    out.push_str("];\n");
    let initiatives = root.join("initiatives.yaml");
    println!("cargo:rerun-if-changed={}", initiatives.display());
    writeln!(out, "/// policies/initiatives.yaml\npub static INITIATIVES: &str = {:?};", read(&initiatives))
        .expect("write");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin.rs");
    std::fs::write(dest, out).expect("write builtin.rs");
}
