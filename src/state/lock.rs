//! State locks. What every back end shares: who holds a lock ([`LockInfo`]), why one cannot
//! be taken or removed ([`LockError`], with the messages users see), the held lock as the
//! caller keeps it ([`LockGuard`], released when dropped) and the wait with backoff behind
//! `--lock-timeout` ([`acquire_with_backoff`]).
//!
//! And the lock of the local state: a file next to it (`.blockform/state.lock`) locked with
//! `File::try_lock` and holding who took it ([`StateLock`]), so that a second run is told
//! "state is locked by root@host (pid 4242, apply) since …" instead of meeting sled's raw
//! error. The operating system releases the lock when its holder dies, so only a hung holder
//! ever needs `force-unlock`.
// `File::try_lock` and `File::unlock` are stable since Rust 1.89 and this crate is built with
// 1.95, but the workspace still declares `rust-version = "1.85"`; raising it to 1.89 makes this
// allow unnecessary.
#![allow(clippy::incompatible_msrv)]

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use blockform_provider::{DurationError, parse_duration};

/// The first wait between two attempts at a held lock; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Who holds the lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A UUID naming this lock, for `force-unlock`.
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// The holder's process id.
    pub pid: u32,
    /// The command that took it (`apply`, `state rm`).
    pub operation: String,
    /// When it was taken (RFC 3339).
    pub created: String,
}

impl LockInfo {
    /// Describes this process taking the lock for `operation` now, under a new lock id.
    pub fn for_this_process(operation: &str) -> LockInfo {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: format!("{user}@{host}"),
            pid: std::process::id(),
            operation: operation.to_owned(),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

/// Why the lock could not be taken or removed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state is locked by {} (pid {}, {}) since {}; lock id {}",
        info.who,
        info.pid,
        info.operation,
        info.created,
        info.id
    )]
    Held {
        /// What the holder wrote.
        info: LockInfo,
    },
    /// Another process holds the lock but has not (yet) said who it is.
    #[error("state is locked by another process (`{location}` does not say which)")]
    HeldByUnknown {
        /// Where the lock is (the lock file).
        location: String,
    },
    /// The lock file could not be used.
    #[error("cannot {action} the state lock file `{}`: {source}", path.display())]
    Io {
        /// What was being done (`create`, `lock`, `write`).
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// `force-unlock` found no lock.
    #[error("the state is not locked (`{location}` names no holder)")]
    NotLocked {
        /// Where the lock is (the lock file).
        location: String,
    },
    /// `force-unlock` was given another lock's id.
    #[error(
        "lock id `{given}` does not match the state lock: it is held by {} (pid {}, {}) since {} with lock id {}",
        info.who,
        info.pid,
        info.operation,
        info.created,
        info.id
    )]
    IdMismatch {
        /// The id given.
        given: String,
        /// The lock's holder.
        info: LockInfo,
    },
}

impl LockError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { info } => Some(format!(
                "run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
                info.id
            )),
            LockError::HeldByUnknown { .. } => Some("run with `--lock-timeout=30s` to wait for it".to_owned()),
            LockError::Io { .. } => Some(
                "`--lock=false` runs without the lock; then make sure that no other run uses this state at the \
                 same time"
                    .to_owned(),
            ),
            LockError::NotLocked { .. } => None,
            LockError::IdMismatch { info, .. } => Some(format!(
                "if that run hangs, remove its lock with `blockform force-unlock {}`",
                info.id
            )),
        }
    }
}

/// What one attempt at a lock found, for [`acquire_with_backoff`].
pub enum Attempt<'a, T> {
    /// The lock is ours.
    Taken(T),
    /// Something changed under the attempt (the lock was removed meanwhile): try again at once.
    Again,
    /// Someone else holds it: the error to report if the wait is over (made only then).
    Busy(Box<dyn FnOnce() -> LockError + 'a>),
}

