//! Reading `lvs` and `vgs` reports (`--reportformat json --units b --nosuffix`): the fields the
//! provider asks for, as plain structs. One `lvs` of the volume group lists every LV with its
//! size, tags, origin, pool and usage, which is all a refresh, an inventory or a capacity check
//! needs.

use serde::Deserialize;

/// The `lvs -o` fields the provider reads.
pub const LV_FIELDS: &str =
    "lv_name,lv_size,lv_tags,lv_attr,origin,pool_lv,data_percent,lv_time,segtype,thin_id,chunk_size,discards";

/// The `vgs -o` fields the provider reads.
pub const VG_FIELDS: &str = "vg_name,vg_size,vg_free,vg_extent_size";

/// One logical volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Lv {
    /// Its name (hidden LVs are not listed).
    pub name: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its tags, as LVM sorts them.
    pub tags: Vec<String>,
    /// `lv_attr`, ten characters (`Vwi-a-tz--`).
    pub attr: String,
    /// The LV it is a snapshot of, if any.
    pub origin: Option<String>,
    /// The thin pool it lives in, if it is a thin volume.
    pub pool: Option<String>,
    /// How full it is in percent (thin volumes, thin pools, copy-on-write snapshots).
    pub data_percent: Option<f64>,
    /// When it was created, in seconds since the epoch.
    pub created_at_unix_secs: u64,
    /// `linear`, `thin`, `thin-pool`, `snapshot`, ...
    pub segtype: String,
    /// The thin device id in its pool (thin volumes), as `thin_delta` names devices.
    pub thin_id: Option<u64>,
    /// The chunk size of a thin pool (what a discard unmaps at least).
    pub chunk_bytes: Option<u64>,
    /// What a thin pool does with discards: `passdown`, `nopassdown` or `ignore`.
    pub discards: String,
}

impl Lv {
    /// Whether it is a thin pool.
    pub fn is_thin_pool(&self) -> bool {
        self.attr.starts_with('t')
    }

    /// Whether it is a thin volume.
    pub fn is_thin(&self) -> bool {
        self.pool.is_some()
    }

    /// Whether it is open (a device is using it).
    pub fn is_open(&self) -> bool {
        self.attr.chars().nth(5) == Some('o')
    }

    /// Whether it is an invalid (overflowed) copy-on-write snapshot.
    pub fn is_invalid_snapshot(&self) -> bool {
        self.attr.starts_with('s') && self.attr.chars().nth(4) == Some('I')
    }

    /// The bytes written into it, for thin volumes.
    pub fn allocated_bytes(&self) -> Option<u64> {
        if !self.is_thin() {
            return None;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a percentage of a byte count, for display"
        )]
        self.data_percent
            .map(|percent| (self.size_bytes as f64 * percent / 100.0) as u64)
    }
}

/// A volume group's space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vg {
    /// Its size.
    pub size_bytes: u64,
    /// Its unallocated space.
    pub free_bytes: u64,
    /// The extent size, the unit every LV is rounded up to.
    pub extent_bytes: u64,
}

#[derive(Deserialize)]
struct Report<T> {
    report: Vec<T>,
}

#[derive(Deserialize)]
struct LvSection {
    #[serde(default)]
    lv: Vec<RawLv>,
}

#[derive(Deserialize)]
struct VgSection {
    #[serde(default)]
    vg: Vec<RawVg>,
}

#[derive(Deserialize)]
struct RawLv {
    lv_name: String,
    lv_size: String,
    #[serde(default)]
    lv_tags: String,
    #[serde(default)]
    lv_attr: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    pool_lv: String,
    #[serde(default)]
    data_percent: String,
    #[serde(default)]
    lv_time: String,
    #[serde(default)]
    segtype: String,
    #[serde(default)]
    thin_id: String,
    #[serde(default)]
    chunk_size: String,
    #[serde(default)]
    discards: String,
}

