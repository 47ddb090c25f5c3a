//! Durations as blockform's configurations write them: `24h`, `7d`, `1w`, `1h30m`, `500ms`. One
//! grammar for every duration: backup policies, the lock timeout, and provider timeouts.

use std::fmt::Write as _;
use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty text.
    #[error("a duration cannot be empty")]
    Empty,
    /// A number without a unit, or an unknown unit.
    #[error(
        "`{text}` is not a duration: use a number followed by a unit (ms, s, m, h, d, w), like `24h`, `7d` or `500ms`"
    )]
    Invalid {
        /// The text as written.
        text: String,
    },
    /// Zero.
    #[error("a duration must be longer than zero")]
    Zero,
}

/// Parses a duration made of number–unit pairs (`ms`, `s`, `m`, `h`, `d`, `w`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid { text: text.to_owned() };
    let mut total: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
        if digits == 0 {
            return Err(invalid());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(millis)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(invalid)?;
    }
    if total == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_millis(total))
}

/// Writes a duration in the grammar [`parse_duration`] reads, largest units first (`1h30m`,
/// `500ms`); a zero duration is `0s`.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut text = String::new();
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if millis >= size {
            let _ = write!(text, "{}{unit}", millis / size);
            millis %= size;
        }
    }
    text
}

/// An optional duration written as text (`"10s"`, `"2m"`) in a provider's configuration:
/// `#[serde(default, with = "blockform_provider::duration::text")]` on an `Option<Duration>`.
pub mod text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option, reason = "serde's `with` passes the field by reference")]
    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&super::format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        super::parse_duration(&text)
            .map(Some)
            .map_err(|error| serde::de::Error::custom(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn milliseconds_parse_and_every_duration_is_written_back_in_the_same_grammar() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        for text in ["500ms", "10s", "2m", "1h30m", "6d", "1w", "1w2d3h4m5s6ms"] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("0h"), Err(DurationError::Zero));
        for bad in ["7", "d", "7 days", "1y", "-1h", "1.5h"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
