//! sysctls: keys and values as written, each device setting for an interface the node
//! has, and which interfaces they turn IPv6 off on.

use std::collections::{BTreeMap, HashMap};

use miette::SourceSpan;

use super::members::Node;
use super::{Code, Cx};
use crate::state::settings::Setting;
use crate::topology::{NamedMap, Spanned, SysctlValue};

/// Why a sysctl key is unusable, if it is.
pub(crate) fn sysctl_key_problem(key: &str) -> Option<&'static str> {
    if !key.starts_with("net.") {
        Some("does not start with `net.`")
    } else if let Some(_c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')))
    {
        Some("may hold only `a-z`, `0-9`, `_`, `.` and `-`")
    } else if key.contains("..") {
        Some("contains `..`")
    } else if key.ends_with('.') {
        Some("ends with `.`")
    } else {
        None
    }
}

/// A node's sysctls as written, with their places.
#[derive(Default)]
pub(super) struct Sysctls {
    /// Setting to value as written to the kernel: each key classified here, once.
    pub(super) values: BTreeMap<Setting, String>,
    /// Key to the places of the key and of the value.
    pub(super) spans: HashMap<String, (SourceSpan, SourceSpan)>,
}

pub(super) fn check_sysctls(
    cx: &mut Cx,
    node: &Node,
    sysctls: &NamedMap<Spanned<SysctlValue>>,
) -> Sysctls {
    let mut out = Sysctls::default();
    for (key, value) in sysctls {
        let mut ok = true;
        let key_span = cx.span(key);
        let setting = Setting::of_key(&key.value);
        if let Some(problem) = sysctl_key_problem(&key.value) {
            cx.report(
                Code::BadSysctlKey,
                format!("the sysctl key `{}` {problem}", key.value),
            )
            .with_label(key_span, problem)
            .with_help("nshost sets only network sysctls, e.g. `net.ipv4.conf.all.rp_filter`");
            ok = false;
        } else if let Setting::Device { dev, .. } = &setting
            && !node.has(dev)
        {
            cx.report(
                Code::SysctlUnknownDevice,
                format!(
                    "the sysctl `{}` is a setting of `{dev}`, which `{}` does not have",
                    key.value,
                    node.name()
                ),
            )
            .with_label(key_span, format!("no interface `{dev}`"))
            .with_help(format!(
                "the interfaces of `{}`: {}; `all` and `default` set every interface",
                node.name(),
                node.list_names()
            ));
            ok = false;
        }
        let text = value.value.to_kernel();
        let value_span = cx.span(value);
        if text.is_empty() {
            cx.report(
                Code::EmptySysctlValue,
                format!("the sysctl `{}` has an empty value", key.value),
            )
            .with_label(value_span, "empty value");
            ok = false;
        }
        if ok {
            out.values.insert(setting, text);
            out.spans.insert(key.value.clone(), (key_span, value_span));
        }
    }
    out
}

/// The interfaces of `node` on which its sysctls turn IPv6 off (`disable_ipv6` not 0),
/// with the place of the value that does: a device's own, `all` (every interface and
/// the loopback), or `default` (every interface nshost creates, as namespace-wide
/// sysctls are set before the links are made).
pub(super) fn ipv6_off(
    cx: &Cx,
    node: &Node,
    sysctls: &NamedMap<Spanned<SysctlValue>>,
) -> HashMap<String, SourceSpan> {
    let mut off = HashMap::new();
    let mut everywhere: Option<(SourceSpan, bool)> = None;
    for (key, value) in sysctls {
        let Some(dev) = key
            .value
            .strip_prefix("net.ipv6.conf.")
            .and_then(|k| k.strip_suffix(".disable_ipv6"))
        else {
            continue;
        };
        let on = value.value.to_kernel().parse::<i64>().is_ok_and(|v| v != 0);
        if !on {
            continue;
        }
        let span = cx.span(value);
        match dev {
            "all" => everywhere = Some((span, true)),
            "default" => everywhere = everywhere.or(Some((span, false))),
            dev => {
                off.insert(dev.to_string(), span);
            }
        }
    }
    if let Some((span, loopback)) = everywhere {
        for m in node.members {
            off.entry(m.ifname.clone()).or_insert(span);
        }
        if loopback {
            off.entry("lo".to_string()).or_insert(span);
        }
    }
    off
}
