//! The all-in-one `sentry` binary.
//!
//! Thin by design: it parses the command line and calls into the crates.

#![forbid(unsafe_code)]

mod inspect;

use clap::{Parser, Subcommand};

/// A Sentry-compatible server in one binary.
#[derive(Parser)]
#[command(name = "sentry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tools for envelopes, the format SDKs send.
    Envelope {
        #[command(subcommand)]
        command: EnvelopeCommand,
    },
}

#[derive(Subcommand)]
enum EnvelopeCommand {
    /// Print a JSON summary of an envelope; exit 1 with the reason if it is malformed.
    Inspect(inspect::InspectArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Envelope {
            command: EnvelopeCommand::Inspect(args),
        } => inspect::run(&args),
    }
}
