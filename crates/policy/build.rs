//! Embeds the built-in policy library: every `policies/<definition>/` directory with a
//! `definition.yaml` and a `template.yaml`, plus `policies/initiatives.yaml`, become string
//! constants in `$OUT_DIR/builtin.rs` (sorted by name, so builds are reproducible).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
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
        writeln!(
            out,
            "    ({name:?}, include_str!({:?}), include_str!({:?})),",
            def.display().to_string(),
            tpl.display().to_string()
        )
        .expect("write");
    }
    out.push_str("];\n");
    let initiatives = root.join("initiatives.yaml");
    println!("cargo:rerun-if-changed={}", initiatives.display());
    writeln!(
        out,
        "/// policies/initiatives.yaml\npub static INITIATIVES: &str = include_str!({:?});",
        initiatives.display().to_string()
    )
    .expect("write");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin.rs");
    std::fs::write(dest, out).expect("write builtin.rs");
}
