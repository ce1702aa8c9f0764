//! The Unix socket server.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rpc_core::codec::Framing;
use rpc_core::duplex::Connections;
use rpc_core::{Context, MethodTable, PeerCredentials, TransportKind};
use tokio::net::UnixListener;
use tokio_util::task::TaskTracker;

use crate::listener::Listener;
use crate::settings::{settings_methods, Settings};
use crate::tcp::{Serving, StreamOptions};
use crate::Shutdown;

/// The mode of a new socket file: read and write for its owner only.
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;

/// Configures and builds a JSON-RPC server on a Unix domain socket, with
/// the TCP server's protocol and defaults (framing, caps, timeouts, drain).
///
/// ```no_run
/// # async fn demo(methods: rpc_core::MethodTable) -> std::io::Result<()> {
/// use rpc_http::unix::UnixServer;
/// let server = UnixServer::new(methods).bind("/run/user/1000/app.sock").await?;
/// println!("listening on unix://{}", server.path().display());
/// server.run().await // removes the socket file when it ends
/// # }
/// ```
#[derive(Clone)]
pub struct UnixServer {
    settings: Settings,
    options: StreamOptions,
    mode: u32,
}

impl std::fmt::Debug for UnixServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixServer")
            .field("mode", &format_args!("{:o}", self.mode))
            .finish_non_exhaustive()
    }
}

impl UnixServer {
    /// A server for `methods` with newline framing, an owner-only socket
    /// file and safe defaults.
    pub fn new(methods: MethodTable) -> Self {
        UnixServer {
            settings: Settings::new(methods),
            options: StreamOptions::default(),
            mode: DEFAULT_SOCKET_MODE,
        }
    }

    settings_methods!();

    /// How messages are delimited.
    pub fn with_framing(mut self, framing: Framing) -> Self {
        self.options.framing = framing;
        self
    }

    /// Framing, timeouts and engine settings at once.
    pub fn with_options(mut self, options: StreamOptions) -> Self {
        self.options = options;
        self
    }

    /// The permission bits of the socket file (default
    /// [`DEFAULT_SOCKET_MODE`], `0o600`): who may connect. `0o660` lets the
    /// file's group in too.
    pub fn with_mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Creates the socket file at `path` and listens on it; call
    /// [`UnixListening::run`] to serve.
    ///
    /// A socket file left by a server that is gone is replaced; one a live
    /// server answers on is refused ([`io::ErrorKind::AddrInUse`]), and so
    /// is a path that is not a socket ([`io::ErrorKind::AlreadyExists`]).
    /// The file has the mode set with [`with_mode`](Self::with_mode) before
    /// the socket listens, so nobody else can connect in between.
    pub async fn bind(self, path: impl AsRef<Path>) -> io::Result<UnixListening> {
        let path = std::path::absolute(path.as_ref())?;
        remove_stale(&path).await?;
        let listener = listen(&path, self.mode)?;
        let identity = std::fs::metadata(&path).map(|m| (m.dev(), m.ino()))?;
        let dispatcher = self.settings.dispatcher();
        let Settings {
            max_connections,
            connections,
            shutdown,
            ..
        } = self.settings;
        Ok(UnixListening {
            listener: Listener::new(listener, max_connections, None),
            socket: SocketFile { path, identity },
            serving: Serving {
                dispatcher,
                options: self.options,
                connections,
                shutdown,
            },
        })
    }
}

/// Makes room for a new socket at `path`: removes a socket file no server
/// answers on; refuses a live one, or anything that is not a socket.
async fn remove_stale(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match tokio::net::UnixStream::connect(path).await {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another server is listening on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path)
        }
        Err(e) => Err(e),
    }
}

/// Binds `path`, sets its mode, and only then listens.
fn listen(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    let listening = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .and_then(|()| socket.listen(1024))
        .and_then(|()| socket.set_nonblocking(true));
    if let Err(e) = listening {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    UnixListener::from_std(std::os::unix::net::UnixListener::from(
        std::os::fd::OwnedFd::from(socket),
    ))
}

/// The socket file this server made, removed when the server ends (unless
/// something else has taken its path meanwhile).
struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file made.
    identity: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound Unix socket server, ready to run.
pub struct UnixListening {
    listener: Listener<UnixListener>,
    socket: SocketFile,
    serving: Serving,
}

impl std::fmt::Debug for UnixListening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListening")
            .field("path", &self.socket.path)
            .finish_non_exhaustive()
    }
}

impl UnixListening {
    /// The socket file's absolute path.
    pub fn path(&self) -> &Path {
        &self.socket.path
    }

    /// The registry of this server's open connections.
    pub fn connections(&self) -> &Connections {
        &self.serving.connections
    }

    /// The shutdown this server drains on; [`Shutdown::trigger`] stops it.
    pub fn shutdown(&self) -> &Shutdown {
        &self.serving.shutdown
    }

    /// Serves until the shutdown has drained every connection (or its grace
    /// period is over), then removes the socket file.
    pub async fn run(self) -> io::Result<()> {
        let UnixListening {
            mut listener,
            socket,
            serving,
        } = self;
        let tracker = TaskTracker::new();
        while let Some((stream, _)) = listener.accept(serving.shutdown.draining_token()).await {
            let mut context = Context::new().with(TransportKind::Unix);
            if let Ok(cred) = stream.get_ref().peer_cred() {
                context.insert(PeerCredentials {
                    uid: cred.uid(),
                    gid: cred.gid(),
                    pid: cred.pid(),
                });
            }
            tracker.spawn(serving.start(stream, context));
        }
        // New clients are refused from here on: the file goes first.
        drop(socket);
        drop(listener);
        serving.shutdown.wait_for(tracker).await;
        Ok(())
    }
}
