//! The `blockform` binary: run the command line and turn its result into an exit code.

// Loading a configuration builds and frees millions of small syntax-tree nodes; mimalloc does
// that several times faster than glibc's allocator (see tests/benches/load.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(blockform::cli::run(std::env::args_os()).code())
}
