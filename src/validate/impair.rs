//! Link impairments (`impair`): the values parsed in tc's units, the fields that go
//! together checked, and the qdisc of the interface made from them in the kernel's own
//! units (a `tbf`, or a `netem` when any of netem's fields is written).

use miette::SourceSpan;

use super::{Code, Cx};
use crate::state::qdisc::{self, NETEM_LIMIT, Netem, Qdisc, Tbf};
use crate::topology::{ImpairSpec, Spanned};

/// How long a packet may wait in tbf's queue when `latency` is not written.
pub const DEFAULT_LATENCY_NS: u64 = 50_000_000;
/// The default burst is this fraction of a second of the rate: 10 ms. tc's minimum is a
/// timer tick (4 ms at 250 Hz), but on a loaded machine the timer that releases packets
/// fires late and a bucket that small loses the tokens of the delay (a 16mbit link gave
/// 13.5 Mbit/s under the test suite).
const BURST_DIVISOR: u64 = 100;
/// The Ethernet header a frame adds to the MTU.
const ETH_HEADER: u64 = 14;

/// An `impair` block, parsed; the qdisc is made once the interface's MTU is known.
#[derive(Clone, Debug)]
pub(super) struct Impair {
    /// Bytes per second.
    rate: Option<u64>,
    burst: Option<(u64, SourceSpan)>,
    latency: u64,
    netem: Option<Netem>,
    /// Where netem's fields are written (a kernel without `sch_netem` is reported at
    /// each).
    pub(super) netem_spans: Vec<SourceSpan>,
}

/// A rate in bytes per second: tc's `bit`, `kbit`, `mbit`, `gbit`, `tbit` (bits, SI) or
/// `bps`, `kbps`, `mbps`, `gbps` (bytes).
pub fn parse_rate(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let units: [(&str, f64); 9] = [
        ("tbit", 1e12 / 8.0),
        ("gbit", 1e9 / 8.0),
        ("mbit", 1e6 / 8.0),
        ("kbit", 1e3 / 8.0),
        ("bit", 1.0 / 8.0),
        ("gbps", 1e9),
        ("mbps", 1e6),
        ("kbps", 1e3),
        ("bps", 1.0),
    ];
    scaled(&s, &units).filter(|r| *r > 0)
}

/// A size in bytes: `b`, `k`/`kb`, `m`/`mb`, `g`/`gb` (1024-based, as tc), `kbit`,
/// `mbit` (bits).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let units: [(&str, f64); 9] = [
        ("kbit", 1024.0 / 8.0),
        ("mbit", 1024.0 * 1024.0 / 8.0),
        ("kb", 1024.0),
        ("mb", 1024.0 * 1024.0),
        ("gb", 1024.0 * 1024.0 * 1024.0),
        ("k", 1024.0),
        ("m", 1024.0 * 1024.0),
        ("g", 1024.0 * 1024.0 * 1024.0),
        ("b", 1.0),
    ];
    scaled(&s, &units)
}

/// A duration in nanoseconds: `us`, `ms`, `s` (and `usec`, `msec`, `sec`).
pub fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let units: [(&str, f64); 7] = [
        ("usec", 1e3),
        ("msec", 1e6),
        ("sec", 1e9),
        ("us", 1e3),
        ("ms", 1e6),
        ("ns", 1.0),
        ("s", 1e9),
    ];
    scaled(&s, &units)
}

/// A percentage, `1%` or `0.5%`, 0 to 100.
pub fn parse_percent(s: &str) -> Option<f64> {
    let n: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (n.is_finite() && (0.0..=100.0).contains(&n)).then_some(n)
}

fn scaled(s: &str, units: &[(&str, f64)]) -> Option<u64> {
    let (number, scale) = units
        .iter()
        .find_map(|(u, k)| s.strip_suffix(u).map(|n| (n, *k)))?;
    let n: f64 = number.trim().parse().ok()?;
    let v = n * scale;
    (n.is_finite() && n >= 0.0 && v < 1.8e19).then(|| v.round() as u64)
}

