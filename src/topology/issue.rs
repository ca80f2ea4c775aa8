//! A problem found in a lab file's YAML before it is typed: a code, a message for the
//! lab's author, labels at byte spans and optional help. `parse` turns each into a
//! `problem::Problem`, so that parse problems render like the lab's other problems.

use miette::SourceSpan;

use crate::problem::Code;

/// A byte range in the lab file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

impl From<Span> for SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.end.saturating_sub(s.start)).into()
    }
}

/// One problem, as the tree builder and the schema check report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub code: Code,
    pub message: String,
    pub labels: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl Issue {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Issue {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((span, text.into()));
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = Some(text.into());
        self
    }

    /// Where the issue is, for putting issues in file order: its first label.
    pub fn position(&self) -> usize {
        self.labels.first().map_or(0, |(span, _)| span.start)
    }
}
