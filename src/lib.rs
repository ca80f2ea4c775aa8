//! nshost: network labs of Linux namespaces, described in YAML, reconciled over netlink.
//!
//! The pipeline: [`topology`] parses a lab file, [`validate`] checks it into a
//! [`lab::Lab`], [`lower`] turns that into the desired [`state::NetState`],
//! [`kernel::observe`] reads the live one, [`plan::diff`] and [`plan::order`] compute the
//! change set, and [`kernel::apply`] carries it out in batched netlink.

pub mod devconf;
pub mod kernel;
pub mod lab;
pub mod lock;
pub mod lower;
pub mod naming;
pub mod plan;
pub mod state;
pub mod topology;
pub mod trace;
pub mod validate;
pub mod workflow;
