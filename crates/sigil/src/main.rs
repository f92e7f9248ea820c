//! `sigil`: the command line. Everything else lives in the library ([`sigil::app`]).
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = sigil::cli::Cli::parse();
    if cli.is_openapi_command() {
        println!("{}", sigil::openapi::json(sigil::settings::Mode::All));
        return ExitCode::SUCCESS;
    }
    if cli.is_operator_command() {
        return operate(cli).await;
    }
    sigil::telemetry::init(cli.log_format());
    // Signal handlers first: Ctrl-C or SIGTERM while starting ends the start, after it a clean
    // stop; never the default action (death with files half written).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = sigil::app::shutdown_signal();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let signalled = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let settings = match cli.into_settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("sigil: {message}");
            return ExitCode::from(2);
        }
    };
    let app = tokio::select! {
        built = sigil::app::App::build(settings) => match built {
            Ok(app) => app,
            Err(error) => {
                eprintln!("sigil: {error}");
                return ExitCode::FAILURE;
            }
        },
        () = signalled() => {
            eprintln!("sigil: stopped by a signal before it was ready");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", app.ready_line());
    match app.run_until(signalled()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sigil: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `sigil users|sessions|audit`: runs the command on the database, prints its lines.
async fn operate(cli: sigil::cli::Cli) -> ExitCode {
    let (db, command) = match cli.into_run() {
        Ok(sigil::cli::Run::Ops(db, command)) => (db, command),
        Ok(sigil::cli::Run::Serve(_)) => return ExitCode::from(2),
        Err(message) => {
            eprintln!("sigil: {message}");
            return ExitCode::from(2);
        }
    };
    match sigil::ops::run(db, command).await {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sigil: {error}");
            ExitCode::FAILURE
        }
    }
}
