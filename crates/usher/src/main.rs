//! `usher`: one binary, a subcommand per part. This file only parses the command line and hands
//! over; the parts live in their own crates and are wired together in this crate's library.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system's allocator: a request through `usher gate` allocates a
/// dozen small blocks (headers, bodies, tasks), and glibc's malloc and free were 7 % of the
/// gate's time under `bench/proxy`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// usher keeps an online shop standing when a crowd arrives at once.
#[derive(Debug, Parser)]
#[command(name = "usher", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A reception and three shops in one process on loopback, with embedded defaults.
    Demo(cli::demo::DemoArgs),
    /// The reception: watches the shops and hands out tickets.
    Reception(cli::reception::ReceptionArgs),
    /// A shop: the reference shop app behind its gate.
    Shop(cli::shop::ShopArgs),
    /// The gate in front of any HTTP shop (PHP, Node, Java, Python, …): a reverse proxy that
    /// lets in only buyers the reception sent.
    Gate(cli::gate::GateArgs),
    /// A crowd of buyers against a running usher, with a report of what they met.
    Crowd(Box<cli::crowd::CrowdArgs>),
    /// Make, rotate and derive keys; read a ticket or queue token.
    #[command(subcommand)]
    Keys(cli::keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(command) => cli::keys::run(command),
        server => run_server(server),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("usher: {}", cli::report(&error));
            ExitCode::FAILURE
        }
    }
}

fn run_server(command: Command) -> anyhow::Result<()> {
    // A crowd (and the systems `crowd compare` starts) logs only what went wrong: its progress
    // bar and report say the rest.
    let level = match command {
        Command::Crowd(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("USHER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log redirected to a file or a pipe stays
        // plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = usher::serve::runtime()?;
    runtime.block_on(async move {
        match command {
            Command::Demo(args) => cli::demo::run(args).await,
            Command::Reception(args) => cli::reception::run(args).await,
            Command::Shop(args) => cli::shop::run(args).await,
            Command::Gate(args) => cli::gate::run(args).await,
            Command::Crowd(args) => cli::crowd::run(*args).await,
            Command::Keys(_) => Ok(()),
        }
    })
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
