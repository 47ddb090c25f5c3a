//! What the tools print with `--format json`, parsed into the few fields the provider reads:
//! changed extents (`rbd diff`) and pool usage (`ceph df`). Everything else about images
//! comes from the worker (see [`crate::worker`]).

use serde::Deserialize;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_and_df_are_read() {
        let diff = parse_diff(
            br#"[{"offset":0,"length":4194304,"exists":"true"},{"offset":8388608,"length":65536,"exists":"false"}]"#,
        )
        .unwrap();
        assert_eq!(diff[1].offset, 8 << 20);
        assert_eq!(diff[1].length, 65536);
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
