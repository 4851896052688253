//! Compilation of loaded definitions into an evaluation tree, and evaluation.
//!
//! Semantics of checks (documented in docs/detect.md):
//! - a field that is not available makes every check false except that `not` inverts it;
//!   `exists` is true when at least one value is available;
//! - on list fields `in` and `pmatch` require *every* value to match (set containment, as
//!   Falco), `intersects` requires *some* value to be in the set, `!=` requires no value to
//!   equal, and every other operator is true when *some* value satisfies it;
//! - `<`, `<=`, `>`, `>=` compare numerically when both sides are numbers, else as text.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use regex::Regex;

use super::RuleError;
use super::condition::{self, Expr, ListItem, Op, Rhs};
use super::fields::{Field, Source, Vals};
use super::load::{AlertMeta, Definitions, ExceptionDef, Priority, RuleDef};
use crate::audit::AuditEvent;
use crate::process::ProcessEvent;
use crate::view::AuditView;

/// A compiled, evaluable rule.
#[derive(Debug)]
pub struct CompiledRule {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub source: Source,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub alert: Option<AlertMeta>,
    /// `file:line` where the rule was defined.
    pub origin: String,
    condition: Node,
    output: Vec<Segment>,
}

/// A rule that matched an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// The rule's `output` with `%field` placeholders filled in.
    pub message: String,
}

#[derive(Debug)]
enum Segment {
    Text(String),
    Field(usize),
}

#[derive(Debug)]
enum Node {
    Const(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Check(Box<Check>),
}

#[derive(Debug)]
struct Check {
    slot: usize,
    op: Op,
    list: bool,
    rhs: CRhs,
}

#[derive(Debug)]
// One per rule comparison, built once; inline fields keep the per-event path free of
// pointer chasing, so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum CRhs {
    None,
    Text {
        text: String,
        lower: String,
        num: Option<f64>,
        /// Substring search for `contains`, prepared once (not per event).
        finder: memchr::memmem::Finder<'static>,
    },
    Set(TextSet),
    Prefixes(Vec<String>),
    Regex(Regex),
}

/// Rules that skipped compilation because keelwatch does not evaluate their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRule {
    pub name: String,
    pub source: String,
    pub origin: String,
}

/// A compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    fields: Vec<Field>,
    by_source: HashMap<Source, Vec<usize>>,
    /// Per source: which enabled rules can match given a few cheap fields of the event (a
    /// list, not a map: looked up per event, and there are two sources).
    index: Vec<(Source, RuleIndex)>,
    /// Rules whose source keelwatch does not evaluate (e.g. `aws_cloudtrail`).
    pub skipped: Vec<SkippedRule>,
    /// Loader notes (ignored items).
    pub notes: Vec<String>,
}

struct Compiler<'d> {
    defs: &'d Definitions,
    fields: Vec<Field>,
    slots: HashMap<(String, Source), usize>,
    macro_cache: HashMap<String, Expr>,
}

impl RuleSet {
    /// Compiles every rule (enabled or not, so errors surface), inlining macros and lists.
    pub fn compile(defs: &Definitions) -> Result<RuleSet, Vec<RuleError>> {
        let mut c = Compiler { defs, fields: Vec::new(), slots: HashMap::new(), macro_cache: HashMap::new() };
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut skipped = Vec::new();
        for def in defs.rules.values() {
            let Some(source) = Source::parse(&def.source) else {
                skipped.push(SkippedRule {
                    name: def.name.clone(),
                    source: def.source.clone(),
                    origin: def.origin.clone(),
                });
                continue;
            };
            match c.rule(def, source) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut by_source: HashMap<Source, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            if r.enabled {
                by_source.entry(r.source).or_default().push(i);
            }
        }
        let index =
            by_source.iter().map(|(source, indices)| (*source, RuleIndex::build(&rules, indices, &c.fields))).collect();
        Ok(RuleSet { rules, fields: c.fields, by_source, index, skipped, notes: defs.notes.clone() })
    }

    /// All compiled rules (enabled and disabled), in definition order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// True if some rule reads `jevt.rawtime` (callers may pass any time otherwise).
    pub fn uses_rawtime(&self) -> bool {
        self.fields.iter().any(Field::uses_rawtime)
    }

    /// Number of enabled rules for a source.
    pub fn enabled_count(&self, source: Source) -> usize {
        self.by_source.get(&source).map_or(0, Vec::len)
    }

    /// Evaluates every enabled `k8s_audit` rule against an event.
    pub fn eval_audit(&self, ev: &AuditEvent, rawtime: i64) -> Vec<RuleMatch> {
        self.eval_audit_view(&AuditView::from_event(ev), rawtime, &mut Scratch::default())
    }

