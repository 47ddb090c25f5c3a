//! Back-end QoS on RBD: each key of a `qos` rule becomes one per-image `rbd_qos_*` setting
//! (`rbd config image set`), which librbd enforces for every client of the image.

use std::collections::BTreeMap;

use blockform_provider::{BackendQosSupport, QosSpecs};

/// The RBD image setting of each QoS key, in the order of `QOS_KEYS`.
pub const RBD_QOS_SETTINGS: [(&str, &str); 12] = [
    ("total_bytes_sec", "rbd_qos_bps_limit"),
    ("read_bytes_sec", "rbd_qos_read_bps_limit"),
    ("write_bytes_sec", "rbd_qos_write_bps_limit"),
    ("total_iops_sec", "rbd_qos_iops_limit"),
    ("read_iops_sec", "rbd_qos_read_iops_limit"),
    ("write_iops_sec", "rbd_qos_write_iops_limit"),
    ("total_bytes_sec_max", "rbd_qos_bps_burst"),
    ("read_bytes_sec_max", "rbd_qos_read_bps_burst"),
    ("write_bytes_sec_max", "rbd_qos_write_bps_burst"),
    ("total_iops_sec_max", "rbd_qos_iops_burst"),
    ("read_iops_sec_max", "rbd_qos_read_iops_burst"),
    ("write_iops_sec_max", "rbd_qos_write_iops_burst"),
];

/// The QoS keys RBD enforces: the first of each pair of [`RBD_QOS_SETTINGS`].
pub const BACKEND_QOS_KEYS: [&str; RBD_QOS_SETTINGS.len()] = {
    let mut keys = [""; RBD_QOS_SETTINGS.len()];
    let mut index = 0;
    while index < keys.len() {
        keys[index] = RBD_QOS_SETTINGS[index].0;
        index += 1;
    }
    keys
};

/// What the Ceph provider enforces as back-end QoS, for the engine to check rules against
/// before anything is created.
pub const BACKEND_QOS: BackendQosSupport = BackendQosSupport {
    keys: &BACKEND_QOS_KEYS,
    refusal,
};

/// Why RBD cannot enforce `key`.
pub fn refusal(key: &str) -> String {
    if key == "size_iops_sec" {
        "`size_iops_sec` has no RBD equivalent (librbd limits are per image, not per GiB); use it with \
         `consumer = \"front-end\"`"
            .to_owned()
    } else {
        format!("`{key}` is not a QoS key RBD can enforce")
    }
}

/// The prefix under which `rbd config image set` stores a setting in the image metadata.
pub const CONFIG_META_PREFIX: &str = "conf_";

/// The RBD setting of a QoS key, or `None` for a key RBD cannot enforce.
pub fn rbd_setting(key: &str) -> Option<&'static str> {
    RBD_QOS_SETTINGS
        .iter()
        .find(|(qos_key, _)| *qos_key == key)
        .map(|(_, setting)| *setting)
}

/// Checks that RBD can enforce every key of `specs` and returns the settings to make.
pub fn to_settings(specs: &QosSpecs) -> Result<BTreeMap<&'static str, u64>, String> {
    let mut settings = BTreeMap::new();
    for (key, value) in &specs.limits {
        let Some(setting) = rbd_setting(key) else {
            return Err(refusal(key));
        };
        if *value == 0 {
            return Err(format!("`{key}` must be a positive number, not 0"));
        }
        settings.insert(setting, *value);
    }
    Ok(settings)
}

/// The QoS limits an image holds, read from its metadata (`conf_rbd_qos_*` entries); settings
/// of 0 mean no limit and are left out, like settings blockform has no key for.
pub fn from_image_meta(meta: &BTreeMap<String, String>) -> QosSpecs {
    RBD_QOS_SETTINGS
        .iter()
        .filter_map(|(key, setting)| {
            let value: u64 = meta
                .get(&format!("{CONFIG_META_PREFIX}{setting}"))?
                .trim()
                .parse()
                .ok()?;
            (value > 0).then_some((*key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use blockform_provider::QOS_KEYS;

    use super::*;

    #[test]
    fn every_limit_key_maps_to_its_rbd_setting() {
        let mapped: Vec<&str> = RBD_QOS_SETTINGS.iter().map(|(key, _)| *key).collect();
        assert_eq!(mapped, QOS_KEYS[..12]);
        assert_eq!(rbd_setting("total_iops_sec"), Some("rbd_qos_iops_limit"));
        assert_eq!(rbd_setting("total_iops_sec_max"), Some("rbd_qos_iops_burst"));
        assert_eq!(rbd_setting("read_bytes_sec"), Some("rbd_qos_read_bps_limit"));
        assert_eq!(rbd_setting("write_bytes_sec_max"), Some("rbd_qos_write_bps_burst"));
        assert_eq!(rbd_setting("size_iops_sec"), None);
        assert_eq!(BACKEND_QOS_KEYS, QOS_KEYS[..12]);
        assert_eq!(BACKEND_QOS.refusal_of("total_iops_sec"), None);
        assert!(
            BACKEND_QOS
                .refusal_of("size_iops_sec")
                .unwrap()
                .starts_with("`size_iops_sec` has no RBD equivalent")
        );
    }

    #[test]
    fn settings_refuse_what_rbd_cannot_enforce() {
        let specs: QosSpecs = [("total_iops_sec", 2000), ("read_bytes_sec_max", 1 << 20)]
            .into_iter()
            .collect();
        assert_eq!(
            to_settings(&specs).unwrap(),
            BTreeMap::from([("rbd_qos_iops_limit", 2000), ("rbd_qos_read_bps_burst", 1 << 20)])
        );
        let specs: QosSpecs = [("size_iops_sec", 10)].into_iter().collect();
        assert!(
            to_settings(&specs)
                .unwrap_err()
                .starts_with("`size_iops_sec` has no RBD equivalent")
        );
        let specs: QosSpecs = [("iops", 10)].into_iter().collect();
        assert_eq!(
            to_settings(&specs).unwrap_err(),
            "`iops` is not a QoS key RBD can enforce"
        );
    }

    #[test]
    fn image_metadata_gives_back_the_limits() {
        let meta = BTreeMap::from([
            ("conf_rbd_qos_iops_limit".to_owned(), "2000".to_owned()),
            ("conf_rbd_qos_bps_burst".to_owned(), "0".to_owned()),
            ("conf_rbd_cache".to_owned(), "false".to_owned()),
            ("blockform".to_owned(), "{}".to_owned()),
        ]);
        assert_eq!(
            from_image_meta(&meta),
            [("total_iops_sec", 2000)].into_iter().collect::<QosSpecs>()
        );
    }
}
