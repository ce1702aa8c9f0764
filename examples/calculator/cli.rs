//! The command line, parsed by clap: `calculator serve ...` and
//! `calculator call URL METHOD [ARG]...`.
//!
//! Flags may come before, between or after the positional arguments, and a
//! repeated flag keeps its last value. A call's ARGs are JSON, or strings
//! when they are not JSON; a negative number is an ARG as it is (`add -1 -2`),
//! any other ARG starting with `-` goes after `--` (`echo -- --not-a-flag`).
//! A usage error prints on stderr and exits 2; `--help` prints on stdout.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rpc::tcp::Framing;
use serde_json::Value;

/// The JSON-RPC 2.0 specification's example methods plus a few, served over
/// HTTP, WebSocket and TCP, and a command-line client built on the generated
/// typed client.
#[derive(Debug, Parser)]
#[command(
    name = "calculator",
    arg_required_else_help = true,
    args_override_self = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serves the calculator: HTTP POST and WebSocket at path `/` of
    /// `--http`, TCP on `--tcp`.
    ///
    /// Once listening, prints one line per listener on stdout (`http://ADDR/`,
    /// `tcp://ADDR`; with --tls-cert `https://ADDR/`, `tls://ADDR`), so that
    /// port 0 works; logs go to stderr (`RUST_LOG`),
    /// the `--metrics` listener's address among them.
    /// SIGTERM and SIGINT drain the servers, then the process exits 0.
    Serve(ServeArgs),
    /// Calls METHOD through the generated typed client and prints the result.
    ///
    /// Prints the result as compact JSON on stdout and exits 0; a JSON-RPC
    /// error prints its code and message on stderr and exits 1; a transport
    /// or protocol failure exits 2. A subscription (`subscribe_ticks`,
    /// `subscribe_topic`) prints each item's result on its own line as it
    /// arrives. Notifications the server sends (`tick`, `message`) go to
    /// stderr.
    Call(CallArgs),
}

/// What `serve` listens on and how.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Serve HTTP POST, WebSocket and `GET /metrics` (unless --metrics
    /// moves it) on ADDR (127.0.0.1:3000 when neither --http nor --tcp is
    /// given).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,

    /// Serve TCP on ADDR, framed as --framing says.
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<String>,

    /// Serve the TCP protocol on a Unix domain socket at PATH (created
    /// owner-only; a stale file of a dead server is replaced, one a live
    /// server holds is an error). Prints `unix://PATH`.
    #[arg(long, value_name = "PATH")]
    pub unix: Option<std::path::PathBuf>,

    /// Serve one connection on this process's stdin and stdout, framed as
    /// --framing says; stdout then carries frames only (logs go to stderr)
    /// and the process exits 0 once stdin closes and the calls in flight
    /// are answered. Used alone, without other listeners.
    #[arg(long, conflicts_with_all = ["http", "tcp", "unix", "metrics"])]
    pub stdio: bool,

    /// How messages are delimited on --tcp, --unix and --stdio: newline,
    /// content-length (LSP's base protocol), length-prefix-1,
    /// length-prefix-2 or length-prefix-4.
    #[arg(long, value_name = "FRAMING", default_value_t = Framing::Newline)]
    pub framing: Framing,

    /// Grant the admin role to callers sending `Authorization: Bearer TOKEN`
    /// (on an HTTP request or the WebSocket upgrade); without it, admin
    /// calls always get -32001.
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,

    /// Share `broadcast` and topics with every instance on this broker:
    /// redis://HOST:PORT or nats://HOST:PORT (retried in the background
    /// while it is down).
    #[arg(long, value_name = "URL")]
    pub backplane: Option<String>,

    /// Let browsers on ORIGIN (as `https://app.example`) call --http, and no
    /// other site: a POST or WebSocket upgrade carrying another `Origin` is
    /// refused with 403 (requests without `Origin` are not affected).
    /// Repeatable. Without it, cross-site requests are not refused.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,

    /// Serve `GET /metrics` (Prometheus text) on its own listener at ADDR,
    /// and then not on --http: bind it to a private interface to keep the
    /// metrics from callers of --http (the metrics are not behind
    /// --auth-token). Its address is logged on stderr (level info), not
    /// printed on stdout.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// Serve --http as HTTPS and WSS, and --tcp as TLS over TCP, with the
    /// certificate chain in this PEM file (prints `https://ADDR/` and
    /// `tls://ADDR`). SIGHUP reads it and --tls-key again.
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert, a PEM file.
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Everything `call` was asked to do.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The server: http://HOST:PORT/, https://..., ws://HOST:PORT/, wss://...,
    /// tcp://HOST:PORT, tls://HOST:PORT (TLS over TCP), unix:///ABSOLUTE/PATH,
    /// or 'exec:PROGRAM ARG...' (spawns PROGRAM, the text after `exec:` split
    /// on spaces, and calls it over its stdin and stdout).
    #[arg(value_name = "URL")]
    pub url: String,

    /// The method's wire name, e.g. subtract or math.multiply.
    #[arg(value_name = "METHOD")]
    pub method: String,

    /// The method's arguments, in order: each is parsed as JSON, or taken as
    /// a string if it is not JSON. Negative numbers are accepted as they
    /// are; put `--` before other arguments that start with `-`.
    #[arg(value_name = "ARG", allow_negative_numbers = true, value_parser = json_or_string)]
    pub values: Vec<Value>,

    /// Send the arguments by name (a JSON object) instead of by position.
    #[arg(long)]
    pub named: bool,

    /// How messages are delimited with tcp://, tls://, unix:// and exec:: newline,
    /// content-length, length-prefix-1, length-prefix-2 or length-prefix-4.
    #[arg(long, value_name = "FRAMING", default_value_t = Framing::Newline)]
    pub framing: Framing,

    /// Give up on the call after N milliseconds (on a subscription: on the
    /// subscribe call only). Without it the client's default timeout applies.
    #[arg(long = "timeout-ms", value_name = "N", value_parser = milliseconds)]
    pub timeout: Option<Duration>,

    /// Send `Authorization: Bearer TOKEN` (on HTTP requests and the WebSocket
    /// upgrade; an error with tcp://, which carries no credentials).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// With `subscribe_topic`: print each item as `{"event":EVENT,"result":MESSAGE}`,
    /// its event id beside it (what `subscribe_topic TOPIC SINCE` resumes after).
    #[arg(long)]
    pub events: bool,

    /// Also trust the certificate authority in this PEM file (https://,
    /// wss://, tls://).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<String>,
}