/// Makes `attempt`s at a lock until one takes it, waiting between them with backoff (50 ms,
/// doubling up to 1 s) for at most `timeout` in all (`--lock-timeout`; zero tries once). Every
/// back end waits for its lock this way.
pub fn acquire_with_backoff<'a, T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Attempt<'a, T>, LockError>,
) -> Result<T, LockError> {
    let started = Instant::now();
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match attempt()? {
            Attempt::Taken(taken) => return Ok(taken),
            Attempt::Again => {}
            Attempt::Busy(held) => {
                let waited = started.elapsed();
                if waited >= timeout {
                    return Err(held());
                }
                drop(held);
                std::thread::sleep(delay.min(timeout.saturating_sub(waited)));
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// A lock a back end holds for its caller, as that back end lets go of it.
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    /// Lets go of the lock.
    fn release(self: Box<Self>) -> Result<(), LockError>;
}

/// A held state lock, whichever back end took it: who holds it (this process) and where.
/// Released when dropped, or by [`LockGuard::release`] to hear whether that worked.
#[derive(Debug)]
pub struct LockGuard {
    info: LockInfo,
    location: String,
    held: Option<Box<dyn HeldLock>>,
}

impl LockGuard {
    /// The guard of a lock a back end took at `location` (for messages), described by `info`.
    pub fn new(info: LockInfo, location: String, held: Box<dyn HeldLock>) -> LockGuard {
        LockGuard {
            info,
            location,
            held: Some(held),
        }
    }

    /// Who holds it: this process.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock id, as `force-unlock` takes it.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Where the lock is (the lock file of a local state).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Lets go of the lock now.
    pub fn release(mut self) -> Result<(), LockError> {
        match self.held.take() {
            Some(held) => held.release(),
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            let _ = held.release();
        }
    }
}

/// The lock file of the state at `state_path`: `<state_path>.lock`.
pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut path = state_path.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// Parses `--lock-timeout`: a duration like `30s` or `5m`, or `0s` (or `0`) for no wait.
pub fn parse_lock_timeout(text: &str) -> Result<Duration, DurationError> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    match parse_duration(text) {
        Err(DurationError::Zero) => Ok(Duration::ZERO),
        other => other,
    }
}

/// The held state lock; released (the file emptied and unlocked) when dropped.
#[derive(Debug)]
pub struct StateLock {
    /// `None` once released.
    file: Option<File>,
    path: PathBuf,
    info: LockInfo,
}

impl StateLock {
    /// Takes the lock of the state at `state_path` for `operation`, retrying with backoff
    /// (50 ms, doubling up to 1 s) while another process holds it, for at most `timeout`.
    pub fn acquire(state_path: &Path, operation: &str, timeout: Duration) -> Result<StateLock, LockError> {
        let path = lock_path(state_path);
        let io = |action, source| LockError::Io {
            action,
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| LockError::Io {
                action: "create the directory of",
                path: path.clone(),
                source,
            })?;
        }
        let at = path.as_path();
        acquire_with_backoff(timeout, || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| io("create", e))?;
            match file.try_lock() {
                Ok(()) => {
                    // `force-unlock` may have removed the file between our open and lock: the
                    // lock on an unlinked file guards nothing, so start over with a new file.
                    if !is_same_file(&file, &path) {
                        return Ok(Attempt::Again);
                    }
                    let info = LockInfo::for_this_process(operation);
                    write_info(&file, &info).map_err(|e| io("write", e))?;
                    Ok(Attempt::Taken(StateLock {
                        file: Some(file),
                        path: path.clone(),
                        info,
                    }))
                }
                Err(TryLockError::WouldBlock) => Ok(Attempt::Busy(Box::new(move || held_error(&file, at)))),
                Err(TryLockError::Error(e)) => Err(io("lock", e)),
            }
        })
    }

    /// Who holds it: this process.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets go of the lock: empties the file, then unlocks it. Emptying first means no one
    /// reads our info after we let go.
    pub fn release(mut self) -> Result<(), LockError> {
        let Some(file) = self.file.take() else { return Ok(()) };
        let io = |action, source| LockError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        file.set_len(0).map_err(|e| io("empty", e))?;
        file.unlock().map_err(|e| io("unlock", e))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // If emptying fails, the next holder overwrites the stale info anyway.
        if let Some(file) = self.file.take() {
            let _ = file.set_len(0);
            let _ = file.unlock();
        }
    }
}

impl HeldLock for StateLock {
    fn release(self: Box<Self>) -> Result<(), LockError> {
        StateLock::release(*self)
    }
}

/// What `force-unlock` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForceUnlocked {
    /// The holder the lock file named.
    pub info: LockInfo,
    /// Whether a process still held it (it keeps its lock on the removed file, but new runs no
    /// longer wait for it); `false` when the file only held stale information.
    pub was_held: bool,
}

