//! `blockform graph`: the plan's operations and their order as DOT, for Graphviz.

use std::path::Path;

use super::ExitStatus;
use super::plan::{PlanArgs, make_plan};
use super::printer::Printer;
use crate::config::vars::VarInputs;
use crate::graph::DotKind;

/// Which graph to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphType {
    /// One node per resource change, labelled with its action.
    Plan,
    /// One node per operation apply runs (a replacement is two), edges labelled with the rule.
    Apply,
}

/// Arguments of `graph`.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Which graph.
    #[arg(long = "type", value_enum, default_value_t = GraphType::Plan)]
    graph_type: GraphType,

    #[command(flatten)]
    plan: PlanArgs,
}

impl GraphArgs {
    /// The variable arguments.
    pub(super) fn vars(&self) -> &super::VarArgs {
        &self.plan.vars
    }
}

/// Runs `graph`.
pub fn run(dir: &Path, args: &GraphArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let engine = super::plan::engine(dir, &args.plan.state, "graph", printer.color());
    let planned = match make_plan(&engine, &args.plan, inputs, printer) {
        Ok(p) => p,
        Err(status) => return status,
    };
    let graph = match crate::graph::build(&planned.plan) {
        Ok(g) => g,
        Err(e) => {
            printer.error(&e.to_string());
            return ExitStatus::Failure;
        }
    };
    let kind = match args.graph_type {
        GraphType::Plan => DotKind::Plan,
        GraphType::Apply => DotKind::Apply,
    };
    printer.out(&crate::graph::to_dot(&graph, &planned.plan, kind));
    ExitStatus::Success
}
