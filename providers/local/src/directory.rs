//! The provider's directory and the names of the files in it.
//!
//! A volume `NAME` is the image `NAME.qcow2` and the sidecar `NAME.json`. While they are being
//! written they are called `.NAME.qcow2.partial` and `.NAME.json.partial`: hidden, never listed
//! as volumes, and removed by the next attempt to create the same volume. Paths are absolute,
//! so no argument built from them can be read as an option or a `protocol:` by QEMU tools.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The extension of volume images.
const IMAGE_SUFFIX: &str = ".qcow2";

/// The extension of sidecars.
const SIDECAR_SUFFIX: &str = ".json";

/// The prefix of the files blockform creates (`volume-<uuid>`); `inventory` lists these.
pub const VOLUME_PREFIX: &str = "volume-";

/// The directory a local provider keeps its volumes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeDirectory {
    root: PathBuf,
}

/// The volume files found by one listing of the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Backend names that have an image, sorted.
    pub images: Vec<String>,
    /// Backend names that have a sidecar.
    pub sidecars: HashSet<String>,
}

impl VolumeDirectory {
    /// The directory at `root`, which must be absolute.
    pub fn new(root: PathBuf) -> Self {
        debug_assert!(root.is_absolute(), "{}", root.display());
        Self { root }
    }

    /// Where the directory is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image of volume `name`.
    pub fn image(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}{IMAGE_SUFFIX}"))
    }

    /// The file an image is written to before it is renamed into place.
    pub fn partial_image(&self, name: &str) -> PathBuf {
        self.root.join(format!(".{name}{IMAGE_SUFFIX}.partial"))
    }

    /// The sidecar of volume `name`.
    pub fn sidecar(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}{SIDECAR_SUFFIX}"))
    }

    /// The file a sidecar is written to before it is renamed into place.
    pub fn partial_sidecar(&self, name: &str) -> PathBuf {
        self.root.join(format!(".{name}{SIDECAR_SUFFIX}.partial"))
    }

    /// Lists the images and sidecars in the directory with one `readdir` pass.
    pub fn list(&self) -> io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let file_name = entry.file_name();
            // Names blockform writes are ASCII; anything else is no volume of ours.
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if file_name.starts_with('.') {
                continue;
            }
            if let Some(name) = file_name.strip_suffix(IMAGE_SUFFIX) {
                listing.images.push(name.to_owned());
            } else if let Some(name) = file_name.strip_suffix(SIDECAR_SUFFIX) {
                listing.sidecars.insert(name.to_owned());
            }
        }
        listing.images.sort_unstable();
        Ok(listing)
    }
}

/// Removes a file; a missing one is success.
pub fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}
