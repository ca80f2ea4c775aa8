//! The lab file's reference page, from its JSON Schema (`nshost schema`): every object
//! with its fields, their types and descriptions, and every named value type.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::one_line;

/// The page.
pub fn page() -> String {
    let schema =
        serde_json::to_value(nshost::topology::json_schema()).expect("the schema serializes");
    let defs = schema
        .get("definitions")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = String::from(
        "# Lab file reference\n\n\
         Generated from the lab file's JSON Schema (`nshost schema`, committed as \
         `schemas/topology.schema.json`) by `cargo xtask docs`. The guide is \
         [The lab file](../lab-file.md); what validation checks beyond the schema is in \
         [Validation](../validation.md).\n\n",
    );
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    out.push_str("## The lab file\n\nThe top level of a lab file.\n\n");
    fields(&mut out, &schema);
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort();
    for name in names {
        let def = &defs[name];
        let _ = writeln!(out, "## {name}\n");
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", d.trim());
        }
        if def.get("properties").is_some() {
            fields(&mut out, def);
        } else {
            let _ = writeln!(out, "{}\n", sentence(&describe(def)));
        }
    }
    out
}

/// A table of an object's fields.
fn fields(out: &mut String, object: &Value) {
    let empty = Map::new();
    let props = object
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | description |\n|---|---|---|\n");
    for (name, prop) in props {
        let mut description = prop
            .get("description")
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        if required.contains(&name.as_str()) {
            description = format!("**Required.** {description}");
        }
        let _ = writeln!(
            out,
            "| `{name}` | {} | {description} |",
            describe(prop).replace('|', "\\|")
        );
    }
    if let Some(pattern) = object.get("patternProperties").and_then(Value::as_object) {
        for (pattern, prop) in pattern {
            let _ = writeln!(
                out,
                "| keys matching `{}` | {} | {} |",
                pattern.replace('|', "\\|"),
                describe(prop).replace('|', "\\|"),
                prop.get("description")
                    .and_then(Value::as_str)
                    .map(one_line)
                    .unwrap_or_default()
            );
        }
    }
    if object.get("additionalProperties") == Some(&Value::Bool(false)) {
        out.push_str("\nNo other field is allowed.\n");
    }
    out.push('\n');
}

/// A schema's type, in words, with links to the named types.
fn describe(schema: &Value) -> String {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let name = target.rsplit('/').next().unwrap_or(target);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let kinds: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(describe)
                .collect();
            return kinds.join(" or ");
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{}`", plain(v))).collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(value) = schema.get("const") {
        return format!("`{}`", plain(value));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    let mut words: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => {
                let item = schema.get("items").map(describe).unwrap_or_default();
                if item.is_empty() {
                    "list".to_string()
                } else {
                    format!("list of {item}")
                }
            }
            "object" => match schema.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("map to {}", describe(v)),
                _ => "object".to_string(),
            },
            other => other.to_string(),
        })
        .collect();
    if words.is_empty() {
        words.push("any".to_string());
    }
    let mut text = words.join(" or ");
    let bound = |key: &str| schema.get(key).map(plain);
    match (bound("minimum"), bound("maximum")) {
        (Some(lo), Some(hi)) => {
            let _ = write!(text, " ({lo} to {hi})");
        }
        (Some(lo), None) => {
            let _ = write!(text, " (at least {lo})");
        }
        (None, Some(hi)) => {
            let _ = write!(text, " (at most {hi})");
        }
        (None, None) => {}
    }
    if let Some(max) = bound("maxLength") {
        let _ = write!(text, ", at most {max} characters");
    }
    if let Some(min) = bound("minItems") {
        let _ = write!(text, ", at least {min} items");
    }
    text
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` as a sentence: its first letter capital, a full stop at its end.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars
        .next()
        .map(|c| c.to_uppercase().to_string())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}
