//! Checks a YAML tree against the lab's schema, reporting every wrong type, unknown
//! field, missing field and out-of-range number, each at its own place, and going on.
//!
//! Scalars are judged as serde-saphyr reads them (see `scalar`), so that a tree with no
//! problem deserializes. Nodes with an explicit tag are left to serde-saphyr, and a node
//! reached again through an alias is checked once against each shape.

use std::collections::HashSet;

use super::issue::{Issue, Span};
use super::scalar::{self, Inferred, NotInt};
use super::schema::{Schema, Shape, ShapeId, Struct};
use super::tree::{Kind, Node};
use super::words::{Step, a, closest, describe, field_noun, list, quote, struct_noun};
use crate::problem::Code;

/// Every problem of `root` against `schema`, in the order the walk meets them.
pub fn check(root: &Node, schema: &Schema) -> Vec<Issue> {
    let mut c = Checker {
        schema,
        issues: Vec::new(),
        seen: HashSet::new(),
    };
    let at = At {
        parent: None,
        step: Step::Root,
        key: None,
    };
    c.value(root, schema.root, &at);
    c.issues
}

/// Where a value is: the chain of steps from the root, and the key that holds it.
struct At<'p> {
    parent: Option<&'p At<'p>>,
    step: Step<'p>,
    key: Option<Span>,
}

impl<'p> At<'p> {
    fn child(&'p self, step: Step<'p>, key: Option<Span>) -> At<'p> {
        At {
            parent: Some(self),
            step,
            key,
        }
    }

    fn describe(&self) -> String {
        let mut steps = vec![self.step];
        let mut at = self;
        while let Some(parent) = at.parent {
            steps.push(parent.step);
            at = parent;
        }
        steps.reverse();
        describe(&steps)
    }

    /// The field this value is in (directly, or as an entry of its list or map), for
    /// naming what it should be: a pool's `prefix` is `pool prefix`, not the lab's.
    fn field(&self) -> Option<&'p str> {
        let mut at = self;
        loop {
            match at.step {
                Step::Field("prefix")
                    if at
                        .parent
                        .and_then(|p| p.parent)
                        .is_some_and(|p| matches!(p.step, Step::Field("pools"))) =>
                {
                    return Some("pool prefix");
                }
                Step::Field(name) => return Some(name),
                Step::Root => return None,
                Step::Key(_) | Step::Index(_) => at = at.parent?,
            }
        }
    }
}

struct Checker<'s> {
    schema: &'s Schema,
    issues: Vec<Issue>,
    /// Anchored nodes already checked against a shape.
    seen: HashSet<(*const (), ShapeId)>,
}

