//! How the provider reaches its LVM host: lvm commands as argv vectors, run on this machine
//! or over ssh through one master connection per provider (OpenSSH's `ControlMaster`), with
//! `sudo -n` in front when the block asks for it.
//!
//! The master is the system `ssh` started with `-M -N -f` on a control socket in a private
//! directory of this process, the first time a command needs it: it goes to the background
//! once it has logged in, ends when its provider does (`ssh -O exit`), and by itself after
//! a minute without commands (`ControlPersist`), so a process that is killed leaves no
//! connection behind for long. Every command then runs as
//! `ssh -o ControlPath=SOCKET -o ControlMaster=no ... -- 'lvs' '...'` through the SDK's
//! command runner, which quotes every remote word for the login shell. Host keys are checked
//! strictly (`StrictHostKeyChecking=yes`, the block's `known_hosts` file when it names one),
//! authentication is batch mode (never a prompt), and the connection has a timeout, so an
//! unreachable host or a refused key fails within seconds with ssh's own message. The master
//! ends with its provider.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use blockform_provider::{CommandContext, CommandOutput, CommandRunner, ProviderError, Result, Transport};

use crate::config::{ConfigError, LvmConfig};

/// How long the master stays without commands before it ends by itself.
const MASTER_IDLE: Duration = Duration::from_secs(60);

/// How often the master's startup is checked.
const POLL: Duration = Duration::from_millis(20);

/// Numbers the control directories of the providers of one process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The way to the host of one provider.
#[derive(Debug)]
pub struct Host {
    /// Runs argv vectors (through the master over ssh).
    runner: CommandRunner,
    /// Runs data commands, which may take much longer than metadata ones.
    data_runner: CommandRunner,
    /// `sudo -n` in front of every command.
    sudo: bool,
    /// The ssh side, when the host is remote.
    ssh: Option<Ssh>,
}

/// The master connection of a remote host.
#[derive(Debug)]
struct Ssh {
    /// The ssh arguments shared by the master and every command, before the destination.
    options: Vec<String>,
    /// `user@host`.
    destination: String,
    /// As messages show it: `user@host:port`.
    remote: String,
    /// The private directory holding the control socket.
    directory: PathBuf,
    /// The control socket.
    socket: PathBuf,
    /// How long the connection may take.
    connect_timeout: Duration,
    /// Whether this provider started the master.
    master: Mutex<bool>,
}

impl Host {
    /// The host of a provider named `provider` configured by `config`.
    pub fn new(provider: &str, config: &LvmConfig) -> Result<Self, ConfigError> {
        let timeout = config.command_timeout();
        let Some(host) = &config.host else {
            return Ok(Self {
                runner: CommandRunner::local().with_timeout(timeout),
                data_runner: CommandRunner::local().with_timeout(DATA_TIMEOUT),
                sudo: config.sudo,
                ssh: None,
            });
        };
        remove_stale_directories();
        let directory = std::env::temp_dir().join(format!(
            "blockform-lvm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        create_private_dir(&directory).map_err(|source| ConfigError::ControlDirectory {
            provider: provider.to_owned(),
            source,
        })?;
        let socket = directory.join("master");
        let connect_timeout = config.connect_timeout();
        let mut options = vec![
            format!("ControlPath={}", socket.display()),
            "StrictHostKeyChecking=yes".to_owned(),
            format!("ConnectTimeout={}", connect_timeout.as_secs().max(1)),
            "ServerAliveInterval=10".to_owned(),
            "ServerAliveCountMax=3".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ];
        if let Some(known_hosts) = &config.known_hosts {
            options.push(format!("UserKnownHostsFile=\"{}\"", known_hosts.display()));
        }
        let transport = Transport::Ssh {
            host: host.clone(),
            port: config.port,
            user: config.user.clone(),
            identity_file: config.identity_file.clone(),
            extra_options: options.iter().cloned().chain(["ControlMaster=no".to_owned()]).collect(),
        };
        let remote = transport.remote().unwrap_or_default();
        let runner = CommandRunner::new(transport).map_err(|error| ConfigError::Fault {
            provider: provider.to_owned(),
            reason: error.to_string(),
        })?;
        let mut master_options = Vec::new();
        if let Some(port) = config.port {
            master_options.extend(["-p".to_owned(), port.to_string()]);
        }
        if let Some(path) = &config.identity_file {
            master_options.extend(["-i".to_owned(), path.display().to_string()]);
        }
        master_options.extend(["-o".to_owned(), "BatchMode=yes".to_owned()]);
        for option in options {
            master_options.extend(["-o".to_owned(), option]);
        }
        let destination = match &config.user {
            Some(user) => format!("{user}@{host}"),
            None => host.clone(),
        };
        Ok(Self {
            data_runner: runner.clone().with_timeout(DATA_TIMEOUT),
            runner: runner.with_timeout(timeout),
            sudo: config.sudo,
            ssh: Some(Ssh {
                options: master_options,
                destination,
                remote,
                directory,
                socket,
                connect_timeout,
                master: Mutex::new(false),
            }),
        })
    }

