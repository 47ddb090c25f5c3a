//! The provider's directory and the names of the files in it.
//!
//! A volume `NAME` is the image `NAME.qcow2` and the sidecar `NAME.json`. While they are being
//! written they are called `.NAME.qcow2.partial` and `.NAME.json.partial`: hidden, never listed
//! as volumes, and removed by the next attempt to create the same volume or by recovery after
//! an interrupted run; until then the inventory reports them (and sidecars without an image)
//! as leftovers, so drift shows them. Paths are absolute,
//! so no argument built from them can be read as an option or a `protocol:` by QEMU tools.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

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
    /// Hidden partial files (`.NAME.qcow2.partial`, `.NAME.json.partial`) as (file name, NAME),
    /// sorted: what an interrupted create or sidecar update left.
    pub partials: Vec<(String, String)>,
}

impl Listing {
    /// Sidecars without an image, sorted: what an interrupted create or delete left.
    pub fn orphan_sidecars(&self) -> Vec<&str> {
        let images: HashSet<&str> = self.images.iter().map(String::as_str).collect();
        let mut orphans: Vec<&str> = self
            .sidecars
            .iter()
            .map(String::as_str)
            .filter(|name| !images.contains(name))
            .collect();
        orphans.sort_unstable();
        orphans
    }
}

/// Makes directory changes durable with as few `fsync`s of the directory as possible: callers
/// that ask while one is running share the next one (a group commit), so a wave of parallel
/// creates costs about one or two directory syncs instead of one per volume. When `sync`
/// returns, every change its caller made before calling it is durable.
#[derive(Debug, Default)]
pub struct DirectorySync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Requests made so far; each request's changes precede its number.
    requested: u64,
    /// Every request up to this one is covered by a finished sync.
    completed: u64,
    /// A sync is running.
    running: bool,
}

impl DirectorySync {
    /// Syncs `directory` once every change made before this call is covered.
    pub fn sync(&self, directory: &Path) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.requested += 1;
        let mine = state.requested;
        loop {
            if state.completed >= mine {
                return Ok(());
            }
            if state.running {
                state = self.done.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // Everything requested so far was changed before this sync starts.
            let covers = state.requested;
            state.running = true;
            drop(state);
            let result = fs::File::open(directory).and_then(|dir| dir.sync_all());
            state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.running = false;
            if result.is_ok() {
                state.completed = state.completed.max(covers);
            }
            self.done.notify_all();
            result?;
        }
    }
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
        // A directory no volume was made in yet holds nothing.
        let entries = match fs::read_dir(&self.root) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(listing),
            other => other?,
        };
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name();
            // Names blockform writes are ASCII; anything else is no volume of ours.
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if let Some(hidden) = file_name.strip_prefix('.') {
                let volume = hidden.strip_suffix(".partial").and_then(|name| {
                    name.strip_suffix(IMAGE_SUFFIX)
                        .or_else(|| name.strip_suffix(SIDECAR_SUFFIX))
                });
                if let Some(volume) = volume.filter(|volume| volume.starts_with(VOLUME_PREFIX)) {
                    listing.partials.push((file_name.to_owned(), volume.to_owned()));
                }
                continue;
            }
            if let Some(name) = file_name.strip_suffix(IMAGE_SUFFIX) {
                listing.images.push(name.to_owned());
            } else if let Some(name) = file_name.strip_suffix(SIDECAR_SUFFIX) {
                listing.sidecars.insert(name.to_owned());
            }
        }
        listing.images.sort_unstable();
        listing.partials.sort_unstable();
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
