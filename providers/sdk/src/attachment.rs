//! A volume attached to an instance on a hypervisor host: the request a
//! [`Hypervisor`](crate::Hypervisor) attaches by, and the attachment it reports.

use serde::{Deserialize, Serialize};

use crate::qos::QosSpecs;

/// A request to attach a volume to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentSpec {
    /// The volume to attach.
    pub volume_backend_name: String,
    /// The instance (VM name) that gets the volume.
    pub instance: String,
    /// The hypervisor host the instance runs on.
    pub host: String,
    /// The device name asked for (`vdb`), or `None` to let the hypervisor choose.
    pub device: Option<String>,
    /// The bus the disk goes on (`virtio`, `scsi`), or `None` for the hypervisor's default.
    #[serde(default)]
    pub bus: Option<String>,
    /// The serial number the guest reads (the volume's id), so it finds the disk under
    /// `/dev/disk/by-id` whatever device name it gets.
    #[serde(default)]
    pub serial: Option<String>,
    /// Whether the guest sees the disk read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Whether the running instance gets the disk too (`false`: its persistent definition only).
    #[serde(default = "live_by_default")]
    pub live: bool,
    /// The front-end limits of the disk (empty: none).
    #[serde(default)]
    pub limits: QosSpecs,
}

fn live_by_default() -> bool {
    true
}

/// An attachment observed on the back end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentState {
    /// The instance the volume is attached to.
    pub instance: String,
    /// The hypervisor host.
    pub host: String,
    /// The device name, when known.
    pub device: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_messages_round_trip_through_json() {
        let spec = AttachmentSpec {
            volume_backend_name: "volume-1".into(),
            instance: "db-vm".into(),
            host: "kvm1".into(),
            device: Some("vdb".into()),
            bus: None,
            serial: None,
            read_only: false,
            live: true,
            limits: QosSpecs::default(),
        };
        let json = serde_json::to_string(&spec).unwrap();
        let short = r#"{"volume_backend_name":"volume-1","instance":"db-vm","host":"kvm1","device":"vdb"}"#;
        assert_eq!(
            serde_json::from_str::<AttachmentSpec>(short).unwrap(),
            spec,
            "a request without the later fields is a live attachment without limits"
        );
        assert_eq!(serde_json::from_str::<AttachmentSpec>(&json).unwrap(), spec);

        let state = AttachmentState {
            instance: "db-vm".into(),
            host: "kvm1".into(),
            device: None,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<AttachmentState>(&json).unwrap(), state);
    }
}
