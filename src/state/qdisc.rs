//! A link's root queueing discipline when it is one a lab's `impair` makes: `tbf` (rate,
//! burst, queue limit) or `netem` (delay, jitter, loss, duplication, reordering,
//! corruption, rate). Both are held in the units the kernel stores and dumps
//! (`TCA_TBF_PARMS`, `tc_netem_qopt`), so a qdisc read back compares equal to the one
//! set, and a replan right after an apply is empty.

use serde::{Deserialize, Serialize};

/// Nanoseconds per `psched` tick: the kernel's `PSCHED_SHIFT` is 6.
pub const NS_PER_TICK: u64 = 64;
/// The largest buffer tbf keeps (its nanoseconds are held in a u32), in ticks.
pub const MAX_TBF_BUFFER_TICKS: u64 = (u32::MAX as u64) / NS_PER_TICK;

/// A root qdisc nshost manages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Qdisc {
    Tbf(Tbf),
    Netem(Netem),
}

/// Token bucket filter parameters, as `TCA_TBF_PARMS` carries them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// The bucket, as the time the rate takes to fill it, in ticks of 64 ns.
    pub buffer: u32,
    /// Bytes queued at most.
    pub limit: u32,
}

/// Network emulator parameters, as `tc_netem_qopt` and its attributes carry them.
/// Probabilities are fractions of `u32::MAX`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Netem {
    /// Added delay, nanoseconds.
    pub delay: u64,
    /// Delay variation, nanoseconds.
    pub jitter: u64,
    pub loss: u32,
    pub duplicate: u32,
    pub reorder: u32,
    pub corrupt: u32,
    /// Bytes per second (0: no rate limit).
    pub rate: u64,
    /// Packets queued at most.
    pub limit: u32,
}

/// The queue limit netem gets when none is said (as tc's).
pub const NETEM_LIMIT: u32 = 1000;

impl Qdisc {
    /// The kernel's name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Qdisc::Tbf(_) => "tbf",
            Qdisc::Netem(_) => "netem",
        }
    }

    /// Its parameters as the plan shows them, by name, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Qdisc::Tbf(t) => vec![
                ("rate", rate_text(t.rate)),
                ("burst", size_text(t.burst())),
                ("limit", size_text(u64::from(t.limit))),
            ],
            Qdisc::Netem(n) => {
                let mut out = Vec::new();
                let mut time = |name, ns: u64| {
                    if ns != 0 {
                        out.push((name, time_text(ns)));
                    }
                };
                time("delay", n.delay);
                time("jitter", n.jitter);
                for (name, p) in [
                    ("loss", n.loss),
                    ("duplicate", n.duplicate),
                    ("reorder", n.reorder),
                    ("corrupt", n.corrupt),
                ] {
                    if p != 0 {
                        out.push((name, percent_text(p)));
                    }
                }
                if n.rate != 0 {
                    out.push(("rate", rate_text(n.rate)));
                }
                out.push(("limit", n.limit.to_string()));
                out
            }
        }
    }

    /// `tbf rate 16mbit burst 8000b limit 108000b`.
    pub fn describe(&self) -> String {
        let mut s = self.kind().to_string();
        for (name, value) in self.fields() {
            s.push_str(&format!(" {name} {value}"));
        }
        s
    }
}

impl Tbf {
    /// From a rate in bytes per second, a burst in bytes and a queue limit in bytes;
    /// `None` when the burst takes longer than tbf can hold (about 4.29 s) or the rate
    /// is 0.
    pub fn new(rate: u64, burst: u64, limit: u64) -> Option<Tbf> {
        if rate == 0 {
            return None;
        }
        let ticks = u128::from(burst) * 1_000_000_000 / u128::from(rate) / 64;
        if ticks == 0 || ticks > u128::from(MAX_TBF_BUFFER_TICKS) {
            return None;
        }
        Some(Tbf {
            rate,
            buffer: ticks as u32,
            limit: u32::try_from(limit).ok()?,
        })
    }

    /// The bucket in bytes, from its time at the rate (rounded to the nearest byte).
    pub fn burst(&self) -> u64 {
        let ns = u128::from(self.buffer) * 64;
        ((ns * u128::from(self.rate) + 500_000_000) / 1_000_000_000) as u64
    }
}

/// A rate in bytes per second as tc writes it in bits: `16mbit`, `1gbit`, `1500bit`.
pub fn rate_text(bytes_per_sec: u64) -> String {
    let bits = u128::from(bytes_per_sec) * 8;
    for (unit, n) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits >= n && bits.is_multiple_of(n) {
            return format!("{}{unit}", bits / n);
        }
    }
    format!("{bits}bit")
}

/// A size in bytes: `32kb` when a whole number of KiB (tc's `kb`), else `1514b`.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}kb", bytes / 1024)
    } else {
        format!("{bytes}b")
    }
}

/// A duration in nanoseconds: `10ms`, `1s`, `250us`, `1500ns`.
pub fn time_text(ns: u64) -> String {
    for (unit, n) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if ns >= n && ns.is_multiple_of(n) {
            return format!("{}{unit}", ns / n);
        }
    }
    format!("{ns}ns")
}

/// A probability (a fraction of `u32::MAX`) as a percentage, `1%`, `0.5%`.
pub fn percent_text(p: u32) -> String {
    let pct = f64::from(p) * 100.0 / f64::from(u32::MAX);
    let rounded = (pct * 1000.0).round() / 1000.0;
    format!("{rounded}%")
}

/// A percentage as the kernel's probability.
pub fn probability(percent: f64) -> u32 {
    (percent / 100.0 * f64::from(u32::MAX)).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_holds_the_burst_as_ticks_and_gives_it_back() {
        // 16 Mbit/s = 2,000,000 B/s; 32 KiB take 16.384 ms = 256,000 ticks.
        let t = Tbf::new(2_000_000, 32 * 1024, 100_000).unwrap();
        assert_eq!(t.buffer, 256_000);
        assert_eq!(t.burst(), 32 * 1024);
        assert_eq!(
            Qdisc::Tbf(t).describe(),
            "tbf rate 16mbit burst 32kb limit 100000b"
        );
        // A burst tbf cannot hold, and a zero rate.
        assert_eq!(Tbf::new(1, 10_000, 0), None);
        assert_eq!(Tbf::new(0, 10_000, 0), None);
    }

    #[test]
    fn units_print_as_tc_writes_them() {
        assert_eq!(rate_text(125_000_000), "1gbit");
        assert_eq!(rate_text(1_250_000), "10mbit");
        assert_eq!(rate_text(1000), "8kbit");
        assert_eq!(rate_text(1), "8bit");
        assert_eq!(size_text(1514), "1514b");
        assert_eq!(time_text(10_000_000), "10ms");
        assert_eq!(time_text(1_500), "1500ns");
        assert_eq!(percent_text(probability(1.0)), "1%");
        assert_eq!(percent_text(probability(0.5)), "0.5%");
    }

    #[test]
    fn netem_shows_only_what_it_does() {
        let n = Netem {
            delay: 10_000_000,
            loss: probability(1.0),
            limit: NETEM_LIMIT,
            ..Netem::default()
        };
        assert_eq!(
            Qdisc::Netem(n).describe(),
            "netem delay 10ms loss 1% limit 1000"
        );
    }
}
