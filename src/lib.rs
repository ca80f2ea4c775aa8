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

// The modules by layer, bottom up. A module uses only the modules listed before it:
// `tests/layers.rs` reads this list and fails on an import that runs back up.

// Foundations: output, names, files, processes, the lab file's text and its problems.
pub mod output;
pub mod names;
pub mod naming;
pub mod trace;
pub mod tools;
pub mod safe_file;
pub mod process;
pub mod lock;
pub mod sandbox;
pub mod source;
pub mod problem;

// Data: netlink's message layer, firewall rule texts, the one state type, the parsed file.
pub mod netlink;
pub mod firewall;
pub mod state;
pub mod topology;

// The lab model: what a valid lab file means.
pub mod lab;

// Pure stages: file to model, model to state, state to plan; import of other tools' facts.
pub mod lower;
pub mod validate;
pub mod plan;
pub mod import;

// The kernel: observe into the state type, apply a plan's schedule.
pub mod kernel;

// Features that run beside the kernel's objects: services, node workloads, checks, sites.
pub mod services;
pub mod workload;
pub mod check;
pub mod sites;

// The workflow: load, plan, apply, verify, roll back, destroy.
pub mod workflow;

// Views of a lab: status, graphs, JSON reports.
pub mod status;
pub mod graph;
pub mod report;

// Driving nshost from another program: the session protocol's server, and its Rust
// client, a lab for tests and programs.
pub mod session;
pub mod api;
pub mod testing;

pub use api::Lab;
