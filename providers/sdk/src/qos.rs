//! The limits of a `qos` resource as the SPEC defines them: a map from the allowed keys (`total_iops_sec`,
//! `read_bytes_sec_max`...) to positive integers, and who enforces them.
//!
//! Providers receive only back-end limits (Ceph maps them to `rbd_qos_*` image settings);
//! front-end limits are applied by the hypervisor at attach time. Checking values and key
//! combinations is the engine's job; this module names the keys so both sides agree.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Every key a `qos` resource may set.
pub const QOS_KEYS: [&str; 13] = [
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
];

/// A set of limits keyed by the names in [`QOS_KEYS`]; empty means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QosSpecs {
    /// Limit values by key.
    pub limits: BTreeMap<String, u64>,
}

impl QosSpecs {
    /// Whether `key` is one of the [`QOS_KEYS`].
    pub fn is_known_key(key: &str) -> bool {
        QOS_KEYS.contains(&key)
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The value of one limit.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.limits.get(key).copied()
    }

    /// The keys that are not [`QOS_KEYS`], in order.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        self.limits
            .keys()
            .map(String::as_str)
            .filter(|key| !Self::is_known_key(key))
    }
}

impl<K: Into<String>> FromIterator<(K, u64)> for QosSpecs {
    fn from_iter<I: IntoIterator<Item = (K, u64)>>(iter: I) -> Self {
        Self {
            limits: iter.into_iter().map(|(key, value)| (key.into(), value)).collect(),
        }
    }
}

/// The back-end QoS keys a kind of provider can enforce, declared by its crate, so that the
/// engine refuses a rule the back end could not enforce before anything is created.
#[derive(Debug, Clone, Copy)]
pub struct BackendQosSupport {
    /// The keys it enforces, in [`QOS_KEYS`] order.
    pub keys: &'static [&'static str],
    /// Why it cannot enforce a key that is not among them, as one sentence.
    pub refusal: fn(&str) -> String,
}

impl BackendQosSupport {
    /// Why `key` cannot be enforced, or `None` when it can.
    pub fn refusal_of(&self, key: &str) -> Option<String> {
        (!self.keys.contains(&key)).then(|| (self.refusal)(key))
    }
}

/// Where the limits of a `qos` resource are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QosConsumer {
    /// By the storage back end, on every volume of the associated types.
    #[default]
    #[serde(rename = "back-end")]
    BackEnd,
    /// By the hypervisor, when a volume is attached.
    #[serde(rename = "front-end")]
    FrontEnd,
    /// By both.
    #[serde(rename = "both")]
    Both,
}

impl QosConsumer {
    /// The consumer as the SPEC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BackEnd => "back-end",
            Self::FrontEnd => "front-end",
            Self::Both => "both",
        }
    }

    /// Whether the storage back end enforces the limits.
    pub fn applies_to_back_end(self) -> bool {
        matches!(self, Self::BackEnd | Self::Both)
    }

    /// Whether the hypervisor enforces the limits.
    pub fn applies_to_front_end(self) -> bool {
        matches!(self, Self::FrontEnd | Self::Both)
    }
}

impl fmt::Display for QosConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_a_plain_map() {
        let specs: QosSpecs = [("total_iops_sec", 2000), ("read_bytes_sec", 104_857_600)]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&specs).unwrap();
        assert_eq!(json, r#"{"read_bytes_sec":104857600,"total_iops_sec":2000}"#);
        assert_eq!(serde_json::from_str::<QosSpecs>(&json).unwrap(), specs);
        assert_eq!(specs.get("total_iops_sec"), Some(2000));
    }

    #[test]
    fn finds_unknown_keys() {
        let specs: QosSpecs = [("total_iops_sec", 1), ("total_iops", 1), ("iops_max", 1)]
            .into_iter()
            .collect();
        assert_eq!(specs.unknown_keys().collect::<Vec<_>>(), ["iops_max", "total_iops"]);
        assert!(QOS_KEYS.iter().all(|key| QosSpecs::is_known_key(key)));
    }

    #[test]
    fn consumers_are_spelled_as_in_the_spec() {
        for consumer in [QosConsumer::BackEnd, QosConsumer::FrontEnd, QosConsumer::Both] {
            let json = serde_json::to_string(&consumer).unwrap();
            assert_eq!(json, format!("\"{consumer}\""));
            assert_eq!(serde_json::from_str::<QosConsumer>(&json).unwrap(), consumer);
        }
        assert_eq!(QosConsumer::default(), QosConsumer::BackEnd);
        assert!(QosConsumer::Both.applies_to_back_end() && QosConsumer::Both.applies_to_front_end());
        assert!(!QosConsumer::FrontEnd.applies_to_back_end());
        assert!(!QosConsumer::BackEnd.applies_to_front_end());
    }
}
