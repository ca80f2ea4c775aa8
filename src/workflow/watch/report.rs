//! What a watcher reports: one [`Event`] per thing that happened, as one line for
//! people ([`Event::human`]) or one JSON object per line (`--output json`, its
//! `"event"` field naming the kind: `ready`, `applied`, `invalid`, `drift`, `resync`,
//! `error`). The benchmark parses exactly these names and fields.

use std::fmt::Write as _;

use serde::Serialize;

use std::sync::Arc;

use crate::report::ErrorBody;
use crate::workflow::Error;

/// What was done about a difference: repaired (`--repair`), or only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Repaired,
    Reported,
}

/// Counts of a plan: objects added, changed, removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

/// Where the time of an apply from the file went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppliedMs {
    pub load: f64,
    pub diff: f64,
    pub apply: f64,
    pub verify: f64,
    pub total: f64,
}

/// Where the time of a drift's handling went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DriftMs {
    /// From the first notification to the end of the handling.
    pub since_notice: f64,
    pub observe: f64,
    pub apply: f64,
    pub total: f64,
}

/// One thing a watcher did or saw.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// The lab converged at start; the watch begins.
    Ready {
        lab: String,
        file: String,
        namespaces: usize,
        /// Changes the start's apply made.
        changes: usize,
        ms: f64,
    },
    /// The file changed and the difference was applied.
    Applied {
        trigger: &'static str,
        #[serde(flatten)]
        counts: Counts,
        /// Each change, as `plan` describes it (`add route 10.9.0.0/16 via 10.1.1.1`).
        changes: Vec<String>,
        ms: AppliedMs,
    },
    /// The file changed and is not a valid lab: nothing applied, the previous desired
    /// state stays in force.
    Invalid {
        file: String,
        error: ErrorBody,
        /// The error itself, for people (rendered as `nshost validate` renders it).
        #[serde(skip)]
        diagnostic: Shared,
    },
    /// Someone else changed what the lab owns.
    Drift {
        namespaces: Vec<String>,
        changes: Vec<String>,
        /// Who sent the notification: `pid 812 (ip)`, `netlink port 812`, `the kernel`.
        by: String,
        action: Action,
        ms: DriftMs,
    },
    /// The whole lab was read again (notifications were lost).
    Resync {
        reason: String,
        /// Resyncs so far.
        count: u64,
        changes: Vec<String>,
        action: Action,
        ms: f64,
    },
    /// Something failed; the watcher goes on.
    Error { error: ErrorBody },
}

/// An error shared with whoever renders it (a [`miette::Diagnostic`] as the error is).
#[derive(Debug, Clone)]
pub struct Shared(pub Arc<Error>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl miette::Diagnostic for Shared {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.0.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.0.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.0.diagnostic_source()
    }
}

/// `HH:MM:SS.mmm` (UTC) of a time in seconds since the Unix epoch.
pub fn clock(unix: f64) -> String {
    let ms = (unix * 1e3) as u64;
    let day = (ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3600,
        day / 60 % 60,
        day % 60,
        ms % 1000
    )
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a time in seconds since the Unix epoch.
pub fn utc(unix: f64) -> String {
    let secs = unix as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `a, b and 3 more` of at most `n` items.
fn listed(items: &[String], n: usize) -> String {
    let mut out = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        let _ = write!(out, " and {} more", items.len() - n);
    }
    out
}

impl Event {
    /// The event as one line for people (without its time), or several for an invalid
    /// file (its problems, as `nshost validate` prints them).
    pub fn human(&self) -> String {
        match self {
            Event::Ready {
                lab,
                file,
                namespaces,
                changes,
                ms,
            } => format!(
                "ready: lab {lab} ({file}), {namespaces} namespaces, {changes} change(s) at start \
                 ({ms:.1} ms); watching"
            ),
            Event::Applied {
                counts,
                changes,
                ms,
                ..
            } => format!(
                "applied the file: {} added, {} changed, {} removed ({}) in {:.1} ms",
                counts.add,
                counts.change,
                counts.remove,
                listed(changes, 3),
                ms.total
            ),
            Event::Invalid { file, .. } => {
                format!("invalid: {file} is not applied; the previous lab stays in force")
            }
            Event::Drift {
                namespaces: _,
                changes,
                by,
                action,
                ms,
            } => {
                let done = match action {
                    Action::Repaired => format!("repaired in {:.1} ms", ms.total),
                    Action::Reported => "reported, not repaired (--report)".into(),
                };
                format!("drift: {} by {by} → {done}", listed(changes, 3))
            }
            Event::Resync {
                reason,
                count,
                changes,
                action,
                ms,
            } => {
                let what = if changes.is_empty() {
                    "no drift".to_string()
                } else {
                    let done = match action {
                        Action::Repaired => "repaired",
                        Action::Reported => "reported",
                    };
                    format!("{} {done}", listed(changes, 3))
                };
                format!("resync #{count} ({reason}): {what} in {ms:.1} ms")
            }
            Event::Error { error } => format!("error: {}", error.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        vec![
            Event::Ready {
                lab: "demo".into(),
                file: "lab.yaml".into(),
                namespaces: 3,
                changes: 12,
                ms: 40.5,
            },
            Event::Applied {
                trigger: "file",
                counts: Counts {
                    add: 1,
                    change: 0,
                    remove: 0,
                },
                changes: vec!["r1: add route 10.9.0.0/16 via 10.1.1.10 dev eth0".into()],
                ms: AppliedMs {
                    load: 1.0,
                    diff: 0.5,
                    apply: 2.0,
                    verify: 1.5,
                    total: 5.0,
                },
            },
            Event::Drift {
                namespaces: vec!["h1".into()],
                changes: vec!["h1: add route default via 10.1.1.1 dev eth0".into()],
                by: "pid 812 (ip)".into(),
                action: Action::Repaired,
                ms: DriftMs {
                    since_notice: 12.0,
                    observe: 1.0,
                    apply: 2.0,
                    total: 3.5,
                },
            },
            {
                let e = Error::Read {
                    path: "lab.yaml".into(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                };
                Event::Invalid {
                    file: "lab.yaml".into(),
                    error: crate::report::ErrorReport::of(&e).error,
                    diagnostic: Shared(Arc::new(e)),
                }
            },
            Event::Resync {
                reason: "notifications lost".into(),
                count: 1,
                changes: vec![],
                action: Action::Repaired,
                ms: 20.0,
            },
            Event::Error {
                error: ErrorBody {
                    code: Some("nshost::kernel".into()),
                    message: "namespace h1: dumping links: gone".into(),
                    help: None,
                    problems: vec![],
                },
            },
        ]
    }

    #[test]
    fn json_lines_and_human_lines() {
        let lines: Vec<String> = samples()
            .iter()
            .map(|e| format!("{}\n  {}", serde_json::to_string(e).unwrap(), e.human()))
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn times() {
        assert_eq!(clock(1_796_241_662.345), "20:01:02.345");
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_241_662.0), "2026-12-02 20:01:02 UTC");
    }
}
