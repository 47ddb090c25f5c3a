//! Rendering plans for people and machines: the terminal plan a Terraform user reads at a glance
//! ([`human`]), Terraform's `show -json` document so existing plan-reading tools work ([`json`]),
//! and a summary for pull-request comments ([`markdown`]). All pure functions from a plan to text
//! or JSON; printing is the CLI's job.

pub mod human;
pub mod json;
pub mod markdown;
mod wording;

#[cfg(test)]
mod fixtures;
