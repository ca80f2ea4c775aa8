//! The stable codes of every problem and error nshost reports, one enum with their
//! strings and their meanings in one place.
//!
//! A code names the kind of problem, not one message: scripts and tests match on it, so a
//! code's string never changes once released. Each variant's one-line doc is its meaning,
//! as [`Code::explain`] gives it (the book's page of codes is made from it). The library's
//! error enums name their codes in miette's `diagnostic(code(...))` attributes, which
//! take no expression: a test checks that each of those is a code here.

use std::str::FromStr;

macro_rules! codes {
    ($(#[doc = $doc:literal] $variant:ident => $name:literal,)*) => {
        /// The code of a problem in a lab file or of an error of a command.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// What every code's string starts with.
            pub const PREFIX: &'static str = "nshost::";

            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as reported: `nshost::<name>`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("nshost::", $name),)*
                }
            }

            /// The code's name, without the `nshost::` prefix.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// What the code means, in one line (the variant's doc).
            pub fn explain(self) -> &'static str {
                match self {
                    $(Code::$variant => $doc,)*
                }
                .trim()
            }
        }
    };
}

codes! {
    // Reading the lab file: its text and YAML
    /// The lab file is empty or holds only comments: a lab needs at least a `name`.
    EmptyFile => "empty_file",
    /// The lab file holds a NUL byte or a control character that YAML text cannot hold.
    NotText => "not_text",
    /// The YAML parser itself refuses the file (a tag or a limit the schema check leaves to it).
    Yaml => "yaml",
    /// The file is not well-formed YAML.
    YamlSyntax => "yaml_syntax",
    /// The file holds more than one YAML document; a lab file holds one.
    MultipleDocuments => "multiple_documents",
    /// An alias (`*name`) refers to no anchor (`&name`) before it.
    UnknownAnchor => "unknown_anchor",
    /// The aliases expand to more nodes than a lab file may hold.
    AliasLimit => "alias_limit",
    /// An alias is inside the node it refers to.
    RecursiveAlias => "recursive_alias",
    /// A merge key (`<<`) is given something other than a mapping or a list of mappings.
    BadMerge => "bad_merge",
    /// The file nests more levels deep than a lab file may.
    TooDeep => "too_deep",
    /// A mapping has the same key twice.
    DuplicateKey => "duplicate_key",
    // The lab file's schema
    /// A value is not one of the words the field takes.
    UnknownValue => "unknown_value",
    /// A number is outside the range the field takes.
    OutOfRange => "out_of_range",
    /// A mapping has a field the schema does not know.
    UnknownField => "unknown_field",
    /// A required field is missing.
    MissingField => "missing_field",
    /// A mapping key is not a string the schema can take.
    BadKey => "bad_key",
    /// A value has the wrong type, e.g. a list where a string belongs.
    WrongType => "wrong_type",
    // Topologies: groups, ranges, links and pools
    /// A node names a group that is not under `groups`.
    UnknownGroup => "unknown_group",
    /// A node range (such as `r[1-4]`) is malformed or empty.
    BadRange => "bad_range",
    /// A `links` entry is malformed: its ends, its network, its subnet or its pool.
    BadLink => "bad_link",
    /// A link or network names a pool that is not under `pools`.
    UnknownPool => "unknown_pool",
    /// A pool has no subnet left to give, or none of the size asked for.
    NoSubnet => "no_subnet",
    /// The subnet a pool would give overlaps a subnet already in use.
    SubnetTaken => "subnet_taken",
    /// A pool is malformed: its prefix or its subnets' size.
    BadPool => "bad_pool",
    /// An interface gets no address from its network's subnet.
    NoAddress => "no_address",
    /// The address an interface would get is another interface's.
    AddressTaken => "address_taken",
    // Names
    /// The lab's name is empty, too long or holds characters a namespace name cannot.
    BadLabName => "bad_lab_name",
    /// The lab's namespace prefix holds a character it cannot.
    BadPrefix => "bad_prefix",
    /// A namespace name (a node's or the fabric's) is not one Linux can use.
    BadNamespaceName => "bad_namespace_name",
    /// A router or host name is empty or not usable.
    BadNodeName => "bad_node_name",
    /// A node would take the namespace of the lab's fabric.
    NodeIsFabric => "node_is_fabric",
    /// Two routers or hosts have the same name.
    DuplicateNode => "duplicate_node",
    /// An interface name is empty, longer than 15 bytes or holds a character Linux refuses.
    BadInterfaceName => "bad_interface_name",
    /// An interface is named `lo`, which every namespace already has.
    ReservedInterfaceName => "reserved_interface_name",
    /// Two things would get the same interface name in the fabric namespace.
    FabricNameCollision => "fabric_name_collision",
    // Tables
    /// A routing table has an empty or unusable name.
    BadTableName => "bad_table_name",
    /// A routing table has a number the kernel reserves.
    BadTableNumber => "bad_table_number",
    /// Two routing tables have the same number.
    DuplicateTableNumber => "duplicate_table_number",
    /// A route or rule names a table not declared under `tables`.
    UnknownTable => "unknown_table",
    // Values
    /// An MTU is outside 68 to 65535.
    BadMtu => "bad_mtu",
    /// A subnet or prefix has bits set after its prefix length.
    HostBitsSet => "host_bits_set",
    /// A value is not an IP prefix.
    InvalidPrefix => "invalid_prefix",
    /// A value is not an IP address with a prefix length.
    InvalidAddress => "invalid_address",
    /// A gateway is not an IP address.
    InvalidGateway => "invalid_gateway",
    /// Addresses of IPv4 and IPv6 are mixed where one family is needed.
    FamilyMismatch => "family_mismatch",
    // Networks and interfaces
    /// A network has an empty or unusable name.
    BadNetworkName => "bad_network_name",
    /// An interface's MTU differs from its network's, which the network cannot keep.
    NetworkMtuNotKept => "network_mtu_not_kept",
    /// Two networks have overlapping subnets.
    OverlappingSubnets => "overlapping_subnets",
    /// An interface has the network or broadcast address of its subnet.
    EdgeAddress => "edge_address",
    /// A host is alone on its network: no router and no other node is on it (a warning).
    LonelyHost => "lonely_host",
    /// A network has more interfaces than its bridges can hold.
    NetworkTooBig => "network_too_big",
    /// An interface of a kind that needs its block (such as `vxlan:`) lacks it.
    KindBlockMissing => "kind_block_missing",
    /// An interface has a kind's block that its kind does not take.
    KindBlockMismatch => "kind_block_mismatch",
    /// An interface of a kind that cannot join a network is on one.
    NetworkOnStandalone => "network_on_standalone",
    /// An interface is on no network: it has neither `network` nor an address.
    NoNetwork => "no_network",
    /// An interface names a network not declared under `networks`.
    UnknownNetwork => "unknown_network",
    /// An interface's address is in the subnets of several networks.
    AmbiguousNetwork => "ambiguous_network",
    /// A network inferred from an address would have a declared network's name.
    InferredNetworkNameTaken => "inferred_network_name_taken",
    /// An interface's address is outside its network's subnet.
    AddressOutsideNetwork => "address_outside_network",
    /// An address is on two interfaces, or twice on one.
    DuplicateAddress => "duplicate_address",
    /// An interface with an IPv6 address has an MTU below IPv6's 1280.
    Ipv6MtuTooSmall => "ipv6_mtu_too_small",
    /// An interface has an IPv6 address where a sysctl turns IPv6 off.
    Ipv6Disabled => "ipv6_disabled",
    /// A name refers to an interface the node does not have.
    UnknownInterface => "unknown_interface",
    // Stacked kinds
    /// A VXLAN's VNI is outside 0 to 16777215.
    BadVxlanId => "bad_vxlan_id",
    /// A VXLAN's UDP port is 0.
    BadVxlanPort => "bad_vxlan_port",
    /// A VXLAN endpoint is not an IP address.
    InvalidIp => "invalid_ip",
    /// A VXLAN endpoint is the unspecified address.
    BadVxlanAddress => "bad_vxlan_address",
    /// A VXLAN has both a unicast `remote` and a multicast `group`.
    VxlanRemoteAndGroup => "vxlan_remote_and_group",
    /// A VXLAN joins a multicast group but names no `dev` to join it on.
    VxlanGroupNeedsDev => "vxlan_group_needs_dev",
    /// A VXLAN mixes link-local and global endpoints, which the kernel refuses.
    VxlanLinkLocal => "vxlan_link_local",
    /// Two VXLANs have the same VNI on the same family and port.
    DuplicateVni => "duplicate_vni",
    /// A stacked interface sits on itself.
    StackedOnItself => "stacked_on_itself",
    /// A stacked interface sits on another stacked interface.
    StackedOnStacked => "stacked_on_stacked",
    /// A macvlan sits on the loopback, which is not an Ethernet link.
    MacvlanOnLoopback => "macvlan_on_loopback",
    /// A passthru macvlan shares its lower interface with other macvlans.
    MacvlanPassthruShared => "macvlan_passthru_shared",
    /// A stacked interface's MTU is more than the interface below it carries.
    MtuAboveLower => "mtu_above_lower",
    /// A MAC address is not six hex pairs between colons.
    BadMac => "bad_mac",
    /// A wrong `impair` value, or fields that do not go together.
    BadImpair => "bad_impair",
    /// An `impair` needs a qdisc this kernel lacks (`sch_netem`), found at plan time.
    QdiscMissing => "qdisc_missing",
    // Routes and gateways
    /// A route has neither `via` nor `dev`.
    RouteWithoutNexthop => "route_without_nexthop",
    /// A route's gateway is on none of the node's connected subnets.
    GatewayUnreachable => "gateway_unreachable",
    /// A route's gateway is not on the interface the route names.
    GatewayNotOnDev => "gateway_not_on_dev",
    /// A route's gateway is an address of the node itself.
    GatewayIsLocal => "gateway_is_local",
    /// A route through a link-local gateway names no `dev`.
    LinkLocalGatewayNeedsDev => "link_local_gateway_needs_dev",
    /// An IPv6 route has a gateway out of the loopback.
    LoopbackEgress => "loopback_egress",
    /// A route goes out of an interface declared down.
    RouteDevDown => "route_dev_down",
    /// An IPv6 route goes out of an interface without IPv6.
    NoIpv6OnDev => "no_ipv6_on_dev",
    /// Two IPv6 routes to one prefix in one table have the same metric.
    Ipv6Multipath => "ipv6_multipath",
    /// A route protocol is outside 0 to 255, or a name nshost does not know.
    UnknownRouteProto => "unknown_route_proto",
    /// A route declares `proto kernel`, which only the kernel's own routes have.
    KernelRouteProto => "kernel_route_proto",
    /// A node has the same route twice.
    DuplicateRoute => "duplicate_route",
    /// A route's `src` is not an address of the node.
    SrcNotLocal => "src_not_local",
    /// An `onlink` route lacks the gateway or the interface it needs.
    BadOnlink => "bad_onlink",
    /// A route has a scope its type or next hop does not allow.
    BadScope => "bad_scope",
    /// A route of a type without a next hop (such as `blackhole`) has one.
    RouteTypeWithNexthop => "route_type_with_nexthop",
    /// A route's `nexthops` are malformed or given beside a single next hop.
    BadNexthops => "bad_nexthops",
    /// A next hop's weight is outside 1 to 256.
    BadWeight => "bad_weight",
    /// A gateway is on none of the node's connected subnets.
    GatewayNotConnected => "gateway_not_connected",
    /// No gateway can be inferred for a host: no router on its network.
    NoGateway => "no_gateway",
    /// A host with no address and no interfaces, or with both forms.
    HostInterfaces => "host_interfaces",
    // Rules
    /// A rule's priority is outside 1 to 32765.
    BadRulePriority => "bad_rule_priority",
    /// A rule names an IP protocol nshost does not know.
    UnknownIpproto => "unknown_ipproto",
    /// A rule's port or port range cannot be matched.
    BadPortRange => "bad_port_range",
    /// A rule's `tos` has the ECN bits set.
    BadTos => "bad_tos",
    /// A rule matches ports of an IP protocol that has none.
    PortsNeverMatch => "ports_never_match",
    /// A rule matches the ICMP of the other address family.
    IpprotoFamily => "ipproto_family",
    /// `fwmark: 0` without `fwmask` matches every packet.
    FwmarkMatchesAll => "fwmark_matches_all",
    /// A node has the same rule twice.
    DuplicateRule => "duplicate_rule",
    /// A `lookup` rule without a `table`, or a rule of another action with one.
    RuleTable => "rule_table",
    /// A rule's `goto` is not to a later priority.
    BadGoto => "bad_goto",
    /// A rule goes to a priority that no rule of its family has.
    GotoNoRule => "goto_no_rule",
    /// A rule's `uidrange` is not a uid or a uid range.
    BadUidRange => "bad_uid_range",
    /// A rule's `suppress_prefixlength` is longer than any prefix.
    BadSuppressPrefixlength => "bad_suppress_prefixlength",
    // sysctls
    /// A sysctl key is malformed or not a network sysctl.
    BadSysctlKey => "bad_sysctl_key",
    /// A sysctl has an empty value.
    EmptySysctlValue => "empty_sysctl_value",
    /// A sysctl is a setting of an interface the node does not have.
    SysctlUnknownDevice => "sysctl_unknown_device",
    /// A sysctl does not exist in a network namespace of this kernel, found at plan time.
    UnknownSysctl => "unknown_sysctl",
    /// A sysctl cannot be set inside a network namespace, found at plan time.
    SysctlNotSettable => "sysctl_not_settable",
    /// The kernel refuses a sysctl's value, found at plan time.
    BadSysctlValue => "bad_sysctl_value",
    // Kernel support, found at plan time
    /// This kernel cannot create links of a kind the lab uses (no module for it).
    UnsupportedKind => "unsupported_kind",
    /// A process's program is not found in its node.
    ProgramNotFound => "program_not_found",
    // Services
    /// A service is on port 0.
    BadServicePort => "bad_service_port",
    /// A node serves the same protocol and port twice.
    DuplicateService => "duplicate_service",
    /// A service listens on an address that is not its node's.
    ServiceAddressNotOwned => "service_address_not_owned",
    // Firewalls
    /// A firewall text is malformed, or uses what nshost does not load.
    BadFirewall => "bad_firewall",
    /// A firewall names an ipset the node does not declare.
    UnknownIpset => "unknown_ipset",
    /// A firewall text reads a file, which nshost does not let it.
    FirewallReadsFile => "firewall_reads_file",
    /// The tool that loads a firewall text (iptables, nft, ipset) is not installed.
    FirewallToolMissing => "firewall_tool_missing",
    /// The kernel's firewall tool refuses a firewall text, found at plan time.
    FirewallRejected => "firewall_rejected",
    // Files and processes
    /// A node's file path is relative, outside what a node may write, or malformed.
    FilePath => "file_path",
    /// A node has the same file twice.
    DuplicateFile => "duplicate_file",
    /// A file has both `content` and `source`, or neither.
    FileContent => "file_content",
    /// A file's `source` is empty or cannot be read.
    FileSource => "file_source",
    /// A file, or the lab's files in all, are bigger than nshost takes.
    FileTooBig => "file_too_big",
    /// A file's mode is malformed or sets bits beyond `0777`.
    FileMode => "file_mode",
    /// A process has no command.
    EmptyCommand => "empty_command",
    /// A process's command holds a NUL.
    BadCommand => "bad_command",
    /// A process name cannot name its log file: 1 to 64 letters, digits, `.`, `_`, `-`, not first `.`.
    ProcessName => "process_name",
    // Checks
    /// A check probes both a TCP and a UDP port.
    CheckTcpAndUdp => "check_tcp_and_udp",
    /// A check's `expect` is for a port probe, but the check sends an ICMP echo.
    CheckExpectForPort => "check_expect_for_port",
    /// A check is sent from a node the lab does not have.
    UnknownCheckNode => "unknown_check_node",
    /// A check is sent to a node or address the lab does not have.
    UnknownCheckTarget => "unknown_check_target",
    /// A check's target address is outside every subnet of the lab.
    CheckOutsideLab => "check_outside_lab",
    /// A check's target node has no address (of the family) on an interface that is up.
    CheckNoAddress => "check_no_address",
    // Sites
    /// A lab names a site that it does not declare.
    UnknownSite => "unknown_site",
    /// A stretched network spans sites of both IPv4 and IPv6 underlays.
    MixedUnderlay => "mixed_underlay",
    /// A stretched network's MTU is more than its VXLAN tunnels carry.
    StretchedMtu => "stretched_mtu",
    // Reports: the lines around a lab file's problems
    /// The lab file has problems; they follow, one by one.
    Invalid => "invalid",
    /// The lab file has warnings; they follow, one by one.
    Warnings => "warnings",
    /// More problems follow from one already shown, folded into one line.
    FollowOnProblems => "follow_on_problems",
    /// More problems than a report shows: the line counting the rest.
    MoreProblems => "more_problems",
    // Commands' errors (miette codes of the library's error enums)
    /// A file cannot be read.
    Read => "read",
    /// A file cannot be written.
    Write => "write",
    /// The lab's record of what it created cannot be written.
    Record => "record",
    /// A namespace or an object is another lab's, or someone else's: nshost leaves it.
    Conflict => "conflict",
    /// A namespace holds entries the lab's record does not know.
    StrayEntry => "stray_entry",
    /// The kernel refused or failed a request.
    Kernel => "kernel",
    /// A helper program cannot be started.
    Spawn => "spawn",
    /// The kernel denies an operation: run as root or with the capabilities it needs.
    NotPermitted => "not_permitted",
    /// No lab of that name has anything on this machine.
    NoSuchLab => "no_such_lab",
    /// Applying a lab failed; what was changed is rolled back or kept as the report says.
    ApplyFailed => "apply_failed",
    /// The lab was applied, but reading it back shows it is not what was asked for.
    Verify => "verify",
    /// The lab's lock file or its directory cannot be used.
    Lock => "lock",
    /// Another nshost holds the lab's lock.
    Busy => "busy",
    /// Another `nshost watch` watches the lab.
    Watched => "watched",
    /// A watcher cannot watch its file or the kernel's notifications.
    Watch => "watch",
    /// nshost runs setuid or setgid, which it refuses.
    Setuid => "setuid",
    /// A directory named by an environment variable is not an absolute path.
    BadEnvDir => "bad_env_dir",
    /// Entering a namespace or running a command in it failed.
    Exec => "exec",
    /// A lab spread over sites needs to be told which site this machine is.
    SiteNeeded => "site_needed",
    /// A site is asked for, but the lab declares no sites.
    NoSites => "no_sites",
    /// A saved plan no longer matches the lab or the kernel: plan again.
    StalePlan => "stale_plan",
    /// A file given as a saved plan is not a usable one.
    BadPlan => "bad_plan",
    /// A saved plan was made by another version of nshost.
    PlanVersion => "plan_version",
    /// A saved plan names a lab or namespace with a name nshost would not make.
    PlanBadName => "plan_bad_name",
    /// A saved plan touches namespaces outside its lab.
    PlanOutsideLab => "plan_outside_lab",
    /// A saved plan was given where a lab file belongs.
    NotALabFile => "not_a_lab_file",
    /// The services' daemon of a lab cannot be started or reached.
    Services => "services",
    /// A node's process supervisor cannot be started or reached.
    Workload => "workload",
    /// The warm pool of namespaces could not be filled, drained or read.
    Pool => "pool",
    /// A node has no process of that name.
    NoSuchProcess => "no_such_process",
    /// No lab has a node of that name.
    NoSuchNode => "no_such_node",
    /// Several labs have a node of that name: name the lab.
    AmbiguousNode => "ambiguous_node",
    /// This machine does not let nshost make user namespaces for its sandbox.
    NoUserNamespaces => "no_user_namespaces",
    /// nshost cannot make its sandbox.
    Sandbox => "sandbox",
    /// A session (`nshost session`) got a request it cannot read: not JSON, no or an unknown `op`, a missing or wrong argument; or its client could not be spoken to.
    Protocol => "protocol",
    /// A bug in nshost: please report it.
    Bug => "bug",
    /// The lab is not applied, or only in part, so its checks cannot run.
    NotApplied => "not_applied",
    /// Sending a check from a namespace failed.
    Check => "check",
    /// A check cannot be resolved against the lab.
    BadCheck => "bad_check",
    /// `graph --format svg` needs Graphviz's `dot`, which is not installed.
    GraphvizMissing => "graphviz_missing",
    /// Graphviz's `dot` failed to draw the graph.
    GraphvizFailed => "graphviz_failed",
    // Import
    /// `import` cannot read its input.
    ImportRead => "import::read",
    /// `import` cannot write the lab file.
    ImportWrite => "import::write",
    /// The directory given to `import` holds no `*_facts.txt` file.
    ImportNoFacts => "import::no_facts",
    /// `import` cannot name the lab: name it with `--name`.
    ImportName => "import::name",
    /// An extra file given to `import` cannot be used.
    ImportExtra => "import::extra",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is no code of nshost's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("`{0}` is not a code of nshost's (they are `nshost::<name>`)")]
pub struct UnknownCode(pub String);

impl FromStr for Code {
    type Err = UnknownCode;

    /// The code whose string is `s`, as [`Code::as_str`] gives it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}
