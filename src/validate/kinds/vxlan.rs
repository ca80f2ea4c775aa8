//! A `kind: vxlan` interface's block: its endpoints as the kernel takes them (one family,
//! a unicast `remote` or a multicast `group` joined on `dev`, link-local endpoints only
//! together and on `dev`), and one vxlan per VNI, port and family in a namespace.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use miette::SourceSpan;

use super::lower_link;
use crate::state::kinds::{VXLAN_PORT, Vxlan};
use crate::topology::{Spanned, VxlanSpec};
use crate::validate::members::{Member, Node};
use crate::validate::values::{family_name, parse_ip_as};
use crate::validate::{Code, Cx};

/// The vxlan of member `me` of `node`, if its block is valid.
pub(super) fn resolve(
    cx: &mut Cx,
    node: &Node,
    me: &Member,
    block: &Spanned<VxlanSpec>,
) -> Option<Vxlan> {
    let spec = &block.value;
    let mut ok = true;
    if spec.id.value > VNI_MAX {
        let span = cx.span(&spec.id);
        cx.report(
            Code::BadVxlanId,
            format!(
                "the VNI {} of {} is out of range",
                spec.id.value,
                me.describe()
            ),
        )
        .with_label(span, "must be 0 to 16777215")
        .with_help("a VXLAN network identifier has 24 bits");
        ok = false;
    }
    if let Some(port) = spec.port.as_ref().filter(|p| p.value == 0) {
        let span = cx.span(port);
        cx.report(
            Code::BadVxlanPort,
            format!("the vxlan port of {} is 0", me.describe()),
        )
        .with_label(span, "must be 1 to 65535")
        .with_help("leave `port` out for the IANA port 4789");
        ok = false;
    }
    let mut endpoint = |cx: &mut Cx, s: &Option<Spanned<String>>, field: &str| match s {
        None => None,
        Some(s) => {
            let what = format!("the vxlan `{field}`");
            let whose = format!(" of {}", me.describe());
            let ip = parse_ip_as(cx, s, Code::InvalidIp, &what, &whose);
            ok &= ip.is_some();
            ip.map(|ip| (ip, cx.span(s)))
        }
    };
    let local = endpoint(cx, &spec.local, "local");
    let remote = endpoint(cx, &spec.remote, "remote");
    let group = endpoint(cx, &spec.group, "group");
    let dev = match &spec.dev {
        Some(d) => {
            let found = lower_link(cx, node, me, d, "dev");
            ok &= found.is_some();
            found.map(|_| (d.value.clone(), cx.span(d)))
        }
        None => None,
    };
    ok &= addresses_fit(cx, me, local, remote, group, dev.is_some());
    if !ok {
        return None;
    }
    Some(Vxlan {
        id: spec.id.value,
        local: local.map(|(ip, _)| ip),
        remote: remote.map(|(ip, _)| ip),
        group: group.map(|(ip, _)| ip),
        port: spec.port.as_ref().map_or(VXLAN_PORT, |p| p.value),
        dev: dev.map(|(d, _)| d),
        underlay: false,
        flood: Default::default(),
    })
}

/// The largest VNI (24 bits).
const VNI_MAX: u32 = (1 << 24) - 1;

type Endpoint = Option<(IpAddr, SourceSpan)>;

/// The kernel's rules for a vxlan's addresses; `false` when one is broken (reported).
fn addresses_fit(
    cx: &mut Cx,
    me: &Member,
    local: Endpoint,
    remote: Endpoint,
    group: Endpoint,
    has_dev: bool,
) -> bool {
    let who = me.describe();
    let mut ok = true;
    for (field, ep) in [("local", local), ("remote", remote), ("group", group)] {
        let Some((ip, span)) = ep else { continue };
        if ip.is_unspecified() {
            cx.report(
                Code::BadVxlanAddress,
                format!("the vxlan `{field}` of {who} is the unspecified address {ip}"),
            )
            .with_label(span, "no address")
            .with_help(format!("leave `{field}` out instead"));
            ok = false;
        }
    }
    if let Some((ip, span)) = local
        && ip.is_multicast()
    {
        cx.report(
            Code::BadVxlanAddress,
            format!("the vxlan `local` of {who} is the multicast address {ip}"),
        )
        .with_label(span, "a source address cannot be multicast")
        .with_help("`local` is an address of this router; a multicast address is a `group`");
        ok = false;
    }
    if let Some((ip, span)) = remote
        && ip.is_multicast()
    {
        cx.report(
            Code::BadVxlanAddress,
            format!("the vxlan `remote` of {who} is the multicast address {ip}"),
        )
        .with_label(span, "multicast")
        .with_help(format!(
            "a multicast destination is a group: write `group: {ip}` (with `dev`)"
        ));
        ok = false;
    }
    if let Some((ip, span)) = group
        && !ip.is_multicast()
    {
        cx.report(
            Code::BadVxlanAddress,
            format!("the vxlan `group` of {who} is {ip}, which is not a multicast address"),
        )
        .with_label(span, "not multicast")
        .with_help(format!("a unicast peer is a remote: write `remote: {ip}`"));
        ok = false;
    }
    if let (Some((_, rs)), Some((_, gs))) = (remote, group) {
        cx.report(
            Code::VxlanRemoteAndGroup,
            format!("the vxlan of {who} has both a `remote` and a `group`"),
        )
        .with_label(rs, "unicast peer")
        .with_label(gs, "multicast group")
        .with_help("the kernel keeps one default destination: keep either `remote` or `group`");
        ok = false;
    }
    let written: Vec<(&str, IpAddr, SourceSpan)> =
        [("local", local), ("remote", remote), ("group", group)]
            .into_iter()
            .filter_map(|(f, ep)| ep.map(|(ip, span)| (f, ip, span)))
            .collect();
    if let Some(&(f0, ip0, s0)) = written.first()
        && let Some(&(f1, ip1, s1)) = written
            .iter()
            .find(|(_, ip, _)| ip.is_ipv4() != ip0.is_ipv4())
    {
        cx.report(
            Code::FamilyMismatch,
            format!("the vxlan of {who} mixes IPv4 and IPv6 endpoints"),
        )
        .with_label(s0, format!("`{f0}` is {}", family_name(ip0)))
        .with_label(s1, format!("`{f1}` is {}", family_name(ip1)))
        .with_help("a tunnel runs over one family: write its endpoints in the same one");
        return false;
    }
    if let Some((_, span)) = group
        && !has_dev
    {
        cx.report(
            Code::VxlanGroupNeedsDev,
            format!("the vxlan of {who} joins a multicast group but has no `dev`"),
        )
        .with_label(span, "joined on which interface?")
        .with_help("add `dev:` naming the interface of this router to join the group on");
        ok = false;
    }
    ok & link_local_fit(cx, &who, local, remote.or(group), has_dev)
}

