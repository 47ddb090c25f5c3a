//! What the tools print with `--format json`, parsed into the few fields the provider reads:
//! snapshot lists, image metadata, changed extents (`rbd diff`), clone children, and pool
//! usage (`ceph df`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One snapshot of `rbd snap ls --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotEntry {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The image size when it was taken.
    pub size: u64,
    /// `"true"` or `"false"`.
    #[serde(default)]
    pub protected: Option<String>,
    /// When it was taken, as `ctime(3)` prints it.
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl SnapshotEntry {
    /// Whether it is protected.
    pub fn is_protected(&self) -> bool {
        self.protected.as_deref() == Some("true")
    }

    /// When it was taken, in seconds since the epoch (0 when `rbd` did not say).
    pub fn created_at_unix_secs(&self) -> u64 {
        self.timestamp.as_deref().and_then(parse_ctime).unwrap_or(0)
    }
}

/// Parses `rbd snap ls --format json IMAGE`.
pub fn parse_snapshots(stdout: &[u8]) -> Result<Vec<SnapshotEntry>, String> {
    parse("rbd snap ls", stdout)
}

/// Parses `rbd image-meta list --format json IMAGE` (an empty object when there is none; older
/// releases print nothing at all).
pub fn parse_image_meta(stdout: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(BTreeMap::new());
    }
    parse("rbd image-meta list", stdout)
}

/// One range of `rbd diff --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DiffEntry {
    /// The first byte.
    pub offset: u64,
    /// The number of bytes.
    pub length: u64,
}

/// Parses `rbd diff --format json`; ranges that became zeros (`"exists": "false"`) count as
/// changed too, since they must be written as zeros.
pub fn parse_diff(stdout: &[u8]) -> Result<Vec<DiffEntry>, String> {
    parse("rbd diff", stdout)
}

/// A clone of a snapshot, from `rbd children --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Child {
    /// The clone's pool.
    pub pool: String,
    /// The clone's namespace (empty for none).
    #[serde(default)]
    pub pool_namespace: String,
    /// The clone.
    pub image: String,
}

impl Child {
    /// `POOL[/NAMESPACE]/IMAGE` for `rbd flatten`.
    pub fn spec(&self) -> String {
        if self.pool_namespace.is_empty() {
            format!("{}/{}", self.pool, self.image)
        } else {
            format!("{}/{}/{}", self.pool, self.pool_namespace, self.image)
        }
    }
}

/// Parses `rbd children --format json SNAPSHOT`.
pub fn parse_children(stdout: &[u8]) -> Result<Vec<Child>, String> {
    parse("rbd children", stdout)
}

/// What `rbd info --format json` says about an image or snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageInfo {
    /// The size in bytes.
    pub size: u64,
    /// The snapshot a clone was made from, until it is flattened.
    #[serde(default)]
    pub parent: Option<Parent>,
}

/// The parent snapshot of a clone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Parent {
    /// Its pool.
    pub pool: String,
    /// Its namespace (empty for none).
    #[serde(default)]
    pub pool_namespace: String,
    /// Its image.
    pub image: String,
    /// The snapshot.
    pub snapshot: String,
}

/// Parses `rbd info --format json`.
pub fn parse_info(stdout: &[u8]) -> Result<ImageInfo, String> {
    parse("rbd info", stdout)
}

/// A pool's usage from `ceph df --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Bytes the pool's data occupies on the OSDs.
    pub bytes_used: u64,
    /// Bytes that can still be written to the pool, replication taken into account.
    pub max_avail: u64,
}

#[derive(Deserialize)]
struct Df {
    pools: Vec<DfPool>,
}

#[derive(Deserialize)]
struct DfPool {
    name: String,
    stats: DfStats,
}

#[derive(Deserialize)]
struct DfStats {
    #[serde(default)]
    bytes_used: u64,
    max_avail: u64,
}

/// Parses `ceph df --format json` and picks `pool`; `None` when the cluster has no such pool.
pub fn parse_pool_usage(stdout: &[u8], pool: &str) -> Result<Option<PoolUsage>, String> {
    let df: Df = parse("ceph df", stdout)?;
    Ok(df
        .pools
        .into_iter()
        .find(|entry| entry.name == pool)
        .map(|entry| PoolUsage {
            bytes_used: entry.stats.bytes_used,
            max_avail: entry.stats.max_avail,
        }))
}

