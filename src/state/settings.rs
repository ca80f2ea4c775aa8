//! Settings, classified once when a lab is validated: a sysctl key names either a
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
        match Setting::of_key(&text) {
            Setting::Device { dev, setting } if dev == "*" => Ok(setting),
            _ => Err(serde::de::Error::custom(format!(
                "not a device setting: `{text}`"
            ))),
        }
    }
}

/// What a sysctl key names: a setting of the whole namespace or of one device. A lab's
/// keys are classified once, when it is validated (which makes sure each device is an
/// interface of its node), and go as this to the lowered state, the record of what the
/// lab sets and the kernel's writer. Compared, ordered and serialized as its key.
#[derive(Clone, Debug)]
pub enum Setting {
    /// A setting of the whole namespace, by its key.
    Namespace(String),
    /// A setting of device `dev`.
    Device { dev: String, setting: DevSetting },
}

impl Setting {
    /// Classifies a sysctl key. A key names a device when it is under one of the
    /// per-device sections and its device part is neither `all` nor `default` (those
    /// are namespace-wide), whether or not the device exists. Device names may hold
    /// dots (`net.ipv4.conf.eth0.100.rp_filter`): the setting's name is the last
    /// component.
    pub fn of_key(key: &str) -> Setting {
        for section in Section::ALL {
            let Some((dev, name)) = key
                .strip_prefix(section.prefix())
                .and_then(|rest| rest.rsplit_once('.'))
            else {
                continue;
            };
            if dev.is_empty() || dev == "all" || dev == "default" {
                continue;
            }
            return Setting::Device {
                dev: dev.to_string(),
                setting: DevSetting {
                    section,
                    name: name.to_string(),
                },
            };
        }
        Setting::Namespace(key.to_string())
    }

    /// The dotted sysctl key, in pieces.
    fn key_parts(&self) -> [&str; 4] {
        match self {
            Setting::Namespace(key) => [key, "", "", ""],
            Setting::Device { dev, setting } => [setting.section.prefix(), dev, ".", &setting.name],
        }
    }

    /// The dotted sysctl key.
    pub fn key(&self) -> String {
        self.key_parts().concat()
    }

    /// The file of the setting under `/proc/sys`: dots separate components, except
    /// within a device's name (which `/proc/sys` keeps as is).
    pub fn proc_path(&self) -> std::path::PathBuf {
        let mut path = std::path::PathBuf::from("/proc/sys");
        match self {
            Setting::Namespace(key) => path.extend(key.split('.')),
            Setting::Device { dev, setting } => {
                path.extend(setting.section.prefix().trim_end_matches('.').split('.'));
                path.push(dev);
                path.push(&setting.name);
            }
        }
        path
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.key_parts()
            .iter()
            .try_for_each(|part| f.write_str(part))
    }
}

impl Ord for Setting {
    /// In the order of the keys.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.key_parts(), other.key_parts());
        a.iter()
            .flat_map(|p| p.bytes())
            .cmp(b.iter().flat_map(|p| p.bytes()))
    }
}

impl PartialOrd for Setting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Setting {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Setting {}

impl std::hash::Hash for Setting {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in self.key_parts() {
            state.write(part.as_bytes());
        }
        state.write_u8(0xff);
    }
}

impl Serialize for Setting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read back from its key (the record of what a lab sets holds keys).
impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Setting::of_key(&String::deserialize(d)?))
    }
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

    #[test]
    fn keys_are_classified_once() {
        match Setting::of_key("net.ipv4.conf.eth0.promote_secondaries") {
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
        match Setting::of_key("net.ipv4.conf.eth0.100.rp_filter") {
            Setting::Device { dev, setting } => {
                assert_eq!(dev, "eth0.100");
                assert_eq!(setting.devconf_index(), Some(8));
            }
            s => panic!("{s:?}"),
        }
        match Setting::of_key("net.ipv6.conf.eth0.accept_ra") {
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
            assert_eq!(
                Setting::of_key(ns_wide),
                Setting::Namespace(ns_wide.to_string())
            );
        }
        for key in [
            "net.ipv4.ip_forward",
            "net.ipv4.conf.eth0.100.rp_filter",
            "net.ipv6.neigh.eth0.base_reachable_time_ms",
        ] {
            let setting = Setting::of_key(key);
            assert_eq!(
                (setting.key(), setting.to_string()),
                (key.into(), key.into())
            );
            let json = serde_json::to_string(&setting).unwrap();
            assert_eq!(json, format!("{key:?}"));
            assert_eq!(serde_json::from_str::<Setting>(&json).unwrap(), setting);
        }
    }

    #[test]
    fn settings_are_ordered_and_compared_as_their_keys() {
        let keys = [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.eth0.rp_filter",
            "net.ipv4.conf.eth0.100.rp_filter",
            "net.ipv4.conf.eth0.rp_filterx",
            "net.ipv4.ip_forward",
            "net.ipv6.conf.all.forwarding",
        ];
        let mut sorted: Vec<Setting> = keys.iter().rev().map(|k| Setting::of_key(k)).collect();
        sorted.sort();
        let back: Vec<String> = sorted.iter().map(Setting::key).collect();
        let mut want: Vec<&str> = keys.to_vec();
        want.sort();
        assert_eq!(back, want);
        // Built by hand as namespace-wide, a device's key is still the same setting.
        let by_hand = Setting::Namespace("net.ipv4.conf.eth0.rp_filter".into());
        assert_eq!(by_hand, Setting::of_key("net.ipv4.conf.eth0.rp_filter"));
    }

    #[test]
    fn proc_paths_keep_dotted_device_names() {
        assert_eq!(
            Setting::of_key("net.ipv4.conf.eth0.100.rp_filter").proc_path(),
            std::path::Path::new("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(
            Setting::of_key("net.ipv4.ip_forward").proc_path(),
            std::path::Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            Setting::of_key("net.ipv6.neigh.eth0.base_reachable_time_ms").proc_path(),
            std::path::Path::new("/proc/sys/net/ipv6/neigh/eth0/base_reachable_time_ms")
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