    /// `user@host:port`, or `None` for this machine.
    pub fn remote(&self) -> Option<&str> {
        self.ssh.as_ref().map(|ssh| ssh.remote.as_str())
    }

    /// The argv of an lvm command as it runs on the host (with `sudo -n` when configured).
    pub fn argv<S: AsRef<str>>(&self, words: &[S]) -> Vec<String> {
        let mut argv = Vec::with_capacity(words.len() + 2);
        if self.sudo {
            argv.extend(["sudo".to_owned(), "-n".to_owned()]);
        }
        argv.extend(words.iter().map(|word| word.as_ref().to_owned()));
        argv
    }

    /// The argv this machine executes for `words` (the `ssh` invocation around them), for
    /// tests and tools that check what the provider runs.
    pub fn process_argv<S: AsRef<str>>(&self, words: &[S]) -> Vec<String> {
        self.runner.process_argv(&self.argv(words))
    }

    /// Runs a command on the host and returns its output whatever its exit status; only a
    /// failure to reach the host, to start it or a timeout is an error.
    pub fn output<S: AsRef<str>>(&self, words: &[S]) -> Result<CommandOutput> {
        self.connect()?;
        self.runner.output(&self.argv(words))
    }

    /// [`Self::output`] with the longer timeout of data commands.
    pub fn data_output<S: AsRef<str>>(&self, words: &[S]) -> Result<CommandOutput> {
        self.connect()?;
        self.data_runner.output(&self.argv(words))
    }

    /// A `Command` for `words` on the host with the data timeout's runner, for callers that
    /// stream its pipes; the master is up when it returns.
    pub fn command<S: AsRef<str>>(&self, words: &[S]) -> Result<(Command, Vec<String>)> {
        self.connect()?;
        let argv = self.argv(words);
        Ok((self.data_runner.command(&argv)?, argv))
    }

    /// The context of a failed command, for errors.
    pub fn context(&self, argv: Vec<String>, output: &CommandOutput) -> CommandContext {
        CommandContext {
            argv,
            remote: self.remote().map(str::to_owned),
            status: output.status,
            stderr: output.stderr.clone(),
        }
    }

    /// Starts the master connection unless it runs; nothing on this machine.
    pub fn connect(&self) -> Result<()> {
        let Some(ssh) = &self.ssh else { return Ok(()) };
        let mut started = lock(&ssh.master);
        // A master that ended (idle, or the host went away) took its socket with it.
        if *started && ssh.socket.exists() {
            return Ok(());
        }
        ssh.start()?;
        *started = true;
        Ok(())
    }
}

/// How long a data command (a copy, a stream) may run.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

