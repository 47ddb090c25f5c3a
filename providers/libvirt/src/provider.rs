//! The libvirt [`Hypervisor`]: attach, detach (waiting until the device is really gone),
//! front-end limits, resize notices and a refresh of every domain in one `virsh` call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blockform_provider::{
    AttachmentSpec, AttachmentState, DiskSource, Hypervisor, InstanceDisk, InstanceState, ObjectKind, ObjectRef,
    ProviderConfig, ProviderError, ProviderKind, QOS_KEYS, QosSpecs, Result,
};

use crate::config::{ConfigError, KIND, LibvirtConfig};
use crate::disk_xml::DiskElement;
use crate::domain::{Disk, Domain, parse, source_key};
use crate::secret::{Secrets, private_file};
use crate::virsh::Virsh;

/// How often a detach looks whether the device has left the running domain.
const DETACH_POLL: Duration = Duration::from_millis(50);

/// A libvirt connection that attaches volumes to its domains.
#[derive(Debug)]
pub struct LibvirtHypervisor {
    config: LibvirtConfig,
    virsh: Virsh,
    secrets: Secrets,
    /// One lock per domain: choosing a free device and attaching it must not interleave with
    /// another attach to the same domain.
    domains: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// What this process last read of each domain (by the refresh of its plan, then as its own
    /// attaches and detaches changed it), so that an attach or detach is one `virsh` call.
    /// Trusted only for a disk being there: anything that fails is done again from a fresh
    /// read, and a disk it does not show is looked for in one.
    known: Mutex<HashMap<String, Views>>,
}

/// A domain as both its running instance and its persistent definition show it.
#[derive(Debug, Clone)]
struct Views {
    live: Option<Domain>,
    persistent: Option<Domain>,
}

impl Views {
    fn running(&self) -> bool {
        self.live.as_ref().is_some_and(|d| d.running)
    }

    /// Every disk, of the running instance first, then those only the definition has.
    fn disks(&self) -> Vec<&Disk> {
        let mut disks: Vec<&Disk> = Vec::new();
        for domain in [self.live.as_ref(), self.persistent.as_ref()].into_iter().flatten() {
            for disk in &domain.disks {
                if !disks.iter().any(|d| d.device == disk.device) {
                    disks.push(disk);
                }
            }
        }
        disks
    }
}

impl LibvirtHypervisor {
    /// A hypervisor from its provider block (no connection is made until it is used).
    pub fn from_config(config: &ProviderConfig) -> std::result::Result<Self, ConfigError> {
        let config = LibvirtConfig::from_config(config)?;
        Ok(Self {
            virsh: Virsh::new(&config.uri),
            config,
            secrets: Secrets::default(),
            domains: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// What this process knows of a domain, taken out (put back by [`remember`](Self::remember)).
    fn recalled(&self, domain: &str) -> Option<Views> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(domain)
    }

    fn forget(&self, domain: &str) {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(domain);
    }

    fn remember(&self, domain: &str, views: Views) {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(domain.to_owned(), views);
    }

    fn lock_of(&self, domain: &str) -> Arc<Mutex<()>> {
        let mut domains = self.domains.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(domains.entry(domain.to_owned()).or_default())
    }

    /// The running and persistent XML of one domain, in one call; `NotFound` when libvirt has
    /// no such domain.
    fn views(&self, domain: &str) -> Result<Views> {
        let commands = vec![
            marker("live"),
            vec!["dumpxml".to_owned(), domain.to_owned()],
            marker("persistent"),
            vec!["dumpxml".to_owned(), "--inactive".to_owned(), domain.to_owned()],
        ];
        let (stdout, stderr) = self.virsh.script(&commands)?;
        let sections = sections(&stdout);
        let read = |name: &str| -> Result<Option<Domain>> {
            match sections.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
                Some(xml) => parse(xml, &self.config.host).map(Some).map_err(ProviderError::fatal),
                None => Ok(None),
            }
        };
        let views = Views {
            live: read("live")?,
            persistent: read("persistent")?,
        };
        if views.live.is_none() && views.persistent.is_none() {
            if stderr.contains("failed to get domain") || stderr.contains("Domain not found") {
                return Err(ProviderError::not_found(domain_ref(domain)));
            }
            return Err(ProviderError::fatal(format!(
                "cannot read domain `{domain}` through `{}`: {}",
                self.virsh.uri(),
                stderr.trim()
            )));
        }
        Ok(views)
    }

    /// A free device name on `bus` (`vdb`, `sdc`): the first letter from `b` that no disk of
    /// the running instance or the definition uses.
    fn free_device(views: &Views, bus: &str) -> Result<String> {
        let prefix = if bus == "virtio" { "vd" } else { "sd" };
        let used: Vec<&str> = views.disks().iter().map(|d| d.device.as_str()).collect();
        let mut candidates = (b'b'..=b'z').map(|c| format!("{prefix}{}", char::from(c)));
        candidates
            .find(|name| !used.contains(&name.as_str()))
            .ok_or_else(|| ProviderError::fatal(format!("no free `{prefix}*` device left on the domain")))
    }

    /// The flags that reach the running instance and/or the definition.
    fn flags(views: &Views, live: bool) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if live && views.running() {
            flags.push("--live");
        }
        if views.persistent.is_some() {
            flags.push("--config");
        }
        flags
    }
}