/// One field: parsed, or reported at its value.
fn field<T>(
    cx: &mut Cx,
    value: Option<&Spanned<String>>,
    name: &str,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<(T, SourceSpan)>, ()> {
    let Some(v) = value else {
        return Ok(None);
    };
    let span = cx.span(v);
    match parse(&v.value) {
        Some(x) => Ok(Some((x, span))),
        None => {
            cx.report(
                Code::BadImpair,
                format!("`{}` is not a valid `{name}`", v.value),
            )
            .with_label(span, format!("expected {expected}"))
            .with_help("units as tc writes them: rates `20mbit`, sizes `32kb`, times `10ms`");
            Err(())
        }
    }
}

/// An `impair` block's values, each parsed, with where it is written.
struct Fields {
    rate: Option<(u64, SourceSpan)>,
    burst: Option<(u64, SourceSpan)>,
    latency: Option<(u64, SourceSpan)>,
    delay: Option<(u64, SourceSpan)>,
    jitter: Option<(u64, SourceSpan)>,
    loss: Option<(f64, SourceSpan)>,
    duplicate: Option<(f64, SourceSpan)>,
    reorder: Option<(f64, SourceSpan)>,
    corrupt: Option<(f64, SourceSpan)>,
}

/// Parses an `impair` block; `None` (with the problems reported) when a value is wrong.
pub(super) fn parse(cx: &mut Cx, spec: &Spanned<ImpairSpec>) -> Option<Impair> {
    let f = fields(cx, &spec.value)?;
    let block = cx.span(spec);
    let netem_spans = f.netem_spans();
    let mut ok = true;
    if netem_spans.is_empty() && f.rate.is_none() {
        cx.report(Code::BadImpair, "an `impair` block that impairs nothing")
            .with_label(block, "no `rate`, `delay`, `loss`...")
            .with_help("give it a `rate` (tbf), or a `delay`, `loss`... (netem)");
        ok = false;
    }
    if !netem_spans.is_empty() {
        ok &= check_no_tbf_fields(cx, &f);
    }
    ok &= check_delayed(cx, &f);
    ok.then(|| f.impair(netem_spans))
}

/// Each value of the block, parsed; `None` when one is wrong (each reported).
fn fields(cx: &mut Cx, s: &ImpairSpec) -> Option<Fields> {
    let rate_unit = "a rate like `20mbit`, `1gbit` or `500kbps`";
    let time_unit = "a time like `10ms`, `500us` or `1s`";
    let pct_unit = "a percentage from 0 to 100, like `1%`";
    let rate = field(cx, s.rate.as_ref(), "rate", parse_rate, rate_unit);
    let burst = field(
        cx,
        s.burst.as_ref(),
        "burst",
        parse_size,
        "a size like `32kb` or `1514b`",
    );
    let latency = field(cx, s.latency.as_ref(), "latency", parse_time, time_unit);
    let delay = field(cx, s.delay.as_ref(), "delay", parse_time, time_unit);
    let jitter = field(cx, s.jitter.as_ref(), "jitter", parse_time, time_unit);
    let mut pct = |v: Option<&Spanned<String>>, name| field(cx, v, name, parse_percent, pct_unit);
    let loss = pct(s.loss.as_ref(), "loss");
    let duplicate = pct(s.duplicate.as_ref(), "duplicate");
    let reorder = pct(s.reorder.as_ref(), "reorder");
    let corrupt = pct(s.corrupt.as_ref(), "corrupt");
    Some(Fields {
        rate: rate.ok()?,
        burst: burst.ok()?,
        latency: latency.ok()?,
        delay: delay.ok()?,
        jitter: jitter.ok()?,
        loss: loss.ok()?,
        duplicate: duplicate.ok()?,
        reorder: reorder.ok()?,
        corrupt: corrupt.ok()?,
    })
}

/// A netem has no `burst` or `latency`, which are tbf's.
fn check_no_tbf_fields(cx: &mut Cx, f: &Fields) -> bool {
    let mut ok = true;
    for (name, span) in [
        ("burst", f.burst.map(|b| b.1)),
        ("latency", f.latency.map(|l| l.1)),
    ] {
        if let Some(span) = span {
            cx.report(
                Code::BadImpair,
                format!("`{name}` is tbf's, and this `impair` makes a netem"),
            )
            .with_label(span, "with netem's fields")
            .with_help(
                "with `delay`, `jitter`, `loss`, `duplicate`, `reorder` or `corrupt`, \
                 the `rate` is netem's own, which has no bucket or latency",
            );
            ok = false;
        }
    }
    ok
}

/// `jitter` and `reorder` come with a `delay`.
fn check_delayed(cx: &mut Cx, f: &Fields) -> bool {
    let delay_ns = f.delay.map_or(0, |d| d.0);
    let mut ok = true;
    for (name, span) in [
        ("jitter", f.jitter.map(|j| j.1)),
        ("reorder", f.reorder.map(|r| r.1)),
    ] {
        if let Some(span) = span
            && delay_ns == 0
        {
            cx.report(Code::BadImpair, format!("`{name}` needs a `delay`"))
                .with_label(span, "without a delay")
                .with_help("netem varies or reorders delayed packets only");
            ok = false;
        }
    }
    ok
}

impl Fields {
    /// Where netem's fields are written.
    fn netem_spans(&self) -> Vec<SourceSpan> {
        [self.delay, self.jitter]
            .iter()
            .flatten()
            .map(|(_, s)| *s)
            .chain(
                [self.loss, self.duplicate, self.reorder, self.corrupt]
                    .iter()
                    .flatten()
                    .map(|(_, s)| *s),
            )
            .collect()
    }

    /// The impairment the checked values make: a netem when netem's fields are
    /// written, a tbf's rate, bucket and latency.
    fn impair(self, netem_spans: Vec<SourceSpan>) -> Impair {
        let netem = (!netem_spans.is_empty()).then(|| Netem {
            delay: self.delay.map_or(0, |d| d.0),
            jitter: self.jitter.map_or(0, |j| j.0),
            loss: self.loss.map_or(0, |p| qdisc::probability(p.0)),
            duplicate: self.duplicate.map_or(0, |p| qdisc::probability(p.0)),
            reorder: self.reorder.map_or(0, |p| qdisc::probability(p.0)),
            corrupt: self.corrupt.map_or(0, |p| qdisc::probability(p.0)),
            rate: self.rate.map_or(0, |r| r.0),
            limit: NETEM_LIMIT,
        });
        Impair {
            rate: self.rate.map(|r| r.0),
            burst: self.burst,
            latency: self.latency.map_or(DEFAULT_LATENCY_NS, |l| l.0),
            netem,
            netem_spans,
        }
    }
}

impl Impair {
    /// The interface's qdisc, given its MTU; a burst smaller than a frame, or one that
    /// tbf cannot hold at the rate, is reported.
    pub(super) fn qdisc(&self, cx: &mut Cx, mtu: u32) -> Option<Qdisc> {
        if let Some(n) = &self.netem {
            return Some(Qdisc::Netem(n.clone()));
        }
        let rate = self.rate?;
        let frame = u64::from(mtu) + ETH_HEADER;
        let burst = match self.burst {
            Some((b, span)) if b < frame => {
                cx.report(
                    Code::BadImpair,
                    format!("a burst of {b} bytes is smaller than a frame ({frame} bytes)"),
                )
                .with_label(span, "too small")
                .with_help(format!(
                    "tbf drops every packet larger than its bucket: give at least `{frame}b`"
                ));
                return None;
            }
            Some((b, _)) => b,
            None => (rate / BURST_DIVISOR).max(frame),
        };
        let limit = (u128::from(rate) * u128::from(self.latency) / 1_000_000_000) as u64 + burst;
        match Tbf::new(rate, burst, limit) {
            Some(t) => Some(Qdisc::Tbf(t)),
            None => {
                let span = self.burst.map(|b| b.1);
                let p = cx.report(
                    Code::BadImpair,
                    format!(
                        "tbf cannot hold a burst of {burst} bytes and a queue of {limit} bytes at {}",
                        qdisc::rate_text(rate),
                    ),
                );
                if let Some(span) = span {
                    p.with_label(span, "too big for the rate");
                }
                p.with_help(
                    "tbf's bucket holds at most about 4 seconds of its rate, and its queue \
                     (the rate times the `latency`, plus the burst) at most 4 GiB",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_as_tc_reads_them() {
        assert_eq!(parse_rate("20mbit"), Some(2_500_000));
        assert_eq!(parse_rate("1gbit"), Some(125_000_000));
        assert_eq!(parse_rate("8bit"), Some(1));
        assert_eq!(parse_rate("500kbps"), Some(500_000));
        assert_eq!(parse_rate("1.5Mbit"), Some(187_500));
        assert_eq!(parse_rate("20"), None);
        assert_eq!(parse_rate("0mbit"), None);
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_size("32kb"), Some(32_768));
        assert_eq!(parse_size("1514b"), Some(1514));
        assert_eq!(parse_size("1m"), Some(1_048_576));
        assert_eq!(parse_size("-1kb"), None);
        assert_eq!(parse_time("50ms"), Some(50_000_000));
        assert_eq!(parse_time("250us"), Some(250_000));
        assert_eq!(parse_time("1s"), Some(1_000_000_000));
        assert_eq!(parse_time("1 sec"), Some(1_000_000_000));
        assert_eq!(parse_time("10"), None);
        assert_eq!(parse_percent("1%"), Some(1.0));
        assert_eq!(parse_percent("0.5 %"), Some(0.5));
        assert_eq!(parse_percent("101%"), None);
        assert_eq!(parse_percent("1"), None);
    }
}
