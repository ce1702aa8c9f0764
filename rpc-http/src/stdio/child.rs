//! Calling a child process over its stdin and stdout.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rpc_core::client::{Answer, BoxFuture, Error, Outgoing, Subscriptions, Transport};
use rpc_core::duplex::DuplexConnection;
use rpc_core::{MethodTable, TransportKind};
use tokio::process::{Child, Command};

use crate::tcp::{client_stream, StreamOptions};

/// How long a child may take to exit once its stdin is closed before it is
/// killed: 5 s.
pub const CHILD_EXIT_WAIT: Duration = Duration::from_secs(5);

/// Spawns `command` and connects to it over its stdin and stdout (its
/// stderr is as `command` says: inherited unless set otherwise). `methods`
/// serves what the child sends this side.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use rpc_core::codec::Framing;
/// use rpc_http::tcp::StreamOptions;
/// let mut command = tokio::process::Command::new("my-language-server");
/// command.arg("--stdio");
/// let child = rpc_http::stdio::spawn(&mut command, &StreamOptions::framing(Framing::ContentLength), rpc_core::MethodTable::new())?;
/// let client = rpc_core::Client::new(child.connection().clone());
/// // ... calls ...
/// child.shutdown().await?; // closes its stdin, waits up to 5 s, else kills it
/// # Ok(()) }
/// ```
pub fn spawn(
    command: &mut Command,
    options: &StreamOptions,
    methods: MethodTable,
) -> io::Result<ChildConnection> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other("the child has no piped stdin or stdout"));
    };
    let connection = client_stream(
        tokio::io::join(stdout, stdin),
        options,
        methods,
        TransportKind::Stdio,
    );
    Ok(ChildConnection {
        connection,
        child: Some(child),
    })
}

/// A connection to a child process, and the process. A
/// [`Transport`] with subscriptions: `rpc::Client::new(child)`. Dropped (or
/// [`shutdown`](Self::shutdown)), it closes the child's stdin, gives it
/// [`CHILD_EXIT_WAIT`] to exit, then kills it.
#[derive(Debug)]
pub struct ChildConnection {
    connection: DuplexConnection,
    child: Option<Child>,
}

impl ChildConnection {
    /// The duplex connection, for calls and notifications to the child.
    pub fn connection(&self) -> &DuplexConnection {
        &self.connection
    }

    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Closes the child's stdin and waits for it to exit (killing it after
    /// [`CHILD_EXIT_WAIT`]); its exit status.
    pub async fn shutdown(mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(child) => end(&self.connection, child).await,
            None => Err(io::Error::other("the child was already ended")),
        }
    }
}

/// Closes the connection (the child's stdin with it), waits, then kills.
async fn end(connection: &DuplexConnection, mut child: Child) -> io::Result<ExitStatus> {
    connection.close();
    match tokio::time::timeout(CHILD_EXIT_WAIT, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                pid = child.id(),
                "the child did not exit within 5 s of its stdin closing: killing it"
            );
            child.kill().await?;
            child.wait().await
        }
    }
}

impl Drop for ChildConnection {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        let connection = self.connection.clone();
        // Without a runtime, `kill_on_drop` ends it at once.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = end(&connection, child).await;
            });
        }
    }
}

impl Transport for ChildConnection {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<Option<Answer>, Error>> {
        self.connection.send(message)
    }

    fn subscriptions(&self) -> Option<&dyn Subscriptions> {
        Some(&self.connection)
    }
}
