//! The netlink form of each link kind, one file per kind with attributes of its own
//! (as `state::kinds` holds their model): what goes into `IFLA_LINKINFO` when a link
//! is created or changed, and how a dumped `IFLA_INFO_DATA` reads back.

#![warn(clippy::wildcard_enum_match_arm)]

mod macvlan;
mod vxlan;

use netlink_packet_route::link::{InfoData, InfoKind, LinkInfo};

use crate::netlink::attrs::{attrs, nla_str};
use crate::state::{KernelKind, LinkKind};

/// `IFLA_LINKINFO` for creating (or, with `changelink`, changing in place) a link of
/// `kind`. `index_of` gives the ifindex of a link of the same namespace (a vxlan's
/// underlay device). `None` for kinds that are not created this way (loopback, veth).
pub fn link_info(
    kind: &LinkKind,
    index_of: &dyn Fn(&str) -> Option<u32>,
    changelink: bool,
) -> Result<Option<Vec<LinkInfo>>, String> {
    Ok(Some(match kind {
        LinkKind::Loopback | LinkKind::Veth { .. } => return Ok(None),
        LinkKind::Bridge => vec![LinkInfo::Kind(InfoKind::Bridge)],
        LinkKind::Dummy => vec![LinkInfo::Kind(InfoKind::Dummy)],
        LinkKind::Ifb => vec![LinkInfo::Kind(InfoKind::Ifb)],
        LinkKind::Vxlan(v) => vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(vxlan::encode(v, index_of, changelink)?)),
        ],
        LinkKind::Macvlan(m) => vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(macvlan::encode(m))),
        ],
        // Made by hand and deleted by the lab; put back by a rollback by kind alone.
        LinkKind::Unmanaged { name } => vec![LinkInfo::Kind(InfoKind::from(name.as_str()))],
    }))
}

/// The link of the same namespace a new link of `kind` names in its own `IFLA_LINK`
/// (a macvlan's parent; a vxlan names its device inside its `IFLA_INFO_DATA`).
pub fn ifla_link(kind: &LinkKind) -> Option<&str> {
    match kind {
        LinkKind::Macvlan(m) => Some(&m.parent),
        LinkKind::Loopback
        | LinkKind::Bridge
        | LinkKind::Veth { .. }
        | LinkKind::Dummy
        | LinkKind::Ifb
        | LinkKind::Vxlan(_)
        | LinkKind::Unmanaged { .. } => None,
    }
}

const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;

/// The kind of a dumped link from its `IFLA_LINKINFO` payload. `link` is its
/// `IFLA_LINK` (a stacked link's lower device, a veth's peer); `name_of` names an
/// ifindex of the same namespace.
pub fn decode(
    linkinfo: Option<&[u8]>,
    link: Option<u32>,
    name_of: &dyn Fn(u32) -> Option<String>,
) -> Option<LinkKind> {
    let mut kind = None;
    let mut data = None;
    for (k, v) in attrs(linkinfo?) {
        match k {
            IFLA_INFO_KIND => kind = Some(nla_str(v)),
            IFLA_INFO_DATA => data = Some(v),
            _ => {}
        }
    }
    let name = kind?;
    Some(match KernelKind::from_kernel_name(&name) {
        Some(KernelKind::Loopback) => LinkKind::Loopback,
        Some(KernelKind::Veth) => LinkKind::Veth { peer: None },
        Some(KernelKind::Bridge) => LinkKind::Bridge,
        Some(KernelKind::Dummy) => LinkKind::Dummy,
        Some(KernelKind::Ifb) => LinkKind::Ifb,
        Some(KernelKind::Vxlan) => {
            LinkKind::Vxlan(Box::new(vxlan::decode(data.unwrap_or_default(), name_of)))
        }
        Some(KernelKind::Macvlan) => LinkKind::Macvlan(macvlan::decode(
            data.unwrap_or_default(),
            link.and_then(name_of).unwrap_or_default(),
        )),
        None => LinkKind::Unmanaged { name },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `IFLA_LINKINFO` payload holding only `IFLA_INFO_KIND` `name`.
    fn linkinfo(name: &str) -> Vec<u8> {
        let mut value = name.as_bytes().to_vec();
        value.push(0);
        let len = 4 + value.len();
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(len).unwrap().to_ne_bytes());
        out.extend_from_slice(&IFLA_INFO_KIND.to_ne_bytes());
        out.extend_from_slice(&value);
        out.resize(len.next_multiple_of(4), 0);
        out
    }

    #[test]
    fn every_kind_of_the_table_decodes_to_itself() {
        for &k in KernelKind::ALL {
            let kind = decode(Some(&linkinfo(k.kernel_name())), None, &|_| None).unwrap();
            assert_eq!(kind.kernel_kind(), Some(k), "{}", k.kernel_name());
            assert_eq!(kind.kernel_name(), k.kernel_name());
        }
        let other = decode(Some(&linkinfo("wireguard")), None, &|_| None).unwrap();
        assert_eq!(
            other,
            LinkKind::Unmanaged {
                name: "wireguard".into()
            }
        );
        assert_eq!(other.kernel_kind(), None);
        assert_eq!(ifla_link(&other), None);
        // A macvlan's parent is its `IFLA_LINK`, both ways.
        let name_of = |i: u32| (i == 3).then(|| "eth0".to_string());
        let mv = decode(Some(&linkinfo("macvlan")), Some(3), &name_of).unwrap();
        assert_eq!(ifla_link(&mv), Some("eth0"));
        assert_eq!(other.kernel_name(), "wireguard");
    }
}
