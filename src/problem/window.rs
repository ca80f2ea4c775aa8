//! What a rendered problem shows of its lines: a line longer than [`LONG`] bytes is
//! shown as a window around the label (with `…` where it is cut), so that a label far
//! along a long line neither overflows miette's column widths nor makes it walk the line.

use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, NamedSource, SourceCode, SourceSpan, SpanContents};

/// A line longer than this (in bytes) is shown as a window.
pub const LONG: usize = 200;
/// How much of a long line a window shows (bytes, about).
const WIDTH: usize = 120;
/// How much of it is before its label.
const BEFORE: usize = 50;
/// The mark where a window cuts a line.
const CUT: &str = "…";

/// A lab file as a problem's rendering reads it: its long lines cut to windows
/// around the problem's labels, and those labels cut to their window.
#[derive(Debug, Clone)]
pub struct View {
    source: NamedSource<Arc<str>>,
    windows: Vec<Window>,
    /// The labels' spans, each cut to its window or to its first line when it
    /// starts on or runs over a long line.
    pub spans: Vec<SourceSpan>,
}

/// The part of one long line that is shown, with its marks.
#[derive(Debug, Clone)]
struct Window {
    /// The file's bytes shown, `from..to`.
    from: usize,
    to: usize,
    /// The 0-based line and the column (bytes) of the shown text's first byte.
    line: usize,
    column: usize,
    /// The text shown: the bytes with a `…` before and after where the line goes on.
    text: String,
    /// Where `text` would start in the file, so that offsets of the file land in it.
    start: usize,
}

impl View {
    /// The view of `source` for labels at `spans`.
    pub fn new(source: &NamedSource<Arc<str>>, spans: impl Iterator<Item = SourceSpan>) -> Self {
        let text: &str = source.inner();
        let mut windows: Vec<Window> = Vec::new();
        let spans = spans
            .map(|span| {
                let at = span.offset().min(text.len());
                let (start, end) = line_of(text, at);
                let span_end = (at + span.len()).min(text.len());
                if end - start > LONG {
                    let window = window(text, at, start, end);
                    let cut = span_end.min(window.to).max(at);
                    windows.push(window);
                    return SourceSpan::from((at, cut - at));
                }
                if span_end > end && runs_over_long_line(text, end, span_end) {
                    return SourceSpan::from((at, end - at));
                }
                span
            })
            .collect();
        View {
            source: source.clone(),
            windows,
            spans,
        }
    }

    fn text(&self) -> &str {
        self.source.inner()
    }

    /// The contents of the window showing `span`, if it is on a long line.
    fn windowed<'a>(
        &'a self,
        span: &SourceSpan,
    ) -> Option<Result<MietteSpanContents<'a>, MietteError>> {
        let at = span.offset();
        let (start, end) = line_of(self.text(), at.min(self.text().len()));
        if end - start <= LONG {
            return None;
        }
        let found = self
            .windows
            .iter()
            .find(|w| w.from <= at && at + span.len() <= w.to);
        Some(match found {
            Some(w) => Ok(MietteSpanContents::new_named(
                self.source.name().to_string(),
                w.text.as_bytes(),
                (w.start, w.text.len()).into(),
                w.line,
                w.column,
                1,
            )),
            // Wider than one window: miette then shows each label on its own.
            None => Err(MietteError::OutOfBounds),
        })
    }
}

impl SourceCode for View {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // Without context, only the line and column are read: the file's own.
        if before == 0 && after == 0 {
            return self.source.read_span(span, 0, 0);
        }
        // Without long lines, as miette reads a file.
        let whole = self.source.read_span(span, before, after)?;
        if !whole
            .data()
            .split(|&b| b == b'\n')
            .any(|line| line.len() > LONG)
        {
            return Ok(whole);
        }
        if let Some(contents) = self.windowed(span) {
            return contents.map(|c| Box::new(c) as Box<dyn SpanContents<'a> + 'a>);
        }
        let text = self.text();
        let at = span.offset().min(text.len());
        let span_end = (span.offset() + span.len()).min(text.len());
        let (mut from, first_end) = line_of(text, at);
        let (_, mut to) = line_of(text, span_end.max(at));
        if to > first_end && runs_over_long_line(text, first_end, to) {
            return Err(MietteError::OutOfBounds);
        }
        // Context lines, as long as they are short.
        for _ in 0..before {
            if from == 0 {
                break;
            }
            let (start, end) = line_of(text, from - 1);
            if end - start > LONG {
                break;
            }
            from = start;
        }
        for _ in 0..after {
            if to >= text.len() {
                break;
            }
            let (start, end) = line_of(text, to + 1);
            if end - start > LONG {
                break;
            }
            to = end;
        }
        // The last line's newline belongs to it, as miette reads it.
        if to < text.len() {
            to += 1;
        }
        let data = &text.as_bytes()[from..to];
        let line = text.as_bytes()[..from]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let lines = data.iter().filter(|&&b| b == b'\n').count().max(1);
        let contents = MietteSpanContents::new_named(
            self.source.name().to_string(),
            data,
            (from, to - from).into(),
            line,
            0,
            lines,
        );
        Ok(Box::new(contents))
    }
}

