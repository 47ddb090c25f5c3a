//! The plan engine through the library: desired × prior state → changes, storage actions,
//! data-loss flags and plan-time errors. State is built the way apply records it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use blockform::config::value::Value;
use blockform::config::{EvalOptions, Loaded, load};
use blockform::diagnostics::Diagnostics;
use blockform::model::{Address, resource_schema};
use blockform::plan::{Action, Observed, Plan, PlanInputs, PlanMode, PlanOptions, Reason, StorageAction, diff};
use blockform::state::ResourceState;

use crate::common::project;

const BASE: &str = r#"
provider "local" "dev" {
  path = "./v"
}

provider "local" "other" {
  path = "./w"
}

provider "libvirt" "kvm" {
  uri = "qemu:///system"
}

resource "volume_type" "std" {
  backend = "dev"
}

resource "volume_type" "fast" {
  backend = "dev"
}

resource "volume_type" "remote" {
  backend = "other"
}
"#;

fn known(prior: &[ResourceState]) -> HashMap<Address, blockform::config::value::ValueMap> {
    prior
        .iter()
        .map(|r| {
            let address = Address::parse(&r.address).unwrap();
            let mut values = blockform::config::value::ValueMap::default();
            values.insert("id".into(), Value::String(r.backend_id.clone()));
            (address, values)
        })
        .collect()
}

fn load_with(dir: &Path, prior: &[ResourceState]) -> Loaded {
    let options = EvalOptions {
        known: known(prior),
        allow_undeclared_imports: false,
        ..EvalOptions::default()
    };
    let loaded = load(dir, &options).unwrap_or_else(|(_, d)| panic!("{d:?}"));
    assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
    loaded
}

fn plan_with(dir: &Path, prior: &[ResourceState], options: &PlanOptions) -> (Plan, Diagnostics) {
    let loaded = load_with(dir, prior);
    let outputs = BTreeMap::new();
    let observed = HashMap::new();
    let inputs = PlanInputs {
        desired: &loaded.desired,
        prior,
        prior_outputs: &outputs,
        observed: &observed,
        lineage: "test".into(),
        serial: 1,
    };
    let mut diagnostics = Diagnostics::default();
    let plan = diff(&inputs, options, &mut diagnostics);
    (plan, diagnostics)
}

/// Records every object of the configuration in state as apply would: ids assigned, references
/// resolved to those ids.
fn applied(dir: &Path) -> Vec<ResourceState> {
    let (plan, d) = plan_with(dir, &[], &PlanOptions::default());
    assert!(!d.has_errors(), "{d:?}");
    let mut state: Vec<ResourceState> = plan
        .changes
        .iter()
        .map(|c| ResourceState {
            address: c.address.to_string(),
            backend_id: c.backend_id.clone().unwrap(),
            provider: c.provider.clone(),
            attributes: serde_json::Map::new(),
            dependencies: c.depends_on.iter().map(ToString::to_string).collect(),
            status: "available".into(),
        })
        .collect();
    // With every id known, the configuration evaluates completely.
    let loaded = load_with(dir, &state);
    for record in &mut state {
        let instance = loaded
            .desired
            .resource(&Address::parse(&record.address).unwrap())
            .unwrap();
        let schema = resource_schema(instance.address.kind);
        for spec in schema.attrs {
            record
                .attributes
                .insert(spec.name.into(), instance.attrs[spec.name].to_json());
        }
        record
            .attributes
            .insert("id".into(), serde_json::Value::String(record.backend_id.clone()));
        record
            .attributes
            .insert("status".into(), serde_json::Value::String("available".into()));
    }
    state
}

fn change<'p>(plan: &'p Plan, address: &str) -> &'p blockform::plan::Change {
    plan.changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .unwrap_or_else(|| panic!("{address} in plan"))
}

fn errors(d: &Diagnostics) -> Vec<String> {
    d.iter().filter(|d| d.is_error()).map(|d| d.summary.clone()).collect()
}

