//! The `blockform` binary: run the command line and turn its result into an exit code.

// Loading a configuration builds and frees millions of small syntax-tree nodes; mimalloc does
// that several times faster than glibc's allocator (see tests/benches/load.rs). It is built
// without transparent huge pages (`no_thp`): with them, a 10,000-volume plan kept ~60 MB more
// resident (partly used 2 MiB pages).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(blockform::cli::run(std::env::args_os()).code())
}
