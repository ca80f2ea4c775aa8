//! Root qdiscs in netlink: the `tbf` and `netem` options that netlink-packet-route does
//! not type, encoded and decoded here from their kernel structures (`tc_tbf_qopt`,
//! `tc_netem_qopt` and their attributes), the requests that set and delete a link's
//! root qdisc, and the dump that reads them back.

use netlink_packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};

use crate::netlink::attrs::{attrs, nla_str, nla_u32};
use crate::state::qdisc::NS_PER_TICK;
use crate::state::{Netem, Qdisc, Tbf};

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_RATE: u16 = 6;
const TCA_NETEM_RATE64: u16 = 8;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
/// `TC_LINKLAYER_ETHERNET`: with it, the kernel needs no rate table.
const LINKLAYER_ETHERNET: u8 = 1;
const RTM_NEWQDISC: u16 = 36;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// `struct tcmsg`.
const TCMSG_LEN: usize = 20;
const NLMSG_HDR: usize = 16;
/// `struct tc_netem_qopt`.
const NETEM_QOPT_LEN: usize = 24;

/// One attribute, padded to 4 bytes.
fn nla(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// A `struct tc_ratespec` of `rate` bytes per second (saturated: the 64-bit rate then
/// goes in an attribute of its own).
fn ratespec(rate: u64) -> [u8; 12] {
    let mut r = [0u8; 12];
    r[1] = LINKLAYER_ETHERNET;
    r[8..12].copy_from_slice(&(rate.min(u64::from(u32::MAX)) as u32).to_ne_bytes());
    r
}

/// The value of `TCA_OPTIONS` for `q`.
pub fn options(q: &Qdisc) -> Vec<u8> {
    let mut out = Vec::new();
    match q {
        Qdisc::Tbf(t) => {
            // struct tc_tbf_qopt: rate, peakrate, limit, buffer, mtu. The buffer is given
            // in ticks and no TCA_TBF_BURST, so the kernel keeps exactly these ticks.
            let mut parms = Vec::with_capacity(36);
            parms.extend_from_slice(&ratespec(t.rate));
            parms.extend_from_slice(&[0u8; 12]);
            parms.extend_from_slice(&t.limit.to_ne_bytes());
            parms.extend_from_slice(&t.buffer.to_ne_bytes());
            parms.extend_from_slice(&0u32.to_ne_bytes());
            nla(&mut out, TCA_TBF_PARMS, &parms);
            if t.rate > u64::from(u32::MAX) {
                nla(&mut out, TCA_TBF_RATE64, &t.rate.to_ne_bytes());
            }
        }
        Qdisc::Netem(n) => {
            // struct tc_netem_qopt, then attributes (not nested: netem's own layout).
            let ticks = |ns: u64| (ns / NS_PER_TICK).min(u64::from(u32::MAX)) as u32;
            let gap: u32 = u32::from(n.reorder != 0);
            for v in [
                ticks(n.delay),
                n.limit,
                n.loss,
                gap,
                n.duplicate,
                ticks(n.jitter),
            ] {
                out.extend_from_slice(&v.to_ne_bytes());
            }
            nla(
                &mut out,
                TCA_NETEM_LATENCY64,
                &(n.delay as i64).to_ne_bytes(),
            );
            nla(
                &mut out,
                TCA_NETEM_JITTER64,
                &(n.jitter as i64).to_ne_bytes(),
            );
            let pair = |p: u32| [p.to_ne_bytes(), 0u32.to_ne_bytes()].concat();
            nla(&mut out, TCA_NETEM_REORDER, &pair(n.reorder));
            nla(&mut out, TCA_NETEM_CORRUPT, &pair(n.corrupt));
            if n.rate != 0 {
                let mut rate = [0u8; 16];
                rate[..4].copy_from_slice(&(n.rate.min(u64::from(u32::MAX)) as u32).to_ne_bytes());
                nla(&mut out, TCA_NETEM_RATE, &rate);
                if n.rate > u64::from(u32::MAX) {
                    nla(&mut out, TCA_NETEM_RATE64, &n.rate.to_ne_bytes());
                }
            }
        }
    }
    out
}

/// The request that makes `q` the root qdisc of link `ifindex` (in place when a qdisc
/// of its kind is there, replacing any other), or deletes the root qdisc (`None`).
pub fn request(ifindex: u32, q: Option<&Qdisc>) -> (RouteNetlinkMessage, u16) {
    let mut msg = TcMessage::default();
    msg.header.index = ifindex as i32;
    msg.header.parent = TcHandle::ROOT;
    match q {
        Some(q) => {
            msg.attributes.push(TcAttribute::Kind(q.kind().to_string()));
            msg.attributes
                .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options(q))));
            (
                RouteNetlinkMessage::NewQueueDiscipline(msg),
                NLM_F_CREATE | NLM_F_REPLACE,
            )
        }
        None => (RouteNetlinkMessage::DelQueueDiscipline(msg), 0),
    }
}

