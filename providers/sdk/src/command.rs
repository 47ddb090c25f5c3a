//! Running back-end tools: argv vectors executed directly, never through `sh -c`, either on
//! this machine or over ssh, with a timeout, and failures turned into `ProviderError`s that
//! carry the command line and stderr.
//!
//! Over ssh the remote side always goes through the login shell, so every argument is
//! single-quoted for a POSIX shell; names are validated before they get here as a second line
//! of defence. Commands run with `LC_ALL=C` because providers classify failures by the back
//! end's (English) messages.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{CommandContext, ProviderError, Result};
use crate::quote::{command_line, shell_quote};

/// How long a command may run unless the runner is given another timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long to keep reading after the process ended or was killed, for pipes that a background
/// process it started keeps open.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// The longest pause between two checks of whether the process has exited.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The exit status ssh reports when it could not connect or authenticate.
const SSH_FAILURE_STATUS: i32 = 255;

/// Where commands run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Transport {
    /// On this machine.
    #[default]
    Local,
    /// On another machine, through the `ssh` client in batch mode.
    Ssh {
        /// The host name or address.
        host: String,
        /// The port, when not 22.
        port: Option<u16>,
        /// The remote user, when not the ssh default.
        user: Option<String>,
        /// The private key to authenticate with.
        identity_file: Option<PathBuf>,
        /// Further `-o` options (`StrictHostKeyChecking=accept-new`, `ConnectTimeout=10`).
        #[serde(default)]
        extra_options: Vec<String>,
    },
}

