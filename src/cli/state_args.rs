//! The state options every command that reads or writes state takes (`--state`, `--lock`,
//! `--lock-timeout`), and opening the state with its lock held, through the state back end
//! they and the configuration's `blockform { backend … }` block choose
//! ([`crate::state::open_backend`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::state::{BackendChoice, LockGuard, MemoryStore, StateBackend, Store, open_backend, parse_lock_timeout};

/// Where the state lives, relative to the configuration directory, unless `--state` says.
pub const DEFAULT_STATE_PATH: &str = ".blockform/state";

/// Where the state is and how to lock it.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// The state database [default: .blockform/state in the configuration directory].
    #[arg(long = "state", value_name = "PATH", global = true)]
    pub state: Option<PathBuf>,

    /// Lock the state while working (`--lock=false` skips it: then no other run may overlap).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", global = true)]
    pub lock: bool,

    /// How long to wait for a state lock another run holds, like `30s` or `5m`.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_timeout, global = true)]
    pub lock_timeout: Duration,
}

impl StateArgs {
    /// The state back end of the configuration directory `dir`: the configuration's
    /// `blockform { backend "s3" { … } }` block when it has one, otherwise the local state at
    /// `--state` (relative to the configuration directory, like every path blockform reads) or
    /// `.blockform/state`. `Err` is the message to print.
    pub fn choice(&self, dir: &Path) -> Result<BackendChoice, String> {
        let configured = self.configured(dir)?;
        match (read_record(dir)?, &configured) {
            // No `init` yet and no backend block: the local state, as always; and `--state` may
            // point a local state elsewhere at any time.
            (None | Some(BackendChoice::Local { .. }), BackendChoice::Local { .. }) => Ok(configured),
            (Some(recorded), _) if recorded == configured => Ok(configured),
            (recorded, _) => {
                let from = recorded.as_ref().map_or_else(
                    || format!("the local state `{DEFAULT_STATE_PATH}`"),
                    |choice| describe(dir, choice),
                );
                Err(format!(
                    "the state backend changed: this directory used {from}, the configuration now names {}\n  help: \
                     run `blockform init -migrate-state` to copy the state there (or `blockform init -reconfigure` \
                     to start from the state that is there)",
                    describe(dir, &configured)
                ))
            }
        }
    }

    /// The back end the configuration (and `--state`) names, whatever `init` recorded.
    pub fn configured(&self, dir: &Path) -> Result<BackendChoice, String> {
        let settings = crate::config::settings::read_settings(dir)?;
        match settings.backend {
            Some(backend) => {
                if let Some(path) = &self.state {
                    return Err(format!(
                        "`--state {}` names a local state, but the configuration keeps its state in the s3 backend \
                         `{}`\n  help: drop `--state`; to move a local state into the backend, run `blockform init \
                         -migrate-state`",
                        path.display(),
                        backend.location.url()
                    ));
                }
                Ok(BackendChoice::S3 {
                    location: backend.location,
                })
            }
            None => Ok(self.local_choice()),
        }
    }

    /// The local state these options name, whatever the configuration says.
    pub fn local_choice(&self) -> BackendChoice {
        BackendChoice::Local {
            path: self.state.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_PATH)),
        }
    }

    /// The state back end of the configuration directory `dir` (see [`StateArgs::choice`]).
    pub fn backend(&self, dir: &Path) -> Result<Box<dyn StateBackend>, String> {
        Ok(open_backend(dir, &self.choice(dir)?))
    }
}

impl Default for StateArgs {
    fn default() -> StateArgs {
        StateArgs {
            state: None,
            lock: true,
            lock_timeout: Duration::ZERO,
        }
    }
}

/// Where `blockform init` records the state back end it set up, relative to the configuration
/// directory, so that a changed `backend` block is noticed before a state is read from the
/// wrong place (after Terraform's `.terraform/terraform.tfstate`).
pub const BACKEND_RECORD: &str = ".blockform/backend.json";

/// The back end as [`BACKEND_RECORD`] holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    Local {
        path: PathBuf,
    },
    S3 {
        bucket: String,
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
}

