//! Turning a volume into an image file (`resource "image"`): the format, where it goes, and
//! what was written.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The format of an image file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// A raw disk image (recommended).
    #[default]
    Raw,
    /// A qcow2 image.
    Qcow2,
}

impl ImageFormat {
    /// The format as `qemu-img -f/-O` and the configuration spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow2 => "qcow2",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to write a volume's contents to an image file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageExportSpec {
    /// The volume to export.
    pub volume_backend_name: String,
    /// The format to write.
    pub format: ImageFormat,
    /// The file to create, on the machine that runs blockform; an existing file is replaced.
    pub destination: PathBuf,
    /// A snapshot of the volume to read instead of the live volume: a frozen point in time (one
    /// a running domain's QEMU took of a file it holds). Providers that cannot read one say
    /// `Unsupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_backend_name: Option<String>,
}

/// An image file written by `export_image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedImage {
    /// Where the image is.
    pub path: PathBuf,
    /// Its format.
    pub format: ImageFormat,
    /// The size of the disk it contains.
    pub virtual_size_bytes: u64,
    /// The size of the file itself.
    pub file_size_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_messages_round_trip_through_json() {
        let spec = ImageExportSpec {
            volume_backend_name: "volume-1".into(),
            format: ImageFormat::Qcow2,
            destination: "/srv/images/db.qcow2".into(),
            snapshot_backend_name: None,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"volume_backend_name":"volume-1","format":"qcow2","destination":"/srv/images/db.qcow2"}"#
        );
        assert_eq!(serde_json::from_str::<ImageExportSpec>(&json).unwrap(), spec);

        let image = ExportedImage {
            path: spec.destination,
            format: ImageFormat::Raw,
            virtual_size_bytes: 10 << 30,
            file_size_bytes: 1 << 20,
        };
        let json = serde_json::to_string(&image).unwrap();
        assert_eq!(serde_json::from_str::<ExportedImage>(&json).unwrap(), image);
    }

    #[test]
    fn formats_display_as_qemu_img_spells_them() {
        assert_eq!(ImageFormat::Raw.to_string(), "raw");
        assert_eq!(ImageFormat::Qcow2.to_string(), "qcow2");
        assert_eq!(serde_json::to_string(&ImageFormat::Raw).unwrap(), "\"raw\"");
    }
}
