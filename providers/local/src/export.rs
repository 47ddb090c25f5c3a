//! Serving one qcow2 file (or one of its internal snapshots, or one of its dirty bitmaps) with
//! `qemu-nbd` on a private unix socket, and the volume reader and writer built on it.
//!
//! qemu-nbd runs as a child process for as long as the reader or writer lives, and dies with
//! blockform even when blockform is killed (see [`DEATH_SIGNAL_WRAPPER`]): the socket sits
//! in a fresh directory only this user can enter (named after blockform's process, so the next
//! run removes the directories of killed runs), qemu-nbd serves exactly one client and exits
//! when that client disconnects, which is also when it writes its dirty bitmaps back and clears
//! their `in_use` flag. Its stderr goes to a file in the same directory so that errors can
//! quote it. The process is started through the SDK runner's `Command`, so it gets the same
//! environment as every other tool; the runner's run-to-completion timeout does not fit a
//! server, so starting, each socket operation and stopping have timeouts of their own.

use std::fs::{self, DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use blockform_provider::data::check_range;
use blockform_provider::{CommandContext, CommandRunner, ObjectRef, ProviderError, Result, VolumeReader, VolumeWriter};

use crate::nbd::{Handshake, NbdClient, NbdError, StatusDescriptor};

/// How long qemu-nbd may take to open the image and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one request may wait for its reply.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// How long qemu-nbd may take to flush and exit after the client left.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to wait for qemu-nbd to exit by itself after it hung up during the handshake.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The longest temporary directory the socket is put under: 107 bytes minus
/// `/blockform-nbd-<pid, up to 10 digits>-<32 hex digits>/nbd.sock`.
const MAX_TEMP_DIR_BYTES: usize = 107 - 67;

/// The prefix of the private directories qemu-nbd sockets are put in.
const DIRECTORY_PREFIX: &str = "blockform-nbd-";

/// What qemu-nbd is started through so that it dies with the thread that started it:
/// util-linux's `setpriv` sets the parent-death signal (`PR_SET_PDEATHSIG`) and then runs
/// qemu-nbd, which keeps it. Without it a SIGKILL of blockform between starting qemu-nbd and
/// connecting to it would leave qemu-nbd waiting for a client forever, holding the image's
/// lock. (The signal follows the thread that forked: an export must not outlive the thread
/// that started it, which holds for every caller in blockform, each of which opens, uses and
/// closes an export within one call.)
const DEATH_SIGNAL_WRAPPER: [&str; 4] = ["setpriv", "--pdeathsig", "KILL", "--"];

/// Whether stale socket directories were looked for by this process already.
static SWEPT: std::sync::Once = std::sync::Once::new();

/// The socket directory for a new export, named after this process.
fn new_socket_directory() -> PathBuf {
    // A unix socket path has at most 107 bytes; a long `TMPDIR` would not leave room.
    let mut temp = std::env::temp_dir();
    if temp.as_os_str().len() > MAX_TEMP_DIR_BYTES {
        temp = PathBuf::from("/tmp");
    }
    SWEPT.call_once(|| sweep_stale_directories(&temp));
    temp.join(format!(
        "{DIRECTORY_PREFIX}{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// Removes the socket directories of blockform processes that are gone (killed before they
/// could remove their own); their qemu-nbd died with them. Directories of live processes are
/// left alone, and anything that is not such a directory too.
fn sweep_stale_directories(temp: &std::path::Path) {
    let Ok(entries) = fs::read_dir(temp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(DIRECTORY_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split_once('-').and_then(|(pid, _)| pid.parse::<u32>().ok()) else {
            continue;
        };
        let alive = pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            stop_servers_of(&entry.path());
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Kills the qemu-nbd still serving on a socket in `directory` (its blockform is gone: it
/// started before the parent-death signal was set, or without `setpriv`), so that it no
/// longer holds its image's lock.
fn stop_servers_of(directory: &std::path::Path) {
    let socket = format!("--socket={}", directory.join("nbd.sock").display());
    let Ok(processes) = fs::read_dir("/proc") else { return };
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(process.path().join("cmdline")) else {
            continue;
        };
        let mut words = cmdline.split(|&byte| byte == 0);
        let is_qemu_nbd = words
            .next()
            .is_some_and(|program| program == b"qemu-nbd" || program.ends_with(b"/qemu-nbd"));
        if is_qemu_nbd
            && words.any(|word| word == socket.as_bytes())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// What to serve.
#[derive(Debug, Clone, Copy)]
pub struct ExportRequest<'a> {
    /// The qcow2 file.
    pub image: &'a str,
    /// Whether the client may write.
    pub writable: bool,
    /// An internal snapshot to serve instead of the live image (read-only).
    pub snapshot: Option<&'a str>,
    /// A dirty bitmap to expose as the meta context `qemu:dirty-bitmap:NAME`.
    pub bitmap: Option<&'a str>,
    /// The meta context to negotiate for `BLOCK_STATUS`.
    pub meta_context: Option<&'a str>,
}

/// A running qemu-nbd and the one connection to it.
#[derive(Debug)]
pub struct Export {
    client: NbdClient,
    server: Server,
}

impl Export {
    /// Starts qemu-nbd for `request` and connects to it, waiting a moment for an image lock
    /// another process is about to release ([`crate::qemu::waiting_for_lock`]).
    pub fn start(runner: &CommandRunner, request: ExportRequest<'_>, object: &ObjectRef) -> Result<Self> {
        crate::qemu::waiting_for_lock(|| Self::start_once(runner, request, object.clone()))
    }

    fn start_once(runner: &CommandRunner, request: ExportRequest<'_>, object: ObjectRef) -> Result<Self> {
        let mut server = Server::spawn(runner, request, object)?;
        let stream = server.connect()?;
        // qemu-nbd may listen before it has opened the image, so the handshake is still part
        // of starting; a failure to open the image shows as the server hanging up.
        let handshake = Handshake {
            export_name: "",
            meta_context: request.meta_context,
        };
        let client = set_timeouts(&stream, START_TIMEOUT)
            .map_err(NbdError::from)
            .and_then(|()| NbdClient::handshake(stream, handshake))
            .and_then(|client| {
                set_timeouts(client.stream(), IO_TIMEOUT)?;
                Ok(client)
            });
        let client = match client {
            Ok(client) => client,
            Err(error) => {
                if let Some(exit) = server.exit_error(EXIT_GRACE) {
                    return Err(exit);
                }
                server.kill();
                return Err(server.nbd_failure(&error));
            }
        };
        if request.writable && client.is_read_only() {
            server.kill();
            return Err(server.failure("qemu-nbd exported the image read-only"));
        }
        Ok(Self { client, server })
    }

    /// The size of what is served.
    pub fn size_bytes(&self) -> u64 {
        self.client.size_bytes()
    }

    /// The block status descriptors of the whole export, in order.
    pub fn block_status_map(&mut self) -> Result<Vec<(u64, StatusDescriptor)>> {
        let size = self.client.size_bytes();
        let mut map = Vec::new();
        let mut offset = 0_u64;
        while offset < size {
            let descriptors = self
                .client
                .block_status(offset, size - offset)
                .map_err(|error| self.server.nbd_failure(&error))?;
            for descriptor in descriptors {
                map.push((offset, descriptor));
                offset += descriptor.length;
            }
        }
        Ok(map)
    }

    /// Disconnects and waits for qemu-nbd to exit cleanly.
    pub fn close(mut self) -> Result<()> {
        self.client
            .disconnect()
            .map_err(|error| self.server.nbd_failure(&error))?;
        self.server.wait()
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        // `close` was not called (an error or an abandoned reader): leave politely, so that
        // qemu-nbd still saves its bitmaps, and give it a moment; `Server`'s own drop kills it
        // if it is still there.
        if self.server.child.is_some() {
            let _ = self.client.disconnect();
            let _ = self.server.exit_error(EXIT_GRACE);
        }
    }
}

/// Reads a volume or snapshot through qemu-nbd.
#[derive(Debug)]
pub struct NbdReader {
    export: Export,
}

impl NbdReader {
    /// Serves `request` read-only and connects to it.
    pub fn open(runner: &CommandRunner, request: ExportRequest<'_>, object: &ObjectRef) -> Result<Self> {
        let request = ExportRequest {
            writable: false,
            ..request
        };
        Ok(Self {
            export: Export::start(runner, request, object)?,
        })
    }
}

impl VolumeReader for NbdReader {
    fn size_bytes(&self) -> u64 {
        self.export.size_bytes()
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.export.size_bytes())?;
        let export = &mut self.export;
        export
            .client
            .read(offset, buf)
            .map_err(|error| export.server.nbd_failure(&error))
    }
}

/// Writes a volume through qemu-nbd; `finish` flushes and waits for qemu-nbd to exit.
#[derive(Debug)]
pub struct NbdWriter {
    export: Export,
}

impl NbdWriter {
    /// Serves `image` writable and connects to it.
    pub fn open(runner: &CommandRunner, image: &str, object: &ObjectRef) -> Result<Self> {
        let request = ExportRequest {
            image,
            writable: true,
            snapshot: None,
            bitmap: None,
            meta_context: None,
        };
        Ok(Self {
            export: Export::start(runner, request, object)?,
        })
    }
}

impl VolumeWriter for NbdWriter {
    fn size_bytes(&self) -> u64 {
        self.export.size_bytes()
    }

    fn write_all_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len() as u64, self.export.size_bytes())?;
        let export = &mut self.export;
        export
            .client
            .write(offset, data)
            .map_err(|error| export.server.nbd_failure(&error))
    }

    fn write_zeroes(&mut self, offset: u64, length: u64) -> Result<()> {
        check_range(offset, length, self.export.size_bytes())?;
        let export = &mut self.export;
        if !export.client.can_write_zeroes() {
            // Fall back to writing zero buffers, as the trait's default does.
            let zeros = vec![0_u8; usize::try_from(length.min(1 << 20)).unwrap_or(1 << 20)];
            let mut written = 0;
            while written < length {
                let piece = usize::try_from(length - written).map_or(zeros.len(), |left| left.min(zeros.len()));
                self.write_all_at(offset + written, &zeros[..piece])?;
                written += piece as u64;
            }
            return Ok(());
        }
        export
            .client
            .write_zeroes(offset, length)
            .map_err(|error| export.server.nbd_failure(&error))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let mut export = self.export;
        export
            .client
            .flush()
            .map_err(|error| export.server.nbd_failure(&error))?;
        export.close()
    }
}

/// The qemu-nbd process and its private directory.
#[derive(Debug)]
struct Server {
    child: Option<Child>,
    argv: Vec<String>,
    directory: PathBuf,
    socket: PathBuf,
    object: ObjectRef,
}

impl Server {
    fn spawn(runner: &CommandRunner, request: ExportRequest<'_>, object: ObjectRef) -> Result<Self> {
        let directory = new_socket_directory();
        DirBuilder::new().mode(0o700).create(&directory).map_err(|error| {
            ProviderError::fatal(format!(
                "cannot create the directory `{}` for the qemu-nbd socket: {error}",
                directory.display()
            ))
        })?;
        let socket = directory.join("nbd.sock");
        let mut argv = vec![
            "qemu-nbd".to_owned(),
            format!("--socket={}", socket.display()),
            "--shared=1".to_owned(),
        ];
        if request.writable {
            argv.push("--discard=unmap".to_owned());
        } else {
            argv.push("--read-only".to_owned());
        }
        if let Some(snapshot) = request.snapshot {
            argv.push(format!("--load-snapshot=snapshot.name={snapshot}"));
        }
        if let Some(bitmap) = request.bitmap {
            argv.push(format!("--bitmap={bitmap}"));
        }
        if request.snapshot.is_some() {
            // An internal snapshot is frozen: its clusters are shared with the live image and
            // copied before any write, so it reads the same while a running domain's QEMU,
            // which holds the image's lock, writes the volume (a backup through the domain).
            // qemu-nbd has no `--force-share`: the file is opened without taking the lock.
            argv.push("--image-opts".to_owned());
            argv.push(format!(
                "driver=qcow2,file.driver=file,file.filename={},file.locking=off",
                request.image.replace(',', ",,")
            ));
        } else {
            argv.push("--format=qcow2".to_owned());
            argv.push(request.image.to_owned());
        }

        let mut server = Self {
            child: None,
            argv,
            directory,
            socket,
            object,
        };
        let stderr = File::create(server.stderr_path())
            .map_err(|error| server.failure(&format!("cannot create its stderr file: {error}")))?;
        let wrapped: Vec<&str> = DEATH_SIGNAL_WRAPPER
            .iter()
            .copied()
            .chain(server.argv.iter().map(String::as_str))
            .collect();
        let mut command = runner.command(&wrapped)?;
        let stderr_copy = stderr
            .try_clone()
            .map_err(|error| server.failure(&format!("cannot create its stderr file: {error}")))?;
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        let child = match command.spawn() {
            Ok(child) => child,
            // No util-linux `setpriv`: qemu-nbd runs without the parent-death signal.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut command = runner.command(&server.argv)?;
                command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr_copy);
                command
                    .spawn()
                    .map_err(|error| server.failure(&format!("cannot start it: {error}")))?
            }
            Err(error) => return Err(server.failure(&format!("cannot start it: {error}"))),
        };
        // Only once setpriv has set the signal and run qemu-nbd does qemu-nbd die with us: wait
        // for that (a few milliseconds) before going on, so no later kill can leave it behind.
        let pid = child.id();
        server.child = Some(child);
        let started = Instant::now();
        while fs::read(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.starts_with(b"setpriv"))
            && started.elapsed() < START_TIMEOUT
        {
            thread::sleep(Duration::from_millis(1));
        }
        crate::fault::point("export");
        Ok(server)
    }

    /// Connects once qemu-nbd listens; the first connection is the one that is used, since
    /// qemu-nbd exits when its only client leaves.
    fn connect(&mut self) -> Result<UnixStream> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(child) = &mut self.child {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        return Err(self.exited(status.code()));
                    }
                    Ok(None) => {}
                    Err(error) => return Err(self.failure(&format!("cannot wait for it: {error}"))),
                }
            }
            if self.socket.exists()
                && let Ok(stream) = UnixStream::connect(&self.socket)
            {
                return Ok(stream);
            }
            if started.elapsed() >= START_TIMEOUT {
                self.kill();
                return Err(ProviderError::TimedOut {
                    command: Box::new(self.context(None)),
                    timeout_ms: u64::try_from(START_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Waits for qemu-nbd to exit after its client left.
    fn wait(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(self.exited(status.code())),
                Ok(None) if started.elapsed() >= STOP_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ProviderError::TimedOut {
                        command: Box::new(self.context(None)),
                        timeout_ms: u64::try_from(STOP_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                    });
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(error) => return Err(self.failure(&format!("cannot wait for it: {error}"))),
            }
        }
    }

    /// Waits up to `grace` for qemu-nbd to exit by itself and returns why it did, if it did.
    fn exit_error(&mut self, grace: Duration) -> Option<ProviderError> {
        let started = Instant::now();
        let status = loop {
            match self.child.as_mut()?.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < grace => thread::sleep(Duration::from_millis(5)),
                Ok(None) | Err(_) => return None,
            }
        };
        self.child = None;
        Some(self.exited(status.code()))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Either fails only when the process is already gone.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stderr_path(&self) -> PathBuf {
        self.directory.join("stderr")
    }

    fn context(&self, status: Option<i32>) -> CommandContext {
        let stderr = fs::read(self.stderr_path()).unwrap_or_default();
        CommandContext {
            argv: self.argv.clone(),
            remote: None,
            status,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    fn exited(&self, status: Option<i32>) -> ProviderError {
        let context = self.context(status);
        if context.stderr.contains("Failed to get") && context.stderr.contains("lock") {
            return ProviderError::Busy {
                object: self.object.clone(),
                reason: "another process has the image open".to_owned(),
                command: Some(Box::new(context)),
            };
        }
        ProviderError::Fatal {
            reason: "qemu-nbd failed".to_owned(),
            command: Some(Box::new(context)),
        }
    }

    fn failure(&self, reason: &str) -> ProviderError {
        ProviderError::Fatal {
            reason: format!("qemu-nbd: {reason}"),
            command: Some(Box::new(self.context(None))),
        }
    }

    fn nbd_failure(&self, error: &NbdError) -> ProviderError {
        let command = Some(Box::new(self.context(None)));
        if error.is_timeout() {
            ProviderError::Transient {
                reason: format!("qemu-nbd did not answer within {} s: {error}", IO_TIMEOUT.as_secs()),
                command,
            }
        } else {
            ProviderError::Fatal {
                reason: error.to_string(),
                command,
            }
        }
    }
}

fn set_timeouts(stream: &UnixStream, timeout: Duration) -> std::io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // Only our own socket and stderr file are in it; a leftover directory is harmless.
        let _ = fs::remove_dir_all(&self.directory);
    }
}
