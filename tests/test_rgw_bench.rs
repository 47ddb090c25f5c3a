//! Benchmarks of the S3 state back end and backup store against a real S3 service (Ceph RGW),
//! printed, never timed assertions: 1,000 state commits (the first hundred against the last,
//! next to one plain PUT), and a full backup of 1 GiB against `aws s3 cp` of the same bytes in
//! the same run, then an incremental after a 5 % scattered change (bytes stored against bytes
//! changed). Ignored, and named so that `tests/run`'s `s3_` pass leaves them out: run them with
//! `BLOCKFORM_TEST_S3_BUCKET=… AWS_ENDPOINT_URL=… cargo test --test runner -- --ignored rgw_
//! --nocapture` (the `AWS_*` variables of `tests/rgw-up.sh`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{blockform, project};
use crate::test_backup::{BLOCK, Model, backup, change, image_of, qemu_io, sha256_file};
use crate::test_s3_backup::{apply, base, client, location, objects};

fn bucket() -> String {
    std::env::var("BLOCKFORM_TEST_S3_BUCKET").expect("BLOCKFORM_TEST_S3_BUCKET names the test bucket")
}

fn fresh_key(test: &str) -> String {
    format!("it/{test}-{}", uuid::Uuid::new_v4())
}

/// 1,000 commits of one small change each on an S3 state: the time per commit of the first
/// hundred and of the last hundred (flat: a commit writes one object whatever the state holds),
/// next to one plain PUT of the same size, measured in the same run.
#[test]
#[ignore = "a benchmark: needs an S3 service, run by hand"]
#[allow(clippy::print_stderr)]
fn rgw_state_a_thousand_commits() {
    use blockform::s3::{Patience, S3Client, S3Location};
    use blockform::state::{BackendChoice, Commit, ResourceState, open_backend};

    let location = S3Location {
        bucket: bucket(),
        prefix: fresh_key("bench"),
        endpoint: None,
        region: None,
    };
    let backend = open_backend(
        Path::new("."),
        &BackendChoice::S3 {
            location: location.clone(),
        },
    );
    let store = backend.open().unwrap();
    let record = |n: usize| ResourceState {
        address: format!("volume.v[{n}]"),
        backend_id: format!("volume-{n}"),
        provider: Some("local.dev".to_owned()),
        attributes: serde_json::from_value(serde_json::json!({"size": 1, "name": format!("v{n}")})).unwrap(),
        dependencies: vec!["volume_type.std".to_owned()],
        status: "available".to_owned(),
    };
    let mut per_commit = Vec::with_capacity(1000);
    for n in 0..1000 {
        let commit = Commit {
            put: vec![record(n)],
            ..Commit::default()
        };
        let started = Instant::now();
        store.commit(&commit).unwrap();
        per_commit.push(started.elapsed());
    }
    let mean = |times: &[Duration]| times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
    let client = S3Client::new(&location, Patience::STATE).unwrap();
    let body = serde_json::to_vec(&record(0)).unwrap();
    let mut puts = Vec::new();
    for n in 0..100 {
        let started = Instant::now();
        client.put(&format!("baseline/{n}"), body.clone().into()).unwrap();
        puts.push(started.elapsed());
    }
    let started = Instant::now();
    let reopened = backend.open().unwrap();
    let open_time = started.elapsed();
    assert_eq!(reopened.resources().unwrap().len(), 1000);
    let hundreds: Vec<String> = per_commit.chunks(100).map(|c| format!("{:.1?}", mean(c))).collect();
    let mut creates = Vec::new();
    for n in 0..1000 {
        let started = Instant::now();
        client
            .create(&format!("plain/{n:020}.json"), body.clone().into())
            .unwrap();
        creates.push(started.elapsed());
    }
    eprintln!(
        "per hundred commits: {hundreds:?}; plain conditional PUTs per hundred: {:?}",
        creates
            .chunks(100)
            .map(|c| format!("{:.1?}", mean(c)))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "s3 state, 1,000 commits: first hundred {:?}/commit, last hundred {:?}/commit; baseline one PUT {:?};          opening the state of 1,000 records afterwards {:?}",
        mean(&per_commit[..100]),
        mean(&per_commit[900..]),
        mean(&puts),
        open_time
    );
}

/// A full backup of 1 GiB of incompressible data to S3 against `aws s3 cp` of the same bytes
/// in the same run, then an incremental after 5 % of the volume changed in scattered 64 KiB
/// writes: the bytes it stores against the bytes changed.
#[test]
#[ignore = "a benchmark: needs an S3 service, run by hand"]
#[allow(clippy::print_stderr, clippy::cast_precision_loss)]
fn rgw_backup_a_gib_full_and_a_five_percent_incremental() {
    let store = location("bench");
    let dir = project(&[]);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let base = base(&store, 1);
    apply(dir.path(), &base);
    let image = image_of(dir.path(), "volume.db");
    let random = scratch.join("random");
    let out = Command::new("head")
        .args(["-c", "1G", "/dev/urandom"])
        .output()
        .unwrap();
    std::fs::write(&random, &out.stdout).unwrap();
    drop(out);
    qemu_io(&image, &[format!("write -s {} 0 1G", random.display())]);

    // The common client first: `aws s3 cp` of the same bytes.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let started = Instant::now();
    let copied = Command::new("aws")
        .args(["--endpoint-url", &endpoint, "s3", "cp", "--only-show-errors"])
        .arg(&random)
        .arg(format!("s3://{}/{}/aws-cp.raw", store.bucket, store.prefix))
        .status()
        .expect("the aws command runs");
    let aws_time = started.elapsed();
    assert!(copied.success());
    let _ = sha256_file(&random);
    std::fs::remove_file(&random).unwrap();

    let config = format!("{base}{}", backup("full", "full"));
    let started = Instant::now();
    apply(dir.path(), &config);
    let full_time = started.elapsed();

    // 5 %: 820 scattered 64 KiB blocks.
    let mut model = Model::default();
    let blocks: Vec<u64> = (0..820).map(|i| (i * 19 + 7) % 16384).collect();
    change(&image, &mut model, &scratch, 9, &blocks, &[]);
    let changed = 820 * BLOCK;
    let before: u64 = objects(&store, "packs/").iter().map(|(_, s)| s).sum();
    let config = format!("{config}{}", backup("inc", "incremental"));
    let started = Instant::now();
    apply(dir.path(), &config);
    let inc_time = started.elapsed();
    let after: u64 = objects(&store, "packs/").iter().map(|(_, s)| s).sum();
    let stored = after - before;
    let gib = 1024.0_f64;
    eprintln!(
        "s3 backup store, 1 GiB full backup: {:.1} s ({:.0} MiB/s, whole apply included); aws s3 cp of the same \
         bytes: {:.1} s ({:.0} MiB/s); ratio {:.2}",
        full_time.as_secs_f64(),
        gib / full_time.as_secs_f64(),
        aws_time.as_secs_f64(),
        gib / aws_time.as_secs_f64(),
        aws_time.as_secs_f64() / full_time.as_secs_f64()
    );
    eprintln!(
        "s3 backup store, 5 % scattered change ({} MiB in 820 blocks): incremental stored {} bytes = {:.3}x the \
         changed bytes, in {:.1} s",
        changed >> 20,
        stored,
        stored as f64 / changed as f64,
        inc_time.as_secs_f64()
    );
    assert!(stored <= changed * 12 / 10, "stored {stored} for {changed} changed");
    apply(dir.path(), &base);
    let run = blockform(dir.path(), &["backup", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    client(&store).delete("aws-cp.raw").unwrap();
}
