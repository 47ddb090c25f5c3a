//! The settings of a `provider "local" "NAME" { ... }` block: the directory that holds the
//! volumes and how strictly new volumes are checked against the free space there.

use std::path::PathBuf;

pub use blockform_provider::CapacityCheck;
use blockform_provider::{ConfigProblem, ProviderConfig, ProviderError, ProviderKind, problems_by_attribute};

use serde::{Deserialize, Serialize};

/// The kind of local provider blocks: `provider "local" "NAME" { ... }`.
pub const KIND: &str = "local";

/// The attributes of a local provider block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The directory of the qcow2 files; created if missing.
    pub path: PathBuf,
    /// How many bytes of volumes may be promised per free byte (qcow2 files are thin).
    #[serde(default = "default_oversubscription")]
    pub oversubscription: f64,
    /// What happens when a volume does not fit.
    #[serde(default)]
    pub capacity_check: CapacityCheck,
}

impl LocalConfig {
    /// The settings for `path` with the defaults: no oversubscription, warnings only.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            oversubscription: default_oversubscription(),
            capacity_check: CapacityCheck::default(),
        }
    }

    /// Reads the attributes of an evaluated `provider "local"` block.
    pub fn from_provider_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        if config.kind.as_str() != KIND {
            return Err(ConfigError::WrongKind {
                provider: config.name.clone(),
                kind: config.kind.clone(),
            });
        }
        let local: Self = config.attributes_as().map_err(|source| ConfigError::Attributes {
            provider: config.name.clone(),
            source,
        })?;
        local.validate(&config.name)?;
        Ok(local)
    }

    /// What is wrong with each attribute of an evaluated `provider "local"` block (paths as
    /// written, relative ones resolved), for `validate` to show at the attribute.
    pub fn problems(config: &ProviderConfig) -> Vec<ConfigProblem> {
        problems_by_attribute(config, &[("path", serde_json::json!("/"))], |block| {
            Self::from_provider_config(block).map(drop).map_err(|e| e.reason())
        })
    }

    /// Checks the values serde cannot: a path, a positive, finite oversubscription ratio.
    pub fn validate(&self, provider: &str) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::EmptyPath {
                provider: provider.to_owned(),
            });
        }
        if !(self.oversubscription.is_finite() && self.oversubscription > 0.0) {
            return Err(ConfigError::Oversubscription {
                provider: provider.to_owned(),
                value: self.oversubscription,
            });
        }
        Ok(())
    }
}

fn default_oversubscription() -> f64 {
    1.0
}

