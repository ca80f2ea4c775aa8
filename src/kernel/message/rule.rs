//! Policy routing rule requests.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{
    RuleAction as NlRuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange, RuleUidRange,
};
use netlink_packet_route::{AddressFamily, IpProtocol, RouteNetlinkMessage};

use super::Request;
use crate::state::Rule;

/// Adds `rule`.
pub(super) fn add(rule: &Rule) -> Vec<Request> {
    vec![Request::plain(
        RouteNetlinkMessage::NewRule(rule_msg(rule)),
        NLM_F_CREATE | NLM_F_EXCL,
    )]
}

/// Deletes `rule`.
pub(super) fn delete(rule: &Rule) -> Vec<Request> {
    vec![Request::plain(
        RouteNetlinkMessage::DelRule(rule_msg(rule)),
        0,
    )]
}

fn rule_msg(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = if rule.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.header.action = NlRuleAction::from(rule.action.number());
    if rule.not {
        msg.header.flags = RuleFlags::Invert;
    }
    msg.header.table = if rule.table < 256 {
        rule.table as u8
    } else {
        0
    };
    msg.header.tos = rule.tos.unwrap_or(0);
    msg.attributes.push(RuleAttribute::Priority(rule.priority));
    if rule.table != 0 {
        msg.attributes.push(RuleAttribute::Table(rule.table));
    }
    if let Some(g) = rule.goto {
        msg.attributes.push(RuleAttribute::Goto(g));
    }
    if let Some(u) = rule.uidrange {
        msg.attributes.push(RuleAttribute::UidRange(RuleUidRange {
            start: u.start,
            end: u.end,
        }));
    }
    if let Some(n) = rule.suppress_prefixlength {
        msg.attributes.push(RuleAttribute::SuppressPrefixLen(n));
    }
    if let Some(from) = rule.from {
        msg.header.src_len = from.prefix_len();
        msg.attributes.push(RuleAttribute::Source(from.network()));
    }
    if let Some(to) = rule.to {
        msg.header.dst_len = to.prefix_len();
        msg.attributes
            .push(RuleAttribute::Destination(to.network()));
    }
    if let Some(iif) = &rule.iif {
        msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &rule.oif {
        msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some(m) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(m.mark));
        msg.attributes.push(RuleAttribute::FwMask(m.mask));
    }
    if let Some(p) = rule.ipproto {
        msg.attributes
            .push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
    }
    // A rule put back by a rollback keeps who added it.
    if rule.proto != 0 {
        msg.attributes
            .push(RuleAttribute::Protocol(RouteProtocol::from(rule.proto)));
    }
    if let Some(r) = rule.sport {
        msg.attributes
            .push(RuleAttribute::SourcePortRange(RulePortRange {
                start: r.start,
                end: r.end,
            }));
    }
    if let Some(r) = rule.dport {
        msg.attributes
            .push(RuleAttribute::DestinationPortRange(RulePortRange {
                start: r.start,
                end: r.end,
            }));
    }
    msg
}