impl Ssh {
    /// Starts the master and waits until its control socket accepts commands.
    fn start(&self) -> Result<()> {
        let _ = fs::remove_file(&self.socket);
        let log = self.directory.join("master.log");
        let mut argv = vec!["ssh".to_owned(), "-M".to_owned(), "-N".to_owned(), "-f".to_owned()];
        argv.extend(self.options.iter().cloned());
        argv.extend([
            "-o".to_owned(),
            "ControlMaster=yes".to_owned(),
            "-o".to_owned(),
            format!("ControlPersist={}", MASTER_IDLE.as_secs()),
            self.destination.clone(),
        ]);
        let stderr = fs::File::create(&log)
            .map_err(|error| ProviderError::fatal(format!("cannot create `{}`: {error}", log.display())))?;
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|error| ProviderError::fatal(format!("cannot start `ssh` to reach `{}`: {error}", self.remote)))?;
        // The connection timeout plus what authentication may take on a slow host.
        let deadline = Instant::now() + self.connect_timeout + Duration::from_secs(10);
        loop {
            // With `-f`, ssh exits once it has logged in and left the master in the background.
            if let Ok(Some(status)) = child.try_wait() {
                if status.success() && self.check() {
                    return Ok(());
                }
                let stderr = read_log(&log);
                return Err(self.refused(argv, status.code(), &stderr));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = read_log(&log);
                return Err(ProviderError::TimedOut {
                    command: Box::new(CommandContext {
                        argv,
                        remote: Some(self.remote.clone()),
                        status: None,
                        stderr,
                    }),
                    timeout_ms: u64::try_from((self.connect_timeout + Duration::from_secs(10)).as_millis())
                        .unwrap_or(u64::MAX),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the master answers on its socket.
    fn check(&self) -> bool {
        Command::new("ssh")
            .args([
                "-o",
                &format!("ControlPath={}", self.socket.display()),
                "-O",
                "check",
                "-q",
            ])
            .arg(&self.destination)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// The error for a master that exited: the key or sudo refused (fatal), or the host not
    /// reachable (transient), with ssh's message.
    fn refused(&self, argv: Vec<String>, status: Option<i32>, stderr: &str) -> ProviderError {
        let command = Some(Box::new(CommandContext {
            argv,
            remote: Some(self.remote.clone()),
            status,
            stderr: stderr.to_owned(),
        }));
        let denied = [
            "Permission denied",
            "Host key verification failed",
            "REMOTE HOST IDENTIFICATION HAS CHANGED",
            "No ED25519 host key",
            "host key for",
        ]
        .iter()
        .any(|needle| stderr.contains(needle));
        if denied {
            ProviderError::Fatal {
                reason: format!(
                    "the LVM host `{}` refused the ssh login (check `identity_file`, `user` and that the host's key is in `known_hosts`)",
                    self.remote
                ),
                command,
            }
        } else {
            ProviderError::Transient {
                reason: format!("the LVM host `{}` cannot be reached over ssh", self.remote),
                command,
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let Some(ssh) = &self.ssh else { return };
        if *lock(&ssh.master) && ssh.socket.exists() {
            // Failing only means it already ended.
            let _ = Command::new("ssh")
                .args([
                    "-o",
                    &format!("ControlPath={}", ssh.socket.display()),
                    "-O",
                    "exit",
                    "-q",
                ])
                .arg(&ssh.destination)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&ssh.directory);
    }
}

fn lock(master: &Mutex<bool>) -> MutexGuard<'_, bool> {
    master.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    text
}

/// Removes the control directories of processes that ended without dropping their providers
/// (killed, or exited without running destructors); their masters end by themselves once idle.
fn remove_stale_directories() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("blockform-lvm-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Another provider may be removing it at the same time; either way it goes.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates a directory only this user can enter (the control socket lets anyone who can
/// reach it run commands on the host).
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_go_through_the_master_with_strict_host_keys_and_quoted_words() {
        let mut config = LvmConfig::new("vg0");
        config.host = Some("lvm1.example.net".into());
        config.port = Some(2222);
        config.user = Some("blockform".into());
        config.identity_file = Some("/etc/blockform/key".into());
        config.known_hosts = Some("/etc/blockform/known_hosts".into());
        config.sudo = true;
        let host = Host::new("host1", &config).unwrap();
        let argv = host.process_argv(&["lvs", "vg0/a b; reboot"]);
        let options: Vec<&str> = argv
            .windows(2)
            .filter(|pair| pair[0] == "-o")
            .map(|pair| pair[1].as_str())
            .collect();
        assert_eq!(argv[..5], ["ssh", "-p", "2222", "-i", "/etc/blockform/key"]);
        assert!(options.contains(&"BatchMode=yes"), "{options:?}");
        assert!(options.contains(&"StrictHostKeyChecking=yes"), "{options:?}");
        assert!(options.contains(&"ControlMaster=no"), "{options:?}");
        assert!(options.contains(&"ConnectTimeout=10"), "{options:?}");
        assert!(
            options.contains(&"UserKnownHostsFile=\"/etc/blockform/known_hosts\""),
            "{options:?}"
        );
        assert!(
            options.iter().any(|option| option.starts_with("ControlPath=/")),
            "{options:?}"
        );
        assert_eq!(
            argv[argv.len() - 3..],
            [
                "blockform@lvm1.example.net",
                "--",
                "LC_ALL=C 'sudo' '-n' 'lvs' 'vg0/a b; reboot'"
            ]
        );
        assert_eq!(host.remote(), Some("blockform@lvm1.example.net:2222"));
        let directory = host.ssh.as_ref().map(|ssh| ssh.directory.clone()).unwrap();
        assert!(directory.is_dir());
        drop(host);
        assert!(!directory.exists(), "the control directory goes with the provider");

        // One left by a process that is gone is removed by the next provider.
        let stale = std::env::temp_dir().join(format!("blockform-lvm-{}-0", u32::MAX - 1));
        fs::create_dir_all(&stale).unwrap();
        drop(Host::new("host1", &config).unwrap());
        assert!(!stale.exists());
    }

    #[test]
    fn without_a_host_commands_run_here() {
        let host = Host::new("local", &LvmConfig::new("vg0")).unwrap();
        assert_eq!(host.process_argv(&["lvs", "vg0"]), ["lvs", "vg0"]);
        assert_eq!(host.remote(), None);
        let output = host.output(&["sh", "-c", "printf ok"]).unwrap();
        assert_eq!(output.stdout, b"ok");
    }
}
