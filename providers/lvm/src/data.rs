//! Reading and writing an LV's bytes for backups and restores, through the provider's ssh
//! connection (or locally): a read streams `dd if=/dev/VG/LV` from an offset, a write streams
//! into `dd of=/dev/VG/LV` at an offset. Backups read and restores write at increasing
//! offsets, so one stream serves a whole pass; a read behind the stream (or far ahead of it)
//! and a write that is not where the last one ended start a new stream there.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use blockform_provider::data::check_range;
use blockform_provider::{CommandContext, ObjectRef, ProviderError, Result, VolumeReader, VolumeWriter};

use crate::transport::Host;

/// How far ahead of the stream a read may be and still be reached by reading on.
const SKIP_LIMIT: u64 = 16 << 20;

/// A running `dd` on the host with its stderr drained on a thread.
struct Process {
    child: Child,
    argv: Vec<String>,
    drain: Option<JoinHandle<Vec<u8>>>,
}

impl Process {
    fn spawn(host: &Host, words: &[String], reading: bool) -> Result<Self> {
        let (mut command, argv) = host.command(words)?;
        if reading {
            command.stdin(Stdio::null()).stdout(Stdio::piped());
        } else {
            command.stdin(Stdio::piped()).stdout(Stdio::null());
        }
        command.stderr(Stdio::piped());
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
    stream: Option<(Process, ChildStdout)>,
    position: u64,
}

impl LvReader {
    /// A reader of `device`, `size_bytes` long; the stream starts with the first read.
    pub fn new(host: Arc<Host>, device: String, object: ObjectRef, size_bytes: u64) -> Self {
        Self {
            host,
            device,
            object,
            size_bytes,
            stream: None,
            position: 0,
        }
    }

    fn start(&mut self, offset: u64) -> Result<()> {
        if let Some((process, _)) = self.stream.take() {
            process.kill();
        }
        let words = [
            "dd".to_owned(),
            format!("if={}", self.device),
            "bs=1M".to_owned(),
            "iflag=skip_bytes".to_owned(),
            format!("skip={offset}"),
        ];
        let mut process = Process::spawn(&self.host, &words, true)?;
        let Some(stdout) = process.child.stdout.take() else {
            process.kill();
            return Err(ProviderError::fatal("the reading process has no stdout"));
        };
        self.stream = Some((process, stdout));
        self.position = offset;
        Ok(())
    }

    fn broken(&mut self, error: &io::Error) -> ProviderError {
        match self.stream.take() {
            Some((process, stdout)) => {
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
        if self.stream.is_none() || offset < self.position || offset - self.position > SKIP_LIMIT {
            self.start(offset)?;
        }
        let skip = offset - self.position;
        if skip > 0 {
            let copied = match self.stream.as_mut() {
                Some((_, stdout)) => io::copy(&mut stdout.take(skip), &mut io::sink()),
                None => Ok(0),
            };
            match copied {
                Ok(copied) if copied == skip => self.position = offset,
                Ok(_) => return Err(self.broken(&io::Error::from(io::ErrorKind::UnexpectedEof))),
                Err(error) => return Err(self.broken(&error)),
            }
        }
        let read = match self.stream.as_mut() {
            Some((_, stdout)) => stdout.read_exact(buf),
            None => Ok(()),
        };
        if let Err(error) = read {
            return Err(self.broken(&error));
        }
        self.position += buf.len() as u64;
        Ok(())
    }
}

impl Drop for LvReader {
    fn drop(&mut self) {
        if let Some((process, _)) = self.stream.take() {
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
    stream: Option<(Process, ChildStdin)>,
    position: u64,
}

impl LvWriter {
    /// A writer of `device`, `size_bytes` long; the stream starts with the first write.
    pub fn new(host: Arc<Host>, device: String, object: ObjectRef, size_bytes: u64) -> Self {
        Self {
            host,
            device,
            object,
            size_bytes,
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
        let mut process = Process::spawn(&self.host, &words, false)?;
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

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.close()
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
