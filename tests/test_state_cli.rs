//! The state commands as a person runs them: `state list|show|rm|mv|pull|push`, `output`,
//! `force-unlock`, and what a second run is told while the state is locked. State is seeded
//! with `state push` (what `state pull` printed), since no back end is needed for any of this.

use std::path::Path;
use std::time::Duration;

use blockform::state::StateLock;

use crate::common::{Run, blockform, project};

const LINEAGE: &str = "5f1c4a8e-0b7d-4c1e-9a53-2f0e6d1c9b11";

/// A state document like `state pull` prints, at `serial`.
fn document(lineage: &str, serial: u64) -> String {
    format!(
        r#"{{
  "format_version": 1,
  "lineage": "{lineage}",
  "serial": {serial},
  "resources": [
    {{
      "address": "volume.db",
      "backend_id": "volume-5c0e",
      "provider": "local.dev",
      "attributes": {{ "name": "db", "size": 20, "metadata": {{ "owner": "team-a" }} }},
      "dependencies": ["volume_type.std"],
      "status": "available"
    }},
    {{
      "address": "volume.scratch[\"a\"]",
      "backend_id": "volume-aa01",
      "provider": "local.dev",
      "attributes": {{ "name": "scratch-a", "size": 5 }},
      "dependencies": ["volume_type.std"],
      "status": "available"
    }},
    {{
      "address": "volume.scratch[\"b\"]",
      "backend_id": "volume-bb02",
      "provider": "local.dev",
      "attributes": {{ "name": "scratch-b", "size": 5 }},
      "dependencies": [],
      "status": "in-use"
    }},
    {{
      "address": "volume_type.std",
      "backend_id": "std",
      "provider": "local.dev",
      "attributes": {{ "name": "std" }},
      "dependencies": [],
      "status": "available"
    }}
  ],
  "intents": [],
  "outputs": {{
    "db_id": {{ "value": "volume-5c0e", "sensitive": false }},
    "sizes": {{ "value": [20, 5], "sensitive": false }},
    "password": {{ "value": "hunter2", "sensitive": true }}
  }}
}}
"#
    )
}

/// A directory whose state holds [`document`] at serial 3.
fn seeded() -> crate::common::TempDir {
    let dir = project(&[("state.json", &document(LINEAGE, 3))]);
    let run = blockform(dir.path(), &["state", "push", "state.json"]);
    assert_success(&run);
    dir
}

