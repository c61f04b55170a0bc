//! `sentry envelope inspect`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use sentry_envelope::{ContentEncoding, Envelope, Limits, decompress, read_capped};
use serde_json::{Value, json};

/// How the input is compressed.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Encoding {
    /// Guess from the first bytes.
    Auto,
    /// Not compressed.
    Identity,
    /// gzip.
    Gzip,
    /// zlib deflate.
    Deflate,
    /// Brotli.
    Br,
    /// Zstandard.
    Zstd,
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// The envelope file, or `-` for standard input.
    input: PathBuf,
    /// How the input is compressed.
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    encoding: Encoding,
}

fn read_input(path: &PathBuf, cap: usize) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        read_capped(std::io::stdin().lock(), cap).context("reading standard input")
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        read_capped(file, cap).with_context(|| format!("reading {}", path.display()))
    }
}

fn summarize(envelope: &Envelope) -> Value {
    let headers = serde_json::to_value(envelope.headers()).unwrap_or(Value::Null);
    let items: Vec<Value> = envelope
        .items()
        .iter()
        .map(|item| {
            let categories: serde_json::Map<String, Value> = item
                .quantities()
                .into_iter()
                .map(|(category, quantity)| (category.to_string(), json!(quantity)))
                .collect();
            json!({
                "type": item.ty().as_str(),
                "length": item.len(),
                "content_type": item.headers.content_type,
                "filename": item.headers.filename,
                "attachment_type": item.attachment_type().map(|t| t.to_string()),
                "data_category": item.data_category().map(|c| c.to_string()),
                "quantities": categories,
            })
        })
        .collect();
    json!({
        "event_id": envelope.event_id().map(|id| id.to_string()),
        "headers": headers,
        "items": items,
    })
}

fn inspect(args: &InspectArgs) -> anyhow::Result<Result<Value, String>> {
    let limits = Limits::default();
    let cap = usize::try_from(limits.max_envelope_size).unwrap_or(usize::MAX);
    let raw = read_input(&args.input, cap)?;
    let encoding = match args.encoding {
        Encoding::Auto => ContentEncoding::sniff(&raw),
        Encoding::Identity => ContentEncoding::Identity,
        Encoding::Gzip => ContentEncoding::Gzip,
        Encoding::Deflate => ContentEncoding::Deflate,
        Encoding::Br => ContentEncoding::Br,
        Encoding::Zstd => ContentEncoding::Zstd,
    };
    let body = match decompress(encoding, &raw, cap) {
        Ok(body) => body,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let envelope = match Envelope::parse(body, &limits) {
        Ok(envelope) => envelope,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if let Err(e) = envelope.validate() {
        return Ok(Err(e.to_string()));
    }
    let mut summary = summarize(&envelope);
    summary["encoding"] = json!(encoding.to_string());
    Ok(Ok(summary))
}

/// Runs the command; the exit code is 0 for a valid envelope, 1 otherwise.
pub(crate) fn run(args: &InspectArgs) -> ExitCode {
    match inspect(args) {
        Ok(Ok(summary)) => {
            let mut out = std::io::stdout().lock();
            let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
            if writeln!(out, "{text}").is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Ok(Err(reason)) => {
            eprintln!("error: {reason}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
