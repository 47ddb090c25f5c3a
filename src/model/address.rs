//! Resource addresses: `volume.db`, `volume.scratch["a"]`, `snapshot.daily[2]`.

use std::fmt;

use super::ResourceKind;

/// Which instance of a resource with `count` or `for_each`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum InstanceKey {
    /// The resource has neither `count` nor `for_each`.
    None,
    /// The index under `count`.
    Index(usize),
    /// The key under `for_each`.
    Key(String),
}

/// The address of one resource instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// The resource kind.
    pub kind: ResourceKind,
    /// The resource's name (its second label).
    pub name: String,
    /// The instance key.
    pub key: InstanceKey,
}

impl Address {
    /// The address of a resource without `count` or `for_each`.
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Address {
        Address {
            kind,
            name: name.into(),
            key: InstanceKey::None,
        }
    }

    /// Parses `kind.name`, `kind.name[0]` or `kind.name["key"]`.
    pub fn parse(text: &str) -> Option<Address> {
        let (kind, rest) = text.split_once('.')?;
        let kind = ResourceKind::from_name(kind)?;
        let (name, key) = match rest.split_once('[') {
            None => (rest, InstanceKey::None),
            Some((name, index)) => {
                let index = index.strip_suffix(']')?;
                let key = if let Some(quoted) = index.strip_prefix('"') {
                    InstanceKey::Key(quoted.strip_suffix('"')?.to_owned())
                } else {
                    InstanceKey::Index(index.parse().ok()?)
                };
                (name, key)
            }
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        valid.then(|| Address {
            kind,
            name: name.to_owned(),
            key,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        match &self.key {
            InstanceKey::None => Ok(()),
            InstanceKey::Index(i) => write!(f, "[{i}]"),
            InstanceKey::Key(k) => write!(f, "[{k:?}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_text() {
        for text in [
            "volume.db",
            "volume.scratch[\"a\"]",
            "snapshot.daily[2]",
            "volume_type.ssd",
        ] {
            assert_eq!(Address::parse(text).map(|a| a.to_string()).as_deref(), Some(text));
        }
        assert_eq!(Address::parse("disk.db"), None);
        assert_eq!(Address::parse("volume.db[x]"), None);
    }
}
