//! What a node's processes printed, as its supervisor keeps it: the log files of one
//! process or all, read whole or their last lines (`nshost logs`, the session's `logs`).

use std::path::PathBuf;

use super::control::WorkloadError;
use super::layout;

/// The log files of `node`'s processes, by process name: the one named, or every one
/// when `name` is `None`. A name the node does not run (or a node without `run:`) is
/// `nshost::no_such_process`.
pub fn files(
    lab: &str,
    node: &str,
    name: Option<&str>,
) -> Result<Vec<(String, PathBuf)>, WorkloadError> {
    let known: Vec<String> = layout::read_spec(lab, node)
        .map(|s| s.run.into_iter().map(|p| p.name).collect())
        .unwrap_or_default();
    let names: Vec<String> = match name {
        Some(n) if known.iter().any(|k| k == n) => vec![n.to_string()],
        None if !known.is_empty() => known.clone(),
        name => {
            return Err(WorkloadError::NoProcess {
                node: node.to_string(),
                name: name.map(str::to_string),
                known,
            });
        }
    };
    Ok(names
        .into_iter()
        .map(|n| {
            let path = layout::log_path(lab, node, &n);
            (n, path)
        })
        .collect())
}

/// The line printed before each log when there are several.
pub fn header(node: &str, name: &str) -> String {
    format!("==> {node} {name} <==\n")
}

/// The logs `files` of `node` as `nshost logs` prints them (each under its
/// [`header`] when there are several; only the last `lines` lines of each with
/// `Some`), and each file's length as read (where following it goes on).
pub fn read(node: &str, files: &[(String, PathBuf)], lines: Option<usize>) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::new();
    let mut lengths = Vec::new();
    for (name, path) in files {
        if files.len() > 1 {
            out.extend_from_slice(header(node, name).as_bytes());
        }
        let text = std::fs::read(path).unwrap_or_default();
        let start = lines.map_or(0, |n| tail_start(&text, n));
        out.extend_from_slice(&text[start..]);
        lengths.push(text.len() as u64);
    }
    (out, lengths)
}

/// Where the last `n` lines of `text` start.
pub fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn the_tail_is_the_last_lines() {
        let t = b"a\nb\nc\n";
        assert_eq!(&t[tail_start(t, 2)..], b"b\nc\n");
        assert_eq!(&t[tail_start(t, 5)..], t);
        assert_eq!(&t[tail_start(t, 0)..], b"");
        let unended = b"a\nb";
        assert_eq!(&unended[tail_start(unended, 1)..], b"b");
    }
}