    /// Evaluates every enabled `k8s_audit` rule against an event in evaluation form, reusing
    /// `scratch` (per-event state) between calls.
    pub fn eval_audit_view(&self, ev: &AuditView<'_>, rawtime: i64, scratch: &mut Scratch) -> Vec<RuleMatch> {
        let vals = std::mem::take(&mut scratch.vals);
        let mut ctx = Ctx::new(&self.fields, &mut scratch.pos, vals, |f: &Field| f.extract_audit(ev, rawtime));
        let out = self.eval_with(Source::K8sAudit, &mut ctx, &mut scratch.bits);
        scratch.vals = ctx.finish();
        out
    }

    /// Evaluates every enabled process rule against an event.
    pub fn eval_process(&self, ev: &ProcessEvent) -> Vec<RuleMatch> {
        self.eval_process_with(ev, &mut Scratch::default())
    }

    /// [`RuleSet::eval_process`] reusing `scratch` between calls.
    pub fn eval_process_with(&self, ev: &ProcessEvent, scratch: &mut Scratch) -> Vec<RuleMatch> {
        let vals = std::mem::take(&mut scratch.vals);
        let mut ctx = Ctx::new(&self.fields, &mut scratch.pos, vals, |f: &Field| f.extract_process(ev));
        let out = self.eval_with(Source::Process, &mut ctx, &mut scratch.bits);
        scratch.vals = ctx.finish();
        out
    }

    fn eval_with<'e, F: Fn(&Field) -> Vals<'e>>(
        &self,
        source: Source,
        ctx: &mut Ctx<'_, 'e, F>,
        bits: &mut Vec<u64>,
    ) -> Vec<RuleMatch> {
        let mut out = Vec::new();
        let Some((_, index)) = self.index.iter().find(|(s, _)| *s == source) else {
            return out;
        };
        index.candidates(ctx, bits);
        for i in ones(bits).map(|k| index.rules[k]) {
            self.eval_rule(i, ctx, &mut out);
        }
        out
    }

    fn eval_rule<'e, F: Fn(&Field) -> Vals<'e>>(&self, i: usize, ctx: &mut Ctx<'_, 'e, F>, out: &mut Vec<RuleMatch>) {
        let rule = &self.rules[i];
        if eval(&rule.condition, ctx) {
            let mut message = String::new();
            for seg in &rule.output {
                match seg {
                    Segment::Text(t) => message.push_str(t),
                    Segment::Field(slot) => {
                        let list = self.fields[*slot].is_list();
                        message.push_str(&ctx.vals(*slot).render(list))
                    }
                }
            }
            out.push(RuleMatch { rule: i, message });
        }
    }

    /// Evaluates every enabled `k8s_audit` rule without the rule index (reference for
    /// tests of the index).
    #[doc(hidden)]
    pub fn eval_audit_unindexed(&self, ev: &AuditEvent, rawtime: i64) -> Vec<RuleMatch> {
        let view = AuditView::from_event(ev);
        let mut pos = Vec::new();
        let mut ctx = Ctx::new(&self.fields, &mut pos, Vec::new(), |f: &Field| f.extract_audit(&view, rawtime));
        let mut out = Vec::new();
        for &i in self.by_source.get(&Source::K8sAudit).into_iter().flatten() {
            self.eval_rule(i, &mut ctx, &mut out);
        }
        out
    }

    /// Evaluates every enabled process rule without the rule index (reference for tests).
    #[doc(hidden)]
    pub fn eval_process_unindexed(&self, ev: &ProcessEvent) -> Vec<RuleMatch> {
        let mut pos = Vec::new();
        let mut ctx = Ctx::new(&self.fields, &mut pos, Vec::new(), |f: &Field| f.extract_process(ev));
        let mut out = Vec::new();
        for &i in self.by_source.get(&Source::Process).into_iter().flatten() {
            self.eval_rule(i, &mut ctx, &mut out);
        }
        out
    }
}

/// Per-event evaluation buffers kept between events (a [`crate::Detector`] owns one), so
/// evaluating an event allocates nothing unless a rule matches.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Per field slot: where its values are in `vals` (stale entries are harmless: see
    /// [`Ctx::vals`]).
    pos: Vec<u32>,
    /// The values extracted for the current event; empty between events.
    vals: Vec<(usize, Vals<'static>)>,
    /// Candidate rules of the index.
    bits: Vec<u64>,
}

/// Empties a value list and hands its allocation to a list of another lifetime (the element
/// types have the same layout, so the standard library reuses the buffer in place).
fn recycle<'b>(mut vals: Vec<(usize, Vals<'_>)>) -> Vec<(usize, Vals<'b>)> {
    vals.clear();
    vals.into_iter().map(|_| (0, Vals::Missing)).collect()
}

/// FxHash-style hasher for sets of rule values: lookups only (the sets are built from rule
/// files at compile time), so hash flooding is not a concern and speed is.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastBuild = BuildHasherDefault<FastHasher>;
type FastSet = HashSet<String, FastBuild>;

