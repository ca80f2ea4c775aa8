//! Everything that touches the kernel: namespaces, observing the live state, applying
//! a plan's schedule, and probing what the kernel supports. Built on the family-generic
//! netlink layer (`crate::netlink`).

pub mod apply;
pub mod decode;
pub mod enter;
pub mod events;
pub mod firewall;
pub mod kinds;
pub mod message;
pub mod netfilter;
pub mod netns;
pub mod observe;
pub mod pool;
pub mod probe;
pub mod procs;
pub mod qdisc;

use std::io;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use serde::Serialize;

pub use apply::{ApplyStats, Observer, Stopped, Unobserved, apply, apply_observed};
pub use observe::{ObserveSpec, Observed, Stray, observe};

use crate::plan::Change;
use crate::state::{NsRole, ObjectId, namespace_alias};

/// A netlink socket of the route family.
pub type RouteSocket = crate::netlink::Socket<crate::netlink::Route>;
/// A batch of route-family requests.
pub type RouteBatch = crate::netlink::Batch<crate::netlink::Route>;

/// One change the kernel refused, with what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeError {
    /// The namespace the change acts in.
    pub ns: String,
    /// What was being done: `add route 10.8.0.0/16 via 10.9.0.1`.
    pub change: String,
    /// The object it acts on (for the YAML location it comes from).
    pub object: ObjectId,
    /// Positive errno, or -1 when the failure did not come from the kernel.
    pub errno: i32,
    /// The kernel's extended-ack text, or another explanation.
    pub message: Option<String>,
}

impl ChangeError {
    pub fn new(change: &Change, errno: i32, message: Option<String>) -> Self {
        ChangeError {
            ns: change.ns().to_string(),
            change: change.describe(),
            object: change.object(),
            errno,
            message,
        }
    }

    /// From an I/O error: its errno if it has one, and its text.
    pub fn from_io(change: &Change, e: &io::Error) -> Self {
        let errno = e.raw_os_error().unwrap_or(-1);
        let message = (e.raw_os_error().is_none()).then(|| e.to_string());
        ChangeError::new(change, errno, message)
    }

    /// `File exists: <kernel text>`, as the kernel put it.
    pub fn reason(&self) -> String {
        let base = (self.errno > 0).then(|| io::Error::from_raw_os_error(self.errno).to_string());
        match (base, &self.message) {
            (Some(b), Some(m)) => format!("{b}: {m}"),
            (Some(b), None) => b,
            (None, Some(m)) => m.clone(),
            (None, None) => "failed".into(),
        }
    }

    /// Whether the failure means the caller lacks the privileges for it.
    pub fn not_permitted(&self) -> bool {
        self.errno == libc::EPERM || self.errno == libc::EACCES
    }
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.ns, self.change, self.reason())
    }
}

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("cannot read {dir}: {cause}")]
    ListNamespaces { dir: String, cause: io::Error },
    #[error(transparent)]
    Namespace(#[from] netns::NsError),
    #[error("namespace {ns}: dumping {what}: {cause}")]
    Dump {
        ns: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error("{}", changes_text(.0))]
    Changes(Vec<ChangeError>),
    #[error("probing the kernel: {0}")]
    Probe(io::Error),
    #[error("namespace {ns}: reading its firewall: {error}")]
    Firewall { ns: String, error: String },
}

fn changes_text(errors: &[ChangeError]) -> String {
    let mut out = format!("{} change(s) failed:", errors.len());
    for e in errors {
        out.push_str(&format!("\n  {e}"));
    }
    out
}

impl KernelError {
    /// Whether the error means the caller lacks the privileges for the operation.
    pub fn not_permitted(&self) -> bool {
        let denied = |e: &io::Error| e.kind() == io::ErrorKind::PermissionDenied;
        match self {
            KernelError::ListNamespaces { cause, .. }
            | KernelError::Dump { cause, .. }
            | KernelError::Probe(cause) => denied(cause),
            KernelError::Namespace(e) => denied(&e.cause),
            KernelError::Changes(errors) => errors.iter().all(ChangeError::not_permitted),
            KernelError::Firewall { .. } => false,
        }
    }
}

/// `RTM_NEWLINK` on the loopback (always ifindex 1): up, alias `nshost:<lab>/<role>`.
pub fn lo_up_marked(lab: &str, role: NsRole) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = 1;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg.attributes
        .push(LinkAttribute::IfAlias(namespace_alias(lab, role)));
    RouteNetlinkMessage::SetLink(msg)
}
