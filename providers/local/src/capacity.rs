//! The room in the provider's directory: free and total space of its file system (from one
//! `df` call, since reading `statvfs` would need unsafe code), and the check of a requested
//! size against it under the configured oversubscription.

use std::fmt;

use blockform_provider::{Capacity, GIB};

/// The argv that reports the available and total bytes of the file system holding `path`.
pub fn df_argv(path: &str) -> [&str; 5] {
    ["df", "--output=avail,size", "-B1", "--", path]
}

/// Parses what [`df_argv`] prints: a header line, then available and total bytes.
pub fn parse_df(stdout: &[u8]) -> Result<(u64, u64), String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .nth(1)
        .ok_or_else(|| format!("`df` printed no data line: {:?}", text.trim()))?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("`df` printed {line:?}, which is not two numbers: {error}"))?;
    match numbers[..] {
        [available, total] => Ok((available, total)),
        _ => Err(format!("`df` printed {line:?}, not two numbers")),
    }
}

/// A volume that does not fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityShortfall {
    /// The bytes asked for (a new volume's size, or what an extension adds).
    pub requested_bytes: u64,
    /// The space the directory's file system had.
    pub capacity: Capacity,
    /// The oversubscription ratio of the provider block.
    pub oversubscription: f64,
}

impl fmt::Display for CapacityShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Capacity {
            total_bytes,
            free_bytes,
            provisioned_bytes,
            ..
        } = self.capacity;
        write!(
            f,
            "{} GiB do not fit: {} GiB free and {} GiB already provisioned of {} GiB, \
             with an oversubscription of {}",
            gib(self.requested_bytes),
            gib(free_bytes),
            gib(provisioned_bytes),
            gib(total_bytes),
            self.oversubscription
        )
    }
}

/// Checks that `requested_bytes` fit, by the SDK's rule ([`Capacity::shortfall`]).
pub fn check(capacity: Capacity, requested_bytes: u64, oversubscription: f64) -> Result<(), CapacityShortfall> {
    let fits = capacity.shortfall(requested_bytes, oversubscription).is_none();
    if fits {
        Ok(())
    } else {
        Err(CapacityShortfall {
            requested_bytes,
            capacity,
            oversubscription,
        })
    }
}

/// Bytes as GiB with one decimal, for messages.
fn gib(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a rounded figure for people to read")]
    let gib = bytes as f64 / GIB as f64;
    format!("{gib:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(total_gib: u64, free_gib: u64, provisioned_gib: u64) -> Capacity {
        Capacity {
            total_bytes: total_gib * GIB,
            free_bytes: free_gib * GIB,
            provisioned_bytes: provisioned_gib * GIB,
            thin_provisioned: true,
        }
    }

    #[test]
    fn parses_df_output() {
        let stdout = b"      Avail    1B-blocks\n79667179520 270553174016\n";
        assert_eq!(parse_df(stdout), Ok((79_667_179_520, 270_553_174_016)));
        assert_eq!(
            parse_df(b"Avail 1B-blocks\n"),
            Err("`df` printed no data line: \"Avail 1B-blocks\"".to_owned())
        );
        assert!(parse_df(b"h\n12 x\n").is_err());
        assert!(parse_df(b"h\n12\n").is_err());
    }

    #[test]
    fn a_volume_must_fit_in_free_space_times_the_ratio() {
        assert_eq!(check(capacity(100, 40, 0), 40 * GIB, 1.0), Ok(()));
        let shortfall = check(capacity(100, 40, 0), 41 * GIB, 1.0).unwrap_err();
        assert_eq!(
            shortfall.to_string(),
            "41.0 GiB do not fit: 40.0 GiB free and 0.0 GiB already provisioned of 100.0 GiB, \
             with an oversubscription of 1"
        );
        assert_eq!(check(capacity(100, 40, 0), 80 * GIB, 2.0), Ok(()));
    }

    #[test]
    fn provisioned_volumes_count_against_the_total() {
        // Thin volumes used little space, but 90 GiB are promised already.
        assert!(check(capacity(100, 95, 90), 20 * GIB, 1.0).is_err());
        assert_eq!(check(capacity(100, 95, 90), 20 * GIB, 1.5), Ok(()));
    }
}
