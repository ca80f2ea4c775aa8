//! A lab file as a tree of spanned YAML nodes, built from the parser's events (the same
//! parser serde-saphyr uses) before anything is typed.
//!
//! Building it reports every duplicate key, every alias to no anchor or to the node that
//! holds it, and merge keys (`<<`) whose value is not a mapping. Merges are expanded as
//! serde-saphyr expands them: a mapping's own keys win over merged ones, an earlier merge
//! source wins over a later one, and merged entries come after the mapping's own. Aliases
//! share their anchor's node; a budget on the size and depth of the expanded tree refuses
//! alias bombs. A syntax error stops the build: what comes after it is unknown.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use granit_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_saphyr::granit_parser;

use super::issue::{Issue, Span};
use super::scalar;
use super::words::{quote, thousands};
use crate::problem::Code;

/// The most nodes a file may have once every alias is expanded.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;
/// The deepest nesting allowed, aliases expanded (serde-saphyr's default budget).
pub const MAX_DEPTH: usize = 64;

/// One YAML node.
#[derive(Debug)]
pub struct Node<'a> {
    /// Where the node is written (for an alias, the `*name` token).
    pub span: Span,
    /// Has an explicit tag (`!!str`, `!thing`): the check leaves it to serde-saphyr.
    pub tagged: bool,
    /// Has an anchor, so it may be reached again through aliases.
    pub anchored: bool,
    /// A merge key: a plain `<<`, or `<<` tagged `!!merge`.
    merge: bool,
    pub kind: Kind<'a>,
    /// Nodes in this one, aliases expanded (itself included).
    size: usize,
    /// Levels in this one, aliases expanded (1 for a scalar).
    height: usize,
}

#[derive(Debug)]
pub enum Kind<'a> {
    Scalar {
        text: Cow<'a, str>,
        style: ScalarStyle,
    },
    Seq(Vec<Rc<Node<'a>>>),
    /// Entries in order: the mapping's own, then merged ones it does not override.
    Map(Vec<Entry<'a>>),
    /// An alias, sharing its anchor's node.
    Alias(Rc<Node<'a>>),
}

#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub key: Rc<Node<'a>>,
    pub value: Rc<Node<'a>>,
}

impl<'a> Node<'a> {
    /// The node itself, or the anchored node an alias stands for.
    pub fn resolved(&self) -> &Node<'a> {
        match &self.kind {
            Kind::Alias(target) => target,
            _ => self,
        }
    }

    /// The text of an untagged scalar.
    pub fn scalar(&self) -> Option<(&str, ScalarStyle)> {
        match &self.resolved().kind {
            Kind::Scalar { text, style } => Some((text, *style)),
            _ => None,
        }
    }

    /// A plain `~`, `null` or nothing, without a tag.
    pub fn is_null(&self) -> bool {
        let node = self.resolved();
        !node.tagged && node.scalar().is_some_and(|(t, s)| scalar::is_null(t, s))
    }

    /// Stands for what a bad alias would have been, once that is reported: tagged, so
    /// that the check leaves it alone.
    fn placeholder(span: Span) -> Self {
        Node {
            span,
            tagged: true,
            anchored: false,
            merge: false,
            kind: Kind::Scalar {
                text: Cow::Borrowed(""),
                style: ScalarStyle::Plain,
            },
            size: 1,
            height: 1,
        }
    }
}

/// The tree of a lab file, and what building it found.
#[derive(Debug, Default)]
pub struct Built<'a> {
    /// The document's root; `None` for a file without a document.
    pub root: Option<Rc<Node<'a>>>,
    pub issues: Vec<Issue>,
    /// False when the build stopped early (a syntax error, a budget), so that the tree
    /// is partial and must not be checked.
    pub complete: bool,
}

