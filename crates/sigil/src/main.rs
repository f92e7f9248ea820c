//! `sigil`: the command line. Everything else lives in the library ([`sigil::app`]).
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = sigil::cli::Cli::parse();
    sigil::telemetry::init(cli.log_format());
    let settings = match cli.into_settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("sigil: {message}");
            return ExitCode::from(2);
        }
    };
    let app = match sigil::app::App::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("sigil: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Sigil listening on {}", app.url());
    match app.run_until(sigil::app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sigil: {error}");
            ExitCode::FAILURE
        }
    }
}
