//! blockform: declarative block storage. Configuration in HCL, plans that know storage rules,
//! providers that drive real back ends.

pub mod cli;
pub mod config;
pub mod diagnostics;
pub mod model;
pub mod state;
pub mod plan;
pub mod graph;
pub mod render;
pub mod apply;
pub mod providers;
pub mod refresh;