fn config(volume: &str) -> crate::common::TempDir {
    project(&[("main.hcl", &format!("{BASE}\n{volume}"))])
}

fn rewrite(dir: &crate::common::TempDir, volume: &str) {
    std::fs::write(dir.path().join("main.hcl"), format!("{BASE}\n{volume}")).unwrap();
}

const DB: &str = r#"
resource "volume" "db" {
  type = volume_type.std.id
  size = 10
  tags = ["a"]
}

resource "snapshot" "s" {
  volume = volume.db.id
}
"#;

#[test]
fn a_new_configuration_plans_creates_with_deterministic_names() {
    let dir = config(DB);
    let (plan, d) = plan_with(dir.path(), &[], &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    let db = change(&plan, "volume.db");
    assert_eq!(db.action, Action::Create);
    assert!(db.backend_id.as_deref().unwrap().starts_with("volume-"));
    assert_eq!(db.provider.as_deref(), Some("dev"));
    assert_eq!(db.after.as_ref().unwrap()["id"], Value::Unknown("volume.db.id".into()));
    let s = change(&plan, "snapshot.s");
    assert!(s.backend_id.as_deref().unwrap().starts_with("snapshot-"));
    assert_eq!(
        s.provider.as_deref(),
        Some("dev"),
        "a snapshot lives where its volume is"
    );
    assert_eq!(s.depends_on, [Address::parse("volume.db").unwrap()]);
    assert!(plan.has_changes());
}

#[test]
fn an_applied_configuration_plans_no_changes() {
    let dir = config(DB);
    let state = applied(dir.path());
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    let acting: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| !c.is_noop())
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    assert_eq!(acting, Vec::<String>::new());
    assert!(!plan.has_changes());
}

