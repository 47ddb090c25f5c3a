//! The provider's worker: one long-lived process per provider and run that holds one
//! connection to the cluster and carries every image operation (create, resize, rename,
//! snapshots, clones, flattens, image metadata and QoS settings, removes, and the read-back
//! of the result), so that no step pays the start and connection set-up of an `rbd` process
//! (about 0.1 s of CPU each, which made a create cost five times a shell loop's).
//!
//! It is a Python program ([`PROGRAM`], `worker.py`) on librados and librbd through the
//! bindings the `ceph` command is written with, run by that command's interpreter like the
//! pool reader (see [`crate::pool`]). (The Rust crates for librbd are unmaintained or need
//! `unsafe` FFI, which the workspace forbids.) Requests and answers are JSON lines on its
//! stdin and stdout, matched by a number, so the operations of a parallel apply run at once
//! over the one connection.
//!
//! It starts on the first call. It dies with blockform: the end of its stdin ends it at once,
//! and it runs under util-linux `setpriv --pdeathsig KILL` where that exists, started from a
//! thread that lives as long as it does (the signal follows the thread that forked). A worker
//! that ended while idle is started again for the next call; one that ended during a call
//! fails that call, since whether it was carried out is unknown (the operation's own undo and
//! the next run's recovery see to what it left).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The worker's program text.
pub const PROGRAM: &str = concat!(include_str!("rados_connect.py"), include_str!("worker.py"));

/// How command lines in messages show the worker instead of its program text.
pub const PROGRAM_SHOWN: &str = "<blockform ceph worker>";

/// What the worker is started through so that it dies with the thread that started it.
const DEATH_SIGNAL_WRAPPER: [&str; 4] = ["setpriv", "--pdeathsig", "KILL", "--"];

/// The most of the worker's stderr kept for a message.
const STDERR_KEPT_BYTES: usize = 16 * 1024;

/// One operation of the worker, serialized as its request.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request<'a> {
    /// An image's size, snapshots, parent and (with `meta`) metadata; a snapshot's size.
    Stat {
        image: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        snapshot: Option<&'a str>,
        meta: bool,
    },
    /// A new empty image of `size` bytes, with the cluster's default features.
    Create {
        image: &'a str,
        size: u64,
    },
    /// Grows an image to `size` bytes (never shrinks).
    Resize {
        image: &'a str,
        size: u64,
    },
    /// Removes an image without snapshots.
    Remove {
        image: &'a str,
    },
    /// Renames an image; an image under the new name is `EEXIST`.
    Rename {
        image: &'a str,
        to: &'a str,
    },
    SnapCreate {
        image: &'a str,
        snapshot: &'a str,
    },
    SnapProtect {
        image: &'a str,
        snapshot: &'a str,
    },
    SnapUnprotect {
        image: &'a str,
        snapshot: &'a str,
    },
    SnapRemove {
        image: &'a str,
        snapshot: &'a str,
    },
    /// Clones `image@snapshot` as `to` in the same pool and namespace.
    Clone {
        image: &'a str,
        snapshot: &'a str,
        to: &'a str,
    },
    /// Copies a clone's shared data into it; the image may be in another pool or namespace.
    Flatten {
        image: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pool: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
    },
    /// The clones of a snapshot (those in the trash left out).
    Children {
        image: &'a str,
        snapshot: &'a str,
    },
    /// Image metadata; `conf_*` keys are per-image settings, checked by librbd.
    MetaSet {
        image: &'a str,
        key: &'a str,
        value: &'a str,
    },
    MetaRemove {
        image: &'a str,
        key: &'a str,
    },
}

