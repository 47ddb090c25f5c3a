//! Running `rbd`, `ceph`, the pool reader and the worker against the provider's cluster: the
//! connection options every call carries, the timeouts, and the translation of a failed call
//! into a typed `ProviderError` that names the provider, the pool, the command line (for the
//! worker, the call as the `rbd` command that does the same) and the cluster's message.
//!
//! The tools exit with the errno of the failure (`rbd info` of a missing image exits 2,
//! `ENOENT`), and the worker answers a failed call with librbd's errno; both are read the same
//! way, which is a more reliable signal than the messages. Messages are only read to tell a
//! missing pool from a missing image and to explain configuration failures.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use blockform_provider::{CommandContext, CommandOutput, CommandRunner, ObjectRef, ProviderError, Result, shell_quote};

use crate::config::CephConfig;
use crate::pool::READER;
use crate::worker::{Failure, PROGRAM, PROGRAM_SHOWN, Request, Worker};

/// How long a command that copies data (flatten, import, export, deep copy) may run.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

const ENOENT: i32 = 2;
const EAGAIN: i32 = 11;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const ENOSPC: i32 = 28;
const ENOTEMPTY: i32 = 39;
const EDQUOT: i32 = 122;
const ESHUTDOWN: i32 = 108;
const ETIMEDOUT: i32 = 110;

/// How error messages show the pool reader's program text in a command line.
const READER_SHOWN: &str = "<blockform pool reader>";

/// The Ceph command-line tools the provider drives, and its pool reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Images, snapshots, metadata, per-image configuration.
    Rbd,
    /// Cluster-wide state: pool usage.
    Ceph,
    /// Every image's size, snapshots and metadata at once (see [`crate::pool`]), run by the
    /// Python interpreter of the `ceph` command.
    PoolReader,
    /// The long-lived connection image operations go through (see [`crate::worker`]), run
    /// by the same interpreter.
    Worker,
}

/// The provider's cluster, as the command-line tools reach it.
#[derive(Debug, Clone)]
pub struct Cluster {
    provider: String,
    pool: String,
    namespace: Option<String>,
    connection: Vec<String>,
    /// The interpreter that runs the pool reader.
    python: Vec<String>,
    connect_timeout: Duration,
    op_timeout: Duration,
    runner: CommandRunner,
    data_runner: CommandRunner,
    /// Shared by every clone of the cluster: one worker per provider.
    worker: Arc<Worker>,
}

impl Cluster {
    /// The cluster of a checked provider configuration.
    pub fn new(provider: &str, config: &CephConfig) -> Self {
        let mut connection = Vec::new();
        if let Some(cluster) = &config.cluster {
            connection.extend(["--cluster".to_owned(), cluster.clone()]);
        }
        if let Some(conf) = &config.conf {
            connection.extend(["--conf".to_owned(), conf.to_string_lossy().into_owned()]);
        }
        if let Some(user) = &config.user {
            connection.extend(["--id".to_owned(), user.clone()]);
        }
        if let Some(keyring) = &config.keyring {
            connection.extend(["--keyring".to_owned(), keyring.to_string_lossy().into_owned()]);
        }
        let connect_timeout = config.connect_timeout();
        // The runner's timeout is the last resort: the tools give up on the monitors first and
        // say why, which is the better message.
        let runner = CommandRunner::local().with_timeout(config.command_timeout() + connect_timeout);
        let mut cluster = Self {
            provider: provider.to_owned(),
            pool: config.pool.clone(),
            namespace: config.namespace.clone(),
            connection,
            python: ceph_python(std::env::var_os("PATH").as_deref()),
            connect_timeout,
            op_timeout: config.command_timeout(),
            runner,
            data_runner: CommandRunner::local().with_timeout(DATA_TIMEOUT),
            worker: Arc::new(Worker::new(Vec::new(), Duration::ZERO)),
        };
        cluster.worker = Arc::new(Worker::new(cluster.worker_argv(), cluster.call_timeout()));
        cluster
    }

    /// How long a metadata call may take: the operation timeout after the connection's.
    fn call_timeout(&self) -> Duration {
        self.op_timeout + self.connect_timeout
    }

    /// The worker's command line: the connection, the namespace, the pool.
    fn worker_argv(&self) -> Vec<String> {
        let mut words: Vec<&str> = Vec::new();
        if let Some(namespace) = &self.namespace {
            words.extend(["--namespace", namespace.as_str()]);
        }
        words.push(self.pool.as_str());
        self.argv(Tool::Worker, &words)
    }