/// A set of rule values with a length filter in front: most event values have a length no
/// member has, and are rejected without hashing. Small sets (`ka.stage in (ResponseComplete,
/// ResponseStarted)` is in most rules) are scanned instead of hashed.
#[derive(Debug, Default)]
struct TextSet {
    /// The members, when there are few.
    few: Vec<String>,
    /// The members, when there are many.
    set: FastSet,
    /// Bit `min(len, 63)` is set for each member length.
    lens: u64,
}

/// Largest set that is scanned rather than hashed.
const SCAN_MAX: usize = 8;

impl TextSet {
    fn len_bit(s: &str) -> u64 {
        1 << s.len().min(63)
    }
    fn contains(&self, v: &str) -> bool {
        if self.lens & TextSet::len_bit(v) == 0 {
            return false;
        }
        if self.set.is_empty() { self.few.iter().any(|m| m.as_bytes() == v.as_bytes()) } else { self.set.contains(v) }
    }
    fn is_empty(&self) -> bool {
        self.few.is_empty() && self.set.is_empty()
    }
    fn iter(&self) -> impl Iterator<Item = &String> {
        self.few.iter().chain(self.set.iter())
    }
}

impl FromIterator<String> for TextSet {
    fn from_iter<I: IntoIterator<Item = String>>(items: I) -> TextSet {
        let mut few: Vec<String> = items.into_iter().collect();
        few.sort();
        few.dedup();
        let lens = few.iter().fold(0, |m, s| m | TextSet::len_bit(s));
        if few.len() > SCAN_MAX {
            return TextSet { few: Vec::new(), set: few.into_iter().collect(), lens };
        }
        TextSet { few, set: FastSet::default(), lens }
    }
}

/// A set of rule positions (bit k = the k-th rule of a [`RuleIndex`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, k: usize) {
        self.0[k / 64] |= 1 << (k % 64);
    }
    fn or(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    #[cfg(test)]
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        ones(&self.0)
    }
}

/// Positions of the set bits.
fn ones(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            if word == 0 {
                return None;
            }
            let bit = word.trailing_zeros() as usize;
            word &= word - 1;
            Some(w * 64 + bit)
        })
    })
}

/// What a condition needs of cheap scalar fields to be true: for each listed slot, the
/// field must have a single value in the set. `None` = the condition can never be true.
type Need = Option<BTreeMap<usize, BTreeSet<String>>>;

fn need(node: &Node, fields: &[Field]) -> Need {
    match node {
        Node::Const(false) => None,
        Node::Const(true) | Node::Not(_) => Some(BTreeMap::new()),
        Node::And(items) => {
            let mut acc = BTreeMap::new();
            for item in items {
                for (slot, set) in need(item, fields)? {
                    match acc.entry(slot) {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(set);
                        }
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            let both: BTreeSet<String> = o.get().intersection(&set).cloned().collect();
                            if both.is_empty() {
                                return None;
                            }
                            o.insert(both);
                        }
                    }
                }
            }
            Some(acc)
        }
        Node::Or(items) => {
            let mut branches = items.iter().filter_map(|n| need(n, fields));
            let mut acc = branches.next()?;
            for b in branches {
                acc.retain(|slot, _| b.contains_key(slot));
                for (slot, set) in acc.iter_mut() {
                    set.extend(b[slot].iter().cloned());
                }
            }
            Some(acc)
        }
        Node::Check(c) => {
            let mut m = BTreeMap::new();
            if fields[c.slot].cheap_scalar() {
                match (&c.op, &c.rhs) {
                    (Op::Eq, CRhs::Text { text, .. }) => {
                        m.insert(c.slot, BTreeSet::from([text.clone()]));
                    }
                    (Op::In | Op::Intersects, CRhs::Set(set)) => {
                        if set.is_empty() {
                            return None;
                        }
                        m.insert(c.slot, set.iter().cloned().collect());
                    }
                    _ => {}
                }
            }
            Some(m)
        }
    }
}

/// Most slots read per event by the index.
const MAX_INDEX_SLOTS: usize = 8;

/// Pre-selection of the rules of one source: each rule's [`need`] on a few cheap scalar
/// fields (verb, resource, subresource, stage, user, namespace, process name…) turned into
/// value → rule-set tables, so an event only evaluates rules it can satisfy. Purely an
/// optimisation: a rule skipped by the index is one whose condition is false.
#[derive(Debug)]
struct RuleIndex {
    /// Rule numbers (into [`RuleSet::rules`]) in definition order; bit k = `rules[k]`.
    rules: Vec<usize>,
    /// Rules that can match at all.
    all: Bits,
    slots: Vec<SlotIndex>,
}

#[derive(Debug)]
struct SlotIndex {
    slot: usize,
    /// Rules not constrained on this slot (they pass whatever its value).
    any: Bits,
    /// Value → rules allowed with that value (constrained ones accepting it, plus `any`).
    /// A scan of a few short keys, most rejected by length, beats hashing the event's value.
    by_value: Vec<(String, Bits)>,
}

