//! Terraform's `show -json` documents, with Terraform's field names so existing plan-reading
//! tools work: `resource_changes[].change.{actions, before, after, after_unknown}`,
//! `resource_drift`, `output_changes`, `planned_values`, `prior_state`. What Terraform has no
//! field for (storage actions, data loss, notes, back-end names) sits under `blockform` keys.
//!
//! Unknown values follow Terraform's convention: `null` in `after`, `true` at the same place in
//! `after_unknown`, whose objects leave out known attributes and whose arrays keep one entry per
//! element; `planned_values` leaves unknown attributes out.

use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value as Json, json};

use crate::config::value::{Value, ValueMap};
use crate::model::{Address, InstanceKey};
use crate::plan::{Change, Drift, OutputChange, Plan};
use crate::state::ResourceState;

/// The version of Terraform's plan format these documents follow.
const PLAN_FORMAT_VERSION: &str = "1.2";

/// The version of Terraform's state format `prior_state` and [`state_document`] follow.
const STATE_FORMAT_VERSION: &str = "1.0";

/// The provider name of objects no provider block carries (QoS rules).
const ENGINE_PROVIDER: &str = "blockform";

/// The plan as Terraform's `show -json` plan document; `prior` is the state it was made against.
pub fn plan_document(plan: &Plan, prior: &[ResourceState]) -> Json {
    serde_json::to_value(plan_parts(plan, prior)).unwrap_or(Json::Null)
}

/// Writes [`plan_document`] pretty-printed, with a final newline, without building it: each
/// resource's entry is made, written and dropped in turn, so a plan of 100,000 resources needs
/// memory for one entry, not for the whole document. The bytes are those of
/// `serde_json::to_string_pretty(&plan_document(plan, prior))` followed by a newline.
///
/// # Errors
/// When `out` fails.
pub fn write_plan_document(out: &mut (impl Write + ?Sized), plan: &Plan, prior: &[ResourceState]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &plan_parts(plan, prior))?;
    out.write_all(b"\n")
}

/// A JSON document whose long arrays are made while it is serialized.
enum Part<'a> {
    /// A value made beforehand (small).
    Json(Json),
    /// An array whose elements are made one by one as they are written.
    Seq(Box<dyn Fn() -> Box<dyn Iterator<Item = Json> + 'a> + 'a>),
    /// An object; its keys are written in the order a [`Map`] keeps them, so the document is
    /// the same as the one `serde_json::Value` would make.
    Object(Vec<(&'static str, Part<'a>)>),
}

impl<'a> Part<'a> {
    fn seq<I: Iterator<Item = Json> + 'a>(items: impl Fn() -> I + 'a) -> Part<'a> {
        Part::Seq(Box::new(move || Box::new(items())))
    }
}

impl Serialize for Part<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Part::Json(value) => value.serialize(serializer),
            Part::Seq(items) => serializer.collect_seq(items()),
            Part::Object(entries) => {
                let order: Map<String, Json> = entries.iter().map(|(k, _)| ((*k).to_owned(), Json::Null)).collect();
                let mut map = serializer.serialize_map(Some(order.len()))?;
                for key in order.keys() {
                    if let Some((key, part)) = entries.iter().find(|(k, _)| k == key) {
                        map.serialize_entry(key, part)?;
                    }
                }
                map.end()
            }
        }
    }
}

