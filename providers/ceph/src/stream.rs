//! Reading and writing an image's bytes for backups and restores, through `rbd` itself so that
//! neither librbd bindings nor a kernel module are needed.
//!
//! Reads stream `rbd export IMAGE[@SNAPSHOT] -`: backups read chunks at increasing offsets, so
//! the reader skips forward through the stream and only restarts it when asked for an offset
//! behind it. (qemu-nbd over an `rbd:` image would serve random reads, but needs QEMU's rbd
//! block driver, which is not part of a Ceph client install; the export stream needs nothing
//! beyond the `rbd` tool the provider already drives, and is as fast as the cluster reads.)
//!
//! Writes stream a diff in `rbd export-diff` format v1 (`rbd diff v1\n`, then records: `s`
//! size, `w` offset length data, `z` offset length, `e` end; integers little-endian) into
//! `rbd import-diff - IMAGE`, which applies each record as it arrives. A diff without `f`/`t`
//! records neither checks nor creates snapshots, so it serves as a plain random-access writer.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use blockform_provider::data::check_range;
use blockform_provider::{CommandContext, ObjectRef, ProviderError, Result, VolumeReader, VolumeWriter};

use crate::cli::{Cluster, Tool};

/// The first bytes of a diff stream.
pub const DIFF_HEADER: &[u8] = b"rbd diff v1\n";

/// A running `rbd` with its stderr drained on a thread.
struct Process {
    child: Child,
    argv: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    drain: Option<JoinHandle<()>>,
}

impl Process {
    fn spawn(cluster: &Cluster, words: &[String], stdin: Stdio, stdout: Stdio) -> Result<Self> {
        let argv = cluster.argv(Tool::Rbd, words);
        let mut command = cluster.command(Tool::Rbd, words)?;
        command.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|error| {
            ProviderError::fatal(format!(
                "cannot start `{}`: {error}",
                blockform_provider::quote::command_line(&argv)
            ))
        })?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let drain = child.stderr.take().map(|mut pipe| {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                sink.lock().unwrap_or_else(PoisonError::into_inner).extend(bytes);
            })
        });
        Ok(Self {
            child,
            argv,
            stderr,
            drain,
        })
    }

    /// Waits for the process and returns its exit status and stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().ok().and_then(|status| status.code());
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        let stderr = String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();
        (status, stderr)
    }

    fn kill(mut self) {
        // Failing only means it already exited.
        let _ = self.child.kill();
        let _ = self.wait();
    }

    /// The error for a stream that broke: the process's own failure when it has one.
    fn failure(self, cluster: &Cluster, object: &ObjectRef, what: &str, error: &io::Error) -> ProviderError {
        let argv = self.argv.clone();
        let (status, stderr) = self.wait();
        if status == Some(0) {
            return ProviderError::Fatal {
                reason: format!("{what}: {error}"),
                command: Some(Box::new(CommandContext {
                    argv,
                    remote: None,
                    status,
                    stderr,
                })),
            };
        }
        cluster.failure(
            argv,
            blockform_provider::CommandOutput {
                stdout: Vec::new(),
                stderr,
                status,
            },
            object,
        )
    }
}

/// Reads an image or snapshot through `rbd export ... -`.
pub struct ExportReader {
    cluster: Cluster,
    spec: String,
    object: ObjectRef,
    size_bytes: u64,
    stream: Option<(Process, ChildStdout)>,
    position: u64,
    scratch: Vec<u8>,
}

impl ExportReader {
    /// A reader of `spec` (`POOL/IMAGE[@SNAPSHOT]`), `size_bytes` long; the stream starts with
    /// the first read.
    pub fn new(cluster: Cluster, spec: String, object: ObjectRef, size_bytes: u64) -> Self {
        Self {
            cluster,
            spec,
            object,
            size_bytes,
            stream: None,
            position: 0,
            scratch: Vec::new(),
        }
    }

    fn restart(&mut self) -> Result<()> {
        if let Some((process, _)) = self.stream.take() {
            process.kill();
        }
        let args = [
            "export".to_owned(),
            "--no-progress".to_owned(),
            self.spec.clone(),
            "-".to_owned(),
        ];
        let mut process = Process::spawn(&self.cluster, &args, Stdio::null(), Stdio::piped())?;
        let Some(stdout) = process.child.stdout.take() else {
            process.kill();
            return Err(ProviderError::fatal("`rbd export` started without a stdout pipe"));
        };
        self.stream = Some((process, stdout));
        self.position = 0;
        Ok(())
    }

    fn fail(&mut self, error: &io::Error) -> ProviderError {
        match self.stream.take() {
            Some((process, _)) => process.failure(
                &self.cluster,
                &self.object,
                &format!("reading {} through `rbd export` failed", self.object),
                error,
            ),
            None => ProviderError::fatal(format!("reading {} failed: {error}", self.object)),
        }
    }
}