/// Builds the tree of `text`'s first document.
pub fn build(text: &str) -> Built<'_> {
    let mut options = granit_parser::Options::default();
    options.emit_comments = false;
    options.emit_unresolved_aliases = true;
    let mut b = Builder {
        text,
        open: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        aliased: false,
        built: Built {
            complete: true,
            ..Built::default()
        },
    };
    for event in Parser::new_from_str_with_options(text, options) {
        let stop = match event {
            Ok((event, span)) => {
                let span = match span.byte_range() {
                    Some(r) => Span::new(r.start, r.end),
                    None => Span::new(0, 0),
                };
                b.event(event, span).is_err()
            }
            Err(err) => {
                b.fatal(syntax_issue(text, &err));
                true
            }
        };
        if stop {
            break;
        }
    }
    b.built
}

/// The build stopped.
struct Stop;

/// A collection whose end has not been seen yet.
struct Open<'a> {
    start: usize,
    tagged: bool,
    anchor: usize,
    flow: bool,
    size: usize,
    height: usize,
    /// Where the last thing in it ends.
    end: usize,
    body: Body<'a>,
}

enum Body<'a> {
    Seq(Vec<Rc<Node<'a>>>),
    Map {
        entries: Vec<Entry<'a>>,
        key: Option<Rc<Node<'a>>>,
        /// Merge (`<<`) values, in order.
        merges: Vec<Rc<Node<'a>>>,
        keys: Keys,
    },
}

struct Builder<'a> {
    text: &'a str,
    open: Vec<Open<'a>>,
    anchors: HashMap<usize, Rc<Node<'a>>>,
    /// Nodes so far, aliases expanded.
    expanded: usize,
    /// Whether an alias was expanded (for the wording of the budget's problem).
    aliased: bool,
    built: Built<'a>,
}

impl<'a> Builder<'a> {
    fn fatal(&mut self, issue: Issue) {
        self.built.issues.push(issue);
        self.built.complete = false;
    }

    fn event(&mut self, event: Event<'a>, span: Span) -> Result<(), Stop> {
        match event {
            Event::DocumentStart(..) if self.built.root.is_some() => {
                self.built.issues.push(
                    Issue::new(
                        Code::MultipleDocuments,
                        "a lab file holds one YAML document, and this is a second one",
                    )
                    .label(span, "a second document starts here")
                    .help(
                        "remove the `---` line and what follows it, or put it in a file of its own",
                    ),
                );
                Err(Stop)
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, span)?;
                let merge = text == "<<"
                    && match &tag {
                        None => style == ScalarStyle::Plain,
                        Some(tag) => {
                            tag.handle() == "tag:yaml.org,2002:" && tag.suffix() == "merge"
                        }
                    };
                let node = Node {
                    span,
                    tagged: tag.is_some(),
                    anchored: anchor != 0,
                    merge,
                    kind: Kind::Scalar { text, style },
                    size: 1,
                    height: 1,
                };
                self.push(node, anchor)
            }
            Event::SequenceStart(style, anchor, tag) => {
                self.open(span, style, anchor, tag.is_some(), Body::Seq(Vec::new()))
            }
            Event::MappingStart(style, anchor, tag) => {
                let body = Body::Map {
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    keys: Keys::default(),
                };
                self.open(span, style, anchor, tag.is_some(), body)
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(span),
            Event::Alias(id) => self.alias(id, span),
            Event::UnresolvedAlias(name) => {
                self.built.issues.push(
                    Issue::new(
                        Code::UnknownAnchor,
                        format!("the alias `*{name}` refers to no anchor"),
                    )
                    .label(span, format!("no `&{name}` before this"))
                    .help(format!(
                        "an alias repeats a node marked earlier in the file with an anchor, \
                         as in `&{name} value`"
                    )),
                );
                self.push(Node::placeholder(span), 0)
            }
            _ => Ok(()),
        }
    }

    fn open(
        &mut self,
        span: Span,
        style: granit_parser::StructureStyle,
        anchor: usize,
        tagged: bool,
        body: Body<'a>,
    ) -> Result<(), Stop> {
        self.count(1, span)?;
        if self.open.len() + 1 > MAX_DEPTH {
            self.fatal(too_deep(span));
            return Err(Stop);
        }
        self.open.push(Open {
            start: span.start,
            tagged,
            anchor,
            flow: style == granit_parser::StructureStyle::Flow,
            size: 1,
            height: 1,
            end: span.end,
            body,
        });
        Ok(())
    }

