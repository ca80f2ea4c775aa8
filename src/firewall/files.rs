//! Directives of a firewall text that make its loader read a file of the machine, refused
//! at validation with their lines: nft's `include` (any case, anywhere, also inside a
//! table block), which `plan` (run as root) would follow and then print the file's lines
//! in its error; xt_bpf's `--object-pinned PATH` in iptables text; and ipset's global
//! options (`-file`, `-output`, ...) in an ipset line, which `ipset restore` 7.17 ignores
//! there but which have no place in a set's line. iptables-restore input has no include
//! directive: `xt::parse` accepts only `*table`, `:CHAIN`, `-A`, `COMMIT` and comments.

use super::{Part, TextError, words};

/// Every line of `text` (the lab's `part`) that would make its loader read a file.
pub fn file_reads(part: Part, text: &str) -> Vec<TextError> {
    match part {
        Part::Nftables => nft_includes(text),
        Part::Iptables | Part::Ip6tables => text
            .lines()
            .enumerate()
            .filter(|(_, l)| words(l).contains(&"--object-pinned"))
            .map(|(n, _)| {
                TextError::at(
                    n,
                    "`--object-pinned` opens a file of this machine by its path: give the program with `--bytecode`",
                )
            })
            .collect(),
        Part::Ipsets => text
            .lines()
            .enumerate()
            .filter_map(|(n, l)| {
                let option = words(l).into_iter().skip(1).find(|w| w.starts_with('-'))?;
                Some(TextError::at(
                    n,
                    format!(
                        "`{option}`: a set's line takes no option of the ipset program (`-file` would name a file of this machine)"
                    ),
                ))
            })
            .collect(),
    }
}

/// The lines with an nft `include`: any word `include` outside quotes and comments,
/// whatever its case, at the start of a line, after a `;` or `{`, or glued to its
/// quoted file name.
fn nft_includes(text: &str) -> Vec<TextError> {
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut quoted = false;
        let mut word = String::new();
        let mut found = false;
        for c in line.chars().chain(std::iter::once('\n')) {
            if !quoted && c == '#' {
                break;
            }
            if !quoted && (c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '\\')) {
                word.push(c);
                continue;
            }
            found |= !quoted && word.eq_ignore_ascii_case("include");
            word.clear();
            if c == '"' {
                quoted = !quoted;
            }
        }
        found |= word.eq_ignore_ascii_case("include");
        if found {
            errors.push(TextError::at(
                n,
                "`include` makes nft read a file of this machine: write the rules here instead",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(part: Part, text: &str) -> Vec<usize> {
        file_reads(part, text)
            .iter()
            .map(|e| e.line.expect("located"))
            .collect()
    }

    #[test]
    fn every_nft_include_is_found_and_nothing_else() {
        let text = "\
include \"/etc/shadow\"
  INCLUDE   \"/etc/shadow\"
table inet t {
\tinclude\"/etc/shadow\"
}
table inet u { chain c { accept; }; }; Include \"/etc/passwd\"
# include \"/etc/shadow\" in a comment
table inet v { chain c { meta mark 1 comment \"include this\"; } }
table inet w { set include-list { type ipv4_addr; } }
";
        assert_eq!(lines(Part::Nftables, text), [0, 1, 3, 5]);
    }

    #[test]
    fn object_pinned_and_ipset_options_are_found() {
        let ipt = "*filter\n-A INPUT -m bpf --object-pinned /etc/shadow -j ACCEPT\n-A INPUT -m bpf --bytecode \"1,6 0 0 0\" -j ACCEPT\nCOMMIT\n";
        assert_eq!(lines(Part::Iptables, ipt), [1]);
        assert_eq!(lines(Part::Ip6tables, ipt), [1]);
        let sets = "create a hash:ip -file /etc/shadow\nadd a 10.0.0.1\n-A a 10.0.0.2\nadd a 10.0.0.3 -exist\n";
        assert_eq!(lines(Part::Ipsets, sets), [0, 3]);
    }
}
