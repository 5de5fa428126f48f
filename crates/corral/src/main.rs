//! The `corral` binary: everything is in the library crates; main only
//! picks the allocator and hands over to the CLI.

/// mimalloc rather than glibc malloc: building a large answer allocates
/// and frees many small objects, and glibc spent a quarter of the time
/// of `GET /v2/apps?embed=apps.tasks` (1,000 apps x 10 tasks) in malloc,
/// free and `malloc_consolidate`; with mimalloc its p50 went from 83–108
/// to 48–72 ms on the same machine. Store writes were the same within
/// noise, and an idle node holds 18 MiB as before (mimalloc is built
/// without transparent huge pages: with them it held 37).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    corral_cli::run()
}
