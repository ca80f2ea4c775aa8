//! Finding a node's namespace by the node's name, across every lab on the machine, for
//! `nshost exec` and `nshost shell`. Only the entries that can be the node are read
//! (named like it, after any prefix) and the labs' fabrics (which give each lab's
//! prefix), one mark each, on the calling thread: no thread is started, so that the
//! caller can go on to unshare its mount namespace, which needs a process of one
//! thread. The calling thread comes back to its own network namespace.

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};

use crate::kernel::netns::{self, Entry};
use crate::kernel::observe::mark_here;
use crate::state::NsRole;
use crate::workflow::Error;

use super::build::prefix_of;

/// A node found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub lab: String,
    pub node: String,
    /// Its namespace's name under `/run/netns`.
    pub ns: String,
}

/// Why no one node was found.
/// Why a node cannot be located: the machine could not be read, or no node (or more than
/// one) has the name.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LocateError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Machine(#[from] Error),
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum NodeError {
    #[error("no node named `{node}`{}", in_lab(.lab))]
    #[diagnostic(code(nshost::no_such_node), help("{}", unknown_help(.suggestion, .known)))]
    Unknown {
        node: String,
        lab: Option<String>,
        /// The closest known node name.
        suggestion: Option<String>,
        /// Every node name on the machine (of the lab, with `--lab`).
        known: Vec<String>,
    },
    #[error("`{node}` is a node of several labs: {}", .labs.join(", "))]
    #[diagnostic(
        code(nshost::ambiguous_node),
        help("say which with --lab, e.g. `--lab {}`", .labs[0])
    )]
    Ambiguous { node: String, labs: Vec<String> },
}

fn in_lab(lab: &Option<String>) -> String {
    lab.as_ref()
        .map(|l| format!(" in lab `{l}`"))
        .unwrap_or_default()
}

fn unknown_help(suggestion: &Option<String>, known: &[String]) -> String {
    match (suggestion, known.is_empty()) {
        (Some(s), _) => format!("did you mean `{s}`?"),
        (None, true) => "there are no nshost nodes here".into(),
        (None, false) => format!("nodes here: {}", known.join(", ")),
    }
}

/// Finds node `node` (a node name, or a namespace name) among every lab's, or `lab`'s.
/// Unknown or ambiguous is an error that says what there is.
pub fn locate(node: &str, lab: Option<&str>) -> Result<Located, LocateError> {
    Error::unless_permitted("entering network namespaces")?;
    let dir = netns::run_dir();
    let entries = netns::list().map_err(|cause| {
        Error::from_kernel(crate::kernel::KernelError::ListNamespaces {
            dir: dir.display().to_string(),
            cause,
        })
    })?;
    let names: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::File(n) => Some(n.as_str()),
            Entry::Other { .. } => None,
        })
        .collect();
    let wanted: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.ends_with(node) || n.ends_with("-fabric"))
        .collect();
    let marks = marks_here(&wanted);
    let found = matches(node, lab, &marks);
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one")),
        0 => Err(unknown(node, lab)?.into()),
        _ => {
            let mut labs: Vec<String> = found.into_iter().map(|f| f.lab).collect();
            labs.sort();
            labs.dedup();
            Err(NodeError::Ambiguous {
                node: node.to_string(),
                labs,
            }
            .into())
        }
    }
}

/// The nodes among `marks` (namespace → lab and role) that `node` names.
fn matches(
    node: &str,
    lab: Option<&str>,
    marks: &BTreeMap<String, (String, NsRole)>,
) -> Vec<Located> {
    let fabrics: BTreeMap<&str, &str> = marks
        .iter()
        .filter(|(_, (_, role))| *role == NsRole::Fabric)
        .map(|(ns, (lab, _))| (lab.as_str(), ns.as_str()))
        .collect();
    marks
        .iter()
        .filter(|(_, (l, role))| *role != NsRole::Fabric && lab.is_none_or(|want| want == l))
        .filter_map(|(ns, (l, _))| {
            let prefix = prefix_of(l, fabrics.get(l.as_str()).copied());
            let name = ns
                .strip_prefix(prefix.as_str())
                .filter(|n| !n.is_empty())
                .unwrap_or(ns);
            (name == node || ns == node).then(|| Located {
                lab: l.clone(),
                node: name.to_string(),
                ns: ns.clone(),
            })
        })
        .collect()
}