fn domain_ref(domain: &str) -> ObjectRef {
    ObjectRef::new(ObjectKind::Other, format!("domain {domain}"))
}

impl LibvirtHypervisor {
    /// Runs the QMP command `command` (take or delete an internal snapshot) on the image node
    /// of the disk at `device` of the running domain `instance`: libvirt has no command for an
    /// internal snapshot of one disk of a running domain, and QEMU holds the image's lock.
    fn internal_snapshot(&self, instance: &str, device: &str, name: &str, command: &str) -> Result<()> {
        let lock = self.lock_of(instance);
        let _held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let views = self.views(instance)?;
        let node = views
            .live
            .as_ref()
            .filter(|d| d.running)
            .and_then(|d| d.disks.iter().find(|disk| disk.device == device))
            .and_then(|disk| disk.node.clone())
            .ok_or_else(|| {
                ProviderError::fatal(format!(
                    "domain `{instance}` does not run with a disk at `{device}` whose image QEMU names"
                ))
            })?;
        let request = serde_json::json!({
            "execute": command,
            "arguments": {"device": node, "name": name},
        })
        .to_string();
        let answer = self.virsh.run(&["qemu-monitor-command", instance, &request])?;
        let reply: serde_json::Value = serde_json::from_str(answer.trim()).unwrap_or_default();
        if let Some(error) = reply.get("error") {
            let desc = error
                .get("desc")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            if command.contains("delete") && is_missing_snapshot(desc) {
                return Ok(());
            }
            return Err(ProviderError::fatal(format!(
                "QEMU of domain `{instance}` refused `{command}` on `{device}`: {desc}"
            )));
        }
        Ok(())
    }
}

impl LibvirtHypervisor {
    /// Whether a domain's disks (running or defined) include `device`.
    fn holds(views: &Views, device: &str) -> bool {
        views.disks().iter().any(|disk| disk.device == device)
    }

