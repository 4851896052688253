//! Output formats shared by every command: aligned text tables, JSON, YAML and SARIF 2.1.0.
//!
//! Commands build their result as serde values (for json/yaml), a [`Table`] (for humans) or a
//! [`sarif::SarifLog`] (for code scanning); this module only renders. Commands with extra
//! formats (csv, cyclonedx) keep those next to their own data but reuse these for the rest.

pub mod sarif;
mod table;

use std::fmt;
use std::str::FromStr;

pub use table::Table;

/// The output formats every command understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
    Sarif,
}

impl OutputFormat {
    /// Names accepted on the command line, in help order.
    pub const NAMES: [&'static str; 4] = ["table", "json", "yaml", "sarif"];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Sarif => "sarif",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An output format name that is not known.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown output format '{0}': expected one of table, json, yaml, sarif")]
pub struct ParseFormatError(pub String);

impl FromStr for OutputFormat {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "yaml" | "yml" => Ok(OutputFormat::Yaml),
            "sarif" => Ok(OutputFormat::Sarif),
            _ => Err(ParseFormatError(s.to_string())),
        }
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_json_string<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// Block YAML (one document, starting with `---`).
pub fn to_yaml_string<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(value)?;
    Ok(crate::yaml::to_yaml_string(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!("JSON".parse::<OutputFormat>().unwrap(), OutputFormat::Json);
        assert_eq!("yml".parse::<OutputFormat>().unwrap(), OutputFormat::Yaml);
        let err = "xml".parse::<OutputFormat>().unwrap_err().to_string();
        assert!(err.contains("table, json, yaml, sarif"));
    }

    #[test]
    fn yaml_output_reparses() {
        let v = serde_json::json!({"kind": "Pod", "n": 3});
        let text = to_yaml_string(&v).unwrap();
        let r = crate::load::load_str(&text, "x", &crate::LoadOptions { require_kind: false, ..Default::default() });
        assert_eq!(r.objects[0].value, v);
    }
}
