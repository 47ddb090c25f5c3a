//! What a provider block accepts, as its provider's crate declares it: attribute names, their
//! types and which are required. The engine checks a block against this schema (unknown or
//! missing attributes, value types) before the provider's own
//! [`problems`](crate::ProviderFactory::problems) look at the values.

/// The type an attribute of a provider block must have.
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
    /// A duration such as `"10s"` or `"2m"`.
    Duration,
}

/// One attribute a provider block accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    /// Its name.
    pub name: &'static str,
    /// The type of its value.
    pub ty: AttrType,
    /// Whether it must be set.
    pub required: bool,
}

impl AttrSpec {
    /// An optional attribute.
    pub const fn optional(name: &'static str, ty: AttrType) -> Self {
        Self {
            name,
            ty,
            required: false,
        }
    }

    /// An attribute that must be set.
    pub const fn required(name: &'static str, ty: AttrType) -> Self {
        Self {
            name,
            ty,
            required: true,
        }
    }
}
