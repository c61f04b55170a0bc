//! The all-in-one `sentry` binary.
//!
//! Thin by design: it parses the command line and calls into the crates.

#![forbid(unsafe_code)]

mod createuser;
mod inspect;
mod load;
mod run;

use clap::{Parser, Subcommand};

/// mimalloc: event processing allocates and frees many small values, which
/// it does in a fraction of the time of the system allocator (see the
/// processing benchmark in the book).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Sentry-compatible server in one binary.
#[derive(Parser)]
#[command(name = "sentry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole server: ingest, processing and the web API, in one process.
    Run(run::RunArgs),
    /// Send load to a server and measure it.
    Load(load::LoadArgs),
    /// Adds a user who can sign in (works while the server runs).
    Createuser(createuser::CreateUserArgs),
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
        Command::Run(args) => match run::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Load(args) => match load::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Createuser(args) => match createuser::run(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Envelope {
            command: EnvelopeCommand::Inspect(args),
        } => inspect::run(&args),
    }
}
