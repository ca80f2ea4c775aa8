//! Turns the sandboxes' figures into the benchmark's results: median and spread per
//! measurement, milliseconds per host, peak RSS, the ratios between methods, printed as
//! a table and kept as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::inner::{Method, Step};

/// How a row compares with another.
#[derive(Clone, Copy)]
enum Ratio {
    None,
    /// This row's figure divided by nshost's `step`.
    OverNshost(&'static str),
    /// nshost's `step` divided by this row's figure.
    NshostOver(&'static str),
    /// This row's figure divided by the same method's `step` (of the same runs).
    OverSame(&'static str),
}

/// One line of the table.
struct RowDef {
    method: Method,
    step: &'static str,
    label: &'static str,
    ratio: Ratio,
}

const ROWS: &[RowDef] = &[
    RowDef {
        method: Method::Pool,
        step: "apply_pool",
        label: "pool: 10-node lab applied from a warm pool",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Pool,
        step: "apply_fresh",
        label: "pool: the same, without a pool",
        ratio: Ratio::OverSame("apply_pool"),
    },
    RowDef {
        method: Method::Pool,
        step: "cycles_pool",
        label: "pool: 100 build/destroy cycles, pooled",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Pool,
        step: "cycles_fresh",
        label: "pool: 100 build/destroy cycles, no pool",
        ratio: Ratio::OverSame("cycles_pool"),
    },
    RowDef {
        method: Method::Nshost,
        step: "apply",
        label: "nshost apply (cold, from nothing)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "plan",
        label: "nshost plan (no-op, lab applied)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "plan_file",
        label: "  of which parse+validate+lower+diff",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "plan_observe",
        label: "  of which observe (reading the kernel)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "add_host",
        label: "nshost apply (+1 host, YAML edit incl.)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "change_address",
        label: "nshost apply (1 host address changed)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "destroy",
        label: "nshost destroy",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Nshost,
        step: "destroy_freed",
        label: "nshost destroy, until the kernel freed all",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Parallel,
        step: "apply",
        label: "4 labs of N/4 hosts, applied at once",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Parallel,
        step: "destroy",
        label: "4 labs of N/4 hosts, destroyed at once",
        ratio: Ratio::OverNshost("destroy"),
    },
    RowDef {
        method: Method::Bash,
        step: "build",
        label: "ip per operation (bash): build",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Bash,
        step: "teardown",
        label: "ip per operation (bash): teardown",
        ratio: Ratio::OverNshost("destroy"),
    },
    RowDef {
        method: Method::Batch,
        step: "build",
        label: "ip -batch per namespace: build",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Batch,
        step: "teardown",
        label: "ip -batch: teardown",
        ratio: Ratio::OverNshost("destroy"),
    },
    RowDef {
        method: Method::Batch,
        step: "teardown_freed",
        label: "ip -batch: teardown, until freed",
        ratio: Ratio::OverNshost("destroy_freed"),
    },
    RowDef {
        method: Method::Batch,
        step: "dump",
        label: "nsdump (C): dump every namespace",
        ratio: Ratio::NshostOver("plan"),
    },
    RowDef {
        method: Method::Batch,
        step: "dump_vs_add",
        label: "  the same, against nshost's +1 host",
        ratio: Ratio::NshostOver("add_host"),
    },
    RowDef {
        method: Method::Batch,
        step: "dump_vs_file",
        label: "  the same, against the plan's file part",
        ratio: Ratio::NshostOver("plan_file"),
    },
    RowDef {
        method: Method::Watch,
        step: "ready",
        label: "nshost watch: ready (initial converge)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "plan_rss",
        label: "  (no-op plan's RSS: the state's yardstick)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "add_host",
        label: "watch: +1 host, file write to `applied`",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "add_host_load",
        label: "  of which load (parse+validate+lower)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "add_host_diff",
        label: "  of which diff against memory",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "add_host_apply",
        label: "  of which apply",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "add_host_verify",
        label: "  of which verify",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "route_deleted",
        label: "watch: route deleted by hand, to repaired",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "route_since_notice",
        label: "  of which since the kernel's notice",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "link_down",
        label: "watch: link set down by hand, to repaired",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Watch,
        step: "idle_cpu",
        label: "watch idle 60 s: CPU ms used (RSS = VmHWM)",
        ratio: Ratio::None,
    },
    RowDef {
        method: Method::Sites,
        step: "apply",
        label: "nshost apply, 2 sites at once (later end)",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Sites,
        step: "apply_a",
        label: "  site a: r0, r1 and their hosts",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Sites,
        step: "apply_b",
        label: "  site b: r2, r3 and their hosts",
        ratio: Ratio::OverNshost("apply"),
    },
    RowDef {
        method: Method::Sites,
        step: "plan",
        label: "nshost plan, 2 sites at once (no-op)",
        ratio: Ratio::OverNshost("plan"),
    },
    RowDef {
        method: Method::Sites,
        step: "destroy",
        label: "nshost destroy, 2 sites at once",
        ratio: Ratio::OverNshost("destroy"),
    },
    RowDef {
        method: Method::Floor,
        step: "build",
        label: "nsfloor (C): build, own clock",
        ratio: Ratio::NshostOver("apply"),
    },
    RowDef {
        method: Method::Floor,
        step: "teardown",
        label: "nsfloor (C): teardown, own clock",
        ratio: Ratio::NshostOver("destroy"),
    },
];

/// One measurement over all runs of one size.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub method: Method,
    pub step: String,
    pub label: String,
    /// Every run's figures, failures included.
    pub runs: Vec<Step>,
    /// Over the successful runs: wall clock, or the program's own clock where it has no
    /// meaningful wall clock (the floor's build and teardown).
    pub median_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// `median_ms / N`.
    pub per_host_ms: Option<f64>,
    /// Largest peak RSS over the runs, in KiB.
    pub maxrss_kib: Option<u64>,
    /// The comparison with nshost, and what it divides.
    pub ratio: Option<f64>,
    pub ratio_of: Option<String>,
}

/// Everything measured for one lab size.
#[derive(Clone, Debug, Serialize)]
pub struct SizeResult {
    pub hosts: usize,
    pub namespaces: usize,
    pub lan_prefix: u8,
    pub rows: Vec<Row>,
}

/// The step whose figures a row shows: its own, but for a row that compares one
/// measurement with a second nshost step.
fn source(step: &str) -> &str {
    match step {
        "dump_vs_add" | "dump_vs_file" => "dump",
        s => s,
    }
}

fn figure(s: &Step) -> Option<f64> {
    if s.error.is_some() {
        None
    } else {
        s.wall_ms.or(s.own_ms)
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Builds the rows of one size from every sandbox run: `(method, steps)` in run order.
pub fn summarize(
    hosts: usize,
    namespaces: usize,
    lan_prefix: u8,
    runs: &[(Method, Vec<Step>)],
) -> SizeResult {
    let mut rows: Vec<Row> = Vec::new();
    for def in ROWS {
        let steps: Vec<Step> = runs
            .iter()
            .filter(|(m, _)| *m == def.method)
            .filter_map(|(_, steps)| steps.iter().find(|s| s.step == source(def.step)).cloned())
            .collect();
        if steps.is_empty() {
            continue;
        }
        let mut ok: Vec<f64> = steps.iter().filter_map(figure).collect();
        ok.sort_by(f64::total_cmp);
        let median_ms = (!ok.is_empty()).then(|| median(&ok));
        rows.push(Row {
            method: def.method,
            step: def.step.to_string(),
            label: def.label.to_string(),
            median_ms,
            min_ms: ok.first().copied(),
            max_ms: ok.last().copied(),
            per_host_ms: median_ms.map(|m| m / hosts as f64),
            maxrss_kib: steps.iter().filter_map(|s| s.maxrss_kib).max(),
            runs: steps,
            ratio: None,
            ratio_of: None,
        });
    }
    let nshost: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r.method == Method::Nshost)
        .filter_map(|r| Some((r.step.clone(), r.median_ms?)))
        .collect();
    let nshost = |step: &str| nshost.iter().find(|(s, _)| s == step).map(|(_, m)| *m);
    let medians: Vec<(Method, String, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.method, r.step.clone(), r.median_ms?)))
        .collect();
    let same = |method: Method, step: &str| {
        medians
            .iter()
            .find(|(m, s, _)| *m == method && s == step)
            .map(|(_, _, v)| *v)
    };
    for row in &mut rows {
        let def = ROWS
            .iter()
            .find(|d| d.method == row.method && d.step == row.step)
            .expect("rows come from ROWS");
        (row.ratio, row.ratio_of) = match def.ratio {
            Ratio::None => (None, None),
            Ratio::OverNshost(step) => (
                row.median_ms.zip(nshost(step)).map(|(a, b)| a / b),
                Some(format!("this / nshost {step}")),
            ),
            Ratio::NshostOver(step) => (
                row.median_ms.zip(nshost(step)).map(|(a, b)| b / a),
                Some(format!("nshost {step} / this")),
            ),
            Ratio::OverSame(step) => (
                row.median_ms
                    .zip(same(row.method, step))
                    .map(|(a, b)| a / b),
                Some(format!("this / {step}")),
            ),
        };
    }
    SizeResult {
        hosts,
        namespaces,
        lan_prefix,
        rows,
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// Whether a row's peak RSS is that of the program measured (not of a `bash` driver).
fn rss_is_meaningful(row: &Row) -> bool {
    match row.method {
        Method::Bash | Method::Batch => row.step == "dump",
        Method::Nshost
        | Method::Floor
        | Method::Sites
        | Method::Parallel
        | Method::Watch
        | Method::Pool => true,
    }
}

/// The table for one size, and the failures under it.
pub fn table(size: &SizeResult, runs: usize) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nN = {} hosts: {} namespaces, LANs /{}, {} run(s) each",
        size.hosts, size.namespaces, size.lan_prefix, runs
    );
    let _ = writeln!(
        t,
        "  {:<42} {:>10} {:>21} {:>9} {:>8}  ratio to nshost",
        "", "median ms", "min–max ms", "ms/host", "RSS MiB"
    );
    let mut failures: Vec<(String, Vec<String>)> = Vec::new();
    for row in &size.rows {
        let spread = match (row.min_ms, row.max_ms) {
            (Some(a), Some(b)) => format!("{} – {}", num(Some(a)), num(Some(b))),
            _ => "-".to_string(),
        };
        let ok = row.runs.iter().filter(|s| figure(s).is_some()).count();
        let median = if ok == 0 {
            "FAILED".to_string()
        } else {
            num(row.median_ms)
        };
        let rss = row
            .maxrss_kib
            .filter(|_| rss_is_meaningful(row))
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".to_string());
        let ratio = match (&row.ratio, &row.ratio_of) {
            (Some(r), Some(of)) => format!("{r:.2}  ({of})"),
            (None, Some(of)) => format!("n/a  ({of})"),
            _ => String::new(),
        };
        let line = format!(
            "  {:<42} {:>10} {:>21} {:>9} {:>8}  {}",
            row.label,
            median,
            spread,
            num(row.per_host_ms),
            rss,
            ratio
        );
        let _ = writeln!(t, "{}", line.trim_end());
        let mut errors: Vec<(&String, Vec<usize>)> = Vec::new();
        for (i, s) in row.runs.iter().enumerate() {
            if let Some(e) = &s.error {
                match errors.iter_mut().find(|(err, _)| *err == e) {
                    Some((_, runs)) => runs.push(i + 1),
                    None => errors.push((e, vec![i + 1])),
                }
            }
        }
        for (e, runs) in errors {
            let runs: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
            let at = format!(
                "{} (run{} {})",
                row.label,
                if runs.len() > 1 { "s" } else { "" },
                runs.join(", ")
            );
            match failures.iter_mut().find(|(err, _)| err == e) {
                Some((_, ats)) => ats.push(at),
                None => failures.push((e.clone(), vec![at])),
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(t, "  failures:");
        for (error, ats) in failures {
            let at = if ats.len() > 3 {
                format!("{}, {} and {} more", ats[0], ats[1], ats.len() - 2)
            } else {
                ats.join(", ")
            };
            let _ = writeln!(t, "    - {at}:\n        {error}");
        }
    }
    t
}
