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

/// A stdio stream as tokio can poll it: a pipe or a socket (what a parent
/// process usually hands over; node's `child_process` uses socket pairs),
/// else (a terminal, a regular file) a reader thread of its own, so that a
/// read blocked on a terminal never holds up the runtime's shutdown.
#[cfg(feature = "server")]
mod pipe_or_file {
    use std::io::{self, Read};
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileTypeExt;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::unix::pipe;
    use tokio::net::UnixStream;
    use tokio::sync::mpsc;

    /// The reading end.
    pub(crate) enum Input {
        Pipe(pipe::Receiver),
        Socket(UnixStream),
        Thread(ThreadReader),
    }

    impl Input {
        pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
            let file = std::fs::File::from(fd);
            let kind = file.metadata()?.file_type();
            if kind.is_fifo() {
                return Ok(Input::Pipe(pipe::Receiver::from_file(file)?));
            }
            if kind.is_socket() {
                return socket(OwnedFd::from(file)).map(Input::Socket);
            }
            Ok(Input::Thread(ThreadReader::spawn(file)))
        }
    }

    /// The writing end.
    pub(crate) enum Output {
        Pipe(pipe::Sender),
        Socket(UnixStream),
        File(tokio::fs::File),
    }

    impl Output {
        pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
            let file = std::fs::File::from(fd);
            let kind = file.metadata()?.file_type();
            if kind.is_fifo() {
                return Ok(Output::Pipe(pipe::Sender::from_file(file)?));
            }
            if kind.is_socket() {
                return socket(OwnedFd::from(file)).map(Output::Socket);
            }
            Ok(Output::File(tokio::fs::File::from_std(file)))
        }
    }

    fn socket(fd: OwnedFd) -> io::Result<UnixStream> {
        let socket = std::os::unix::net::UnixStream::from(fd);
        socket.set_nonblocking(true)?;
        UnixStream::from_std(socket)
    }

    /// Reads a file on a thread of its own, a chunk at a time.
    pub(crate) struct ThreadReader {
        chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
        chunk: Vec<u8>,
        at: usize,
    }

    impl ThreadReader {
        fn spawn(mut file: std::fs::File) -> Self {
            // One chunk in the channel: the thread reads ahead no further.
            let (sender, chunks) = mpsc::channel(1);
            std::thread::spawn(move || loop {
                let mut chunk = vec![0; 64 * 1024];
                let read = match file.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        Ok(chunk)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = read.is_err();
                if sender.blocking_send(read).is_err() || failed {
                    return;
                }
            });
            ThreadReader {
                chunks,
                chunk: Vec::new(),
                at: 0,
            }
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
                Input::Socket(s) => Pin::new(s).poll_read(cx, buf),
                Input::Thread(t) => {
                    if t.at == t.chunk.len() {
                        match t.chunks.poll_recv(cx) {
                            Poll::Pending => return Poll::Pending,
                            // The end of the file: nothing put in `buf`.
                            Poll::Ready(None) => return Poll::Ready(Ok(())),
                            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                            Poll::Ready(Some(Ok(chunk))) => {
                                t.chunk = chunk;
                                t.at = 0;
                            }
                        }
                    }
                    let n = buf.remaining().min(t.chunk.len() - t.at);
                    buf.put_slice(&t.chunk[t.at..t.at + n]);
                    t.at += n;
                    Poll::Ready(Ok(()))
                }
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
                Output::Socket(s) => Pin::new(s).poll_write(cx, buf),
                Output::File(f) => Pin::new(f).poll_write(cx, buf),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Output::Pipe(p) => Pin::new(p).poll_flush(cx),
                Output::Socket(s) => Pin::new(s).poll_flush(cx),
                Output::File(f) => Pin::new(f).poll_flush(cx),
            }
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Output::Pipe(p) => Pin::new(p).poll_shutdown(cx),
                Output::Socket(s) => Pin::new(s).poll_shutdown(cx),
                Output::File(f) => Pin::new(f).poll_shutdown(cx),
            }
        }
    }
}