/// The plan document, its resource arrays left to be made while it is written.
fn plan_parts<'a>(plan: &'a Plan, prior: &'a [ResourceState]) -> Part<'a> {
    let mut document = vec![
        ("format_version", Part::Json(json!(PLAN_FORMAT_VERSION))),
        ("blockform_version", Part::Json(json!(env!("CARGO_PKG_VERSION")))),
    ];
    if !plan.variables.is_empty() {
        let variables: Map<String, Json> = plan
            .variables
            .iter()
            .map(|(name, value)| (name.clone(), json!({ "value": value.to_json() })))
            .collect();
        document.push(("variables", Part::Json(Json::Object(variables))));
    }
    document.push(("planned_values", planned_values(plan)));
    if !plan.drift.is_empty() {
        // Looked up by address once, not searched for every drifted object.
        let providers: HashMap<&Address, Option<&str>> = plan
            .changes
            .iter()
            .map(|c| (&c.address, c.provider.as_deref()))
            .rev()
            .collect();
        let prior_providers: HashMap<&str, Option<&str>> = prior
            .iter()
            .map(|r| (r.address.as_str(), r.provider.as_deref()))
            .rev()
            .collect();
        let provider = Rc::new(move |drift: &Drift| {
            providers.get(&drift.address).copied().flatten().or_else(|| {
                prior_providers
                    .get(drift.address.to_string().as_str())
                    .copied()
                    .flatten()
            })
        });
        document.push((
            "resource_drift",
            Part::seq(move || {
                let provider = Rc::clone(&provider);
                plan.drift.iter().map(move |d| drift_change(d, provider(d)))
            }),
        ));
    }
    let imports: Rc<HashMap<String, &str>> = Rc::new(
        plan.imports
            .iter()
            .map(|i| (i.record.address.clone(), i.id.as_str()))
            .rev()
            .collect(),
    );
    document.push((
        "resource_changes",
        Part::seq(move || {
            let imports = Rc::clone(&imports);
            plan.changes.iter().map(move |change| {
                let importing = if imports.is_empty() {
                    None
                } else {
                    imports.get(&change.address.to_string()).copied()
                };
                resource_change(change, importing)
            })
        }),
    ));
    if !plan.outputs.is_empty() {
        let outputs: Map<String, Json> = plan
            .outputs
            .iter()
            .map(|o| (o.name.clone(), output_change(o)))
            .collect();
        document.push(("output_changes", Part::Json(Json::Object(outputs))));
    }
    document.push((
        "prior_state",
        Part::Object(vec![
            ("format_version", Part::Json(json!(STATE_FORMAT_VERSION))),
            (
                "values",
                Part::Object(vec![(
                    "root_module",
                    Part::Object(vec![("resources", Part::seq(|| prior.iter().map(state_resource)))]),
                )]),
            ),
        ]),
    ));
    document.push(("applyable", Part::Json(json!(plan.has_changes()))));
    document.push(("complete", Part::Json(json!(plan.targets.is_empty()))));
    document.push(("errored", Part::Json(json!(false))));
    let summary = plan.summary();
    let storage: Map<String, Json> = summary
        .storage
        .iter()
        .map(|(verb, n)| ((*verb).to_owned(), json!(n)))
        .collect();
    document.push((
        "blockform",
        Part::Json(json!({
            "mode": plan.mode,
            "lineage": plan.lineage,
            "serial": plan.serial,
            "targets": plan.targets,
            "warnings": plan.warnings,
            "summary": {
                "add": summary.add,
                "change": summary.change,
                "destroy": summary.destroy,
                "storage": storage,
                "data_loss": summary.data_loss,
            },
        })),
    ));
    Part::Object(document)
}

/// The objects in state as Terraform's `show -json` state document.
pub fn state_document(prior: &[ResourceState]) -> Json {
    json!({
        "format_version": STATE_FORMAT_VERSION,
        "blockform_version": env!("CARGO_PKG_VERSION"),
        "values": { "root_module": { "resources": prior.iter().map(state_resource).collect::<Vec<_>>() } },
    })
}

/// `planned_values`: every object as it will be after apply, unknown attributes left out.
fn planned_values(plan: &Plan) -> Part<'_> {
    let outputs: Map<String, Json> = plan
        .outputs
        .iter()
        .filter_map(|output| {
            let after = output.after.as_ref()?;
            let mut planned = Map::new();
            planned.insert("sensitive".into(), json!(output.sensitive));
            if let Some(value) = known(after) {
                planned.insert("value".into(), value);
            }
            Some((output.name.clone(), Json::Object(planned)))
        })
        .collect();
    let resources = Part::seq(|| {
        plan.changes.iter().filter_map(|change| {
            let after = change.planned()?;
            let mut resource = resource_header(&change.address, change.provider.as_deref());
            resource.insert("values".into(), known_values(after));
            resource.insert("sensitive_values".into(), structure_tree(after));
            Some(Json::Object(resource))
        })
    });
    Part::Object(vec![
        ("outputs", Part::Json(Json::Object(outputs))),
        ("root_module", Part::Object(vec![("resources", resources)])),
    ])
}