#[test]
fn growing_a_volume_is_an_extend_and_shrinking_it_an_error() {
    let dir = config(DB);
    let state = applied(dir.path());
    rewrite(&dir, &DB.replace("size = 10", "size = 20"));
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    let db = change(&plan, "volume.db");
    assert_eq!(db.action, Action::Update);
    assert_eq!(
        db.storage,
        Some(StorageAction::Extend {
            from_gib: 10,
            to_gib: 20
        })
    );
    assert!(!db.data_loss);

    rewrite(&dir, &DB.replace("size = 10", "size = 5"));
    let (_, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert_eq!(errors(&d), ["`volume.db` cannot shrink from 10 GiB to 5 GiB"]);
    let shrink = d.iter().next().unwrap();
    assert_eq!(
        shrink.label.as_deref(),
        Some("5 GiB is smaller than the current 10 GiB")
    );
}

#[test]
fn a_type_change_retypes_within_a_back_end_and_replaces_across() {
    let dir = config(DB);
    let state = applied(dir.path());
    rewrite(&dir, &DB.replace("volume_type.std.id", "volume_type.fast.id"));
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    let db = change(&plan, "volume.db");
    assert_eq!(db.action, Action::Update);
    assert!(matches!(db.storage, Some(StorageAction::Retype { .. })));

    rewrite(&dir, &DB.replace("volume_type.std.id", "volume_type.remote.id"));
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    let db = change(&plan, "volume.db");
    assert_eq!(db.action, Action::DeleteThenCreate);
    assert_eq!(db.reason, Some(Reason::ReplaceBecauseBackendChanged));
    assert!(db.data_loss);
    assert_eq!(db.replace_paths, ["type"]);
}

#[test]
fn removing_objects_deletes_them_with_data_loss() {
    let dir = config(DB);
    let state = applied(dir.path());
    rewrite(&dir, "");
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    for address in ["volume.db", "snapshot.s"] {
        let c = change(&plan, address);
        assert_eq!(
            (c.action, c.reason, c.data_loss),
            (Action::Delete, Some(Reason::DeleteBecauseNoResourceConfig), true)
        );
    }
    assert_eq!(plan.summary().data_loss, 2);
}

#[test]
fn prevent_destroy_blocks_destroy_and_replace() {
    let guarded = DB.replace(
        "tags = [\"a\"]",
        "tags = [\"a\"]\n  lifecycle {\n    prevent_destroy = true\n  }",
    );
    let dir = config(&guarded);
    let state = applied(dir.path());
    let (_, d) = plan_with(
        dir.path(),
        &state,
        &PlanOptions {
            mode: PlanMode::Destroy,
            ..PlanOptions::default()
        },
    );
    assert_eq!(
        errors(&d),
        ["`volume.db` has `lifecycle.prevent_destroy` set, but this plan would destroy it"]
    );
    let options = PlanOptions {
        replace: vec![Address::parse("volume.db").unwrap()],
        ..PlanOptions::default()
    };
    let (_, d) = plan_with(dir.path(), &state, &options);
    assert_eq!(
        errors(&d),
        ["`volume.db` has `lifecycle.prevent_destroy` set, but this plan would replace it"]
    );
}

#[test]
fn ignore_changes_keeps_the_recorded_value() {
    let ignoring = DB.replace(
        "tags = [\"a\"]",
        "tags = [\"a\"]\n  lifecycle {\n    ignore_changes = [tags]\n  }",
    );
    let dir = config(&ignoring);
    let state = applied(dir.path());
    rewrite(&dir, &ignoring.replace("tags = [\"a\"]", "tags = [\"b\"]"));
    let (plan, _) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert_eq!(change(&plan, "volume.db").action, Action::NoOp);
}

#[test]
fn replace_by_request_and_create_before_destroy() {
    let dir = config(&DB.replace(
        "tags = [\"a\"]",
        "tags = [\"a\"]\n  lifecycle {\n    create_before_destroy = true\n  }",
    ));
    let state = applied(dir.path());
    let options = PlanOptions {
        replace: vec![Address::parse("volume.db").unwrap()],
        ..PlanOptions::default()
    };
    let (plan, d) = plan_with(dir.path(), &state, &options);
    assert!(d.is_empty(), "{d:?}");
    let db = change(&plan, "volume.db");
    assert_eq!(
        (db.action, db.reason),
        (Action::CreateThenDelete, Some(Reason::ReplaceByRequest))
    );
    assert!(
        db.after.as_ref().unwrap()["id"].is_unknown(),
        "the replacement gets a new id"
    );
}

#[test]
fn targeting_keeps_the_target_and_its_dependencies() {
    let dir = config(&format!(
        "{DB}\nresource \"volume\" \"other\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n"
    ));
    let options = PlanOptions {
        targets: vec![Address::parse("snapshot.s").unwrap()],
        ..PlanOptions::default()
    };
    let (plan, _) = plan_with(dir.path(), &[], &options);
    let mut addresses: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    addresses.sort();
    assert_eq!(addresses, ["snapshot.s", "volume.db", "volume_type.std"]);
    assert!(plan.warnings[0].starts_with("resource targeting is in effect"));
}

#[test]
fn count_and_for_each_shrinking_give_their_reasons() {
    let dir = config("resource \"volume\" \"n\" {\n  count = 2\n  type  = volume_type.std.id\n  size  = 1\n}\n");
    let state = applied(dir.path());
    rewrite(
        &dir,
        "resource \"volume\" \"n\" {\n  count = 1\n  type  = volume_type.std.id\n  size  = 1\n}\n",
    );
    let (plan, _) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert_eq!(
        change(&plan, "volume.n[1]").reason,
        Some(Reason::DeleteBecauseCountIndex)
    );
    assert_eq!(change(&plan, "volume.n[0]").action, Action::NoOp);
}

#[test]
fn bootable_cannot_change_on_an_attached_volume() {
    let attached = format!(
        "{}\nresource \"attachment\" \"a\" {{\n  volume   = volume.db.id\n  instance = \"vm1\"\n  host     = \"kvm\"\n}}\n",
        DB.replace("volume = volume.db.id", "volume = volume.db.id\n  force  = true")
    );
    let dir = config(&attached);
    let state = applied(dir.path());
    rewrite(&dir, &attached.replace("size = 10", "size = 10\n  bootable = true"));
    let (_, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert_eq!(
        errors(&d),
        ["`bootable` of `volume.db` cannot change while the volume is attached"]
    );
    // Growing an attached volume is allowed, with a note about the guest's file system.
    rewrite(&dir, &attached.replace("size = 10", "size = 12"));
    let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
    assert!(d.is_empty(), "{d:?}");
    assert!(change(&plan, "volume.db").notes[0].contains("grow the file system inside the guest"));
}

#[test]
fn a_volume_deleted_outside_is_drift_and_created_again() {
    let dir = config(DB);
    let state = applied(dir.path());
    let loaded = load_with(dir.path(), &state);
    let outputs = BTreeMap::new();
    let observed: HashMap<String, Observed> = [("volume.db".to_owned(), Observed::Missing)].into();
    let inputs = PlanInputs {
        desired: &loaded.desired,
        prior: &state,
        prior_outputs: &outputs,
        observed: &observed,
        lineage: "t".into(),
        serial: 1,
    };
    let mut d = Diagnostics::default();
    let plan = diff(&inputs, &PlanOptions::default(), &mut d);
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].after, None);
    let db = change(&plan, "volume.db");
    assert_eq!(
        (db.action, db.reason),
        (Action::Create, Some(Reason::CreateBecauseMissing))
    );
    // Refresh-only: the drift and nothing else.
    let plan = diff(
        &inputs,
        &PlanOptions {
            mode: PlanMode::RefreshOnly,
            ..PlanOptions::default()
        },
        &mut d,
    );
    assert!(plan.changes.is_empty());
    assert!(plan.has_changes());
}