impl Transport {
    /// The ssh destination as messages show it (`user@host:port`), or `None` when local.
    pub fn remote(&self) -> Option<String> {
        match self {
            Self::Local => None,
            Self::Ssh { host, port, user, .. } => {
                let mut remote = destination(host, user.as_deref());
                if let Some(port) = port {
                    remote = format!("{remote}:{port}");
                }
                Some(remote)
            }
        }
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr, lossily decoded.
    pub stderr: String,
    /// The exit status, or `None` when the process was killed by a signal.
    pub status: Option<i32>,
}

impl CommandOutput {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs argv vectors through a transport, with a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRunner {
    transport: Transport,
    timeout: Duration,
}

impl CommandRunner {
    /// A runner for this machine with the default timeout.
    pub fn local() -> Self {
        Self {
            transport: Transport::Local,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A runner for `transport` with the default timeout, after checking the ssh destination.
    pub fn new(transport: Transport) -> Result<Self> {
        if let Transport::Ssh {
            host,
            user,
            identity_file,
            ..
        } = &transport
        {
            validate_ssh_word(host, "host")?;
            if let Some(user) = user {
                validate_ssh_word(user, "user")?;
            }
            if let Some(path) = identity_file
                && path.to_str().is_none()
            {
                return Err(ProviderError::InvalidName {
                    name: path.to_string_lossy().into_owned(),
                    reason: "an ssh identity file path must be valid UTF-8".to_owned(),
                });
            }
        }
        Ok(Self {
            transport,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same runner with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where commands run.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// How long a command may run before it is killed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The argv this machine executes for `argv`: itself, or the `ssh` invocation around it.
    pub fn process_argv<S: AsRef<str>>(&self, argv: &[S]) -> Vec<String> {
        match &self.transport {
            Transport::Local => argv.iter().map(|word| word.as_ref().to_owned()).collect(),
            Transport::Ssh {
                host,
                port,
                user,
                identity_file,
                extra_options,
            } => {
                let mut ssh = vec!["ssh".to_owned()];
                if let Some(port) = port {
                    ssh.extend(["-p".to_owned(), port.to_string()]);
                }
                if let Some(path) = identity_file {
                    ssh.extend(["-i".to_owned(), path.to_string_lossy().into_owned()]);
                }
                ssh.extend(["-o".to_owned(), "BatchMode=yes".to_owned()]);
                for option in extra_options {
                    ssh.extend(["-o".to_owned(), option.clone()]);
                }
                ssh.push(destination(host, user.as_deref()));
                ssh.push("--".to_owned());
                ssh.push(remote_command(argv));
                ssh
            }
        }
    }

    /// A `Command` for `argv` through the transport, for callers that stream its pipes.
    pub fn command<S: AsRef<str>>(&self, argv: &[S]) -> Result<Command> {
        if argv.is_empty() {
            return Err(ProviderError::fatal("cannot run an empty command"));
        }
        let process_argv = self.process_argv(argv);
        let Some((program, arguments)) = process_argv.split_first() else {
            return Err(ProviderError::fatal("cannot run an empty command"));
        };
        let mut command = match resolve(program) {
            Some(file) => {
                let mut command = Command::new(file);
                command.arg0(program);
                command
            }
            None => Command::new(program),
        };
        command.args(arguments).env("LC_ALL", "C");
        Ok(command)
    }

    /// Runs `argv` and returns its output if it exits with status 0, an error otherwise.
    ///
    /// A non-zero exit is `Fatal`, except ssh's own failure (status 255), which is `Transient`;
    /// providers turn the errors they recognise by stderr into `NotFound`, `Busy` and so on.
    pub fn run<S: AsRef<str>>(&self, argv: &[S]) -> Result<CommandOutput> {
        let output = self.output(argv)?;
        if output.success() {
            return Ok(output);
        }
        let command = Some(Box::new(self.context(argv, output.status, output.stderr)));
        let ssh_failed = matches!(self.transport, Transport::Ssh { .. }) && output.status == Some(SSH_FAILURE_STATUS);
        Err(if ssh_failed {
            ProviderError::Transient {
                reason: "ssh could not run the command".to_owned(),
                command,
            }
        } else {
            ProviderError::Fatal {
                reason: "command failed".to_owned(),
                command,
            }
        })
    }

    /// Runs `argv` and returns its output whatever its exit status; only a failure to start it
    /// or a timeout is an error.
    pub fn output<S: AsRef<str>>(&self, argv: &[S]) -> Result<CommandOutput> {
        let mut command = self.command(argv)?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().map_err(|error| {
            let context = self.context(argv, None, String::new());
            let reason = match &self.transport {
                Transport::Local => format!("cannot start {}: {error}", context.invocation()),
                Transport::Ssh { .. } => {
                    format!("cannot start `ssh` to run {}: {error}", context.invocation())
                }
            };
            ProviderError::fatal(reason)
        })?;
        let pipes = match (child.stdout.take(), child.stderr.take()) {
            (Some(stdout), Some(stderr)) => Pipes::new(stdout, stderr),
            _ => Err(io::Error::other("its pipes were not created")),
        };
        let mut pipes = match pipes {
            Ok(pipes) => pipes,
            Err(error) => {
                kill_and_reap(&mut child);
                return Err(ProviderError::fatal(format!(
                    "cannot read the output of `{}`: {error}",
                    command_line(argv)
                )));
            }
        };
        // Readable once the process has exited: one wait covers output and exit alike. Without
        // it (a kernel before 5.3), the wait is cut into short slices and the exit polled.
        let exit = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok());

        let deadline = started.checked_add(self.timeout);
        let failed_wait = |child: &mut Child, error: io::Error| {
            kill_and_reap(child);
            ProviderError::fatal(format!("cannot wait for `{}`: {error}", command_line(argv)))
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(error) => return Err(failed_wait(&mut child, error)),
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                kill_and_reap(&mut child);
                pipes.read_until(Instant::now() + PIPE_GRACE, None);
                return Err(ProviderError::TimedOut {
                    command: Box::new(self.context(argv, None, lossy(pipes.stderr))),
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
            let mut slice = deadline.map_or(MAX_POLL_INTERVAL * 50, |deadline| deadline - now);
            if exit.is_none() {
                slice = slice.min(MAX_POLL_INTERVAL);
            }
            if let Err(error) = pipes.wait(exit.as_ref(), slice) {
                return Err(failed_wait(&mut child, error));
            }
        };
        // What a background process it started still writes is read for a moment longer.
        pipes.read_until(Instant::now() + PIPE_GRACE, None);
        Ok(CommandOutput {
            stdout: pipes.stdout,
            stderr: lossy(pipes.stderr),
            status: status.code(),
        })
    }

    fn context<S: AsRef<str>>(&self, argv: &[S], status: Option<i32>, stderr: String) -> CommandContext {
        CommandContext {
            argv: argv.iter().map(|word| word.as_ref().to_owned()).collect(),
            remote: self.transport.remote(),
            status,
            stderr,
        }
    }
}

/// The single string ssh hands to the remote login shell.
fn remote_command<S: AsRef<str>>(argv: &[S]) -> String {
    let mut command = String::from("LC_ALL=C");
    for word in argv {
        command.push(' ');
        command.push_str(&shell_quote(word.as_ref()));
    }
    command
}

fn destination(host: &str, user: Option<&str>) -> String {
    match user {
        Some(user) => format!("{user}@{host}"),
        None => host.to_owned(),
    }
}

/// Rejects ssh hosts and users that ssh would read as options or split.
fn validate_ssh_word(word: &str, what: &str) -> Result<()> {
    let reason = if word.is_empty() {
        Some(format!("an ssh {what} must not be empty"))
    } else if word.starts_with('-') {
        Some(format!("an ssh {what} must not start with `-`"))
    } else if word.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
        Some(format!(
            "an ssh {what} must not contain whitespace, control characters or `@`"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProviderError::InvalidName {
            name: word.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The file `program` names, found in `PATH` as `execvp` finds it (the first executable file
/// of that name), remembered for the process: each later start runs it at once instead of
/// trying every directory of `PATH` in turn. `None` for a path, or when nothing is found (the
/// start then fails as it would have).
fn resolve(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    type Found = std::collections::HashMap<String, (std::ffi::OsString, PathBuf)>;
    static FOUND: std::sync::OnceLock<std::sync::Mutex<Found>> = std::sync::OnceLock::new();
    if program.contains('/') || program.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    let found = FOUND.get_or_init(Default::default);
    if let Some((searched, file)) = found
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(program)
        && *searched == path
    {
        return Some(file.clone());
    }
    let file = std::env::split_paths(&path)
        .map(|directory| directory.join(program))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        })?;
    // A relative directory of `PATH` depends on where the process is when it starts one.
    if file.is_relative() {
        return Some(file);
    }
    found
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(program.to_owned(), (path, file.clone()));
    Some(file)
}

fn kill_and_reap(child: &mut Child) {
    // Either may fail only because the process is already gone, which is what we want.
    let _ = child.kill();
    let _ = child.wait();
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// The two output pipes of a process, read on the runner's own thread as their data comes
/// (no thread per pipe: a command costs one process and nothing more).
struct Pipes {
    /// The pipes still open: stdout, stderr.
    open: [Option<std::os::fd::OwnedFd>; 2],
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Pipes {
    fn new(stdout: std::process::ChildStdout, stderr: std::process::ChildStderr) -> io::Result<Self> {
        let (stdout, stderr) = (std::os::fd::OwnedFd::from(stdout), std::os::fd::OwnedFd::from(stderr));
        rustix::io::ioctl_fionbio(&stdout, true)?;
        rustix::io::ioctl_fionbio(&stderr, true)?;
        Ok(Self {
            open: [Some(stdout), Some(stderr)],
            stdout: Vec::new(),
            stderr: Vec::new(),
        })
    }

    fn all_closed(&self) -> bool {
        self.open.iter().all(Option::is_none)
    }

    /// Waits up to `slice` until a pipe has data or closes, or `also` (the process's exit)
    /// becomes readable, and reads what is there.
    fn wait(&mut self, also: Option<&std::os::fd::OwnedFd>, slice: Duration) -> io::Result<()> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let timeout = Timespec::try_from(slice).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds: Vec<PollFd<'_>> = self
            .open
            .iter()
            .flatten()
            .chain(also)
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        if fds.is_empty() {
            thread::sleep(slice);
            return Ok(());
        }
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        drop(fds);
        self.read_available();
        Ok(())
    }

    /// Reads what each open pipe holds now, closing those at their end.
    fn read_available(&mut self) {
        let mut chunk = [0_u8; 16 * 1024];
        for (index, slot) in self.open.iter_mut().enumerate() {
            let Some(fd) = slot else { continue };
            let sink = if index == 0 { &mut self.stdout } else { &mut self.stderr };
            loop {
                match rustix::io::read(&*fd, &mut chunk) {
                    Ok(0) => {
                        *slot = None;
                        break;
                    }
                    Ok(read) => sink.extend_from_slice(&chunk[..read]),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(rustix::io::Errno::AGAIN) => break,
                    // Nothing more can come from it.
                    Err(_) => {
                        *slot = None;
                        break;
                    }
                }
            }
        }
    }

    /// Reads until both pipes are closed or `deadline` passes.
    fn read_until(&mut self, deadline: Instant, also: Option<&std::os::fd::OwnedFd>) {
        self.read_available();
        while !self.all_closed() {
            let now = Instant::now();
            if now >= deadline || self.wait(also, deadline - now).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRICKY_WORDS: [&str; 16] = [
        "",
        "plain",
        "it's",
        "''",
        "a b",
        "$(echo pwned)",
        "`id`",
        "$HOME",
        "line\nbreak",
        "tab\there",
        "*",
        "~",
        "back\\slash",
        "!",
        "-n",
        "ünïcödé; rm -rf /",
    ];

    fn ssh(host: &str, user: Option<&str>) -> Transport {
        Transport::Ssh {
            host: host.into(),
            port: None,
            user: user.map(Into::into),
            identity_file: None,
            extra_options: Vec::new(),
        }
    }

    #[test]
    fn shell_quote_survives_a_real_posix_shell() {
        let runner = CommandRunner::local();
        for word in TRICKY_WORDS {
            let script = format!("printf %s {}", shell_quote(word));
            let output = runner.run(&["sh", "-c", &script]).unwrap();
            assert_eq!(String::from_utf8(output.stdout).unwrap(), word, "{script}");
        }
    }

    #[test]
    fn local_argv_is_passed_through_unchanged() {
        let runner = CommandRunner::local();
        assert_eq!(runner.process_argv(&["lvs", "a b"]), ["lvs", "a b"]);
    }

    #[test]
    fn ssh_argv_has_every_option_and_a_single_quoted_remote_command() {
        let runner = CommandRunner::new(Transport::Ssh {
            host: "host1.example".into(),
            port: Some(2222),
            user: Some("blockform".into()),
            identity_file: Some("/etc/blockform/id_ed25519".into()),
            extra_options: vec!["StrictHostKeyChecking=accept-new".into(), "ConnectTimeout=10".into()],
        })
        .unwrap();
        let argv = runner.process_argv(&[
            "lvcreate",
            "--name",
            "volume-1",
            "--addtag",
            "name=it's $(reboot)",
            "vg0",
        ]);
        assert_eq!(
            argv,
            [
                "ssh",
                "-p",
                "2222",
                "-i",
                "/etc/blockform/id_ed25519",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "ConnectTimeout=10",
                "blockform@host1.example",
                "--",
                r"LC_ALL=C 'lvcreate' '--name' 'volume-1' '--addtag' 'name=it'\''s $(reboot)' 'vg0'",
            ]
        );
    }

    #[test]
    fn ssh_argv_leaves_out_unset_options() {
        let runner = CommandRunner::new(ssh("10.0.0.7", None)).unwrap();
        assert_eq!(
            runner.process_argv(&["vgs"]),
            ["ssh", "-o", "BatchMode=yes", "10.0.0.7", "--", "LC_ALL=C 'vgs'"]
        );
        assert_eq!(runner.transport().remote().as_deref(), Some("10.0.0.7"));
    }

    #[test]
    fn the_remote_command_means_the_same_argv_to_a_posix_shell() {
        let ssh_runner = CommandRunner::new(ssh("host1", Some("root"))).unwrap();
        let mut argv = vec!["printf", "%s|"];
        argv.extend(TRICKY_WORDS);
        let remote = ssh_runner.process_argv(&argv).pop().unwrap();
        // What sshd does with the string: hand it to the login shell as `sh -c`.
        let output = CommandRunner::local().run(&["sh", "-c", &remote]).unwrap();
        let expected: String = TRICKY_WORDS.iter().flat_map(|word| [*word, "|"]).collect();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    }

    #[test]
    fn ssh_destinations_that_ssh_would_misread_are_rejected() {
        for (transport, message) in [
            (
                ssh("-oProxyCommand=reboot", None),
                "invalid name `-oProxyCommand=reboot`: an ssh host must not start with `-`",
            ),
            (ssh("", None), "invalid name ``: an ssh host must not be empty"),
            (
                ssh("host one", None),
                "invalid name `host one`: an ssh host must not contain whitespace, control characters or `@`",
            ),
            (
                ssh("host", Some("-l")),
                "invalid name `-l`: an ssh user must not start with `-`",
            ),
            (
                ssh("host", Some("a@b")),
                "invalid name `a@b`: an ssh user must not contain whitespace, control characters or `@`",
            ),
        ] {
            assert_eq!(CommandRunner::new(transport).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn transports_round_trip_through_json() {
        let transport = Transport::Ssh {
            host: "host1".into(),
            port: Some(22),
            user: Some("root".into()),
            identity_file: Some("/root/.ssh/id_ed25519".into()),
            extra_options: vec!["ConnectTimeout=5".into()],
        };
        let json = serde_json::to_string(&transport).unwrap();
        assert_eq!(serde_json::from_str::<Transport>(&json).unwrap(), transport);
        assert_eq!(
            serde_json::from_str::<Transport>(
                r#"{"type":"ssh","host":"h","port":null,"user":null,"identity_file":null}"#
            )
            .unwrap(),
            ssh("h", None)
        );
        assert_eq!(
            serde_json::from_str::<Transport>(r#"{"type":"local"}"#).unwrap(),
            Transport::Local
        );
        assert_eq!(transport.remote().as_deref(), Some("root@host1:22"));
    }

    #[test]
    fn a_program_is_found_in_path_once_and_keeps_its_name_as_argv0() {
        let sh = resolve("sh").unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(resolve("sh"), Some(sh));
        assert_eq!(resolve("/bin/sh"), None);
        assert_eq!(resolve("blockform-no-such-program"), None);
        let output = CommandRunner::local()
            .run(&["sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"])
            .unwrap();
        assert!(String::from_utf8(output.stdout).unwrap().starts_with("sh -c "));
        let missing = CommandRunner::local().run(&["blockform-no-such-program"]).unwrap_err();
        assert!(missing.to_string().contains("cannot start"), "{missing}");
    }

    #[test]
    fn successful_commands_return_stdout_stderr_and_status() {
        let runner = CommandRunner::local();
        let output = runner.run(&["true"]).unwrap();
        assert_eq!(
            output,
            CommandOutput {
                stdout: Vec::new(),
                stderr: String::new(),
                status: Some(0)
            }
        );

        let output = runner.run(&["sh", "-c", "printf 'a\\nb'; echo warn >&2"]).unwrap();
        assert_eq!(output.stdout, b"a\nb");
        assert_eq!(output.stderr, "warn\n");
    }

    #[test]
    fn commands_run_with_the_c_locale() {
        let output = CommandRunner::local()
            .run(&["sh", "-c", "printf %s \"$LC_ALL\""])
            .unwrap();
        assert_eq!(output.stdout, b"C");
    }

    #[test]
    fn a_non_zero_exit_is_fatal_with_argv_status_and_stderr() {
        let error = CommandRunner::local().run(&["false"]).unwrap_err();
        assert_eq!(error.to_string(), "command failed: `false` exited with status 1");
        assert!(!error.is_retryable());

        let error = CommandRunner::local()
            .run(&["sh", "-c", "echo err >&2; exit 3"])
            .unwrap_err();
        assert_eq!(
            error,
            ProviderError::Fatal {
                reason: "command failed".into(),
                command: Some(Box::new(CommandContext {
                    argv: vec!["sh".into(), "-c".into(), "echo err >&2; exit 3".into()],
                    remote: None,
                    status: Some(3),
                    stderr: "err\n".into(),
                })),
            }
        );
        assert_eq!(
            error.to_string(),
            "command failed: `sh -c 'echo err >&2; exit 3'` exited with status 3: err"
        );
    }

    #[test]
    fn output_returns_non_zero_exits_without_an_error() {
        let output = CommandRunner::local().output(&["sh", "-c", "exit 7"]).unwrap();
        assert_eq!(output.status, Some(7));
        assert!(!output.success());
    }

    #[test]
    fn a_process_killed_by_a_signal_has_no_status() {
        let error = CommandRunner::local().run(&["sh", "-c", "kill -9 $$"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "command failed: `sh -c 'kill -9 $$'` was killed by a signal"
        );
        assert_eq!(error.command().unwrap().status, None);
    }

    #[test]
    fn a_missing_program_is_fatal() {
        let error = CommandRunner::local()
            .run(&["blockform-no-such-tool", "--version"])
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("cannot start `blockform-no-such-tool --version`: "),
            "{message}"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn an_empty_argv_is_refused() {
        let error = CommandRunner::local().run::<&str>(&[]).unwrap_err();
        assert_eq!(error.to_string(), "cannot run an empty command");
    }

    #[test]
    fn large_stdout_and_stderr_are_drained_together() {
        let output = CommandRunner::local()
            .run(&["sh", "-c", "head -c 300000 /dev/zero >&2; head -c 1000000 /dev/zero"])
            .unwrap();
        assert_eq!(output.stdout.len(), 1_000_000);
        assert_eq!(output.stderr.len(), 300_000);
    }

    #[test]
    fn a_command_past_its_timeout_is_killed() {
        let runner = CommandRunner::local().with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error = runner.run(&["sleep", "5"]).unwrap_err();
        // Far below the 5 s the command would take: it was killed, not waited for.
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert_eq!(error.to_string(), "`sleep 5` timed out after 200 ms");
        assert!(error.is_retryable());
        assert!(matches!(error, ProviderError::TimedOut { timeout_ms: 200, .. }));
    }

    #[test]
    fn a_timeout_reports_the_stderr_written_before_the_kill() {
        // Long enough for `sh` to write before the kill even on a busy machine.
        let runner = CommandRunner::local().with_timeout(Duration::from_millis(1500));
        let error = runner
            .run(&["sh", "-c", "echo connecting >&2; exec sleep 5"])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`sh -c 'echo connecting >&2; exec sleep 5'` timed out after 1500 ms: connecting"
        );
    }

    #[test]
    fn a_grandchild_holding_the_pipes_does_not_stall_a_timeout() {
        let runner = CommandRunner::local().with_timeout(Duration::from_millis(200));
        let started = Instant::now();
        // `sh` forks `sleep`, which keeps the pipes open after `sh` is killed.
        let error = runner.run(&["sh", "-c", "sleep 5; true"]).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert!(matches!(error, ProviderError::TimedOut { .. }), "{error}");
    }

    #[test]
    fn a_background_process_holding_the_pipes_does_not_stall_a_finished_command() {
        let started = Instant::now();
        let output = CommandRunner::local()
            .run(&["sh", "-c", "sleep 5 & echo started"])
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert_eq!(output.stdout, b"started\n");
    }

    #[test]
    fn an_unreachable_ssh_host_is_a_transient_failure() {
        // Nothing listens on port 1, so the real ssh client fails to connect and exits 255.
        let runner = CommandRunner::new(Transport::Ssh {
            host: "127.0.0.1".into(),
            port: Some(1),
            user: Some("nobody".into()),
            identity_file: None,
            extra_options: vec![
                "ConnectTimeout=5".into(),
                "StrictHostKeyChecking=no".into(),
                "UserKnownHostsFile=/dev/null".into(),
            ],
        })
        .unwrap()
        .with_timeout(Duration::from_secs(30));
        let error = runner.run(&["lvs", "--reportformat", "json"]).unwrap_err();
        assert!(error.is_retryable(), "{error}");
        let command = error.command().unwrap();
        assert_eq!(command.argv, ["lvs", "--reportformat", "json"]);
        assert_eq!(command.remote.as_deref(), Some("nobody@127.0.0.1:1"));
        assert_eq!(command.status, Some(255));
        assert!(command.stderr.contains("Connection refused"), "{}", command.stderr);
        assert!(
            error.to_string().starts_with(
                "temporary failure: ssh could not run the command: \
                 `lvs --reportformat json` on `nobody@127.0.0.1:1` exited with status 255: "
            ),
            "{error}"
        );
    }
}
