//! sysctls: keys and values as written.

use std::collections::BTreeMap;

use super::{Code, Cx};
use crate::topology::{NamedMap, Spanned, SysctlValue};

/// Why a sysctl key is unusable, if it is.
pub(super) fn sysctl_key_problem(key: &str) -> Option<&'static str> {
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

pub(super) fn check_sysctls(
    cx: &mut Cx,
    sysctls: &NamedMap<Spanned<SysctlValue>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in sysctls {
        let mut ok = true;
        if let Some(problem) = sysctl_key_problem(&key.value) {
            let span = cx.span(key);
            cx.report(
                Code::BadSysctlKey,
                format!("the sysctl key `{}` {problem}", key.value),
            )
            .with_label(span, problem)
            .with_help("nshost sets only network sysctls, e.g. `net.ipv4.conf.all.rp_filter`");
            ok = false;
        }
        let text = value.value.to_kernel();
        if text.is_empty() {
            let span = cx.span(value);
            cx.report(
                Code::EmptySysctlValue,
                format!("the sysctl `{}` has an empty value", key.value),
            )
            .with_label(span, "empty value");
            ok = false;
        }
        if ok {
            out.insert(key.value.clone(), text);
        }
    }
    out
}
