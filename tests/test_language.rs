//! The language, evaluated through the library: repetition, references, templates, functions,
//! unknown values, and where variable values come from (and which one wins).

use std::path::Path;

use blockform::config::value::Value;
use blockform::config::vars::{VarArg, VarAssignment, VarInputs};
use blockform::config::{EvalOptions, Loaded, MissingVars, load};
use blockform::model::{Address, InstanceKey, ResourceKind};

use crate::common::project;

const BASE: &str = r#"
provider "local" "dev" {
  path = "./v"
}

resource "volume_type" "std" {
  backend = "dev"
}
"#;

fn load_ok(dir: &Path, options: &EvalOptions) -> Loaded {
    let loaded = load(dir, options).unwrap_or_else(|(_, d)| panic!("load failed: {d:?}"));
    assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
    loaded
}

fn attr<'a>(loaded: &'a Loaded, address: &str, name: &str) -> &'a Value {
    let address = Address::parse(address).unwrap();
    &loaded
        .desired
        .resource(&address)
        .unwrap_or_else(|| panic!("{address} exists"))
        .attrs[name]
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

#[test]
fn for_each_count_and_templates_expand() {
    let dir = project(&[(
        "main.hcl",
        &format!(
            r#"{BASE}
locals {{
  disks = {{ small = 5, large = 50 }}
}}

resource "volume" "disk" {{
  for_each = local.disks
  name     = "disk-${{each.key}}"
  type     = volume_type.std.id
  size     = each.value
}}

resource "volume" "numbered" {{
  count = 3
  name  = format("n-%02d", count.index)
  type  = volume_type.std.id
  size  = count.index + 1
  tags  = [for i in range(count.index) : "t${{i}}"]
  description = "%{{ if count.index == 0 }}first%{{ else }}later%{{ endif }}"
}}
"#
        ),
    )]);
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    assert_eq!(attr(&loaded, "volume.disk[\"small\"]", "name"), &s("disk-small"));
    assert_eq!(attr(&loaded, "volume.disk[\"large\"]", "size"), &Value::Number(50.0));
    assert_eq!(attr(&loaded, "volume.numbered[2]", "name"), &s("n-02"));
    assert_eq!(attr(&loaded, "volume.numbered[2]", "size"), &Value::Number(3.0));
    assert_eq!(
        attr(&loaded, "volume.numbered[2]", "tags"),
        &Value::List(vec![s("t0"), s("t1")])
    );
    assert_eq!(attr(&loaded, "volume.numbered[0]", "description"), &s("first"));
    assert_eq!(attr(&loaded, "volume.numbered[1]", "description"), &s("later"));
    let keys: Vec<InstanceKey> = loaded
        .desired
        .resources
        .iter()
        .filter(|r| r.address.kind == ResourceKind::Volume && r.address.name == "numbered")
        .map(|r| r.address.key.clone())
        .collect();
    assert_eq!(
        keys,
        [InstanceKey::Index(0), InstanceKey::Index(1), InstanceKey::Index(2)]
    );
}

#[test]
fn references_to_objects_not_yet_created_are_known_after_apply() {
    let dir = project(&[(
        "main.hcl",
        &format!(
            r#"{BASE}
resource "volume" "db" {{
  type = volume_type.std.id
  size = 10
}}

resource "snapshot" "s" {{
  volume      = volume.db.id
  name        = "snap-of-${{volume.db.name}}"
  description = "id ${{volume.db.id}}"
}}

output "sizes" {{
  value = volume.db.size * 2
}}
"#
        ),
    )]);
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    assert_eq!(
        attr(&loaded, "snapshot.s", "volume"),
        &Value::Unknown("volume.db.id".into())
    );
    // The name is known (from configuration), the description is not (it contains the id).
    assert_eq!(attr(&loaded, "snapshot.s", "name"), &s("snap-of-db"));
    assert!(attr(&loaded, "snapshot.s", "description").is_unknown());
    assert_eq!(loaded.desired.outputs["sizes"].value, Value::Number(20.0));
    // Dependencies come from references.
    let snapshot = loaded.desired.resource(&Address::parse("snapshot.s").unwrap()).unwrap();
    assert_eq!(snapshot.depends_on, [(ResourceKind::Volume, "db".to_owned())]);
    // Instances are ordered after what they refer to.
    let order: Vec<String> = loaded.desired.resources.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(order, ["volume_type.std", "volume.db", "snapshot.s"]);
}

