//! The operations of a QoS rule: blockform's own record; a changed rule's back-end limits go
//! to every volume of the types that use it, and its front-end limits to every attached one
//! (live, through its hypervisor: no re-attach).

use blockform_provider::QosSpecs;

use super::{Operation, Operations, Written, string};
use crate::apply::operation::{OperationContext, OperationError};
use crate::config::value::{Value, ValueMap};
use crate::model::kinds::Qos;

impl Operations for Qos {
    // Rules are blockform's own objects: recorded, not created anywhere.
    fn create(&self, _op: &Operation<'_>, _after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        Ok(())
    }

    // A changed rule's back-end limits go to every volume of the types that use it.
    fn update(&self, op: &Operation<'_>, after: &ValueMap, _written: &mut Written) -> Result<(), OperationError> {
        push_rule(op.backend_id, after, op.context)?;
        let front_end = |values: Option<&ValueMap>| {
            values
                .and_then(|v| string(v, "consumer"))
                .is_some_and(|consumer| consumer == "front-end" || consumer == "both")
        };
        if front_end(Some(after)) || front_end(op.change.before.as_ref()) {
            let limits = if front_end(Some(after)) {
                specs_of(after)
            } else {
                QosSpecs::default()
            };
            push_front_end(op.backend_id, &limits, op.context)?;
        }
        Ok(())
    }

    fn delete(&self, _op: &Operation<'_>) -> Result<(), OperationError> {
        Ok(())
    }
}

/// The limits a rule's values give.
fn specs_of(values: &ValueMap) -> QosSpecs {
    values
        .get("specs")
        .and_then(Value::as_map)
        .map(|specs| {
            specs
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), u64::try_from(value.as_i64()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets the front-end limits of every attached volume whose type uses the rule `rule_id` to
/// `limits`, through the attachment's hypervisor.
fn push_front_end(rule_id: &str, limits: &QosSpecs, context: &OperationContext<'_>) -> Result<(), OperationError> {
    super::attachment::set_front_end_limits_where(context, |volume| {
        let uses_rule = volume
            .attributes
            .get("type")
            .and_then(serde_json::Value::as_str)
            .and_then(|type_id| (context.by_id)(type_id))
            .is_some_and(|volume_type| {
                volume_type.attributes.get("qos").and_then(serde_json::Value::as_str) == Some(rule_id)
            });
        uses_rule.then(|| limits.clone())
    })
}

/// Applies a rule's new back-end limits to every volume whose type uses the rule, on the
/// providers that enforce back-end QoS.
fn push_rule(rule_id: &str, after: &ValueMap, context: &OperationContext<'_>) -> Result<(), OperationError> {
    let consumer = string(after, "consumer").unwrap_or_else(|| "back-end".to_owned());
    let specs: QosSpecs = if consumer == "front-end" {
        QosSpecs::default()
    } else {
        specs_of(after)
    };
    let records = (context.records)();
    let types: std::collections::HashSet<&str> = records
        .iter()
        .filter(|record| record.address.starts_with("volume_type."))
        .filter(|record| record.attributes.get("qos").and_then(serde_json::Value::as_str) == Some(rule_id))
        .map(|record| record.backend_id.as_str())
        .collect();
    for volume in records.iter().filter(|record| {
        record.address.starts_with("volume.")
            && record
                .attributes
                .get("type")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|type_id| types.contains(type_id))
    }) {
        let Some(provider) = volume.provider.as_deref().and_then(|name| context.providers.get(name)) else {
            continue;
        };
        if provider.capabilities().qos_backend {
            provider.apply_qos(&volume.backend_id, &specs)?;
        }
    }
    Ok(())
}