#[test]
fn replacing_an_object_replaces_what_refers_to_its_id() {
    let dir = config(&format!(
        "{DB}\nresource \"volume\" \"copy\" {{\n  type   = volume_type.std.id\n  size   = 10\n  source = {{ snapshot = snapshot.s.id }}\n}}\n\nresource \"volume\" \"other\" {{\n  type = volume_type.std.id\n  size = 1\n}}\n"
    ));
    let state = applied(dir.path());
    let options = PlanOptions {
        replace: vec![Address::parse("volume.db").unwrap()],
        ..PlanOptions::default()
    };
    let (plan, d) = plan_with(dir.path(), &state, &options);
    assert!(d.is_empty(), "{d:?}");
    // The snapshot belongs to the old volume: it goes with it. The copy made from that snapshot
    // is independent of it (its source matters only when it is made): it stays.
    let snapshot = change(&plan, "snapshot.s");
    assert_eq!(snapshot.action, Action::DeleteThenCreate);
    assert_eq!(snapshot.replace_paths, ["volume"]);
    assert!(snapshot.after.as_ref().unwrap()["volume"].is_unknown());
    assert_eq!(change(&plan, "volume.copy").action, Action::NoOp);
    assert_eq!(
        change(&plan, "volume.other").action,
        Action::NoOp,
        "unrelated objects stay"
    );
    assert_eq!(change(&plan, "volume_type.std").action, Action::NoOp);

    // Replacing a type retypes its volumes onto the new one instead of replacing them.
    let options = PlanOptions {
        replace: vec![Address::parse("volume_type.std").unwrap()],
        ..PlanOptions::default()
    };
    let (plan, d) = plan_with(dir.path(), &state, &options);
    assert!(d.is_empty(), "{d:?}");
    for volume in ["volume.db", "volume.copy", "volume.other"] {
        let retype = change(&plan, volume);
        assert_eq!(retype.action, Action::Update, "{volume}");
        assert!(matches!(retype.storage, Some(StorageAction::Retype { .. })), "{volume}");
    }
    assert_eq!(change(&plan, "snapshot.s").action, Action::NoOp);
}

