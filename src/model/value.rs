//! Runtime values of the blockform language.
//!
//! HCL's own value types plus one blockform needs and hcl-rs lacks: [`Value::Unknown`], a value
//! that will only be "known after apply" (the id of a volume not yet created). Operations on an
//! unknown value yield unknown values, so a configuration can be validated before anything exists.

use std::fmt;

use indexmap::IndexMap;

/// A map of attribute or key names to values, in insertion order. Keys are hashed with `FxHash`:
/// a plan of tens of thousands of resources looks attributes up millions of times, and the keys
/// come from one's own configuration and state (no crafted keys to defend against).
pub type ValueMap = IndexMap<String, Value, rustc_hash::FxBuildHasher>;

/// A value of the blockform language.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null`: the absence of a value.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number; HCL has one number type, integers are the whole numbers among them.
    Number(f64),
    /// A string.
    String(String),
    /// A list, tuple or set (sets are lists without duplicates, sorted).
    List(Vec<Value>),
    /// A map or object.
    Map(ValueMap),
    /// A value that is known only after apply; the string says where it comes from
    /// (for instance `volume.db.id`).
    Unknown(String),
}

impl Value {
    /// The name of this value's type as a person reads it in an error message.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown(_) => "unknown",
        }
    }

    /// Whether this value, or any value inside it, is known only after apply.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::List(items) => items.iter().any(Value::contains_unknown),
            Value::Map(map) => map.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    /// Whether this value is itself unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// The string inside a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an integer, when it is a whole number that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            #[allow(clippy::cast_possible_truncation)]
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
            _ => None,
        }
    }

    /// The boolean inside a bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The items of a list value.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a map value.
    pub fn as_map(&self) -> Option<&ValueMap> {
        match self {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The value as a string the way HCL converts primitives to strings (`tostring`,
    /// template interpolation); `None` for values that have no string form.
    pub fn to_template_string(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format_number(*n)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Converts to JSON (unknown values become `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown(_) => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => match self.as_i64() {
                Some(i) => serde_json::Value::from(i),
                None => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number),
            },
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Converts from JSON.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(map) => {
                Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }
}

/// A primitive type a value can be converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
}

/// Converts a primitive to another primitive type the way Terraform does: a number or bool
/// where a string is expected becomes its text, a string holding a number where a number is
/// expected becomes that number (`size = "10"`), `"true"`/`"false"` where a bool is expected
/// becomes the bool. Anything else is left as it is, for the type check to report.
pub fn convert_primitive(value: Value, to: Primitive) -> Value {
    match (to, value) {
        (Primitive::String, value @ (Value::Number(_) | Value::Bool(_))) => {
            Value::String(value.to_template_string().unwrap_or_default())
        }
        (Primitive::Number, Value::String(text)) => match parse_number(&text) {
            Some(number) => Value::Number(number),
            None => Value::String(text),
        },
        (Primitive::Bool, Value::String(text)) => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text),
        },
        (_, value) => value,
    }
}

/// A number written as a string, as Terraform reads one: decimal digits, an optional sign,
/// fraction and exponent, nothing around them.
fn parse_number(text: &str) -> Option<f64> {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && text.chars().any(|c| c.is_ascii_digit());
    text.parse::<f64>().ok().filter(|n| plain && n.is_finite())
}

/// Formats a number the way HCL prints it: whole numbers without a fraction.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        let whole = n as i64;
        whole.to_string()
    } else {
        n.to_string()
    }
}

impl fmt::Display for Value {
    /// Renders the value in HCL syntax (`"a"`, `[1, 2]`, `{ a = 1 }`, `(known after apply)`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(&format_number(*n)),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                if map.is_empty() {
                    return f.write_str("{}");
                }
                f.write_str("{ ")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" }")
            }
            Value::Unknown(_) => f.write_str("(known after apply)"),
        }
    }
}

/// The key that marks an unknown value in saved plans: `{"$unknown": "volume.db.id"}`.
pub const UNKNOWN_MARKER: &str = "$unknown";

impl serde::Serialize for Value {
    /// Serialises as JSON would show it; unknown values keep their origin under
    /// [`UNKNOWN_MARKER`] so a saved plan keeps them.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => match self.as_i64() {
                Some(i) => serializer.serialize_i64(i),
                None => serializer.serialize_f64(*n),
            },
            Value::String(s) => serializer.serialize_str(s),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    out.serialize_entry(k, v)?;
                }
                out.end()
            }
            Value::Unknown(origin) => {
                let mut out = serializer.serialize_map(Some(1))?;
                out.serialize_entry(UNKNOWN_MARKER, origin)?;
                out.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        let json = serde_json::Value::deserialize(deserializer)?;
        Ok(from_marked_json(&json))
    }
}

fn from_marked_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Object(map) => {
            if map.len() == 1
                && let Some(serde_json::Value::String(origin)) = map.get(UNKNOWN_MARKER)
            {
                return Value::Unknown(origin.clone());
            }
            Value::Map(map.iter().map(|(k, v)| (k.clone(), from_marked_json(v))).collect())
        }
        serde_json::Value::Array(items) => Value::List(items.iter().map(from_marked_json).collect()),
        other => Value::from_json(other),
    }
}
