//! Whether a namespace holds any netfilter state, asked over netlink without a helper:
//! one dump of its nftables tables (iptables-nft's included) and one of its ipsets. A
//! lab namespace whose file declares no firewall is read with the kernel's tools only
//! when this finds something there, so that rules made by hand in a lab's namespace
//! are seen (and removed by the next apply) while labs without firewalls run nothing.

use std::io;

use crate::netlink::netfilter::{NfMessage, SUBSYS_IPSET, SUBSYS_NFTABLES};
use crate::netlink::{Netfilter, Socket};

/// `NFT_MSG_GETTABLE`.
const NFT_MSG_GETTABLE: u8 = 1;
/// `IPSET_CMD_LIST`.
const IPSET_CMD_LIST: u8 = 7;
/// `IPSET_ATTR_PROTOCOL`, and the protocol version nshost speaks (the kernel accepts
/// 6 and 7).
const IPSET_ATTR_PROTOCOL: u16 = 1;
const IPSET_PROTOCOL: u8 = 6;
/// `NFPROTO_UNSPEC`, `NFPROTO_IPV4`.
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_IPV4: u8 = 2;

/// Whether the calling thread's network namespace has an nftables table or an ipset.
/// A kernel without nfnetlink, nf_tables or ipset has none of them.
pub fn in_use_here() -> io::Result<bool> {
    let mut sock = match Socket::<Netfilter>::open() {
        Ok(s) => s,
        Err(e) if absent(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut any = false;
    let tables = NfMessage::new(SUBSYS_NFTABLES, NFT_MSG_GETTABLE, NFPROTO_UNSPEC);
    match sock.dump(tables, |_| any = true) {
        Ok(()) => {}
        Err(e) if absent(&e) => {}
        Err(e) => return Err(e),
    }
    if any {
        return Ok(true);
    }
    let sets = NfMessage::new(SUBSYS_IPSET, IPSET_CMD_LIST, NFPROTO_IPV4)
        .with_attr(IPSET_ATTR_PROTOCOL, &[IPSET_PROTOCOL]);
    match sock.dump(sets, |_| any = true) {
        Ok(()) => {}
        Err(e) if absent(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(any)
}

/// The errors that mean the subsystem is not there (not built, not loadable here).
fn absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPROTONOSUPPORT | libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT)
    )
}
