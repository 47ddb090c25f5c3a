//! The settings of a `provider "lvm" "NAME" { ... }` block: the volume group and optional thin
//! pool, how to reach the LVM host (ssh destination, key, known hosts, `sudo`), how long to
//! wait for it, copy-on-write snapshot sizes of thick volumes, and what capacity checks do.

use std::path::PathBuf;
use std::time::Duration;

pub use blockform_provider::CapacityCheck;
use blockform_provider::{ConfigProblem, ProviderConfig, ProviderError, ProviderKind, problems_by_attribute};
use serde::{Deserialize, Serialize};

/// The kind of LVM provider blocks: `provider "lvm" "NAME" { ... }`.
pub const KIND: &str = "lvm";

/// How long the ssh connection to the host may take when the block does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one metadata command may run when the block does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The copy-on-write snapshot size of thick volumes when the block does not say: a fifth of the origin.
pub const DEFAULT_SNAPSHOT_SIZE: &str = "20%";

/// The attributes of an lvm provider block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvmConfig {
    /// The volume group holding the volumes.
    pub volume_group: String,
    /// The thin pool of the volume group the volumes are thin volumes of; linear (thick)
    /// volumes without it.
    #[serde(default)]
    pub thin_pool: Option<String>,
    /// The LVM host, reached with ssh; this machine without it.
    #[serde(default)]
    pub host: Option<String>,
    /// The ssh port; 22 (or what the ssh configuration says) without it.
    #[serde(default)]
    pub port: Option<u16>,
    /// The remote user; the ssh default without it.
    #[serde(default)]
    pub user: Option<String>,
    /// The private key to log in with.
    #[serde(default)]
    pub identity_file: Option<PathBuf>,
    /// The known-hosts file the host's key must be in (host keys are always checked).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Whether lvm commands run through `sudo -n` (for a user that is not root).
    #[serde(default)]
    pub sudo: bool,
    /// How long to wait for the ssh connection (`"10s"`).
    #[serde(default, with = "blockform_provider::duration::text")]
    pub connect_timeout: Option<Duration>,
    /// How long one metadata command may run before it is killed (`"2m"`).
    #[serde(default, with = "blockform_provider::duration::text")]
    pub timeout: Option<Duration>,
    /// The copy-on-write space of a snapshot of a thick volume: a percentage of the origin (`"20%"`) or
    /// a size in GiB (`"2"`, `"2GiB"`). A copy-on-write snapshot that overflows becomes invalid.
    #[serde(default)]
    pub snapshot_size: Option<String>,
    /// What a new thick LV's extents are cleared with before it becomes a volume (they may hold
    /// a deleted LV's data): `"zero"` (default: `blkdiscard -z`, or zeros written with `dd`) or
    /// `"none"`. Thin volumes read unwritten ranges as zeros and need nothing.
    #[serde(default)]
    pub volume_clear: Option<String>,
    /// How many bytes of volumes may be promised per free byte (thin pools only).
    #[serde(default = "default_oversubscription")]
    pub oversubscription: f64,
    /// What happens when a volume does not fit.
    #[serde(default)]
    pub capacity_check: CapacityCheck,
}

/// How much copy-on-write space a snapshot of a thick volume gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSize {
    /// A percentage of the origin's size (`lvcreate -l N%ORIGIN`).
    Percent(u8),
    /// A fixed size in GiB.
    Gib(u64),
}

