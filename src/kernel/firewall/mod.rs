//! Firewalls in the kernel, behind one boundary: a [`FirewallBackend`] reads a
//! namespace's firewall, loads one into it, and loads a text into a scratch namespace to
//! read back its canonical form. The one backend, [`Tools`], runs the kernel's own tools
//! (`ipset`, `iptables-restore`/`-save`, `ip6tables-restore`/`-save`, `nft`): the only
//! outside programs nshost runs to put a lab's kernel state in place, and only for nodes
//! whose lab declares a firewall (or did at its last apply), at plan time (canonical
//! texts) and at apply. A lab without one never starts one. [`backend`] is where the
//! choice is made.
//!
//! Loading a node's firewall, in an order that keeps every reference valid: ipsets
//! created or refilled first (a set whose options change is made under a temporary name
//! and swapped in; one whose type or family changes, which the kernel cannot swap, is
//! destroyed and made anew once the rules and list:sets naming it let go of it, and
//! they come back with the rest), then the iptables and ip6tables tables, each replaced
//! whole by `iptables-restore` (a table only the live state has is emptied), then the
//! nft tables in one `nft -f` transaction (`delete table` of each live one, then the
//! desired ones), and last the sets no rule uses any more are destroyed.

mod tools;

use crate::firewall::{Firewall, FirewallText, Part};
pub use tools::Tools;

/// What nshost needs of a way to read and load firewalls. Each method acts in the
/// calling thread's network namespace (`_here`), which the caller has entered.
pub trait FirewallBackend: Sync {
    /// Whether the parts can be read and loaded here: the first thing missing.
    fn check(&self, parts: &[Part]) -> Result<(), ToolError>;
    /// The parts to read of a namespace: every one this machine can read (a part that
    /// cannot be read cannot have been made by nshost either).
    fn readable_parts(&self) -> Vec<Part>;
    /// Reads the parts `parts` of the namespace's firewall.
    fn read_here(&self, parts: &[Part]) -> Result<Firewall, PartError>;
    /// Loads texts as written into the (scratch) namespace, then reads them back.
    fn load_text_here(&self, text: &FirewallText) -> Result<Firewall, PartError>;
    /// Makes the namespace hold `to`, from `from` (what it holds now).
    fn load_here(&self, from: &Firewall, to: &Firewall) -> Result<(), PartError>;
}

/// The backend nshost uses.
pub fn backend() -> &'static dyn FirewallBackend {
    &Tools
}

/// A tool failed or is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// Not found (on `PATH`, in `/usr/sbin`, in `/sbin`): the program and the Debian
    /// package that has it.
    Missing {
        program: &'static str,
        package: &'static str,
    },
    /// It ran and failed: what it said, and the line of its input it names, if any.
    Failed {
        program: &'static str,
        stderr: String,
        line: Option<usize>,
    },
    /// It could not be run, or its output not read.
    Io {
        program: &'static str,
        cause: String,
    },
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Missing { program, package } => write!(
                f,
                "`{program}` is not installed (not on PATH, nor in /usr/sbin or /sbin): install the Debian package `{package}`"
            ),
            ToolError::Failed {
                program, stderr, ..
            } => {
                write!(f, "{program} failed: {}", stderr.trim())
            }
            ToolError::Io { program, cause } => write!(f, "running {program}: {cause}"),
        }
    }
}

/// A tool's failure on one part of a node's firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartError {
    pub part: Part,
    pub error: ToolError,
}

impl std::fmt::Display for PartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.part.field(), self.error)
    }
}

/// The parts a firewall uses.
pub fn parts_of(fw: &Firewall) -> Vec<Part> {
    Part::ALL
        .into_iter()
        .filter(|p| !fw.part_is_empty(*p))
        .collect()
}

/// The kernel's canonical form of each distinct text, each loaded once into a scratch
/// network namespace of its own (a short-lived thread unshares it; nothing is
/// mounted, and it is gone when the thread ends), on a few threads at once.
pub fn canonicalize(texts: &[FirewallText]) -> Vec<Result<Firewall, PartError>> {
    crate::kernel::netns::on_threads(texts, |text| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| PartError {
            part: Part::Iptables,
            error: ToolError::Io {
                program: "nshost",
                cause: format!("a scratch network namespace: {e}"),
            },
        })?;
        backend().load_text_here(text)
    })
}