#[derive(Deserialize)]
#[expect(clippy::struct_field_names, reason = "the names of the `vgs` report's fields")]
struct RawVg {
    vg_size: String,
    vg_free: String,
    vg_extent_size: String,
}

/// Reads an `lvs` report; hidden LVs (`[pool_tdata]`) are left out.
///
/// # Errors
/// What is wrong with the text.
pub fn parse_lvs(json: &[u8]) -> Result<Vec<Lv>, String> {
    let report: Report<LvSection> =
        serde_json::from_slice(json).map_err(|error| format!("cannot read the `lvs` report: {error}"))?;
    let mut lvs = Vec::new();
    for raw in report.report.into_iter().flat_map(|section| section.lv) {
        if raw.lv_name.starts_with('[') {
            continue;
        }
        let size_bytes = bytes(&raw.lv_size).ok_or_else(|| format!("`lvs` reports the size `{}`", raw.lv_size))?;
        let optional = |text: String| Some(text).filter(|text| !text.is_empty());
        lvs.push(Lv {
            name: raw.lv_name,
            size_bytes,
            tags: raw
                .lv_tags
                .split(',')
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            attr: raw.lv_attr,
            origin: optional(raw.origin),
            pool: optional(raw.pool_lv),
            data_percent: raw.data_percent.trim().parse().ok(),
            created_at_unix_secs: unix_secs(&raw.lv_time).unwrap_or(0),
            segtype: raw.segtype,
            thin_id: raw.thin_id.trim().parse().ok(),
            chunk_bytes: bytes(&raw.chunk_size).filter(|&bytes| bytes > 0),
            discards: raw.discards,
        });
    }
    Ok(lvs)
}

/// The ranges `thin_delta` reports, in bytes: what differs between its two devices (`different`,
/// `left_only`, `right_only`) or, for a device compared with itself, what is mapped (`same`).
///
/// # Errors
/// What is wrong with the text.
pub fn parse_thin_delta(xml: &[u8], changed: bool) -> Result<Vec<(u64, u64)>, String> {
    let text = String::from_utf8_lossy(xml);
    let block_sectors = attribute(&text, "data_block_size")
        .ok_or_else(|| "the `thin_delta` output has no `data_block_size`".to_owned())?;
    let block_bytes = block_sectors * 512;
    let kinds: &[&str] = if changed {
        &["<different ", "<left_only ", "<right_only "]
    } else {
        &["<same "]
    };
    let mut ranges = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if !kinds.iter().any(|kind| line.starts_with(kind)) {
            continue;
        }
        let begin = attribute(line, "begin").ok_or_else(|| format!("`thin_delta` wrote `{line}`"))?;
        let length = attribute(line, "length").ok_or_else(|| format!("`thin_delta` wrote `{line}`"))?;
        ranges.push((begin * block_bytes, length * block_bytes));
    }
    Ok(ranges)
}

/// The number in `NAME="N"` of an XML tag.
fn attribute(text: &str, name: &str) -> Option<u64> {
    let start = text.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + text[start..].find('"')?;
    text[start..end].parse().ok()
}

/// Reads a `vgs` report of one volume group.
///
/// # Errors
/// What is wrong with the text.
pub fn parse_vgs(json: &[u8]) -> Result<Vg, String> {
    let report: Report<VgSection> =
        serde_json::from_slice(json).map_err(|error| format!("cannot read the `vgs` report: {error}"))?;
    let raw = report
        .report
        .into_iter()
        .flat_map(|section| section.vg)
        .next()
        .ok_or_else(|| "the `vgs` report lists no volume group".to_owned())?;
    let field = |text: &str| bytes(text).ok_or_else(|| format!("`vgs` reports the size `{text}`"));
    Ok(Vg {
        size_bytes: field(&raw.vg_size)?,
        free_bytes: field(&raw.vg_free)?,
        extent_bytes: field(&raw.vg_extent_size)?,
    })
}