#[test]
fn splat_and_for_expressions_over_resources() {
    let dir = project(&[(
        "main.hcl",
        &format!(
            r#"{BASE}
resource "volume" "v" {{
  for_each = toset(["b", "a"])
  type     = volume_type.std.id
  size     = 1
}}

resource "volume" "c" {{
  count = 2
  type  = volume_type.std.id
  size  = 1
}}

output "names" {{
  value = [for k, v in volume.v : "${{k}}=${{v.name}}"]
}}

output "counted" {{
  value = volume.c[*].size
}}
"#
        ),
    )]);
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    assert_eq!(
        loaded.desired.outputs["names"].value,
        Value::List(vec![s("a=v"), s("b=v")])
    );
    assert_eq!(
        loaded.desired.outputs["counted"].value,
        Value::List(vec![Value::Number(1.0), Value::Number(1.0)])
    );
}

fn vars_project(extra: &[(&str, &str)]) -> crate::common::TempDir {
    let mut files = vec![(
        "main.hcl",
        r#"
variable "size" {
  type    = number
  default = 1
}

variable "tags" {
  type    = list(string)
  default = []
}

output "size" {
  value = var.size
}

output "tags" {
  value = var.tags
}
"#,
    )];
    files.extend_from_slice(extra);
    project(&files)
}

fn outputs(dir: &Path, vars: VarInputs) -> (Value, Value) {
    let loaded = load_ok(
        dir,
        &EvalOptions {
            vars,
            missing_vars: MissingVars::Error,
            ..EvalOptions::default()
        },
    );
    (
        loaded.desired.outputs["size"].value.clone(),
        loaded.desired.outputs["tags"].value.clone(),
    )
}

fn assign(name: &str, raw: &str) -> VarArg {
    VarArg::Assign(VarAssignment {
        name: name.into(),
        raw: raw.into(),
    })
}

#[test]
fn variable_precedence_follows_terraform() {
    let env = vec![("size".to_owned(), "2".to_owned())];
    // Default.
    let dir = vars_project(&[]);
    assert_eq!(outputs(dir.path(), VarInputs::default()).0, Value::Number(1.0));
    // The environment beats the default; strings convert to the declared number type.
    assert_eq!(
        outputs(
            dir.path(),
            VarInputs {
                args: vec![],
                env: env.clone()
            }
        )
        .0,
        Value::Number(2.0)
    );
    // blockform.bfvars beats the environment; *.auto.bfvars beat it, in name order.
    let dir = vars_project(&[
        ("blockform.bfvars", "size = 3\n"),
        ("a.auto.bfvars", "size = 4\n"),
        ("b.auto.bfvars.json", "{\"size\": 5}"),
    ]);
    assert_eq!(
        outputs(
            dir.path(),
            VarInputs {
                args: vec![],
                env: env.clone()
            }
        )
        .0,
        Value::Number(5.0)
    );
    // Command-line arguments beat files, the last one winning.
    let file = dir.path().join("extra.vars");
    std::fs::write(&file, "size = 7\ntags = [\"x\", \"y\"]\n").unwrap();
    let args = vec![assign("size", "6"), VarArg::File(file.clone())];
    assert_eq!(
        outputs(dir.path(), VarInputs { args, env: env.clone() }),
        (Value::Number(7.0), Value::List(vec![s("x"), s("y")]))
    );
    let args = vec![VarArg::File(file), assign("size", "6"), assign("tags", "[\"z\"]")];
    assert_eq!(
        outputs(dir.path(), VarInputs { args, env }),
        (Value::Number(6.0), Value::List(vec![s("z")]))
    );
}