fn parse<T: serde::de::DeserializeOwned>(command: &str, stdout: &[u8]) -> Result<T, String> {
    serde_json::from_slice(stdout).map_err(|error| {
        let text = String::from_utf8_lossy(stdout);
        let shown: String = text.chars().take(200).collect();
        format!("`{command} --format json` printed something that is not what it prints: {error}: {shown:?}")
    })
}

/// Parses a `ctime(3)` timestamp such as `Fri Nov 27 08:00:55 2026`, read as UTC (the
/// provider runs the tools with `TZ` unset on hosts kept in UTC; a wrong zone only shifts
/// the time shown, never the order of snapshots, which comes from their ids).
pub fn parse_ctime(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, time, year] = words[..] else {
        return None;
    };
    let month = u64::try_from(MONTHS.iter().position(|name| *name == month)? + 1).ok()?;
    let day: u64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut clock = time.split(':').map(str::parse::<u64>);
    let (Some(Ok(hours)), Some(Ok(minutes)), Some(Ok(seconds)), None) =
        (clock.next(), clock.next(), clock.next(), clock.next())
    else {
        return None;
    };
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hours * 3600 + minutes * 60 + seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = u64::try_from(year - era * 400).ok()?;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + i64::try_from(day_of_era).ok()? - 719_468;
    u64::try_from(days).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_carry_their_timestamps() {
        let stdout = br#"[{"id":4,"name":"snapshot-1","size":1073741824,"protected":"false","timestamp":"Fri Nov 27 08:00:55 2026"}]"#;
        let snapshots = parse_snapshots(stdout).unwrap();
        assert_eq!(snapshots[0].name, "snapshot-1");
        assert!(!snapshots[0].is_protected());
        assert_eq!(snapshots[0].created_at_unix_secs(), 1_795_766_455);
    }

    #[test]
    fn ctime_timestamps_are_read_as_utc() {
        assert_eq!(parse_ctime("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(parse_ctime("Tue Feb 29 12:30:01 2028"), Some(1_835_440_201));
        assert_eq!(parse_ctime("Sat Dec 31 23:59:59 2039"), Some(2_208_988_799));
        assert_eq!(parse_ctime("yesterday"), None);
        assert_eq!(parse_ctime("Fri Foo 27 08:00:55 2026"), None);
        assert_eq!(parse_ctime("Fri Nov 27 08:00 2026"), None);
    }

    #[test]
    fn image_meta_may_be_empty() {
        assert!(parse_image_meta(b"").unwrap().is_empty());
        assert!(parse_image_meta(b"{}\n").unwrap().is_empty());
        let meta = parse_image_meta(br#"{"blockform":"{}","conf_rbd_qos_iops_limit":"100"}"#).unwrap();
        assert_eq!(meta["conf_rbd_qos_iops_limit"], "100");
    }

    #[test]
    fn diff_children_info_and_df_are_read() {
        let diff = parse_diff(
            br#"[{"offset":0,"length":4194304,"exists":"true"},{"offset":8388608,"length":65536,"exists":"false"}]"#,
        )
        .unwrap();
        assert_eq!(diff[1].offset, 8 << 20);
        assert_eq!(diff[1].length, 65536);
        let children = parse_children(br#"[{"pool":"rbd","pool_namespace":"","image":"volume-b"}]"#).unwrap();
        assert_eq!(children[0].spec(), "rbd/volume-b");
        assert_eq!(parse_info(br#"{"name":"x","size":42,"format":2}"#).unwrap().size, 42);
        let clone = parse_info(br#"{"name":"c","size":1073741824,"parent":{"pool":"rbd","pool_namespace":"","image":"p","id":"187cb27b8adc","snapshot":"s","trash":false,"overlap":1073741824}}"#).unwrap();
        assert_eq!(
            clone.parent,
            Some(Parent {
                pool: "rbd".into(),
                pool_namespace: String::new(),
                image: "p".into(),
                snapshot: "s".into()
            })
        );
        let df = br#"{"stats":{"total_bytes":10737418240},"pools":[{"name":"device_health_metrics","id":1,"stats":{"stored":0,"bytes_used":0,"max_avail":9896218624}},{"name":"rbd","id":2,"stats":{"stored":19,"objects":1,"kb_used":4,"bytes_used":4096,"percent_used":4.1e-07,"max_avail":9896218624}}]}"#;
        assert_eq!(
            parse_pool_usage(df, "rbd").unwrap(),
            Some(PoolUsage {
                bytes_used: 4096,
                max_avail: 9_896_218_624
            })
        );
        assert_eq!(parse_pool_usage(df, "nope").unwrap(), None);
    }
}
