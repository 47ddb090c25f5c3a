//! The `s3` state back end through the `blockform` binary, against a real S3 service (the Ceph
//! RADOS Gateway `tests/run` starts): two processes on two working directories sharing one
//! state, a writer whose lock was broken, migration between the local state and S3 and back,
//! an apply killed midway, an endpoint that does not answer, and 1,000 commits timed. The
//! service comes from `BLOCKFORM_TEST_S3_BUCKET` and the `AWS_*` variables (endpoint and keys)
//! that `tests/run` exports; under plain `cargo test` these tests are ignored. Each test keeps
//! its state under a key of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Run, TempDir, blockform, blockform_env, project};

fn bucket() -> String {
    std::env::var("BLOCKFORM_TEST_S3_BUCKET")
        .expect("BLOCKFORM_TEST_S3_BUCKET names the test bucket; tests/run starts RGW and sets it")
}

/// A key of this test's own.
fn fresh_key(test: &str) -> String {
    format!("it/{test}-{}", uuid::Uuid::new_v4())
}

fn backend_block(key: &str) -> String {
    format!(
        "blockform {{\n  backend \"s3\" {{\n    bucket = \"{}\"\n    key    = \"{key}\"\n  }}\n}}\n",
        bucket()
    )
}

/// Volumes of the local provider in `volumes` (an absolute path, shared by working
/// directories), `count` of them.
fn volumes_config(volumes: &Path, count: usize) -> String {
    format!(
        r#"
provider "local" "dev" {{
  path = "{}"
}}

resource "volume_type" "std" {{
  backend = "dev"
}}

resource "volume" "data" {{
  count = {count}
  type  = volume_type.std.id
  size  = 1
}}
"#,
        volumes.display()
    )
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let run = blockform(dir, args);
    assert_eq!(run.code, 0, "{args:?}:\n{}\n{}", run.stdout, run.stderr);
    run
}

fn pulled(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &["state", "pull"]).stdout).unwrap()
}