impl SlotIndex {
    fn allowed(&self, value: &str) -> &Bits {
        self.by_value
            .iter()
            .find(|(k, _)| k.len() == value.len() && k.as_bytes() == value.as_bytes())
            .map_or(&self.any, |(_, bits)| bits)
    }
}

impl RuleIndex {
    fn build(rules: &[CompiledRule], indices: &[usize], fields: &[Field]) -> RuleIndex {
        let n = indices.len();
        let needs: Vec<Need> = indices.iter().map(|&i| need(&rules[i].condition, fields)).collect();
        let mut all = Bits::empty(n);
        let mut per_slot: BTreeMap<usize, usize> = BTreeMap::new();
        for (k, nd) in needs.iter().enumerate() {
            if let Some(m) = nd {
                all.set(k);
                for slot in m.keys() {
                    *per_slot.entry(*slot).or_default() += 1;
                }
            }
        }
        let mut chosen: Vec<(usize, usize)> = per_slot.into_iter().collect();
        chosen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        chosen.truncate(MAX_INDEX_SLOTS);
        let slots = chosen
            .into_iter()
            .map(|(slot, _)| {
                let mut any = Bits::empty(n);
                let mut by_value: BTreeMap<String, Bits> = BTreeMap::new();
                for (k, nd) in needs.iter().enumerate() {
                    match nd.as_ref().and_then(|m| m.get(&slot)) {
                        None => any.set(k),
                        Some(values) => {
                            for v in values {
                                by_value.entry(v.clone()).or_insert_with(|| Bits::empty(n)).set(k);
                            }
                        }
                    }
                }
                for bits in by_value.values_mut() {
                    bits.or(&any);
                }
                SlotIndex { slot, any, by_value: by_value.into_iter().collect() }
            })
            .collect();
        RuleIndex { rules: indices.to_vec(), all, slots }
    }

    /// The rules that may match this event, into `cand` (bit k = `rules[k]`).
    fn candidates<'e, F: Fn(&Field) -> Vals<'e>>(&self, ctx: &mut Ctx<'_, 'e, F>, cand: &mut Vec<u64>) {
        cand.clear();
        cand.extend_from_slice(&self.all.0);
        for s in &self.slots {
            let allowed = match ctx.vals(s.slot) {
                Vals::One(v) => s.allowed(v),
                _ => &s.any,
            };
            for (a, b) in cand.iter_mut().zip(&allowed.0) {
                *a &= b;
            }
        }
    }
}

/// Per-event evaluation state: each field is extracted at most once. Only the fields an
/// event touches are stored (and dropped): a cache the size of all fields cost more to reset
/// than most rules cost to evaluate.
struct Ctx<'r, 'e, F: Fn(&Field) -> Vals<'e>> {
    fields: &'r [Field],
    pos: &'r mut [u32],
    vals: Vec<(usize, Vals<'e>)>,
    extract: F,
}

impl<'r, 'e, F: Fn(&Field) -> Vals<'e>> Ctx<'r, 'e, F> {
    /// A context over buffers kept between events: `pos` (one entry per field) and `vals`
    /// (empty; its allocation is reused).
    fn new(fields: &'r [Field], pos: &'r mut Vec<u32>, vals: Vec<(usize, Vals<'_>)>, extract: F) -> Self {
        if pos.len() != fields.len() {
            pos.clear();
            pos.resize(fields.len(), u32::MAX);
        }
        Ctx { fields, pos, vals: recycle(vals), extract }
    }

    /// Ends the event: returns the (emptied) value list for the next one.
    fn finish(self) -> Vec<(usize, Vals<'static>)> {
        recycle(self.vals)
    }

    fn vals(&mut self, slot: usize) -> &Vals<'e> {
        // `pos` is not reset between events: an entry counts only if it points at this slot's
        // values of this event.
        let p = self.pos[slot] as usize;
        if self.vals.get(p).is_none_or(|(s, _)| *s != slot) {
            let v = (self.extract)(&self.fields[slot]);
            self.pos[slot] = self.vals.len() as u32;
            self.vals.push((slot, v));
            return &self.vals[self.vals.len() - 1].1;
        }
        &self.vals[p].1
    }
}

fn eval<'e, F: Fn(&Field) -> Vals<'e>>(node: &Node, ctx: &mut Ctx<'_, 'e, F>) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(items) => items.iter().all(|n| eval(n, ctx)),
        Node::Or(items) => items.iter().any(|n| eval(n, ctx)),
        Node::Not(inner) => !eval(inner, ctx),
        Node::Check(check) => eval_check(check, ctx.vals(check.slot)),
    }
}

