//! How much room a back end has: raw capacity, free space, and how far thin provisioning has
//! promised beyond it; the rule every provider and the plan use to decide whether new volumes
//! fit ([`Capacity::shortfall`]), and what a provider block's `capacity_check` asks for.

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

/// Why requested bytes do not fit, by [`Capacity::shortfall`]'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// More than the free space times the oversubscription ratio.
    Free {
        /// The free space times the ratio.
        allowed_bytes: u64,
    },
    /// With what is provisioned already, more than the total times the ratio.
    Provisioned {
        /// The total space times the ratio.
        allowed_bytes: u64,
    },
}

impl Capacity {
    /// Whether `requested_bytes` of new volumes (or of growth) do not fit, by Cinder's
    /// thin-provisioning rule: at most the free space times `oversubscription`, and with what
    /// is provisioned already at most the total space times `oversubscription`.
    pub fn shortfall(&self, requested_bytes: u64, oversubscription: f64) -> Option<Shortfall> {
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "byte counts scaled by a ratio; 52 bits of mantissa are plenty"
        )]
        let scaled = |bytes: u64| (bytes as f64 * oversubscription) as u64;
        let free = scaled(self.free_bytes);
        let total = scaled(self.total_bytes);
        if requested_bytes > free {
            Some(Shortfall::Free { allowed_bytes: free })
        } else if self.provisioned_bytes.saturating_add(requested_bytes) > total {
            Some(Shortfall::Provisioned { allowed_bytes: total })
        } else {
            None
        }
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
    fn requests_must_fit_in_free_space_and_with_the_provisioned_in_the_total() {
        const GIB: u64 = 1 << 30;
        let capacity = Capacity {
            total_bytes: 100 * GIB,
            free_bytes: 40 * GIB,
            provisioned_bytes: 90 * GIB,
            thin_provisioned: true,
        };
        assert_eq!(
            capacity.shortfall(41 * GIB, 1.0),
            Some(Shortfall::Free {
                allowed_bytes: 40 * GIB
            })
        );
        assert_eq!(
            capacity.shortfall(20 * GIB, 1.0),
            Some(Shortfall::Provisioned {
                allowed_bytes: 100 * GIB
            })
        );
        assert_eq!(capacity.shortfall(10 * GIB, 1.0), None);
        assert_eq!(capacity.shortfall(60 * GIB, 2.0), None);
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