fn volume_files(volumes: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(volumes)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The `force-unlock` id a "state is locked" message names.
fn lock_id(message: &str) -> String {
    let at = message.find("lock id ").expect("the message names the lock id") + "lock id ".len();
    message[at..].split_whitespace().next().unwrap().to_owned()
}

/// `blockform apply` (without `--auto-approve`) started in `dir`, stopped at its question with
/// the state lock held.
struct Waiting {
    child: std::process::Child,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Waiting {
    fn start(dir: &Path) -> Waiting {
        let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
            .current_dir(dir)
            .args(["apply"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        // The question ends without a newline: read up to its last word.
        while !seen.contains("Enter a value:") {
            let mut byte = [0u8; 1];
            assert!(
                stderr.read(&mut byte).unwrap() != 0,
                "apply ended before asking:\n{seen}"
            );
            seen.push(byte[0] as char);
        }
        Waiting { child, stderr }
    }

    /// Answers `yes` and waits for the end: exit code and the rest of stderr.
    fn approve(mut self) -> (i32, String) {
        self.child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
        let mut rest = String::new();
        for line in self.stderr.by_ref().lines() {
            rest.push_str(&line.unwrap());
            rest.push('\n');
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), rest)
    }
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_two_working_directories_share_one_state_and_wait_for_each_other() {
    let key = fresh_key("two");
    let volumes = TempDir::new();
    let config = volumes_config(volumes.path(), 2);
    let first = project(&[("main.hcl", &config), ("backend.hcl", &backend_block(&key))]);
    let second = project(&[("main.hcl", &config), ("backend.hcl", &backend_block(&key))]);
    ok(first.path(), &["init"]);
    ok(second.path(), &["init"]);

    let waiting = Waiting::start(first.path());
    let pid = waiting.child.id();
    let refused = blockform(second.path(), &["plan"]);
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("state is locked by "), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("(pid {pid}, apply)")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("blockform force-unlock "), "{}", refused.stderr);
    let (code, rest) = waiting.approve();
    assert_eq!(code, 0, "{rest}");

    // The second directory sees what the first one made: nothing to do.
    let plan = blockform(second.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let state = pulled(second.path());
    assert_eq!(state["resources"].as_array().unwrap().len(), 3, "{state}");
    assert_eq!(volume_files(volumes.path()).len(), 4);
    // Waiting for a lock works across processes too.
    std::fs::write(first.path().join("main.hcl"), volumes_config(volumes.path(), 3)).unwrap();
    let waiting = Waiting::start(first.path());
    let started = Instant::now();
    let timed_out = blockform(second.path(), &["plan", "--lock-timeout=1s"]);
    assert_eq!(timed_out.code, 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
    drop(waiting.approve());
    ok(second.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    assert!(volume_files(volumes.path()).is_empty());
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_a_writer_whose_lock_was_broken_cannot_overwrite_the_newer_state() {
    let key = fresh_key("stale");
    let volumes = TempDir::new();
    let slow = project(&[
        ("main.hcl", &volumes_config(volumes.path(), 1)),
        ("backend.hcl", &backend_block(&key)),
    ]);
    let other = project(&[
        ("main.hcl", &volumes_config(volumes.path(), 2)),
        ("backend.hcl", &backend_block(&key)),
    ]);
    ok(slow.path(), &["init"]);
    ok(other.path(), &["init"]);
    let waiting = Waiting::start(slow.path());
    let refused = blockform(other.path(), &["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1);
    ok(other.path(), &["force-unlock", &lock_id(&refused.stderr)]);
    ok(other.path(), &["apply", "--auto-approve"]);
    let newer = pulled(other.path());

    // The first run, its lock broken, goes on from the state it read: refused, nothing written.
    let (code, rest) = waiting.approve();
    assert_eq!(code, 1, "{rest}");
    assert!(rest.contains("changed under this run"), "{rest}");
    assert_eq!(pulled(other.path()), newer, "the newer state is untouched");
    let plan = blockform(other.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert_eq!(volume_files(volumes.path()).len(), 4, "two volumes, no stray one");
    ok(other.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_migrating_a_local_state_to_s3_and_back_keeps_every_record_lineage_and_serial() {
    let key = fresh_key("migrate");
    let volumes = TempDir::new();
    let dir = project(&[("main.hcl", &volumes_config(volumes.path(), 2))]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    let local = pulled(dir.path());

    std::fs::write(dir.path().join("backend.hcl"), backend_block(&key)).unwrap();
    let refused = blockform(dir.path(), &["plan"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("the state backend changed") && refused.stderr.contains("init -migrate-state"),
        "{}",
        refused.stderr
    );
    let refused = blockform(dir.path(), &["init"]);
    assert_eq!(refused.code, 1, "a plain init copies nothing: {}", refused.stderr);
    let migrated = ok(dir.path(), &["init", "-migrate-state"]);
    assert!(migrated.stdout.contains("Copied the state"), "{}", migrated.stdout);
    assert_eq!(pulled(dir.path()), local, "every record, the lineage and the serial");
    let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);

    // A change made on S3, then back to the local state.
    std::fs::write(dir.path().join("main.hcl"), volumes_config(volumes.path(), 3)).unwrap();
    ok(dir.path(), &["apply", "--auto-approve"]);
    let on_s3 = pulled(dir.path());
    assert_eq!(on_s3["lineage"], local["lineage"]);
    assert!(on_s3["serial"].as_u64() > local["serial"].as_u64());
    std::fs::remove_file(dir.path().join("backend.hcl")).unwrap();
    ok(dir.path(), &["init", "-migrate-state"]);
    assert_eq!(pulled(dir.path()), on_s3);
    let plan = blockform(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_an_apply_killed_midway_is_completed_by_the_next_run() {
    // The local provider's fault point aborts the process right after the volume image is
    // written, as a SIGKILL would (no cleanup runs, the S3 lock object stays).
    for step in ["sidecar", "image", "link"] {
        let key = fresh_key("killed");
        let volumes = TempDir::new();
        let dir = project(&[
            ("main.hcl", &volumes_config(volumes.path(), 2)),
            ("backend.hcl", &backend_block(&key)),
        ]);
        ok(dir.path(), &["init"]);
        let fault = format!("abort-after:{step}");
        let killed = blockform_env(
            dir.path(),
            &["apply", "--auto-approve", "--parallelism", "1"],
            &[("BLOCKFORM_LOCAL_FAULT", &fault)],
        );
        assert_eq!(killed.code, -1, "{}\n{}", killed.stdout, killed.stderr);
        let locked = blockform(dir.path(), &["apply", "--auto-approve"]);
        assert_eq!(locked.code, 1, "the lock of the killed run is still there");
        assert!(locked.stderr.contains("state is locked by"), "{}", locked.stderr);
        let unlocked = ok(dir.path(), &["force-unlock", &lock_id(&locked.stderr)]);
        assert!(
            unlocked.stdout.contains("No process held it any more"),
            "the killed holder is known to be gone: {}",
            unlocked.stdout
        );
        ok(dir.path(), &["apply", "--auto-approve"]);
        assert_converged(dir.path(), volumes.path(), 4);
        ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
    }
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_an_endpoint_that_does_not_answer_fails_within_seconds_and_records_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let volumes = TempDir::new();
    let block = format!(
        "blockform {{\n  backend \"s3\" {{\n    bucket   = \"{}\"\n    key      = \"down\"\n    endpoint = \
         \"http://127.0.0.1:{port}\"\n  }}\n}}\n",
        bucket()
    );
    let dir = project(&[
        ("main.hcl", &volumes_config(volumes.path(), 1)),
        ("backend.hcl", &block),
    ]);
    let started = Instant::now();
    let failed = blockform(dir.path(), &["init"]);
    let took = started.elapsed();
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        failed.stderr.contains(&format!("http://127.0.0.1:{port}")) && failed.stderr.contains("is up and reachable"),
        "{}",
        failed.stderr
    );
    assert!(
        !dir.path().join(".blockform/backend.json").exists(),
        "init recorded nothing"
    );
    // With the backend recorded, an apply fails as fast, before creating anything.
    std::fs::create_dir_all(dir.path().join(".blockform")).unwrap();
    std::fs::write(
        dir.path().join(".blockform/backend.json"),
        format!(
            "{{\"kind\":\"s3\",\"bucket\":\"{}\",\"key\":\"down\",\"endpoint\":\"http://127.0.0.1:{port}\"}}",
            bucket()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let failed = blockform(dir.path(), &["apply", "--auto-approve"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(volume_files(volumes.path()).is_empty(), "nothing was created");
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_credentials_never_come_from_the_configuration_and_a_missing_bucket_is_named() {
    let dir = project(&[(
        "main.hcl",
        &format!(
            "blockform {{\n  backend \"s3\" {{\n    bucket     = \"{}\"\n    key        = \"k\"\n    secret_key = \
             \"hunter2\"\n  }}\n}}\n",
            bucket()
        ),
    )]);
    let refused = blockform(dir.path(), &["validate"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("`secret_key` does not belong in the configuration")
            && refused.stderr.contains("main.hcl:5"),
        "{}",
        refused.stderr
    );
    let clean = project(&[("main.hcl", &backend_block(&fresh_key("creds")))]);
    let unsigned = blockform_env(
        clean.path(),
        &["init"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
        ],
    );
    assert_eq!(unsigned.code, 1);
    assert!(
        unsigned.stderr.contains("no credentials") && unsigned.stderr.contains("~/.aws/credentials"),
        "{}",
        unsigned.stderr
    );
    // A bucket that does not exist is named, with the command that makes it.
    let missing = project(&[(
        "main.hcl",
        "blockform {\n  backend \"s3\" {\n    bucket = \"no-such-bucket\"\n    key    = \"k\"\n  }\n}\n",
    )]);
    let refused = blockform(missing.path(), &["init"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("the bucket `no-such-bucket` does not exist")
            && refused.stderr.contains("s3 mb s3://no-such-bucket"),
        "{}",
        refused.stderr
    );
    assert!(!missing.path().join(".blockform/backend.json").exists());
    // The same keys from a credentials file.
    let file = TempDir::new();
    let credentials = file.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap(),
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap()
        ),
    )
    .unwrap();
    let from_file = blockform_env(
        clean.path(),
        &["init"],
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
            ("AWS_PROFILE", "ci"),
        ],
    );
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_an_apply_killed_with_sigkill_midway_converges_on_the_next_run() {
    let key = fresh_key("sigkill");
    let volumes = TempDir::new();
    let dir = project(&[
        ("main.hcl", &volumes_config(volumes.path(), 8)),
        ("backend.hcl", &backend_block(&key)),
    ]);
    ok(dir.path(), &["init"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_blockform"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few operations are recorded: the state's log has entries.
    let location = blockform::s3::S3Location {
        bucket: bucket(),
        prefix: key.clone(),
        endpoint: None,
        region: None,
    };
    let client = blockform::s3::S3Client::new(&location, blockform::s3::Patience::STATE).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if client.list("log/", None).unwrap().len() >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let locked = blockform(dir.path(), &["plan"]);
    assert_eq!(locked.code, 1, "{}", locked.stderr);
    ok(dir.path(), &["force-unlock", &lock_id(&locked.stderr)]);
    ok(dir.path(), &["apply", "--auto-approve"]);
    assert_converged(dir.path(), volumes.path(), 16);
    ok(dir.path(), &["destroy", "--auto-approve", "--allow-data-loss"]);
}

#[test]
#[ignore = "needs the S3 service of tests/run"]
fn s3_state_push_and_pull_round_trip_through_the_bucket() {
    let key = fresh_key("push");
    let dir = project(&[("backend.hcl", &backend_block(&key))]);
    ok(dir.path(), &["init"]);
    let document = serde_json::json!({
        "format_version": 1,
        "lineage": "0d6f8a1e-7e55-4c43-9d5e-3c4a1b2c3d4e",
        "serial": 7,
        "resources": [{
            "address": "volume.db",
            "backend_id": "volume-1",
            "provider": "local.dev",
            "attributes": {"size": 1},
            "dependencies": [],
            "status": "available"
        }],
        "intents": [],
        "outputs": {"id": {"value": "volume-1", "sensitive": false}}
    });
    std::fs::write(dir.path().join("pushed.json"), document.to_string()).unwrap();
    ok(dir.path(), &["state", "push", "pushed.json"]);
    let read = pulled(dir.path());
    assert_eq!(read["lineage"], document["lineage"]);
    assert_eq!(read["resources"], document["resources"]);
    assert_eq!(read["outputs"], document["outputs"]);
    let listed = ok(dir.path(), &["state", "list"]);
    assert_eq!(listed.stdout.trim(), "volume.db");
    // Another working directory on the same key reads what was pushed.
    let other = project(&[("backend.hcl", &backend_block(&key))]);
    ok(other.path(), &["init"]);
    assert_eq!(pulled(other.path()), read);
}

/// After a killed apply was completed: no intent left, `files` volume files (an image and a
/// sidecar each), every one of them a recorded volume's, and an empty plan.
fn assert_converged(dir: &Path, volumes: &Path, files: usize) {
    let state = pulled(dir);
    assert!(state["intents"].as_array().unwrap().is_empty(), "{state}");
    let found = volume_files(volumes);
    assert_eq!(found.len(), files, "no leftover, no duplicate: {found:?}");
    let text = state.to_string();
    for file in &found {
        let id = file.rsplit_once('.').unwrap().0;
        assert!(text.contains(id), "{file} belongs to a recorded volume");
    }
    let plan = blockform(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}