impl Request<'_> {
    /// The call as messages show it: the `rbd` command that does the same, on `location`
    /// (`POOL[/NAMESPACE]`).
    pub fn shown(&self, location: &str) -> Vec<String> {
        let image = |name: &str| format!("{location}/{name}");
        let snapshot = |name: &str, snapshot: &str| format!("{location}/{name}@{snapshot}");
        let words: Vec<String> = match self {
            Self::Stat {
                image: name,
                snapshot: Some(snap),
                ..
            } => vec!["info".into(), snapshot(name, snap)],
            Self::Stat { image: name, .. } => vec!["info".into(), image(name)],
            Self::Create { image: name, size } => {
                vec!["create".into(), "--size".into(), format!("{size}B"), image(name)]
            }
            Self::Resize { image: name, size } => {
                vec!["resize".into(), "--size".into(), format!("{size}B"), image(name)]
            }
            Self::Remove { image: name } => vec!["rm".into(), image(name)],
            Self::Rename { image: name, to } => vec!["rename".into(), image(name), image(to)],
            Self::SnapCreate {
                image: name,
                snapshot: snap,
            } => vec!["snap".into(), "create".into(), snapshot(name, snap)],
            Self::SnapProtect {
                image: name,
                snapshot: snap,
            } => {
                vec!["snap".into(), "protect".into(), snapshot(name, snap)]
            }
            Self::SnapUnprotect {
                image: name,
                snapshot: snap,
            } => {
                vec!["snap".into(), "unprotect".into(), snapshot(name, snap)]
            }
            Self::SnapRemove {
                image: name,
                snapshot: snap,
            } => vec!["snap".into(), "rm".into(), snapshot(name, snap)],
            Self::Clone {
                image: name,
                snapshot: snap,
                to,
            } => vec!["clone".into(), snapshot(name, snap), image(to)],
            Self::Flatten {
                image: name,
                pool: Some(pool),
                namespace,
            } => {
                let place = match namespace.filter(|namespace| !namespace.is_empty()) {
                    Some(namespace) => format!("{pool}/{namespace}"),
                    None => (*pool).to_owned(),
                };
                vec!["flatten".into(), format!("{place}/{name}")]
            }
            Self::Flatten { image: name, .. } => vec!["flatten".into(), image(name)],
            Self::Children {
                image: name,
                snapshot: snap,
            } => vec!["children".into(), snapshot(name, snap)],
            Self::MetaSet {
                image: name,
                key,
                value,
            } => vec![
                "image-meta".into(),
                "set".into(),
                image(name),
                (*key).to_owned(),
                (*value).to_owned(),
            ],
            Self::MetaRemove { image: name, key } => {
                vec!["image-meta".into(), "remove".into(), image(name), (*key).to_owned()]
            }
        };
        std::iter::once(PROGRAM_SHOWN.to_owned()).chain(words).collect()
    }
}

/// What [`Request::Stat`] answers about an image (only `size` for a snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ImageStat {
    /// The size in bytes.
    pub size: u64,
    /// Its user snapshots.
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    /// The snapshot a clone was made from, until it is flattened.
    #[serde(default)]
    pub parent: Option<Parent>,
    /// Its image metadata, when asked for.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// One snapshot of an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotInfo {
    /// Its id, which grows with every snapshot of the image.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// The image size when it was taken.
    pub size: u64,
    /// Whether it is protected (clones can be made of it, it cannot be removed).
    pub protected: bool,
    /// When it was taken, in seconds since the epoch.
    pub created_at_unix_secs: u64,
}

/// The parent snapshot of a clone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Parent {
    /// Its pool.
    pub pool: String,
    /// Its namespace (empty for none).
    #[serde(default)]
    pub pool_namespace: String,
    /// Its image.
    pub image: String,
    /// The snapshot.
    pub snapshot: String,
}

/// A clone of a snapshot, as [`Request::Children`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapshotChild {
    /// The clone's pool.
    pub pool: String,
    /// The clone's namespace (empty for none).
    #[serde(default)]
    pub pool_namespace: String,
    /// The clone.
    pub image: String,
}

impl SnapshotChild {
    /// `POOL[/NAMESPACE]/IMAGE`, for messages.
    pub fn spec(&self) -> String {
        if self.pool_namespace.is_empty() {
            format!("{}/{}", self.pool, self.image)
        } else {
            format!("{}/{}/{}", self.pool, self.pool_namespace, self.image)
        }
    }
}

/// Why a call has no answer.
#[derive(Debug)]
pub enum Failure {
    /// The worker could not be started at all (the interpreter is missing, say).
    Spawn(std::io::Error),
    /// The worker ended before it was ready: its exit status and stderr (it cannot read the
    /// configuration, reach the cluster, open the pool...).
    Start { status: Option<i32>, stderr: String },
    /// The worker did not get ready in time.
    StartTimedOut,
    /// The cluster refused the call: the errno and librbd's message.
    Call { errno: i32, message: String },
    /// The worker ended during the call: its exit status and stderr.
    Ended { status: Option<i32>, stderr: String },
    /// No answer in time; the worker was stopped.
    TimedOut,
}

/// How a worker process ended.
#[derive(Debug, Clone)]
struct Ending {
    status: Option<i32>,
    stderr: String,
}

/// The answer to one request.
enum Answer {
    Done(Value),
    Refused { errno: i32, message: String },
}

#[derive(Deserialize)]
struct AnswerLine {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    ready: bool,
    #[serde(default)]
    ok: Value,
    #[serde(default)]
    errno: Option<i32>,
    #[serde(default)]
    message: String,
}

/// The calls waiting for an answer, and how the process ended once it has.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, mpsc::Sender<Answer>>,
    ended: Option<Ending>,
}