    /// The provider's worker.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Runs a metadata operation through the worker; a refusal is an error about `object`.
    pub fn call(&self, request: &Request<'_>, object: &ObjectRef) -> Result<serde_json::Value> {
        self.call_within(request, object, self.call_timeout())
    }

    /// Runs an operation that copies data (flatten) through the worker, under the long timeout.
    pub fn call_data(&self, request: &Request<'_>, object: &ObjectRef) -> Result<serde_json::Value> {
        self.call_within(request, object, DATA_TIMEOUT)
    }

    /// Runs an operation through the worker and reads its answer as `T`.
    pub fn call_for<T: serde::de::DeserializeOwned>(&self, request: &Request<'_>, object: &ObjectRef) -> Result<T> {
        let answer = self.call(request, object)?;
        serde_json::from_value(answer).map_err(|error| {
            ProviderError::fatal(format!(
                "ceph provider `{}` (pool `{}`): the ceph worker's answer to `{}` does not read: {error}",
                self.provider,
                self.location(),
                blockform_provider::quote::command_line(&request.shown(&self.location())),
            ))
        })
    }

    fn call_within(&self, request: &Request<'_>, object: &ObjectRef, timeout: Duration) -> Result<serde_json::Value> {
        self.worker
            .call(request, timeout)
            .map_err(|failure| self.worker_failure(request, failure, object, timeout))
    }

    /// The typed error of a call that has no answer.
    fn worker_failure(
        &self,
        request: &Request<'_>,
        failure: Failure,
        object: &ObjectRef,
        timeout: Duration,
    ) -> ProviderError {
        let shown_worker = || -> Vec<String> {
            self.worker
                .argv()
                .iter()
                .map(|word| {
                    if word == PROGRAM {
                        PROGRAM_SHOWN.to_owned()
                    } else {
                        word.clone()
                    }
                })
                .collect()
        };
        let at = format!("ceph provider `{}` (pool `{}`)", self.provider, self.location());
        let context = |status: Option<i32>, stderr: String| {
            Some(Box::new(CommandContext {
                argv: request.shown(&self.location()),
                remote: None,
                status,
                stderr,
            }))
        };
        match failure {
            Failure::Spawn(error) => ProviderError::fatal(format!(
                "ceph provider `{}`: cannot start `{}`, the interpreter of the `ceph` command, to run the ceph worker: {error}",
                self.provider,
                self.python.join(" "),
            )),
            Failure::Start { status, stderr } => self.failure(
                shown_worker(),
                CommandOutput {
                    stdout: Vec::new(),
                    stderr,
                    status,
                },
                object,
            ),
            Failure::StartTimedOut => ProviderError::TimedOut {
                command: Box::new(CommandContext {
                    argv: shown_worker(),
                    remote: None,
                    status: None,
                    stderr: String::new(),
                }),
                timeout_ms: millis(self.call_timeout()),
            },
            Failure::Call { errno, message } => self.errno_failure(
                &at,
                Some(errno),
                &message.to_ascii_lowercase(),
                context(Some(errno), message),
                object,
            ),
            Failure::Ended { status, stderr } => ProviderError::Transient {
                reason: format!(
                    "{at}: the ceph worker ended during the call, so whether it was carried out is unknown \
                     (the next run finds out)"
                ),
                command: context(status, stderr),
            },
            Failure::TimedOut => ProviderError::TimedOut {
                command: Box::new(CommandContext {
                    argv: request.shown(&self.location()),
                    remote: None,
                    status: None,
                    stderr: String::new(),
                }),
                timeout_ms: millis(timeout),
            },
        }
    }

