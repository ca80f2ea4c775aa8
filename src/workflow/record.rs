//! The settings a lab manages, remembered between runs so that one removed from the
//! file is undone: a sysctl the lab no longer sets goes back to its value in a fresh
//! namespace. Links, addresses, routes and rules need no such memory (everything in the
//! lab's namespaces is the lab's, so what the file no longer declares is removed), and
//! every link attribute has an explicit default in the desired state; only a sysctl
//! has no way to be told apart from the kernel's own value.
//!
//! The record is a small JSON file beside the lab's lock
//! (`<lock dir>/<lab>.settings.json`), written under the lab's exclusive lock: before an
//! apply, the union of what it held and what the apply sets (so a killed apply forgets
//! nothing); after a successful one, exactly what the lab sets. A missing or unreadable
//! record only means removed settings are not undone.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::state::NetState;
use crate::state::settings::{self, Setting};

/// The sysctls a lab sets, per namespace (written as their keys, devices' spelled out
/// in full).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub version: u32,
    pub settings: BTreeMap<String, BTreeSet<Setting>>,
    /// The namespaces that have a firewall: read (with the kernel's tools) even when
    /// the file no longer gives one, so that a removed firewall is removed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub firewalls: BTreeSet<String>,
}

impl Managed {
    /// The keys `desired` sets.
    pub fn of(desired: &NetState) -> Self {
        let mut m = Managed {
            version: 1,
            ..Managed::default()
        };
        for (name, ns) in &desired.namespaces {
            let mut keys: BTreeSet<Setting> = ns
                .sysctls
                .keys()
                .map(|k| Setting::Namespace(k.clone()))
                .collect();
            for (dev, link) in &ns.links {
                keys.extend(link.settings.keys().map(|s| Setting::Device {
                    dev: dev.clone(),
                    setting: s.clone(),
                }));
            }
            if !keys.is_empty() {
                m.settings.insert(name.clone(), keys);
            }
            if !ns.firewall.is_empty() {
                m.firewalls.insert(name.clone());
            }
        }
        m
    }

    /// Adds every key of the record to what `spec` reads, in every namespace and on
    /// every link that has it: so that the live state a plan starts from holds the
    /// settings of the namespaces and links it removes, and undoing the plan (a
    /// rollback) makes them again with their settings.
    pub fn observe_too(&self, spec: &mut crate::kernel::ObserveSpec) {
        spec.firewalls.extend(self.firewalls.iter().cloned());
        for (ns, keys) in &self.settings {
            for key in keys {
                match key {
                    Setting::Namespace(k) => {
                        spec.sysctls
                            .entry(ns.clone())
                            .or_default()
                            .insert(k.clone());
                    }
                    Setting::Device { dev, setting } => {
                        spec.settings
                            .entry(ns.clone())
                            .or_default()
                            .get_or_insert_with(dev.clone(), Default::default)
                            .insert(setting.clone());
                    }
                }
            }
        }
    }

    /// Both sets of keys.
    pub fn union(mut self, other: &Managed) -> Self {
        self.version = 1;
        self.firewalls.extend(other.firewalls.iter().cloned());
        for (ns, keys) in &other.settings {
            self.settings
                .entry(ns.clone())
                .or_default()
                .extend(keys.iter().cloned());
        }
        self
    }
}

fn path(lab: &str) -> PathBuf {
    crate::lock::lock_dir().join(format!("{lab}.settings.json"))
}

/// The record of `lab` (empty when there is none).
pub fn read(lab: &str) -> Managed {
    crate::safe_file::open_read(&path(lab))
        .ok()
        .and_then(|file| serde_json::from_reader(std::io::BufReader::new(file)).ok())
        .unwrap_or_default()
}

/// Replaces the record of `lab` (atomically: a new file, mode 0600, renamed over the
/// old one; no symlink followed, see `safe_file`).
pub fn write(lab: &str, m: &Managed) -> io::Result<()> {
    crate::safe_file::write_atomically(
        &path(lab),
        &serde_json::to_vec_pretty(m).expect("the record serializes"),
        0o600,
    )
}

/// Where the record of `lab` is.
pub fn path_of(lab: &str) -> PathBuf {
    path(lab)
}

/// Forgets `lab`'s record (after a destroy).
pub fn remove(lab: &str) {
    let _ = std::fs::remove_file(path(lab));
}

