//! Rules-file loading: Falco YAML items (`rule`, `macro`, `list`, engine/plugin version
//! requirements) with `append: true` and `override:` semantics, accumulated across files in
//! load order. Nothing is compiled here; [`crate::rules::compile`] does that once all files
//! are loaded, so later files can tune earlier ones (override a `user_known_*` macro, append
//! to an allow-list).
//!
//! keelwatch extension: a rule may carry an `alert:` mapping (`type`, `name`, `severity`,
//! `tactics`, `techniques`, `remediation`) describing the SecurityAlert it raises.

use indexmap::IndexMap;
use serde_yaml::Value as Y;

use super::RuleError;

/// A Falco rule priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Informational,
    Debug,
}

impl Priority {
    /// Parses a priority name, case-insensitively.
    pub fn parse(text: &str) -> Option<Priority> {
        Some(match text.to_ascii_uppercase().as_str() {
            "EMERGENCY" => Priority::Emergency,
            "ALERT" => Priority::Alert,
            "CRITICAL" => Priority::Critical,
            "ERROR" => Priority::Error,
            "WARNING" | "WARN" => Priority::Warning,
            "NOTICE" => Priority::Notice,
            "INFORMATIONAL" | "INFO" => Priority::Informational,
            "DEBUG" => Priority::Debug,
            _ => return None,
        })
    }
    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "EMERGENCY",
            Priority::Alert => "ALERT",
            Priority::Critical => "CRITICAL",
            Priority::Error => "ERROR",
            Priority::Warning => "WARNING",
            Priority::Notice => "NOTICE",
            Priority::Informational => "INFORMATIONAL",
            Priority::Debug => "DEBUG",
        }
    }
    /// The SecurityAlert severity a priority maps to when a rule has no `alert.severity`.
    pub fn severity(self) -> &'static str {
        match self {
            Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => "High",
            Priority::Warning => "Medium",
            Priority::Notice => "Low",
            Priority::Informational | Priority::Debug => "Informational",
        }
    }
}

/// The keelwatch `alert:` block of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertMeta {
    pub alert_type: Option<String>,
    pub name: Option<String>,
    pub severity: Option<String>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub remediation: Vec<String>,
}

/// One structured exception of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionDef {
    pub name: String,
    /// `fields`: one field (then `values` is a flat list) or a list of fields.
    pub fields: Result<String, Vec<String>>,
    /// `comps`: one operator or one per field; empty means the defaults (`in` for a single
    /// field, `=` per field otherwise).
    pub comps: Vec<String>,
    pub values: Vec<Y>,
}

/// A `list` item.
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub items: Vec<String>,
    pub origin: String,
}

/// A `macro` item.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroDef {
    pub condition: String,
    pub origin: String,
}

/// A `rule` item after appends/overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: String,
    pub desc: String,
    pub condition: String,
    pub output: String,
    pub priority: Priority,
    pub source: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub exceptions: Vec<ExceptionDef>,
    pub alert: Option<AlertMeta>,
    pub origin: String,
}

/// Everything loaded so far, in definition order.
#[derive(Debug, Clone, Default)]
pub struct Definitions {
    pub lists: IndexMap<String, ListDef>,
    pub macros: IndexMap<String, MacroDef>,
    pub rules: IndexMap<String, RuleDef>,
    /// Items that were tolerated but ignored (unknown item types).
    pub notes: Vec<String>,
}

fn item_lines(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, l)| l.starts_with("- ") || *l == "-").map(|(i, _)| i + 1).collect()
}

