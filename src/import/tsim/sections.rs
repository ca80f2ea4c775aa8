//! The block structure of a facts file: `=== TSIM_SECTION_START:<name> ===`, a header
//! (`TITLE:`, `COMMAND:`, `TIMESTAMP:`), `---`, the command's output, `EXIT_CODE: N`,
//! `=== TSIM_SECTION_END:<name> ===`.

/// One section of a facts file.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub title: Option<String>,
    /// The line of the `START` marker (1-based).
    pub start: usize,
    /// The command's output: (1-based line, text), without the `EXIT_CODE` line.
    pub body: Vec<(usize, String)>,
    pub exit_code: Option<i32>,
}

const START: &str = "=== TSIM_SECTION_START:";
const END: &str = "=== TSIM_SECTION_END:";

/// The sections of `text`, in file order. A section without its end marker ends at the
/// next start marker or at the end of the file.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut current: Option<(Section, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(name) = marker(line, START) {
            if let Some((s, _)) = current.take() {
                out.push(s);
            }
            let section = Section {
                name: name.to_string(),
                title: None,
                start: n,
                body: Vec::new(),
                exit_code: None,
            };
            current = Some((section, false));
            continue;
        }
        if marker(line, END).is_some() {
            if let Some((s, _)) = current.take() {
                out.push(s);
            }
            continue;
        }
        let Some((section, in_body)) = current.as_mut() else {
            continue;
        };
        if !*in_body {
            if line.trim() == "---" {
                *in_body = true;
            } else if let Some(title) = line.strip_prefix("TITLE:") {
                section.title = Some(title.trim().to_string());
            }
            continue;
        }
        if let Some(code) = line.strip_prefix("EXIT_CODE:") {
            section.exit_code = code.trim().parse().ok();
            continue;
        }
        section.body.push((n, line.to_string()));
    }
    if let Some((s, _)) = current {
        out.push(s);
    }
    for s in &mut out {
        while s.body.last().is_some_and(|(_, l)| l.trim().is_empty()) {
            s.body.pop();
        }
    }
    out
}

fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.trim()
        .strip_prefix(prefix)?
        .strip_suffix("===")
        .map(str::trim)
}

/// The table number in a routing table section's title: `... Table (100)`.
pub fn title_number(title: &str) -> Option<u32> {
    let open = title.rfind('(')?;
    let close = title[open..].find(')')? + open;
    title[open + 1..close].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_with_headers_and_exit_codes() {
        let text = "# comment\n=== TSIM_SECTION_START:routing_table_web ===\nTITLE: IP Routing Table Web (700)\nCOMMAND: ip route show table 700\n---\n10.0.0.0/8 dev eth0\n\nEXIT_CODE: 0\n=== TSIM_SECTION_END:routing_table_web ===\n=== TSIM_SECTION_START:hostname ===\n---\nr1\n";
        let s = sections(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "routing_table_web");
        assert_eq!(s[0].start, 2);
        assert_eq!(s[0].title.as_deref(), Some("IP Routing Table Web (700)"));
        assert_eq!(s[0].body, vec![(6, "10.0.0.0/8 dev eth0".to_string())]);
        assert_eq!(s[0].exit_code, Some(0));
        assert_eq!(s[1].body, vec![(12, "r1".to_string())]);
        assert_eq!(title_number(s[0].title.as_deref().unwrap()), Some(700));
        assert_eq!(title_number("IP Routing Table"), None);
    }
}