    /// Counts `n` more nodes against the budget.
    fn count(&mut self, n: usize, span: Span) -> Result<(), Stop> {
        self.expanded = self.expanded.saturating_add(n);
        if self.expanded > MAX_EXPANDED_NODES {
            let limit = thousands(MAX_EXPANDED_NODES);
            let message = if self.aliased {
                format!("aliases make this file larger than {limit} nodes")
            } else {
                format!("this file has more than {limit} nodes")
            };
            self.fatal(
                Issue::new(Code::AliasLimit, message)
                    .label(span, "the limit is crossed here")
                    .help(
                        "every alias stands for a copy of its anchor's node; nshost refuses files \
                     whose aliases expand this far (a lab needs nowhere near as many)",
                    ),
            );
            return Err(Stop);
        }
        Ok(())
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), Stop> {
        let name = &self.text[span.start..span.end];
        let Some(target) = self.anchors.get(&id).cloned() else {
            // The parser knows the anchor, so it is on a collection not closed yet.
            self.built.issues.push(
                Issue::new(
                    Code::RecursiveAlias,
                    format!("the alias `{name}` is inside the node it refers to"),
                )
                .label(span, "refers to a node that contains it")
                .help("a node cannot contain itself: copy what it needs instead"),
            );
            return self.push(Node::placeholder(span), 0);
        };
        // The anchor's node was counted once already; each alias counts it again.
        self.aliased = true;
        self.count(target.size, span)?;
        if self.open.len() + target.height > MAX_DEPTH {
            self.fatal(too_deep(span));
            return Err(Stop);
        }
        let node = Node {
            span,
            tagged: false,
            anchored: false,
            merge: target.merge,
            size: target.size,
            height: target.height,
            kind: Kind::Alias(target),
        };
        self.push(node, 0)
    }

    /// Ends the innermost collection.
    fn close(&mut self, span: Span) -> Result<(), Stop> {
        let open = self.open.pop().expect("the parser balances collections");
        let end = if open.flow { span.end } else { open.end };
        let kind = match open.body {
            Body::Seq(items) => Kind::Seq(items),
            Body::Map {
                mut entries,
                merges,
                mut keys,
                ..
            } => {
                for value in merges {
                    self.merge(&value, &mut entries, &mut keys);
                }
                Kind::Map(entries)
            }
        };
        let node = Node {
            span: Span::new(open.start, end.max(open.start)),
            tagged: open.tagged,
            anchored: open.anchor != 0,
            merge: false,
            kind,
            size: open.size,
            height: open.height,
        };
        self.push(node, open.anchor)
    }