impl VolumeReader for ExportReader {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size_bytes)?;
        if buf.is_empty() {
            return Ok(());
        }
        if self.stream.is_none() || offset < self.position {
            self.restart()?;
        }
        while self.position < offset {
            let skip = usize::try_from(offset - self.position).map_or(1 << 20, |left| left.min(1 << 20));
            self.scratch.resize(skip, 0);
            let result = match &mut self.stream {
                Some((_, stdout)) => stdout.read_exact(&mut self.scratch[..skip]),
                None => Err(io::Error::other("the export stream is closed")),
            };
            if let Err(error) = result {
                return Err(self.fail(&error));
            }
            self.position += skip as u64;
        }
        let result = match &mut self.stream {
            Some((_, stdout)) => stdout.read_exact(buf),
            None => Err(io::Error::other("the export stream is closed")),
        };
        if let Err(error) = result {
            return Err(self.fail(&error));
        }
        self.position += buf.len() as u64;
        Ok(())
    }
}

impl Drop for ExportReader {
    fn drop(&mut self) {
        if let Some((process, stdout)) = self.stream.take() {
            drop(stdout);
            process.kill();
        }
    }
}

/// Writes an image through `rbd import-diff - IMAGE`.
pub struct ImportDiffWriter {
    cluster: Cluster,
    object: ObjectRef,
    size_bytes: u64,
    stream: Option<(Process, ChildStdin)>,
}

impl ImportDiffWriter {
    /// Starts `rbd import-diff` on `image_spec` (`POOL/IMAGE`), which is `size_bytes` long.
    pub fn open(cluster: Cluster, image_spec: String, object: ObjectRef, size_bytes: u64) -> Result<Self> {
        let args = [
            "import-diff".to_owned(),
            "--no-progress".to_owned(),
            "-".to_owned(),
            image_spec,
        ];
        let mut process = Process::spawn(&cluster, &args, Stdio::piped(), Stdio::null())?;
        let Some(stdin) = process.child.stdin.take() else {
            process.kill();
            return Err(ProviderError::fatal("`rbd import-diff` started without a stdin pipe"));
        };
        let mut writer = Self {
            cluster,
            object,
            size_bytes,
            stream: Some((process, stdin)),
        };
        let mut header = DIFF_HEADER.to_vec();
        header.push(b's');
        header.extend_from_slice(&size_bytes.to_le_bytes());
        writer.send(&[&header])?;
        Ok(writer)
    }

    fn send(&mut self, parts: &[&[u8]]) -> Result<()> {
        let result = match &mut self.stream {
            Some((_, stdin)) => parts.iter().try_for_each(|part| stdin.write_all(part)),
            None => Err(io::Error::other("the import stream is closed")),
        };
        result.map_err(|error| match self.stream.take() {
            Some((process, stdin)) => {
                drop(stdin);
                process.failure(
                    &self.cluster,
                    &self.object,
                    &format!("writing {} through `rbd import-diff` failed", self.object),
                    &error,
                )
            }
            None => ProviderError::fatal(format!("writing {} failed: {error}", self.object)),
        })
    }
}

/// A `w` or `z` record header.
fn record(tag: u8, offset: u64, length: u64) -> [u8; 17] {
    let mut header = [0_u8; 17];
    header[0] = tag;
    header[1..9].copy_from_slice(&offset.to_le_bytes());
    header[9..17].copy_from_slice(&length.to_le_bytes());
    header
}

impl VolumeWriter for ImportDiffWriter {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len() as u64, self.size_bytes)?;
        if data.is_empty() {
            return Ok(());
        }
        let header = record(b'w', offset, data.len() as u64);
        self.send(&[&header, data])
    }

    fn write_zeroes(&mut self, offset: u64, length: u64) -> Result<()> {
        check_range(offset, length, self.size_bytes)?;
        if length == 0 {
            return Ok(());
        }
        let header = record(b'z', offset, length);
        self.send(&[&header])
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.send(&[b"e"])?;
        let Some((process, stdin)) = self.stream.take() else {
            return Err(ProviderError::fatal(format!(
                "the import stream of {} is closed",
                self.object
            )));
        };
        drop(stdin);
        let argv = process.argv.clone();
        let (status, stderr) = process.wait();
        if status == Some(0) {
            return Ok(());
        }
        Err(self.cluster.failure(
            argv,
            blockform_provider::CommandOutput {
                stdout: Vec::new(),
                stderr,
                status,
            },
            &self.object,
        ))
    }
}

impl Drop for ImportDiffWriter {
    fn drop(&mut self) {
        // Unfinished: stop rbd without the end record, so nothing half-written is claimed done.
        if let Some((process, stdin)) = self.stream.take() {
            drop(stdin);
            process.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_tag_then_little_endian_offset_and_length() {
        let header = record(b'w', 0x0102, 0x10);
        assert_eq!(header[0], b'w');
        assert_eq!(&header[1..9], &[0x02, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&header[9..17], &[0x10, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(DIFF_HEADER, b"rbd diff v1\n");
    }
}
