//! The `Hypervisor` trait: what the engine asks of a host that runs instances (libvirt).
//!
//! A hypervisor does not store volumes: it attaches the [`DiskSource`] a storage provider
//! hands out to an instance, detaches it, applies front-end QoS limits to the attached disk and
//! tells the guest that a disk grew. Refresh observes every instance and its disks in one call.
//! Like [`StorageProvider`](crate::StorageProvider), the trait is synchronous, object safe and
//! speaks serde messages.

use serde::{Deserialize, Serialize};

use crate::attachment::{AttachmentSpec, AttachmentState};
use crate::config::ProviderKind;
use crate::disk::DiskSource;
use crate::error::Result;
use crate::qos::QosSpecs;

/// One disk of an instance, as the hypervisor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDisk {
    /// The guest device (`vdb`).
    pub device: String,
    /// What the device is backed by.
    pub source: DiskSource,
    /// The serial number the guest reads, when the disk has one.
    #[serde(default)]
    pub serial: Option<String>,
    /// Its front-end limits (empty: none).
    #[serde(default)]
    pub limits: QosSpecs,
}

/// An instance and its disks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// The instance (domain) name.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// Whether it is running (a stopped instance keeps its disks in its definition).
    pub running: bool,
    /// Its disks.
    pub disks: Vec<InstanceDisk>,
}

/// A host that runs instances and attaches volumes to them.
pub trait Hypervisor: Send + Sync {
    /// The kind of its provider block (`libvirt`).
    fn kind(&self) -> ProviderKind;

    /// The name of its provider block, which attachments name as their `host`.
    fn name(&self) -> &str;

    /// The machine its instances run on, as a [`DiskSource`]'s `valid_on` names hosts: a
    /// source valid only on another machine cannot be attached. The block's name by default.
    fn host(&self) -> String {
        self.name().to_owned()
    }

    /// Why this hypervisor cannot attach `source` at all, whatever the instance (a kind of
    /// source it has no way to name), or `None` when it can. The plan asks before anything is
    /// made, and [`attach`](Self::attach) refuses the same sources.
    fn refuses(&self, source: &DiskSource) -> Option<String> {
        let _ = source;
        None
    }

    /// Observes every instance and its disks, in one call.
    fn refresh(&self) -> Result<Vec<InstanceState>>;

    /// Attaches `source` to `spec.instance` (at `spec.device` when given); an identical
    /// attachment that exists already is success.
    fn attach(&self, source: &DiskSource, spec: &AttachmentSpec) -> Result<AttachmentState>;

    /// Detaches the disk at `device` from `instance`; a disk already gone is success.
    fn detach(&self, instance: &str, device: &str) -> Result<()>;

    /// Sets the front-end limits of the disk at `device` to exactly `specs` (empty removes them).
    fn set_front_end_limits(&self, instance: &str, device: &str, specs: &QosSpecs) -> Result<()>;

    /// Tells the guest that the disk at `device` now has `size_bytes`.
    fn notify_resize(&self, instance: &str, device: &str, size_bytes: u64) -> Result<()>;

    /// Takes the internal snapshot `name` of the qcow2 image at `device` of a running
    /// instance, through the process that holds the image open (and locked against any other
    /// writer). Unsupported by default.
    fn create_disk_snapshot(&self, instance: &str, device: &str, name: &str) -> Result<()> {
        let _ = (instance, device, name);
        Err(crate::error::ProviderError::Unsupported {
            provider_kind: self.kind(),
            provider_name: self.name().to_owned(),
            operation: "create_disk_snapshot".to_owned(),
        })
    }

