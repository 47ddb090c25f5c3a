//! The configuration a provider is built from: its kind, the name of its `provider` block and
//! the block's attributes, passed through untyped so each back end defines its own schema.

use std::borrow::Cow;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The kind of a provider block: the first label of `provider "<kind>" "<name>"`. Kinds are
/// open: each provider crate names its own (its factory's [`kind`](crate::ProviderFactory::kind))
/// and the engine's registry lists the factories, so no list of kinds exists here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderKind(Cow<'static, str>);

impl ProviderKind {
    /// The kind a crate declares, as a constant.
    pub const fn new(label: &'static str) -> Self {
        Self(Cow::Borrowed(label))
    }

    /// The kind as written in the first label of a `provider` block.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ProviderKind {
    fn from(label: &str) -> Self {
        Self(Cow::Owned(label.to_owned()))
    }
}

impl From<String> for ProviderKind {
    fn from(label: String) -> Self {
        Self(Cow::Owned(label))
    }
}

impl PartialEq<str> for ProviderKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `provider "<kind>" "<name>" { ... }` block, evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Which back end the block configures.
    pub kind: ProviderKind,
    /// The block's second label; volume types refer to it as their `backend`.
    pub name: String,
    /// The block's attributes after evaluation (`pool`, `path`, `host`...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl ProviderConfig {
    /// Deserializes the attributes into a back end's own settings type.
    pub fn attributes_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(serde_json::Value::Object(self.attributes.clone()))
    }
}

/// One thing wrong with a provider block, found before the provider is built: the attribute it
/// is about (`None` for the block as a whole) and what is wrong, for the engine to show at the
/// attribute's value in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The attribute, or `None` for the block.
    pub attribute: Option<String>,
    /// What is wrong, without the provider's name (the engine points at the block).
    pub message: String,
    /// Whether it is about the machine rather than the block (a file that does not exist
    /// here may exist where blockform runs): `validate` warns, `plan` refuses.
    pub on_this_host: bool,
}

/// Checks each attribute of `config` on its own with `check` (which reads a whole block and
/// says what is wrong with it): the attribute is put into a block that has only `required`
/// besides it (values known to be valid), so a failure is that attribute's. When every
/// attribute passes on its own, the whole block is checked once more (for rules that relate
/// several). Attributes whose value is `null` (not known yet) are left out.
pub fn problems_by_attribute(
    config: &ProviderConfig,
    required: &[(&str, serde_json::Value)],
    check: impl Fn(&ProviderConfig) -> Result<(), String>,
) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for (name, value) in &config.attributes {
        if value.is_null() {
            continue;
        }
        let mut attributes: serde_json::Map<String, serde_json::Value> = required
            .iter()
            .filter(|(key, _)| key != name)
            .map(|(key, valid)| ((*key).to_owned(), valid.clone()))
            .collect();
        attributes.insert(name.clone(), value.clone());
        let alone = ProviderConfig {
            attributes,
            ..config.clone()
        };
        if let Err(message) = check(&alone) {
            problems.push(ConfigProblem {
                attribute: Some(name.clone()),
                message,
                on_this_host: false,
            });
        }
    }
    let complete = required.iter().all(|(key, _)| config.attributes.contains_key(*key))
        && config.attributes.values().all(|v| !v.is_null());
    if problems.is_empty()
        && complete
        && let Err(message) = check(config)
    {
        problems.push(ConfigProblem {
            attribute: None,
            message,
            on_this_host: false,
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ceph_ssd() -> ProviderConfig {
        let serde_json::Value::Object(attributes) =
            json!({"pool": "volumes-ssd", "conf": "/etc/ceph/ceph.conf", "user": "admin"})
        else {
            unreachable!("the literal is an object")
        };
        ProviderConfig {
            kind: ProviderKind::new("ceph"),
            name: "ssd".into(),
            attributes,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let config = ceph_ssd();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json,
            json!({
                "kind": "ceph",
                "name": "ssd",
                "attributes": {"pool": "volumes-ssd", "conf": "/etc/ceph/ceph.conf", "user": "admin"}
            })
        );
        assert_eq!(serde_json::from_value::<ProviderConfig>(json).unwrap(), config);
    }

    #[test]
    fn attributes_deserialize_into_a_back_end_schema() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct CephAttributes {
            pool: String,
            conf: String,
            user: String,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only the failure to deserialize is tested")]
        struct LocalAttributes {
            path: String,
        }

        let attributes: CephAttributes = ceph_ssd().attributes_as().unwrap();
        assert_eq!(
            attributes,
            CephAttributes {
                pool: "volumes-ssd".into(),
                conf: "/etc/ceph/ceph.conf".into(),
                user: "admin".into(),
            }
        );
        let error = ceph_ssd().attributes_as::<LocalAttributes>().unwrap_err();
        assert!(error.to_string().contains("unknown field `conf`"), "{error}");
    }

    #[test]
    fn kinds_are_open_labels() {
        let declared = ProviderKind::new("ceph");
        assert_eq!(declared, ProviderKind::from("ceph".to_owned()));
        assert_eq!(declared.to_string(), "ceph");
        assert_eq!(serde_json::to_value(&declared).unwrap(), json!("ceph"));
        let parsed: ProviderKind = serde_json::from_value(json!("zfs")).unwrap();
        assert_eq!(parsed.as_str(), "zfs");
    }
}