/// The error for a node that is nowhere: with every node name there is (read from every
/// lab, on threads: the caller will not exec after an error).
fn unknown(node: &str, lab: Option<&str>) -> Result<NodeError, Error> {
    let machine = super::labs_nodes(lab)?;
    let suggestion =
        crate::topology::closest(node, machine.iter().map(String::as_str)).map(str::to_string);
    Ok(NodeError::Unknown {
        node: node.to_string(),
        lab: lab.map(str::to_string),
        suggestion,
        known: machine,
    })
}

/// The mark of each of `names`, read on the calling thread, which then comes back to
/// its own network namespace. Entries without a namespace or a mark are left out.
fn marks_here(names: &[&str]) -> BTreeMap<String, (String, NsRole)> {
    let mut out = BTreeMap::new();
    let Ok(home) = std::fs::File::open("/proc/thread-self/ns/net") else {
        return out;
    };
    for name in names {
        if let Ok(Some(())) = netns::enter(name)
            && let Some(mark) = mark_here()
        {
            out.insert(name.to_string(), mark);
        }
    }
    // Back home; if that failed, the caller's next setns decides anyway.
    let _ = setns(home.as_fd(), CloneFlags::CLONE_NEWNET);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(list: &[(&str, &str, NsRole)]) -> BTreeMap<String, (String, NsRole)> {
        list.iter()
            .map(|(ns, lab, role)| (ns.to_string(), (lab.to_string(), *role)))
            .collect()
    }

    #[test]
    fn nodes_are_found_by_name_after_their_labs_prefix() {
        let m = marks(&[
            ("small-fabric", "small", NsRole::Fabric),
            ("web1", "small", NsRole::Host),
            ("o-other-fabric", "other", NsRole::Fabric),
            ("o-web1", "other", NsRole::Host),
            ("solo", "bare", NsRole::Router),
        ]);
        let names = |found: Vec<Located>| -> Vec<(String, String, String)> {
            found.into_iter().map(|l| (l.lab, l.node, l.ns)).collect()
        };
        let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            names(matches("web1", None, &m)),
            [t("other", "web1", "o-web1"), t("small", "web1", "web1")]
        );
        assert_eq!(
            names(matches("web1", Some("other"), &m)),
            [t("other", "web1", "o-web1")]
        );
        // By its namespace's name too.
        assert_eq!(
            names(matches("o-web1", None, &m)),
            [t("other", "web1", "o-web1")]
        );
        // A lab without a fabric has no prefix to take off.
        assert_eq!(
            names(matches("solo", None, &m)),
            [t("bare", "solo", "solo")]
        );
        assert!(matches("small-fabric", None, &m).is_empty());
        assert!(matches("web2", None, &m).is_empty());
    }

    #[test]
    fn errors_say_what_there_is() {
        let e = NodeError::Unknown {
            node: "web9".into(),
            lab: None,
            suggestion: Some("web1".into()),
            known: vec!["db1".into(), "web1".into()],
        };
        assert_eq!(e.to_string(), "no node named `web9`");
        let help = miette::Diagnostic::help(&e).unwrap().to_string();
        assert_eq!(help, "did you mean `web1`?");
        let e = NodeError::Unknown {
            node: "zzz".into(),
            lab: Some("small".into()),
            suggestion: None,
            known: vec!["db1".into(), "web1".into()],
        };
        assert_eq!(e.to_string(), "no node named `zzz` in lab `small`");
        let help = miette::Diagnostic::help(&e).unwrap().to_string();
        assert_eq!(help, "nodes here: db1, web1");
        let e = NodeError::Ambiguous {
            node: "web1".into(),
            labs: vec!["other".into(), "small".into()],
        };
        assert_eq!(
            e.to_string(),
            "`web1` is a node of several labs: other, small"
        );
        let help = miette::Diagnostic::help(&e).unwrap().to_string();
        assert_eq!(help, "say which with --lab, e.g. `--lab other`");
    }
}