    /// The pool.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The namespace, if the volumes live in one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Where the volumes are, as messages name it: `POOL` or `POOL/NAMESPACE`.
    pub fn location(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{}/{namespace}", self.pool),
            None => self.pool.clone(),
        }
    }

    /// `POOL[/NAMESPACE]/IMAGE`, the image spec `rbd` takes.
    pub fn image_spec(&self, image: &str) -> String {
        format!("{}/{image}", self.location())
    }

    /// `POOL[/NAMESPACE]/IMAGE@SNAPSHOT`.
    pub fn snapshot_spec(&self, image: &str, snapshot: &str) -> String {
        format!("{}/{image}@{snapshot}", self.location())
    }

    /// The full argv of `tool ARGS`, with the connection and timeout options.
    pub fn argv<S: AsRef<str>>(&self, tool: Tool, words: &[S]) -> Vec<String> {
        let seconds = self.connect_timeout.as_secs().max(1).to_string();
        let mut argv = match tool {
            Tool::Rbd => vec!["rbd".to_owned()],
            Tool::Ceph => vec!["ceph".to_owned()],
            Tool::PoolReader => {
                let mut argv = self.python.clone();
                argv.extend(["-c".to_owned(), READER.to_owned()]);
                argv
            }
            Tool::Worker => {
                let mut argv = self.python.clone();
                argv.extend(["-c".to_owned(), PROGRAM.to_owned()]);
                argv
            }
        };
        argv.extend(self.connection.iter().cloned());
        match tool {
            Tool::Rbd | Tool::PoolReader | Tool::Worker => {
                // One OSD operation never takes minutes on a live cluster: without this limit
                // a data stream would wait forever for an OSD that died in the middle of it.
                argv.extend([
                    "--client_mount_timeout".to_owned(),
                    seconds.clone(),
                    "--rados_mon_op_timeout".to_owned(),
                    seconds,
                    "--rados_osd_op_timeout".to_owned(),
                    self.op_timeout.as_secs().max(1).to_string(),
                ]);
            }
            Tool::Ceph => argv.extend(["--connect-timeout".to_owned(), seconds]),
        }
        argv.extend(words.iter().map(|word| word.as_ref().to_owned()));
        argv
    }

    /// Runs a metadata command; a non-zero exit is an error about `object`.
    pub fn run<S: AsRef<str>>(&self, tool: Tool, args: &[S], object: &ObjectRef) -> Result<CommandOutput> {
        self.run_with(&self.runner, tool, args, object)
    }

    /// Runs a command that copies data, under the long timeout.
    pub fn run_data<S: AsRef<str>>(&self, tool: Tool, args: &[S], object: &ObjectRef) -> Result<CommandOutput> {
        self.run_with(&self.data_runner, tool, args, object)
    }

    /// Runs the pool reader over the pool (see [`crate::pool`]); its errors show the reader
    /// by name instead of its program text.
    pub fn read_pool(&self, object: &ObjectRef) -> Result<CommandOutput> {
        let mut words: Vec<&str> = Vec::new();
        if let Some(namespace) = &self.namespace {
            words.extend(["--namespace", namespace.as_str()]);
        }
        words.push(self.pool.as_str());
        let argv = self.argv(Tool::PoolReader, &words);
        // The command line as errors show it, built only for an error.
        let shown = || -> Vec<String> {
            argv.iter()
                .map(|word| {
                    if word == READER {
                        READER_SHOWN.to_owned()
                    } else {
                        word.clone()
                    }
                })
                .collect()
        };
        let output = self.runner.output(&argv).map_err(|error| match error {
            ProviderError::TimedOut { command, timeout_ms } => ProviderError::TimedOut {
                command: Box::new(CommandContext {
                    argv: shown(),
                    ..*command
                }),
                timeout_ms,
            },
            // The interpreter is missing (or not executable).
            ProviderError::Fatal { reason, command: None } if reason.starts_with("cannot start ") => {
                ProviderError::fatal(format!(
                "ceph provider `{}`: cannot start `{}`, the interpreter of the `ceph` command, to read the pool: {}",
                self.provider,
                self.python.join(" "),
                    reason.rsplit_once("`: ").map_or(reason.as_str(), |(_, cause)| cause)
                ))
            }
            // Any other failure to run it names it by its program text: show it by name.
            ProviderError::Fatal { reason, command: None } => {
                ProviderError::fatal(reason.replace(&shell_quote(READER), READER_SHOWN))
            }
            error => error,
        })?;
        if output.success() {
            Ok(output)
        } else {
            Err(self.failure(shown(), output, object))
        }
    }

    /// A `Command` for callers that stream its pipes (export and import-diff).
    pub fn command<S: AsRef<str>>(&self, tool: Tool, args: &[S]) -> Result<Command> {
        self.data_runner.command(&self.argv(tool, args))
    }

    fn run_with<S: AsRef<str>>(
        &self,
        runner: &CommandRunner,
        tool: Tool,
        words: &[S],
        object: &ObjectRef,
    ) -> Result<CommandOutput> {
        let argv = self.argv(tool, words);
        let output = runner.output(&argv)?;
        if output.success() {
            Ok(output)
        } else {
            Err(self.failure(argv, output, object))
        }
    }

    /// The typed error for a command that exited non-zero.
    pub fn failure(&self, argv: Vec<String>, output: CommandOutput, object: &ObjectRef) -> ProviderError {
        let stderr = output.stderr;
        let status = output.status;
        let lower = stderr.to_ascii_lowercase();
        let command = Some(Box::new(CommandContext {
            argv,
            remote: None,
            status,
            stderr,
        }));
        let at = format!("ceph provider `{}` (pool `{}`)", self.provider, self.location());
        if lower.contains("unable to open config file")
            || lower.contains("did not load config file")
            || lower.contains("error reading config file")
        {
            return ProviderError::Fatal {
                reason: format!("{at}: cannot read the cluster configuration (check `conf` and `cluster`)"),
                command,
            };
        }
        if lower.contains("namespace '") && lower.contains("does not exist") {
            return ProviderError::Fatal {
                reason: format!(
                    "{at}: the namespace does not exist (create it with `rbd namespace create {}`)",
                    self.location()
                ),
                command,
            };
        }
        if lower.contains("error opening pool") || (status == Some(ENOENT) && lower.contains("pool")) {
            return ProviderError::Fatal {
                reason: format!("{at}: the pool does not exist"),
                command,
            };
        }
        self.errno_failure(&at, status, &lower, command, object)
    }

    /// The typed error of a failure with errno `status` (an exit status of the tools, or the
    /// errno librbd returned to the worker) and the lowercased message `lower`.
    fn errno_failure(
        &self,
        at: &str,
        status: Option<i32>,
        lower: &str,
        command: Option<Box<CommandContext>>,
        object: &ObjectRef,
    ) -> ProviderError {
        match status {
            Some(ENOENT) => ProviderError::NotFound {
                object: object.clone(),
                command,
            },
            Some(EEXIST) => ProviderError::Conflict {
                object: object.clone(),
                reason: format!("it already exists in {at}"),
                command,
            },
            Some(EBUSY) => ProviderError::Busy {
                object: object.clone(),
                reason: format!("{at}: it is open by a client or has dependent clones"),
                command,
            },
            Some(ENOTEMPTY) => ProviderError::InvalidState {
                object: object.clone(),
                reason: format!("{at}: it still has snapshots"),
                command,
            },
            Some(ENOSPC | EDQUOT) => ProviderError::InvalidState {
                object: object.clone(),
                reason: format!("{at}: the pool is full or over its quota"),
                command,
            },
            Some(ETIMEDOUT | ESHUTDOWN | EAGAIN) => ProviderError::Transient {
                reason: format!(
                    "{at}: the cluster did not answer within {} (is it running, and are `conf`, `user` and `keyring` right?)",
                    humantime::format_duration(self.connect_timeout)
                ),
                command,
            },
            _ if lower.contains("timed out") => ProviderError::Transient {
                reason: format!(
                    "{at}: the cluster did not answer within {} (is it running, and is `conf` right?)",
                    humantime::format_duration(self.connect_timeout)
                ),
                command,
            },
            Some(EACCES) => ProviderError::Fatal {
                reason: format!("{at}: permission denied (check `user` and `keyring`, and the user's caps)"),
                command,
            },
            _ => ProviderError::Fatal {
                reason: format!("{at}: command failed"),
                command,
            },
        }
    }
}

