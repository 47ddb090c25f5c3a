//! What each block accepts: attribute names, their types, which are required.
//!
//! The schema drives the "unknown attribute, did you mean …" and "missing attribute" checks and
//! the type checks of evaluated values; the rules that relate several attributes or objects live
//! in `validate`.

use super::ResourceKind;
use super::value::{Primitive, Value, ValueMap, convert_primitive};

/// The type an attribute's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    StringList,
    /// A map of strings to strings.
    StringMap,
    /// A map of strings to whole numbers (QoS specs).
    IntegerMap,
    /// An object with a fixed set of keys (a volume's `source`).
    Object(&'static [&'static str]),
    /// A reference to a resource of a kind (its `id`).
    Ref(ResourceKind),
    /// A list of references to resources of a kind.
    RefList(ResourceKind),
    /// A duration such as `24h` or `7d`.
    Duration,
}

impl AttrType {
    /// How the type is described in error messages.
    pub fn describe(self) -> String {
        match self {
            AttrType::String => "a string".into(),
            AttrType::Integer => "a whole number".into(),
            AttrType::Number => "a number".into(),
            AttrType::Bool => "a bool".into(),
            AttrType::StringList => "a list of strings".into(),
            AttrType::StringMap => "a map of strings".into(),
            AttrType::IntegerMap => "a map of whole numbers".into(),
            AttrType::Object(keys) => format!("an object with one of the keys {}", keys.join(", ")),
            AttrType::Ref(kind) => format!("a reference to a {kind}, like `{kind}.example.id`"),
            AttrType::RefList(kind) => format!("a list of references to {kind} resources, like `[{kind}.example.id]`"),
            AttrType::Duration => "a duration such as \"24h\" or \"7d\"".into(),
        }
    }
}

/// One attribute a block accepts.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    /// Its name.
    pub name: &'static str,
    /// The type of its value.
    pub ty: AttrType,
    /// Whether it must be set.
    pub required: bool,
}

pub(crate) const fn attr(name: &'static str, ty: AttrType) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: false,
    }
}

pub(crate) const fn required(name: &'static str, ty: AttrType) -> AttrSpec {
    AttrSpec {
        name,
        ty,
        required: true,
    }
}

/// The attributes and nested blocks of one kind of block.
#[derive(Debug, Clone, Copy)]
pub struct BlockSchema {
    /// Accepted attributes.
    pub attrs: &'static [AttrSpec],
    /// Attributes set by the back end, readable by references (`id`, `status`, ...).
    pub computed: &'static [&'static str],
}

impl BlockSchema {
    /// The attribute with this name.
    pub fn attr(&self, name: &str) -> Option<&AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Attributes of a `lifecycle` block.
pub const LIFECYCLE_ATTRS: &[AttrSpec] = &[
    attr("prevent_destroy", AttrType::Bool),
    attr("create_before_destroy", AttrType::Bool),
    attr("ignore_changes", AttrType::StringList),
    attr("snapshot_before_destroy", AttrType::Bool),
];

const DIR_STORE_ATTRS: &[AttrSpec] = &[required("path", AttrType::String), attr("compression", AttrType::Bool)];

const S3_STORE_ATTRS: &[AttrSpec] = &[
    required("bucket", AttrType::String),
    attr("prefix", AttrType::String),
    attr("endpoint", AttrType::String),
    attr("region", AttrType::String),
    attr("compression", AttrType::Bool),
];

/// Backup store kinds.
pub const STORE_KINDS: &[&str] = &["dir", "s3"];

/// The schema of a `backup_store` block, or `None` for an unknown kind.
pub fn store_schema(kind: &str) -> Option<BlockSchema> {
    match kind {
        "dir" => Some(BlockSchema {
            attrs: DIR_STORE_ATTRS,
            computed: &[],
        }),
        "s3" => Some(BlockSchema {
            attrs: S3_STORE_ATTRS,
            computed: &[],
        }),
        _ => None,
    }
}

/// Converts a value to an attribute's type the way Terraform converts primitives: a number or
/// bool where a string is expected becomes its text, a string holding a number where a number
/// is expected becomes that number (`size = "10"`), `"true"`/`"false"` where a bool is
/// expected becomes the bool; the same for the values of a map of whole numbers (QoS specs).
/// Anything else is left as it is, for the type check to report.
pub fn convert(value: Value, ty: AttrType) -> Value {
    match (ty, value) {
        (AttrType::String, value) => convert_primitive(value, Primitive::String),
        (AttrType::Integer | AttrType::Number, value) => convert_primitive(value, Primitive::Number),
        (AttrType::Bool, value) => convert_primitive(value, Primitive::Bool),
        (AttrType::IntegerMap, Value::Map(map)) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k, convert(v, AttrType::Integer)))
                .collect(),
        ),
        (_, value) => value,
    }
}

/// Converts every attribute of `attrs` that `schema` declares to its type (see [`convert`]).
pub fn convert_all(schema: &BlockSchema, attrs: &mut ValueMap) {
    for spec in schema.attrs {
        if let Some(slot) = attrs.get_mut(spec.name) {
            *slot = convert(std::mem::take(slot), spec.ty);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_convert_to_the_attribute_type_as_in_terraform() {
        let s = |text: &str| Value::String(text.to_owned());
        assert_eq!(convert(s("10"), AttrType::Integer), Value::Number(10.0));
        assert_eq!(convert(s("2.5"), AttrType::Number), Value::Number(2.5));
        assert_eq!(convert(s("1e3"), AttrType::Integer), Value::Number(1000.0));
        for text in ["", " 10", "ten", "inf", "NaN", "0x10", "1e400"] {
            assert_eq!(convert(s(text), AttrType::Integer), s(text), "{text:?} stays a string");
        }
        assert_eq!(convert(Value::Number(1.0), AttrType::String), s("1"));
        assert_eq!(convert(Value::Bool(true), AttrType::String), s("true"));
        assert_eq!(convert(s("false"), AttrType::Bool), Value::Bool(false));
        assert_eq!(convert(s("yes"), AttrType::Bool), s("yes"));
        let specs = Value::Map([("total_iops_sec".to_owned(), s("100"))].into_iter().collect());
        assert_eq!(
            convert(specs, AttrType::IntegerMap),
            Value::Map(
                [("total_iops_sec".to_owned(), Value::Number(100.0))]
                    .into_iter()
                    .collect()
            )
        );
        let unknown = Value::Unknown("volume.db.id".to_owned());
        assert_eq!(convert(unknown.clone(), AttrType::Integer), unknown);
    }
}
