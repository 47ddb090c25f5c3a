//! How much room a back end has: raw capacity, free space, and how far thin provisioning has
//! promised beyond it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The capacity of a pool, volume group or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// The raw size.
    pub total_bytes: u64,
    /// What is not yet used.
    pub free_bytes: u64,
    /// The sum of the sizes of all volumes, which thin provisioning lets exceed the total.
    pub provisioned_bytes: u64,
    /// Whether volumes take space only as they are written.
    pub thin_provisioned: bool,
}

impl Capacity {
    /// Provisioned bytes per raw byte, as Cinder's `max_over_subscription_ratio` compares it.
    pub fn oversubscription_ratio(&self) -> Option<f64> {
        if self.total_bytes == 0 {
            return None;
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "a ratio for display and thresholds; 52 bits of mantissa are plenty"
        )]
        let ratio = self.provisioned_bytes as f64 / self.total_bytes as f64;
        Some(ratio)
    }
}

/// What a provider does when a volume would not fit in its pool, volume group or directory
/// (the `capacity_check` attribute of its block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityCheck {
    /// The engine warns (a provider cannot print); the volume is created.
    #[default]
    Warn,
    /// `create_volume` and `extend_volume` refuse before touching anything.
    Error,
    /// Nothing is checked.
    Off,
}

impl CapacityCheck {
    /// The value as the configuration spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for CapacityCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let capacity = Capacity {
            total_bytes: 100 << 30,
            free_bytes: 40 << 30,
            provisioned_bytes: 250 << 30,
            thin_provisioned: true,
        };
        let json = serde_json::to_string(&capacity).unwrap();
        assert_eq!(serde_json::from_str::<Capacity>(&json).unwrap(), capacity);
        assert_eq!(capacity.oversubscription_ratio(), Some(2.5));
    }

    #[test]
    fn an_empty_back_end_has_no_ratio() {
        let capacity = Capacity {
            total_bytes: 0,
            free_bytes: 0,
            provisioned_bytes: 0,
            thin_provisioned: false,
        };
        assert_eq!(capacity.oversubscription_ratio(), None);
    }
}