/// A running worker process.
struct Process {
    child: Arc<Mutex<Child>>,
    stdin: Mutex<ChildStdin>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU64,
}

impl Process {
    /// Starts the worker on a thread of its own, which then reads its answers until it ends,
    /// and waits until it is connected (at most `timeout`).
    fn start(argv: &[String], timeout: Duration) -> Result<Arc<Self>, Failure> {
        let (started_sender, started) = mpsc::channel();
        let (ready_sender, ready) = mpsc::channel();
        let argv = argv.to_vec();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let answers = Arc::clone(&pending);
        thread::Builder::new()
            .name("ceph-worker".to_owned())
            .spawn(move || {
                let spawned = spawn(&argv);
                let (child, stdout, stderr) = match spawned {
                    Ok(spawned) => spawned,
                    Err(error) => {
                        let _ = started_sender.send(Err(error));
                        return;
                    }
                };
                let _ = started_sender.send(Ok(Arc::clone(&child)));
                read_answers(&child, stdout, stderr, &answers, &ready_sender);
            })
            .map_err(Failure::Spawn)?;
        let child = started
            .recv()
            .map_err(|_| Failure::Spawn(std::io::Error::other("the worker's thread ended")))??;
        let stdin = lock(&child).stdin.take();
        let Some(stdin) = stdin else {
            return Err(Failure::Spawn(std::io::Error::other("the worker has no stdin")));
        };
        let process = Arc::new(Self {
            child,
            stdin: Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
        });
        match ready.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(process),
            Ok(Err(ending)) => Err(Failure::Start {
                status: ending.status,
                stderr: ending.stderr,
            }),
            Err(_) => {
                process.kill();
                Err(Failure::StartTimedOut)
            }
        }
    }

    fn has_ended(&self) -> bool {
        lock(&self.pending).ended.is_some()
    }

    fn kill(&self) {
        let _ = lock(&self.child).kill();
    }

    fn ending(&self) -> Ending {
        lock(&self.pending).ended.clone().unwrap_or(Ending {
            status: None,
            stderr: String::new(),
        })
    }

    /// Sends a request; `Err` when it could not be sent, so the worker never saw it.
    fn send(&self, id: u64, request: &Request<'_>) -> Result<mpsc::Receiver<Answer>, ()> {
        let mut line = serde_json::to_value(request).map_err(|_| ())?;
        if let Value::Object(fields) = &mut line {
            fields.insert("id".to_owned(), Value::from(id));
        }
        let mut text = line.to_string();
        text.push('\n');
        let (sender, receiver) = mpsc::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.ended.is_some() {
                return Err(());
            }
            pending.waiting.insert(id, sender);
        }
        let written = {
            let mut stdin = lock(&self.stdin);
            stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush())
        };
        if written.is_err() {
            lock(&self.pending).waiting.remove(&id);
            return Err(());
        }
        Ok(receiver)
    }
}

/// Starts the worker (under `setpriv --pdeathsig KILL` when there is one) with its pipes.
fn spawn(
    argv: &[String],
) -> Result<(Arc<Mutex<Child>>, std::process::ChildStdout, std::process::ChildStderr), Failure> {
    let command = |argv: &[&str]| {
        let mut command = Command::new(argv[0]);
        command
            .args(&argv[1..])
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let wrapped: Vec<&str> = DEATH_SIGNAL_WRAPPER
        .iter()
        .copied()
        .chain(argv.iter().map(String::as_str))
        .collect();
    let plain: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut child = match command(&wrapped).spawn() {
        Ok(child) => child,
        // No util-linux `setpriv`: the end of its stdin is what ends the worker.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            command(&plain).spawn().map_err(Failure::Spawn)?
        }
        Err(error) => return Err(Failure::Spawn(error)),
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        return Err(Failure::Spawn(std::io::Error::other("the worker has no pipes")));
    };
    Ok((Arc::new(Mutex::new(child)), stdout, stderr))
}

