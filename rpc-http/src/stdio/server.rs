//! Serving on the process's own stdin and stdout.

use std::io::{self, Write};
use std::os::fd::AsFd;

use rpc_core::codec::Framing;
use rpc_core::duplex::DuplexConnection;
use rpc_core::{Context, Dispatcher, MethodTable, TransportKind};

use super::{Input, Output};
use crate::shutdown::DEFAULT_GRACE;
use crate::tcp::{connect_stream, StreamOptions};
use crate::Shutdown;

/// Serves one duplex connection on the process's own stdin and stdout: a
/// language server, an MCP-style tool server, a helper process.
///
/// Stdout carries frames only. Starting moves the real stdout out of
/// reach: file descriptor 1 then points at stderr, so a stray `println!`
/// (from a handler or a dependency) lands in the log instead of corrupting
/// the stream, and stdin is replaced by `/dev/null` so that nothing else
/// reads the peer's bytes. When stdin closes, the calls in flight are
/// answered (for up to 30 s), then [`run`](Self::run) returns.
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_core::codec::Framing;
/// rpc_http::stdio::StdioServer::new(methods)
///     .with_framing(Framing::ContentLength)
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct StdioServer {
    dispatcher: Dispatcher,
    options: StreamOptions,
    shutdown: Option<Shutdown>,
}

impl StdioServer {
    /// A server for `methods`, newline framing.
    pub fn new(methods: MethodTable) -> Self {
        StdioServer::from_dispatcher(Dispatcher::new(methods))
    }

    /// A server for a dispatcher set up beforehand (limits, layers, metrics).
    pub fn from_dispatcher(dispatcher: Dispatcher) -> Self {
        let mut options = StreamOptions {
            // The peer starts us and may say nothing for a long while.
            first_message_timeout: None,
            ..StreamOptions::default()
        };
        // After stdin closes, the calls in flight get a shutdown's grace.
        options.duplex.half_close_grace = DEFAULT_GRACE;
        StdioServer {
            dispatcher,
            options,
            shutdown: None,
        }
    }

    /// How messages are delimited (`Framing::ContentLength` for LSP).
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.options.framing = framing;
        self
    }

    /// Framing, timeouts and engine settings at once.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// Drains on `shutdown` (SIGTERM, say, with [`Shutdown::on_signals`]):
    /// new calls are refused, those in flight answered, then `run` returns.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Takes stdin and stdout and starts serving; the connection is the
    /// handle for calling the peer (`rpc::Client::new(connection)`).
    pub fn start(self) -> io::Result<DuplexConnection> {
        let (input, output) = take_stdio()?;
        Ok(connect_stream(
            tokio::io::join(input, output),
            &self.options,
            self.dispatcher,
            Context::new().with(TransportKind::Stdio),
            None,
        ))
    }

    /// Serves until stdin closes (and the calls in flight are answered) or
    /// the shutdown has drained the connection.
    pub async fn run(mut self) -> io::Result<()> {
        let shutdown = self.shutdown.take();
        let connection = self.start()?;
        match shutdown {
            Some(shutdown) => shutdown.follow(&connection).await,
            None => connection.closed().await,
        }
        Ok(())
    }
}

/// The process's stdin and stdout as async streams, with descriptors 0 and
/// 1 pointed elsewhere (`/dev/null`, stderr) so that nothing else reads or
/// writes the peer's stream.
fn take_stdio() -> io::Result<(Input, Output)> {
    io::stdout().flush()?;
    let stdin = io::stdin().as_fd().try_clone_to_owned()?;
    let stdout = io::stdout().as_fd().try_clone_to_owned()?;
    rustix::stdio::dup2_stdout(io::stderr())?;
    rustix::stdio::dup2_stdin(std::fs::File::open("/dev/null")?)?;
    Ok((Input::new(stdin)?, Output::new(stdout)?))
}