/// A provider block that cannot configure a local provider.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The block is for another back end.
    #[error("provider `{provider}` is a `{kind}` provider, not a `local` one")]
    WrongKind {
        /// The block's name.
        provider: String,
        /// Its kind.
        kind: ProviderKind,
    },
    /// An attribute is missing, unknown or of the wrong type.
    #[error("invalid attributes for local provider `{provider}`: {source}")]
    Attributes {
        /// The block's name.
        provider: String,
        /// What serde found.
        source: serde_json::Error,
    },
    /// `oversubscription` is zero, negative or not a number.
    #[error("`oversubscription` of local provider `{provider}` must be a positive number, not {value}")]
    Oversubscription {
        /// The block's name.
        provider: String,
        /// The value given.
        value: f64,
    },
    /// `path` is the empty string.
    #[error("the path of local provider `{provider}` is empty")]
    EmptyPath {
        /// The block's name.
        provider: String,
    },
    /// The path cannot be passed to `qemu-img`.
    #[error("the path `{}` of local provider `{provider}` is not valid UTF-8", .path.display())]
    PathNotUtf8 {
        /// The block's name.
        provider: String,
        /// The path.
        path: PathBuf,
    },
    /// The directory could not be created or resolved.
    #[error("cannot create the directory `{}` of local provider `{provider}`: {source}", .path.display())]
    Directory {
        /// The block's name.
        provider: String,
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// What is wrong, without naming the provider (for a diagnostic that points at it).
    pub fn reason(&self) -> String {
        match self {
            Self::Attributes { source, .. } => source.to_string(),
            Self::Oversubscription { value, .. } => format!("it must be a positive number, not {value}"),
            Self::EmptyPath { .. } => "it must name a directory, not be empty".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<ConfigError> for ProviderError {
    fn from(error: ConfigError) -> Self {
        Self::fatal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn block(attributes: serde_json::Value) -> ProviderConfig {
        let serde_json::Value::Object(attributes) = attributes else {
            panic!("attributes must be an object")
        };
        ProviderConfig {
            kind: ProviderKind::new(KIND),
            name: "default".into(),
            attributes,
        }
    }

    #[test]
    fn defaults_apply_to_a_block_with_only_a_path() {
        let config = LocalConfig::from_provider_config(&block(json!({"path": "/srv/volumes"}))).unwrap();
        assert_eq!(config, LocalConfig::new("/srv/volumes"));
        assert!((config.oversubscription - 1.0).abs() < f64::EPSILON);
        assert_eq!(config.capacity_check, CapacityCheck::Warn);
    }

    #[test]
    fn every_attribute_is_read() {
        let config = LocalConfig::from_provider_config(&block(
            json!({"path": "/srv/v", "oversubscription": 2.5, "capacity_check": "error"}),
        ))
        .unwrap();
        assert!((config.oversubscription - 2.5).abs() < f64::EPSILON);
        assert_eq!(config.capacity_check, CapacityCheck::Error);
        let config =
            LocalConfig::from_provider_config(&block(json!({"path": "/srv/v", "capacity_check": "off"}))).unwrap();
        assert_eq!(config.capacity_check, CapacityCheck::Off);
    }

    #[test]
    fn bad_blocks_are_refused_with_the_provider_name() {
        let messages: Vec<String> = [
            json!({}),
            json!({"path": "/v", "pool": "x"}),
            json!({"path": "/v", "capacity_check": "maybe"}),
            json!({"path": "/v", "oversubscription": 0}),
            json!({"path": "/v", "oversubscription": -1.5}),
        ]
        .into_iter()
        .map(|attributes| {
            LocalConfig::from_provider_config(&block(attributes))
                .unwrap_err()
                .to_string()
        })
        .collect();
        assert_eq!(
            messages,
            [
                "invalid attributes for local provider `default`: missing field `path`",
                "invalid attributes for local provider `default`: unknown field `pool`, expected one of `path`, `oversubscription`, `capacity_check`",
                "invalid attributes for local provider `default`: unknown variant `maybe`, expected one of `warn`, `error`, `off`",
                "`oversubscription` of local provider `default` must be a positive number, not 0",
                "`oversubscription` of local provider `default` must be a positive number, not -1.5",
            ]
        );
    }

    #[test]
    fn problems_name_the_attribute_they_are_about() {
        let problems = |attributes| {
            LocalConfig::problems(&block(attributes))
                .into_iter()
                .map(|p| (p.attribute, p.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(problems(json!({"path": "/v", "oversubscription": 2})), []);
        assert_eq!(
            problems(json!({"path": 1, "oversubscription": -1, "capacity_check": "maybe"})),
            [
                (
                    Some("capacity_check".to_owned()),
                    "unknown variant `maybe`, expected one of `warn`, `error`, `off`".to_owned()
                ),
                (
                    Some("oversubscription".to_owned()),
                    "it must be a positive number, not -1".to_owned()
                ),
                (
                    Some("path".to_owned()),
                    "invalid type: integer `1`, expected path string".to_owned()
                ),
            ]
        );
        assert_eq!(
            problems(json!({"path": ""})),
            [(
                Some("path".to_owned()),
                "it must name a directory, not be empty".to_owned()
            )]
        );
        // A value not known yet is not checked.
        assert_eq!(problems(json!({"path": null})), []);
    }

    #[test]
    fn a_block_of_another_kind_is_refused() {
        let mut config = block(json!({"path": "/v"}));
        config.kind = ProviderKind::new("ceph");
        assert_eq!(
            LocalConfig::from_provider_config(&config).unwrap_err().to_string(),
            "provider `default` is a `ceph` provider, not a `local` one"
        );
    }
}