    /// Deletes the internal snapshot `name` of the qcow2 image at `device` of a running
    /// instance, as [`create_disk_snapshot`](Self::create_disk_snapshot) took it.
    fn delete_disk_snapshot(&self, instance: &str, device: &str, name: &str) -> Result<()> {
        let _ = (instance, device, name);
        Err(crate::error::ProviderError::Unsupported {
            provider_kind: self.kind(),
            provider_name: self.name().to_owned(),
            operation: "delete_disk_snapshot".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::disk::ValidOn;
    use crate::error::ProviderError;
    use crate::image::ImageFormat;

    /// A hypervisor in memory, for exercising the trait's contract: instances by name with
    /// their disks, limits and sizes.
    #[derive(Default)]
    struct InMemory {
        instances: Mutex<BTreeMap<String, InstanceState>>,
        limits: Mutex<BTreeMap<(String, String), QosSpecs>>,
        sizes: Mutex<BTreeMap<(String, String), u64>>,
    }

    impl InMemory {
        fn with_instance(name: &str) -> Self {
            let hypervisor = Self::default();
            hypervisor.instances.lock().unwrap().insert(
                name.to_owned(),
                InstanceState {
                    name: name.to_owned(),
                    host: "kvm1".into(),
                    running: true,
                    disks: Vec::new(),
                },
            );
            hypervisor
        }
    }

    impl Hypervisor for InMemory {
        fn kind(&self) -> ProviderKind {
            ProviderKind::new("memory")
        }

        fn name(&self) -> &'static str {
            "kvm1"
        }

        fn refresh(&self) -> Result<Vec<InstanceState>> {
            Ok(self.instances.lock().unwrap().values().cloned().collect())
        }

        fn attach(&self, source: &DiskSource, spec: &AttachmentSpec) -> Result<AttachmentState> {
            if !source.valid_on().includes(&spec.host) {
                return Err(ProviderError::fatal(format!(
                    "the source of `{}` cannot be opened on `{}`",
                    spec.volume_backend_name, spec.host
                )));
            }
            let mut instances = self.instances.lock().unwrap();
            let instance = instances
                .get_mut(&spec.instance)
                .ok_or_else(|| ProviderError::fatal(format!("no instance `{}`", spec.instance)))?;
            if let Some(disk) = instance.disks.iter().find(|disk| &disk.source == source) {
                return Ok(AttachmentState {
                    instance: spec.instance.clone(),
                    host: spec.host.clone(),
                    device: Some(disk.device.clone()),
                });
            }
            let device = spec
                .device
                .clone()
                .unwrap_or_else(|| format!("vd{}", char::from(b'b' + u8::try_from(instance.disks.len()).unwrap())));
            instance.disks.push(InstanceDisk {
                device: device.clone(),
                source: source.clone(),
                serial: spec.serial.clone(),
                limits: spec.limits.clone(),
            });
            Ok(AttachmentState {
                instance: spec.instance.clone(),
                host: spec.host.clone(),
                device: Some(device),
            })
        }

        fn detach(&self, instance: &str, device: &str) -> Result<()> {
            if let Some(instance) = self.instances.lock().unwrap().get_mut(instance) {
                instance.disks.retain(|disk| disk.device != device);
            }
            Ok(())
        }

        fn set_front_end_limits(&self, instance: &str, device: &str, specs: &QosSpecs) -> Result<()> {
            self.limits
                .lock()
                .unwrap()
                .insert((instance.to_owned(), device.to_owned()), specs.clone());
            Ok(())
        }

        fn notify_resize(&self, instance: &str, device: &str, size_bytes: u64) -> Result<()> {
            self.sizes
                .lock()
                .unwrap()
                .insert((instance.to_owned(), device.to_owned()), size_bytes);
            Ok(())
        }
    }

    fn file(host: &str) -> DiskSource {
        DiskSource::File {
            path: "/var/lib/blockform/volume-1.qcow2".into(),
            format: ImageFormat::Qcow2,
            valid_on: ValidOn::Host(host.into()),
        }
    }

    fn spec() -> AttachmentSpec {
        AttachmentSpec {
            volume_backend_name: "volume-1".into(),
            instance: "db-vm".into(),
            host: "kvm1".into(),
            device: None,
            bus: None,
            serial: None,
            read_only: false,
            live: true,
            limits: QosSpecs::default(),
        }
    }

    #[test]
    fn attach_is_idempotent_and_shows_in_one_refresh() {
        let hypervisor: Box<dyn Hypervisor> = Box::new(InMemory::with_instance("db-vm"));
        let first = hypervisor.attach(&file("kvm1"), &spec()).unwrap();
        let again = hypervisor.attach(&file("kvm1"), &spec()).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.device.as_deref(), Some("vdb"));
        let instances = hypervisor.refresh().unwrap();
        assert_eq!(instances.len(), 1);
        assert_eq!(
            instances[0].disks,
            [InstanceDisk {
                device: "vdb".into(),
                source: file("kvm1"),
                serial: None,
                limits: QosSpecs::default(),
            }]
        );

        hypervisor.detach("db-vm", "vdb").unwrap();
        hypervisor.detach("db-vm", "vdb").unwrap();
        assert!(hypervisor.refresh().unwrap()[0].disks.is_empty());
    }

    #[test]
    fn a_source_valid_on_another_host_is_refused() {
        let hypervisor = InMemory::with_instance("db-vm");
        let error = hypervisor.attach(&file("kvm2"), &spec()).unwrap_err();
        assert_eq!(error.to_string(), "the source of `volume-1` cannot be opened on `kvm1`");
    }

    #[test]
    fn front_end_limits_and_resizes_reach_the_disk() {
        let hypervisor = InMemory::with_instance("db-vm");
        let limits: QosSpecs = [("total_iops_sec", 500)].into_iter().collect();
        hypervisor.set_front_end_limits("db-vm", "vdb", &limits).unwrap();
        hypervisor.notify_resize("db-vm", "vdb", 20 << 30).unwrap();
        let key = ("db-vm".to_owned(), "vdb".to_owned());
        assert_eq!(hypervisor.limits.lock().unwrap()[&key], limits);
        assert_eq!(hypervisor.sizes.lock().unwrap()[&key], 20 << 30);
    }

    #[test]
    fn instances_round_trip_through_json() {
        let instance = InstanceState {
            name: "db-vm".into(),
            host: "kvm1".into(),
            running: false,
            disks: vec![InstanceDisk {
                device: "vdb".into(),
                source: file("kvm1"),
                serial: None,
                limits: QosSpecs::default(),
            }],
        };
        let json = serde_json::to_string(&instance).unwrap();
        assert_eq!(serde_json::from_str::<InstanceState>(&json).unwrap(), instance);
    }
}
