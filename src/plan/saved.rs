//! Saved plans (`plan --out FILE`): the plan with the state lineage and serial it was made
//! against and a digest of the configuration, so `apply FILE` applies exactly that plan or
//! refuses a stale one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::Plan;
use crate::diagnostics::SourceMap;
use crate::state::Meta;

const FORMAT: &str = "blockform-plan";
const VERSION: u32 = 1;

/// Why a saved plan cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// The file cannot be read or written.
    #[error("cannot {action} the plan file `{path}`: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a blockform plan.
    #[error("`{path}` is not a blockform plan file: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// State changed since the plan was made.
    #[error("Saved plan is stale: state serial {state_serial}, plan made at serial {plan_serial}")]
    Stale {
        /// The serial now.
        state_serial: u64,
        /// The serial the plan was made at.
        plan_serial: u64,
    },
    /// The plan was made against another state.
    #[error("Saved plan belongs to another state: its lineage is {plan_lineage}, this state's is {state_lineage}")]
    OtherLineage {
        /// The state's lineage.
        state_lineage: String,
        /// The plan's lineage.
        plan_lineage: String,
    },
    /// The configuration changed since the plan was made.
    #[error("Saved plan was made from another configuration: the files changed since `plan --out`")]
    ConfigChanged,
}

#[derive(Serialize, Deserialize)]
struct SavedPlanFile {
    format: String,
    version: u32,
    blockform_version: String,
    plan: Plan,
}

/// The digest of a configuration: SHA-256 over every source file's name and text, in order.
pub fn config_digest(sources: &SourceMap) -> String {
    let mut hasher = Sha256::new();
    let mut files: Vec<_> = sources.files().iter().collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    for file in files {
        hasher.update(file.name.as_bytes());
        hasher.update([0]);
        hasher.update(file.text.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().fold(String::with_capacity(64), |mut hex, b| {
        use std::fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// Writes a plan file atomically (temp file, fsync, rename).
pub fn save(path: &Path, plan: &Plan) -> Result<(), SavedPlanError> {
    use std::io::Write;
    let io = |source| SavedPlanError::Io {
        action: "write",
        path: path.display().to_string(),
        source,
    };
    let file = SavedPlanFile {
        format: FORMAT.to_owned(),
        version: VERSION,
        blockform_version: env!("CARGO_PKG_VERSION").to_owned(),
        plan: plan.clone(),
    };
    let text = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp-plan");
    let mut out = std::fs::File::create(&tmp).map_err(io)?;
    out.write_all(&text).map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a plan file.
pub fn load(path: &Path) -> Result<Plan, SavedPlanError> {
    let text = std::fs::read(path).map_err(|source| SavedPlanError::Io {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    let invalid = |reason: String| SavedPlanError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let file: SavedPlanFile = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
    if file.format != FORMAT {
        return Err(invalid(format!("its format is `{}`", file.format)));
    }
    if file.version != VERSION {
        return Err(invalid(format!(
            "it has format version {}, this blockform reads version {VERSION}; make the plan again",
            file.version
        )));
    }
    Ok(file.plan)
}

/// Checks that a saved plan still applies to this state and configuration.
pub fn check_current(plan: &Plan, meta: &Meta, config_digest: &str) -> Result<(), SavedPlanError> {
    // A plan made before the state existed has an empty lineage; the state it creates is new.
    if !plan.lineage.is_empty() && plan.lineage != meta.lineage {
        return Err(SavedPlanError::OtherLineage {
            state_lineage: meta.lineage.clone(),
            plan_lineage: plan.lineage.clone(),
        });
    }
    if plan.serial != meta.serial {
        return Err(SavedPlanError::Stale {
            state_serial: meta.serial,
            plan_serial: plan.serial,
        });
    }
    if plan.config_digest != config_digest {
        return Err(SavedPlanError::ConfigChanged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(lineage: &str, serial: u64) -> Meta {
        Meta {
            format_version: 1,
            lineage: lineage.into(),
            serial,
        }
    }

    #[test]
    fn stale_and_foreign_plans_are_refused() {
        let plan = Plan {
            lineage: "L1".into(),
            serial: 5,
            config_digest: "d".into(),
            ..Plan::default()
        };
        assert!(check_current(&plan, &meta("L1", 5), "d").is_ok());
        assert_eq!(
            check_current(&plan, &meta("L1", 7), "d").unwrap_err().to_string(),
            "Saved plan is stale: state serial 7, plan made at serial 5"
        );
        assert!(matches!(
            check_current(&plan, &meta("L2", 5), "d"),
            Err(SavedPlanError::OtherLineage { .. })
        ));
        assert!(matches!(
            check_current(&plan, &meta("L1", 5), "other"),
            Err(SavedPlanError::ConfigChanged)
        ));
    }

    #[test]
    fn plans_round_trip_through_files_with_unknown_values() {
        use crate::config::value::Value;
        let dir = std::env::temp_dir().join(format!("blockform-saved-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.bfplan");
        let mut plan = Plan {
            lineage: "L".into(),
            serial: 3,
            ..Plan::default()
        };
        plan.variables.insert("size".into(), Value::Unknown("var.size".into()));
        save(&path, &plan).unwrap();
        assert_eq!(load(&path).unwrap(), plan);
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(load(&path), Err(SavedPlanError::Invalid { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