/// One entry of `resource_changes`.
fn resource_change(change: &Change, importing: Option<&str>) -> Json {
    let mut entry = resource_header(&change.address, change.provider.as_deref());
    let mut body = change_body(
        change.action.terraform_actions(),
        change.before.as_ref(),
        change.planned(),
    );
    if let Some(id) = importing {
        body.insert("importing".into(), json!({ "id": id }));
    }
    if !change.replace_paths.is_empty() {
        let paths: Vec<Vec<&str>> = change.replace_paths.iter().map(|p| p.split('.').collect()).collect();
        body.insert("replace_paths".into(), json!(paths));
    }
    entry.insert("change".into(), Json::Object(body));
    if let Some(reason) = change.reason {
        entry.insert("action_reason".into(), json!(reason.terraform_name()));
    }
    entry.insert(
        "blockform".into(),
        json!({
            "storage_action": change.storage.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            "reason": change.reason,
            "data_loss": change.data_loss,
            "notes": change.notes,
            "backend_id": change.backend_id,
        }),
    );
    Json::Object(entry)
}

/// One entry of `resource_drift`: `update` when the object changed, `delete` when it is gone.
/// `provider` is the provider of the change for the same address, or else of its state record.
fn drift_change(drift: &Drift, provider: Option<&str>) -> Json {
    let mut entry = resource_header(&drift.address, provider);
    let actions: &[&str] = if drift.after.is_some() {
        &["update"]
    } else {
        &["delete"]
    };
    entry.insert(
        "change".into(),
        Json::Object(change_body(actions, Some(&drift.before), drift.after.as_ref())),
    );
    Json::Object(entry)
}

/// `{actions, before, after, after_unknown, before_sensitive, after_sensitive}`.
fn change_body(actions: &[&str], before: Option<&ValueMap>, after: Option<&ValueMap>) -> Map<String, Json> {
    let mut body = Map::new();
    body.insert("actions".into(), json!(actions));
    body.insert("before".into(), before.map_or(Json::Null, map_json));
    body.insert("after".into(), after.map_or(Json::Null, map_json));
    body.insert("after_unknown".into(), after.map_or_else(|| json!({}), unknown_tree));
    body.insert("before_sensitive".into(), before.map_or(json!(false), structure_tree));
    body.insert("after_sensitive".into(), after.map_or(json!(false), structure_tree));
    body
}

/// One entry of `output_changes`.
fn output_change(output: &OutputChange) -> Json {
    let actions: &[&str] = match (&output.before, &output.after) {
        (None, Some(_)) => &["create"],
        (Some(_), None) => &["delete"],
        (before, after) if before == after => &["no-op"],
        _ => &["update"],
    };
    json!({
        "actions": actions,
        "before": output.before.as_ref().map_or(Json::Null, Value::to_json),
        "after": output.after.as_ref().map_or(Json::Null, Value::to_json),
        "after_unknown": output.after.as_ref().map_or(json!(false), value_unknown_tree),
        "before_sensitive": output.sensitive,
        "after_sensitive": output.sensitive,
    })
}

/// One object of state, as in `prior_state` and the state document.
fn state_resource(resource: &ResourceState) -> Json {
    let mut entry = if let Some(address) = Address::parse(&resource.address) {
        resource_header(&address, resource.provider.as_deref())
    } else {
        let mut entry = Map::new();
        entry.insert("address".into(), json!(resource.address));
        entry.insert("mode".into(), json!("managed"));
        entry
    };
    let values: ValueMap = resource
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect();
    entry.insert("values".into(), Json::Object(resource.attributes.clone()));
    entry.insert("sensitive_values".into(), structure_tree(&values));
    if !resource.dependencies.is_empty() {
        entry.insert("depends_on".into(), json!(resource.dependencies));
    }
    entry.insert(
        "blockform".into(),
        json!({ "backend_id": resource.backend_id, "status": resource.status }),
    );
    Json::Object(entry)
}

