//! VXLAN: `IFLA_VXLAN_*` from and to `state::kinds::Vxlan`.

use std::net::IpAddr;

use netlink_packet_route::link::InfoVxlan;

use crate::netlink::attrs::{attrs, ip_any, nla_u32};
use crate::state::kinds::Vxlan;

/// What creating (or, with `changelink`, changing) the device says. The remote and the
/// group are the same attribute to the kernel (`IFLA_VXLAN_GROUP`), told apart by the
/// address. A change must not name the port at all: the kernel refuses it even unchanged.
pub fn encode(
    v: &Vxlan,
    index_of: &dyn Fn(&str) -> Option<u32>,
    changelink: bool,
) -> Result<Vec<InfoVxlan>, String> {
    let mut out = vec![InfoVxlan::Id(v.id)];
    if !changelink {
        out.push(InfoVxlan::Port(v.port));
    }
    if let Some(dst) = v.remote.or(v.group) {
        out.push(match dst {
            IpAddr::V4(a) => InfoVxlan::Group(a),
            IpAddr::V6(a) => InfoVxlan::Group6(a),
        });
    }
    if let Some(local) = v.local {
        out.push(match local {
            IpAddr::V4(a) => InfoVxlan::Local(a),
            IpAddr::V6(a) => InfoVxlan::Local6(a),
        });
    }
    if let Some(dev) = &v.dev {
        let index = index_of(dev).ok_or_else(|| format!("no interface `{dev}` under the vxlan"))?;
        out.push(InfoVxlan::Link(index));
    }
    Ok(out)
}

const IFLA_VXLAN_ID: u16 = 1;
const IFLA_VXLAN_GROUP: u16 = 2;
const IFLA_VXLAN_LINK: u16 = 3;
const IFLA_VXLAN_LOCAL: u16 = 4;
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_VXLAN_GROUP6: u16 = 16;
const IFLA_VXLAN_LOCAL6: u16 = 17;

/// Reads a dumped `IFLA_INFO_DATA`.
pub fn decode(data: &[u8], name_of: &dyn Fn(u32) -> Option<String>) -> Vxlan {
    let mut v = Vxlan {
        id: 0,
        local: None,
        remote: None,
        group: None,
        port: 0,
        dev: None,
        underlay: false,
        flood: Default::default(),
    };
    for (k, val) in attrs(data) {
        match k {
            IFLA_VXLAN_ID => v.id = nla_u32(val).unwrap_or(0),
            IFLA_VXLAN_GROUP | IFLA_VXLAN_GROUP6 => {
                if let Some(a) = ip_any(val).filter(|a| !a.is_unspecified()) {
                    if a.is_multicast() {
                        v.group = Some(a);
                    } else {
                        v.remote = Some(a);
                    }
                }
            }
            IFLA_VXLAN_LOCAL | IFLA_VXLAN_LOCAL6 => {
                v.local = ip_any(val).filter(|a| !a.is_unspecified());
            }
            IFLA_VXLAN_LINK => {
                v.dev = nla_u32(val).filter(|i| *i != 0).and_then(name_of);
            }
            IFLA_VXLAN_PORT => {
                v.port = val.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            }
            _ => {}
        }
    }
    v
}