/// A duration in whole milliseconds, for `TimedOut`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The interpreter of the `ceph` command on `path`, from its `#!` line: the Python that has
/// the `rados` binding the pool reader needs (a `python3` found first on `path` may be
/// another one). Plain `python3` when there is no such command, or when it is not a Python
/// script (a shell wrapper, say).
fn ceph_python(path: Option<&std::ffi::OsStr>) -> Vec<String> {
    path.into_iter()
        .flat_map(std::env::split_paths)
        .map(|directory| directory.join("ceph"))
        .find(|file| file.is_file())
        .and_then(|file| interpreter_line(&file))
        .filter(|words| words.iter().take(2).any(|word| word.contains("python")))
        .unwrap_or_else(|| vec!["python3".to_owned()])
}

/// The words of a script's `#!` line.
fn interpreter_line(file: &Path) -> Option<Vec<String>> {
    let mut line = String::new();
    BufReader::new(std::fs::File::open(file).ok()?.take(256))
        .read_line(&mut line)
        .ok()?;
    let words: Vec<String> = line.strip_prefix("#!")?.split_whitespace().map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let mut config = CephConfig::new("volumes");
        config.conf = Some("/etc/ceph/ceph.conf".into());
        config.user = Some("cinder".into());
        config.connect_timeout = Some(Duration::from_secs(3));
        Cluster::new("ssd", &config)
    }

    fn failed(status: i32, stderr: &str) -> CommandOutput {
        CommandOutput {
            stdout: Vec::new(),
            stderr: stderr.to_owned(),
            status: Some(status),
        }
    }

    #[test]
    fn every_call_carries_the_connection_and_timeouts() {
        let cluster = cluster();
        assert_eq!(
            cluster.argv(Tool::Rbd, &["ls", "-l", "--format", "json", "volumes"]),
            [
                "rbd",
                "--conf",
                "/etc/ceph/ceph.conf",
                "--id",
                "cinder",
                "--client_mount_timeout",
                "3",
                "--rados_mon_op_timeout",
                "3",
                "--rados_osd_op_timeout",
                "120",
                "ls",
                "-l",
                "--format",
                "json",
                "volumes"
            ]
        );
        assert_eq!(
            cluster.argv(Tool::Ceph, &["df"]),
            [
                "ceph",
                "--conf",
                "/etc/ceph/ceph.conf",
                "--id",
                "cinder",
                "--connect-timeout",
                "3",
                "df"
            ]
        );
        assert_eq!(cluster.image_spec("volume-1"), "volumes/volume-1");
        assert_eq!(cluster.snapshot_spec("volume-1", "s"), "volumes/volume-1@s");
    }

    #[test]
    fn the_pool_reader_runs_with_the_interpreter_of_the_ceph_command() {
        let scratch = std::env::temp_dir().join(format!("blockform-ceph-python-{}", uuid::Uuid::new_v4().simple()));
        let (empty, bin) = (scratch.join("empty"), scratch.join("bin"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let path = std::env::join_paths([&empty, &bin]).unwrap();
        assert_eq!(ceph_python(Some(&path)), ["python3"], "no ceph command");
        std::fs::write(bin.join("ceph"), b"\x7fELF\x02\x01").unwrap();
        assert_eq!(ceph_python(Some(&path)), ["python3"], "a compiled ceph command");
        std::fs::write(bin.join("ceph"), b"#!/bin/sh\nexec podman run ceph \"$@\"\n").unwrap();
        assert_eq!(ceph_python(Some(&path)), ["python3"], "a shell wrapper");
        std::fs::write(bin.join("ceph"), b"#!/usr/bin/env python3\nimport rados\n").unwrap();
        assert_eq!(ceph_python(Some(&path)), ["/usr/bin/env", "python3"]);
        std::fs::write(bin.join("ceph"), b"#! /usr/bin/python3 -s\nimport rados\n").unwrap();
        assert_eq!(ceph_python(Some(&path)), ["/usr/bin/python3", "-s"]);
        assert_eq!(ceph_python(None), ["python3"]);
        std::fs::remove_dir_all(&scratch).unwrap();

        let mut cluster = cluster();
        cluster.python = vec!["/usr/bin/python3".to_owned()];
        let argv = cluster.argv(Tool::PoolReader, &["volumes"]);
        assert_eq!(argv[..3], ["/usr/bin/python3", "-c", READER]);
        assert_eq!(argv[3..7], ["--conf", "/etc/ceph/ceph.conf", "--id", "cinder"]);
        assert_eq!(argv.last().map(String::as_str), Some("volumes"));
    }

    #[test]
    fn a_python_without_the_rados_binding_is_a_clear_error() {
        let mut cluster = cluster();
        // `-S` leaves out the site packages, where Debian's python3-rados lives.
        cluster.python = vec!["python3".to_owned(), "-S".to_owned()];
        let error = cluster.read_pool(&ObjectRef::volume("volume-1")).unwrap_err();
        let message = error.to_string();
        assert!(
            !message.contains("import json"),
            "the program text is not shown: {message}"
        );
        if message.contains("cannot start `python3 -S`") {
            // No Python on this machine at all: said as such.
            assert!(message.contains("the interpreter of the `ceph` command"), "{message}");
        } else {
            assert!(message.contains(" -c '<blockform pool reader>' --conf "), "{message}");
            assert!(
                message.contains("cannot import the Python `rados` module that comes with the `ceph` command"),
                "{message}"
            );
        }

        cluster.python = vec!["/nonexistent/python3".to_owned()];
        let error = cluster.read_pool(&ObjectRef::volume("volume-1")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ceph provider `ssd`: cannot start `/nonexistent/python3`, the interpreter of the `ceph` command, \
             to read the pool: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn worker_errors_show_the_call_and_never_the_program_text() {
        let mut cluster = cluster();
        // `-S` leaves out the site packages, where Debian's python3-rbd lives.
        cluster.python = vec!["python3".to_owned(), "-S".to_owned()];
        cluster.worker = Arc::new(Worker::new(cluster.worker_argv(), Duration::from_secs(30)));
        let request = Request::SnapCreate {
            image: "volume-1",
            snapshot: "s",
        };
        assert_eq!(
            request.shown(&cluster.location()),
            ["<blockform ceph worker>", "snap", "create", "volumes/volume-1@s"]
        );
        let error = cluster.call(&request, &ObjectRef::volume("volume-1")).unwrap_err();
        let message = error.to_string();
        assert!(
            !message.contains("import json"),
            "the program text is not shown: {message}"
        );
        if message.contains("cannot start `python3 -S`") {
            assert!(message.contains("to run the ceph worker"), "{message}");
        } else {
            assert!(message.contains(" -c '<blockform ceph worker>' --conf "), "{message}");
            assert!(
                message
                    .contains("cannot import the Python `rados` and `rbd` modules that come with the `ceph` command"),
                "{message}"
            );
        }

        let refused = cluster.worker_failure(
            &request,
            Failure::Call {
                errno: 17,
                message: "[errno 17] RBD image already exists (error creating snapshot b's' from b'volume-1')"
                    .to_owned(),
            },
            &ObjectRef::snapshot("s"),
            Duration::from_secs(1),
        );
        assert!(matches!(refused, ProviderError::Conflict { .. }), "{refused}");
        assert_eq!(
            refused.to_string(),
            "snapshot `s` conflicts with an existing object: it already exists in ceph provider `ssd` (pool `volumes`): \
             `'<blockform ceph worker>' snap create volumes/volume-1@s` exited with status 17: \
             [errno 17] RBD image already exists (error creating snapshot b's' from b'volume-1')"
        );
        let ended = cluster.worker_failure(
            &request,
            Failure::Ended {
                status: None,
                stderr: String::new(),
            },
            &ObjectRef::snapshot("s"),
            Duration::from_secs(1),
        );
        assert!(ended.is_retryable(), "{ended}");
    }

    #[test]
    fn exit_codes_become_typed_errors() {
        let cluster = cluster();
        let object = ObjectRef::volume("volume-1");
        let argv = || vec!["rbd".to_owned(), "info".to_owned()];
        let error = cluster.failure(
            argv(),
            failed(2, "rbd: error opening image volume-1: (2) No such file or directory\n"),
            &object,
        );
        assert!(matches!(error, ProviderError::NotFound { .. }), "{error}");
        let error = cluster.failure(
            argv(),
            failed(2, "rbd: error opening pool 'nopool': (2) No such file or directory\n"),
            &object,
        );
        assert_eq!(
            error.to_string(),
            "ceph provider `ssd` (pool `volumes`): the pool does not exist: `rbd info` exited with status 2: \
             rbd: error opening pool 'nopool': (2) No such file or directory"
        );
        let error = cluster.failure(argv(), failed(110, "rbd: couldn't connect to the cluster!\n"), &object);
        assert!(error.is_retryable());
        assert!(
            error.to_string().starts_with(
                "temporary failure: ceph provider `ssd` (pool `volumes`): the cluster did not answer within 3s"
            ),
            "{error}"
        );
        let error = cluster.failure(
            argv(),
            failed(1, "global_init: unable to open config file from search list /x.conf\n"),
            &object,
        );
        assert!(
            error
                .to_string()
                .starts_with("ceph provider `ssd` (pool `volumes`): cannot read the cluster configuration"),
            "{error}"
        );
        assert!(matches!(
            cluster.failure(argv(), failed(16, ""), &object),
            ProviderError::Busy { .. }
        ));
        assert!(matches!(
            cluster.failure(argv(), failed(17, ""), &object),
            ProviderError::Conflict { .. }
        ));
        assert!(matches!(
            cluster.failure(argv(), failed(39, ""), &object),
            ProviderError::InvalidState { .. }
        ));
        assert!(
            cluster
                .failure(argv(), failed(13, "(13) Permission denied"), &object)
                .to_string()
                .contains("permission denied (check `user` and `keyring`")
        );
    }
}