/// The request of a qdisc dump.
pub fn dump_request() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default())
}

/// A reply of a qdisc dump: the link's index and its qdisc, when it is a root `tbf` or
/// `netem`.
pub fn decode(raw: &[u8]) -> Option<(u32, Qdisc)> {
    if raw.len() < NLMSG_HDR + TCMSG_LEN || u16::from_ne_bytes([raw[4], raw[5]]) != RTM_NEWQDISC {
        return None;
    }
    let tcm = &raw[NLMSG_HDR..NLMSG_HDR + TCMSG_LEN];
    let index = u32::from_ne_bytes(tcm[4..8].try_into().ok()?);
    let parent = u32::from_ne_bytes(tcm[12..16].try_into().ok()?);
    if parent != TC_H_ROOT {
        return None;
    }
    let mut kind = None;
    let mut opts: &[u8] = &[];
    for (t, v) in attrs(&raw[NLMSG_HDR + TCMSG_LEN..]) {
        match t {
            TCA_KIND => kind = Some(nla_str(v)),
            TCA_OPTIONS => opts = v,
            _ => {}
        }
    }
    let q = match kind.as_deref()? {
        "tbf" => Qdisc::Tbf(decode_tbf(opts)?),
        "netem" => Qdisc::Netem(decode_netem(opts)?),
        _ => return None,
    };
    Some((index, q))
}

fn u32_at(v: &[u8], at: usize) -> Option<u32> {
    nla_u32(v.get(at..at + 4)?)
}

fn u64_of(v: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(v.get(..8)?.try_into().ok()?))
}

fn decode_tbf(opts: &[u8]) -> Option<Tbf> {
    let mut t = None;
    let mut rate64 = None;
    for (kind, v) in attrs(opts) {
        match kind {
            TCA_TBF_PARMS => {
                t = Some(Tbf {
                    rate: u64::from(u32_at(v, 8)?),
                    limit: u32_at(v, 24)?,
                    buffer: u32_at(v, 28)?,
                })
            }
            TCA_TBF_RATE64 => rate64 = u64_of(v),
            _ => {}
        }
    }
    let mut t = t?;
    if let Some(r) = rate64 {
        t.rate = t.rate.max(r);
    }
    Some(t)
}

fn decode_netem(opts: &[u8]) -> Option<Netem> {
    let q = opts.get(..NETEM_QOPT_LEN)?;
    let mut n = Netem {
        delay: u64::from(u32_at(q, 0)?) * NS_PER_TICK,
        limit: u32_at(q, 4)?,
        loss: u32_at(q, 8)?,
        duplicate: u32_at(q, 16)?,
        jitter: u64::from(u32_at(q, 20)?) * NS_PER_TICK,
        ..Netem::default()
    };
    for (kind, v) in attrs(opts.get(NETEM_QOPT_LEN..)?) {
        match kind {
            TCA_NETEM_LATENCY64 => n.delay = u64_of(v)?,
            TCA_NETEM_JITTER64 => n.jitter = u64_of(v)?,
            TCA_NETEM_REORDER => n.reorder = u32_at(v, 0)?,
            TCA_NETEM_CORRUPT => n.corrupt = u32_at(v, 0)?,
            TCA_NETEM_RATE => n.rate = n.rate.max(u64::from(u32_at(v, 0)?)),
            TCA_NETEM_RATE64 => n.rate = n.rate.max(u64_of(v)?),
            _ => {}
        }
    }
    Some(n)
}