#[test]
fn bad_variable_values_are_reported_with_their_source() {
    let dir = vars_project(&[("blockform.bfvars", "size = \"big\"\n")]);
    let (_, diagnostics) = match load(dir.path(), &EvalOptions::default()) {
        Ok(loaded) => (loaded.sources, loaded.diagnostics),
        Err(e) => e,
    };
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.summary.as_str()).collect();
    assert_eq!(
        messages,
        ["invalid value for variable `size` from blockform.bfvars: a number is required, got \"big\""]
    );
    let dir = vars_project(&[]);
    let vars = VarInputs {
        args: vec![assign("tags", "[unclosed")],
        env: vec![],
    };
    let (_, diagnostics) = match load(
        dir.path(),
        &EvalOptions {
            vars,
            ..EvalOptions::default()
        },
    ) {
        Ok(loaded) => (loaded.sources, loaded.diagnostics),
        Err(e) => e,
    };
    assert!(
        diagnostics.iter().any(|d| d
            .summary
            .starts_with("invalid value for variable `tags` from --var tags:")),
        "{diagnostics:?}"
    );
}

#[test]
fn file_reads_relative_to_the_configuration() {
    let dir = project(&[
        (
            "main.hcl",
            "output \"motd\" {\n  value = trimspace(file(\"motd.txt\"))\n}\n",
        ),
        ("motd.txt", "hello\n"),
    ]);
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    assert_eq!(loaded.desired.outputs["motd"].value, s("hello"));
}

#[test]
fn try_and_can_turn_errors_into_values() {
    let dir = project(&[(
        "main.hcl",
        &format!(
            r#"{BASE}
variable "sizes" {{
  type    = map(number)
  default = {{ db = 20 }}
}}

resource "volume" "db" {{
  type = volume_type.std.id
  size = try(var.sizes["db"], 10)
  tags = [tostring(can(var.sizes["db"])), tostring(can(var.sizes["logs"]))]
}}

resource "volume" "logs" {{
  type        = volume_type.std.id
  size        = try(var.sizes["logs"], var.sizes["db"] / 4)
  description = try(volume.db.id, "none")
  bootable    = can(volume.db.id)
}}
"#
        ),
    )]);
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    assert_eq!(attr(&loaded, "volume.db", "size"), &Value::Number(20.0));
    assert_eq!(
        attr(&loaded, "volume.db", "tags"),
        &Value::List(vec![s("true"), s("false")])
    );
    assert_eq!(attr(&loaded, "volume.logs", "size"), &Value::Number(5.0));
    // A value known only after apply is not an error: try keeps it, can cannot answer yet.
    assert!(attr(&loaded, "volume.logs", "description").is_unknown());
    assert!(attr(&loaded, "volume.logs", "bootable").is_unknown());

    let failing = project(&[(
        "main.hcl",
        &format!(
            "{BASE}\nresource \"volume\" \"db\" {{\n  type = volume_type.std.id\n  size = try(tonumber(\"x\"), tonumber(\"y\"))\n}}\n"
        ),
    )]);
    let diagnostics = match load(failing.path(), &EvalOptions::default()) {
        Ok(loaded) => loaded.diagnostics,
        Err((_, diagnostics)) => diagnostics,
    };
    let text = format!("{diagnostics:?}");
    assert!(text.contains("no argument of `try` could be evaluated"), "{text}");
}