/// An argument is JSON if it parses as JSON, a string otherwise.
fn json_or_string(arg: &str) -> Result<Value, std::convert::Infallible> {
    Ok(serde_json::from_str(arg).unwrap_or_else(|_| Value::String(arg.to_owned())))
}

/// `--timeout-ms N`.
fn milliseconds(arg: &str) -> Result<Duration, String> {
    arg.parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("--timeout-ms expects milliseconds, got `{arg}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn call(args: &[&str]) -> CallArgs {
        let argv = ["calculator", "call"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Call(call) => call,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn call_arguments_are_json_or_strings() {
        let parsed = call(&[
            "http://x/",
            "greet",
            "Ann",
            "--named",
            "\"Dr\"",
            "--timeout-ms",
            "50",
        ]);
        assert_eq!(parsed.values, [Value::from("Ann"), Value::from("Dr")]);
        assert!(parsed.named);
        assert_eq!(parsed.timeout, Some(Duration::from_millis(50)));
    }

    #[test]
    fn negative_numbers_and_json_are_arguments() {
        let parsed = call(&[
            "tcp://x",
            "add",
            "-1",
            "-2.5",
            r#"{"a":1}"#,
            "--framing",
            "length-prefix-2",
        ]);
        let expected = [
            Value::from(-1),
            Value::from(-2.5),
            serde_json::json!({"a": 1}),
        ];
        assert_eq!(parsed.values, expected);
        assert_eq!(parsed.framing, Framing::LengthPrefix2);
        let escaped = call(&["http://x/", "echo", "--", "--named", "-x"]);
        assert_eq!(escaped.values, [Value::from("--named"), Value::from("-x")]);
        assert!(!escaped.named);
    }

    #[test]
    fn a_repeated_flag_keeps_its_last_value() {
        let parsed = call(&["--token", "a", "http://x/", "m", "--token", "b"]);
        assert_eq!(parsed.token.as_deref(), Some("b"));
    }

    #[test]
    fn origins_add_up_and_metrics_move() {
        let argv = [
            "calculator",
            "serve",
            "--allowed-origin",
            "https://a.example",
            "--metrics",
            "127.0.0.1:0",
            "--allowed-origin",
            "https://b.example",
        ];
        let Command::Serve(serve) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not serve");
        };
        assert_eq!(
            serve.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(serve.metrics.as_deref(), Some("127.0.0.1:0"));
        let Command::Serve(plain) = Cli::try_parse_from(["calculator", "serve"])
            .unwrap()
            .command
        else {
            panic!("not serve");
        };
        assert!(plain.allowed_origins.is_empty() && plain.metrics.is_none());
    }

    #[test]
    fn usage_errors() {
        for argv in [
            &["calculator"][..],
            &["calculator", "call", "http://x/"],
            &["calculator", "call", "http://x/", "m", "--timeout-ms", "x"],
            &["calculator", "call", "http://x/", "m", "--framing", "bogus"],
            &["calculator", "call", "http://x/", "m", "-x"],
            &["calculator", "serve", "--bogus"],
            &["calculator", "serve", "extra"],
        ] {
            let error = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{argv:?}: {error}");
        }
    }
}
