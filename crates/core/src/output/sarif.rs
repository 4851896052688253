//! SARIF 2.1.0 log structures (the subset GitHub code scanning and other viewers read).
//!
//! Field names follow the OASIS SARIF 2.1.0 schema; optional fields are skipped when empty
//! so the output stays small and valid.

use serde::Serialize;
use serde_json::Value;

use crate::Severity;

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const VERSION: &str = "2.1.0";

#[derive(Debug, Clone, Serialize)]
pub struct SarifLog {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<Run>,
}

impl SarifLog {
    /// A log with one run for `tool` at `version`.
    pub fn new(tool: &str, version: &str, information_uri: &str) -> Self {
        SarifLog {
            schema: SCHEMA,
            version: VERSION,
            runs: vec![Run {
                tool: Tool {
                    driver: Driver {
                        name: tool.to_string(),
                        version: version.to_string(),
                        information_uri: information_uri.to_string(),
                        rules: Vec::new(),
                    },
                },
                results: Vec::new(),
            }],
        }
    }

    /// The run results and rules are added to.
    pub fn run_mut(&mut self) -> &mut Run {
        &mut self.runs[0]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub tool: Tool,
    pub results: Vec<SarifResult>,
}

impl Run {
    /// Adds a rule unless one with the same id exists; returns its index.
    pub fn add_rule(&mut self, rule: Rule) -> usize {
        if let Some(i) = self.tool.driver.rules.iter().position(|r| r.id == rule.id) {
            return i;
        }
        self.tool.driver.rules.push(rule);
        self.tool.driver.rules.len() - 1
    }

    pub fn add_result(&mut self, result: SarifResult) {
        self.results.push(result);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub driver: Driver,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Driver {
    pub name: String,
    pub version: String,
    pub information_uri: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub short_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_description: Option<Message>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<Message>,
    pub default_configuration: Configuration,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub properties: Value,
}

impl Rule {
    pub fn new(id: &str, name: &str, description: &str, severity: Severity) -> Self {
        Rule {
            id: id.to_string(),
            name: name.to_string(),
            short_description: Message::new(description),
            full_description: None,
            help_uri: None,
            help: None,
            default_configuration: Configuration { level: severity.sarif_level() },
            properties: Value::Null,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    pub level: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub text: String,
}

impl Message {
    pub fn new(text: &str) -> Self {
        Message { text: text.to_string() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: String,
    pub level: &'static str,
    pub message: Message,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub properties: Value,
}

impl SarifResult {
    /// A result for `rule_id` at `path:line` (line 0 = whole file).
    pub fn new(rule_id: &str, severity: Severity, message: &str, path: &str, line: usize) -> Self {
        SarifResult {
            rule_id: rule_id.to_string(),
            level: severity.sarif_level(),
            message: Message::new(message),
            locations: vec![Location::new(path, line)],
            properties: Value::Null,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub physical_location: PhysicalLocation,
}

impl Location {
    pub fn new(path: &str, line: usize) -> Self {
        Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation { uri: path.trim_start_matches("./").to_string() },
                region: (line > 0).then_some(Region { start_line: line }),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactLocation {
    pub uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_shape() {
        let mut log = SarifLog::new("keelwatch", "0.1.0", "https://example.invalid");
        let run = log.run_mut();
        run.add_rule(Rule::new("r1", "Rule one", "desc", Severity::High));
        run.add_rule(Rule::new("r1", "dup", "dup", Severity::Low));
        run.add_result(SarifResult::new("r1", Severity::High, "bad", "./a.yaml", 3));
        let v = serde_json::to_value(&log).unwrap();
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap().len(), 1);
        assert_eq!(v["runs"][0]["results"][0]["level"], "error");
        assert_eq!(v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "a.yaml");
        assert_eq!(v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"], 3);
    }
}
