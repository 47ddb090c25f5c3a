//! The configuration of a libvirt provider block: the connection URI (with the ssh key and
//! known-hosts file of a `qemu+ssh://` one, as libvirt's `keyfile` and `known_hosts`
//! parameters), the machine the domains run on (the URI's host, or this machine for a local
//! URI) and how long a detach may wait.

use std::fmt::Write as _;
use std::time::Duration;

use blockform_provider::{ConfigProblem, ProviderConfig, parse_duration};

/// The kind of libvirt provider blocks.
pub const KIND: &str = "libvirt";

/// How long a detach waits for the guest to release the device when the block does not say.
pub const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(30);

/// A libvirt provider block, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtConfig {
    /// The block's name.
    pub name: String,
    /// The connection URI (`qemu:///system`, `qemu+ssh://root@kvm1/system`).
    pub uri: String,
    /// The machine the domains run on: the URI's host, or this machine's name.
    pub host: String,
    /// How long a detach waits for the device to leave the running domain.
    pub detach_timeout: Duration,
}

/// Why a libvirt provider block cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{problems}")]
pub struct ConfigError {
    problems: String,
}

impl LibvirtConfig {
    /// Reads and checks a provider block.
    pub fn from_config(config: &ProviderConfig) -> Result<Self, ConfigError> {
        let problems = Self::problems(config);
        if !problems.is_empty() {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("`{}`: {}", p.attribute.as_deref().unwrap_or("provider"), p.message))
                .collect();
            return Err(ConfigError {
                problems: text.join("; "),
            });
        }
        let mut uri = string(config, "uri").unwrap_or_default();
        for (attribute, parameter) in [("identity_file", "keyfile"), ("known_hosts", "known_hosts")] {
            if let Some(path) = string(config, attribute) {
                let separator = if uri.contains('?') { '&' } else { '?' };
                uri = format!("{uri}{separator}{parameter}={}", percent_encoded(&path));
            }
        }
        let host = uri_host(&uri).unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
        let detach_timeout = string(config, "detach_timeout")
            .and_then(|text| parse_duration(&text).ok())
            .unwrap_or(DEFAULT_DETACH_TIMEOUT);
        Ok(Self {
            name: config.name.clone(),
            uri,
            host,
            detach_timeout,
        })
    }

    /// What is wrong with the values of a block, each at its attribute.
    pub fn problems(config: &ProviderConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match string(config, "uri") {
            None => problems.push(problem("uri", "a libvirt provider needs `uri`, for example `qemu:///system`")),
            Some(uri) if uri.chars().any(char::is_control) || !uri.contains(':') => problems.push(problem(
                "uri",
                &format!(
                    "`{}` is not a libvirt connection URI (for example `qemu:///system` or `qemu+ssh://root@kvm1.example/system`)",
                    uri.escape_debug()
                ),
            )),
            Some(_) => {}
        }
        let over_ssh =
            string(config, "uri").is_some_and(|uri| uri.split("://").next().is_some_and(|s| s.ends_with("+ssh")));
        for attribute in ["identity_file", "known_hosts"] {
            if string(config, attribute).is_some() && !over_ssh {
                problems.push(problem(
                    attribute,
                    &format!("`{attribute}` is for a `qemu+ssh://` URI; this `uri` does not use ssh"),
                ));
            }
        }
        if let Some(text) = string(config, "detach_timeout")
            && let Err(error) = parse_duration(&text)
        {
            problems.push(problem("detach_timeout", &error.to_string()));
        }
        problems
    }
}

fn problem(attribute: &str, message: &str) -> ConfigProblem {
    ConfigProblem {
        attribute: Some(attribute.to_owned()),
        message: message.to_owned(),
        on_this_host: false,
    }
}

fn string(config: &ProviderConfig, key: &str) -> Option<String> {
    config
        .attributes
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// A URI query value: everything but unreserved characters and `/` percent-encoded.
fn percent_encoded(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// The host a URI connects to (`qemu+ssh://root@kvm1:22/system` → `kvm1`), `None` for a local
/// one (`qemu:///system`, `qemu+unix:///system?socket=…`).
pub fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    (!host.is_empty() && host != "localhost").then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_a_uri_is_where_its_domains_run() {
        assert_eq!(uri_host("qemu:///system"), None);
        assert_eq!(uri_host("qemu+unix:///system?socket=/tmp/lv/sock"), None);
        assert_eq!(
            uri_host("qemu+ssh://root@kvm1.example/system").as_deref(),
            Some("kvm1.example")
        );
        assert_eq!(
            uri_host("qemu+ssh://root@kvm1:2222/system?keyfile=/k").as_deref(),
            Some("kvm1")
        );
        assert_eq!(
            uri_host("qemu+tcp://[fd00::1]:16509/system").as_deref(),
            Some("fd00::1")
        );
    }

    #[test]
    fn a_block_without_a_usable_uri_says_so_at_the_attribute() {
        let config = |attributes: serde_json::Value| ProviderConfig {
            kind: KIND.into(),
            name: "kvm1".into(),
            attributes: attributes.as_object().cloned().unwrap_or_default(),
        };
        let problems = LibvirtConfig::problems(&config(serde_json::json!({"uri": "system", "detach_timeout": "soon"})));
        let attributes: Vec<&str> = problems.iter().filter_map(|p| p.attribute.as_deref()).collect();
        assert_eq!(attributes, ["uri", "detach_timeout"]);
        assert!(
            problems[0]
                .message
                .starts_with("`system` is not a libvirt connection URI")
        );
        let parsed = LibvirtConfig::from_config(&config(
            serde_json::json!({"uri": "qemu:///system", "detach_timeout": "5s"}),
        ))
        .unwrap();
        assert_eq!(parsed.detach_timeout, Duration::from_secs(5));
        assert_eq!(parsed.host, gethostname::gethostname().to_string_lossy());

        let remote = LibvirtConfig::from_config(&config(serde_json::json!({
            "uri": "qemu+ssh://root@kvm1.example/system",
            "identity_file": "/keys/id ed25519",
            "known_hosts": "/keys/known&hosts",
        })))
        .unwrap();
        assert_eq!(
            remote.uri,
            "qemu+ssh://root@kvm1.example/system?keyfile=/keys/id%20ed25519&known_hosts=/keys/known%26hosts"
        );
        assert_eq!(remote.host, "kvm1.example");
        let local_with_key = LibvirtConfig::problems(&config(serde_json::json!({
            "uri": "qemu:///system",
            "identity_file": "/keys/id",
        })));
        assert_eq!(local_with_key[0].attribute.as_deref(), Some("identity_file"));
    }
}
