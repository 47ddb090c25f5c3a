//! `blockform import ADDR ID`: adopt an existing back-end object into state, reading its real
//! attributes. The next plan then shows only how the object differs from its configuration.

use std::path::Path;

use super::printer::Printer;
use super::state_args::StateArgs;
use super::{ExitStatus, VarArgs};
use crate::config::vars::VarInputs;
use crate::model::Address;

/// Arguments of `import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The resource address to adopt the object as, like `volume.db` (its block must exist).
    #[arg(value_parser = super::plan::parse_address)]
    address: Address,

    /// PROVIDER/OBJECT as `blockform drift` lists it: `dev/volume-5c0e….qcow2`, `ssd/volume-5c0e…`,
    /// or PROVIDER/VOLUME@SNAPSHOT for a snapshot.
    id: String,

    #[command(flatten)]
    vars: VarArgs,

    #[command(flatten)]
    state: StateArgs,
}

impl ImportArgs {
    /// The variable arguments.
    pub(super) fn vars(&self) -> &VarArgs {
        &self.vars
    }
}

/// Runs `import`.
pub fn run(dir: &Path, args: &ImportArgs, inputs: VarInputs, printer: &mut Printer) -> ExitStatus {
    let engine = super::plan::engine(dir, &args.state, "import", printer.color());
    match engine.import(inputs, &args.address, &args.id) {
        Ok(_) => {
            printer.out(&format!(
                "{}: Import prepared!\n\nImport successful!\n\nThe object is now in the blockform state and will henceforth be managed by blockform.\nRun `blockform plan` to see how it differs from its configuration.\n",
                args.address
            ));
            ExitStatus::Success
        }
        Err(error) => super::fail(printer, &error),
    }
}
