//! Reading and writing an LV's bytes for backups and restores, through the provider's ssh
//! connection (or locally).
//!
//! A reader is one remote `sh` loop on the host that reads requests `OFFSET LENGTH` from its
//! stdin and answers each with exactly those bytes of the LV (`dd` with `skip_bytes` and
//! `count_bytes`), so a backup that reads only the changed ranges of a volume sends only
//! those over the wire, through one ssh session, whatever their order. The script is fixed
//! text around the device path, which is made of validated names only.
//!
//! A write streams into `dd of=/dev/VG/LV` at an offset: restores write at increasing
//! offsets, so one stream serves a whole pass; a write that is not where the last one ended
//! starts a new stream there. Zeros are written on the host from `/dev/zero`.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use blockform_provider::data::check_range;
use blockform_provider::{CommandContext, ObjectRef, ProviderError, Result, VolumeReader, VolumeWriter};

use crate::transport::Host;

/// A running `dd` on the host with its stderr drained on a thread.
struct Process {
    child: Child,
    argv: Vec<String>,
    drain: Option<JoinHandle<Vec<u8>>>,
}

impl Process {
    fn spawn(host: &Host, words: &[String], stdin: Stdio, stdout: Stdio) -> Result<Self> {
        let (mut command, argv) = host.command(words)?;
        command.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|error| {
            ProviderError::fatal(format!(
                "cannot start `{}`: {error}",
                blockform_provider::quote::command_line(&argv)
            ))
        })?;
        let drain = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        });
        Ok(Self { child, argv, drain })
    }

    /// Waits for the process; an error unless it exited with status 0.
    fn finish(mut self, host: &Host, object: &ObjectRef, what: &str) -> Result<()> {
        let status = self.child.wait().ok().and_then(|status| status.code());
        let stderr = self
            .drain
            .take()
            .and_then(|drain| drain.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        if status == Some(0) {
            return Ok(());
        }
        Err(ProviderError::Fatal {
            reason: format!("cannot {what} {object}"),
            command: Some(Box::new(CommandContext {
                argv: self.argv,
                remote: host.remote().map(str::to_owned),
                status,
                stderr,
            })),
        })
    }

    fn kill(mut self) {
        // Failing only means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

/// Reads an LV (a volume or a snapshot) on the host.
pub struct LvReader {
    host: Arc<Host>,
    device: String,
    object: ObjectRef,
    size_bytes: u64,
    session: Option<(Process, ChildStdin, ChildStdout)>,
}

impl LvReader {
    /// A reader of `device`, `size_bytes` long; the session starts with the first read.
    pub fn new(host: Arc<Host>, device: String, object: ObjectRef, size_bytes: u64) -> Self {
        Self {
            host,
            device,
            object,
            size_bytes,
            session: None,
        }
    }

    /// The remote loop that answers `OFFSET LENGTH` requests with the LV's bytes.
    fn script(&self) -> String {
        format!(
            "while read -r offset length; do dd if={} bs=1M iflag=skip_bytes,count_bytes,fullblock skip=\"$offset\" \
             count=\"$length\" 2>/dev/null || exit 1; done",
            self.device
        )
    }

    fn start(&mut self) -> Result<()> {
        let words = ["sh".to_owned(), "-c".to_owned(), self.script()];
        let mut process = Process::spawn(&self.host, &words, Stdio::piped(), Stdio::piped())?;
        if let (Some(stdin), Some(stdout)) = (process.child.stdin.take(), process.child.stdout.take()) {
            self.session = Some((process, stdin, stdout));
            Ok(())
        } else {
            process.kill();
            Err(ProviderError::fatal("the reading process has no pipes"))
        }
    }

    fn broken(&mut self, error: &io::Error) -> ProviderError {
        match self.session.take() {
            Some((process, stdin, stdout)) => {
                drop(stdin);
                drop(stdout);
                match process.finish(&self.host, &self.object, "read") {
                    Err(failure) => failure,
                    Ok(()) => ProviderError::fatal(format!("cannot read {}: {error}", self.object)),
                }
            }
            None => ProviderError::fatal(format!("cannot read {}: {error}", self.object)),
        }
    }
}

impl VolumeReader for LvReader {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size_bytes)?;
        if buf.is_empty() {
            return Ok(());
        }
        if self.session.is_none() {
            self.start()?;
        }
        let read = match self.session.as_mut() {
            Some((_, stdin, stdout)) => writeln!(stdin, "{offset} {}", buf.len())
                .and_then(|()| stdin.flush())
                .and_then(|()| stdout.read_exact(buf)),
            None => Ok(()),
        };
        read.map_err(|error| self.broken(&error))
    }
}

