//! Probing the kernel for link kinds, in a throwaway namespace that disappears with the
//! probing thread, so a plan can say up front that a kind is missing.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use nix::sched::{CloneFlags, unshare};

use crate::kernel::netlink::{Batch, NlSocket};

/// The kinds in `kinds` this kernel cannot create (it answers "not supported").
pub fn unsupported_kinds(kinds: &[String]) -> std::io::Result<Vec<String>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // A fresh namespace of this thread's own: nothing made here is seen
            // elsewhere, and it is freed when the thread ends.
            unshare(CloneFlags::CLONE_NEWNET)?;
            let mut sock = NlSocket::open()?;
            let mut missing = Vec::new();
            for (i, kind) in kinds.iter().enumerate() {
                let mut msg = LinkMessage::default();
                msg.attributes
                    .push(LinkAttribute::IfName(format!("nshprobe{i}")));
                msg.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                        InfoKind::from(kind.as_str()),
                    )]));
                let mut batch = Batch::new();
                batch.push(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL);
                let errors = sock.execute(&batch)?;
                if errors.iter().any(|e| e.errno == libc::EOPNOTSUPP) {
                    missing.push(kind.clone());
                }
            }
            Ok(missing)
        })
        .join()
        .expect("probe thread panicked")
    })
}
