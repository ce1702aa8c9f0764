//! JSON-RPC over standard input and output, as language servers and tool
//! servers speak it: [`StdioServer`] serves one connection on the process's
//! own stdin/stdout, and [`spawn`] calls a child process over its
//! stdin/stdout. Both are duplex connections (either side may call the
//! other, `$/cancelRequest` included), in any
//! [`Framing`](rpc_core::codec::Framing) (`content-length` for LSP).

#[cfg(feature = "client")]
mod child;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
use pipe_or_file::{Input, Output};

#[cfg(feature = "client")]
pub use child::{spawn, ChildConnection, CHILD_EXIT_WAIT};
#[cfg(feature = "server")]
pub use server::StdioServer;

/// A stdio stream: the pipe end tokio polls when it is a pipe (the usual
/// case under a parent process), else a blocking file on tokio's blocking
/// threads (a terminal, a regular file).
#[cfg(feature = "server")]
mod pipe_or_file {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileTypeExt;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::unix::pipe;

    /// The reading end.
    pub(crate) enum Input {
        Pipe(pipe::Receiver),
        File(tokio::fs::File),
    }

    impl Input {
        pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
            let file = std::fs::File::from(fd);
            if file.metadata()?.file_type().is_fifo() {
                return Ok(Input::Pipe(pipe::Receiver::from_file(file)?));
            }
            Ok(Input::File(tokio::fs::File::from_std(file)))
        }
    }

    /// The writing end.
    pub(crate) enum Output {
        Pipe(pipe::Sender),
        File(tokio::fs::File),
    }

    impl Output {
        pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
            let file = std::fs::File::from(fd);
            if file.metadata()?.file_type().is_fifo() {
                return Ok(Output::Pipe(pipe::Sender::from_file(file)?));
            }
            Ok(Output::File(tokio::fs::File::from_std(file)))
        }
    }

    impl AsyncRead for Input {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Input::Pipe(p) => Pin::new(p).poll_read(cx, buf),
                Input::File(f) => Pin::new(f).poll_read(cx, buf),
            }
        }
    }

    impl AsyncWrite for Output {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match self.get_mut() {
                Output::Pipe(p) => Pin::new(p).poll_write(cx, buf),
                Output::File(f) => Pin::new(f).poll_write(cx, buf),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Output::Pipe(p) => Pin::new(p).poll_flush(cx),
                Output::File(f) => Pin::new(f).poll_flush(cx),
            }
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Output::Pipe(p) => Pin::new(p).poll_shutdown(cx),
                Output::File(f) => Pin::new(f).poll_shutdown(cx),
            }
        }
    }
}
