//! Settings, classified once when a state is built: a sysctl key names either a
//! namespace-wide setting (`net.ipv4.ip_forward`, `net.ipv4.conf.all.rp_filter`) or a
//! setting of one device (`net.ipv4.conf.eth0.rp_filter`), which lives on that link,
//! needs it to exist and goes with it. Per-device IPv4 settings the kernel carries in
//! netlink (`IPV4_DEVCONF_*`) are read and written as link attributes; the others go
//! through `/proc/sys`.

use serde::{Deserialize, Serialize};

/// `IPV4_DEVCONF_*` names, in index order from 1 (include/uapi/linux/ip.h).
const IPV4_DEVCONF: [&str; 33] = [
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

/// Which per-device table a setting is in.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// `net.ipv4.conf.<dev>.*`
    Ipv4Conf,
    /// `net.ipv6.conf.<dev>.*`
    Ipv6Conf,
    /// `net.ipv4.neigh.<dev>.*`
    Ipv4Neigh,
    /// `net.ipv6.neigh.<dev>.*`
    Ipv6Neigh,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Ipv4Conf,
        Section::Ipv6Conf,
        Section::Ipv4Neigh,
        Section::Ipv6Neigh,
    ];

    /// The key's prefix, up to the device name.
    pub fn prefix(self) -> &'static str {
        match self {
            Section::Ipv4Conf => "net.ipv4.conf.",
            Section::Ipv6Conf => "net.ipv6.conf.",
            Section::Ipv4Neigh => "net.ipv4.neigh.",
            Section::Ipv6Neigh => "net.ipv6.neigh.",
        }
    }
}

/// A setting of one device, without the device's name (the link it sits on says it).
/// Serialized as its key with `*` for the device: `net.ipv4.conf.*.rp_filter`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevSetting {
    pub section: Section,
    pub name: String,
}

impl DevSetting {
    /// The `IPV4_DEVCONF_*` index (from 1) of a setting carried in netlink, if it is one.
    pub fn devconf_index(&self) -> Option<u16> {
        if self.section != Section::Ipv4Conf {
            return None;
        }
        IPV4_DEVCONF
            .iter()
            .position(|n| *n == self.name)
            .map(|i| i as u16 + 1)
    }

    /// Whether the setting is read and written over netlink (else under `/proc/sys`).
    pub fn is_netlink(&self) -> bool {
        self.devconf_index().is_some()
    }

    /// The dotted sysctl key of this setting on device `dev`.
    pub fn key(&self, dev: &str) -> String {
        format!("{}{}.{}", self.section.prefix(), dev, self.name)
    }

    /// The same setting's key for devices created from now on (`default`), whose value
    /// in a fresh namespace is what a fresh device gets.
    pub fn default_key(&self) -> String {
        self.key("default")
    }
}

impl schemars::JsonSchema for DevSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DevSetting".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A setting of one device, its key with `*` for the device: `net.ipv4.conf.*.rp_filter`."
        })
    }
}

impl Serialize for DevSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.key("*"))
    }
}

/// Read back from its serialized key, `net.ipv4.conf.*.rp_filter`.
impl<'de> Deserialize<'de> for DevSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match classify(&text, |dev| dev == "*") {
            Setting::Device { setting, .. } => Ok(setting),
            Setting::Namespace(_) => Err(serde::de::Error::custom(format!(
                "not a device setting: `{text}`"
            ))),
        }
    }
}

/// What a sysctl key names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting<'a> {
    /// A setting of the whole namespace, by its key.
    Namespace(&'a str),
    /// A setting of device `dev`.
    Device { dev: &'a str, setting: DevSetting },
}

/// Classifies a sysctl key. A key names a device when it is under one of the
/// per-device sections and its device part is a link of the namespace (`is_device`);
/// `all` and `default` are namespace-wide. Device names may hold dots
/// (`net.ipv4.conf.eth0.100.rp_filter`): the setting's name is the last component.
pub fn classify<'a>(key: &'a str, is_device: impl Fn(&str) -> bool) -> Setting<'a> {
    for section in Section::ALL {
        let Some(rest) = key.strip_prefix(section.prefix()) else {
            continue;
        };
        let Some((dev, name)) = rest.rsplit_once('.') else {
            continue;
        };
        if dev == "all" || dev == "default" || !is_device(dev) {
            continue;
        }
        return Setting::Device {
            dev,
            setting: DevSetting {
                section,
                name: name.to_string(),
            },
        };
    }
    Setting::Namespace(key)
}

