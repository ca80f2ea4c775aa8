//! The attributes of the link kinds that have their own, one file per kind (as in
//! `kernel::kinds` for their netlink form and `validate` for their checks).

mod macvlan;
mod vxlan;

pub use macvlan::{Macvlan, MacvlanMode};
pub use vxlan::{OVERHEAD_V4, OVERHEAD_V6, VXLAN_PORT, Vxlan};
