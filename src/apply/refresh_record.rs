//! Recording what a refresh found: objects changed outside blockform get their real attributes
//! in state, objects deleted outside blockform leave it. `apply --refresh-only` does only this;
//! a normal apply does it before its first operation, as Terraform persists its refresh.

use std::collections::HashMap;

use crate::plan::Drift;
use crate::state::{Commit, ResourceState};

/// The one commit that makes state follow the drift a plan found.
pub fn drift_commit(drift: &[Drift], prior: &[ResourceState]) -> Commit {
    let by_address: HashMap<&str, &ResourceState> = prior.iter().map(|r| (r.address.as_str(), r)).collect();
    let mut commit = Commit::default();
    for object in drift {
        let address = object.address.to_string();
        let Some(recorded) = by_address.get(address.as_str()) else {
            continue;
        };
        match &object.after {
            None => commit.remove.push(address),
            Some(after) => {
                let mut resource = (*recorded).clone();
                resource.attributes = after.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
                if let Some(serde_json::Value::String(status)) = resource.attributes.get("status") {
                    resource.status.clone_from(status);
                }
                commit.put.push(resource);
            }
        }
    }
    commit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::{Value, ValueMap};
    use crate::model::Address;

    fn record(address: &str, size: u64) -> ResourceState {
        let mut attributes = serde_json::Map::new();
        attributes.insert("size".into(), serde_json::json!(size));
        attributes.insert("status".into(), serde_json::json!("available"));
        ResourceState {
            address: address.into(),
            backend_id: format!("volume-{address}"),
            provider: Some("dev".into()),
            attributes,
            dependencies: vec!["volume_type.standard".into()],
            status: "available".into(),
        }
    }

    #[test]
    fn changed_objects_take_the_real_values_and_deleted_ones_leave_state() {
        let prior = vec![record("volume.a", 10), record("volume.b", 10), record("volume.c", 10)];
        let mut grown = ValueMap::default();
        grown.insert("size".into(), Value::Number(12.0));
        grown.insert("status".into(), Value::String("in-use".into()));
        let drift = vec![
            Drift {
                address: Address::parse("volume.a").unwrap(),
                before: ValueMap::default(),
                after: Some(grown),
            },
            Drift {
                address: Address::parse("volume.b").unwrap(),
                before: ValueMap::default(),
                after: None,
            },
        ];
        let commit = drift_commit(&drift, &prior);
        assert_eq!(commit.remove, ["volume.b"]);
        assert_eq!(commit.put.len(), 1);
        let a = &commit.put[0];
        assert_eq!(a.address, "volume.a");
        assert_eq!(a.backend_id, "volume-volume.a");
        assert_eq!(a.attributes["size"], serde_json::json!(12));
        assert_eq!(a.status, "in-use");
        assert_eq!(a.dependencies, ["volume_type.standard"]);
    }
}
