//! What a node runs beside its network, as written: `files:` (a path inside the node to
//! its content) and `run:` (a name to a command). `validate::workload` checks them and
//! reads the sources; `expand` fills them from defaults and groups and templates them.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{NamedMap, Spanned, formats};

/// The files of a node by absolute path, in file order.
pub type Files = NamedMap<Spanned<FileValue>>;
/// The processes of a node by name, in the order they start.
pub type Run = NamedMap<Spanned<Command>>;

/// A file's content: the text itself, or a block naming its source or content and mode.
#[derive(Debug, Clone)]
pub enum FileValue {
    Text(String),
    Spec(Box<FileSpec>),
}

/// A file given by a block: exactly one of `content` and `source`, and a `mode`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = {"required": ["content", "source"]}))]
pub struct FileSpec {
    /// The file's text (`{i}` and `{name}` are replaced, as in a plain string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub content: Option<Spanned<String>>,
    /// A file on this machine to copy, relative to the lab file's directory (read at
    /// plan time; at most 1 MiB). `{i}` and `{name}` are replaced in the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub source: Option<Spanned<String>>,
    /// Permission bits, always read as octal as `chmod` does (`0755`, `755`, `"0640"`),
    /// at most `0777`. Default `0644`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<formats::FileMode>")]
    pub mode: Option<Spanned<String>>,
}

impl Serialize for FileValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FileValue::Text(t) => s.serialize_str(t),
            FileValue::Spec(spec) => spec.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FileValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = FileValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file's text, or `{source: PATH}` or `{content: TEXT}`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileValue, E> {
                Ok(FileValue::Text(v.to_string()))
            }

            // Read field by field (not through an untagged enum, which would buffer
            // the values and lose their places).
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FileValue, A::Error> {
                FileSpec::deserialize(MapAccessDeserializer::new(map))
                    .map(|spec| FileValue::Spec(Box::new(spec)))
            }
        }
        d.deserialize_any(Value)
    }
}

impl JsonSchema for FileValue {
    fn schema_name() -> Cow<'static, str> {
        "FileValue".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let spec = generator.subschema_for::<FileSpec>();
        json_schema!({
            "description": "The file's text, or a block with its `source` or `content` and `mode`.",
            "anyOf": [{"type": "string"}, spec]
        })
    }
}

/// A command: a string run by `/bin/sh -c`, or a list run as is (program first).
#[derive(Debug, Clone)]
pub enum Command {
    Shell(String),
    Argv(Vec<Spanned<String>>),
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Command::Shell(c) => s.serialize_str(c),
            Command::Argv(argv) => s.collect_seq(argv.iter().map(|a| &a.value)),
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl<'de> Visitor<'de> for Value {
            type Value = Command;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a shell command, or a list: the program and its arguments")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Ok(Command::Shell(v.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut argv = Vec::new();
                while let Some(a) = seq.next_element::<Spanned<String>>()? {
                    argv.push(a);
                }
                Ok(Command::Argv(argv))
            }
        }
        d.deserialize_any(Value)
    }
}

impl JsonSchema for Command {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A command run by `/bin/sh -c`, or a list: the program and its arguments, run as is.",
            "anyOf": [
                {"type": "string", "pattern": "\\S"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1}
            ]
        })
    }
}

/// Replaces `{i}` by `index` and `{name}` by `name` in the text.
fn template(s: &mut String, index: &str, name: &str) {
    if s.contains("{i}") {
        *s = s.replace("{i}", index);
    }
    if s.contains("{name}") {
        *s = s.replace("{name}", name);
    }
}

/// Templates a node's files (paths, inline contents, source paths) and commands; the
/// processes' names are kept as written.
pub(super) fn substitute(files: &mut Files, run: &mut Run, index: &str, name: &str) {
    let templated = |s: &str| s.contains("{i}") || s.contains("{name}");
    if files.keys().any(|k| templated(&k.value)) {
        *files = std::mem::take(files)
            .into_iter()
            .map(|(mut k, v)| {
                template(&mut k.value, index, name);
                (k, v)
            })
            .collect();
    }
    for file in files.values_mut() {
        match &mut file.value {
            FileValue::Text(t) => template(t, index, name),
            FileValue::Spec(spec) => {
                for s in [&mut spec.content, &mut spec.source].into_iter().flatten() {
                    template(&mut s.value, index, name);
                }
            }
        }
    }
    for command in run.values_mut() {
        match &mut command.value {
            Command::Shell(c) => template(c, index, name),
            Command::Argv(argv) => argv
                .iter_mut()
                .for_each(|a| template(&mut a.value, index, name)),
        }
    }
}
