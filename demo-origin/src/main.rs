//! `demo-origin [--flavour stable|canary] [--port N] [--host ADDR] [--no-etag]`
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use demo_origin::config::{self, Command, USAGE};
use demo_origin::server::{self, App};

fn main() -> ExitCode {
    let command = match config::parse(std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo-origin: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Run(config) => config,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo-origin: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match server::bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "demo-origin: cannot listen on {}:{}: {e}",
                    config.host, config.port
                );
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("demo-origin: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "demo-origin {} listening on http://{addr}",
            config.flavour
        );
        let _ = stdout.flush();
        drop(stdout);
        let app = Arc::new(App::new(&config));
        server::serve(listener, app, server::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}
