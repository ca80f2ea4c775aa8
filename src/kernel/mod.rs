//! Everything that touches the kernel: namespaces, netlink sockets, observing the live
//! state and applying a plan.
