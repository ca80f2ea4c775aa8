//! Named routing tables, and table references of routes and rules.

use std::collections::HashMap;

use indexmap::IndexMap;
use miette::SourceSpan;

use super::{Code, Cx};
use crate::state::RT_TABLE_MAIN;
use crate::topology::{Spanned, TableRef, Topology};

/// Declared table names to their number (`None` when the number is unusable and was
/// already reported).
pub(super) type Tables = IndexMap<String, Option<u32>>;

pub(super) fn check_tables(cx: &mut Cx, topo: &Topology) -> Tables {
    let mut tables = Tables::new();
    let mut by_number: HashMap<u32, (SourceSpan, &str)> = HashMap::new();
    for (key, number) in &topo.tables {
        let key_span = cx.span(key);
        let num_span = cx.span(number);
        let mut ok = true;
        if key.value.is_empty() {
            cx.report(Code::BadTableName, "a routing table has an empty name")
                .with_label(key_span, "empty name");
            ok = false;
        } else if matches!(key.value.as_str(), "main" | "local" | "default") {
            cx.report(
                Code::BadTableName,
                format!("`{}` is a built-in table name", key.value),
            )
            .with_label(key_span, "reserved by the kernel")
            .with_help("`main` can be used without declaring it; pick another name");
            ok = false;
        }
        let n = number.value;
        let valid_number = n != 0 && !(253..=255).contains(&n);
        if !valid_number {
            cx.report(
                Code::BadTableNumber,
                format!("table `{}` has the number {n}, which is reserved", key.value),
            )
            .with_label(num_span, "not usable")
            .with_help("use a number from 1 to 4294967295 other than 253 (default), 254 (main) and 255 (local)");
        } else if let Some((first, first_name)) = by_number.get(&n) {
            cx.report(
                Code::DuplicateTableNumber,
                format!(
                    "tables `{first_name}` and `{}` have the same number {n}",
                    key.value
                ),
            )
            .with_label(*first, format!("`{first_name}` is table {n}"))
            .with_label(num_span, format!("`{}` is table {n} too", key.value));
        } else {
            by_number.insert(n, (num_span, &key.value));
        }
        if !key.value.is_empty() {
            tables.insert(key.value.clone(), (ok && valid_number).then_some(n));
        }
    }
    tables
}

/// The table number of a route or rule; `None` when it is wrong (and reported) or
/// refers to a table whose own declaration is wrong.
pub(super) fn resolve_table(
    cx: &mut Cx,
    table: &Spanned<TableRef>,
    tables: &Tables,
) -> Option<u32> {
    let span = cx.span(table);
    let n = match &table.value {
        TableRef::Id(n) => *n,
        TableRef::Name(name) if name == "main" => return Some(RT_TABLE_MAIN),
        TableRef::Name(name) => match tables.get(name) {
            Some(n) => return *n,
            None => match name.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let declared = if tables.is_empty() {
                        "no tables are declared under `tables`; `main` is built in".to_string()
                    } else {
                        format!(
                            "declared tables: {}; `main` is built in",
                            tables
                                .keys()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    cx.report(Code::UnknownTable, format!("unknown table `{name}`"))
                        .with_label(span, "not declared under `tables`")
                        .with_help(declared);
                    return None;
                }
            },
        },
    };
    if n == 0 || n == 253 || n == 255 {
        cx.report(Code::BadTableNumber, format!("table {n} cannot be used"))
            .with_label(span, "reserved table number")
            .with_help("use 254 (main) or a number from 1 to 4294967295 other than 253 and 255");
        return None;
    }
    Some(n)
}
