//! The stable codes of validation's problems, one enum with its strings in one place.
//!
//! A code names the kind of problem, not one message: scripts and tests match on it, so a
//! code's string never changes once released. `Problem.code` stays a `&'static str`,
//! because the parser and the kernel checks report problems with codes of their own.

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A validation problem's code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as reported: `nshost::<name>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("nshost::", $name),)*
                }
            }
        }
    };
}

codes! {
    // Names
    BadLabName => "bad_lab_name",
    BadPrefix => "bad_prefix",
    BadNamespaceName => "bad_namespace_name",
    BadNodeName => "bad_node_name",
    NodeIsFabric => "node_is_fabric",
    DuplicateNode => "duplicate_node",
    BadInterfaceName => "bad_interface_name",
    ReservedInterfaceName => "reserved_interface_name",
    FabricNameCollision => "fabric_name_collision",
    // Tables
    BadTableName => "bad_table_name",
    BadTableNumber => "bad_table_number",
    DuplicateTableNumber => "duplicate_table_number",
    UnknownTable => "unknown_table",
    // Values
    BadMtu => "bad_mtu",
    HostBitsSet => "host_bits_set",
    InvalidPrefix => "invalid_prefix",
    InvalidAddress => "invalid_address",
    InvalidGateway => "invalid_gateway",
    FamilyMismatch => "family_mismatch",
    // Networks and interfaces
    BadNetworkName => "bad_network_name",
    NetworkMtuNotKept => "network_mtu_not_kept",
    OverlappingSubnets => "overlapping_subnets",
    EdgeAddress => "edge_address",
    LonelyHost => "lonely_host",
    NetworkTooBig => "network_too_big",
    KindBlockMissing => "kind_block_missing",
    KindBlockMismatch => "kind_block_mismatch",
    NetworkOnStandalone => "network_on_standalone",
    NoNetwork => "no_network",
    UnknownNetwork => "unknown_network",
    AmbiguousNetwork => "ambiguous_network",
    InferredNetworkNameTaken => "inferred_network_name_taken",
    AddressOutsideNetwork => "address_outside_network",
    DuplicateAddress => "duplicate_address",
    Ipv6MtuTooSmall => "ipv6_mtu_too_small",
    Ipv6Disabled => "ipv6_disabled",
    UnknownInterface => "unknown_interface",
    // Stacked kinds
    BadVxlanId => "bad_vxlan_id",
    BadVxlanPort => "bad_vxlan_port",
    InvalidIp => "invalid_ip",
    BadVxlanAddress => "bad_vxlan_address",
    VxlanRemoteAndGroup => "vxlan_remote_and_group",
    VxlanGroupNeedsDev => "vxlan_group_needs_dev",
    VxlanLinkLocal => "vxlan_link_local",
    DuplicateVni => "duplicate_vni",
    StackedOnItself => "stacked_on_itself",
    StackedOnStacked => "stacked_on_stacked",
    MacvlanOnLoopback => "macvlan_on_loopback",
    MacvlanPassthruShared => "macvlan_passthru_shared",
    MtuAboveLower => "mtu_above_lower",
    BadMac => "bad_mac",
    /// A wrong `impair` value, or fields that do not go together.
    BadImpair => "bad_impair",
    /// An `impair` needs a qdisc this kernel lacks (`sch_netem`), found at plan time.
    QdiscMissing => "qdisc_missing",
    // Routes and gateways
    RouteWithoutNexthop => "route_without_nexthop",
    GatewayUnreachable => "gateway_unreachable",
    GatewayNotOnDev => "gateway_not_on_dev",
    GatewayIsLocal => "gateway_is_local",
    LinkLocalGatewayNeedsDev => "link_local_gateway_needs_dev",
    LoopbackEgress => "loopback_egress",
    RouteDevDown => "route_dev_down",
    NoIpv6OnDev => "no_ipv6_on_dev",
    Ipv6Multipath => "ipv6_multipath",
    UnknownRouteProto => "unknown_route_proto",
    KernelRouteProto => "kernel_route_proto",
    DuplicateRoute => "duplicate_route",
    SrcNotLocal => "src_not_local",
    BadOnlink => "bad_onlink",
    BadScope => "bad_scope",
    RouteTypeWithNexthop => "route_type_with_nexthop",
    BadNexthops => "bad_nexthops",
    BadWeight => "bad_weight",
    GatewayNotConnected => "gateway_not_connected",
    NoGateway => "no_gateway",
    /// A host with no address and no interfaces, or with both forms.
    HostInterfaces => "host_interfaces",
    // Rules
    BadRulePriority => "bad_rule_priority",
    UnknownIpproto => "unknown_ipproto",
    BadPortRange => "bad_port_range",
    BadTos => "bad_tos",
    PortsNeverMatch => "ports_never_match",
    IpprotoFamily => "ipproto_family",
    FwmarkMatchesAll => "fwmark_matches_all",
    DuplicateRule => "duplicate_rule",
    RuleTable => "rule_table",
    BadGoto => "bad_goto",
    GotoNoRule => "goto_no_rule",
    BadUidRange => "bad_uid_range",
    BadSuppressPrefixlength => "bad_suppress_prefixlength",
    // sysctls
    BadSysctlKey => "bad_sysctl_key",
    EmptySysctlValue => "empty_sysctl_value",
    SysctlUnknownDevice => "sysctl_unknown_device",
    // Services
    BadServicePort => "bad_service_port",
    DuplicateService => "duplicate_service",
    ServiceAddressNotOwned => "service_address_not_owned",
    // Firewalls
    BadFirewall => "bad_firewall",
    UnknownIpset => "unknown_ipset",
    FirewallReadsFile => "firewall_reads_file",
    // Checks
    CheckTcpAndUdp => "check_tcp_and_udp",
    CheckExpectForPort => "check_expect_for_port",
    UnknownCheckNode => "unknown_check_node",
    UnknownCheckTarget => "unknown_check_target",
    CheckOutsideLab => "check_outside_lab",
    CheckNoAddress => "check_no_address",
    // Sites
    UnknownSite => "unknown_site",
    MixedUnderlay => "mixed_underlay",
    StretchedMtu => "stretched_mtu",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_names() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            let name = s.strip_prefix("nshost::").expect("prefixed");
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
        }
    }
}
