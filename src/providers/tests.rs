//! Adding a provider: an in-memory storage back end written here, made known with one
//! registration (what a line in [`FACTORIES`](super::registry::FACTORIES) does for a crate),
//! is validated, planned, applied, read back and destroyed by the unchanged engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blockform_provider::schema::{AttrSpec, AttrType};
use blockform_provider::{
    BuildError, BuiltProvider, Capabilities, Capacity, ConfigProblem, GIB, InventoryItem, ObjectKind, ObjectRef,
    ProviderConfig, ProviderError, ProviderFactory, ProviderKind, ReadTarget, Result, StorageProvider,
    VolumeProperties, VolumeReader, VolumeSpec, VolumeState, VolumeStatus, VolumeWriter,
};

use super::registry;
use crate::cli::ExitStatus;

/// The volumes of every memory back end, by its `space` attribute, for the life of the process.
static SPACES: Mutex<BTreeMap<String, BTreeMap<String, VolumeState>>> = Mutex::new(BTreeMap::new());

fn volumes_in(space: &str) -> BTreeMap<String, VolumeState> {
    SPACES.lock().unwrap().get(space).cloned().unwrap_or_default()
}

/// A storage back end that keeps volume records in memory (no data).
struct MemoryProvider {
    name: String,
    space: String,
}

impl MemoryProvider {
    fn with_space<T>(&self, change: impl FnOnce(&mut BTreeMap<String, VolumeState>) -> T) -> T {
        let mut spaces = SPACES.lock().unwrap();
        change(spaces.entry(self.space.clone()).or_default())
    }

    fn update(&self, backend_name: &str, change: impl FnOnce(&mut VolumeState)) -> Result<VolumeState> {
        self.with_space(|volumes| {
            let volume = volumes
                .get_mut(backend_name)
                .ok_or_else(|| ProviderError::not_found(ObjectRef::volume(backend_name)))?;
            change(volume);
            Ok(volume.clone())
        })
    }
}

impl StorageProvider for MemoryProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::new("memory")
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn refresh(&self, backend_names: &[String]) -> Result<Vec<VolumeState>> {
        self.with_space(|volumes| {
            Ok(backend_names
                .iter()
                .filter_map(|name| volumes.get(name).cloned())
                .collect())
        })
    }

    fn inventory(&self) -> Result<Vec<InventoryItem>> {
        self.with_space(|volumes| {
            Ok(volumes
                .values()
                .map(|volume| InventoryItem {
                    backend_name: volume.backend_name.clone(),
                    kind: ObjectKind::Volume,
                    volume_backend_name: None,
                    size_bytes: volume.virtual_size_bytes,
                    owned: true,
                })
                .collect())
        })
    }

    fn capacity(&self) -> Result<Capacity> {
        let provisioned_bytes = self.with_space(|volumes| volumes.values().map(|v| v.virtual_size_bytes).sum());
        Ok(Capacity {
            total_bytes: 1024 * GIB,
            free_bytes: 1024 * GIB - provisioned_bytes,
            provisioned_bytes,
            thin_provisioned: true,
        })
    }

    fn create_volume(&self, spec: &VolumeSpec) -> Result<VolumeState> {
        let state = VolumeState {
            backend_name: spec.backend_name.clone(),
            properties: spec.properties.clone(),
            virtual_size_bytes: spec.size_gib * GIB,
            allocated_bytes: None,
            status: VolumeStatus::Available,
            snapshots: Vec::new(),
            qos: blockform_provider::QosSpecs::default(),
        };
        self.with_space(|volumes| volumes.insert(spec.backend_name.clone(), state.clone()));
        Ok(state)
    }

    fn extend_volume(&self, backend_name: &str, new_size_gib: u64) -> Result<VolumeState> {
        self.update(backend_name, |volume| volume.virtual_size_bytes = new_size_gib * GIB)
    }

    fn update_volume_metadata(
        &self,
        backend_name: &str,
        properties: &VolumeProperties,
        _volume_type: Option<&str>,
    ) -> Result<VolumeState> {
        self.update(backend_name, |volume| volume.properties = properties.clone())
    }

    fn delete_volume(&self, backend_name: &str) -> Result<()> {
        self.with_space(|volumes| volumes.remove(backend_name));
        Ok(())
    }

    fn open_reader(&self, target: &ReadTarget) -> Result<Box<dyn VolumeReader>> {
        Err(ProviderError::fatal(format!(
            "the memory provider keeps no data of `{}`",
            target.volume_backend_name
        )))
    }

    fn open_writer(&self, backend_name: &str) -> Result<Box<dyn VolumeWriter>> {
        Err(ProviderError::fatal(format!(
            "the memory provider keeps no data of `{backend_name}`"
        )))
    }
}

