//! What a server's WebSocket reads through: tungstenite keeps a read
//! buffer of its own for the connection's whole life and zeroes it before
//! each read, so it is kept small ([`super::SERVER_READ_BUFFER`]); this
//! reader reads larger pieces of the socket for it while bytes keep coming,
//! and holds them only while they do.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at a time while it has more than tungstenite
/// asks for (a large message, messages sent together): 4 KiB, what
/// tungstenite read at a time when its own buffer was that large. (16 KiB
/// and 64 KiB were no faster on 1 MiB and 4 MiB messages, and their buffers,
/// taken and given back between large ones, raised the peak memory of four
/// connections echoing 1 MiB by 2 MiB.)
pub(crate) const READ_AHEAD: usize = 4 * 1024;

/// A socket whose reads go straight into the caller's buffer while they fit
/// in it; once one fills it, the next ones go through a buffer of
/// [`READ_AHEAD`] bytes, dropped as soon as the socket has nothing more: an
/// idle connection holds none.
#[derive(Debug)]
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Read from the socket and not yet taken; no allocation while idle.
    buffered: BytesMut,
    /// The last read from the socket filled what it was given: more may be
    /// waiting, read ahead.
    busy: bool,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            buffered: BytesMut::new(),
            busy: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buffered.is_empty() {
            let wanted = out.remaining();
            if !this.busy || wanted >= READ_AHEAD {
                let before = out.filled().len();
                let read = Pin::new(&mut this.inner).poll_read(cx, out);
                let filled = out.filled().len() - before;
                this.busy = matches!(read, Poll::Ready(Ok(()))) && wanted > 0 && filled == wanted;
                // Nothing buffered, and nothing to buffer: let go of it.
                this.buffered = BytesMut::new();
                return read;
            }
            this.buffered.reserve(READ_AHEAD);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buffered) {
                // An end of file (0 bytes) reads as one: nothing put in `out`.
                Poll::Ready(Ok(_)) => {}
                // The socket has nothing more for now (or failed).
                other => {
                    this.busy = false;
                    this.buffered = BytesMut::new();
                    return other.map_ok(|_| ());
                }
            }
        }
        let taken = out.remaining().min(this.buffered.len());
        out.put_slice(&this.buffered[..taken]);
        this.buffered.advance(taken);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// What one read of at most `wanted` bytes gives now; `None` when the
    /// socket has nothing for now.
    fn read_now<S: AsyncRead + Unpin>(reader: &mut ReadAhead<S>, wanted: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; wanted];
        let n = reader.read(&mut buf).now_or_never()?.unwrap();
        buf.truncate(n);
        Some(buf)
    }

    #[tokio::test]
    async fn reads_that_fit_go_straight_through_and_hold_nothing() {
        let (mut peer, socket) = tokio::io::duplex(1 << 20);
        let mut reader = ReadAhead::new(socket);
        peer.write_all(&[7; 66]).await.unwrap();
        assert_eq!(read_now(&mut reader, 256).unwrap(), vec![7; 66]);
        assert!(!reader.busy);
        assert_eq!(read_now(&mut reader, 256), None);
        assert_eq!(reader.buffered.capacity(), 0);
    }

    #[tokio::test]
    async fn a_read_that_fills_the_buffer_reads_ahead_and_lets_go_once_the_socket_is_empty() {
        let (mut peer, socket) = tokio::io::duplex(1 << 20);
        let mut reader = ReadAhead::new(socket);
        let sent: Vec<u8> = (0..3 * READ_AHEAD as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        peer.write_all(&sent).await.unwrap();
        let mut got = read_now(&mut reader, 256).unwrap();
        assert_eq!(got.len(), 256);
        assert_eq!(
            reader.buffered.capacity(),
            0,
            "the first read went straight through"
        );
        got.extend(read_now(&mut reader, 256).unwrap());
        assert_eq!(
            reader.buffered.len(),
            READ_AHEAD - 256,
            "then one read of the socket"
        );
        while let Some(more) = read_now(&mut reader, 256) {
            got.extend(more);
        }
        assert_eq!(got, sent);
        assert_eq!(
            reader.buffered.capacity(),
            0,
            "let go once the socket had nothing more"
        );
        // An end of file still reads as one.
        drop(peer);
        assert_eq!(read_now(&mut reader, 256), Some(Vec::new()));
    }

    #[tokio::test]
    async fn bytes_come_out_whole_and_in_order_however_they_are_written_and_read() {
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
        for (write, read) in [(1, 1), (13, 256), (300, 7), (20_000, 256), (70_000, 5000)] {
            let (mut peer, socket) = tokio::io::duplex(1 << 20);
            let mut reader = ReadAhead::new(socket);
            let mut got = Vec::new();
            for chunk in sent.chunks(write) {
                peer.write_all(chunk).await.unwrap();
                while let Some(more) = read_now(&mut reader, read) {
                    got.extend(more);
                }
            }
            assert_eq!(
                got, sent,
                "written {write} at a time, read {read} at a time"
            );
        }
    }
}
