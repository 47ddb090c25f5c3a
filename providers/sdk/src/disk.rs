//! How a hypervisor reaches a volume: the [`DiskSource`] a storage provider hands out from
//! [`connect`](crate::StorageProvider::connect) and a [`Hypervisor`](crate::Hypervisor)
//! attaches. Each source says on which host it is valid. Credentials are never copied into a
//! source: it carries a [`SecretRef`] (a keyring file, a named secret) that the host resolves,
//! so sources can be shown, planned and recorded without leaking a key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::image::ImageFormat;

/// Where a disk source can be opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "host", rename_all = "snake_case")]
pub enum ValidOn {
    /// Only on this host (a file or device of the machine the provider runs on).
    Host(String),
    /// On any host that reaches the back end over the network (RBD).
    AnyHost,
}

impl ValidOn {
    /// Whether a hypervisor on `host` can open the source.
    pub fn includes(&self, host: &str) -> bool {
        match self {
            Self::Host(only) => only == host,
            Self::AnyHost => true,
        }
    }
}

/// A reference to a credential, resolved where the disk is opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SecretRef {
    /// A keyring file on the host (Ceph's `--keyring`).
    KeyringFile {
        /// The file's path.
        path: PathBuf,
    },
    /// A secret the hypervisor holds under a name (a libvirt secret's usage name).
    Named {
        /// The name.
        name: String,
    },
    /// The client's default credentials (Ceph's default keyring search path).
    Default,
}

/// A volume as a hypervisor opens it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DiskSource {
    /// An image file.
    File {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: ImageFormat,
        /// Where the path exists.
        valid_on: ValidOn,
    },
    /// An RBD image, reached through the cluster's monitors.
    Rbd {
        /// The pool.
        pool: String,
        /// The namespace of the pool, `None` for the default one.
        namespace: Option<String>,
        /// The image.
        image: String,
        /// The monitors' addresses (`host:port`), from the cluster configuration.
        monitors: Vec<String>,
        /// The cephx user, without `client.`.
        user: String,
        /// Where the user's key is.
        secret: SecretRef,
        /// Where the image can be opened.
        valid_on: ValidOn,
    },
    /// A block device.
    Block {
        /// The device node.
        path: PathBuf,
        /// Where the device exists.
        valid_on: ValidOn,
    },
}

impl DiskSource {
    /// Where the source can be opened.
    pub fn valid_on(&self) -> &ValidOn {
        match self {
            Self::File { valid_on, .. } | Self::Rbd { valid_on, .. } | Self::Block { valid_on, .. } => valid_on,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sources_round_trip_and_carry_secret_references_only() {
        let rbd = DiskSource::Rbd {
            pool: "rbd".into(),
            namespace: Some("tenant".into()),
            image: "volume-1".into(),
            monitors: vec!["10.0.0.1:6789".into()],
            user: "admin".into(),
            secret: SecretRef::KeyringFile {
                path: "/etc/ceph/ceph.client.admin.keyring".into(),
            },
            valid_on: ValidOn::AnyHost,
        };
        let json = serde_json::to_value(&rbd).unwrap();
        assert_eq!(
            json["secret"],
            json!({"type": "keyring_file", "path": "/etc/ceph/ceph.client.admin.keyring"})
        );
        assert_eq!(serde_json::from_value::<DiskSource>(json).unwrap(), rbd);
        assert!(rbd.valid_on().includes("kvm1"));

        let file = DiskSource::File {
            path: "/var/lib/blockform/volume-1.qcow2".into(),
            format: ImageFormat::Qcow2,
            valid_on: ValidOn::Host("kvm1".into()),
        };
        let json = serde_json::to_value(&file).unwrap();
        assert_eq!(json["valid_on"], json!({"scope": "host", "host": "kvm1"}));
        assert_eq!(serde_json::from_value::<DiskSource>(json).unwrap(), file);
        assert!(file.valid_on().includes("kvm1"));
        assert!(!file.valid_on().includes("kvm2"));
    }
}