impl Checker<'_> {
    fn value(&mut self, node: &Node, id: ShapeId, at: &At) {
        let target = node.resolved();
        if target.tagged {
            return;
        }
        if target.anchored && !self.seen.insert((std::ptr::from_ref(target).cast(), id)) {
            return;
        }
        let schema = self.schema;
        match schema.shape(id) {
            Shape::Nullable(inner) => {
                if !node.is_null() {
                    self.value(node, *inner, at);
                }
            }
            Shape::Text { variants } => self.text(node, id, variants.as_deref(), at),
            Shape::Int { min, max } => self.int(node, *min, *max, at),
            Shape::Bool => {
                if node
                    .scalar()
                    .and_then(|(t, _)| scalar::parse_bool(t))
                    .is_none()
                {
                    self.wrong(node, id, at, None);
                }
            }
            Shape::List { items } => match &target.kind {
                Kind::Seq(nodes) => {
                    for (i, item) in nodes.iter().enumerate() {
                        self.value(item, *items, &at.child(Step::Index(i), None));
                    }
                }
                _ => {
                    let help = node.scalar().filter(|_| !node.is_null()).map(|(t, _)| {
                        let t = quote(t);
                        format!("a single entry is still a list: `[{}]`", &t[1..t.len() - 1])
                    });
                    self.wrong(node, id, at, help);
                }
            },
            Shape::Map { values } => match &target.kind {
                Kind::Map(entries) => {
                    for entry in entries {
                        if let Some(name) = self.name_key(&entry.key, at) {
                            let child = at.child(Step::Key(name), Some(entry.key.span));
                            self.value(&entry.value, *values, &child);
                        }
                    }
                }
                _ => self.wrong(node, id, at, None),
            },
            Shape::Struct(s) => self.structure(node, id, s, at),
            Shape::AnyOf(members) => {
                if !self.fits(node, id) {
                    let takes_text = members
                        .iter()
                        .any(|&m| schema.shape(m) == &Shape::Text { variants: None });
                    let help = node
                        .scalar()
                        .filter(|(t, s)| {
                            takes_text && matches!(scalar::infer(t, *s), Inferred::Bool(_))
                        })
                        .map(|(t, _)| format!("to mean the text, quote it: `\"{t}\"`"));
                    self.wrong(node, id, at, help);
                }
            }
        }
    }

    fn text(&mut self, node: &Node, id: ShapeId, variants: Option<&[String]>, at: &At) {
        let Some((text, _)) = node.scalar().filter(|_| !node.is_null()) else {
            return self.wrong(node, id, at, None);
        };
        let Some(variants) = variants else { return };
        if variants.iter().any(|v| v == text) {
            return;
        }
        let names: Vec<&str> = variants.iter().map(String::as_str).collect();
        let label = match closest(text, names.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("not one of {}", list(&names)),
        };
        self.issues.push(
            Issue::new(
                Code::UnknownValue,
                format!("expected {}, found {}", or_list(&names), quote(text)),
            )
            .label(node.span, label)
            .help(format!("{} is {}", at.describe(), or_list(&names))),
        );
    }

    fn int(&mut self, node: &Node, min: i128, max: i128, at: &At) {
        let expected = expected_int(min, max, at.field());
        let Some((text, style)) = node.scalar().filter(|_| !node.is_null()) else {
            let found = found(node);
            return self.report_wrong(node, at, &expected, &found, None);
        };
        let parsed = match scalar::parse_int(text, min < 0) {
            // Say "negative" only of a negative number, not of `-big`.
            Err(NotInt::Negative) => scalar::parse_int(text, true).and(Err(NotInt::Negative)),
            other => other,
        };
        let (found, help) = match parsed {
            Ok(v) if (min..=max).contains(&v) => return,
            Ok(v) => {
                let bound = if v < min {
                    format!("less than {min}")
                } else {
                    format!("more than {max}")
                };
                return self.out_of_range(node, at, &expected, &format!("{v}, which is {bound}"));
            }
            Err(NotInt::Negative) => {
                return self.out_of_range(
                    node,
                    at,
                    &expected,
                    &format!("{}, which is negative", scalar::trim(text)),
                );
            }
            Err(NotInt::Huge) => {
                return self.out_of_range(node, at, &expected, "a number far too large");
            }
            Err(NotInt::LeadingZero) => {
                let digits = scalar::trim(text).trim_start_matches(['0', '_']);
                let digits = if digits.is_empty() { "0" } else { digits };
                (
                    format!("{}, which starts with a zero", quote(text)),
                    Some(format!(
                        "YAML numbers have no leading zeros: write `{digits}`"
                    )),
                )
            }
            Err(NotInt::Malformed) => match scalar::infer(text, style) {
                Inferred::Float => (
                    format!("{}, which is not a whole number", quote(text)),
                    None,
                ),
                _ => (found(node), None),
            },
        };
        self.report_wrong(node, at, &expected, &found, help);
    }

    fn out_of_range(&mut self, node: &Node, at: &At, expected: &str, found: &str) {
        self.issues.push(
            Issue::new(
                Code::OutOfRange,
                format!("expected {expected}, found {found}"),
            )
            .label(node.span, format!("{} is out of range", at.describe())),
        );
    }

    fn structure(&mut self, node: &Node, id: ShapeId, s: &Struct, at: &At) {
        let Kind::Map(entries) = &node.resolved().kind else {
            return self.wrong(node, id, at, None);
        };
        let noun = || a(struct_noun(&s.name));
        let mut present = vec![false; s.fields.len()];
        // A misspelt required field is reported once, as unknown with its suggestion.
        let mut suggested = Vec::new();
        for entry in entries {
            let Some((name, _)) = entry.key.scalar() else {
                self.bad_key(
                    &entry.key,
                    &format!("a field name of {} must be text", noun()),
                );
                continue;
            };
            if s.extensions && name.starts_with("x-") {
                continue;
            }
            let Some(i) = s.fields.iter().position(|f| f.name == name) else {
                let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
                let suggestion = closest(name, names.iter().copied());
                suggested.extend(suggestion);
                let label = match suggestion {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("not a field of {}", noun()),
                };
                self.issues.push(
                    Issue::new(
                        Code::UnknownField,
                        format!("unknown field {} in {}", quote(name), at.describe()),
                    )
                    .label(entry.key.span, label)
                    .help(format!(
                        "the fields of {} are {}",
                        noun(),
                        list(&names)
                    )),
                );
                continue;
            };
            present[i] = true;
            let field = &s.fields[i];
            let child = at.child(Step::Field(&field.name), Some(entry.key.span));
            self.value(&entry.value, field.shape, &child);
        }
        let missing =
            s.fields.iter().zip(present).filter(|(f, present)| {
                f.required && !present && !suggested.contains(&f.name.as_str())
            });
        for (field, _) in missing {
            let span = at
                .key
                .unwrap_or(Span::new(node.span.start, node.span.start));
            let mut issue = Issue::new(
                Code::MissingField,
                format!(
                    "{} has no `{}`, which {} needs",
                    at.describe(),
                    field.name,
                    noun()
                ),
            )
            .label(span, format!("needs `{}`", field.name));
            if let Some(d) = &field.description {
                issue = issue.help(format!("`{}`: {d}", field.name));
            }
            self.issues.push(issue);
        }
    }

    /// The text of a map key naming something, or a problem.
    fn name_key<'n>(&mut self, key: &'n Node, at: &At) -> Option<&'n str> {
        match key.scalar() {
            Some((text, _)) if key.is_null() => {
                let what = at.describe();
                let message = if text.is_empty() || key.span.is_empty() {
                    format!("a key in {what} is empty")
                } else {
                    format!(
                        "the key {} in {what} is YAML's null, not a name",
                        quote(text)
                    )
                };
                self.bad_key(key, &message);
                None
            }
            Some((name, _)) => Some(name),
            None => {
                let what = at.describe();
                self.bad_key(
                    key,
                    &format!("a name in {what} must be text, not {}", found(key)),
                );
                None
            }
        }
    }

    fn bad_key(&mut self, key: &Node, message: &str) {
        self.issues
            .push(Issue::new(Code::BadKey, message).label(key.span, "this key"));
    }

    /// Whether `node` is a value of the shape (no problem found inside it).
    fn fits(&mut self, node: &Node, id: ShapeId) -> bool {
        let target = node.resolved();
        if target.tagged {
            return true;
        }
        let inferred = node.scalar().map(|(t, s)| scalar::infer(t, s));
        let schema = self.schema;
        match (schema.shape(id), inferred) {
            (Shape::Nullable(inner), _) => node.is_null() || self.fits(node, *inner),
            (Shape::AnyOf(members), _) => members.iter().any(|&m| self.fits(node, m)),
            (Shape::Int { min, max }, Some(Inferred::Int(v))) => (*min..=*max).contains(&v),
            (Shape::Bool, Some(Inferred::Bool(_))) => true,
            (Shape::Text { variants: None }, Some(Inferred::Text)) => true,
            (Shape::Text { variants: Some(vs) }, Some(Inferred::Text)) => node
                .scalar()
                .is_some_and(|(t, _)| vs.iter().any(|v| v == t)),
            (Shape::List { .. } | Shape::Map { .. } | Shape::Struct(_), None) => {
                let mut trial = Checker {
                    schema: self.schema,
                    issues: Vec::new(),
                    seen: HashSet::new(),
                };
                let at = At {
                    parent: None,
                    step: Step::Root,
                    key: None,
                };
                trial.value(node, id, &at);
                trial.issues.is_empty()
            }
            _ => false,
        }
    }

    /// The value is not of shape `id`.
    fn wrong(&mut self, node: &Node, id: ShapeId, at: &At, help: Option<String>) {
        let expected = self.expected(id, at.field());
        let found = found(node);
        self.report_wrong(node, at, &expected, &found, help);
    }

    fn report_wrong(
        &mut self,
        node: &Node,
        at: &At,
        expected: &str,
        found: &str,
        help: Option<String>,
    ) {
        let what = at.describe();
        let (span, label) = match at.key {
            // Nothing written after the key: point at the key.
            Some(key) if node.span.is_empty() => (key, format!("{what} has no value")),
            _ => (node.span, what),
        };
        let mut issue = Issue::new(
            Code::WrongType,
            format!("expected {expected}, found {found}"),
        )
        .label(span, label);
        if let Some(help) = help {
            issue = issue.help(help);
        }
        self.issues.push(issue);
    }

    /// What a value of shape `id` is, in words.
    fn expected(&self, id: ShapeId, field: Option<&str>) -> String {
        let noun = field.and_then(field_noun);
        let with_noun = |base: &str| match noun {
            Some(n) => format!("{base} ({n})"),
            None => base.to_string(),
        };
        match self.schema.shape(id) {
            Shape::Nullable(inner) => self.expected(*inner, field),
            Shape::Text { variants: Some(vs) } => {
                or_list(&vs.iter().map(String::as_str).collect::<Vec<_>>())
            }
            Shape::Text { variants: None } => with_noun("text"),
            Shape::Int { min, max } => expected_int(*min, *max, field),
            Shape::Bool => "`true` or `false`".to_string(),
            Shape::List { .. } => match noun {
                Some(n) => format!("a list (each entry {n})"),
                None => "a list".to_string(),
            },
            Shape::Map { values } => match self.schema.shape(*values) {
                Shape::Struct(s) => {
                    let noun = struct_noun(&s.name);
                    format!("a mapping of {noun} names to {noun}s")
                }
                _ => with_noun("a mapping"),
            },
            Shape::Struct(s) => {
                let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "the fields of {} ({})",
                    a(struct_noun(&s.name)),
                    list(&names)
                )
            }
            Shape::AnyOf(_) => {
                noun.map_or_else(|| "another kind of value".to_string(), str::to_string)
            }
        }
    }
}