    /// Attaches `source` to a domain as `views` show it, in one `virsh` call. The device is
    /// chosen and the domain remembered with the new disk while `held` (the domain's lock) is,
    /// then the lock is let go: attaches to one domain run their `virsh` at once (libvirt
    /// orders the changes themselves), and one that fails makes the domain read afresh next time.
    fn attach_to(
        &self,
        source: &DiskSource,
        spec: &AttachmentSpec,
        mut views: Views,
        held: std::sync::MutexGuard<'_, ()>,
    ) -> Result<AttachmentState> {
        let key = source_key(source);
        let state = |device: &str| AttachmentState {
            instance: spec.instance.clone(),
            host: spec.host.clone(),
            device: Some(device.to_owned()),
        };
        if let Some(device) = views
            .disks()
            .into_iter()
            .find(|d| d.source.as_ref().is_some_and(|s| source_key(s) == key))
            .map(|d| d.device.clone())
        {
            self.remember(&spec.instance, views);
            return Ok(state(&device));
        }
        let bus = spec.bus.as_deref().unwrap_or("virtio");
        let device = match &spec.device {
            Some(device) => {
                if views.disks().iter().any(|d| &d.device == device) {
                    return Err(ProviderError::Conflict {
                        object: ObjectRef::new(ObjectKind::Attachment, format!("{}:{device}", spec.instance)),
                        reason: format!("domain `{}` already has a disk at `{device}`", spec.instance),
                        command: None,
                    });
                }
                device.clone()
            }
            None => Self::free_device(&views, bus)?,
        };
        let secret_uuid = match source {
            DiskSource::Rbd {
                user, monitors, secret, ..
            } => Some(self.secrets.ensure(&self.virsh, user, monitors, secret)?),
            _ => None,
        };
        let xml = DiskElement {
            source,
            device: &device,
            bus,
            serial: spec.serial.as_deref(),
            read_only: spec.read_only,
            limits: &spec.limits,
            secret_uuid: secret_uuid.as_deref(),
        }
        .to_xml();
        let file = private_file(&xml)?;
        let path = file.path.display().to_string();
        let flags = Self::flags(&views, spec.live);
        let mut args = vec!["attach-device", spec.instance.as_str(), path.as_str()];
        args.extend(flags.iter().copied());
        let disk = Disk {
            device: device.clone(),
            bus: bus.to_owned(),
            source: Some(source.clone()),
            serial: spec.serial.clone(),
            read_only: spec.read_only,
            limits: spec.limits.clone(),
            node: None,
        };
        if flags.contains(&"--live")
            && let Some(live) = views.live.as_mut()
        {
            live.disks.push(disk.clone());
        }
        if flags.contains(&"--config")
            && let Some(persistent) = views.persistent.as_mut()
        {
            persistent.disks.push(disk);
        }
        self.remember(&spec.instance, views);
        drop(held);
        if let Err(error) = self.virsh.run(&args) {
            self.forget(&spec.instance);
            return Err(error);
        }
        Ok(state(&device))
    }

    /// Detaches `device` from a domain as `views` show it: from the running domain and the
    /// definition in one `virsh` call that reads the running domain back. virsh returns before
    /// the guest lets go of the device (and says it succeeded even when it never will): the
    /// detach is done only once the running domain lost it, or fails after the timeout.
    ///
    /// Like [`attach_to`](Self::attach_to), the domain is remembered without the disk while
    /// `held` is, and the `virsh` call runs after.
    fn detach_from(
        &self,
        instance: &str,
        device: &str,
        mut views: Views,
        started: Instant,
        held: std::sync::MutexGuard<'_, ()>,
    ) -> Result<()> {
        let in_live = views.running()
            && views
                .live
                .as_ref()
                .is_some_and(|d| d.disks.iter().any(|disk| disk.device == device));
        let in_definition = views
            .persistent
            .as_ref()
            .is_some_and(|d| d.disks.iter().any(|disk| disk.device == device));
        if !in_live && !in_definition {
            self.remember(instance, views);
            return Ok(());
        }
        let mut detach = vec!["detach-disk".to_owned(), instance.to_owned(), device.to_owned()];
        if in_live {
            detach.push("--live".to_owned());
        }
        if in_definition {
            detach.push("--config".to_owned());
        }
        for domain in [views.live.as_mut(), views.persistent.as_mut()].into_iter().flatten() {
            domain.disks.retain(|disk| disk.device != device);
        }
        self.remember(instance, views);
        drop(held);
        let result = self.finish_detach(instance, device, detach, started);
        if result.is_err() {
            self.forget(instance);
        }
        result
    }

    /// Runs a detach and waits until the running domain no longer has the device.
    fn finish_detach(&self, instance: &str, device: &str, detach: Vec<String>, started: Instant) -> Result<()> {
        let (stdout, stderr) =
            self.virsh
                .script(&[detach, marker("after"), vec!["dumpxml".to_owned(), instance.to_owned()]])?;
        if stderr.contains("error:") {
            return Err(ProviderError::fatal(format!(
                "cannot detach `{device}` from `{instance}`: {}",
                stderr.trim()
            )));
        }
        let after = sections(&stdout)
            .get("after")
            .map(|xml| xml.trim().to_owned())
            .filter(|xml| !xml.is_empty())
            .and_then(|xml| parse(&xml, &self.config.host).ok());
        let mut present = after
            .as_ref()
            .is_some_and(|d| d.running && d.disks.iter().any(|disk| disk.device == device));
        while present {
            if started.elapsed() >= self.config.detach_timeout {
                return Err(ProviderError::Busy {
                    object: ObjectRef::new(ObjectKind::Attachment, format!("{instance}:{device}")),
                    reason: format!(
                        "the guest of `{instance}` did not release `{device}` within {} s; a virtio disk \
                         leaves a running domain only when its guest OS acknowledges the unplug (use \
                         `bus = \"scsi\"`, or stop the domain and apply again)",
                        self.config.detach_timeout.as_secs()
                    ),
                    command: None,
                });
            }
            std::thread::sleep(DETACH_POLL);
            let now = self.views(instance)?;
            present = now
                .live
                .as_ref()
                .is_some_and(|d| d.running && d.disks.iter().any(|disk| disk.device == device));
        }
        Ok(())
    }
}