/// `desired` plus, for every setting `managed` holds that `desired` no longer sets (in
/// a namespace and on a link it still has), the value a fresh namespace has, from
/// `fresh` (keyed by the namespace-wide key, or a device setting's `default` key).
pub fn revert_removed(
    desired: NetState,
    managed: &Managed,
    fresh: &BTreeMap<String, String>,
) -> NetState {
    let mut out = desired;
    for (name, keys) in &managed.settings {
        let Some(ns) = out.namespaces.get_mut(name) else {
            continue;
        };
        for key in keys {
            match key {
                Setting::Namespace(k) => {
                    if !ns.sysctls.contains_key(k)
                        && let Some(v) = fresh.get(k)
                    {
                        ns.sysctls.insert(k.clone(), settings::normalize(v));
                    }
                }
                // Only on a link the namespace still has.
                Setting::Device { dev, setting } => {
                    let value = fresh
                        .get(&setting.default_key())
                        .map(|v| settings::normalize(v));
                    if let (Some(link), Some(v)) = (ns.links.get_mut(dev), value) {
                        link.settings.get_or_insert_with(setting.clone(), || v);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testkit::*;

    #[test]
    fn removed_settings_go_back_to_fresh_values() {
        let before = small_lab("lab")
            .sysctl("web1", "net.ipv4.icmp_echo_ignore_all", "1")
            .link_setting(
                "web1",
                "eth0",
                crate::state::DevSetting {
                    section: crate::state::settings::Section::Ipv4Conf,
                    name: "rp_filter".into(),
                },
                "2",
            )
            .build();
        let managed = Managed::of(&before);
        assert!(
            managed.settings["web1"].contains(&Setting::of_key("net.ipv4.conf.eth0.rp_filter"))
        );
        // The record keeps its settings as keys, in order, and reads them back the same.
        let json = serde_json::to_value(&managed).unwrap();
        let web1: Vec<&str> = json["settings"]["web1"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert!(web1.contains(&"net.ipv4.conf.eth0.rp_filter"), "{web1:?}");
        assert!(web1.contains(&"net.ipv4.icmp_echo_ignore_all"), "{web1:?}");
        assert!(web1.is_sorted(), "{web1:?}");
        assert_eq!(serde_json::from_value::<Managed>(json).unwrap(), managed);
        let now = small_lab("lab").build();
        let fresh = BTreeMap::from([
            ("net.ipv4.icmp_echo_ignore_all".to_string(), "0".to_string()),
            (
                "net.ipv4.conf.default.rp_filter".to_string(),
                "0".to_string(),
            ),
            ("net.ipv4.ip_forward".to_string(), "0".to_string()),
        ]);
        let reverted = revert_removed(now.clone(), &managed, &fresh);
        let web1 = &reverted.namespaces["web1"];
        assert_eq!(web1.sysctls["net.ipv4.icmp_echo_ignore_all"], "0");
        assert_eq!(
            web1.links["eth0"].settings.values().collect::<Vec<_>>(),
            ["0"]
        );
        // What the lab still sets is left as it is.
        assert_eq!(
            reverted.namespaces["hq-gw"].sysctls["net.ipv4.ip_forward"],
            "1"
        );
        // A union keeps both.
        let both = Managed::of(&now).union(&managed);
        let ignore_all = Setting::Namespace("net.ipv4.icmp_echo_ignore_all".into());
        assert!(both.settings["web1"].contains(&ignore_all));
    }

    #[test]
    fn recorded_settings_are_observed_where_no_longer_desired() {
        let before = small_lab("lab")
            .sysctl("web1", "net.ipv4.icmp_echo_ignore_all", "1")
            .link_setting(
                "web1",
                "eth0",
                crate::state::DevSetting {
                    section: crate::state::settings::Section::Ipv4Conf,
                    name: "promote_secondaries".into(),
                },
                "1",
            )
            .build();
        let managed = Managed::of(&before);
        // web1 is gone from what the lab wants; its settings are read all the same.
        let mut spec = crate::kernel::ObserveSpec::default();
        managed.observe_too(&mut spec);
        assert!(spec.sysctls["web1"].contains("net.ipv4.icmp_echo_ignore_all"));
        let eth0 = &spec.settings["web1"]["eth0"];
        assert_eq!(
            eth0.iter().map(|s| s.key("eth0")).collect::<Vec<_>>(),
            ["net.ipv4.conf.eth0.promote_secondaries"]
        );
    }
}