/// A size in bytes as `--units b --nosuffix` writes it (sometimes with a `B`).
fn bytes(text: &str) -> Option<u64> {
    text.trim().trim_end_matches('B').parse().ok()
}

/// `2026-12-05 20:57:32 +0000` in seconds since the epoch.
fn unix_secs(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next().unwrap_or("+0000");
    let mut date = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone = zone.trim_start_matches(['+', '-']);
    let offset = zone.get(..2)?.parse::<i64>().ok()? * 3600 + zone.get(2..4)?.parse::<i64>().ok()? * 60;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - sign * offset;
    u64::try_from(seconds).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const LVS: &str = r#"  {
      "report": [
          {
              "lv": [
                  {"lv_name":"[lvol0_pmspare]", "lv_size":"4194304", "lv_tags":"", "lv_attr":"ewi-------", "origin":"", "pool_lv":"", "data_percent":"", "lv_time":"2026-12-05 20:57:32 +0000", "segtype":"linear"},
                  {"lv_name":"pool", "lv_size":"4290772992", "lv_tags":"", "lv_attr":"twi-aotz--", "origin":"", "pool_lv":"", "data_percent":"1.50", "lv_time":"2026-12-05 20:57:32 +0000", "segtype":"thin-pool", "chunk_size":"65536", "discards":"passdown"},
                  {"lv_name":"volume-1", "lv_size":"1073741824", "lv_tags":"a,blockform", "lv_attr":"Vwi-a-tz--", "origin":"", "pool_lv":"pool", "data_percent":"25.00", "lv_time":"2026-12-05 21:00:00 +0100", "segtype":"thin", "thin_id":"7"}
              ]
          }
      ]
  }"#;

    #[test]
    fn lvs_reports_read_without_hidden_volumes() {
        let lvs = parse_lvs(LVS.as_bytes()).unwrap();
        assert_eq!(lvs.len(), 2);
        assert!(lvs[0].is_thin_pool());
        let volume = &lvs[1];
        assert_eq!(volume.tags, ["a", "blockform"]);
        assert_eq!(volume.thin_id, Some(7));
        assert_eq!(lvs[0].thin_id, None);
        assert_eq!(lvs[0].chunk_bytes, Some(65536));
        assert_eq!(volume.chunk_bytes, None);
        assert!(volume.is_thin() && !volume.is_open());
        assert_eq!(volume.allocated_bytes(), Some(1 << 28));
        assert_eq!(volume.created_at_unix_secs, 1_796_500_800);
        assert_eq!(unix_secs("1970-01-01 00:00:00 +0000"), Some(0));
        assert!(parse_lvs(b"{").unwrap_err().starts_with("cannot read the `lvs` report"));
    }

    #[test]
    fn thin_delta_ranges_read_in_bytes() {
        let xml = br#"<superblock uuid="" time="15" transaction="74" data_block_size="128" nr_data_blocks="0">
  <diff left="2" right="1">
    <different begin="10" length="1"/>
    <same begin="11" length="2"/>
    <right_only begin="100" length="1"/>
    <left_only begin="200" length="3"/>
  </diff>
</superblock>"#;
        let block = 64 * 1024;
        assert_eq!(
            parse_thin_delta(xml, true).unwrap(),
            [(10 * block, block), (100 * block, block), (200 * block, 3 * block)]
        );
        assert_eq!(parse_thin_delta(xml, false).unwrap(), [(11 * block, 2 * block)]);
        assert!(parse_thin_delta(b"<diff>", true).is_err());
    }

    #[test]
    fn vgs_reports_read() {
        let vg = parse_vgs(
            br#"{"report":[{"vg":[{"vg_name":"vg0","vg_size":"8585740288","vg_free":"4286578688","vg_extent_size":"4194304"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            vg,
            Vg {
                size_bytes: 8_585_740_288,
                free_bytes: 4_286_578_688,
                extent_bytes: 4_194_304
            }
        );
        assert!(parse_vgs(br#"{"report":[{"vg":[]}]}"#).is_err());
    }
}
