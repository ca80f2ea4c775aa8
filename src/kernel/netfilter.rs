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

/// `IPSET_CMD_TYPE`, and its `IPSET_ATTR_TYPENAME` and `IPSET_ATTR_FAMILY`.
const IPSET_CMD_TYPE: u8 = 13;
const IPSET_ATTR_TYPENAME: u16 = 3;
const IPSET_ATTR_FAMILY: u16 = 5;
/// `IPSET_ERR_FIND_TYPE`: no such set type (older kernels said `EEXIST`).
const IPSET_ERR_FIND_TYPE: i32 = 4098;

/// Which of `types` (`hash:mac`, ...) this kernel's ipset lacks, asked over netlink in
/// the calling thread's namespace (a query: nothing changes). `Ok(None)` when the
/// kernel cannot be asked from here (no CAP_NET_ADMIN, no ipset at all).
pub fn missing_ipset_types(types: &[String]) -> io::Result<Option<Vec<String>>> {
    let mut sock = match Socket::<Netfilter>::open() {
        Ok(s) => s,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut missing = Vec::new();
    for kind in types {
        let mut name = kind.as_bytes().to_vec();
        name.push(0);
        // A type of either family answers for IPv4 (`hash:mac` and `list:set` have
        // none of their own).
        let ask = NfMessage::new(SUBSYS_IPSET, IPSET_CMD_TYPE, NFPROTO_IPV4)
            .with_attr(IPSET_ATTR_PROTOCOL, &[IPSET_PROTOCOL])
            .with_attr(IPSET_ATTR_TYPENAME, &name)
            .with_attr(IPSET_ATTR_FAMILY, &[NFPROTO_IPV4]);
        match sock.request(ask)? {
            Ok(_) => {}
            // The kernel's answer for a type it does not have.
            Err(e) if matches!(e.errno, IPSET_ERR_FIND_TYPE | libc::EEXIST) => {
                missing.push(kind.clone());
            }
            Err(e)
                if matches!(
                    e.errno,
                    libc::EPERM | libc::EACCES | libc::EPROTONOSUPPORT | libc::EOPNOTSUPP
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.to_io()),
        }
    }
    Ok(Some(missing))
}