impl SnapshotSize {
    /// Reads `"20%"`, `"2"` or `"2GiB"`.
    ///
    /// # Errors
    /// Why the text is not a size.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<u8>() {
                Ok(percent @ 1..=100) => Ok(Self::Percent(percent)),
                _ => Err("a percentage of the origin must be 1% to 100%".to_owned()),
            };
        }
        let number = text
            .strip_suffix("GiB")
            .or_else(|| text.strip_suffix('G'))
            .unwrap_or(text);
        match number.trim().parse::<u64>() {
            Ok(gib) if gib > 0 => Ok(Self::Gib(gib)),
            _ => Err("write a percentage of the origin (`20%`) or a whole number of GiB (`2GiB`)".to_owned()),
        }
    }

    /// The `lvcreate` arguments that size the snapshot.
    pub fn lvcreate_args(self) -> [String; 2] {
        match self {
            Self::Percent(percent) => ["-l".to_owned(), format!("{percent}%ORIGIN")],
            Self::Gib(gib) => ["-L".to_owned(), format!("{gib}g")],
        }
    }
}

impl LvmConfig {
    /// The settings for `volume_group` on this machine with every default.
    pub fn new(volume_group: impl Into<String>) -> Self {
        Self {
            volume_group: volume_group.into(),
            thin_pool: None,
            host: None,
            port: None,
            user: None,
            identity_file: None,
            known_hosts: None,
            sudo: false,
            connect_timeout: None,
            timeout: None,
            snapshot_size: None,
            volume_clear: None,
            oversubscription: default_oversubscription(),
            capacity_check: CapacityCheck::default(),
        }
    }

