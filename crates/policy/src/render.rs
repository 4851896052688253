//! `policy render`: the templates and constraints of a [`PolicySet`] as multi-document YAML
//! that a real Gatekeeper accepts (templates first, then constraints, both sorted).

use crate::set::PolicySet;

/// Renders every template and constraint of `set`, separated by `---`.
pub fn render_yaml(set: &PolicySet) -> String {
    let mut docs: Vec<String> = Vec::new();
    for t in set.templates() {
        docs.push(keelwatch_core::yaml::to_yaml_string(&t.raw));
    }
    for c in set.constraints() {
        docs.push(keelwatch_core::yaml::to_yaml_string(&c.raw));
    }
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&d);
        if !d.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
