//! How a hypervisor reaches a Ceph volume: the RBD [`DiskSource`] of an image, with the
//! monitors read from the cluster configuration file and the key referenced by its keyring
//! file (never copied), valid on any host that reaches the cluster.

use std::path::PathBuf;

use blockform_provider::toolkit::io_failure;
use blockform_provider::{DiskSource, ProviderError, Result, SecretRef, ValidOn};

use crate::config::CephConfig;

/// The cluster configuration file a provider reads: its `conf`, else the one Ceph itself
/// would pick, `/etc/ceph/<cluster>.conf`.
pub fn conf_path(config: &CephConfig) -> PathBuf {
    config.conf.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/etc/ceph/{}.conf",
            config.cluster.as_deref().unwrap_or("ceph")
        ))
    })
}

/// The monitors a cluster configuration names in `mon_host` (also spelled `mon host` or
/// `mon-host`), one `host:port` each: of an address vector (`[v2:…:3300,v1:…:6789]`) the v1
/// address, which every client speaks.
pub fn monitors(conf: &str) -> Vec<String> {
    let Some(value) = conf.lines().find_map(|line| {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let (key, value) = line.split_once('=')?;
        let key = key.trim().replace([' ', '-'], "_");
        (key == "mon_host").then(|| value.trim().to_owned())
    }) else {
        return Vec::new();
    };
    let mut monitors = Vec::new();
    let mut rest = value.as_str();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let (entry, after) = if let Some(vector) = rest.strip_prefix('[') {
            let end = vector.find(']').unwrap_or(vector.len());
            let addresses: Vec<&str> = vector[..end].split(',').map(str::trim).collect();
            let chosen = addresses
                .iter()
                .find(|address| address.starts_with("v1:"))
                .or_else(|| addresses.first())
                .copied()
                .unwrap_or_default();
            (chosen, vector.get(end + 1..).unwrap_or_default())
        } else {
            let end = rest.find([',', ' ', '\t']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        let address = entry
            .strip_prefix("v1:")
            .or_else(|| entry.strip_prefix("v2:"))
            .unwrap_or(entry);
        if !address.is_empty() {
            monitors.push(address.to_owned());
        }
        rest = after;
    }
    monitors
}

/// The RBD source of `image` for a provider configured with `config`.
pub fn rbd_source(config: &CephConfig, image: &str) -> Result<DiskSource> {
    let path = conf_path(config);
    let text =
        std::fs::read_to_string(&path).map_err(|error| io_failure(&format!("read `{}`", path.display()), &error))?;
    let monitors = monitors(&text);
    if monitors.is_empty() {
        return Err(ProviderError::fatal(format!(
            "the cluster configuration `{}` names no monitors (`mon_host`)",
            path.display()
        )));
    }
    Ok(DiskSource::Rbd {
        pool: config.pool.clone(),
        namespace: config.namespace.clone(),
        image: image.to_owned(),
        monitors,
        user: config.user.clone().unwrap_or_else(|| "admin".to_owned()),
        secret: config
            .keyring
            .clone()
            .map_or(SecretRef::Default, |path| SecretRef::KeyringFile { path }),
        valid_on: ValidOn::AnyHost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_come_from_mon_host_in_every_spelling() {
        assert_eq!(
            monitors("[global]\nfsid = x\nmon_host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]\n"),
            ["127.0.0.1:6789"]
        );
        assert_eq!(
            monitors("mon host = [v2:10.0.0.1:3300,v1:10.0.0.1:6789] [v2:10.0.0.2:3300,v1:10.0.0.2:6789]"),
            ["10.0.0.1:6789", "10.0.0.2:6789"]
        );
        assert_eq!(
            monitors("mon-host = 10.0.0.1, 10.0.0.2:6789 # two"),
            ["10.0.0.1", "10.0.0.2:6789"]
        );
        assert_eq!(monitors("[global]\nfsid = x\n"), Vec::<String>::new());
    }

    #[test]
    fn the_source_references_the_keyring_and_is_valid_on_any_host() {
        let dir = std::env::temp_dir().join(format!("blockform-ceph-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("ceph.conf");
        std::fs::write(&conf, "[global]\nmon_host = 10.0.0.1:6789\n").unwrap();
        let mut config = CephConfig::new("volumes");
        config.conf = Some(conf.clone());
        config.keyring = Some("/etc/ceph/ceph.client.blockform.keyring".into());
        config.user = Some("blockform".into());
        let source = rbd_source(&config, "volume-1").unwrap();
        assert_eq!(
            source,
            DiskSource::Rbd {
                pool: "volumes".into(),
                namespace: None,
                image: "volume-1".into(),
                monitors: vec!["10.0.0.1:6789".into()],
                user: "blockform".into(),
                secret: SecretRef::KeyringFile {
                    path: "/etc/ceph/ceph.client.blockform.keyring".into()
                },
                valid_on: ValidOn::AnyHost,
            }
        );
        std::fs::write(&conf, "[global]\n").unwrap();
        let error = rbd_source(&config, "volume-1").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "the cluster configuration `{}` names no monitors (`mon_host`)",
                conf.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
