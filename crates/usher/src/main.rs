//! `usher`: one binary, a subcommand per part. This file only parses the command line and hands
//! over; each part lives in its own crate.

mod keys;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// usher keeps an online shop standing when a crowd arrives at once.
#[derive(Debug, Parser)]
#[command(name = "usher", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make, rotate and derive keys; read a ticket or queue token.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(command) => keys::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("usher: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
