//! Per-device IPv4 settings set over netlink (`IFLA_AF_SPEC` devconf values), and
//! reading them back from a dump.

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};

use super::{BuildError, IfIndexes, Request, index};
use crate::state::DevSetting;

/// Sets devconf value `conf` (setting `setting`) of link `ns`/`link` to `to`.
pub(super) fn set(
    ns: &str,
    link: &str,
    setting: &DevSetting,
    conf: u16,
    to: &str,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let value: i32 = to.trim().parse().map_err(|_| BuildError::BadValue {
        key: setting.key(link),
        value: to.to_string(),
    })?;
    let mut msg = LinkMessage::default();
    msg.header.index = index(idx, ns, link)?;
    msg.attributes
        .push(LinkAttribute::AfSpecUnknown(devconf_payload(conf, value)));
    Ok(vec![Request::plain(RouteNetlinkMessage::SetLink(msg), 0)])
}

pub(super) fn nla(kind: u16, value: &[u8], out: &mut Vec<u8>) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

pub(super) const AF_INET: u16 = 2;
pub(super) const IFLA_INET_CONF: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// The payload of an `IFLA_AF_SPEC` setting one IPv4 devconf value (the crate's own
/// request type leaves out zero values, so it cannot set one to 0).
pub fn devconf_payload(index: u16, value: i32) -> Vec<u8> {
    let mut conf = Vec::new();
    nla(index, &value.to_ne_bytes(), &mut conf);
    let mut inet = Vec::new();
    nla(IFLA_INET_CONF | NLA_F_NESTED, &conf, &mut inet);
    let mut spec = Vec::new();
    nla(AF_INET | NLA_F_NESTED, &inet, &mut spec);
    spec
}

/// Reads devconf value `index` from a dumped `IFLA_AF_SPEC` payload, where the kernel
/// puts the whole table as an array of u32 (entry `i` is index `i+1`).
pub fn devconf_read(af_spec: &[u8], index: u16) -> Option<i32> {
    use crate::netlink::attrs::attrs;
    let inet = attrs(af_spec).find(|(k, _)| *k == AF_INET)?.1;
    let conf = attrs(inet).find(|(k, _)| *k == IFLA_INET_CONF)?.1;
    let at = (usize::from(index) - 1) * 4;
    Some(i32::from_ne_bytes(conf.get(at..at + 4)?.try_into().ok()?))
}