/// `{address, mode, type, name, index, provider_name}`; `index` only for `count`/`for_each`.
fn resource_header(address: &Address, provider: Option<&str>) -> Map<String, Json> {
    let mut header = Map::new();
    header.insert("address".into(), json!(address.to_string()));
    header.insert("mode".into(), json!("managed"));
    header.insert("type".into(), json!(address.kind.name()));
    header.insert("name".into(), json!(address.name));
    match &address.key {
        InstanceKey::None => {}
        InstanceKey::Index(index) => {
            header.insert("index".into(), json!(index));
        }
        InstanceKey::Key(key) => {
            header.insert("index".into(), json!(key));
        }
    }
    header.insert("provider_name".into(), json!(provider.unwrap_or(ENGINE_PROVIDER)));
    header
}

fn map_json(map: &ValueMap) -> Json {
    Json::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// The attributes with unknown ones left out (unknown list elements become `null`).
fn known_values(map: &ValueMap) -> Json {
    Json::Object(map.iter().filter_map(|(k, v)| Some((k.clone(), known(v)?))).collect())
}

fn known(value: &Value) -> Option<Json> {
    match value {
        Value::Unknown(_) => None,
        Value::Map(map) => Some(known_values(map)),
        Value::List(items) => Some(Json::Array(
            items.iter().map(|v| known(v).unwrap_or(Json::Null)).collect(),
        )),
        other => Some(other.to_json()),
    }
}

/// `after_unknown` of an attribute map: `true` where unknown, known attributes left out.
fn unknown_tree(map: &ValueMap) -> Json {
    Json::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), value_unknown_tree(v)))
            .filter(|(_, tree)| *tree != Json::Bool(false))
            .collect(),
    )
}

fn value_unknown_tree(value: &Value) -> Json {
    match value {
        Value::Unknown(_) => Json::Bool(true),
        Value::Map(map) => unknown_tree(map),
        Value::List(items) => Json::Array(items.iter().map(value_unknown_tree).collect()),
        _ => Json::Bool(false),
    }
}

/// A sensitivity tree with nothing sensitive: the shape of the collections, Terraform's
/// `before_sensitive` / `after_sensitive` / `sensitive_values` for values without secrets.
fn structure_tree(map: &ValueMap) -> Json {
    Json::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), value_structure_tree(v)))
            .filter(|(_, tree)| *tree != Json::Bool(false))
            .collect(),
    )
}