/// Removes the state lock if `id` is its lock id. A holder that is still running keeps its
/// lock on the removed file; the next run creates a new one.
pub fn force_unlock(state_path: &Path, id: &str) -> Result<ForceUnlocked, LockError> {
    let path = lock_path(state_path);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LockError::NotLocked {
                location: path.display().to_string(),
            });
        }
        Err(source) => {
            return Err(LockError::Io {
                action: "open",
                path,
                source,
            });
        }
    };
    let Some(info) = read_info(&file) else {
        return Err(LockError::NotLocked {
            location: path.display().to_string(),
        });
    };
    if info.id != id.trim() {
        return Err(LockError::IdMismatch {
            given: id.to_owned(),
            info,
        });
    }
    // If we can take it, its holder is gone and the file only held stale information; holding
    // it while the file is removed keeps a concurrent `acquire` from using the old file.
    let was_held = !matches!(file.try_lock(), Ok(()));
    std::fs::remove_file(&path).map_err(|source| LockError::Io {
        action: "remove",
        path: path.clone(),
        source,
    })?;
    Ok(ForceUnlocked { info, was_held })
}

/// The error for a lock someone else holds. A holder that has just taken the lock may not have
/// written its info yet, so an empty file is read again a few times.
fn held_error(file: &File, path: &Path) -> LockError {
    for _ in 0..5 {
        if let Some(info) = read_info(file) {
            return LockError::Held { info };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    LockError::HeldByUnknown {
        location: path.display().to_string(),
    }
}

fn read_info(mut file: &File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_info(mut file: &File, info: &LockInfo) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(info).map_err(std::io::Error::other)?;
    text.push('\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Whether `path` still names the open `file`.
#[cfg(unix)]
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` still names the open `file` (Windows refuses to remove an open file, so it
/// always does).
#[cfg(not(unix))]
fn is_same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::scratch::ScratchDir;

    /// Set to a state path, [`hold_lock_helper`] holds its lock until `<path>.release` exists.
    const HOLD_LOCK_ENV: &str = "BLOCKFORM_TEST_HOLD_LOCK";

    fn held_info(error: LockError) -> LockInfo {
        match error {
            LockError::Held { info } => info,
            other => panic!("expected a held lock, got {other:?}"),
        }
    }

    #[test]
    fn the_lock_file_sits_next_to_the_state_and_says_who_holds_it() {
        let dir = ScratchDir::new("lock-info");
        let state = dir.path().join(".blockform/state");
        let lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.path(), dir.path().join(".blockform/state.lock"));
        let written: LockInfo = serde_json::from_str(&std::fs::read_to_string(lock.path()).unwrap()).unwrap();
        assert_eq!(&written, lock.info());
        assert_eq!(written.pid, std::process::id());
        assert_eq!(written.operation, "apply");
        assert!(written.who.contains('@'), "{}", written.who);
        assert!(
            humantime::parse_rfc3339(&written.created).is_ok(),
            "{}",
            written.created
        );
        assert!(uuid::Uuid::parse_str(&written.id).is_ok(), "{}", written.id);
        drop(lock);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".blockform/state.lock")).unwrap(),
            ""
        );
    }

    #[test]
    fn a_second_holder_is_told_who_has_it() {
        let dir = ScratchDir::new("lock-held");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let error = std::thread::scope(|s| {
            s.spawn(|| StateLock::acquire(&state, "plan", Duration::ZERO))
                .join()
                .unwrap()
                .unwrap_err()
        });
        let info = first.info();
        assert_eq!(
            error.to_string(),
            format!(
                "state is locked by {} (pid {}, apply) since {}; lock id {}",
                info.who, info.pid, info.created, info.id
            )
        );
        assert_eq!(
            error.hint().unwrap(),
            format!(
                "run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
                info.id
            )
        );
        assert_eq!(&held_info(error), info);
        drop(first);
        StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_waiting_run_gets_the_lock_once_it_is_released() {
        let dir = ScratchDir::new("lock-wait");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let started = Instant::now();
        let second = std::thread::scope(|s| {
            let waiter = s.spawn(|| StateLock::acquire(&state, "plan", Duration::from_secs(20)));
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
            waiter.join().unwrap()
        })
        .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(second.info().operation, "plan");
    }

    #[test]
    fn a_wait_that_times_out_reports_the_holder() {
        let dir = ScratchDir::new("lock-timeout");
        let state = dir.path().join("state");
        let first = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let started = Instant::now();
        let error = StateLock::acquire(&state, "plan", Duration::from_millis(400)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(&held_info(error), first.info());
    }

    #[test]
    fn force_unlock_refuses_another_id() {
        let dir = ScratchDir::new("lock-mismatch");
        let state = dir.path().join("state");
        let lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let error = force_unlock(&state, "not-the-id").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("lock id `not-the-id` does not match the state lock: it is held by "),
            "{error}"
        );
        assert!(error.to_string().ends_with(&format!("with lock id {}", lock.info().id)));
        assert!(lock.path().exists(), "the lock file stays");
    }

    #[test]
    fn force_unlock_lets_new_runs_in_while_the_hung_holder_keeps_its_old_file() {
        let dir = ScratchDir::new("lock-force");
        let state = dir.path().join("state");
        let hung = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let removed = force_unlock(&state, &hung.info().id).unwrap();
        assert_eq!((&removed.info, removed.was_held), (hung.info(), true));
        assert!(!hung.path().exists());
        let next = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
        drop(hung);
        let on_disk: LockInfo = serde_json::from_str(&std::fs::read_to_string(next.path()).unwrap()).unwrap();
        assert_eq!(
            &on_disk,
            next.info(),
            "the old holder's release does not touch the new file"
        );
        assert!(matches!(
            StateLock::acquire(&state, "plan", Duration::ZERO),
            Err(LockError::Held { .. })
        ));
    }

    #[test]
    fn force_unlock_without_a_lock_says_so() {
        let dir = ScratchDir::new("lock-none");
        let state = dir.path().join("state");
        assert!(matches!(force_unlock(&state, "x"), Err(LockError::NotLocked { .. })));
        drop(StateLock::acquire(&state, "apply", Duration::ZERO).unwrap());
        assert!(matches!(force_unlock(&state, "x"), Err(LockError::NotLocked { .. })));
    }

    #[test]
    fn lock_timeouts_parse_with_zero_meaning_no_wait() {
        assert_eq!(parse_lock_timeout("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_lock_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_lock_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_lock_timeout("5m"), Ok(Duration::from_secs(300)));
        assert!(matches!(parse_lock_timeout("soon"), Err(DurationError::Invalid { .. })));
    }

    /// Not a test: the other process of [`another_process_holding_the_lock_is_named`], started
    /// from this test binary with [`HOLD_LOCK_ENV`] set.
    #[test]
    #[ignore = "helper process, started by another test"]
    fn hold_lock_helper() {
        let Some(state) = std::env::var_os(HOLD_LOCK_ENV).map(PathBuf::from) else {
            return;
        };
        let _lock = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let release = lock_path(&state).with_extension("release");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !release.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The helper process; killed and reaped when dropped, even if a test fails.
    struct Holder(std::process::Child);

    impl Drop for Holder {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts [`hold_lock_helper`] on `state` and waits until it holds the lock.
    fn start_holder(state: &Path) -> (Holder, LockInfo) {
        let holder = Holder(
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "state::lock::tests::hold_lock_helper",
                    "--ignored",
                    "--quiet",
                ])
                .env(HOLD_LOCK_ENV, state)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(lock_path(state)).unwrap_or_default();
            if let Ok(info) = serde_json::from_str::<LockInfo>(&text) {
                return (holder, info);
            }
            assert!(
                Instant::now() < deadline,
                "the helper process did not take the lock within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn another_process_holding_the_lock_is_named() {
        let dir = ScratchDir::new("lock-process");
        let state = dir.path().join("state");
        let (mut holder, info) = start_holder(&state);
        assert_eq!(info.pid, holder.0.id());
        assert_eq!(info.operation, "apply");
        let error = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "state is locked by {} (pid {}, apply) since ",
                info.who,
                holder.0.id()
            )),
            "{error}"
        );
        let release = lock_path(&state).with_extension("release");
        let waiter = std::thread::spawn({
            let state = state.clone();
            move || StateLock::acquire(&state, "plan", Duration::from_secs(30))
        });
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&release, "").unwrap();
        let lock = waiter.join().unwrap().unwrap();
        assert_eq!(lock.info().pid, std::process::id());
        assert!(holder.0.wait().unwrap().success());
    }

    #[test]
    fn a_killed_holder_leaves_no_lock_behind() {
        let dir = ScratchDir::new("lock-killed");
        let state = dir.path().join("state");
        let (mut holder, info) = start_holder(&state);
        holder.0.kill().unwrap();
        holder.0.wait().unwrap();
        let left: LockInfo = serde_json::from_str(&std::fs::read_to_string(lock_path(&state)).unwrap()).unwrap();
        assert_eq!(left, info, "the killed process could not empty the file");
        let lock = StateLock::acquire(&state, "plan", Duration::ZERO).unwrap();
        assert_eq!(lock.info().pid, std::process::id());
    }
}
