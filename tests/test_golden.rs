//! Golden plans: the human plan and `plan --json` of every example, byte for byte, against the
//! files under `tests/golden/`. A reshaping of the engine must leave what users read unchanged;
//! a deliberate change of wording re-blesses the files with `BLOCKFORM_BLESS=1`.

use std::path::Path;

use crate::common::{TempDir, blockform, blockform_env, ok, root};

/// A copy of `examples/NAME` in a fresh directory.
fn example(name: &str) -> TempDir {
    let dir = TempDir::new();
    let from = root().join("examples").join(name);
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// What a run printed, with its exit code, as one text.
fn transcript(run: &crate::common::Run) -> String {
    format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// `text` with each distinct UUID replaced by `<uuid-N>` (N in order of first appearance),
/// each RFC 3339 time by `<time>` and the state's serial (how many commits a parallel apply
/// made) by `<serial>`.
fn normalize(text: &str) -> String {
    fn is_uuid(b: &[u8]) -> bool {
        b.len() >= 36
            && b[..36].iter().enumerate().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
                }
            })
    }
    fn is_time(b: &[u8]) -> bool {
        // 2026-12-05T18:29:20Z
        b.len() >= 20
            && b[..20].iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                19 => *c == b'Z',
                _ => c.is_ascii_digit(),
            })
    }
    let bytes = text.as_bytes();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_uuid(&bytes[i..]) {
            let uuid = &text[i..i + 36];
            let n = seen.iter().position(|s| *s == uuid).unwrap_or_else(|| {
                seen.push(uuid);
                seen.len() - 1
            });
            out.push_str("<uuid-");
            out.push_str(&n.to_string());
            out.push('>');
            i += 36;
        } else if bytes[i..].starts_with(b"\"serial\": ") && i + 10 < bytes.len() && bytes[i + 10].is_ascii_digit() {
            out.push_str("\"serial\": <serial>");
            i += 10;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        } else if is_time(&bytes[i..]) {
            out.push_str("<time>");
            i += 20;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `text` without the plan's "Not enough space" warnings (the human block and the JSON
/// `warnings` entry): whether the examples' local provider has room for their volumes depends on
/// the free space of the machine that runs the test, not on the plan.
fn without_capacity_warnings(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "╷" && lines.peek() == Some(&"│ Warning: Not enough space") {
            for rest in lines.by_ref() {
                if rest == "╵" {
                    break;
                }
            }
            if out.last().is_some_and(String::is_empty) {
                out.pop();
            }
            continue;
        }
        if line.trim_start().starts_with("\"Not enough space: ") {
            // The examples have no other warning: the list closes on the next line.
            let closing = lines.next().unwrap_or_default().trim_start();
            if let Some(last) = out.last_mut() {
                last.push_str(closing);
            }
            continue;
        }
        out.push(line.to_owned());
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// Compares `actual` with `tests/golden/FILE` (or writes it under `BLOCKFORM_BLESS=1`).
fn golden(file: &str, actual: &str, scratch: &Path) {
    // Temporary paths (a test's working directory), back-end ids (random UUIDs) and times are
    // not part of what is compared.
    let actual = normalize(&without_capacity_warnings(
        &actual.replace(&scratch.display().to_string(), "$DIR"),
    ));
    let path = root().join("tests/golden").join(file);
    if std::env::var_os("BLOCKFORM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BLOCKFORM_BLESS=1 writes it)", path.display()));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, &actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!("{file} differs from its golden copy:\n{diff}");
    }
}

/// The human plan and the JSON plan of `dir` with `args`, against `NAME.plan.txt` and
/// `NAME.plan.json`.
fn golden_plans(name: &str, dir: &Path, args: &[&str]) {
    let mut human = vec!["plan"];
    human.extend_from_slice(args);
    golden(&format!("{name}.plan.txt"), &transcript(&blockform(dir, &human)), dir);
    let mut json = vec!["plan", "--json"];
    json.extend_from_slice(args);
    let run = blockform(dir, &json);
    golden(&format!("{name}.plan.json"), &transcript(&run), dir);
}

#[test]
fn capacity_warnings_are_left_out_of_the_comparison() {
    let human = "  ]\n\n╷\n│ Warning: Not enough space\n│\n│ short by 4.6 GiB\n╵\n--- stderr\n";
    assert_eq!(without_capacity_warnings(human), "  ]\n--- stderr\n");
    let json = "  \"warnings\": [\n    \"Not enough space: short by 4.6 GiB\"\n  ],\n  \"x\": 1\n";
    assert_eq!(without_capacity_warnings(json), "  \"warnings\": [],\n  \"x\": 1\n");
    let other = "╷\n│ Warning: something else\n╵\n";
    assert_eq!(without_capacity_warnings(other), other);
}

#[test]
fn the_plans_of_the_local_examples_are_unchanged() {
    for name in ["quickstart", "backups"] {
        let dir = example(name);
        golden_plans(name, dir.path(), &[]);
    }
}

#[test]
fn the_plan_of_a_changed_quickstart_is_unchanged() {
    // Applied, then grown, with one scratch disk replaced by another and a tag added: extends,
    // creates, deletes and in-place updates with their dependents.
    let dir = example("quickstart");
    ok(&blockform(dir.path(), &["apply", "--auto-approve"]));
    let text = std::fs::read_to_string(dir.path().join("main.hcl")).unwrap();
    std::fs::write(
        dir.path().join("main.hcl"),
        text.replace("[\"db\"]", "[\"db\", \"primary\"]")
            .replace("owner = \"platform\"", "owner = \"storage\""),
    )
    .unwrap();
    golden_plans(
        "quickstart-changed",
        dir.path(),
        &["-var", "db_size=30", "-var", "scratch_disks=[\"a\", \"d\"]"],
    );
}

#[test]
#[ignore = "needs the throw-away Ceph cluster (tests/run starts it)"]
fn ceph_the_plan_of_the_ceph_example_is_unchanged() {
    let (Ok(conf), Ok(keyring)) = (
        std::env::var("BLOCKFORM_TEST_CEPH_CONF"),
        std::env::var("BLOCKFORM_TEST_CEPH_KEYRING"),
    ) else {
        panic!("BLOCKFORM_TEST_CEPH_CONF and BLOCKFORM_TEST_CEPH_KEYRING name the test cluster");
    };
    let dir = example("ceph");
    std::fs::copy(&conf, dir.path().join("ceph.conf")).unwrap();
    std::fs::copy(&keyring, dir.path().join("ceph.keyring")).unwrap();
    let args = ["-var", "conf=ceph.conf", "-var", "keyring=ceph.keyring"];
    let human = blockform_env(dir.path(), &[&["plan"][..], &args].concat(), &[]);
    golden("ceph.plan.txt", &transcript(&human), dir.path());
    let json = blockform_env(dir.path(), &[&["plan", "--json"][..], &args].concat(), &[]);
    golden("ceph.plan.json", &transcript(&json), dir.path());
}