/// A configuration large enough that the diff plans its instances on several threads: what
/// refers to a replaced object is still planned with that object's new id unknown, and the
/// changes keep the configuration's order.
#[test]
fn a_large_plan_replaces_what_refers_to_each_replaced_object() {
    let blocks = "resource \"volume\" \"data\" {\n  count = 1500\n  type  = volume_type.std.id\n  size  = 1\n}\n\n\
                  resource \"snapshot\" \"s\" {\n  count  = 1500\n  volume = volume.data[count.index].id\n}\n";
    let dir = config(blocks);
    let state = applied(dir.path());
    let replaced = ["volume.data[7]", "volume.data[1200]", "volume.data[1499]"];
    let options = PlanOptions {
        replace: replaced.iter().map(|a| Address::parse(a).unwrap()).collect(),
        ..PlanOptions::default()
    };
    let (plan, d) = plan_with(dir.path(), &state, &options);
    assert!(d.is_empty(), "{d:?}");
    let planned: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    let loaded = load_with(dir.path(), &state);
    let configured: Vec<String> = loaded.desired.resources.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(
        planned, configured,
        "one change per instance, in the configuration's order"
    );
    for i in 0..1500 {
        let (volume, snapshot) = (format!("volume.data[{i}]"), format!("snapshot.s[{i}]"));
        let expected = if replaced.contains(&volume.as_str()) {
            Action::DeleteThenCreate
        } else {
            Action::NoOp
        };
        assert_eq!(change(&plan, &volume).action, expected, "{volume}");
        assert_eq!(change(&plan, &snapshot).action, expected, "{snapshot}");
        if expected == Action::DeleteThenCreate {
            assert!(change(&plan, &snapshot).after.as_ref().unwrap()["volume"].is_unknown());
        }
    }
}

#[test]
fn deleting_a_snapshot_an_unflattened_ceph_clone_depends_on_says_the_clone_is_flattened() {
    let setup = |flatten: &str, with_snapshot: bool| {
        let source = if with_snapshot {
            "resource \"snapshot\" \"s\" {\n  volume = volume.db.id\n}\n"
        } else {
            ""
        };
        let clone_source = if with_snapshot {
            "  source = { snapshot = snapshot.s.id }\n"
        } else {
            ""
        };
        format!(
            "provider \"ceph\" \"ssd\" {{\n  pool = \"rbd\"\n  conf = \"ceph.conf\"\n{flatten}}}\n\n\
             resource \"volume_type\" \"c\" {{\n  backend = \"ssd\"\n}}\n\n\
             resource \"volume\" \"db\" {{\n  type = volume_type.c.id\n  size = 1\n}}\n\n{source}\n\
             resource \"volume\" \"clone\" {{\n  type = volume_type.c.id\n  size = 1\n{clone_source}\
             \n  lifecycle {{\n    ignore_changes = [source]\n  }}\n}}\n"
        )
    };
    for (flatten, noted) in [("  flatten_clones = false\n", true), ("", false)] {
        let dir = project(&[("main.hcl", &setup(flatten, true))]);
        let state = applied(dir.path());
        std::fs::write(dir.path().join("main.hcl"), setup(flatten, false)).unwrap();
        let (plan, d) = plan_with(dir.path(), &state, &PlanOptions::default());
        assert!(!d.has_errors(), "{d:?}");
        let snapshot = change(&plan, "snapshot.s");
        assert_eq!(snapshot.action, Action::Delete);
        assert_eq!(change(&plan, "volume.clone").action, Action::NoOp);
        let expected = "`volume.clone` still depends on it (provider `ssd` has `flatten_clones = false`): \
                        it is flattened first, which copies its data";
        if noted {
            assert_eq!(snapshot.notes, [expected]);
        } else {
            assert!(snapshot.notes.is_empty(), "{:?}", snapshot.notes);
        }
    }
}