/// The marker a script's `echo` prints before the output of the command it names: virsh
/// prints it without a line break, so it is found anywhere in the output.
fn marker(name: &str) -> Vec<String> {
    vec!["echo".to_owned(), format!("@@bf:{name}@@")]
}

/// The sections of a script's output, each after the [`marker`] that names it.
fn sections(stdout: &str) -> HashMap<String, String> {
    stdout
        .split("@@bf:")
        .skip(1)
        .filter_map(|piece| {
            let (name, rest) = piece.split_once("@@")?;
            Some((name.to_owned(), rest.to_owned()))
        })
        .collect()
}

impl Hypervisor for LibvirtHypervisor {
    fn kind(&self) -> ProviderKind {
        ProviderKind::new(KIND)
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    fn host(&self) -> String {
        self.config.host.clone()
    }

    /// An RBD image in a namespace: libvirt 9's `<source protocol='rbd'>` cannot name one, and
    /// QEMU would open `pool/image` of the default namespace (another image, or none).
    fn refuses(&self, source: &DiskSource) -> Option<String> {
        match source {
            DiskSource::Rbd {
                pool,
                namespace: Some(namespace),
                ..
            } => Some(format!(
                "it is in the RBD namespace `{pool}/{namespace}`, which the disks of libvirt cannot name"
            )),
            _ => None,
        }
    }

    fn refresh(&self) -> Result<Vec<InstanceState>> {
        let listed = self.virsh.run(&["list", "--all", "--name"])?;
        let names: Vec<&str> = listed.lines().map(str::trim).filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // Every domain's running and persistent XML in one virsh process.
        let mut commands = Vec::with_capacity(names.len() * 4);
        for (i, name) in names.iter().enumerate() {
            commands.push(marker(&format!("{i}.live")));
            commands.push(vec!["dumpxml".to_owned(), (*name).to_owned()]);
            commands.push(marker(&format!("{i}.persistent")));
            commands.push(vec!["dumpxml".to_owned(), "--inactive".to_owned(), (*name).to_owned()]);
        }
        let (stdout, _) = self.virsh.script(&commands)?;
        let sections = sections(&stdout);
        let mut instances = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let read = |which: &str| {
                sections
                    .get(&format!("{i}.{which}"))
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .and_then(|xml| parse(xml, &self.config.host).ok())
            };
            let views = Views {
                live: read("live"),
                persistent: read("persistent"),
            };
            // A domain undefined between the listing and the read is gone.
            if views.live.is_none() && views.persistent.is_none() {
                continue;
            }
            self.remember(name, views.clone());
            instances.push(InstanceState {
                name: (*name).to_owned(),
                host: self.config.host.clone(),
                running: views.running(),
                disks: views
                    .disks()
                    .into_iter()
                    .filter_map(|disk| {
                        Some(InstanceDisk {
                            device: disk.device.clone(),
                            source: disk.source.clone()?,
                            serial: disk.serial.clone(),
                            limits: disk.limits.clone(),
                        })
                    })
                    .collect(),
            });
        }
        Ok(instances)
    }

