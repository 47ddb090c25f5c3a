//! A volume attached to an instance on a hypervisor host: the request a
//! [`Hypervisor`](crate::Hypervisor) attaches by, and the attachment it reports.

use serde::{Deserialize, Serialize};

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
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"volume_backend_name":"volume-1","instance":"db-vm","host":"kvm1","device":"vdb"}"#
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