fn expected_int(min: i128, max: i128, field: Option<&str>) -> String {
    match field.and_then(field_noun) {
        Some(noun) => format!("a number ({noun})"),
        None => format!("a whole number from {min} to {max}"),
    }
}

/// "`a` or `b`", "one of `a`, `b` or `c`".
fn or_list(names: &[&str]) -> String {
    let all = list(names);
    match names.len() {
        0..=2 => all.replace(" and ", " or "),
        _ => format!("one of {}", all.replacen(" and ", " or ", 1)),
    }
}

/// What a node is, in words: "nothing", "the text `big`", "the number 7", "a list".
fn found(node: &Node) -> String {
    let node = node.resolved();
    match &node.kind {
        Kind::Seq(_) => "a list".to_string(),
        Kind::Map(_) => "a mapping".to_string(),
        Kind::Alias(target) => found(target),
        Kind::Scalar { text, style } => match scalar::infer(text, *style) {
            Inferred::Null if text.is_empty() || text == "~" && node.span.is_empty() => {
                "nothing".to_string()
            }
            Inferred::Null => format!("{}, which YAML reads as no value", quote(text)),
            Inferred::Bool(b) => format!("{}, which YAML reads as `{b}`", quote(text)),
            Inferred::Int(_) => format!("the number {}", scalar::trim(text)),
            Inferred::Float => format!("the number {}", quote(text)),
            Inferred::Text => format!("the text {}", quote(text)),
        },
    }
}