/// `x[count.index]` and `x[each.key]` name one instance: each instance's value comes from the
/// instance with its own index or key (known ids and unknown ones alike), the resource depends
/// on the referenced resource, and the operation graph orders each snapshot after its own
/// volume only.
#[test]
fn count_index_and_each_key_references_pick_their_own_instance() {
    use blockform::config::value::ValueMap;
    use blockform::diagnostics::Diagnostics;
    use blockform::graph::OpKind;
    use blockform::plan::{PlanInputs, PlanOptions, diff};

    let dir = project(&[(
        "main.hcl",
        &format!(
            r#"{BASE}
resource "volume" "data" {{
  count = 3
  name  = "data-${{count.index}}"
  type  = volume_type.std.id
  size  = 10 + count.index
}}

resource "snapshot" "snap" {{
  count       = 3
  volume      = volume.data[count.index].id
  description = "of ${{volume.data[count.index].name}}, ${{volume.data[count.index].size}} GiB"
}}

resource "volume" "keyed" {{
  for_each = toset(["b", "a", "c"])
  name     = "keyed-${{each.key}}"
  type     = volume_type.std.id
  size     = 1
}}

resource "snapshot" "ksnap" {{
  for_each    = toset(["a", "b", "c"])
  volume      = volume.keyed[each.key].id
  description = "of ${{volume.keyed[each.key].name}}"
}}
"#
        ),
    )]);

    // Nothing created yet: each reference is the unknown id of its own instance.
    let loaded = load_ok(dir.path(), &EvalOptions::default());
    for i in 0..3 {
        assert_eq!(
            attr(&loaded, &format!("snapshot.snap[{i}]"), "volume"),
            &Value::Unknown(format!("volume.data[{i}].id"))
        );
        assert_eq!(
            attr(&loaded, &format!("snapshot.snap[{i}]"), "description"),
            &s(&format!("of data-{i}, {} GiB", 10 + i))
        );
    }
    for key in ["a", "b", "c"] {
        assert_eq!(
            attr(&loaded, &format!("snapshot.ksnap[\"{key}\"]"), "volume"),
            &Value::Unknown(format!("volume.keyed[\"{key}\"].id"))
        );
        assert_eq!(
            attr(&loaded, &format!("snapshot.ksnap[\"{key}\"]"), "description"),
            &s(&format!("of keyed-{key}"))
        );
    }
    for (address, dependency) in [("snapshot.snap[1]", "data"), ("snapshot.ksnap[\"b\"]", "keyed")] {
        let instance = loaded.desired.resource(&Address::parse(address).unwrap()).unwrap();
        assert_eq!(instance.depends_on, [(ResourceKind::Volume, dependency.to_owned())]);
    }

    // The operation graph: each snapshot's create waits for its own volume's create only.
    let outputs = std::collections::BTreeMap::new();
    let observed = std::collections::HashMap::new();
    let inputs = PlanInputs {
        desired: &loaded.desired,
        prior: &[],
        prior_outputs: &outputs,
        observed: &observed,
        lineage: String::new(),
        serial: 0,
    };
    let plan = diff(&inputs, &PlanOptions::default(), &mut Diagnostics::default());
    let graph = blockform::graph::build(&plan).expect("the plan has no cycle");
    let create = |address: &str| {
        graph
            .find(&Address::parse(address).unwrap(), OpKind::Create)
            .unwrap_or_else(|| panic!("{address} is created"))
    };
    let pairs = [
        ("volume.data[0]", "snapshot.snap[0]"),
        ("volume.data[1]", "snapshot.snap[1]"),
        ("volume.data[2]", "snapshot.snap[2]"),
        ("volume.keyed[\"a\"]", "snapshot.ksnap[\"a\"]"),
        ("volume.keyed[\"b\"]", "snapshot.ksnap[\"b\"]"),
        ("volume.keyed[\"c\"]", "snapshot.ksnap[\"c\"]"),
    ];
    for (volume, snapshot) in pairs {
        for (other, _) in pairs {
            let edge = graph.edge(create(other), create(snapshot));
            assert_eq!(edge.is_some(), other == volume, "{other} → {snapshot}: {edge:?}");
        }
    }

    // Volumes that exist: each snapshot gets its own volume's id.
    let mut known = std::collections::HashMap::new();
    for (address, id) in [
        ("volume.data[0]", "vol-0"),
        ("volume.data[1]", "vol-1"),
        ("volume.data[2]", "vol-2"),
        ("volume.keyed[\"a\"]", "vol-a"),
        ("volume.keyed[\"b\"]", "vol-b"),
        ("volume.keyed[\"c\"]", "vol-c"),
    ] {
        known.insert(
            Address::parse(address).unwrap(),
            ValueMap::from_iter([("id".to_owned(), s(id))]),
        );
    }
    let loaded = load_ok(
        dir.path(),
        &EvalOptions {
            known,
            ..EvalOptions::default()
        },
    );
    for i in 0..3 {
        assert_eq!(
            attr(&loaded, &format!("snapshot.snap[{i}]"), "volume"),
            &s(&format!("vol-{i}"))
        );
    }
    for key in ["a", "b", "c"] {
        assert_eq!(
            attr(&loaded, &format!("snapshot.ksnap[\"{key}\"]"), "volume"),
            &s(&format!("vol-{key}"))
        );
    }
}