    fn attach(&self, source: &DiskSource, spec: &AttachmentSpec) -> Result<AttachmentState> {
        if !source.valid_on().includes(&self.config.host) {
            return Err(ProviderError::fatal(format!(
                "the disk of `{}` cannot be opened on `{}`, where the domains of `{}` run",
                spec.volume_backend_name, self.config.host, self.config.name
            )));
        }
        if let Some(reason) = self.refuses(source) {
            return Err(ProviderError::fatal(format!(
                "`{}` cannot be attached: {reason}",
                spec.volume_backend_name
            )));
        }
        let lock = self.lock_of(&spec.instance);
        let held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(views) = self.recalled(&spec.instance) {
            if let Ok(state) = self.attach_to(source, spec, views, held) {
                return Ok(state);
            }
        } else {
            drop(held);
        }
        let held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let views = match self.views(&spec.instance) {
            Err(ProviderError::NotFound { .. }) => {
                return Err(ProviderError::fatal(format!(
                    "hypervisor `{}` has no domain `{}` ({})",
                    self.config.name,
                    spec.instance,
                    self.virsh.uri()
                )));
            }
            other => other?,
        };
        self.attach_to(source, spec, views, held)
    }

    fn detach(&self, instance: &str, device: &str) -> Result<()> {
        let lock = self.lock_of(instance);
        let held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let recalled = self.recalled(instance);
        if let Some(views) = recalled.filter(|views| Self::holds(views, device)) {
            match self.detach_from(instance, device, views, started, held) {
                Ok(()) => {
                    crate::fault::point("detach");
                    return Ok(());
                }
                // The guest holds on to the device: reading the domain again changes nothing.
                Err(error @ ProviderError::Busy { .. }) => return Err(error),
                Err(_) => {}
            }
        } else {
            drop(held);
        }
        let held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let views = match self.views(instance) {
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        self.detach_from(instance, device, views, started, held)?;
        crate::fault::point("detach");
        Ok(())
    }

    fn set_front_end_limits(&self, instance: &str, device: &str, specs: &QosSpecs) -> Result<()> {
        let lock = self.lock_of(instance);
        let _held = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let views = self.views(instance)?;
        let mut args: Vec<String> = vec!["blkdeviotune".into(), instance.into(), device.into()];
        args.extend(Self::flags(&views, true).into_iter().map(str::to_owned));
        // Every key, so that the limits are exactly `specs` (0 removes one); bursts after rates.
        for key in QOS_KEYS {
            args.push(format!("--{}", key.replace('_', "-")));
            args.push(specs.get(key).unwrap_or(0).to_string());
        }
        self.virsh.run(&args)?;
        Ok(())
    }

    fn create_disk_snapshot(&self, instance: &str, device: &str, name: &str) -> Result<()> {
        self.internal_snapshot(instance, device, name, "blockdev-snapshot-internal-sync")?;
        crate::fault::point("disk-snapshot");
        Ok(())
    }

    fn delete_disk_snapshot(&self, instance: &str, device: &str, name: &str) -> Result<()> {
        self.internal_snapshot(instance, device, name, "blockdev-snapshot-delete-internal-sync")
    }

    fn notify_resize(&self, instance: &str, device: &str, size_bytes: u64) -> Result<()> {
        let views = self.views(instance)?;
        // A domain that does not run reads the size when it starts.
        if views.running() {
            self.virsh
                .run(&["blockresize", instance, device, &format!("{size_bytes}B")])?;
        }
        Ok(())
    }
}

/// Whether QEMU's answer to a snapshot delete says there is no such snapshot: deleting one that
/// is not there (any more) is done. QEMU 10 says "Snapshot with id 'null' and name 'x' does not
/// exist on device 'y'"; older ones said "not found".
fn is_missing_snapshot(desc: &str) -> bool {
    desc.contains("does not exist") || desc.contains("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_of_a_snapshot_qemu_does_not_have_is_done() {
        assert!(is_missing_snapshot(
            "Snapshot with id 'null' and name 'nope' does not exist on device 'libvirt-1-format'"
        ));
        assert!(!is_missing_snapshot(
            "Snapshot with name 's1' already exists on device 'libvirt-1-format'"
        ));
    }

    #[test]
    fn a_script_output_splits_at_its_markers() {
        let sections = sections("@@bf:0.live@@<domain>\n</domain>\n@@bf:0.persistent@@\n@@bf:1.live@@x\n");
        assert_eq!(sections["0.live"], "<domain>\n</domain>\n");
        assert_eq!(sections["0.persistent"], "\n");
        assert_eq!(sections["1.live"], "x\n");
    }
}