    /// Reads the attributes of an evaluated `provider "lvm"` block.
    pub fn from_provider_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        if config.kind.as_str() != KIND {
            return Err(ConfigError::WrongKind {
                provider: config.name.clone(),
                kind: config.kind.clone(),
            });
        }
        let lvm: Self = config.attributes_as().map_err(|source| ConfigError::Attributes {
            provider: config.name.clone(),
            source,
        })?;
        lvm.validate(&config.name)?;
        Ok(lvm)
    }

    /// [`Self::from_provider_config`] without the rules that relate attributes to `host`, for
    /// checking one attribute on its own.
    fn values_of(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let lvm: Self = config.attributes_as().map_err(|source| ConfigError::Attributes {
            provider: config.name.clone(),
            source,
        })?;
        lvm.validate_values(&config.name)?;
        Ok(lvm)
    }

    /// What is wrong with each attribute of an evaluated `provider "lvm"` block (relative paths
    /// resolved), for `validate` to show at the attribute. With `check_files`, the
    /// `identity_file` and `known_hosts` files must exist.
    pub fn problems(config: &ProviderConfig, check_files: bool) -> Vec<ConfigProblem> {
        let mut problems = problems_by_attribute(config, &[("volume_group", serde_json::json!("vg0"))], |block| {
            Self::values_of(block).map(drop).map_err(|e| e.reason())
        });
        if problems.is_empty()
            && let Ok(lvm) = Self::values_of(config)
            && let Err(error) = lvm.needs_host(&config.name)
            && let ConfigError::NeedsHost { attribute, .. } = &error
        {
            problems.push(ConfigProblem {
                attribute: Some((*attribute).to_owned()),
                message: error.reason(),
                on_this_host: false,
            });
        }
        if !check_files {
            return problems;
        }
        for attribute in ["identity_file", "known_hosts"] {
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

    /// Checks what serde cannot: names that reach the command line, the ssh destination,
    /// paths, sizes, ratios, timeouts.
    pub fn validate(&self, provider: &str) -> Result<(), ConfigError> {
        self.validate_values(provider)?;
        self.needs_host(provider)
    }

    /// Refuses ssh settings in a block without a `host`.
    fn needs_host(&self, provider: &str) -> Result<(), ConfigError> {
        if self.host.is_none() {
            for (attribute, set) in [
                ("port", self.port.is_some()),
                ("user", self.user.is_some()),
                ("identity_file", self.identity_file.is_some()),
                ("known_hosts", self.known_hosts.is_some()),
            ] {
                if set {
                    return Err(ConfigError::NeedsHost {
                        provider: provider.to_owned(),
                        attribute,
                    });
                }
            }
        }
        Ok(())
    }

    /// Every check of [`Self::validate`] that is about one attribute.
    fn validate_values(&self, provider: &str) -> Result<(), ConfigError> {
        let invalid = |attribute: &'static str, value: String, reason: &str| ConfigError::Invalid {
            provider: provider.to_owned(),
            attribute,
            value,
            reason: reason.to_owned(),
        };
        // The characters LVM allows in VG and LV names; a leading `-` would read as an option.
        for (attribute, value) in [
            ("volume_group", Some(self.volume_group.as_str())),
            ("thin_pool", self.thin_pool.as_deref()),
        ] {
            let Some(value) = value else { continue };
            if value.is_empty() || value.len() > 127 {
                return Err(invalid(attribute, value.to_owned(), "it must have 1 to 127 characters"));
            }
            if value.starts_with('-') || value == "." || value == ".." {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "it must not start with `-` or be `.` or `..`",
                ));
            }
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "LVM names use letters, digits, `.`, `_`, `-` and `+`",
                ));
            }
        }
        for (attribute, value) in [("host", self.host.as_deref()), ("user", self.user.as_deref())] {
            let Some(value) = value else { continue };
            if value.is_empty() || value.starts_with('-') {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "it must not be empty or start with `-`",
                ));
            }
            if value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
                return Err(invalid(
                    attribute,
                    value.to_owned(),
                    "it must not contain whitespace, control characters or `@`",
                ));
            }
        }
        if self.port == Some(0) {
            return Err(invalid("port", "0".to_owned(), "it must be 1 to 65535"));
        }
        for (attribute, path) in [
            ("identity_file", &self.identity_file),
            ("known_hosts", &self.known_hosts),
        ] {
            let Some(path) = path else { continue };
            match path.to_str() {
                None => {
                    return Err(invalid(
                        attribute,
                        path.to_string_lossy().into_owned(),
                        "the path must be valid UTF-8",
                    ));
                }
                Some(text) if text.is_empty() || text.starts_with('-') || text.contains(['\n', '"']) => {
                    return Err(invalid(
                        attribute,
                        text.to_owned(),
                        "the path must not be empty, start with `-` or contain `\"` or a line break",
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(size) = &self.snapshot_size
            && let Err(reason) = SnapshotSize::parse(size)
        {
            return Err(invalid("snapshot_size", size.clone(), &reason));
        }
        if let Some(clear) = &self.volume_clear
            && clear != "zero"
            && clear != "none"
        {
            return Err(invalid("volume_clear", clear.clone(), "it must be `zero` or `none`"));
        }
        if !(self.oversubscription.is_finite() && self.oversubscription > 0.0) {
            return Err(invalid(
                "oversubscription",
                self.oversubscription.to_string(),
                "it must be a positive number",
            ));
        }
        for (attribute, timeout) in [("connect_timeout", self.connect_timeout), ("timeout", self.timeout)] {
            if let Some(timeout) = timeout
                && timeout < Duration::from_secs(1)
            {
                return Err(invalid(
                    attribute,
                    blockform_provider::format_duration(timeout),
                    "it must be at least 1s",
                ));
            }
        }
        Ok(())
    }

    /// Whether new thick LVs are zeroed before they become volumes.
    pub fn clears_thick_volumes(&self) -> bool {
        self.volume_clear.as_deref() != Some("none")
    }

    /// How long to wait for the ssh connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// How long one metadata command may run.
    pub fn command_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The copy-on-write space of thick snapshots.
    pub fn snapshot_size(&self) -> SnapshotSize {
        self.snapshot_size
            .as_deref()
            .and_then(|text| SnapshotSize::parse(text).ok())
            .unwrap_or(SnapshotSize::Percent(20))
    }

    /// Where the volumes live, as messages show it: `vg0/pool on root@host:22` or `vg0`.
    pub fn location(&self) -> String {
        let placement = match &self.thin_pool {
            Some(pool) => format!("{}/{pool}", self.volume_group),
            None => self.volume_group.clone(),
        };
        match &self.host {
            Some(host) => {
                let mut remote = match &self.user {
                    Some(user) => format!("{user}@{host}"),
                    None => host.clone(),
                };
                if let Some(port) = self.port {
                    remote = format!("{remote}:{port}");
                }
                format!("{placement} on {remote}")
            }
            None => placement,
        }
    }
}

fn default_oversubscription() -> f64 {
    1.0
}

/// A provider block that cannot configure an lvm provider.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The block is for another back end.
    #[error("provider `{provider}` is a `{kind}` provider, not an `lvm` one")]
    WrongKind {
        /// The block's name.
        provider: String,
        /// Its kind.
        kind: ProviderKind,
    },
    /// An attribute is missing, unknown or of the wrong type.
    #[error("invalid attributes for lvm provider `{provider}`: {source}")]
    Attributes {
        /// The block's name.
        provider: String,
        /// What serde found.
        source: serde_json::Error,
    },
    /// An attribute has a value the back end cannot take.
    #[error("`{attribute}` of lvm provider `{provider}` cannot be `{}`: {reason}", .value.escape_debug())]
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
    /// An ssh setting without a `host` to use it for.
    #[error(
        "`{attribute}` of lvm provider `{provider}` is an ssh setting, but the block has no `host` (without one, lvm runs on this machine)"
    )]
    NeedsHost {
        /// The block's name.
        provider: String,
        /// The ssh setting.
        attribute: &'static str,
    },
    /// `BLOCKFORM_LVM_FAULT` holds something that is not a fault (see [`crate::fault`]).
    #[error("lvm provider `{provider}`: {reason}")]
    Fault {
        /// The block's name.
        provider: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// The directory of the ssh control socket could not be made.
    #[error("lvm provider `{provider}`: cannot create the directory of its ssh control socket: {source}")]
    ControlDirectory {
        /// The block's name.
        provider: String,
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
            Self::NeedsHost { .. } => {
                "it is an ssh setting, but the block has no `host` (without one, lvm runs on this machine)".to_owned()
            }
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
            name: "host1".into(),
            attributes,
        }
    }

    #[test]
    fn defaults_apply_to_a_block_with_only_a_volume_group() {
        let config = LvmConfig::from_provider_config(&block(json!({"volume_group": "vg0"}))).unwrap();
        assert_eq!(config, LvmConfig::new("vg0"));
        assert_eq!(config.connect_timeout(), Duration::from_secs(10));
        assert_eq!(config.command_timeout(), Duration::from_secs(120));
        assert_eq!(config.snapshot_size(), SnapshotSize::Percent(20));
        assert!(config.clears_thick_volumes());
        assert_eq!(config.location(), "vg0");
    }

    #[test]
    fn every_attribute_is_read() {
        let config = LvmConfig::from_provider_config(&block(json!({
            "volume_group": "vg0",
            "thin_pool": "pool",
            "host": "lvm1.example.net",
            "port": 2222,
            "user": "blockform",
            "identity_file": "/etc/blockform/id_ed25519",
            "known_hosts": "/etc/blockform/known_hosts",
            "sudo": true,
            "connect_timeout": "3s",
            "timeout": "5m",
            "snapshot_size": "2GiB",
            "oversubscription": 4,
            "capacity_check": "error",
        })))
        .unwrap();
        assert_eq!(config.location(), "vg0/pool on blockform@lvm1.example.net:2222");
        assert!(config.sudo);
        assert_eq!(config.connect_timeout(), Duration::from_secs(3));
        assert_eq!(config.command_timeout(), Duration::from_secs(300));
        assert_eq!(config.snapshot_size(), SnapshotSize::Gib(2));
        assert_eq!(config.capacity_check, CapacityCheck::Error);
        assert_eq!(SnapshotSize::parse("25%").unwrap().lvcreate_args(), ["-l", "25%ORIGIN"]);
        assert_eq!(SnapshotSize::parse("3").unwrap().lvcreate_args(), ["-L", "3g"]);
    }

    #[test]
    fn bad_blocks_are_refused_with_the_provider_name() {
        let messages: Vec<String> = [
            json!({}),
            json!({"volume_group": "vg0", "pool": "x"}),
            json!({"volume_group": "-vg"}),
            json!({"volume_group": "vg0", "thin_pool": "a b"}),
            json!({"volume_group": "vg0", "host": "-oProxyCommand=x"}),
            json!({"volume_group": "vg0", "host": "h", "user": "a@b"}),
            json!({"volume_group": "vg0", "port": 22}),
            json!({"volume_group": "vg0", "snapshot_size": "150%"}),
            json!({"volume_group": "vg0", "snapshot_size": "big"}),
            json!({"volume_group": "vg0", "timeout": "10ms"}),
            json!({"volume_group": "vg0", "oversubscription": 0}),
            json!({"volume_group": "vg0", "volume_clear": "shred"}),
        ]
        .into_iter()
        .map(|attributes| {
            LvmConfig::from_provider_config(&block(attributes))
                .unwrap_err()
                .to_string()
        })
        .collect();
        assert_eq!(
            messages,
            [
                "invalid attributes for lvm provider `host1`: missing field `volume_group`",
                "invalid attributes for lvm provider `host1`: unknown field `pool`, expected one of `volume_group`, `thin_pool`, `host`, `port`, `user`, `identity_file`, `known_hosts`, `sudo`, `connect_timeout`, `timeout`, `snapshot_size`, `volume_clear`, `oversubscription`, `capacity_check`",
                "`volume_group` of lvm provider `host1` cannot be `-vg`: it must not start with `-` or be `.` or `..`",
                "`thin_pool` of lvm provider `host1` cannot be `a b`: LVM names use letters, digits, `.`, `_`, `-` and `+`",
                "`host` of lvm provider `host1` cannot be `-oProxyCommand=x`: it must not be empty or start with `-`",
                "`user` of lvm provider `host1` cannot be `a@b`: it must not contain whitespace, control characters or `@`",
                "`port` of lvm provider `host1` is an ssh setting, but the block has no `host` (without one, lvm runs on this machine)",
                "`snapshot_size` of lvm provider `host1` cannot be `150%`: a percentage of the origin must be 1% to 100%",
                "`snapshot_size` of lvm provider `host1` cannot be `big`: write a percentage of the origin (`20%`) or a whole number of GiB (`2GiB`)",
                "`timeout` of lvm provider `host1` cannot be `10ms`: it must be at least 1s",
                "`oversubscription` of lvm provider `host1` cannot be `0`: it must be a positive number",
                "`volume_clear` of lvm provider `host1` cannot be `shred`: it must be `zero` or `none`",
            ]
        );
    }

    #[test]
    fn problems_name_the_attribute_they_are_about() {
        let problems = |attributes| {
            LvmConfig::problems(&block(attributes), true)
                .into_iter()
                .map(|p| (p.attribute.unwrap_or_default(), p.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(problems(json!({"volume_group": "vg0", "host": "h", "port": 22})), []);
        assert_eq!(
            problems(json!({"volume_group": "vg0", "user": "admin"})),
            [(
                "user".to_owned(),
                "it is an ssh setting, but the block has no `host` (without one, lvm runs on this machine)".to_owned()
            )]
        );
        assert_eq!(
            problems(
                json!({"volume_group": 3, "host": "h", "snapshot_size": "0", "identity_file": "/nonexistent/key"})
            ),
            [
                (
                    "snapshot_size".to_owned(),
                    "it cannot be `0`: write a percentage of the origin (`20%`) or a whole number of GiB (`2GiB`)"
                        .to_owned()
                ),
                (
                    "volume_group".to_owned(),
                    "invalid type: integer `3`, expected a string".to_owned()
                ),
                (
                    "identity_file".to_owned(),
                    "the file `/nonexistent/key` does not exist".to_owned()
                ),
            ]
        );
    }
}
