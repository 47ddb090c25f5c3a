//! The `<disk>` element blockform attaches: built from the volume's [`DiskSource`], with the
//! volume's id as serial and the front-end limits as `<iotune>`; every value escaped.

use std::fmt::Write as _;

use blockform_provider::{DiskSource, ImageFormat, QOS_KEYS, QosSpecs};

/// What goes into one `<disk>` element.
#[derive(Debug, Clone)]
pub struct DiskElement<'a> {
    /// What backs the disk.
    pub source: &'a DiskSource,
    /// The target device (`vdb`).
    pub device: &'a str,
    /// The target bus (`virtio`, `scsi`).
    pub bus: &'a str,
    /// The serial number (the volume's id).
    pub serial: Option<&'a str>,
    /// Whether the guest sees it read-only.
    pub read_only: bool,
    /// Its front-end limits.
    pub limits: &'a QosSpecs,
    /// The UUID of the libvirt secret that holds the cephx key of an RBD source.
    pub secret_uuid: Option<&'a str>,
}

/// Text escaped for an XML attribute value or element content.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\'' => escaped.push_str("&apos;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

impl DiskElement<'_> {
    /// The element as XML.
    pub fn to_xml(&self) -> String {
        let mut xml = String::new();
        let format = |format: ImageFormat| match format {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
        };
        match self.source {
            DiskSource::File { path, format: f, .. } => {
                let _ = write!(
                    xml,
                    "<disk type='file' device='disk'>\n  <driver name='qemu' type='{}' cache='none' discard='unmap'/>\n  <source file='{}'/>\n",
                    format(*f),
                    escape(&path.display().to_string())
                );
            }
            DiskSource::Block { path, .. } => {
                let _ = write!(
                    xml,
                    "<disk type='block' device='disk'>\n  <driver name='qemu' type='raw' cache='none' io='native'/>\n  <source dev='{}'/>\n",
                    escape(&path.display().to_string())
                );
            }
            DiskSource::Rbd {
                pool,
                namespace,
                image,
                monitors,
                user,
                ..
            } => {
                let name = match namespace {
                    Some(namespace) => format!("{pool}/{namespace}/{image}"),
                    None => format!("{pool}/{image}"),
                };
                let _ = write!(
                    xml,
                    "<disk type='network' device='disk'>\n  <driver name='qemu' type='raw' cache='writeback' discard='unmap'/>\n  <source protocol='rbd' name='{}'>\n",
                    escape(&name)
                );
                for monitor in monitors {
                    let (host, port) = monitor.rsplit_once(':').unwrap_or((monitor.as_str(), "6789"));
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let _ = writeln!(xml, "    <host name='{}' port='{}'/>", escape(host), escape(port));
                }
                xml.push_str("  </source>\n");
                if let Some(uuid) = self.secret_uuid {
                    let _ = write!(
                        xml,
                        "  <auth username='{}'>\n    <secret type='ceph' uuid='{}'/>\n  </auth>\n",
                        escape(user),
                        escape(uuid)
                    );
                }
            }
        }
        let _ = writeln!(
            xml,
            "  <target dev='{}' bus='{}'/>",
            escape(self.device),
            escape(self.bus)
        );
        if let Some(serial) = self.serial {
            let _ = writeln!(xml, "  <serial>{}</serial>", escape(serial));
        }
        if self.read_only {
            xml.push_str("  <readonly/>\n");
        }
        if !self.limits.is_empty() {
            xml.push_str("  <iotune>\n");
            // libvirt wants the keys in its schema's order: the rates, then their bursts.
            for key in QOS_KEYS {
                if let Some(value) = self.limits.get(key) {
                    let _ = writeln!(xml, "    <{key}>{value}</{key}>");
                }
            }
            xml.push_str("  </iotune>\n");
        }
        xml.push_str("</disk>\n");
        xml
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockform_provider::{SecretRef, ValidOn};

    #[test]
    fn a_file_disk_carries_its_serial_and_limits_and_escapes_its_path() {
        let source = DiskSource::File {
            path: "/var/lib/b'f/<v>&.qcow2".into(),
            format: ImageFormat::Qcow2,
            valid_on: ValidOn::Host("kvm1".into()),
        };
        let limits: QosSpecs = [("total_iops_sec", 500), ("total_iops_sec_max", 900)]
            .into_iter()
            .collect();
        let xml = DiskElement {
            source: &source,
            device: "sdb",
            bus: "scsi",
            serial: Some("volume-1"),
            read_only: true,
            limits: &limits,
            secret_uuid: None,
        }
        .to_xml();
        assert!(
            xml.contains("<source file='/var/lib/b&apos;f/&lt;v&gt;&amp;.qcow2'/>"),
            "{xml}"
        );
        assert!(xml.contains("<target dev='sdb' bus='scsi'/>"));
        assert!(xml.contains("<serial>volume-1</serial>\n  <readonly/>"));
        assert!(xml.contains("<total_iops_sec>500</total_iops_sec>\n    <total_iops_sec_max>900</total_iops_sec_max>"));
        let read = crate::domain::parse(
            &format!("<domain><name>d</name><devices>{xml}</devices></domain>"),
            "kvm1",
        )
        .unwrap();
        assert_eq!(read.disks[0].limits, limits);
        assert_eq!(read.disks[0].source.as_ref(), Some(&source));
    }

    #[test]
    fn an_rbd_disk_names_its_monitors_and_secret() {
        let source = DiskSource::Rbd {
            pool: "rbd".into(),
            namespace: None,
            image: "volume-2".into(),
            monitors: vec!["127.0.0.1:6789".into(), "[::1]:6790".into()],
            user: "admin".into(),
            secret: SecretRef::Default,
            valid_on: ValidOn::AnyHost,
        };
        let xml = DiskElement {
            source: &source,
            device: "vdb",
            bus: "virtio",
            serial: None,
            read_only: false,
            limits: &QosSpecs::default(),
            secret_uuid: Some("5f0b…"),
        }
        .to_xml();
        assert!(xml.contains("<source protocol='rbd' name='rbd/volume-2'>"));
        assert!(xml.contains("<host name='::1' port='6790'/>"));
        assert!(xml.contains("<auth username='admin'>\n    <secret type='ceph' uuid='5f0b…'/>"));
        assert!(!xml.contains("iotune"));
    }
}