/// The kind `memory`: `provider "memory" "NAME" { space = "..." }`.
struct MemoryFactory;

impl ProviderFactory for MemoryFactory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn schema(&self) -> &'static [AttrSpec] {
        const SCHEMA: &[AttrSpec] = &[AttrSpec::required("space", AttrType::String)];
        SCHEMA
    }

    fn problems(&self, config: &ProviderConfig) -> Vec<ConfigProblem> {
        match config.attributes.get("space").and_then(serde_json::Value::as_str) {
            Some("") => vec![ConfigProblem {
                attribute: Some("space".into()),
                message: "the space must have a name".into(),
                on_this_host: false,
            }],
            _ => Vec::new(),
        }
    }

    fn build(&self, config: &ProviderConfig) -> std::result::Result<Option<BuiltProvider>, BuildError> {
        let space = config
            .attributes
            .get("space")
            .and_then(serde_json::Value::as_str)
            .ok_or("`space` is not set")?;
        Ok(Some(BuiltProvider::Storage(Arc::new(MemoryProvider {
            name: config.name.clone(),
            space: space.to_owned(),
        }))))
    }
}

static MEMORY: MemoryFactory = MemoryFactory;

/// A configuration directory of its own, removed afterwards.
struct Workspace(PathBuf);

impl Workspace {
    fn new(main_hcl: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("blockform-registry-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.hcl"), main_hcl).unwrap();
        Workspace(dir)
    }

    fn run(&self, command: &[&str]) -> ExitStatus {
        let dir = self.0.display().to_string();
        let words = ["blockform", "-no-color", "-chdir", dir.as_str()]
            .into_iter()
            .chain(command.iter().copied());
        crate::cli::run(words.map(std::ffi::OsString::from))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn configuration(space: &str) -> String {
    format!(
        r#"
provider "memory" "scratch" {{
  space = "{space}"
}}

resource "volume_type" "fast" {{
  backend = "scratch"
}}

resource "volume" "data" {{
  name = "data"
  type = volume_type.fast.id
  size = 2
}}
"#
    )
}

#[test]
fn a_provider_added_through_the_registry_is_validated_planned_and_applied() {
    registry::register(&MEMORY);
    assert_eq!(registry::kinds().last(), Some(&"memory"));

    // Unknown before, a kind like any other now: its schema and its own checks apply.
    let invalid = Workspace::new(&configuration(""));
    assert_eq!(invalid.run(&["validate"]), ExitStatus::Failure);
    let space = format!("space-{}", uuid::Uuid::new_v4());
    let workspace = Workspace::new(&configuration(&space));
    assert_eq!(workspace.run(&["validate"]), ExitStatus::Success);

    // Planned, applied, read back, destroyed.
    assert_eq!(workspace.run(&["plan", "-detailed-exitcode"]), ExitStatus::Changes);
    assert!(volumes_in(&space).is_empty(), "a plan changes nothing");
    assert_eq!(workspace.run(&["apply", "-auto-approve"]), ExitStatus::Success);
    let volumes = volumes_in(&space);
    assert_eq!(volumes.len(), 1);
    let volume = volumes.values().next().unwrap();
    assert_eq!(volume.properties.name, "data");
    assert_eq!(volume.virtual_size_bytes, 2 * GIB);
    assert_eq!(workspace.run(&["plan", "-detailed-exitcode"]), ExitStatus::Success);
    assert_eq!(
        workspace.run(&["apply", "-destroy", "-auto-approve", "-allow-data-loss"]),
        ExitStatus::Success
    );
    assert!(volumes_in(&space).is_empty());
    assert!(workspace.path().join("main.hcl").exists());
}