/// The line holding byte `at`: its first byte and where it ends (its `\n`, or a `\r`
/// before it, or the end of the text).
fn line_of(text: &str, at: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let start = bytes[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let mut end = bytes[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| at + i);
    if end > at && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    (start, end)
}

/// Whether the lines after the line ending at `end`, up to `to`, include a long one.
fn runs_over_long_line(text: &str, end: usize, to: usize) -> bool {
    text[end..to.min(text.len())]
        .split('\n')
        .skip(1)
        .any(|line| line.len() > LONG)
}

/// The window of the long line `start..end` around byte `at`.
fn window(text: &str, at: usize, start: usize, end: usize) -> Window {
    let mut from = at.saturating_sub(BEFORE).max(start);
    // A cut of a few bytes saves nothing: show the line from its start.
    if from < start + CUT.len() {
        from = start;
    }
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (from + WIDTH).min(end).max(at);
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let mut shown = String::with_capacity(to - from + 2 * CUT.len());
    let mut window_start = from;
    if from > start {
        shown.push_str(CUT);
        window_start = from - CUT.len();
    }
    shown.push_str(&text[from..to]);
    if to < end {
        shown.push_str(CUT);
    }
    let line = text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    Window {
        from,
        to,
        line,
        column: window_start - start,
        text: shown,
        start: window_start,
    }
}

#[cfg(test)]
mod tests {
    use crate::problem::{Code, Problem};
    use crate::source::SourceFile;

    fn render(problem: &Problem) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .render_report(&mut out, problem)
            .unwrap();
        out
    }

    #[test]
    fn labels_far_apart_on_a_long_line_get_a_window_each_and_long_context_is_left_out() {
        let long = format!("a: [x, {}, y]", "0, ".repeat(2_000));
        let text = format!("{long}\nb: 1\n{long}\n");
        let src = SourceFile::from_text("lab.yaml", &text);
        let y = long.rfind('y').unwrap();
        let problem = Problem::new(Code::WrongType, "three places", src.shared_source())
            .label((4, 1).into(), "x")
            .label((y, 1).into(), "y")
            .label((long.len() + 1, 1).into(), "b");
        insta::assert_snapshot!(render(&problem), @r"
        nshost::wrong_type

          × three places
           ╭─[lab.yaml:1:5]
         1 │ a: [x, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,…
           ·     ┬
           ·     ╰── x
           ╰────
           ╭─[lab.yaml:1:6010]
         1 │ …0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, , y]
           ·                                                    ┬
           ·                                                    ╰── y
           ╰────
           ╭─[lab.yaml:2:1]
         2 │ b: 1
           · ┬
           · ╰── b
           ╰────
        ");
        // The JSON report keeps the labels whole, at their line and column.
        let reports = crate::report::ProblemReport::all(&[problem]);
        let columns: Vec<_> = reports[0]
            .labels
            .iter()
            .map(|l| (l.line, l.column))
            .collect();
        assert_eq!(columns, [(1, 5), (1, y + 1), (2, 1)]);
    }

    #[test]
    fn a_label_over_a_long_line_is_cut_to_its_window() {
        let text = format!("a: {{x: 1, y: {}}}\n", "7".repeat(1_000));
        let src = SourceFile::from_text("lab.yaml", &text);
        let problem = Problem::new(Code::WrongType, "the whole map", src.shared_source())
            .label((3, text.len() - 4).into(), "this map");
        insta::assert_snapshot!(render(&problem), @r"
        nshost::wrong_type

          × the whole map
           ╭─[lab.yaml:1:4]
         1 │ a: {x: 1, y: 77777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777…
           ·    ──────────────────────────────────────────────────────────┬──────────────────────────────────────────────────────────
           ·                                                              ╰── this map
           ╰────
        ");
    }
}
