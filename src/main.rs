//! The `chatpulse` binary: parses the command line and hands over to [`chatpulse::cli`].

/// mimalloc instead of glibc's malloc: results, tokens and state entries are many small
/// allocations, which mimalloc serves from per-thread free lists (BENCHMARKS.md, "allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chatpulse::cli::main()
}
