//! nshost: network labs of Linux namespaces, described in YAML, reconciled over netlink.
//!
//! The pipeline: [`topology`] parses a lab file, [`validate`] checks it into a
//! [`lab::Lab`], [`lower`] turns that into the desired [`state::NetState`],
//! [`kernel::observe`] reads the live one, [`plan::diff`] and [`plan::order`] compute the
//! change set and its schedule, and [`kernel::apply`] runs that schedule in batched
//! netlink ([`netlink`]); [`workflow`] ties them together, with the kernel's own checks,
//! verification and rollback.
//!
//! Loading a lab needs no kernel; planning and applying it do (see [`workflow`]):
//!
//! ```
//! use nshost::topology::SourceFile;
//! use nshost::workflow;
//!
//! let text = "\
//! name: demo
//! routers:
//!   r1:
//!     interfaces:
//!       eth0: {addresses: [10.0.0.1/24]}
//! hosts:
//!   h1: {address: 10.0.0.2/24}
//! ";
//! let loaded = workflow::load_source(SourceFile::from_text("demo.yaml", text)).unwrap();
//! // The router, the host, and the hidden fabric namespace holding the network's bridge.
//! let names: Vec<&str> = loaded.desired.namespaces.keys().map(String::as_str).collect();
//! assert_eq!(names, ["demo-fabric", "h1", "r1"]);
//! // The host's gateway was inferred from the router's address on its network.
//! let h1 = &loaded.desired.namespaces["h1"];
//! let default = h1.routes.values().next().unwrap();
//! assert_eq!(default.gateway, Some("10.0.0.1".parse().unwrap()));
//! ```

pub mod check;
pub mod firewall;
pub mod graph;
pub mod import;
pub mod kernel;
pub mod lab;
pub mod lock;
pub mod lower;
pub mod names;
pub mod naming;
pub mod netlink;
pub mod output;
pub mod plan;
pub mod problem;
pub mod process;
pub mod report;
pub mod safe_file;
pub mod sandbox;
pub mod services;
pub mod source;
pub mod sites;
pub mod state;
pub mod status;
pub mod tools;
pub mod topology;
pub mod trace;
pub mod validate;
pub mod workflow;
pub mod workload;
