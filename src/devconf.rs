//! Per-interface IPv4 settings (`net.ipv4.conf.<dev>.<name>`) that the kernel exposes as
//! netlink link attributes (`IFLA_AF_SPEC` / `AF_INET` / `IFLA_INET_CONF`): nshost reads
//! them from the link dump and sets them with one `RTM_NEWLINK`, never through
//! `/proc/sys`, whose per-namespace lookups grow slower with every namespace on the host.

/// `IPV4_DEVCONF_*` names, in index order from 1 (include/uapi/linux/ip.h).
const NAMES: [&str; 33] = [
    "forwarding",
    "mc_forwarding",
    "proxy_arp",
    "accept_redirects",
    "secure_redirects",
    "send_redirects",
    "shared_media",
    "rp_filter",
    "accept_source_route",
    "bootp_relay",
    "log_martians",
    "tag",
    "arp_filter",
    "medium_id",
    "disable_xfrm",
    "disable_policy",
    "force_igmp_version",
    "arp_announce",
    "arp_ignore",
    "promote_secondaries",
    "arp_accept",
    "arp_notify",
    "accept_local",
    "src_valid_mark",
    "proxy_arp_pvlan",
    "route_localnet",
    "igmpv2_unsolicited_report_interval",
    "igmpv3_unsolicited_report_interval",
    "ignore_routes_with_linkdown",
    "drop_unicast_in_l2_multicast",
    "drop_gratuitous_arp",
    "bc_forwarding",
    "arp_evict_nocarrier",
];

use crate::kernel::decode::attrs;

const AF_INET: u16 = 2;
const IFLA_INET_CONF: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// A per-interface IPv4 setting named by a sysctl key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevConf<'a> {
    pub dev: &'a str,
    /// `IPV4_DEVCONF_*` index (from 1).
    pub index: u16,
}

/// Recognises `net.ipv4.conf.<dev>.<name>` for a real device (not `all`/`default`) and a
/// setting the kernel carries in netlink.
pub fn parse_key(key: &str) -> Option<DevConf<'_>> {
    let rest = key.strip_prefix("net.ipv4.conf.")?;
    let (dev, name) = rest.rsplit_once('.')?;
    if dev.is_empty() || dev == "all" || dev == "default" {
        return None;
    }
    let index = NAMES.iter().position(|n| *n == name)? as u16 + 1;
    Some(DevConf { dev, index })
}

/// Whether a sysctl key is a setting of one network device (`net.ipv4.conf.eth0.*`,
/// `net.ipv6.neigh.eth0.*`, ...), which needs that device to exist.
pub fn names_device(key: &str) -> bool {
    [
        "net.ipv4.conf.",
        "net.ipv6.conf.",
        "net.ipv4.neigh.",
        "net.ipv6.neigh.",
    ]
    .iter()
    .find_map(|p| key.strip_prefix(p))
    .and_then(|rest| rest.split_once('.'))
    .is_some_and(|(dev, _)| dev != "all" && dev != "default")
}

fn nla(kind: u16, value: &[u8], out: &mut Vec<u8>) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

/// The payload of an `IFLA_AF_SPEC` attribute setting one IPv4 devconf value.
pub fn af_spec_payload(index: u16, value: u32) -> Vec<u8> {
    let mut conf = Vec::new();
    nla(index, &value.to_ne_bytes(), &mut conf);
    let mut inet = Vec::new();
    nla(IFLA_INET_CONF | NLA_F_NESTED, &conf, &mut inet);
    let mut spec = Vec::new();
    nla(AF_INET | NLA_F_NESTED, &inet, &mut spec);
    spec
}

const AF_INET6: u16 = 10;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
const IN6_ADDR_GEN_MODE_NONE: u8 = 1;

/// The payload of an `IFLA_AF_SPEC` attribute that turns off IPv6 link-local address
/// generation on a link (`addrgenmode none`).
pub fn inet6_no_link_local() -> Vec<u8> {
    let mut mode = Vec::new();
    nla(
        IFLA_INET6_ADDR_GEN_MODE,
        &[IN6_ADDR_GEN_MODE_NONE],
        &mut mode,
    );
    let mut spec = Vec::new();
    nla(AF_INET6 | NLA_F_NESTED, &mode, &mut spec);
    spec
}

/// Reads devconf value `index` from the payload of a dumped `IFLA_AF_SPEC` attribute,
/// where the kernel puts the whole table as an array of u32 (entry `i` is index `i+1`).
pub fn read(af_spec: &[u8], index: u16) -> Option<u32> {
    let inet = attrs(af_spec).find(|(k, _)| *k == AF_INET)?.1;
    // (`attrs` is the dump decoder's attribute walker.)
    let conf = attrs(inet).find(|(k, _)| *k == IFLA_INET_CONF)?.1;
    let at = (usize::from(index) - 1) * 4;
    Some(u32::from_ne_bytes(conf.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_devices_and_settings() {
        let c = parse_key("net.ipv4.conf.eth0.promote_secondaries").unwrap();
        assert_eq!((c.dev, c.index), ("eth0", 20));
        assert_eq!(
            parse_key("net.ipv4.conf.eth0.1.rp_filter").unwrap().dev,
            "eth0.1"
        );
        assert_eq!(parse_key("net.ipv4.conf.all.promote_secondaries"), None);
        assert_eq!(parse_key("net.ipv4.conf.eth0.no_such_setting"), None);
        assert_eq!(parse_key("net.ipv4.ip_forward"), None);
        assert_eq!(parse_key("net.ipv4.conf.eth0.rp_filter").unwrap().index, 8);
        assert!(names_device("net.ipv6.conf.eth0.disable_ipv6"));
        assert!(!names_device("net.ipv6.conf.all.disable_ipv6"));
        assert!(!names_device("net.ipv4.ip_forward"));
    }

    #[test]
    fn reads_what_it_would_write() {
        // A dumped AF_SPEC holds the whole table; build one with entry 20 set.
        let mut table = vec![0u8; NAMES.len() * 4];
        table[19 * 4..20 * 4].copy_from_slice(&1u32.to_ne_bytes());
        let mut inet = Vec::new();
        nla(IFLA_INET_CONF, &table, &mut inet);
        let mut spec = Vec::new();
        nla(AF_INET, &inet, &mut spec);
        assert_eq!(read(&spec, 20), Some(1));
        assert_eq!(read(&spec, 8), Some(0));
        // What we send is nested attributes, one per setting.
        let sent = af_spec_payload(20, 1);
        assert_eq!(sent.len(), 4 + 4 + 8);
    }
}
