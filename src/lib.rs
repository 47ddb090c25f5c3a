//! blockform: declarative block storage. Configuration in HCL, plans that know storage rules,
//! providers that drive real back ends.
//!
//! The modules, from the bottom up; each uses only those listed before it (the provider
//! contract, `blockform_provider`, sits under all of them):
//! - [`diagnostics`]: what went wrong where, with source spans; [`model`]: addresses, values
//!   and one handler per resource kind (schema, rules, typed specs); [`state`]: records,
//!   intents and outputs behind a back end with its lock inside;
//! - [`registry`]: the provider factories this build knows, and what is asked of them (block
//!   schemas, configuration checks, object names);
//! - [`config`]: the language: loading, evaluation, functions, validation;
//! - [`plan`]: what would change, and why;
//! - [`graph`], [`render`], [`backup`], [`events`]: the operation order, how plans are shown,
//!   block-level backups, what the engine reports;
//! - [`providers`]: the live providers and backup stores of a configuration; [`refresh`]:
//!   reading reality through them;
//! - [`drift`], [`import`], [`apply`]: drift reports, adoption, carrying a plan out (operations
//!   per kind, retries, recovery);
//! - [`engine`]: plan, apply, drift and import over one context, ending in a typed error;
//! - [`cli`]: the command line, which parses, calls the engine and draws its events.

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
pub mod s3;
pub mod state;