/// Reads the worker's answers until it ends, hands each to its caller, then records how the
/// worker ended and lets every caller still waiting know.
fn read_answers(
    child: &Arc<Mutex<Child>>,
    stdout: std::process::ChildStdout,
    mut stderr: std::process::ChildStderr,
    pending: &Arc<Mutex<Pending>>,
    ready: &mpsc::Sender<Result<(), Ending>>,
) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&kept);
    let drain = thread::spawn(move || {
        let mut buffer = [0_u8; 4096];
        while let Ok(count) = stderr.read(&mut buffer) {
            if count == 0 {
                break;
            }
            let mut kept = lock(&sink);
            kept.extend_from_slice(&buffer[..count]);
            if kept.len() > STDERR_KEPT_BYTES {
                let excess = kept.len() - STDERR_KEPT_BYTES;
                kept.drain(..excess);
            }
        }
    });
    let mut announced = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(answer) = serde_json::from_str::<AnswerLine>(&line) else {
            continue;
        };
        if answer.ready {
            announced = true;
            let _ = ready.send(Ok(()));
            continue;
        }
        let Some(id) = answer.id else { continue };
        let waiting = lock(pending).waiting.remove(&id);
        if let Some(waiting) = waiting {
            let _ = waiting.send(match answer.errno {
                Some(errno) => Answer::Refused {
                    errno,
                    message: answer.message,
                },
                None => Answer::Done(answer.ok),
            });
        }
    }
    let _ = drain.join();
    let status = lock(child).wait().ok().and_then(|status| status.code());
    let ending = Ending {
        status,
        stderr: String::from_utf8_lossy(&lock(&kept)).into_owned(),
    };
    if !announced {
        let _ = ready.send(Err(ending.clone()));
    }
    let mut pending = lock(pending);
    pending.ended = Some(ending);
    // Dropping the senders wakes every caller still waiting.
    pending.waiting.clear();
}

/// The provider's worker: started on the first call, shared by every operation.
#[derive(Debug)]
pub struct Worker {
    argv: Vec<String>,
    start_timeout: Duration,
    running: Mutex<Option<ProcessHandle>>,
    /// Set by a crash test: the worker is killed right after the next request is sent.
    kill_during_next_call: AtomicBool,
}

/// A running process, as the worker holds it.
#[derive(Clone)]
struct ProcessHandle(Arc<Process>);

impl std::fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("pid", &lock(&self.0.child).id())
            .finish()
    }
}

impl Worker {
    /// A worker that runs `argv` (the interpreter, `-c`, [`PROGRAM`] and its arguments) when
    /// first called, waiting at most `start_timeout` for it to connect.
    pub fn new(argv: Vec<String>, start_timeout: Duration) -> Self {
        Self {
            argv,
            start_timeout,
            running: Mutex::new(None),
            kill_during_next_call: AtomicBool::new(false),
        }
    }

    /// The command line it runs.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Runs one request and returns its answer; at most `timeout` (after the worker is ready).
    pub fn call(&self, request: &Request<'_>, timeout: Duration) -> Result<Value, Failure> {
        // A worker that ended while idle never saw this request: it is sent to a new one.
        // So is a request that could not be written, once.
        let mut attempts = 0;
        let (process, receiver) = loop {
            attempts += 1;
            let process = self.process()?;
            let id = process.next_id.fetch_add(1, Ordering::Relaxed);
            match process.send(id, request) {
                Ok(receiver) => break (process, receiver),
                Err(()) if attempts < 2 => {
                    process.kill();
                }
                Err(()) => {
                    let ending = process.ending();
                    return Err(Failure::Ended {
                        status: ending.status,
                        stderr: ending.stderr,
                    });
                }
            }
        };
        if self.kill_during_next_call.swap(false, Ordering::SeqCst) {
            process.kill();
        }
        match receiver.recv_timeout(timeout) {
            Ok(Answer::Done(value)) => Ok(value),
            Ok(Answer::Refused { errno, message }) => Err(Failure::Call { errno, message }),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                process.kill();
                Err(Failure::TimedOut)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let ending = process.ending();
                Err(Failure::Ended {
                    status: ending.status,
                    stderr: ending.stderr,
                })
            }
        }
    }

    /// Makes the worker be killed during the next call, as an outside SIGKILL would (for
    /// crash tests, see [`crate::fault`]).
    pub fn kill_during_next_call(&self) {
        self.kill_during_next_call.store(true, Ordering::SeqCst);
    }

    /// The process id of the running worker, if one runs.
    pub fn pid(&self) -> Option<u32> {
        let running = lock(&self.running);
        running
            .as_ref()
            .filter(|handle| !handle.0.has_ended())
            .map(|handle| lock(&handle.0.child).id())
    }

    /// The running process, started when there is none.
    fn process(&self) -> Result<Arc<Process>, Failure> {
        let mut running = lock(&self.running);
        if let Some(ProcessHandle(process)) = running.as_ref()
            && !process.has_ended()
        {
            return Ok(Arc::clone(process));
        }
        *running = None;
        let process = Process::start(&self.argv, self.start_timeout)?;
        *running = Some(ProcessHandle(Arc::clone(&process)));
        Ok(process)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Nothing can be waiting for it any more; its reading thread reaps it.
        if let Some(ProcessHandle(process)) = lock(&self.running).take() {
            process.kill();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