impl Drop for LvReader {
    fn drop(&mut self) {
        if let Some((process, stdin, stdout)) = self.session.take() {
            drop(stdin);
            drop(stdout);
            process.kill();
        }
    }
}

/// Writes into an LV on the host.
pub struct LvWriter {
    host: Arc<Host>,
    device: String,
    object: ObjectRef,
    size_bytes: u64,
    /// The chunk size of the thin pool of a thin volume whose discards unmap chunks (which
    /// then read as zeros).
    discard_chunk: Option<u64>,
    stream: Option<(Process, ChildStdin)>,
    position: u64,
}

impl LvWriter {
    /// A writer of `device`, `size_bytes` long; the stream starts with the first write. With
    /// `discard_chunk`, whole chunks of zeros are discarded rather than written.
    pub fn new(
        host: Arc<Host>,
        device: String,
        object: ObjectRef,
        size_bytes: u64,
        discard_chunk: Option<u64>,
    ) -> Self {
        Self {
            host,
            device,
            object,
            size_bytes,
            discard_chunk,
            stream: None,
            position: 0,
        }
    }

    /// Ends the current stream, waiting for everything written to reach the LV.
    fn close(&mut self) -> Result<()> {
        let Some((process, stdin)) = self.stream.take() else {
            return Ok(());
        };
        drop(stdin);
        process.finish(&self.host, &self.object, "write")
    }

    fn start(&mut self, offset: u64) -> Result<()> {
        self.close()?;
        let words = [
            "dd".to_owned(),
            format!("of={}", self.device),
            "bs=1M".to_owned(),
            "iflag=fullblock".to_owned(),
            "oflag=seek_bytes".to_owned(),
            format!("seek={offset}"),
            "conv=notrunc,fsync".to_owned(),
        ];
        let mut process = Process::spawn(&self.host, &words, Stdio::piped(), Stdio::null())?;
        let Some(stdin) = process.child.stdin.take() else {
            process.kill();
            return Err(ProviderError::fatal("the writing process has no stdin"));
        };
        self.stream = Some((process, stdin));
        self.position = offset;
        Ok(())
    }
}

impl VolumeWriter for LvWriter {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len() as u64, self.size_bytes)?;
        if data.is_empty() {
            return Ok(());
        }
        if self.stream.is_none() || offset != self.position {
            self.start(offset)?;
        }
        let written = match self.stream.as_mut() {
            Some((_, stdin)) => stdin.write_all(data),
            None => Ok(()),
        };
        if let Err(error) = written {
            let failure = self.close().err();
            return Err(
                failure.unwrap_or_else(|| ProviderError::fatal(format!("cannot write {}: {error}", self.object)))
            );
        }
        self.position += data.len() as u64;
        Ok(())
    }

    /// Whole chunks of a thin volume are discarded (unmapped, they read as zeros); other
    /// zeros are written by `dd` from the host's `/dev/zero`. None of them cross the wire.
    fn write_zeroes(&mut self, offset: u64, length: u64) -> Result<()> {
        check_range(offset, length, self.size_bytes)?;
        if length == 0 {
            return Ok(());
        }
        self.close()?;
        let end = offset + length;
        if let Some(chunk) = self.discard_chunk {
            let first = offset.div_ceil(chunk) * chunk;
            let last = end / chunk * chunk;
            if last > first {
                self.zero_range(offset, first - offset)?;
                let words = [
                    "blkdiscard".to_owned(),
                    "-o".to_owned(),
                    first.to_string(),
                    "-l".to_owned(),
                    (last - first).to_string(),
                    self.device.clone(),
                ];
                let process = Process::spawn(&self.host, &words, Stdio::null(), Stdio::null())?;
                process.finish(&self.host, &self.object, "discard")?;
                return self.zero_range(last, end - last);
            }
        }
        self.zero_range(offset, length)
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.close()
    }
}

impl LvWriter {
    /// Writes zeros from the host's `/dev/zero`.
    fn zero_range(&self, offset: u64, length: u64) -> Result<()> {
        if length == 0 {
            return Ok(());
        }
        let words = [
            "dd".to_owned(),
            "if=/dev/zero".to_owned(),
            format!("of={}", self.device),
            "bs=1M".to_owned(),
            "iflag=count_bytes".to_owned(),
            "oflag=seek_bytes".to_owned(),
            format!("seek={offset}"),
            format!("count={length}"),
            "conv=notrunc,fsync".to_owned(),
        ];
        let process = Process::spawn(&self.host, &words, Stdio::null(), Stdio::null())?;
        process.finish(&self.host, &self.object, "zero")
    }
}

impl Drop for LvWriter {
    fn drop(&mut self) {
        if let Some((process, stdin)) = self.stream.take() {
            drop(stdin);
            let _ = process.finish(&self.host, &self.object, "write");
        }
    }
}