/// The device part of a per-device key, whether or not such a device exists: for
/// validation (`net.ipv4.conf.eth9.rp_filter` on a node without `eth9`).
pub fn device_of(key: &str) -> Option<&str> {
    Section::ALL.iter().find_map(|s| {
        let (dev, _) = key.strip_prefix(s.prefix())?.rsplit_once('.')?;
        (!dev.is_empty() && dev != "all" && dev != "default").then_some(dev)
    })
}

/// The file of a sysctl under `/proc/sys`: dots separate components, except within
/// the device name of a per-device key (which `/proc/sys` keeps as is).
pub fn proc_path(key: &str, dev: Option<&str>) -> std::path::PathBuf {
    let mut path = std::path::PathBuf::from("/proc/sys");
    match dev.and_then(|d| {
        Section::ALL.iter().find_map(|s| {
            let rest = key.strip_prefix(s.prefix())?;
            let name = rest.strip_prefix(d)?.strip_prefix('.')?;
            Some((s.prefix(), d, name))
        })
    }) {
        Some((prefix, d, name)) => {
            for part in prefix.trim_end_matches('.').split('.') {
                path.push(part);
            }
            path.push(d);
            path.push(name);
        }
        None => {
            for part in key.split('.') {
                path.push(part);
            }
        }
    }
    path
}

/// A sysctl value as compared: runs of whitespace are one space (the kernel prints
/// vectors with tabs), and integers without leading zeros or sign.
pub fn normalize(value: &str) -> String {
    let joined = value.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_in<'a>(key: &'a str, devs: &[&'a str]) -> Setting<'a> {
        classify(key, |d| devs.contains(&d))
    }

    #[test]
    fn keys_are_classified_once() {
        let devs = ["lo", "eth0", "eth0.100"];
        match classify_in("net.ipv4.conf.eth0.promote_secondaries", &devs) {
            Setting::Device { dev, setting } => {
                assert_eq!(dev, "eth0");
                assert_eq!(setting.devconf_index(), Some(20));
                assert!(setting.is_netlink());
                assert_eq!(
                    setting.key("eth0"),
                    "net.ipv4.conf.eth0.promote_secondaries"
                );
            }
            s => panic!("{s:?}"),
        }
        match classify_in("net.ipv4.conf.eth0.100.rp_filter", &devs) {
            Setting::Device { dev, setting } => {
                assert_eq!(dev, "eth0.100");
                assert_eq!(setting.devconf_index(), Some(8));
            }
            s => panic!("{s:?}"),
        }
        match classify_in("net.ipv6.conf.eth0.accept_ra", &devs) {
            Setting::Device { setting, .. } => {
                assert!(!setting.is_netlink());
                assert_eq!(setting.default_key(), "net.ipv6.conf.default.accept_ra");
            }
            s => panic!("{s:?}"),
        }
        for ns_wide in [
            "net.ipv4.ip_forward",
            "net.ipv4.conf.all.rp_filter",
            "net.ipv6.conf.default.accept_ra",
            "net.core.somaxconn",
        ] {
            assert_eq!(classify_in(ns_wide, &devs), Setting::Namespace(ns_wide));
        }
        assert_eq!(device_of("net.ipv4.conf.eth9.rp_filter"), Some("eth9"));
        assert_eq!(device_of("net.ipv4.conf.all.rp_filter"), None);
        assert_eq!(device_of("net.ipv4.ip_forward"), None);
    }

    #[test]
    fn proc_paths_keep_dotted_device_names() {
        assert_eq!(
            proc_path("net.ipv4.conf.eth0.100.rp_filter", Some("eth0.100")),
            std::path::Path::new("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            proc_path("net.ipv4.ip_forward", None),
            std::path::Path::new("/proc/sys/net/ipv4/ip_forward")
        );
    }

    #[test]
    fn values_are_compared_normalized() {
        assert_eq!(normalize("4096\t87380   6291456\n"), "4096 87380 6291456");
        assert_eq!(normalize("01"), "1");
        assert_eq!(normalize(" 1 "), "1");
        assert_eq!(normalize("cubic"), "cubic");
    }
}
