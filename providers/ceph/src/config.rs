//! The settings of a `provider "ceph" "NAME" { ... }` block: the pool, how to reach and
//! authenticate to the cluster, how long to wait for it, and what clones and capacity checks do.

use std::path::PathBuf;
use std::time::Duration;

pub use blockform_provider::CapacityCheck;
use blockform_provider::{ConfigProblem, ProviderConfig, ProviderError, ProviderKind, problems_by_attribute};
use serde::{Deserialize, Serialize};

/// The kind of Ceph provider blocks: `provider "ceph" "NAME" { ... }`.
pub const KIND: &str = "ceph";

/// How long a cluster may take to answer when the block does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one metadata command may run when the block does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The attributes of a ceph provider block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CephConfig {
    /// The RBD pool holding the volumes.
    pub pool: String,
    /// The RBD namespace of the pool the volumes live in (`rbd namespace create`), to share
    /// a pool between tenants; the pool's default namespace without it.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The cluster configuration file (`--conf`); the Ceph default search path without it.
    #[serde(default)]
    pub conf: Option<PathBuf>,
    /// The cephx user without the `client.` prefix (`--id`); `admin` without it.
    #[serde(default)]
    pub user: Option<String>,
    /// The keyring holding the user's key (`--keyring`).
    #[serde(default)]
    pub keyring: Option<PathBuf>,
    /// The cluster name (`--cluster`), which picks `/etc/ceph/<cluster>.conf`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Whether a volume made from a snapshot or volume is flattened (independent of its
    /// source) right away; without it the clone shares data until its parent is deleted.
    #[serde(default = "default_true")]
    pub flatten_clones: bool,
    /// How long to wait for the monitors before a command fails (`"10s"`).
    #[serde(default, with = "blockform_provider::duration::text")]
    pub connect_timeout: Option<Duration>,
    /// How long one metadata command may run before it is killed (`"2m"`).
    #[serde(default, with = "blockform_provider::duration::text")]
    pub timeout: Option<Duration>,
    /// How many bytes of volumes may be promised per free byte of the pool (images are thin).
    #[serde(default = "default_oversubscription")]
    pub oversubscription: f64,
    /// What happens when a volume does not fit in the pool.
    #[serde(default)]
    pub capacity_check: CapacityCheck,
}

impl CephConfig {
    /// The settings for `pool` with every default.
    pub fn new(pool: impl Into<String>) -> Self {
        Self {
            pool: pool.into(),
            namespace: None,
            conf: None,
            user: None,
            keyring: None,
            cluster: None,
            flatten_clones: true,
            connect_timeout: None,
            timeout: None,
            oversubscription: default_oversubscription(),
            capacity_check: CapacityCheck::default(),
        }
    }

