//! The `qemu-img` commands the provider runs, as argv vectors through the SDK's command
//! runner, and the translation of their failures into typed errors.
//!
//! Formats are always stated (`-f qcow2`), never probed, so a raw file whose first bytes look
//! like a qcow2 header cannot be misread. Every path is absolute and every snapshot or bitmap
//! name passed validation, so no argument can be taken for an option.

use std::time::{Duration, Instant};

use blockform_provider::{CommandRunner, ImageFormat, ObjectRef, ProviderError, Result};
use serde::Deserialize;

/// How long a command that changes only metadata may run.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a command that copies a whole volume may run: 300 GiB at 30 MB/s.
pub const COPY_TIMEOUT: Duration = Duration::from_secs(3 * 60 * 60);

/// How long an image lock held by another process is waited for before the image is called
/// busy. A lock held by a process on its way out (a killed run's qemu-nbd whose threads are
/// still finishing their I/O, a `qemu-img` run by hand that is about to end) goes within
/// moments; one held by a running virtual machine does not.
pub const LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// Calls `attempt` again while it fails for an image lock held by another process (`Busy`),
/// for up to [`LOCK_PATIENCE`]. A call that failed on the lock did nothing, so it may be
/// repeated.
pub fn waiting_for_lock<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt() {
            Err(ProviderError::Busy { .. }) if started.elapsed() + pause < LOCK_PATIENCE => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

/// The data a conversion reads.
#[derive(Debug, Clone, Copy)]
pub struct ConvertSource<'a> {
    /// The file.
    pub path: &'a str,
    /// Its format.
    pub format: ImageFormat,
    /// An internal snapshot to read instead of the live image.
    pub snapshot: Option<&'a str>,
}

/// Runs `qemu-img` for one provider.
#[derive(Debug, Clone)]
pub struct QemuImg {
    runner: CommandRunner,
}

impl QemuImg {
    /// Runs through `runner`, whose timeout is replaced per command.
    pub fn new(runner: CommandRunner) -> Self {
        Self { runner }
    }

