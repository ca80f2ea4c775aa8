//! Hosts added by hand (`--with`) whose gateway the lab would pick among several
//! routers: a host without `gateway:` takes the first router in the lab file with an
//! address on its subnet, so where two routers share the subnet the import warns,
//! naming both and the field that chooses.

use ipnet::IpNet;

use super::model::Lab;
use crate::topology::{SourceFile, parse};

/// One warning per host of `yaml` (the imported lab file, additions included) that has
/// no `gateway:` and whose subnet holds an address of more than one of `lab`'s routers.
/// `additions`: the file the hosts come from, where the choice is made.
pub(super) fn shared(lab: &Lab, yaml: &str, additions: &str) -> Vec<String> {
    // The lab file is valid YAML by construction; a file that does not parse (a bad
    // addition) is reported when the lab is validated, not here.
    let Ok(topology) = parse(&SourceFile::from_text("imported.yaml", yaml)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, host) in &topology.hosts {
        if host.gateway.is_some() {
            continue;
        }
        let Some(addr) = host
            .address
            .as_ref()
            .and_then(|a| a.value.parse::<IpNet>().ok())
        else {
            continue;
        };
        // (router, its address on the host's subnet), in file order, one per router.
        let mut routers: Vec<(&str, IpNet)> = Vec::new();
        for r in &lab.routers {
            let on = r
                .interfaces
                .iter()
                .flat_map(|i| &i.addresses)
                .find(|a| a.trunc() == addr.trunc());
            if let Some(a) = on {
                routers.push((&r.name, *a));
            }
        }
        if let [(first, gw), rest @ ..] = routers.as_slice()
            && !rest.is_empty()
        {
            let all: Vec<String> = routers
                .iter()
                .map(|(r, a)| format!("{r} ({})", a.addr()))
                .collect();
            out.push(format!(
                "host `{}` is on {}, which routers {} share: its gateway is {first}'s {}, the \
                 first of them in the lab file; to choose another, give the host `gateway: {}` \
                 (or another of their addresses) in {additions}, and import again",
                name.value,
                addr.trunc(),
                all.join(" and "),
                gw.addr(),
                rest[0].1.addr(),
            ));
        }
    }
    out
}
