//! blockform: declarative block storage. Configuration in HCL, plans that know storage rules,
//! providers that drive real back ends.

pub mod apply;
pub mod backup;
pub mod cli;
pub mod config;
pub mod diagnostics;
pub mod drift;
pub mod engine;
pub mod events;
pub mod graph;
pub mod import;
pub mod model;
pub mod plan;
pub mod providers;
pub mod refresh;
pub mod registry;
pub mod render;
pub mod state;
