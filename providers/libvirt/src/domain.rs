//! A domain as its XML says: its name, whether it runs, and its disks (device, bus, what backs
//! them, serial, read-only, front-end limits), read with roxmltree.

use std::path::PathBuf;

use blockform_provider::{DiskSource, ImageFormat, QOS_KEYS, QosSpecs, SecretRef, ValidOn};

/// One `<disk>` of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The target device (`vdb`, `sdc`).
    pub device: String,
    /// The target bus (`virtio`, `scsi`).
    pub bus: String,
    /// What backs it, when it is a file, an RBD image or a block device.
    pub source: Option<DiskSource>,
    /// Its serial number.
    pub serial: Option<String>,
    /// Whether the guest sees it read-only.
    pub read_only: bool,
    /// Its `<iotune>` limits.
    pub limits: QosSpecs,
    /// The QEMU node name of its image in a running domain (`libvirt-3-format`).
    pub node: Option<String>,
}

/// A domain's XML, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Its name.
    pub name: String,
    /// Whether it runs (the live XML carries an `id`).
    pub running: bool,
    /// Its disks.
    pub disks: Vec<Disk>,
}

/// Reads a domain's XML; `host` is the machine its files and devices are on.
pub fn parse(xml: &str, host: &str) -> Result<Domain, String> {
    let document = roxmltree::Document::parse(xml).map_err(|error| format!("unreadable domain XML: {error}"))?;
    let root = document.root_element();
    let name = child(root, "name")
        .and_then(|n| n.text())
        .ok_or("domain XML without a name")?
        .to_owned();
    let running = root.attribute("id").is_some_and(|id| id != "-1");
    let disks = child(root, "devices")
        .map(|devices| {
            devices
                .children()
                .filter(|n| n.has_tag_name("disk") && n.attribute("device").is_none_or(|d| d == "disk"))
                .filter_map(|disk| read_disk(disk, host))
                .collect()
        })
        .unwrap_or_default();
    Ok(Domain { name, running, disks })
}

fn child<'a, 'input>(node: roxmltree::Node<'a, 'input>, tag: &str) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn read_disk(disk: roxmltree::Node<'_, '_>, host: &str) -> Option<Disk> {
    let target = child(disk, "target")?;
    let device = target.attribute("dev")?.to_owned();
    let bus = target.attribute("bus").unwrap_or_default().to_owned();
    let format = match child(disk, "driver").and_then(|d| d.attribute("type")) {
        Some("qcow2") => ImageFormat::Qcow2,
        _ => ImageFormat::Raw,
    };
    let source = child(disk, "source").and_then(|source| match disk.attribute("type") {
        Some("file") => Some(DiskSource::File {
            path: PathBuf::from(source.attribute("file")?),
            format,
            valid_on: ValidOn::Host(host.to_owned()),
        }),
        Some("block") => Some(DiskSource::Block {
            path: PathBuf::from(source.attribute("dev")?),
            valid_on: ValidOn::Host(host.to_owned()),
        }),
        Some("network") if source.attribute("protocol") == Some("rbd") => {
            let name = source.attribute("name")?;
            let (pool, image) = name.split_once('/')?;
            let (namespace, image) = match image.split_once('/') {
                Some((namespace, image)) => (Some(namespace.to_owned()), image),
                None => (None, image),
            };
            let monitors = source
                .children()
                .filter(|n| n.has_tag_name("host"))
                .filter_map(|h| {
                    Some(format!(
                        "{}:{}",
                        h.attribute("name")?,
                        h.attribute("port").unwrap_or("6789")
                    ))
                })
                .collect();
            let auth = child(disk, "auth").or_else(|| child(source, "auth"));
            let user = auth
                .and_then(|a| a.attribute("username"))
                .unwrap_or_default()
                .to_owned();
            let secret = auth
                .and_then(|a| child(a, "secret"))
                .and_then(|s| s.attribute("usage").or_else(|| s.attribute("uuid")))
                .map_or(SecretRef::Default, |name| SecretRef::Named { name: name.to_owned() });
            Some(DiskSource::Rbd {
                pool: pool.to_owned(),
                namespace,
                image: image.to_owned(),
                monitors,
                user,
                secret,
                valid_on: ValidOn::AnyHost,
            })
        }
        _ => None,
    });
    let serial = child(disk, "serial").and_then(|s| s.text()).map(str::to_owned);
    let read_only = child(disk, "readonly").is_some();
    let limits = child(disk, "iotune")
        .map(|iotune| {
            iotune
                .children()
                .filter(|n| n.is_element() && QOS_KEYS.contains(&n.tag_name().name()))
                .filter_map(|n| Some((n.tag_name().name().to_owned(), n.text()?.trim().parse::<u64>().ok()?)))
                .filter(|(_, value)| *value > 0)
                .collect()
        })
        .unwrap_or_default();
    let node = child(disk, "source")
        .and_then(|s| s.attribute("index"))
        .map(|index| format!("libvirt-{index}-format"));
    Some(Disk {
        device,
        bus,
        source,
        serial,
        read_only,
        limits,
        node,
    })
}

/// What identifies the volume behind a source whatever the details of how it is reached (the
/// file, the device node, the pool, namespace and image).
pub fn source_key(source: &DiskSource) -> String {
    match source {
        DiskSource::File { path, .. } | DiskSource::Block { path, .. } => path.display().to_string(),
        DiskSource::Rbd {
            pool, namespace, image, ..
        } => match namespace {
            Some(namespace) => format!("rbd:{pool}/{namespace}/{image}"),
            None => format!("rbd:{pool}/{image}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = r"<domain type='qemu' id='3'>
  <name>fw</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/bf/volume-1.qcow2' index='3'/>
      <target dev='sdb' bus='scsi'/>
      <serial>volume-1</serial>
      <iotune><total_iops_sec>500</total_iops_sec><read_bytes_sec>0</read_bytes_sec></iotune>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <auth username='admin'><secret type='ceph' usage='blockform client.admin'/></auth>
      <source protocol='rbd' name='rbd/tenant/volume-2'><host name='127.0.0.1' port='6789'/></source>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
    <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
  </devices>
</domain>";

    #[test]
    fn the_disks_of_a_running_domain_are_read_with_their_sources_and_limits() {
        let domain = parse(LIVE, "kvm1").unwrap();
        assert!(domain.running);
        assert_eq!(domain.disks.len(), 2, "a cdrom is not a disk");
        let file = &domain.disks[0];
        assert_eq!((file.device.as_str(), file.bus.as_str()), ("sdb", "scsi"));
        assert_eq!(file.serial.as_deref(), Some("volume-1"));
        assert_eq!(file.node.as_deref(), Some("libvirt-3-format"));
        assert_eq!(file.limits, [("total_iops_sec", 500)].into_iter().collect());
        assert_eq!(source_key(file.source.as_ref().unwrap()), "/var/lib/bf/volume-1.qcow2");
        let rbd = &domain.disks[1];
        assert!(rbd.read_only);
        assert_eq!(source_key(rbd.source.as_ref().unwrap()), "rbd:rbd/tenant/volume-2");
        assert!(matches!(
            rbd.source.as_ref().unwrap(),
            DiskSource::Rbd { user, monitors, .. } if user == "admin" && monitors == &["127.0.0.1:6789"]
        ));
    }

    #[test]
    fn a_defined_domain_that_does_not_run_has_no_id() {
        let domain = parse("<domain type='qemu'><name>cold</name></domain>", "kvm1").unwrap();
        assert!(!domain.running && domain.disks.is_empty());
        assert!(parse("<domain>", "kvm1").is_err());
    }
}
