//! The `healthscore` binary: parse the command line, run, print one error, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    healthscore::cli::main()
}
