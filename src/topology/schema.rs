//! The lab's JSON Schema (draft-07, as schemars writes it) compiled into the few shapes a
//! Rust type can have, so that the check can walk a YAML tree against it.
//!
//! Read from the schema: `$ref` into `definitions`, `allOf` with one member, `anyOf` (an
//! `Option` when one member is `{"type": "null"}`, else an untagged enum), `type` (a name,
//! or a list with `"null"` for an `Option`), `properties`, `required`,
//! `additionalProperties` (`false` for a struct, a schema for a map), `items`, `enum`,
//! `["string", "integer"]` as text (the value as written, digits or not),
//! and `format` for the range of an integer type. A narrower `minimum`/`maximum` (the
//! MTU's) is not a parse problem: `validate` checks it among the lab's other values.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// An index into `Schema::shapes`.
pub type ShapeId = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Text; `variants` for a Rust enum of unit variants.
    Text {
        variants: Option<Vec<String>>,
    },
    /// An integer of a Rust type (its range from the schema's `format`).
    Int {
        min: i128,
        max: i128,
    },
    Bool,
    List {
        items: ShapeId,
    },
    /// A map from names to values.
    Map {
        values: ShapeId,
    },
    /// A struct with known fields and no others.
    Struct(Struct),
    /// `null`, or the inner shape.
    Nullable(ShapeId),
    /// An untagged enum: the first member the value fits.
    AnyOf(Vec<ShapeId>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// The definition's name (`Host`, `RouteSpec`) or the schema's title for the root.
    pub name: String,
    /// Fields in schema order, with their shapes and first line of description.
    pub fields: Vec<Field>,
    /// Keys starting with `x-` are the user's own and ignored (`patternProperties`).
    pub extensions: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub shape: ShapeId,
    pub required: bool,
    pub description: Option<String>,
}

#[derive(Debug)]
pub struct Schema {
    pub shapes: Vec<Shape>,
    pub root: ShapeId,
}

impl Schema {
    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id]
    }

    /// Compiles a schemars draft-07 root schema. Panics on a construct it does not
    /// know, which a unit test would catch when the model changes.
    pub fn compile(root: &Value) -> Schema {
        let mut c = Compiler {
            definitions: root.get("definitions").and_then(Value::as_object),
            by_ref: HashMap::new(),
            shapes: Vec::new(),
        };
        let root = c.compile(root, "");
        Schema {
            shapes: c.shapes,
            root,
        }
    }
}

struct Compiler<'v> {
    definitions: Option<&'v Map<String, Value>>,
    by_ref: HashMap<String, ShapeId>,
    shapes: Vec<Shape>,
}

impl Compiler<'_> {
    fn add(&mut self, shape: Shape) -> ShapeId {
        self.shapes.push(shape);
        self.shapes.len() - 1
    }

    /// `name` is the definition the schema is (empty when it is not one).
    fn compile(&mut self, schema: &Value, name: &str) -> ShapeId {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return self.reference(reference);
        }
        if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            return self.compile(only, "");
        }
        if let Some(members) = schema.get("anyOf").and_then(Value::as_array) {
            let is_null = |m: &Value| m.get("type").and_then(Value::as_str) == Some("null");
            let others: Vec<&Value> = members.iter().filter(|m| !is_null(m)).collect();
            return match (members.len() - others.len(), others.as_slice()) {
                (1, [inner]) => {
                    let inner = self.compile(inner, "");
                    self.add(Shape::Nullable(inner))
                }
                (0, _) => {
                    let ids = others.iter().map(|m| self.compile(m, "")).collect();
                    self.add(Shape::AnyOf(ids))
                }
                _ => panic!("unsupported anyOf in the lab schema: {schema}"),
            };
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("the lab schema has a schema without a type: {schema}"),
        };
        let nullable = types.contains(&"null");
        let mut types: Vec<&str> = types.into_iter().filter(|&t| t != "null").collect();
        if types == ["string", "integer"] {
            // Text as written, digits included (a file's mode: `0755` is read as
            // octal, and YAML's types would say otherwise).
            types = vec!["string"];
        }
        let [ty] = types.as_slice() else {
            panic!("unsupported type list in the lab schema: {schema}");
        };
        let shape = match *ty {
            "string" => Shape::Text {
                variants: schema.get("enum").and_then(Value::as_array).map(|vs| {
                    vs.iter()
                        .map(|v| v.as_str().expect("string variants").to_string())
                        .collect()
                }),
            },
            "boolean" => Shape::Bool,
            "integer" => integer(schema),
            "array" => {
                let items = self.compile(&schema["items"], "");
                Shape::List { items }
            }
            "object" => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => self.structure(schema, name),
                Some(values @ Value::Object(_)) => {
                    let values = self.compile(values, "");
                    Shape::Map { values }
                }
                _ => panic!("unsupported object in the lab schema: {schema}"),
            },
            other => panic!("unsupported type `{other}` in the lab schema"),
        };
        let id = self.add(shape);
        if nullable {
            self.add(Shape::Nullable(id))
        } else {
            id
        }
    }

    fn reference(&mut self, reference: &str) -> ShapeId {
        if let Some(&id) = self.by_ref.get(reference) {
            return id;
        }
        let name = reference
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("unsupported $ref `{reference}`"));
        let definition = self
            .definitions
            .and_then(|d| d.get(name))
            .unwrap_or_else(|| panic!("no definition `{name}`"));
        let id = self.compile(definition, name);
        self.by_ref.insert(reference.to_string(), id);
        id
    }

    fn structure(&mut self, schema: &Value, name: &str) -> Shape {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (field, property) in properties {
                fields.push(Field {
                    name: field.clone(),
                    shape: self.compile(property, ""),
                    required: required.contains(&field.as_str()),
                    description: property
                        .get("description")
                        .and_then(Value::as_str)
                        .and_then(|d| d.lines().next())
                        .map(str::to_string),
                });
            }
        }
        let name = if name.is_empty() {
            schema.get("title").and_then(Value::as_str).unwrap_or("")
        } else {
            name
        };
        let extensions = schema
            .get("patternProperties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.contains_key("^x-"));
        Shape::Struct(Struct {
            name: name.to_string(),
            fields,
            extensions,
        })
    }
}