    /// Creates an empty qcow2 image of `size_bytes`.
    pub fn create(&self, path: &str, size_bytes: u64, object: &ObjectRef) -> Result<()> {
        let size = size_bytes.to_string();
        self.run(
            &["qemu-img", "create", "-q", "-f", "qcow2", path, &size],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// Writes `source` to a new image at `destination` in `format`.
    pub fn convert(
        &self,
        source: ConvertSource<'_>,
        format: ImageFormat,
        destination: &str,
        object: &ObjectRef,
    ) -> Result<()> {
        let mut argv = vec!["qemu-img", "convert", "-q", "-f", source.format.as_str()];
        let snapshot_option;
        if let Some(snapshot) = source.snapshot {
            // A snapshot is frozen (its clusters are copied before any write), so it is read
            // without the image's lock, which a running domain's QEMU may hold.
            snapshot_option = format!("snapshot.name={snapshot}");
            argv.extend(["-U", "-l", &snapshot_option]);
        }
        argv.extend(["-O", format.as_str(), source.path, destination]);
        self.run(&argv, COPY_TIMEOUT, object)
    }

    /// Grows a qcow2 image to `size_bytes`.
    pub fn resize(&self, path: &str, size_bytes: u64, object: &ObjectRef) -> Result<()> {
        let size = size_bytes.to_string();
        self.run(
            &["qemu-img", "resize", "-q", "-f", "qcow2", path, &size],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// Takes an internal snapshot named `name`.
    pub fn create_snapshot(&self, path: &str, name: &str, object: &ObjectRef) -> Result<()> {
        self.run(
            &["qemu-img", "snapshot", "-q", "-f", "qcow2", "-c", name, path],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// Deletes the internal snapshot named `name`.
    pub fn delete_snapshot(&self, path: &str, name: &str, object: &ObjectRef) -> Result<()> {
        self.run(
            &["qemu-img", "snapshot", "-q", "-f", "qcow2", "-d", name, path],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// Adds an enabled persistent dirty bitmap named `name`.
    pub fn add_bitmap(&self, path: &str, name: &str, object: &ObjectRef) -> Result<()> {
        self.run(
            &["qemu-img", "bitmap", "--add", "--enable", "-f", "qcow2", path, name],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// Removes the persistent dirty bitmap named `name`.
    pub fn remove_bitmap(&self, path: &str, name: &str, object: &ObjectRef) -> Result<()> {
        self.run(
            &["qemu-img", "bitmap", "--remove", "-f", "qcow2", path, name],
            METADATA_TIMEOUT,
            object,
        )
    }

    /// The virtual size of an image file of a stated format.
    pub fn virtual_size(&self, path: &str, format: ImageFormat, object: &ObjectRef) -> Result<u64> {
        #[derive(Deserialize)]
        struct Info {
            #[serde(rename = "virtual-size")]
            virtual_size: u64,
        }
        let argv = ["qemu-img", "info", "--output=json", "-f", format.as_str(), path];
        let runner = self.runner.clone().with_timeout(METADATA_TIMEOUT);
        let output = waiting_for_lock(|| runner.run(&argv).map_err(|error| classify(error, object)))?;
        let info: Info = serde_json::from_slice(&output.stdout).map_err(|error| {
            ProviderError::fatal(format!(
                "cannot read the output of `qemu-img info` for `{path}`: {error}"
            ))
        })?;
        Ok(info.virtual_size)
    }

    fn run(&self, argv: &[&str], timeout: Duration, object: &ObjectRef) -> Result<()> {
        let runner = self.runner.clone().with_timeout(timeout);
        waiting_for_lock(|| runner.run(argv).map(drop).map_err(|error| classify(error, object)))
    }
}

/// Turns the failures of QEMU tools that have a type of their own into it: a lock held by
/// another process is `Busy`, a missing file `NotFound`; everything else stays as it was.
pub fn classify(error: ProviderError, object: &ObjectRef) -> ProviderError {
    let ProviderError::Fatal {
        reason,
        command: Some(command),
    } = error
    else {
        return error;
    };
    let stderr = command.stderr.as_str();
    if stderr.contains("Failed to get") && stderr.contains("lock") {
        ProviderError::Busy {
            object: object.clone(),
            reason: "another process has the image open".to_owned(),
            command: Some(command),
        }
    } else if stderr.contains("No such file or directory") {
        ProviderError::NotFound {
            object: object.clone(),
            command: Some(command),
        }
    } else {
        ProviderError::Fatal {
            reason,
            command: Some(command),
        }
    }
}

#[cfg(test)]
mod tests {
    use blockform_provider::CommandContext;

    use super::*;

    fn failed(stderr: &str) -> ProviderError {
        ProviderError::Fatal {
            reason: "command failed".into(),
            command: Some(Box::new(CommandContext {
                argv: vec!["qemu-img".into(), "resize".into()],
                remote: None,
                status: Some(1),
                stderr: stderr.into(),
            })),
        }
    }

    #[test]
    fn lock_failures_are_busy_and_missing_files_not_found() {
        let object = ObjectRef::volume("volume-1");
        let busy = classify(
            failed(
                "qemu-img: Could not open 'v.qcow2': Failed to get \"write\" lock\nIs another process using the image [v.qcow2]?\n",
            ),
            &object,
        );
        assert!(matches!(busy, ProviderError::Busy { .. }), "{busy}");
        assert!(busy.to_string().starts_with("volume `volume-1` is busy: another process has the image open: `qemu-img resize` exited with status 1: qemu-img: Could not open"), "{busy}");

        let missing = classify(
            failed("qemu-img: Could not open '/x': Could not open '/x': No such file or directory\n"),
            &object,
        );
        assert!(matches!(missing, ProviderError::NotFound { .. }), "{missing}");

        let other = classify(failed("qemu-img: Image is corrupt\n"), &object);
        assert_eq!(other, failed("qemu-img: Image is corrupt\n"));
        let timeout = ProviderError::transient("x");
        assert_eq!(classify(timeout.clone(), &object), timeout);
    }
}
