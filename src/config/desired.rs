//! The evaluated configuration, what the user wants: every resource instance with its attribute
//! values and where each was written, the providers and backup stores with their settings,
//! outputs and `import` blocks. Evaluation produces a [`Desired`]; validation, planning, drift
//! and apply read it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use super::expr::Reference;
use super::value::{Value, ValueMap};
use crate::diagnostics::Span;
use crate::model::{Address, ResourceKind};

/// The `lifecycle` settings of a resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// Refuse any plan that destroys or replaces the resource.
    pub prevent_destroy: bool,
    /// Create the replacement before destroying the original.
    pub create_before_destroy: bool,
    /// Attributes whose changes are ignored after creation.
    pub ignore_changes: Vec<String>,
    /// Take a final snapshot before a destroy or replace.
    pub snapshot_before_destroy: bool,
}

/// One resource instance as the configuration wants it.
#[derive(Debug, Clone)]
pub struct ResourceInstance {
    /// Its address.
    pub address: Address,
    /// Attribute values (defaults filled in; unknown where they depend on objects not yet created).
    pub attrs: ValueMap,
    /// Where each attribute's value is written (shared by the instances of one block).
    pub attr_spans: Arc<HashMap<String, Span>>,
    /// The references each attribute's expression makes, by attribute (shared likewise).
    pub attr_refs: Arc<HashMap<String, Vec<Reference>>>,
    /// The block header (`resource "volume" "db"`).
    pub span: Span,
    /// Resources this one depends on, from references and `depends_on`.
    pub depends_on: Vec<(ResourceKind, String)>,
    /// Its lifecycle settings.
    pub lifecycle: Lifecycle,
}

/// A provider or backup store block with its evaluated attributes.
#[derive(Debug, Clone)]
pub struct BlockInstance {
    /// The kind (`local`, `ceph`, `dir`, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Evaluated attributes.
    pub attrs: ValueMap,
    /// Where each attribute's value is written.
    pub attr_spans: HashMap<String, Span>,
    /// The block header.
    pub span: Span,
}

/// An output value.
#[derive(Debug, Clone)]
pub struct OutputValue {
    /// The value.
    pub value: Value,
    /// Its description.
    pub description: Option<String>,
    /// Whether it is hidden in output.
    pub sensitive: bool,
}

/// An `import` block: adopt the back-end object `id` as `to`.
#[derive(Debug, Clone)]
pub struct ImportInstance {
    /// The address the object is adopted as.
    pub to: Address,
    /// `PROVIDER/OBJECT`.
    pub id: String,
    /// The block.
    pub span: Span,
}

/// The evaluated configuration: what the user wants.
#[derive(Debug, Default)]
pub struct Desired {
    /// The configuration directory (relative paths in values are relative to it).
    pub base_dir: PathBuf,
    /// Variable values.
    pub variables: IndexMap<String, Value>,
    /// Providers by name.
    pub providers: IndexMap<String, BlockInstance>,
    /// Backup stores by name.
    pub stores: IndexMap<String, BlockInstance>,
    /// Resource instances, in dependency order (every instance after what it refers to).
    pub resources: Vec<ResourceInstance>,
    /// Outputs by name.
    pub outputs: IndexMap<String, OutputValue>,
    /// Import blocks.
    pub imports: Vec<ImportInstance>,
    /// `import` blocks whose target no resource block declares (only with
    /// [`EvalOptions::allow_undeclared_imports`](crate::config::EvalOptions::allow_undeclared_imports)).
    pub undeclared_imports: Vec<ImportInstance>,
    /// Variables that have no value from any source (unknown unless `MissingVars::Error`).
    pub unset_variables: Vec<String>,
}

impl Desired {
    /// The instance with this address.
    pub fn resource(&self, address: &Address) -> Option<&ResourceInstance> {
        self.resources.iter().find(|r| &r.address == address)
    }
}