fn eval_check(c: &Check, vals: &Vals<'_>) -> bool {
    if vals.is_empty() {
        return false;
    }
    match (&c.op, &c.rhs) {
        (Op::Exists, _) => true,
        (Op::In, CRhs::Set(set)) => vals.iter().all(|v| set.contains(v)),
        (Op::Intersects, CRhs::Set(set)) => vals.iter().any(|v| set.contains(v)),
        (Op::PMatch, CRhs::Prefixes(prefixes)) => vals.iter().all(|v| prefixes.iter().any(|p| path_under(v, p))),
        (Op::Ne, CRhs::Text { text, .. }) if c.list => vals.iter().all(|v| v != text),
        (op, rhs) => vals.iter().any(|v| scalar(*op, rhs, v)),
    }
}

fn path_under(value: &str, prefix: &str) -> bool {
    if prefix.is_empty() {
        return false;
    }
    value == prefix
        || (value.starts_with(prefix) && (prefix.ends_with('/') || value.as_bytes().get(prefix.len()) == Some(&b'/')))
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle_lower.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
        // Compare only where the first byte matches (this runs on user agents and URIs of
        // every event).
        let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
        return memchr::memchr2_iter(lo, up, h)
            .any(|i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)));
    }
    hay.to_lowercase().contains(needle_lower)
}

fn scalar(op: Op, rhs: &CRhs, v: &str) -> bool {
    match rhs {
        CRhs::Text { text, lower, num, finder } => match op {
            Op::Eq => v == text,
            Op::Ne => v != text,
            Op::Contains => finder.find(v.as_bytes()).is_some(),
            Op::IContains => contains_ci(v, lower),
            Op::StartsWith => v.starts_with(text.as_str()),
            Op::EndsWith => v.ends_with(text.as_str()),
            Op::Glob => glob_match(text.as_bytes(), v.as_bytes()),
            Op::IGlob => glob_match(lower.as_bytes(), v.to_lowercase().as_bytes()),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let ord = match (num, v.trim().parse::<f64>().ok()) {
                    (Some(b), Some(a)) => a.partial_cmp(b),
                    _ => Some(v.cmp(text.as_str())),
                };
                let Some(ord) = ord else { return false };
                match op {
                    Op::Lt => ord.is_lt(),
                    Op::Le => ord.is_le(),
                    Op::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            }
            _ => false,
        },
        CRhs::Regex(re) => re.is_match(v),
        _ => false,
    }
}

/// Shell-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!x]` classes.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