fn value_structure_tree(value: &Value) -> Json {
    match value {
        Value::Map(map) => structure_tree(map),
        Value::List(items) => Json::Array(items.iter().map(value_structure_tree).collect()),
        _ => Json::Bool(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, PlanMode, Reason};
    use crate::render::fixtures::*;

    /// Key order of JSON objects depends on `serde_json` features; snapshots sort them.
    macro_rules! assert_json {
        ($value:expr, @$snapshot:literal) => {
            insta::with_settings!({ sort_maps => true }, {
                insta::assert_json_snapshot!($value, @$snapshot);
            })
        };
    }

    fn prior_volume() -> ResourceState {
        let mut attributes = serde_json::Map::new();
        attributes.insert("id".into(), json!("volume-3e3e"));
        attributes.insert("name".into(), json!("scratch-c"));
        attributes.insert("size".into(), json!(10));
        attributes.insert("tags".into(), json!(["ci"]));
        ResourceState {
            address: "volume.scratch[\"c\"]".to_owned(),
            backend_id: "volume-3e3e".to_owned(),
            provider: Some("ssd".to_owned()),
            attributes,
            dependencies: vec!["volume_type.std".to_owned()],
            status: "available".to_owned(),
        }
    }

    /// The document written entry by entry is byte for byte the one `serde_json` prints from
    /// [`plan_document`]: same keys in the same order, same indentation, a final newline.
    #[test]
    fn the_streamed_document_is_the_pretty_printed_one() {
        let mut drifted = drift();
        drifted.push(crate::plan::Drift {
            address: address("volume.scratch[\"c\"]"),
            before: map([("name", s("scratch-c"))]),
            after: None,
        });
        let mut plan = Plan {
            drift: drifted,
            outputs: outputs(),
            warnings: vec!["a warning".to_owned()],
            targets: vec!["volume.db".to_owned()],
            imports: vec![crate::plan::PlannedImport {
                id: "ssd/volume-5c0e".to_owned(),
                record: ResourceState {
                    address: "volume.db".to_owned(),
                    ..prior_volume()
                },
            }],
            ..plan(vec![
                create_volume(),
                update_description(),
                extend_volume(),
                retype_volume(),
                replace_volume(),
                replace_snapshot(),
                delete_volume(),
                delete_qos(),
                attach(),
                detach(),
                backup(),
                prune(),
                restore(),
                unchanged_type(),
            ])
        };
        plan.variables.insert("db_size".to_owned(), n(100.0));
        plan.variables.insert("names".to_owned(), list([s("a"), s("b")]));
        for (plan, prior) in [
            (plan.clone(), vec![prior_volume()]),
            (self::plan(Vec::new()), Vec::new()),
        ] {
            let expected = format!(
                "{}\n",
                serde_json::to_string_pretty(&plan_document(&plan, &prior)).unwrap()
            );
            let mut streamed = Vec::new();
            write_plan_document(&mut streamed, &plan, &prior).unwrap();
            assert_eq!(String::from_utf8(streamed).unwrap(), expected);
        }
        let document = plan_document(&plan, &[prior_volume()]);
        assert_eq!(
            document["resource_changes"][0]["change"]["importing"],
            json!({ "id": "ssd/volume-5c0e" })
        );
        assert_eq!(document["resource_drift"][2]["provider_name"], json!("ssd"));
    }

    #[test]
    fn a_create_document_has_terraform_field_names() {
        let mut plan = plan(vec![create_volume()]);
        plan.outputs = outputs()[..2].to_vec();
        plan.variables.insert("db_size".to_owned(), n(100.0));
        let mut document = plan_document(&plan, &[]);
        assert_eq!(document["blockform_version"], json!(env!("CARGO_PKG_VERSION")));
        document["blockform_version"] = json!("[version]");
        assert_json!(document, @r#"
        {
          "applyable": true,
          "blockform": {
            "lineage": "9f1c0c1e-lineage",
            "mode": "normal",
            "serial": 7,
            "summary": {
              "add": 1,
              "change": 0,
              "data_loss": 0,
              "destroy": 0,
              "storage": {}
            },
            "targets": [],
            "warnings": []
          },
          "blockform_version": "[version]",
          "complete": true,
          "errored": false,
          "format_version": "1.2",
          "output_changes": {
            "admin_token": {
              "actions": [
                "create"
              ],
              "after": "hunter2",
              "after_sensitive": true,
              "after_unknown": false,
              "before": null,
              "before_sensitive": true
            },
            "db_id": {
              "actions": [
                "create"
              ],
              "after": null,
              "after_sensitive": false,
              "after_unknown": true,
              "before": null,
              "before_sensitive": false
            }
          },
          "planned_values": {
            "outputs": {
              "admin_token": {
                "sensitive": true,
                "value": "hunter2"
              },
              "db_id": {
                "sensitive": false
              }
            },
            "root_module": {
              "resources": [
                {
                  "address": "volume.db",
                  "mode": "managed",
                  "name": "db",
                  "provider_name": "ssd",
                  "sensitive_values": {
                    "metadata": {},
                    "tags": [
                      false,
                      false
                    ]
                  },
                  "type": "volume",
                  "values": {
                    "bootable": false,
                    "description": null,
                    "metadata": {
                      "cost centre": "42",
                      "owner": "dba"
                    },
                    "name": "db-data",
                    "size": 100,
                    "tags": [
                      "db",
                      "prod"
                    ]
                  }
                }
              ]
            }
          },
          "prior_state": {
            "format_version": "1.0",
            "values": {
              "root_module": {
                "resources": []
              }
            }
          },
          "resource_changes": [
            {
              "address": "volume.db",
              "blockform": {
                "backend_id": "volume-5c0e",
                "data_loss": false,
                "notes": [],
                "reason": null,
                "storage_action": null
              },
              "change": {
                "actions": [
                  "create"
                ],
                "after": {
                  "bootable": false,
                  "description": null,
                  "id": null,
                  "metadata": {
                    "cost centre": "42",
                    "owner": "dba"
                  },
                  "name": "db-data",
                  "size": 100,
                  "status": null,
                  "tags": [
                    "db",
                    "prod"
                  ],
                  "type": null
                },
                "after_sensitive": {
                  "metadata": {},
                  "tags": [
                    false,
                    false
                  ]
                },
                "after_unknown": {
                  "id": true,
                  "metadata": {},
                  "status": true,
                  "tags": [
                    false,
                    false
                  ],
                  "type": true
                },
                "before": null,
                "before_sensitive": false
              },
              "mode": "managed",
              "name": "db",
              "provider_name": "ssd",
              "type": "volume"
            }
          ],
          "variables": {
            "db_size": {
              "value": 100
            }
          }
        }
        "#);
    }

    #[test]
    fn after_unknown_is_true_where_unknown_and_keeps_the_shape_of_collections() {
        let create = Change {
            after: Some(map([
                ("name", s("web")),
                ("tags", list([s("a"), unknown("volume.x.id")])),
                (
                    "source",
                    object([("snapshot", unknown("snapshot.s.id")), ("size", n(1.0))]),
                ),
                ("metadata", object([("k", s("v"))])),
                ("id", unknown("volume.web.id")),
            ])),
            ..change("volume.web", Action::Create)
        };
        let document = plan_document(&plan(vec![create]), &[]);
        assert_json!(document["resource_changes"][0]["change"], @r#"
        {
          "actions": [
            "create"
          ],
          "after": {
            "id": null,
            "metadata": {
              "k": "v"
            },
            "name": "web",
            "source": {
              "size": 1,
              "snapshot": null
            },
            "tags": [
              "a",
              null
            ]
          },
          "after_sensitive": {
            "metadata": {},
            "source": {},
            "tags": [
              false,
              false
            ]
          },
          "after_unknown": {
            "id": true,
            "metadata": {},
            "source": {
              "snapshot": true
            },
            "tags": [
              false,
              true
            ]
          },
          "before": null,
          "before_sensitive": false
        }
        "#);
        assert_json!(document["planned_values"]["root_module"]["resources"][0]["values"], @r#"
        {
          "metadata": {
            "k": "v"
          },
          "name": "web",
          "source": {
            "size": 1
          },
          "tags": [
            "a",
            null
          ]
        }
        "#);
    }

    #[test]
    fn a_replace_has_replace_paths_reason_and_blockform_extension() {
        let document = plan_document(&plan(vec![replace_volume()]), &[]);
        assert_json!(document["resource_changes"][0], @r#"
        {
          "action_reason": "replace_because_cannot_update",
          "address": "volume.db",
          "blockform": {
            "backend_id": "volume-5c0e",
            "data_loss": true,
            "notes": [
              "the new type lives on back end `other`, the volume on `ssd`: its data does not move"
            ],
            "reason": "replace_because_backend_changed",
            "storage_action": null
          },
          "change": {
            "actions": [
              "delete",
              "create"
            ],
            "after": {
              "id": null,
              "name": "db-data",
              "size": 100,
              "status": null,
              "tags": [
                "db"
              ],
              "type": null
            },
            "after_sensitive": {
              "tags": [
                false
              ]
            },
            "after_unknown": {
              "id": true,
              "status": true,
              "tags": [
                false
              ],
              "type": true
            },
            "before": {
              "id": "volume-5c0e",
              "name": "db-data",
              "size": 100,
              "status": "available",
              "tags": [
                "db"
              ],
              "type": "type-ssd"
            },
            "before_sensitive": {
              "tags": [
                false
              ]
            },
            "replace_paths": [
              [
                "type"
              ]
            ]
          },
          "mode": "managed",
          "name": "db",
          "provider_name": "ssd",
          "type": "volume"
        }
        "#);
    }

    #[test]
    fn storage_actions_are_under_blockform() {
        let document = plan_document(&plan(vec![extend_volume(), prune()]), &[]);
        let extensions: Vec<&Json> = document["resource_changes"]
            .as_array()
            .map(|changes| changes.iter().map(|c| &c["blockform"]).collect())
            .unwrap_or_default();
        assert_json!(extensions, @r#"
        [
          {
            "backend_id": "volume-7a1d",
            "data_loss": false,
            "notes": [
              "`volume.logs` is attached: grow the file system inside the guest to use the new space"
            ],
            "reason": null,
            "storage_action": {
              "from_gib": 10,
              "kind": "extend",
              "to_gib": 20
            }
          },
          {
            "backend_id": "backup-a0",
            "data_loss": true,
            "notes": [],
            "reason": null,
            "storage_action": {
              "kind": "prune"
            }
          }
        ]
        "#);
    }

    #[test]
    fn deletes_have_an_index_and_prior_state() {
        let prior = vec![prior_volume()];
        let mut by_count = delete_volume();
        by_count.address = address("volume.disk[3]");
        by_count.reason = Some(Reason::DeleteBecauseCountIndex);
        let document = plan_document(&plan(vec![delete_volume(), by_count, unchanged_type()]), &prior);
        assert_json!(document["resource_changes"], @r#"
        [
          {
            "action_reason": "delete_because_each_key",
            "address": "volume.scratch[\"c\"]",
            "blockform": {
              "backend_id": "volume-3e3e",
              "data_loss": true,
              "notes": [],
              "reason": "delete_because_each_key",
              "storage_action": null
            },
            "change": {
              "actions": [
                "delete"
              ],
              "after": null,
              "after_sensitive": false,
              "after_unknown": {},
              "before": {
                "description": null,
                "id": "volume-3e3e",
                "metadata": {
                  "purpose": "ci"
                },
                "name": "scratch-c",
                "size": 10,
                "type": "type-1"
              },
              "before_sensitive": {
                "metadata": {}
              }
            },
            "index": "c",
            "mode": "managed",
            "name": "scratch",
            "provider_name": "ssd",
            "type": "volume"
          },
          {
            "action_reason": "delete_because_count_index",
            "address": "volume.disk[3]",
            "blockform": {
              "backend_id": "volume-3e3e",
              "data_loss": true,
              "notes": [],
              "reason": "delete_because_count_index",
              "storage_action": null
            },
            "change": {
              "actions": [
                "delete"
              ],
              "after": null,
              "after_sensitive": false,
              "after_unknown": {},
              "before": {
                "description": null,
                "id": "volume-3e3e",
                "metadata": {
                  "purpose": "ci"
                },
                "name": "scratch-c",
                "size": 10,
                "type": "type-1"
              },
              "before_sensitive": {
                "metadata": {}
              }
            },
            "index": 3,
            "mode": "managed",
            "name": "disk",
            "provider_name": "ssd",
            "type": "volume"
          },
          {
            "address": "volume_type.std",
            "blockform": {
              "backend_id": "type-1",
              "data_loss": false,
              "notes": [],
              "reason": null,
              "storage_action": null
            },
            "change": {
              "actions": [
                "no-op"
              ],
              "after": {
                "backend": "ssd",
                "id": "type-1",
                "name": "std"
              },
              "after_sensitive": {},
              "after_unknown": {},
              "before": {
                "backend": "ssd",
                "id": "type-1",
                "name": "std"
              },
              "before_sensitive": {}
            },
            "mode": "managed",
            "name": "std",
            "provider_name": "ssd",
            "type": "volume_type"
          }
        ]
        "#);
        assert_json!(document["prior_state"], @r#"
        {
          "format_version": "1.0",
          "values": {
            "root_module": {
              "resources": [
                {
                  "address": "volume.scratch[\"c\"]",
                  "blockform": {
                    "backend_id": "volume-3e3e",
                    "status": "available"
                  },
                  "depends_on": [
                    "volume_type.std"
                  ],
                  "index": "c",
                  "mode": "managed",
                  "name": "scratch",
                  "provider_name": "ssd",
                  "sensitive_values": {
                    "tags": [
                      false
                    ]
                  },
                  "type": "volume",
                  "values": {
                    "id": "volume-3e3e",
                    "name": "scratch-c",
                    "size": 10,
                    "tags": [
                      "ci"
                    ]
                  }
                }
              ]
            }
          }
        }
        "#);
        assert_json!(document["planned_values"], @r#"
        {
          "outputs": {},
          "root_module": {
            "resources": [
              {
                "address": "volume_type.std",
                "mode": "managed",
                "name": "std",
                "provider_name": "ssd",
                "sensitive_values": {},
                "type": "volume_type",
                "values": {
                  "backend": "ssd",
                  "id": "type-1",
                  "name": "std"
                }
              }
            ]
          }
        }
        "#);
    }

    #[test]
    fn drift_and_output_changes() {
        let plan = Plan {
            mode: PlanMode::RefreshOnly,
            drift: drift(),
            outputs: outputs(),
            ..plan(Vec::new())
        };
        let document = plan_document(&plan, &[]);
        assert_json!(document["resource_drift"], @r#"
        [
          {
            "address": "volume.logs",
            "change": {
              "actions": [
                "update"
              ],
              "after": {
                "id": "volume-7a1d",
                "name": "logs-old",
                "size": 15,
                "type": "type-1"
              },
              "after_sensitive": {},
              "after_unknown": {},
              "before": {
                "id": "volume-7a1d",
                "name": "logs",
                "size": 10,
                "type": "type-1"
              },
              "before_sensitive": {}
            },
            "mode": "managed",
            "name": "logs",
            "provider_name": "blockform",
            "type": "volume"
          },
          {
            "address": "volume.tmp",
            "change": {
              "actions": [
                "delete"
              ],
              "after": null,
              "after_sensitive": false,
              "after_unknown": {},
              "before": {
                "id": "volume-0b0b",
                "name": "tmp",
                "size": 5
              },
              "before_sensitive": {}
            },
            "mode": "managed",
            "name": "tmp",
            "provider_name": "blockform",
            "type": "volume"
          }
        ]
        "#);
        assert_json!(document["output_changes"], @r#"
        {
          "admin_token": {
            "actions": [
              "create"
            ],
            "after": "hunter2",
            "after_sensitive": true,
            "after_unknown": false,
            "before": null,
            "before_sensitive": true
          },
          "db_id": {
            "actions": [
              "create"
            ],
            "after": null,
            "after_sensitive": false,
            "after_unknown": true,
            "before": null,
            "before_sensitive": false
          },
          "old_id": {
            "actions": [
              "delete"
            ],
            "after": null,
            "after_sensitive": false,
            "after_unknown": false,
            "before": "volume-0b0b",
            "before_sensitive": false
          },
          "region": {
            "actions": [
              "no-op"
            ],
            "after": "eu",
            "after_sensitive": false,
            "after_unknown": false,
            "before": "eu",
            "before_sensitive": false
          },
          "sizes": {
            "actions": [
              "update"
            ],
            "after": [
              20,
              50
            ],
            "after_sensitive": false,
            "after_unknown": [
              false,
              false
            ],
            "before": [
              10,
              50
            ],
            "before_sensitive": false
          }
        }
        "#);
        assert_eq!(document["applyable"], json!(true));
    }

    #[test]
    fn a_plan_without_changes_is_not_applyable() {
        let document = plan_document(&plan(vec![unchanged_type()]), &[]);
        assert_eq!(document["applyable"], json!(false));
        assert_eq!(document["complete"], json!(true));
        assert_eq!(document["errored"], json!(false));
        assert_eq!(document["resource_changes"][0]["change"]["actions"], json!(["no-op"]));
        assert!(document.get("terraform_version").is_none());
    }

    #[test]
    fn the_state_document() {
        let mut document = state_document(&[prior_volume()]);
        document["blockform_version"] = json!("[version]");
        assert_json!(document, @r#"
        {
          "blockform_version": "[version]",
          "format_version": "1.0",
          "values": {
            "root_module": {
              "resources": [
                {
                  "address": "volume.scratch[\"c\"]",
                  "blockform": {
                    "backend_id": "volume-3e3e",
                    "status": "available"
                  },
                  "depends_on": [
                    "volume_type.std"
                  ],
                  "index": "c",
                  "mode": "managed",
                  "name": "scratch",
                  "provider_name": "ssd",
                  "sensitive_values": {
                    "tags": [
                      false
                    ]
                  },
                  "type": "volume",
                  "values": {
                    "id": "volume-3e3e",
                    "name": "scratch-c",
                    "size": 10,
                    "tags": [
                      "ci"
                    ]
                  }
                }
              ]
            }
          }
        }
        "#);
    }
}