fn as_str(v: &Y) -> Option<String> {
    match v {
        Y::String(s) => Some(s.clone()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_list(v: &Y) -> Option<Vec<String>> {
    match v {
        Y::Sequence(items) => items.iter().map(as_str).collect(),
        Y::Null => Some(Vec::new()),
        other => as_str(other).map(|s| vec![s]),
    }
}

impl Definitions {
    /// Loads one rules file. `origin` names it in errors (`origin:line`).
    pub fn add_file(&mut self, origin: &str, text: &str) -> Result<(), Vec<RuleError>> {
        let doc: Y = serde_yaml::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line()).unwrap_or(0);
            vec![RuleError::new(format!("{origin}:{line}"), "rules file", format!("invalid YAML: {e}"))]
        })?;
        let items = match doc {
            Y::Sequence(items) => items,
            Y::Null => return Ok(()),
            _ => {
                return Err(vec![RuleError::new(
                    format!("{origin}:1"),
                    "rules file",
                    "expected a YAML list of rule/macro/list items".into(),
                )]);
            }
        };
        let lines = item_lines(text);
        let line_of = |i: usize| {
            if lines.len() == items.len() {
                format!("{origin}:{}", lines[i])
            } else {
                format!("{origin} item {}", i + 1)
            }
        };
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = line_of(i);
            if let Err(e) = self.add_item(item, &at) {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    fn add_item(&mut self, item: &Y, at: &str) -> Result<(), RuleError> {
        let Y::Mapping(map) = item else {
            return Err(RuleError::new(at.into(), "item", "expected a mapping".into()));
        };
        let get = |k: &str| map.get(Y::String(k.to_string()));
        if get("required_engine_version").is_some() || get("required_plugin_versions").is_some() {
            return Ok(());
        }
        let append = get("append").and_then(Y::as_bool).unwrap_or(false);
        let overrides: Option<IndexMap<String, String>> = match get("override") {
            Some(Y::Mapping(m)) => Some(m.iter().filter_map(|(k, v)| Some((as_str(k)?, as_str(v)?))).collect()),
            Some(_) => {
                return Err(RuleError::new(
                    at.into(),
                    "item",
                    "'override' must be a mapping of key: append|replace".into(),
                ));
            }
            None => None,
        };
        if let Some(name) = get("list").and_then(as_str) {
            let what = format!("list '{name}'");
            let items = get("items")
                .map(|v| {
                    str_list(v)
                        .ok_or_else(|| RuleError::new(at.into(), &what, "'items' must be a list of strings".into()))
                })
                .transpose()?;
            let mode = mode_for(&overrides, "items", append);
            return match (mode, self.lists.get_mut(&name)) {
                (Mode::Append, Some(existing)) => {
                    existing.items.extend(items.unwrap_or_default());
                    Ok(())
                }
                (Mode::Append, None) => {
                    Err(RuleError::new(at.into(), &what, "append to a list that is not defined earlier".into()))
                }
                _ => {
                    let items = items.ok_or_else(|| RuleError::new(at.into(), &what, "missing 'items'".into()))?;
                    self.lists.insert(name, ListDef { items, origin: at.into() });
                    Ok(())
                }
            };
        }
        if let Some(name) = get("macro").and_then(as_str) {
            let what = format!("macro '{name}'");
            let cond = get("condition").and_then(as_str);
            let mode = mode_for(&overrides, "condition", append);
            return match (mode, self.macros.get_mut(&name)) {
                (Mode::Append, Some(existing)) => {
                    existing.condition = format!("{} {}", existing.condition.trim(), cond.unwrap_or_default().trim());
                    Ok(())
                }
                (Mode::Append, None) => {
                    Err(RuleError::new(at.into(), &what, "append to a macro that is not defined earlier".into()))
                }
                _ => {
                    let condition =
                        cond.ok_or_else(|| RuleError::new(at.into(), &what, "missing 'condition'".into()))?;
                    self.macros.insert(name, MacroDef { condition, origin: at.into() });
                    Ok(())
                }
            };
        }
        if let Some(name) = get("rule").and_then(as_str) {
            return self.add_rule(name, map, at, append, overrides);
        }
        let keys: Vec<String> = map.keys().filter_map(as_str).collect();
        self.notes.push(format!("{at}: ignored item with keys {keys:?}"));
        Ok(())
    }

    fn add_rule(
        &mut self,
        name: String,
        map: &serde_yaml::Mapping,
        at: &str,
        append: bool,
        overrides: Option<IndexMap<String, String>>,
    ) -> Result<(), RuleError> {
        let what = format!("rule '{name}'");
        let err = |msg: &str| RuleError::new(at.into(), &what, msg.to_string());
        let get = |k: &str| map.get(Y::String(k.to_string()));
        let text = |k: &str| -> Result<Option<String>, RuleError> {
            get(k).map(|v| as_str(v).ok_or_else(|| err(&format!("'{k}' must be a string")))).transpose()
        };
        let priority = text("priority")?
            .map(|p| {
                Priority::parse(&p).ok_or_else(|| {
                    err(&format!(
                        "unknown priority '{p}' (EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG)"
                    ))
                })
            })
            .transpose()?;
        let enabled = match get("enabled") {
            Some(Y::Bool(b)) => Some(*b),
            Some(_) => return Err(err("'enabled' must be true or false")),
            None => None,
        };
        let tags =
            get("tags").map(|v| str_list(v).ok_or_else(|| err("'tags' must be a list of strings"))).transpose()?;
        let exceptions = get("exceptions").map(|v| parse_exceptions(v, &what, at)).transpose()?;
        let alert = get("alert").map(|v| parse_alert(v, &what, at)).transpose()?;
        let condition = text("condition")?;
        let output = text("output")?;
        let desc = text("desc")?;
        let source = text("source")?;

        let is_update = append || overrides.is_some();
        // `- rule: X\n  enabled: false` alone toggles an existing rule.
        let only_enabled = map.len() == 2 && enabled.is_some() && self.rules.contains_key(&name);
        if is_update || only_enabled {
            let Some(rule) = self.rules.get_mut(&name) else {
                return Err(err("append/override of a rule that is not defined earlier"));
            };
            let ov = overrides.unwrap_or_default();
            let m = |k: &str| -> Mode {
                match ov.get(k).map(String::as_str) {
                    Some("replace") => Mode::Replace,
                    Some(_) => Mode::Append,
                    None if append => Mode::Append,
                    None => Mode::Replace,
                }
            };
            if let Some(c) = condition {
                match m("condition") {
                    Mode::Append => rule.condition = format!("{} {}", rule.condition.trim(), c.trim()),
                    Mode::Replace => rule.condition = c,
                }
            }
            if let Some(o) = output {
                match m("output") {
                    Mode::Append => rule.output = format!("{} {}", rule.output.trim(), o.trim()),
                    Mode::Replace => rule.output = o,
                }
            }
            if let Some(d) = desc {
                match m("desc") {
                    Mode::Append => rule.desc = format!("{} {}", rule.desc.trim(), d.trim()),
                    Mode::Replace => rule.desc = d,
                }
            }
            if let Some(t) = tags {
                match m("tags") {
                    Mode::Append => rule.tags.extend(t),
                    Mode::Replace => rule.tags = t,
                }
            }
            if let Some(excs) = exceptions {
                match m("exceptions") {
                    Mode::Replace => rule.exceptions = excs,
                    Mode::Append => {
                        for e in excs {
                            if let Some(existing) = rule.exceptions.iter_mut().find(|x| x.name == e.name) {
                                existing.values.extend(e.values);
                            } else {
                                rule.exceptions.push(e);
                            }
                        }
                    }
                }
            }
            if let Some(p) = priority {
                rule.priority = p;
            }
            if let Some(e) = enabled {
                rule.enabled = e;
            }
            if let Some(s) = source {
                rule.source = s;
            }
            if let Some(a) = alert {
                rule.alert = Some(a);
            }
            return Ok(());
        }
        let condition = condition.ok_or_else(|| err("missing 'condition'"))?;
        let def = RuleDef {
            desc: desc.unwrap_or_default(),
            condition,
            output: output.unwrap_or_default(),
            priority: priority.ok_or_else(|| err("missing 'priority'"))?,
            source: source.unwrap_or_else(|| "syscall".into()),
            tags: tags.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            exceptions: exceptions.unwrap_or_default(),
            alert,
            origin: at.into(),
            name: name.clone(),
        };
        self.rules.insert(name, def);
        Ok(())
    }
}

#[derive(PartialEq, Eq)]
enum Mode {
    Append,
    Replace,
}

fn mode_for(overrides: &Option<IndexMap<String, String>>, key: &str, append: bool) -> Mode {
    match overrides.as_ref().and_then(|o| o.get(key)).map(String::as_str) {
        Some("append") => Mode::Append,
        Some(_) => Mode::Replace,
        None if append => Mode::Append,
        None => Mode::Replace,
    }
}

fn parse_exceptions(v: &Y, what: &str, at: &str) -> Result<Vec<ExceptionDef>, RuleError> {
    let Y::Sequence(items) = v else {
        return Err(RuleError::new(at.into(), what, "'exceptions' must be a list".into()));
    };
    items
        .iter()
        .map(|item| {
            let err = |m: String| RuleError::new(at.into(), what, m);
            let Y::Mapping(m) = item else {
                return Err(err("each exception must be a mapping with name/fields/comps/values".into()));
            };
            let get = |k: &str| m.get(Y::String(k.to_string()));
            let name = get("name").and_then(as_str).ok_or_else(|| err("exception without 'name'".into()))?;
            let fields = match get("fields") {
                Some(Y::Sequence(f)) => Err(f
                    .iter()
                    .map(as_str)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| err(format!("exception '{name}': 'fields' must be strings")))?),
                Some(other) => Ok(as_str(other).ok_or_else(|| err(format!("exception '{name}': bad 'fields'")))?),
                None => Err(Vec::new()),
            };
            let comps = match get("comps") {
                Some(v) => str_list(v).ok_or_else(|| err(format!("exception '{name}': 'comps' must be strings")))?,
                None => Vec::new(),
            };
            let values = match get("values") {
                Some(Y::Sequence(v)) => v.clone(),
                Some(Y::Null) | None => Vec::new(),
                Some(_) => return Err(err(format!("exception '{name}': 'values' must be a list"))),
            };
            Ok(ExceptionDef { name, fields, comps, values })
        })
        .collect()
}

fn parse_alert(v: &Y, what: &str, at: &str) -> Result<AlertMeta, RuleError> {
    let Y::Mapping(m) = v else {
        return Err(RuleError::new(at.into(), what, "'alert' must be a mapping".into()));
    };
    let get = |k: &str| m.get(Y::String(k.to_string()));
    let list = |k: &str| get(k).and_then(str_list).unwrap_or_default();
    let meta = AlertMeta {
        alert_type: get("type").and_then(as_str),
        name: get("name").and_then(as_str),
        severity: get("severity").and_then(as_str),
        tactics: list("tactics"),
        techniques: list("techniques"),
        remediation: list("remediation"),
    };
    if let Some(s) = &meta.severity
        && !matches!(s.as_str(), "Informational" | "Low" | "Medium" | "High")
    {
        return Err(RuleError::new(
            at.into(),
            what,
            format!("alert.severity '{s}' must be Informational, Low, Medium or High"),
        ));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_overrides_and_toggles() {
        let mut d = Definitions::default();
        d.add_file("a.yaml", "- required_engine_version: 15\n- list: l\n  items: [a]\n- macro: m\n  condition: ka.verb=get\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: WARNING\n  source: k8s_audit\n").unwrap();
        d.add_file("b.yaml", "- list: l\n  items: [b]\n  append: true\n- macro: m\n  condition: or ka.verb=list\n  override:\n    condition: append\n- rule: r\n  condition: and ka.user.name=x\n  override:\n    condition: append\n  exceptions:\n    - name: e\n      fields: ka.user.name\n      values: [bob]\n- rule: r\n  enabled: false\n").unwrap();
        assert_eq!(d.lists["l"].items, vec!["a", "b"]);
        assert_eq!(d.macros["m"].condition, "ka.verb=get or ka.verb=list");
        let r = &d.rules["r"];
        assert_eq!(r.condition, "m and ka.user.name=x");
        assert!(!r.enabled);
        assert_eq!(r.exceptions.len(), 1);
        let err = d.add_file("c.yaml", "- macro: nope\n  condition: x\n  append: true\n").unwrap_err();
        assert_eq!(err[0].origin, "c.yaml:1");
        assert!(err[0].to_string().contains("macro 'nope'"));
    }
}
