//! Which of a router's routes the lab keeps: not those the kernel makes itself, nor
//! those a lab file cannot say, and of the others those a model of the router's FIB
//! accepts, tried in the order the lab adds them.

use super::super::facts::{RouteFact, RouteType, RouterFacts};
use super::super::fib::{Fib, Refusal};
use super::super::report::Category;
use super::Left;
use crate::state::RT_TABLE_MAIN;

/// The router's routes the kernel accepts, in an order it accepts them in (routes
/// without a gateway first, then those with one, again while that accepts more), and
/// how many the kernel makes itself; the others go to `left`.
pub(super) fn routes(rf: &RouterFacts, left: &mut Left) -> (Vec<RouteFact>, usize) {
    let (pending, made) = expressible(rf, left);
    let (accepted, refused) = accepted(rf, pending);
    for (r, why) in refused {
        let (category, reason) = refusal(why);
        left.add(category, "route", &rf.name, &r.at, &r.text, reason);
    }
    (accepted, made)
}

/// The routes a lab file can say, and how many the kernel makes itself; those and the
/// routes of types a lab has not go to `left`.
fn expressible<'f>(rf: &'f RouterFacts, left: &mut Left) -> (Vec<&'f RouteFact>, usize) {
    let mut made = 0;
    let mut pending: Vec<&RouteFact> = Vec::new();
    for route in &rf.routes {
        if route.table == 255 || kernel_made(rf, route) {
            let what = if route.table == 255 {
                "local route"
            } else {
                "connected route"
            };
            left.add(
                Category::KernelMade,
                what,
                &rf.name,
                &route.at,
                &route.text,
                "the kernel makes it from the address".into(),
            );
            made += 1;
        } else if let RouteType::Other(kind) = &route.kind {
            left.add(
                Category::NotExpressible,
                "route",
                &rf.name,
                &route.at,
                &route.text,
                format!("a `{kind}` route is the kernel's own, or nothing a lab file says"),
            );
        } else {
            pending.push(route);
        }
    }
    (pending, made)
}

/// The routes the router's FIB accepts, in the order it does (those without a gateway
/// first, then those with one, again while that accepts more), and those it refuses
/// with why, in file order.
fn accepted<'f>(
    rf: &RouterFacts,
    pending: Vec<&'f RouteFact>,
) -> (Vec<RouteFact>, Vec<(&'f RouteFact, Refusal)>) {
    let mut fib = Fib::new(&rf.interfaces);
    let gateway = |r: &RouteFact| r.via.is_some() || r.nexthops.iter().any(|h| h.via.is_some());
    let mut accepted = Vec::new();
    let mut refused: Vec<(&RouteFact, Refusal)> = Vec::new();
    let (direct, mut via): (Vec<&RouteFact>, Vec<&RouteFact>) =
        pending.into_iter().partition(|r| !gateway(r));
    for r in direct {
        match fib.add(r) {
            Ok(()) => accepted.push(r.clone()),
            Err(e) => refused.push((r, e)),
        }
    }
    loop {
        let before = accepted.len();
        let mut still = Vec::new();
        for r in via {
            match fib.add(r) {
                Ok(()) => accepted.push(r.clone()),
                Err(e) => still.push((r, e)),
            }
        }
        let progress = accepted.len() > before;
        via = still.iter().map(|(r, _)| *r).collect();
        if !progress {
            refused.extend(still);
            break;
        }
    }
    refused.sort_by(|a, b| a.0.at.cmp(&b.0.at));
    (accepted, refused)
}

/// The category and reason of a route the FIB refuses.
fn refusal(why: Refusal) -> (Category, String) {
    match why {
        Refusal::NoDevice(d) => (
            Category::MissingDevice,
            format!("the router has no device {d}"),
        ),
        Refusal::Gateway { detail, .. } => (
            Category::UnreachableGateway,
            format!("the kernel cannot reach the gateway: {detail}"),
        ),
        Refusal::Source(s) => (
            Category::ForeignSource,
            format!("src {s} is no address of the router"),
        ),
        Refusal::DeviceDown(d) => (Category::KernelRefuses, format!("device {d} is down")),
        Refusal::NoNexthop => (
            Category::KernelRefuses,
            "a unicast route with neither gateway nor device".into(),
        ),
        Refusal::Duplicate => (
            Category::KernelRefuses,
            "the same route is already in the table (File exists)".into(),
        ),
    }
}

/// Whether the kernel made `route` itself from an address: main, proto kernel, no
/// gateway, the address's own prefix on the address's (up) link.
fn kernel_made(rf: &RouterFacts, route: &RouteFact) -> bool {
    route.table == RT_TABLE_MAIN
        && route.kind == RouteType::Unicast
        && route.proto.as_deref() == Some("kernel")
        && route.via.is_none()
        && route.nexthops.is_empty()
        && route.metric.unwrap_or(0) == 0
        && rf.interfaces.iter().any(|i| {
            i.up && Some(i.name.as_str()) == route.dev.as_deref()
                && i.addresses.iter().any(|a| {
                    a.net.trunc() == route.dst && route.src.is_none_or(|s| s == a.net.addr())
                })
        })
}