/// A qdisc of `kind` to probe the kernel with.
pub fn sample(kind: &str) -> Option<Qdisc> {
    Some(match kind {
        "tbf" => Qdisc::Tbf(Tbf::new(125_000, 10_000, 20_000)?),
        "netem" => Qdisc::Netem(Netem {
            delay: 1_000_000,
            limit: crate::state::qdisc::NETEM_LIMIT,
            ..Netem::default()
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::qdisc::probability;

    /// A dump reply as the kernel writes one: headers, then `TCA_KIND` and
    /// `TCA_OPTIONS` (the kernel sends what nshost sent, for these kinds).
    fn reply(index: u32, parent: u32, q: &Qdisc) -> Vec<u8> {
        let mut body = vec![0u8; TCMSG_LEN];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        body[12..16].copy_from_slice(&parent.to_ne_bytes());
        nla(&mut body, TCA_KIND, format!("{}\0", q.kind()).as_bytes());
        nla(&mut body, TCA_OPTIONS, &options(q));
        let mut raw = vec![0u8; NLMSG_HDR];
        raw[0..4].copy_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        raw[4..6].copy_from_slice(&RTM_NEWQDISC.to_ne_bytes());
        raw.extend(body);
        raw
    }

    #[test]
    fn tbf_and_netem_decode_to_what_was_sent() {
        let tbf = Qdisc::Tbf(Tbf::new(2_000_000, 8_000, 108_000).unwrap());
        let fast = Qdisc::Tbf(Tbf::new(5_000_000_000, 10_000_000, 20_000_000).unwrap());
        let netem = Qdisc::Netem(Netem {
            delay: 10_000_000,
            jitter: 2_000_000,
            loss: probability(1.0),
            duplicate: probability(0.5),
            reorder: probability(25.0),
            corrupt: probability(0.1),
            rate: 1_250_000,
            limit: 1000,
        });
        for q in [tbf, fast, netem] {
            assert_eq!(decode(&reply(7, TC_H_ROOT, &q)), Some((7, q.clone())));
            // Only root qdiscs are a link's.
            assert_eq!(decode(&reply(7, 0x0001_0000, &q)), None);
        }
    }

    /// The bytes of `msg` as sent.
    fn sent(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
        let mut batch = crate::kernel::RouteBatch::new();
        batch.push(msg, flags);
        let mut out = Vec::new();
        crate::netlink::for_each_message(batch.bytes(), |_, _, _, raw| out.push(raw.to_vec()));
        out.pop().unwrap()
    }

    #[test]
    fn a_change_sets_the_root_qdisc_in_place_or_deletes_it() {
        let q = Qdisc::Tbf(Tbf::new(2_000_000, 8_000, 108_000).unwrap());
        let (msg, flags) = request(5, Some(&q));
        assert_eq!(flags, NLM_F_CREATE | NLM_F_REPLACE);
        // The request has the layout of a dump's reply: it reads back as itself.
        assert_eq!(decode(&sent(msg, flags)), Some((5, q)));
        let (msg, flags) = request(5, None);
        assert!(matches!(&msg, RouteNetlinkMessage::DelQueueDiscipline(m)
            if m.header.index == 5 && m.header.parent == TcHandle::ROOT && m.attributes.is_empty()));
        assert_eq!(flags, 0);
    }

    /// A lab without impairments dumps no qdiscs: only a link whose root qdisc is one
    /// `impair` makes asks for the dump.
    #[test]
    fn only_a_tbf_or_netem_root_asks_for_a_qdisc_dump() {
        use netlink_packet_route::link::{LinkAttribute, LinkMessage};
        for (kind, wanted) in [
            ("noqueue", false),
            ("fq_codel", false),
            ("tbf", true),
            ("netem", true),
        ] {
            let mut m = LinkMessage::default();
            m.header.index = 3;
            m.attributes.push(LinkAttribute::IfName("eth0".into()));
            m.attributes.push(LinkAttribute::Qdisc(kind.into()));
            let raw = sent(RouteNetlinkMessage::NewLink(m), 0);
            let l = crate::kernel::decode::decode_link(&raw, &|_| false).unwrap();
            assert_eq!(l.lab_qdisc, wanted, "{kind}");
        }
    }

    #[test]
    fn tbf_parms_are_laid_out_as_the_kernel_reads_them() {
        let q = Qdisc::Tbf(Tbf {
            rate: 2_000_000,
            buffer: 256_000,
            limit: 100_000,
        });
        let o = options(&q);
        // One attribute: 4 bytes of header and the 36 bytes of tc_tbf_qopt.
        assert_eq!(u16::from_ne_bytes([o[0], o[1]]), 40);
        assert_eq!(u16::from_ne_bytes([o[2], o[3]]), TCA_TBF_PARMS);
        let p = &o[4..];
        assert_eq!(p[1], LINKLAYER_ETHERNET);
        assert_eq!(u32_at(p, 8), Some(2_000_000));
        assert_eq!(u32_at(p, 24), Some(100_000));
        assert_eq!(u32_at(p, 28), Some(256_000));
        assert_eq!(o.len(), 40);
    }
}