fn class_match(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let pc = pattern[i];
        if pc == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            if pc <= c && c <= pattern[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if pc == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

impl<'d> Compiler<'d> {
    fn rule(&mut self, def: &RuleDef, source: Source) -> Result<CompiledRule, RuleError> {
        let what = format!("rule '{}'", def.name);
        let err = |m: String| RuleError::new(def.origin.clone(), &what, m);
        let expr = condition::parse(&def.condition).map_err(|e| err(format!("condition {e}")))?;
        let mut stack = Vec::new();
        let mut node = self.node(&expr, source, &mut stack).map_err(|m| err(format!("condition: {m}")))?;
        if !def.exceptions.is_empty() {
            let mut excs = Vec::new();
            for e in &def.exceptions {
                excs.push(self.exception(e, source).map_err(|m| err(format!("exception '{}': {m}", e.name)))?);
            }
            node = Node::And(vec![node, Node::Not(Box::new(Node::Or(excs)))]);
        }
        let output = self.output(&def.output, source).map_err(|m| err(format!("output: {m}")))?;
        Ok(CompiledRule {
            name: def.name.clone(),
            desc: def.desc.trim().to_string(),
            priority: def.priority,
            source,
            tags: def.tags.clone(),
            enabled: def.enabled,
            alert: def.alert.clone(),
            origin: def.origin.clone(),
            condition: node,
            output,
        })
    }

    fn slot(&mut self, name: &str, arg: Option<&str>, source: Source) -> Result<usize, String> {
        let field = Field::resolve(name, arg, source).map_err(|e| e.to_string())?;
        let key = (field.display.clone(), source);
        if let Some(&s) = self.slots.get(&key) {
            return Ok(s);
        }
        self.fields.push(field);
        let s = self.fields.len() - 1;
        self.slots.insert(key, s);
        Ok(s)
    }

    fn expand_list(&self, items: &[ListItem], out: &mut Vec<String>, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err("lists nested too deeply (cycle?)".into());
        }
        for item in items {
            if !item.quoted
                && let Some(list) = self.defs.lists.get(&item.text)
            {
                let nested: Vec<ListItem> =
                    list.items.iter().map(|t| ListItem { text: t.clone(), quoted: false }).collect();
                self.expand_list(&nested, out, depth + 1)?;
                continue;
            }
            out.push(item.text.clone());
        }
        Ok(())
    }

    fn node(&mut self, expr: &Expr, source: Source, stack: &mut Vec<String>) -> Result<Node, String> {
        Ok(match expr {
            Expr::And(items) => Node::And(items.iter().map(|e| self.node(e, source, stack)).collect::<Result<_, _>>()?),
            Expr::Or(items) => Node::Or(items.iter().map(|e| self.node(e, source, stack)).collect::<Result<_, _>>()?),
            Expr::Not(inner) => Node::Not(Box::new(self.node(inner, source, stack)?)),
            Expr::Macro { name, pos } => {
                if stack.contains(name) {
                    return Err(format!(
                        "column {pos}: macro '{name}' refers to itself ({} -> {name})",
                        stack.join(" -> ")
                    ));
                }
                let parsed = match self.macro_cache.get(name) {
                    Some(e) => e.clone(),
                    None => {
                        let Some(def) = self.defs.macros.get(name) else {
                            let hint = if self.defs.lists.contains_key(name) {
                                " (it is a list: use it inside `in (...)`)"
                            } else {
                                ""
                            };
                            return Err(format!("column {pos}: unknown macro '{name}'{hint}"));
                        };
                        let e = condition::parse(&def.condition)
                            .map_err(|e| format!("in macro '{name}' ({}): condition {e}", def.origin))?;
                        self.macro_cache.insert(name.clone(), e.clone());
                        e
                    }
                };
                stack.push(name.clone());
                let node = self
                    .node(&parsed, source, stack)
                    .map_err(|m| if m.starts_with("in macro") { m } else { format!("in macro '{name}': {m}") });
                stack.pop();
                node?
            }
            Expr::Check { field, arg, op, rhs, pos } => {
                self.check(field, arg.as_deref(), *op, rhs, source).map_err(|m| format!("column {pos}: {m}"))?
            }
        })
    }

    fn check(&mut self, field: &str, arg: Option<&str>, op: Op, rhs: &Rhs, source: Source) -> Result<Node, String> {
        let slot = self.slot(field, arg, source)?;
        let list = self.fields[slot].is_list();
        let rhs = match (op, rhs) {
            (Op::Exists, _) => CRhs::None,
            (Op::In | Op::Intersects, Rhs::List(items)) => {
                let mut out = Vec::new();
                self.expand_list(items, &mut out, 0)?;
                CRhs::Set(out.into_iter().collect())
            }
            (Op::PMatch, Rhs::List(items)) => {
                let mut out = Vec::new();
                self.expand_list(items, &mut out, 0)?;
                CRhs::Prefixes(out)
            }
            (Op::Regex, Rhs::Value(v)) => CRhs::Regex(Regex::new(v).map_err(|e| format!("invalid regex '{v}': {e}"))?),
            (_, Rhs::Value(v)) => CRhs::Text {
                text: v.clone(),
                lower: v.to_lowercase(),
                num: v.trim().parse::<f64>().ok(),
                finder: memchr::memmem::Finder::new(v.as_bytes()).into_owned(),
            },
            (op, _) => return Err(format!("operator '{}' needs a value", op.as_str())),
        };
        Ok(Node::Check(Box::new(Check { slot, op, list, rhs })))
    }

    fn exception(&mut self, e: &ExceptionDef, source: Source) -> Result<Node, String> {
        let scalar = |v: &serde_yaml::Value| -> Option<String> {
            match v {
                serde_yaml::Value::String(s) => Some(s.clone()),
                serde_yaml::Value::Bool(b) => Some(b.to_string()),
                serde_yaml::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let items_of = |v: &serde_yaml::Value| -> Option<Vec<ListItem>> {
            match v {
                serde_yaml::Value::Sequence(s) => {
                    s.iter().map(|x| scalar(x).map(|text| ListItem { text, quoted: true })).collect()
                }
                other => scalar(other).map(|text| vec![ListItem { text, quoted: false }]),
            }
        };
        let (fields, single) = match &e.fields {
            Ok(f) => (vec![f.clone()], true),
            Err(f) if f.is_empty() => return Err("no 'fields'".into()),
            Err(f) => (f.clone(), false),
        };
        let comps: Vec<Op> = if e.comps.is_empty() {
            vec![if single { Op::In } else { Op::Eq }; fields.len()]
        } else {
            if e.comps.len() != fields.len() {
                return Err(format!("{} comps for {} fields", e.comps.len(), fields.len()));
            }
            e.comps
                .iter()
                .map(|c| Op::parse(c).ok_or_else(|| format!("unknown comparison '{c}'")))
                .collect::<Result<_, _>>()?
        };
        let parsed_fields: Vec<(String, Option<String>)> = fields
            .iter()
            .map(|f| match f.split_once('[') {
                Some((n, rest)) => (n.to_string(), Some(rest.trim_end_matches(']').to_string())),
                None => (f.clone(), None),
            })
            .collect();
        let mut alternatives = Vec::new();
        if single {
            let (name, arg) = &parsed_fields[0];
            let op = comps[0];
            if op.takes_list() {
                let items: Vec<ListItem> = e
                    .values
                    .iter()
                    .map(|v| items_of(v).ok_or_else(|| "values must be strings".to_string()))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .flatten()
                    .collect();
                if !items.is_empty() {
                    alternatives.push(self.check(name, arg.as_deref(), op, &Rhs::List(items), source)?);
                }
            } else {
                for v in &e.values {
                    let text = scalar(v).ok_or("values must be strings")?;
                    alternatives.push(self.check(name, arg.as_deref(), op, &Rhs::Value(text), source)?);
                }
            }
        } else {
            for (i, tuple) in e.values.iter().enumerate() {
                let serde_yaml::Value::Sequence(parts) = tuple else {
                    return Err(format!("value #{} must be a list of {} items", i + 1, fields.len()));
                };
                if parts.len() != fields.len() {
                    return Err(format!("value #{} has {} items for {} fields", i + 1, parts.len(), fields.len()));
                }
                let mut conj = Vec::new();
                for ((part, (name, arg)), op) in parts.iter().zip(&parsed_fields).zip(&comps) {
                    let rhs = if op.takes_list() {
                        Rhs::List(items_of(part).ok_or("values must be strings")?)
                    } else {
                        Rhs::Value(scalar(part).ok_or("values must be strings")?)
                    };
                    conj.push(self.check(name, arg.as_deref(), *op, &rhs, source)?);
                }
                alternatives.push(Node::And(conj));
            }
        }
        if alternatives.is_empty() {
            return Ok(Node::Const(false));
        }
        Ok(Node::Or(alternatives))
    }

    fn output(&mut self, text: &str, source: Source) -> Result<Vec<Segment>, String> {
        let text = text.trim();
        let mut segs = Vec::new();
        let mut lit = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let starts_field = c == '%' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic());
            if !starts_field {
                lit.push(c);
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '.') {
                j += 1;
            }
            // A trailing '.' ends a sentence rather than the field.
            while j > i + 1 && chars[j - 1] == '.' {
                j -= 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            let mut arg = None;
            if chars.get(j) == Some(&'[')
                && let Some(end) = chars[j..].iter().position(|c| *c == ']')
            {
                arg = Some(chars[j + 1..j + end].iter().collect::<String>());
                j += end + 1;
            }
            if !lit.is_empty() {
                segs.push(Segment::Text(std::mem::take(&mut lit)));
            }
            segs.push(Segment::Field(self.slot(&name, arg.as_deref(), source)?));
            i = j;
        }
        if !lit.is_empty() {
            segs.push(Segment::Text(lit));
        }
        Ok(segs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(yaml: &str) -> RuleSet {
        let mut d = Definitions::default();
        d.add_file("t.yaml", yaml).unwrap();
        RuleSet::compile(&d).unwrap()
    }

    fn audit(json: serde_json::Value) -> AuditEvent {
        AuditEvent::from_value(json).unwrap()
    }

    #[test]
    fn glob_works() {
        assert!(glob_match(b"*.sh", b"run.sh"));
        assert!(glob_match(b"/tmp/?x*", b"/tmp/axe"));
        assert!(!glob_match(b"/tmp/?x*", b"/tmp/a"));
        assert!(glob_match(b"[a-c]*", b"bash"));
        assert!(!glob_match(b"[!a-c]*", b"bash"));
    }

    #[test]
    fn list_semantics_exceptions_and_output() {
        let rs = ruleset(
            r#"
- list: ok_images
  items: [nginx, "registry.k8s.io/pause"]
- macro: creating
  condition: ka.verb in (create, update)
- rule: r
  desc: d
  condition: creating and not ka.req.pod.containers.image.repository in (ok_images) and ka.req.pod.containers.privileged intersects (true)
  output: "priv by %ka.user.name images=%ka.req.pod.containers.image code=%ka.response.code."
  priority: WARNING
  source: k8s_audit
  exceptions:
    - name: trusted
      fields: [ka.user.name, ka.target.namespace]
      comps: [=, in]
      values:
        - [ops, [infra, tools]]
"#,
        );
        let ev = |user: &str, ns: &str, images: &[(&str, bool)]| {
            let containers: Vec<_> = images
                .iter()
                .map(|(i, p)| serde_json::json!({"name":"c","image":i,"securityContext":{"privileged":p}}))
                .collect();
            audit(serde_json::json!({"auditID":"1","verb":"create","stage":"ResponseComplete","user":{"username":user},
                "objectRef":{"resource":"pods","namespace":ns},"requestObject":{"spec":{"containers":containers}}}))
        };
        let m = rs.eval_audit(&ev("eve", "default", &[("nginx:1", false), ("evil/x:2", true)]), 1);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].message, "priv by eve images=(nginx:1,evil/x:2) code=<NA>.");
        assert!(rs.eval_audit(&ev("eve", "default", &[("nginx:1", true)]), 1).is_empty(), "all images allowed");
        assert!(rs.eval_audit(&ev("eve", "default", &[("evil/x", false)]), 1).is_empty(), "not privileged");
        assert!(rs.eval_audit(&ev("ops", "tools", &[("evil/x", true)]), 1).is_empty(), "exception");
        assert_eq!(rs.eval_audit(&ev("ops", "prod", &[("evil/x", true)]), 1).len(), 1);
    }

    #[test]
    fn compile_errors_name_rule_and_position() {
        let mut d = Definitions::default();
        d.add_file("t.yaml", "- macro: m\n  condition: ka.verb = get\n- rule: bad\n  desc: x\n  condition: m and ka.bogus = 1\n  output: o\n  priority: INFO\n  source: k8s_audit\n").unwrap();
        let errs = RuleSet::compile(&d).unwrap_err();
        let text = errs[0].to_string();
        assert!(
            text.contains("t.yaml:3")
                && text.contains("rule 'bad'")
                && text.contains("column 7")
                && text.contains("ka.bogus"),
            "{text}"
        );
        let mut d = Definitions::default();
        d.add_file("t.yaml", "- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: loop\n  desc: x\n  condition: a\n  output: o\n  priority: INFO\n  source: k8s_audit\n").unwrap();
        assert!(RuleSet::compile(&d).unwrap_err()[0].to_string().contains("refers to itself"));
    }

    #[test]
    fn numeric_and_string_ops() {
        let rs = ruleset(
            "- rule: r\n  desc: d\n  condition: ka.response.code >= 400 and ka.uri icontains SECRET and ka.uri.param[watch] = true and ka.user.name pmatch (/a/b)\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
        );
        let ev = audit(
            serde_json::json!({"auditID":"1","requestURI":"/api/v1/secrets?watch=true","user":{"username":"/a/b/c"},"responseStatus":{"code":403}}),
        );
        assert_eq!(rs.eval_audit(&ev, 1).len(), 1);
        let ev = audit(
            serde_json::json!({"auditID":"1","requestURI":"/api/v1/secrets?watch=true","user":{"username":"/a/bc"},"responseStatus":{"code":403}}),
        );
        assert!(rs.eval_audit(&ev, 1).is_empty());
    }

    #[test]
    fn index_skips_only_rules_that_cannot_match() {
        let rs = ruleset(
            r#"
- rule: r_or
  desc: d
  condition: ka.verb = get or ka.verb = list
  output: o
  priority: INFO
  source: k8s_audit
- rule: r_not
  desc: d
  condition: not ka.verb = get
  output: o
  priority: INFO
  source: k8s_audit
- rule: r_never
  desc: d
  condition: ka.verb in (create) and ka.verb = get
  output: o
  priority: INFO
  source: k8s_audit
- rule: r_common
  desc: d
  condition: (ka.verb = get and ka.target.resource = pods) or ka.target.resource in (pods, nodes)
  output: o
  priority: INFO
  source: k8s_audit
- rule: r_jevt
  desc: d
  condition: jevt.value[/verb] = get and ka.target.subresource in (log, exec)
  output: o
  priority: INFO
  source: k8s_audit
"#,
        );
        let names = |m: Vec<RuleMatch>| -> Vec<&str> { m.iter().map(|m| rs.rules()[m.rule].name.as_str()).collect() };
        let cases: [(serde_json::Value, &[&str]); 5] = [
            (
                serde_json::json!({"auditID":"1","verb":"get","objectRef":{"resource":"pods","subresource":"log"}}),
                &["r_or", "r_common", "r_jevt"],
            ),
            (
                serde_json::json!({"auditID":"2","verb":"list","objectRef":{"resource":"nodes"}}),
                &["r_or", "r_not", "r_common"],
            ),
            (serde_json::json!({"auditID":"3","verb":"create","objectRef":{"resource":"secrets"}}), &["r_not"]),
            (serde_json::json!({"auditID":"4"}), &["r_not"]),
            (
                serde_json::json!({"auditID":"5","verb":"get","objectRef":{"resource":"pods","subresource":"exec"}}),
                &["r_or", "r_common", "r_jevt"],
            ),
        ];
        for (ev, want) in cases {
            let ev = audit(ev);
            assert_eq!(names(rs.eval_audit(&ev, 1)), want, "{ev:?}");
            assert_eq!(rs.eval_audit(&ev, 1), rs.eval_audit_unindexed(&ev, 1));
        }
        let index = &rs.index.iter().find(|(s, _)| *s == Source::K8sAudit).unwrap().1;
        assert!(
            !index.all.ones().any(|k| rs.rules()[index.rules[k]].name == "r_never"),
            "statically false rule dropped"
        );
        assert!(index.slots.len() >= 2, "verb and resource indexed");
    }
}
