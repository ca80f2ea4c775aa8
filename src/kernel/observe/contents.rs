//! A namespace's contents besides its links: addresses, routes (their alternatives
//! numbered), rules, and the sysctls and `/proc/sys` settings the spec asks for.

use std::collections::HashMap;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;

use super::ObserveSpec;
use crate::kernel::decode::{
    AddressPrefixes, address_prefix, decode_address, decode_route, decode_rule,
};
use crate::kernel::netns;
use crate::kernel::{KernelError, RouteSocket};
use crate::state::Namespace;
use crate::state::settings::{DevSetting, Setting};

/// Dumps what is in namespace `name` besides its links, from inside: addresses, routes,
/// rules, and the settings the spec asks for.
pub(super) fn dump_contents(
    spec: &ObserveSpec,
    name: &str,
    sock: &mut RouteSocket,
    by_index: &HashMap<u32, String>,
    ns: &mut Namespace,
) -> Result<(), KernelError> {
    let err = |what: &'static str| super::dump_error(name, what);
    let mut prefixes = AddressPrefixes::new();
    sock.dump(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        |bytes| {
            if let Some(p) = address_prefix(bytes, by_index) {
                prefixes.insert(p);
            }
            if let Some((key, addr)) = decode_address(bytes, by_index) {
                ns.addresses.insert(key, addr);
            }
        },
    )
    .map_err(err("addresses"))?;

    let mut alt: HashMap<(u32, ipnet::IpNet, u32), u32> = HashMap::new();
    sock.dump(
        RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        |bytes| {
            if let Some((mut key, route)) = decode_route(bytes, by_index, &prefixes) {
                let n = alt.entry(key.group()).or_insert(0);
                key.alt = *n;
                *n += 1;
                ns.routes.insert(key, Box::new(route));
            }
        },
    )
    .map_err(err("routes"))?;

    sock.dump(
        RouteNetlinkMessage::GetRule(RuleMessage::default()),
        |bytes| {
            if let Some(rule) = decode_rule(bytes) {
                ns.rules.insert(rule);
            }
        },
    )
    .map_err(err("rules"))?;

    proc_settings(spec, name, |ifname| ns.links.contains_key(ifname)).set(ns);
    Ok(())
}

/// Settings read under `/proc/sys`, to be set on their namespace.
#[derive(Debug, Default)]
pub(super) struct ProcSettings {
    sysctls: Vec<(String, String)>,
    devices: Vec<(String, DevSetting, String)>,
}

impl ProcSettings {
    /// Sets the values read on `ns` (a device setting on the link it is of).
    pub(super) fn set(self, ns: &mut Namespace) {
        for (key, value) in self.sysctls {
            ns.sysctls.insert(key, value);
        }
        for (ifname, setting, value) in self.devices {
            if let Some(link) = ns.links.get_mut(&ifname) {
                link.settings.insert(setting, value);
            }
        }
    }
}

/// The settings under `/proc/sys` that `spec` asks of namespace `name`, read from
/// inside (the calling thread is in it): its sysctls, and the settings netlink does
/// not carry of the links `has_link` says it has.
pub(super) fn proc_settings(
    spec: &ObserveSpec,
    name: &str,
    has_link: impl Fn(&str) -> bool,
) -> ProcSettings {
    let mut read = ProcSettings::default();
    for key in spec.sysctls.get(name).into_iter().flatten() {
        if let Ok(v) = netns::read_sysctl(&Setting::Namespace(key.clone())) {
            read.sysctls.push((key.clone(), v));
        }
    }
    for (ifname, settings) in spec.settings.get(name).into_iter().flatten() {
        if !has_link(ifname) {
            continue;
        }
        for s in settings.iter().filter(|s| !s.is_netlink()) {
            let setting = Setting::Device {
                dev: ifname.clone(),
                setting: s.clone(),
            };
            if let Ok(v) = netns::read_sysctl(&setting) {
                read.devices.push((ifname.clone(), s.clone(), v));
            }
        }
    }
    read
}