/// The range of an integer type, from its `format`.
fn integer(schema: &Value) -> Shape {
    let (min, max): (i128, i128) = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64") => (0, u64::MAX.into()),
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64") => (i64::MIN.into(), i64::MAX.into()),
        other => panic!("unsupported integer format {other:?} in the lab schema"),
    };
    Shape::Int { min, max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_the_lab_schema() {
        let schema = Schema::compile(&crate::topology::json_schema());
        let Shape::Struct(root) = schema.shape(schema.root) else {
            panic!("the root is a struct");
        };
        assert_eq!(root.name, "nshost lab");
        let names: Vec<&str> = root.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "name",
                "prefix",
                "tables",
                "pools",
                "networks",
                "routers",
                "hosts",
                "checks",
                "defaults",
                "groups",
                "links",
                "sites",
                "default_site",
                "owns"
            ],
            "the fields in the order the lab file's type declares them"
        );
        let name = &root.fields[0];
        assert!(name.required);
        assert_eq!(schema.shape(name.shape), &Shape::Text { variants: None });
    }

    /// The only `minimum`/`maximum` narrower than their type's range are these, and
    /// `validate` reports each with the lab's other problems (`nshost::bad_mtu`,
    /// `nshost::bad_port_range`, `nshost::unknown_route_proto`,
    /// `nshost::bad_rule_priority`, `nshost::bad_table_number`, `nshost::bad_vxlan_id`,
    /// `nshost::bad_vxlan_port`, `nshost::bad_service_port` for services and port checks,
    /// `nshost::bad_pool` for a pool's size, when the lab is expanded).
    #[test]
    fn narrower_ranges_are_left_to_validate() {
        fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    let format_max = match m.get("format").and_then(Value::as_str) {
                        Some("uint8") => Some(255),
                        Some("uint16") => Some(65535),
                        _ => None,
                    };
                    let narrower_min = m
                        .get("minimum")
                        .and_then(Value::as_i64)
                        .is_some_and(|x| x > 0);
                    let narrower_max = m
                        .get("maximum")
                        .and_then(Value::as_i64)
                        .is_some_and(|x| Some(x) != format_max);
                    if narrower_min || narrower_max {
                        out.push(path.to_string());
                    }
                    for (k, v) in m {
                        walk(v, &format!("{path}/{k}"), out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, path, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        walk(&crate::topology::json_schema(), "", &mut found);
        found.sort();
        assert_eq!(
            found,
            [
                "/definitions/CheckSpec/properties/tcp",
                "/definitions/CheckSpec/properties/udp",
                "/definitions/FileMode",
                "/definitions/Host/properties/mtu",
                "/definitions/Interface/properties/mtu",
                "/definitions/Link/properties/mtu",
                "/definitions/Network/properties/mtu",
                "/definitions/Network/properties/vni",
                "/definitions/Network/properties/vxlan_port",
                "/definitions/NexthopSpec/properties/weight",
                "/definitions/Pool/properties/size",
                "/definitions/Ports/anyOf",
                "/definitions/RouteProto/anyOf",
                "/definitions/RuleSpec/properties/goto",
                "/definitions/RuleSpec/properties/priority",
                "/definitions/RuleSpec/properties/suppress_prefixlength",
                "/definitions/ServiceSpec/properties/port",
                "/definitions/Site/properties/mtu",
                "/definitions/TableNumber",
                "/definitions/TableRef/anyOf",
                "/definitions/VxlanSpec/properties/id",
                "/definitions/VxlanSpec/properties/port"
            ]
        );
    }
}