    /// Reads the attributes of an evaluated `provider "ceph"` block.
    pub fn from_provider_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        if config.kind.as_str() != KIND {
            return Err(ConfigError::WrongKind {
                provider: config.name.clone(),
                kind: config.kind.clone(),
            });
        }
        let ceph: Self = config.attributes_as().map_err(|source| ConfigError::Attributes {
            provider: config.name.clone(),
            source,
        })?;
        ceph.validate(&config.name)?;
        Ok(ceph)
    }

    /// What is wrong with each attribute of an evaluated `provider "ceph"` block (relative paths
    /// resolved), for `validate` to show at the attribute. With `check_files`, the `conf` and
    /// `keyring` files must exist and be regular files.
    pub fn problems(config: &ProviderConfig, check_files: bool) -> Vec<ConfigProblem> {
        let mut problems = problems_by_attribute(config, &[("pool", serde_json::json!("volumes"))], |block| {
            Self::from_provider_config(block).map(drop).map_err(|e| e.reason())
        });
        if !check_files {
            return problems;
        }
        for attribute in ["conf", "keyring"] {
            let Some(serde_json::Value::String(path)) = config.attributes.get(attribute) else {
                continue;
            };
            if problems.iter().any(|p| p.attribute.as_deref() == Some(attribute)) {
                continue;
            }
            let problem = match std::fs::metadata(path) {
                Ok(metadata) if metadata.is_file() => continue,
                Ok(_) => format!("`{path}` is not a regular file"),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    format!("the file `{path}` does not exist")
                }
                Err(error) => format!("the file `{path}` cannot be read: {error}"),
            };
            problems.push(ConfigProblem {
                attribute: Some(attribute.to_owned()),
                message: problem,
                on_this_host: true,
            });
        }
        problems
    }

    /// Checks what serde cannot: names that reach the command line, paths, ratios, timeouts.
    pub fn validate(&self, provider: &str) -> Result<(), ConfigError> {
        let invalid = |attribute: &'static str, value: String, reason: &str| ConfigError::Invalid {
            provider: provider.to_owned(),
            attribute,
            value,
            reason: reason.to_owned(),
        };
        // Pool, namespace, user and cluster names become single argv words of rbd/ceph; these
        // are the characters Ceph itself allows in them, and a leading `-` would read as an
        // option.
        for (attribute, value) in [
            ("pool", Some(self.pool.as_str())),
            ("namespace", self.namespace.as_deref()),
            ("user", self.user.as_deref()),
            ("cluster", self.cluster.as_deref()),
        ] {
            let Some(value) = value else { continue };
            if value.is_empty() || value.len() > 128 {
                return Err(invalid(attribute, value.to_owned(), "it must have 1 to 128 characters"));
            }
            if value.starts_with(['-', '.']) {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "it must not start with `-` or `.`",
                ));
            }
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "use letters, digits, `.`, `_` and `-`",
                ));
            }
        }
        if self.user.as_deref().is_some_and(|user| user.starts_with("client.")) {
            return Err(invalid(
                "user",
                self.user.clone().unwrap_or_default(),
                "give the user without the `client.` prefix (`admin`, not `client.admin`)",
            ));
        }
        for (attribute, path) in [("conf", &self.conf), ("keyring", &self.keyring)] {
            let Some(path) = path else { continue };
            match path.to_str() {
                None => {
                    return Err(invalid(
                        attribute,
                        path.to_string_lossy().into_owned(),
                        "the path must be valid UTF-8",
                    ));
                }
                Some(text) if text.is_empty() || text.starts_with('-') => {
                    return Err(invalid(
                        attribute,
                        text.to_owned(),
                        "the path must not be empty or start with `-`",
                    ));
                }
                Some(_) => {}
            }
        }
        if !(self.oversubscription.is_finite() && self.oversubscription > 0.0) {
            return Err(invalid(
                "oversubscription",
                self.oversubscription.to_string(),
                "it must be a positive number",
            ));
        }
        for (attribute, timeout) in [("connect_timeout", self.connect_timeout), ("timeout", self.timeout)] {
            if timeout.is_some_and(|timeout| timeout < Duration::from_secs(1)) {
                return Err(invalid(
                    attribute,
                    humantime::format_duration(timeout.unwrap_or_default()).to_string(),
                    "it must be at least 1s",
                ));
            }
        }
        Ok(())
    }

    /// How long to wait for the monitors.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// How long one metadata command may run.
    pub fn command_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

fn default_true() -> bool {
    true
}

fn default_oversubscription() -> f64 {
    1.0
}