    /// Adds the entries of a merge value that the mapping does not have yet.
    fn merge(&mut self, value: &Node<'a>, entries: &mut Vec<Entry<'a>>, keys: &mut Keys) {
        let sources: Vec<&Node<'a>> = match &value.resolved().kind {
            Kind::Seq(items) => items.iter().map(|i| &**i).collect(),
            _ => vec![value],
        };
        for source in sources {
            match &source.resolved().kind {
                Kind::Map(merged) => {
                    for entry in merged {
                        if keys.find(&entry.key).is_none() {
                            keys.insert(&entry.key, entries.len());
                            entries.push(entry.clone());
                        }
                    }
                }
                // Nothing to merge, or left to serde-saphyr (a tag, a bad alias).
                _ if source.is_null() || source.resolved().tagged => {}
                _ => self.built.issues.push(
                    Issue::new(
                        Code::BadMerge,
                        "a merge key (`<<`) takes a mapping or a list of mappings",
                    )
                    .label(source.span, "not a mapping")
                    .help("write `<<: *name` where `&name` marks a mapping"),
                ),
            }
        }
    }

    /// Puts a finished node in its parent, or makes it the root.
    fn push(&mut self, node: Node<'a>, anchor: usize) -> Result<(), Stop> {
        let node = Rc::new(node);
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.open.last_mut() else {
            if self.built.root.is_none() {
                self.built.root = Some(node);
            }
            return Ok(());
        };
        parent.size = parent.size.saturating_add(node.size);
        parent.height = parent.height.max(node.height + 1);
        parent.end = parent.end.max(node.span.end);
        match &mut parent.body {
            Body::Seq(items) => items.push(node),
            Body::Map {
                entries,
                key,
                merges,
                keys,
            } => match key.take() {
                None => *key = Some(node),
                Some(k) if k.merge => merges.push(node),
                Some(k) => {
                    if let Some(first) = keys.find(&k) {
                        let issue = duplicate(&entries[first].key, &k);
                        self.built.issues.push(issue);
                    } else {
                        keys.insert(&k, entries.len());
                        entries.push(Entry {
                            key: k,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }
}

fn too_deep(span: Span) -> Issue {
    Issue::new(
        Code::TooDeep,
        format!("this file nests more than {MAX_DEPTH} levels deep"),
    )
    .label(span, "too deep here")
    .help("a lab nests a few levels at most: lab, hosts, a host, its fields")
}

/// A key written twice in one mapping.
fn duplicate(first: &Node, again: &Node) -> Issue {
    let name = |n: &Node| n.scalar().map_or(String::new(), |(t, _)| t.to_string());
    let (first_name, name) = (name(first), name(again));
    let message = if first_name == name {
        format!("the key {} is used twice in the same mapping", quote(&name))
    } else {
        format!(
            "the keys {} and {} are the same number, used twice in the same mapping",
            quote(&first_name),
            quote(&name)
        )
    };
    Issue::new(Code::DuplicateKey, message)
        .label(first.span, "first here")
        .label(again.span, "and again here")
        .help("each key may appear once in a mapping: remove one, or rename it")
}

/// The identities of a mapping's keys, for duplicates and merges: the text of a scalar
/// key, and the value of an integer key (so that `0xB` and `11` are the same key, as
/// serde-saphyr has them). Small mappings (most of a lab's) are searched in a list.
#[derive(Default)]
struct Keys {
    list: Vec<(String, Option<i128>, usize)>,
    text: HashMap<String, usize>,
    int: HashMap<i128, usize>,
}

impl Keys {
    const LIST_MAX: usize = 16;

    /// The index of an entry with the same key, if any.
    fn find(&self, key: &Node) -> Option<usize> {
        let (text, style) = key.scalar()?;
        let int = int_key(text, style);
        if self.list.len() < Self::LIST_MAX {
            return self
                .list
                .iter()
                .find(|(t, i, _)| t == text || (int.is_some() && *i == int))
                .map(|&(_, _, index)| index);
        }
        if let Some(&i) = self.text.get(text) {
            return Some(i);
        }
        int.and_then(|v| self.int.get(&v).copied())
    }

    fn insert(&mut self, key: &Node, index: usize) {
        let Some((text, style)) = key.scalar() else {
            return;
        };
        let int = int_key(text, style);
        if self.list.len() < Self::LIST_MAX {
            self.list.push((text.to_string(), int, index));
            if self.list.len() < Self::LIST_MAX {
                return;
            }
            // Too many for a list: index them all from now on.
            for (t, i, index) in &self.list {
                self.text.entry(t.clone()).or_insert(*index);
                if let Some(v) = i {
                    self.int.entry(*v).or_insert(*index);
                }
            }
            return;
        }
        self.text.entry(text.to_string()).or_insert(index);
        if let Some(v) = int {
            self.int.entry(v).or_insert(index);
        }
    }
}

fn int_key(text: &str, style: ScalarStyle) -> Option<i128> {
    (style == ScalarStyle::Plain)
        .then(|| scalar::parse_int(text, true).ok())
        .flatten()
}

/// A syntax error, at the parser's position.
fn syntax_issue(text: &str, err: &ScanError) -> Issue {
    let at = err.marker().byte_offset().unwrap_or(0).min(text.len());
    let len = text[at..].chars().next().map_or(0, char::len_utf8);
    let message = err.info();
    Issue::new(Code::YamlSyntax, message.clone()).label(Span::new(at, at + len), message)
}
