//! The calculator service: the JSON-RPC 2.0 specification's example methods
//! plus a few, served over HTTP, WebSocket and TCP, and a command-line
//! client built on the generated typed client.
//!
//! ```text
//! calculator serve [--http ADDR] [--tcp ADDR] [--framing newline|length-prefix-1|length-prefix-2|length-prefix-4] [--auth-token TOKEN] [--backplane redis://HOST:PORT|nats://HOST:PORT] [--tls-cert CERT.pem --tls-key KEY.pem]
//! calculator call URL METHOD [ARG...] [--named] [--framing F] [--timeout-ms N] [--token T] [--ca-cert FILE]
//! calculator [serve|call] --help
//! ```
//!
//! For example:
//!
//! ```text
//! cargo run --example calculator -- serve --http 127.0.0.1:3000 --tcp 127.0.0.1:4000
//! cargo run --example calculator -- call http://127.0.0.1:3000/ subtract 42 23   # 19
//! cargo run --example calculator -- call ws://127.0.0.1:3000/ notify_me 3        # ticks on stderr, 3 on stdout
//! cargo run --example calculator -- call tcp://127.0.0.1:4000 divide 1 0         # error -32000: Division by zero (exit 1)
//! ```
//!
//! The modules: [`cli`] (the command line), [`services`] (the `#[rpc]`
//! traits and their implementations), [`serve`] and [`call`] (the two
//! subcommands).

mod call;
mod cli;
mod serve;
mod services;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    // A usage error exits 2 with a message on stderr; `--help` exits 0.
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::serve(args)),
        Command::Call(args) => runtime.block_on(call::call(args)),
    }
}