/// Link-local endpoints: the kernel takes a link-local `local` only with a link-local
/// (or no) destination, a link-local `remote` only from a link-local `local`, and
/// both only on `dev`.
fn link_local_fit(
    cx: &mut Cx,
    who: &str,
    local: Endpoint,
    destination: Endpoint,
    has_dev: bool,
) -> bool {
    let ll = |ep: Endpoint| ep.is_some_and(|(ip, _)| is_link_local(ip));
    let (local_ll, dest_ll) = (ll(local), ll(destination));
    let dest_unicast_ll =
        destination.is_some_and(|(ip, _)| is_link_local(ip) && !ip.is_multicast());
    let problem = if local_ll && destination.is_some() && !dest_ll {
        Some((
            local,
            "a link-local `local` reaches only a link-local destination",
        ))
    } else if !local_ll && dest_unicast_ll {
        Some((
            destination,
            "a link-local `remote` needs a link-local `local`",
        ))
    } else if local_ll && !has_dev {
        Some((
            local,
            "link-local endpoints need `dev`, the link they are on",
        ))
    } else {
        None
    };
    let Some((Some((ip, span)), why)) = problem else {
        return true;
    };
    cx.report(
        Code::VxlanLinkLocal,
        format!("the vxlan of {who} mixes address scopes the kernel refuses"),
    )
    .with_label(
        span,
        format!(
            "{ip} is {}link-local",
            if is_link_local(ip) { "" } else { "not " }
        ),
    )
    .with_help(why);
    false
}

/// An IPv6 address of link scope (unicast `fe80::/10`, multicast `ff02::/16`).
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => is_unicast_link_local(v6) || (v6.segments()[0] & 0xff0f) == 0xff02,
    }
}

fn is_unicast_link_local(ip: Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

/// One vxlan per VNI, port and family in a namespace (the kernel: "A VXLAN device with
/// the specified VNI already exists"), link-local ones apart per device.
pub(super) fn check_vnis(cx: &mut Cx, node: &Node, vxlans: &[(usize, Vxlan, SourceSpan)]) {
    // (VNI, port, IPv6, device of a link-local one) to the first vxlan with them.
    type Identity<'a> = (u32, u16, bool, Option<&'a str>);
    let mut seen: HashMap<Identity, (usize, SourceSpan)> = HashMap::new();
    for (i, v, id_span) in vxlans {
        let ll = v.local.is_some_and(is_link_local);
        let dev = if ll { v.dev.as_deref() } else { None };
        match seen.get(&(v.id, v.port, v.v6(), dev)) {
            Some(&(first, first_span)) => {
                let family = if v.v6() { "IPv6" } else { "IPv4" };
                cx.report(
                    Code::DuplicateVni,
                    format!(
                        "`{}` and `{}` of `{}` are both vxlans of VNI {} on {family} port {}",
                        node.members[first].ifname,
                        node.members[*i].ifname,
                        node.name(),
                        v.id,
                        v.port
                    ),
                )
                .with_label(first_span, format!("VNI {}", v.id))
                .with_label(*id_span, "the same VNI")
                .with_help(
                    "the kernel takes one vxlan per VNI, port and family in a namespace; \
                     give one another `id` or `port`",
                );
            }
            None => {
                seen.insert((v.id, v.port, v.v6(), dev), (*i, *id_span));
            }
        }
    }
}
