//! The `blockform` binary: run the command line and turn its result into an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(blockform::cli::run(std::env::args_os()).code())
}
