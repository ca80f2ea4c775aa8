//! The link kinds: [`KernelKind`], the one table of every kind nshost makes with the
//! kernel's name for it (decoding, the lab file's `kind:`, validation's kind blocks and
//! the probe for kinds the kernel lacks all go through it), and the attributes of the
//! kinds that have their own, one file per kind (as in `kernel::kinds` for their netlink
//! form and `validate` for their checks).

#![warn(clippy::wildcard_enum_match_arm)]

mod macvlan;
mod vxlan;

pub use macvlan::{Macvlan, MacvlanMode};
pub use vxlan::{OVERHEAD_V4, OVERHEAD_V6, VXLAN_PORT, Vxlan};

/// Declares [`KernelKind`] from one list of `Variant => "kernel name"`: the enum, its
/// [`KernelKind::ALL`] in that order and its [`KernelKind::kernel_name`].
macro_rules! kernel_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal),* $(,)?) => {
        /// A link kind nshost makes, without its attributes, as the kernel names it
        /// (`IFLA_INFO_KIND`). Adding a kind starts here: the compiler then lists every
        /// place that asks something of a kind.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum KernelKind {
            $($(#[$doc])* $variant),*
        }

        impl KernelKind {
            /// Every kind, in the order of the table.
            pub const ALL: &[KernelKind] = &[$(KernelKind::$variant),*];

            /// The kernel's name for the kind (`IFLA_INFO_KIND`), which is also the
            /// lab file's.
            pub const fn kernel_name(self) -> &'static str {
                match self {
                    $(KernelKind::$variant => $name),*
                }
            }
        }
    };
}

kernel_kinds! {
    Loopback => "loopback",
    Bridge => "bridge",
    Veth => "veth",
    Dummy => "dummy",
    Ifb => "ifb",
    Vxlan => "vxlan",
    Macvlan => "macvlan",
}

impl KernelKind {
    /// The kind the kernel calls `name`, if nshost makes it.
    pub fn from_kernel_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.kernel_name() == name)
    }

    /// Whether the kernel may lack the kind (a module not built or not loadable), so
    /// that a lab's links of this kind are probed for before anything is touched. The
    /// loopback, bridges and veths are what every lab stands on.
    pub fn probed(self) -> bool {
        match self {
            KernelKind::Loopback | KernelKind::Bridge | KernelKind::Veth => false,
            KernelKind::Dummy | KernelKind::Ifb | KernelKind::Vxlan | KernelKind::Macvlan => true,
        }
    }

    /// Whether a link of the kind sits on another link of its namespace (a lower
    /// device it needs, which takes it along when deleted).
    pub fn stacked(self) -> bool {
        match self {
            KernelKind::Vxlan | KernelKind::Macvlan => true,
            KernelKind::Loopback
            | KernelKind::Bridge
            | KernelKind::Veth
            | KernelKind::Dummy
            | KernelKind::Ifb => false,
        }
    }

    /// The name of the kind's block in the lab file (`vxlan: {...}`): the kinds with
    /// attributes of their own have one, named as the kind.
    pub fn block(self) -> Option<&'static str> {
        match self {
            KernelKind::Vxlan | KernelKind::Macvlan => Some(self.kernel_name()),
            KernelKind::Loopback
            | KernelKind::Bridge
            | KernelKind::Veth
            | KernelKind::Dummy
            | KernelKind::Ifb => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_round_trip() {
        for &k in KernelKind::ALL {
            assert_eq!(KernelKind::from_kernel_name(k.kernel_name()), Some(k));
        }
        assert_eq!(KernelKind::from_kernel_name("wireguard"), None);
        assert_eq!(KernelKind::ALL.len(), 7);
    }
}