fn assert_success(run: &Run) {
    assert_eq!(
        run.code, 0,
        "exit code 0:\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

fn assert_failure(run: &Run) {
    assert_eq!(
        run.code, 1,
        "exit code 1:\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "no panic:\n{}", run.stderr);
}

fn list(dir: &Path) -> String {
    let run = blockform(dir, &["state", "list"]);
    assert_success(&run);
    run.stdout
}

#[test]
fn list_prints_sorted_addresses_and_filters_by_prefix() {
    let dir = seeded();
    assert_eq!(
        list(dir.path()),
        "volume.db\nvolume.scratch[\"a\"]\nvolume.scratch[\"b\"]\nvolume_type.std\n"
    );
    let run = blockform(dir.path(), &["state", "list", "volume.scratch"]);
    assert_success(&run);
    assert_eq!(run.stdout, "volume.scratch[\"a\"]\nvolume.scratch[\"b\"]\n");
    let run = blockform(dir.path(), &["state", "list", "volume_type"]);
    assert_eq!(run.stdout, "volume_type.std\n");
    let run = blockform(dir.path(), &["state", "list", "disk"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains("`disk` is neither a resource kind nor an address"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_directory_without_state_lists_nothing_and_creates_nothing() {
    let dir = project(&[]);
    let run = blockform(dir.path(), &["state", "list"]);
    assert_success(&run);
    assert_eq!(run.stdout, "");
    assert!(!dir.path().join(".blockform").exists(), "reading creates no state");
}

#[test]
fn show_prints_the_instance_like_terraform() {
    let dir = seeded();
    let run = blockform(dir.path(), &["state", "show", "volume.db"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "# volume.db:\n\
         resource \"volume\" \"db\" {\n    \
             id       = \"volume-5c0e\"\n    \
             metadata = {\n        \
                 owner = \"team-a\"\n    \
             }\n    \
             name     = \"db\"\n    \
             size     = 20\n    \
             status   = \"available\"\n\
         }\n"
    );
    let run = blockform(dir.path(), &["state", "show", "volume.scratch"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains(
            "no resource instance `volume.scratch` in state\n  help: show one of its instances: \
             volume.scratch[\"a\"], volume.scratch[\"b\"]"
        ),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["state", "show", "volume"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("`volume` is not a resource address\n  help: addresses look like")
    );
}

#[test]
fn rm_forgets_instances_and_says_the_objects_remain() {
    let dir = seeded();
    let run = blockform(dir.path(), &["state", "rm", "--dry-run", "volume.scratch"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "Would remove volume.scratch[\"a\"]\nWould remove volume.scratch[\"b\"]\n\
         Would remove 2 resource instances; nothing was changed.\n"
    );
    assert!(list(dir.path()).contains("volume.scratch[\"a\"]"));

    let run = blockform(dir.path(), &["state", "rm", "volume.db", "volume.scratch[\"b\"]"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "Removed volume.db\nRemoved volume.scratch[\"b\"]\nRemoved 2 resource instances from state. The objects \
         still exist in the back end; blockform no longer manages them.\n"
    );
    assert_eq!(list(dir.path()), "volume.scratch[\"a\"]\nvolume_type.std\n");

    let run = blockform(dir.path(), &["state", "rm", "volume.scratch[\"a\"]", "volume.gone"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("no resource instance `volume.gone` in state; nothing was removed"),
        "{}",
        run.stderr
    );
    assert!(list(dir.path()).contains("volume.scratch[\"a\"]"), "all or nothing");
}

#[test]
fn mv_renames_and_refuses_an_occupied_or_other_kind_destination() {
    let dir = seeded();
    let run = blockform(dir.path(), &["state", "mv", "volume.db", "volume.database"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "Moved volume.db to volume.database\nMoved 1 resource instance.\n"
    );
    let run = blockform(dir.path(), &["state", "mv", "volume.scratch", "volume.temp"]);
    assert_success(&run);
    assert_eq!(
        list(dir.path()),
        "volume.database\nvolume.temp[\"a\"]\nvolume.temp[\"b\"]\nvolume_type.std\n"
    );

    let run = blockform(dir.path(), &["state", "mv", "volume.database", "volume.temp[\"a\"]"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains(
            "cannot move `volume.database` to `volume.temp[\"a\"]`: `volume.temp[\"a\"]` is already in state"
        ),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["state", "mv", "volume.database", "snapshot.database"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains(
            "cannot move `volume.database` to `snapshot.database`: a resource keeps its kind (volume is not snapshot)"
        ),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["state", "mv", "volume.nothing", "volume.x"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains("no resource instance `volume.nothing` in state"),
        "{}",
        run.stderr
    );
}

#[test]
fn pull_prints_what_push_took_with_a_higher_serial() {
    let dir = seeded();
    let run = blockform(dir.path(), &["state", "pull"]);
    assert_success(&run);
    let pulled: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(pulled["lineage"], LINEAGE);
    assert_eq!(pulled["serial"], 3);
    assert_eq!(pulled["resources"].as_array().unwrap().len(), 4);
    assert_eq!(pulled["outputs"]["password"]["sensitive"], true);

    // Every command that changes state bumps the serial.
    assert_success(&blockform(dir.path(), &["state", "rm", "volume.db"]));
    let run = blockform(dir.path(), &["state", "pull"]);
    let pulled: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(pulled["serial"], 4);
}

#[test]
fn push_refuses_a_lower_serial_or_another_lineage_unless_forced() {
    let dir = seeded();
    let old = document(LINEAGE, 1).replace("\"size\": 20", "\"size\": 30");
    std::fs::write(dir.path().join("old.json"), old).unwrap();
    let run = blockform(dir.path(), &["state", "push", "old.json"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("cannot push `old.json`: its serial 1 is lower than the state's serial 3"),
        "{}",
        run.stderr
    );

    let other = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a";
    std::fs::write(dir.path().join("other.json"), document(other, 9)).unwrap();
    let run = blockform(dir.path(), &["state", "push", "other.json"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains(&format!(
            "cannot push `other.json`: its lineage `{other}` is not the state's lineage `{LINEAGE}`"
        )),
        "{}",
        run.stderr
    );

    let run = blockform(dir.path(), &["state", "push", "--force", "old.json"]);
    assert_success(&run);
    let run = blockform(dir.path(), &["state", "pull"]);
    let pulled: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(pulled["serial"], 4, "a forced push still moves the serial forward");
    assert_eq!(pulled["resources"][0]["attributes"]["size"], 30);

    // Pushing what the state already holds changes nothing.
    std::fs::write(dir.path().join("same.json"), &run.stdout).unwrap();
    let run = blockform(dir.path(), &["state", "push", "same.json"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "The state already holds what `same.json` holds; nothing to push.\n"
    );

    let run = blockform(dir.path(), &["state", "push", "not-there.json"]);
    assert_failure(&run);
    assert!(run.stderr.contains("cannot read `not-there.json`"), "{}", run.stderr);
}

#[test]
fn output_prints_values_json_and_raw() {
    let dir = seeded();
    let run = blockform(dir.path(), &["output"]);
    assert_success(&run);
    assert_eq!(
        run.stdout,
        "db_id = \"volume-5c0e\"\npassword = <sensitive>\nsizes = [\n  20,\n  5,\n]\n"
    );
    let run = blockform(dir.path(), &["output", "password"]);
    assert_eq!(run.stdout, "\"hunter2\"\n", "a named sensitive output is shown");
    let run = blockform(dir.path(), &["output", "--raw", "db_id"]);
    assert_success(&run);
    assert_eq!(run.stdout, "volume-5c0e");
    let run = blockform(dir.path(), &["output", "--json", "sizes"]);
    assert_eq!(run.stdout, "[\n  20,\n  5\n]\n");
    let run = blockform(dir.path(), &["output", "--json"]);
    let all: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        all["password"],
        serde_json::json!({"sensitive": true, "value": "hunter2"})
    );

    let run = blockform(dir.path(), &["output", "--raw", "sizes"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("output `sizes` is a list; `--raw` prints only strings, numbers and booleans"),
        "{}",
        run.stderr
    );
    let run = blockform(dir.path(), &["output", "nope"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("no output `nope` in state\n  help: the outputs in state are db_id, password, sizes"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_locked_state_names_its_holder_and_force_unlock_needs_the_id() {
    let dir = seeded();
    let state = dir.path().join(".blockform/state");
    let held = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
    let info = held.info().clone();

    let run = blockform(dir.path(), &["state", "list"]);
    assert_failure(&run);
    assert!(
        run.stderr.contains(&format!(
            "state is locked by {} (pid {}, apply) since {}; lock id {}",
            info.who,
            std::process::id(),
            info.created,
            info.id
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "help: run with `--lock-timeout=30s` to wait for it, or `blockform force-unlock {}` if that process is gone",
            info.id
        )),
        "{}",
        run.stderr
    );

    // `--lock=false` reads anyway.
    let run = blockform(dir.path(), &["state", "list", "--lock=false"]);
    assert_success(&run);
    assert!(run.stdout.contains("volume.db"));

    let run = blockform(dir.path(), &["force-unlock", "not-the-id"]);
    assert_failure(&run);
    assert!(
        run.stderr
            .contains("lock id `not-the-id` does not match the state lock"),
        "{}",
        run.stderr
    );

    let run = blockform(dir.path(), &["force-unlock", &info.id]);
    assert_success(&run);
    assert!(
        run.stdout
            .starts_with(&format!("Removed the state lock {} of {}", info.id, info.who)),
        "{}",
        run.stdout
    );
    let run = blockform(dir.path(), &["state", "list"]);
    assert_success(&run);
    drop(held);
}

#[test]
fn lock_timeout_waits_for_the_holder() {
    let dir = seeded();
    let state = dir.path().join(".blockform/state");
    let held = StateLock::acquire(&state, "apply", Duration::ZERO).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(held);
    });
    let run = blockform(dir.path(), &["state", "list", "--lock-timeout=20s"]);
    release.join().unwrap();
    assert_success(&run);
    assert!(run.stdout.contains("volume.db"));
}

#[test]
fn the_state_flag_picks_another_database() {
    let dir = project(&[("state.json", &document(LINEAGE, 3))]);
    let run = blockform(dir.path(), &["state", "push", "state.json", "--state", "elsewhere/db"]);
    assert_success(&run);
    assert!(dir.path().join("elsewhere/db").is_dir());
    assert!(!dir.path().join(".blockform").exists());
    let run = blockform(dir.path(), &["state", "list", "--state", "elsewhere/db"]);
    assert_success(&run);
    assert!(run.stdout.contains("volume.db"));
    let run = blockform(dir.path(), &["output", "db_id", "--state", "elsewhere/db"]);
    assert_eq!(run.stdout, "\"volume-5c0e\"\n");
}