/// The back end `blockform init` last set up in `dir`, if it ran.
pub fn read_record(dir: &Path) -> Result<Option<BackendChoice>, String> {
    let path = dir.join(BACKEND_RECORD);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read `{}`: {error}", path.display())),
    };
    let record: Record = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` does not say which state backend this directory uses: {e}\n  help: run `blockform init` again",
            path.display()
        )
    })?;
    Ok(Some(match record {
        Record::Local { path } => BackendChoice::Local { path },
        Record::S3 {
            bucket,
            key,
            endpoint,
            region,
        } => BackendChoice::S3 {
            location: crate::s3::S3Location {
                bucket,
                prefix: key,
                endpoint,
                region,
            },
        },
    }))
}

/// Records `choice` as the back end of `dir` (see [`BACKEND_RECORD`]).
pub fn write_record(dir: &Path, choice: &BackendChoice) -> Result<(), String> {
    let record = match choice {
        BackendChoice::Local { path } => Record::Local { path: path.clone() },
        BackendChoice::S3 { location } => Record::S3 {
            bucket: location.bucket.clone(),
            key: location.prefix.clone(),
            endpoint: location.endpoint.clone(),
            region: location.region.clone(),
        },
        BackendChoice::Memory => return Ok(()),
    };
    let path = dir.join(BACKEND_RECORD);
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&record).expect("a backend record encodes") + "\n";
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, &path)
    };
    write().map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// A back end in words: `the local state `.blockform/state`` or `the s3 backend `s3://b/k``.
pub fn describe(dir: &Path, choice: &BackendChoice) -> String {
    match choice {
        BackendChoice::Local { path } => format!("the local state `{}`", dir.join(path).display()),
        BackendChoice::S3 { location } => format!("the s3 backend `{}`", location.url()),
        BackendChoice::Memory => "an in-memory state".to_owned(),
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_lock_timeout(text).map_err(|e| e.to_string())
}

/// Takes the state lock for `operation` (unless `--lock=false`), then opens the state. A state
/// that does not exist is created only when `create` is set; otherwise it reads as empty, and
/// nothing (not even the lock file) is written. `Err` is the message to print.
pub fn open_state(
    dir: &Path,
    args: &StateArgs,
    operation: &str,
    create: bool,
) -> Result<(Box<dyn Store>, Option<LockGuard>), String> {
    let backend = args.backend(dir)?;
    if !create && !backend.exists().map_err(|e| e.with_hint())? {
        return Ok((Box::new(MemoryStore::empty()), None));
    }
    let lock = if args.lock {
        let lock = backend.lock(operation, args.lock_timeout).map_err(|e| match e.hint() {
            Some(hint) => format!("{e}\n  help: {hint}"),
            None => e.to_string(),
        })?;
        Some(lock)
    } else {
        None
    };
    let store = backend.open().map_err(|e| e.with_hint())?;
    Ok((store, lock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        state: StateArgs,
    }

    fn parse(args: &[&str]) -> Result<StateArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("blockform").chain(args.iter().copied())).map(|cli| cli.state)
    }

    #[test]
    fn the_flags_parse_with_their_defaults() {
        let default = parse(&[]).unwrap();
        assert_eq!(
            (default.state, default.lock, default.lock_timeout),
            (None, true, Duration::ZERO)
        );
        let given = parse(&["--state", "s/db", "--lock=false", "--lock-timeout=5m"]).unwrap();
        assert_eq!(given.state.as_deref(), Some(Path::new("s/db")));
        assert!(!given.lock);
        assert_eq!(given.lock_timeout, Duration::from_secs(300));
        assert!(parse(&["--lock"]).unwrap().lock);
        assert_eq!(parse(&["--lock-timeout", "0s"]).unwrap().lock_timeout, Duration::ZERO);
        let error = parse(&["--lock-timeout", "soon"]).unwrap_err().to_string();
        assert!(error.contains("`soon` is not a duration"), "{error}");
    }

    #[test]
    fn the_state_path_is_relative_to_the_configuration_directory() {
        let args = StateArgs::default();
        let path = |args: &StateArgs| args.backend(Path::new("conf")).unwrap().location();
        assert_eq!(path(&args), "conf/.blockform/state");
        let args = StateArgs {
            state: Some(PathBuf::from("other/state")),
            ..StateArgs::default()
        };
        assert_eq!(path(&args), "conf/other/state");
        let args = StateArgs {
            state: Some(PathBuf::from("/abs/state")),
            ..StateArgs::default()
        };
        assert_eq!(path(&args), "/abs/state");
    }

    #[test]
    fn a_missing_state_is_read_as_empty_and_nothing_is_written() {
        let dir = crate::state::scratch::ScratchDir::new("open-missing");
        let (store, lock) = open_state(dir.path(), &StateArgs::default(), "plan", false).unwrap();
        assert!(lock.is_none());
        let meta = store.meta().unwrap();
        assert_eq!((meta.lineage.as_str(), meta.serial), ("", 0));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no `.blockform` directory"
        );
    }

    #[test]
    fn opening_takes_the_lock_and_a_second_run_is_told_who_has_it() {
        let dir = crate::state::scratch::ScratchDir::new("open-locked");
        let args = StateArgs::default();
        let (store, lock) = open_state(dir.path(), &args, "apply", true).unwrap();
        let lock = lock.unwrap();
        assert_eq!(
            lock.location(),
            dir.path().join(".blockform/state.lock").display().to_string()
        );
        assert!(crate::state::SledStore::exists(&dir.path().join(".blockform/state")));
        let message = open_state(dir.path(), &args, "plan", false).err().unwrap();
        let info = lock.info();
        assert_eq!(
            message,
            format!(
                "state is locked by {} (pid {}, apply) since {}; lock id {}\n  help: run with `--lock-timeout=30s` to \
                 wait for it, or `blockform force-unlock {}` if that process is gone",
                info.who, info.pid, info.created, info.id, info.id
            )
        );
        // Without the lock, sled's own lock still keeps a second opener out, with a clear message.
        let unlocked = StateArgs {
            lock: false,
            ..StateArgs::default()
        };
        let message = open_state(dir.path(), &unlocked, "plan", false).err().unwrap();
        assert!(message.contains("is in use by another process"), "{message}");
        drop((store, lock));
        // sled releases its file lock once its background flusher stops, a moment after the
        // handle is dropped (another process never sees this: it opens the state once).
        let started = std::time::Instant::now();
        let lock = loop {
            match open_state(dir.path(), &unlocked, "plan", false) {
                Ok((_store, lock)) => break lock,
                Err(message)
                    if message.contains("is in use by another process")
                        && started.elapsed() < std::time::Duration::from_secs(10) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(message) => panic!("{message}"),
            }
        };
        assert!(lock.is_none());
    }
}
