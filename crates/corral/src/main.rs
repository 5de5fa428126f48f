//! The `corral` binary: everything is in the library crates; main only
//! hands over to the CLI.

fn main() -> std::process::ExitCode {
    corral_cli::run()
}