/// A provider block that cannot configure a ceph provider.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The block is for another back end.
    #[error("provider `{provider}` is a `{kind}` provider, not a `ceph` one")]
    WrongKind {
        /// The block's name.
        provider: String,
        /// Its kind.
        kind: ProviderKind,
    },
    /// An attribute is missing, unknown or of the wrong type.
    #[error("invalid attributes for ceph provider `{provider}`: {source}")]
    Attributes {
        /// The block's name.
        provider: String,
        /// What serde found.
        source: serde_json::Error,
    },
    /// An attribute has a value the back end cannot take.
    #[error("`{attribute}` of ceph provider `{provider}` cannot be `{}`: {reason}", .value.escape_debug())]
    Invalid {
        /// The block's name.
        provider: String,
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// `BLOCKFORM_CEPH_FAULT` holds something that is not a fault (see [`crate::fault`]).
    #[error("ceph provider `{provider}`: {reason}")]
    Fault {
        /// The block's name.
        provider: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A file the block names does not exist.
    #[error("the `{attribute}` file `{}` of ceph provider `{provider}` cannot be read: {source}", .path.display())]
    File {
        /// The block's name.
        provider: String,
        /// `conf` or `keyring`.
        attribute: &'static str,
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
            Self::Invalid { value, reason, .. } => format!("it cannot be `{}`: {reason}", value.escape_debug()),
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
            name: "ssd".into(),
            attributes,
        }
    }

    #[test]
    fn defaults_apply_to_a_block_with_only_a_pool() {
        let config = CephConfig::from_provider_config(&block(json!({"pool": "volumes"}))).unwrap();
        assert_eq!(config, CephConfig::new("volumes"));
        assert!(config.flatten_clones);
        assert_eq!(config.connect_timeout(), Duration::from_secs(10));
        assert_eq!(config.command_timeout(), Duration::from_secs(120));
        assert_eq!(config.capacity_check, CapacityCheck::Warn);
    }

    #[test]
    fn every_attribute_is_read() {
        let config = CephConfig::from_provider_config(&block(json!({
            "pool": "volumes-ssd",
            "namespace": "tenant-a",
            "conf": "/etc/ceph/ceph.conf",
            "user": "cinder",
            "keyring": "/etc/ceph/ceph.client.cinder.keyring",
            "cluster": "ceph",
            "flatten_clones": false,
            "connect_timeout": "3s",
            "timeout": "5m",
            "oversubscription": 20,
            "capacity_check": "error",
        })))
        .unwrap();
        assert_eq!(
            config.conf.as_deref(),
            Some(std::path::Path::new("/etc/ceph/ceph.conf"))
        );
        assert_eq!(config.user.as_deref(), Some("cinder"));
        assert_eq!(config.namespace.as_deref(), Some("tenant-a"));
        assert_eq!(config.cluster.as_deref(), Some("ceph"));
        assert!(!config.flatten_clones);
        assert_eq!(config.connect_timeout(), Duration::from_secs(3));
        // The grammar of every blockform duration, as policies write them.
        let compact = CephConfig::from_provider_config(&block(json!({"pool": "v", "timeout": "1m30s"}))).unwrap();
        assert_eq!(compact.timeout, Some(Duration::from_secs(90)));
        assert_eq!(config.command_timeout(), Duration::from_secs(300));
        assert!((config.oversubscription - 20.0).abs() < f64::EPSILON);
        assert_eq!(config.capacity_check, CapacityCheck::Error);
    }

    #[test]
    fn bad_blocks_are_refused_with_the_provider_name() {
        let messages: Vec<String> = [
            json!({}),
            json!({"pool": "v", "path": "/x"}),
            json!({"pool": "-v"}),
            json!({"pool": "a b"}),
            json!({"pool": "v", "namespace": "a/b"}),
            json!({"pool": "v", "user": "client.admin"}),
            json!({"pool": "v", "cluster": "$(x)"}),
            json!({"pool": "v", "conf": "-c"}),
            json!({"pool": "v", "connect_timeout": "soon"}),
            json!({"pool": "v", "timeout": "10ms"}),
            json!({"pool": "v", "oversubscription": 0}),
        ]
        .into_iter()
        .map(|attributes| {
            CephConfig::from_provider_config(&block(attributes))
                .unwrap_err()
                .to_string()
        })
        .collect();
        assert_eq!(
            messages,
            [
                "invalid attributes for ceph provider `ssd`: missing field `pool`",
                "invalid attributes for ceph provider `ssd`: unknown field `path`, expected one of `pool`, `namespace`, `conf`, `user`, `keyring`, `cluster`, `flatten_clones`, `connect_timeout`, `timeout`, `oversubscription`, `capacity_check`",
                "`pool` of ceph provider `ssd` cannot be `-v`: it must not start with `-` or `.`",
                "`pool` of ceph provider `ssd` cannot be `a b`: use letters, digits, `.`, `_` and `-`",
                "`namespace` of ceph provider `ssd` cannot be `a/b`: use letters, digits, `.`, `_` and `-`",
                "`user` of ceph provider `ssd` cannot be `client.admin`: give the user without the `client.` prefix (`admin`, not `client.admin`)",
                "`cluster` of ceph provider `ssd` cannot be `$(x)`: use letters, digits, `.`, `_` and `-`",
                "`conf` of ceph provider `ssd` cannot be `-c`: the path must not be empty or start with `-`",
                "invalid attributes for ceph provider `ssd`: `soon` is not a duration: use a number followed by a unit (ms, s, m, h, d, w), like `24h`, `7d` or `500ms`",
                "`timeout` of ceph provider `ssd` cannot be `10ms`: it must be at least 1s",
                "`oversubscription` of ceph provider `ssd` cannot be `0`: it must be a positive number",
            ]
        );
    }

    #[test]
    fn problems_name_the_attribute_they_are_about() {
        let problems = |attributes, check_files| {
            CephConfig::problems(&block(attributes), check_files)
                .into_iter()
                .map(|p| (p.attribute.unwrap_or_default(), p.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(problems(json!({"pool": "v", "user": "cinder"}), true), []);
        assert_eq!(
            problems(
                json!({"pool": true, "user": "client.admin", "conf": "/nonexistent/ceph.conf", "keyring": "/"}),
                true
            ),
            [
                (
                    "pool".to_owned(),
                    "invalid type: boolean `true`, expected a string".to_owned()
                ),
                (
                    "user".to_owned(),
                    "it cannot be `client.admin`: give the user without the `client.` prefix (`admin`, not \
                     `client.admin`)"
                        .to_owned()
                ),
                (
                    "conf".to_owned(),
                    "the file `/nonexistent/ceph.conf` does not exist".to_owned()
                ),
                ("keyring".to_owned(), "`/` is not a regular file".to_owned()),
            ]
        );
        assert_eq!(
            problems(json!({"pool": "v", "conf": "/nonexistent/ceph.conf"}), false),
            [],
            "files are checked only when asked"
        );
    }

    #[test]
    fn a_block_of_another_kind_is_refused() {
        let mut config = block(json!({"pool": "v"}));
        config.kind = ProviderKind::new("local");
        assert_eq!(
            CephConfig::from_provider_config(&config).unwrap_err().to_string(),
            "provider `ssd` is a `local` provider, not a `ceph` one"
        );
    }
}
