//! The duplex engine on a framed byte stream.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{stream, SinkExt, Stream, StreamExt};
use rpc_core::codec::{Framing, StreamCodec};
use rpc_core::duplex::{Connections, DuplexConfig, DuplexConnection, Frame, Incoming, RunningHold};
use rpc_core::{code, Context, Dispatcher, ErrorObject};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::codec::{FramedRead, FramedWrite};

/// How long a new connection may stay silent before its first message, and
/// how long a message that has started arriving may take to arrive whole,
/// by default: 10 s, the HTTP server's header read timeout.
pub const DEFAULT_MESSAGE_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of a stream connection, for both servers and clients.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// How messages are delimited (default: newline).
    pub framing: Framing,
    /// Engine settings (in-flight limit, queue size; keep-alive does not apply to streams).
    pub duplex: DuplexConfig,
    /// How long a new connection may send nothing before it is closed
    /// (silently: it never spoke). Default
    /// [`DEFAULT_MESSAGE_READ_TIMEOUT`]; `None`: as long as it likes.
    ///
    /// For the side that waits to be spoken to: the clients of this crate
    /// ([`connect`](super::connect), [`endpoint`](super::endpoint)) ignore
    /// it, since a server speaks only when asked; a client made with
    /// [`connect_stream`] should set it to `None`.
    pub first_message_timeout: Option<Duration>,
    /// How long a message may take to arrive once its first byte has: past
    /// it, the peer is answered error -32097 and the connection closes
    /// (with it what the message had buffered). Silence between messages is
    /// fine, however long (an idle subscriber). Default
    /// [`DEFAULT_MESSAGE_READ_TIMEOUT`]; `None`: as long as it takes.
    pub partial_message_timeout: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            framing: Framing::Newline,
            duplex: DuplexConfig {
                keep_alive: None,
                ..DuplexConfig::default()
            },
            first_message_timeout: Some(DEFAULT_MESSAGE_READ_TIMEOUT),
            partial_message_timeout: Some(DEFAULT_MESSAGE_READ_TIMEOUT),
        }
    }
}

impl StreamOptions {
    /// Options with the given framing and defaults otherwise.
    pub fn framing(framing: Framing) -> Self {
        StreamOptions {
            framing,
            ..StreamOptions::default()
        }
    }
}

/// Runs the duplex engine on any byte stream: answers the peer's requests
/// through `dispatcher`, and returns the handle for calling the peer.
///
/// Messages longer than the dispatcher's
/// [`max_message_bytes`](rpc_core::Limits::max_message_bytes) (or than the
/// framing can carry) are refused with an error, then the connection closes;
/// so are messages that do not arrive within the options' timeouts. A peer
/// that stops writing (end of file, a TCP half-close) still gets the answers
/// to the calls it sent that finish within
/// [`DuplexConfig::half_close_grace`], then the connection closes.
pub fn connect_stream<S>(
    io: S,
    options: &StreamOptions,
    dispatcher: Dispatcher,
    context: Context,
    registry: Option<&Connections>,
) -> DuplexConnection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let max = dispatcher.limits().max_message_bytes;
    let (read, write) = tokio::io::split(io);
    let incoming = InTime::new(
        FramedRead::new(Metered::new(read), StreamCodec::new(options.framing, max)),
        options.first_message_timeout,
        options.partial_message_timeout,
        registry.map(Connections::hold_running),
    );
    // A byte stream carries messages only: pings and close frames write nothing.
    let outgoing =
        FramedWrite::new(write, StreamCodec::new(options.framing, max)).with_flat_map(|frame| {
            stream::iter(match frame {
                Frame::Message(bytes) => Some(Ok(bytes)),
                Frame::Ping | Frame::Close { .. } => None,
            })
        });
    let mut config = options.duplex.clone();
    // A byte stream has no pings: no keep-alive deadline either.
    config.keep_alive = None;
    if let Some(cap) = options.framing.max_message() {
        config.max_message = Some(config.max_message.map_or(cap, |max| max.min(cap)));
    }
    DuplexConnection::spawn(
        Box::pin(incoming),
        Box::pin(outgoing),
        dispatcher,
        context,
        registry,
        config,
    )
}

/// The calling side of a byte stream: the duplex engine without the
/// first-message timeout (a server speaks only when asked), serving
/// `methods` to the peer, its context naming the transport.
#[cfg(feature = "client")]
pub(crate) fn client_stream<S>(
    io: S,
    options: &StreamOptions,
    methods: rpc_core::MethodTable,
    transport: rpc_core::TransportKind,
) -> DuplexConnection
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let options = StreamOptions {
        first_message_timeout: None,
        ..options.clone()
    };
    connect_stream(
        io,
        &options,
        Dispatcher::new(methods),
        Context::new().with(transport),
        None,
    )
}

/// What a read that failed (a frame the codec refused, an I/O error) tells the peer.
fn frame_error(e: &io::Error) -> ErrorObject {
    let unreadable_headers = e
        .get_ref()
        .is_some_and(|inner| inner.is::<rpc_core::codec::HeaderError>());
    let code = if unreadable_headers {
        // Even one over the size limit: the block itself is what is wrong.
        code::PARSE_ERROR
    } else if e.kind() == io::ErrorKind::InvalidData {
        code::REQUEST_TOO_LARGE
    } else {
        code::PARSE_ERROR
    };
    ErrorObject::new(code, format!("Invalid frame: {e}"))
}

/// What the timer of [`InTime`] is running for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaited {
    /// Anything at all, on a connection that has sent nothing yet.
    FirstMessage,
    /// The rest of a message whose first bytes are buffered.
    Rest(Duration),
}

/// The messages of a byte stream, for the engine, cut off when they do not
/// arrive in time: a connection that sends nothing within its first-message
/// timeout ends (silently), a message that has started arriving must be
/// whole within the partial-message timeout (else an error, then the end).
/// Silence between messages is never cut off. The clocks run only while the
/// engine waits for the peer (never while it pauses reading itself), and
/// the end of the stream is [`Incoming::Finished`]: the peer's calls in
/// flight are still answered.
///
/// What is buffered counts against the server's running bytes (the
/// registry's budget): while they are spent, a message that has started
/// arriving is read no further (its clock still runs), so that peers
/// sending large messages slowly cannot add up to more than the budget; a
/// connection with nothing buffered reads on (small messages still go).
struct InTime<R> {
    frames: FramedRead<Metered<R>, StreamCodec>,
    partial_message: Option<Duration>,
    /// What the timer runs for; `None`: it does not run.
    awaited: Option<Awaited>,
    timer: Pin<Box<Sleep>>,
    ended: bool,
    /// The buffered bytes, held against the server's running bytes.
    hold: Option<RunningHold>,
    /// Set while a partial message waits for room in that budget.
    room: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<R> InTime<R> {
    fn new(
        frames: FramedRead<Metered<R>, StreamCodec>,
        first_message: Option<Duration>,
        partial_message: Option<Duration>,
        hold: Option<RunningHold>,
    ) -> Self {
        InTime {
            frames,
            partial_message,
            awaited: first_message.map(|_| Awaited::FirstMessage),
            timer: Box::pin(tokio::time::sleep(first_message.unwrap_or_default())),
            ended: false,
            hold,
            room: None,
        }
    }

    /// Holds what is buffered now; whether a partial message must wait for
    /// room before more of it is read.
    fn account(&mut self) -> bool {
        let buffered = self.frames.read_buffer().len();
        let Some(hold) = &mut self.hold else {
            return false;
        };
        hold.set(buffered);
        if buffered > 0 && hold.spent() {
            self.room = Some(Box::pin(hold.room()));
            return true;
        }
        false
    }

    /// Starts, keeps or stops the timer for what is buffered now.
    fn arm(&mut self) {
        let partial = !self.frames.read_buffer().is_empty();
        match (self.awaited, partial) {
            (Some(Awaited::Rest(_)), true) | (Some(Awaited::FirstMessage), false) => {}
            (_, true) => {
                // A message has started arriving: its clock starts now.
                self.awaited = self.partial_message.map(Awaited::Rest);
                if let Some(limit) = self.partial_message {
                    self.timer.as_mut().reset(Instant::now() + limit);
                }
            }
            (_, false) => self.awaited = None,
        }
    }

    /// The end of a connection whose peer ran out of time.
    fn expire(&mut self, awaited: Awaited) -> Option<Result<Incoming, ErrorObject>> {
        self.ended = true;
        // What the message had buffered goes now, not when the engine lets go.
        *self.frames.read_buffer_mut() = BytesMut::new();
        self.account();
        match awaited {
            Awaited::FirstMessage => {
                tracing::debug!("closing a connection that sent nothing in time");
                None
            }
            Awaited::Rest(limit) => {
                tracing::debug!(
                    ?limit,
                    "closing a connection whose message did not arrive in time"
                );
                Some(Err(ErrorObject::new(
                    code::REQUEST_TIMEOUT,
                    format!("Message not received within {} ms", limit.as_millis()),
                )))
            }
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for InTime<R> {
    type Item = Result<Incoming, ErrorObject>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        // A partial message waiting for room reads nothing meanwhile.
        let waiting = match &mut this.room {
            Some(room) => room.as_mut().poll(cx).is_pending(),
            None => false,
        };
        if !waiting {
            this.room = None;
            if let Some(item) = this.read(cx) {
                return Poll::Ready(item);
            }
        }
        this.arm();
        let Some(awaited) = this.awaited else {
            return Poll::Pending;
        };
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(this.expire(awaited))
    }
}

impl<R: AsyncRead + Unpin> InTime<R> {
    /// Polls the frames: an item for the engine, or `None` while waiting
    /// (for the peer, or for room).
    fn read(&mut self, cx: &mut TaskContext<'_>) -> Option<Option<Result<Incoming, ErrorObject>>> {
        self.frames.get_mut().allow(READ_SLICE);
        match self.frames.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // Whatever comes next is timed afresh, once the engine asks for it.
                self.awaited = None;
                // What is left buffered (the start of the next message).
                if self.account() {
                    // Nothing waits on the room yet: look again at once.
                    cx.waker().wake_by_ref();
                }
                return Some(Some(Ok(Incoming::Message(frame.freeze()))));
            }
            Poll::Ready(Some(Err(e))) => {
                self.ended = true;
                return Some(Some(Err(frame_error(&e))));
            }
            Poll::Ready(None) => {
                self.ended = true;
                return Some(Some(Ok(Incoming::Finished)));
            }
            Poll::Pending => {}
        }
        if self.frames.get_mut().exhausted() {
            // More may be waiting in the socket: read it on the next poll,
            // once what is buffered is accounted for.
            cx.waker().wake_by_ref();
        }
        if self.account() {
            // Registered with the budget: woken when room frees.
            if let Some(room) = &mut self.room {
                if room.as_mut().poll(cx).is_ready() {
                    self.room = None;
                    cx.waker().wake_by_ref();
                }
            }
        }
        None
    }
}

/// Most bytes read from a byte stream between two looks at the budget of
/// running bytes: 64 KiB.
const READ_SLICE: usize = 64 * 1024;

/// A reader that reads at most an allowance between two looks at the
/// budget (the codec would otherwise read all the socket holds at once),
/// then waits to be allowed more.
struct Metered<R> {
    inner: R,
    allowance: usize,
    exhausted: bool,
}

impl<R> Metered<R> {
    fn new(inner: R) -> Self {
        Metered {
            inner,
            allowance: READ_SLICE,
            exhausted: false,
        }
    }

    fn allow(&mut self, bytes: usize) {
        self.allowance = bytes;
        self.exhausted = false;
    }

    /// Whether a read was held back for want of allowance.
    fn exhausted(&self) -> bool {
        self.exhausted
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Metered<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.allowance == 0 {
            // The owner wakes the task (it saw `exhausted`).
            this.exhausted = true;
            return Poll::Pending;
        }
        let read = if buf.remaining() <= this.allowance {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            buf.filled().len() - before
        } else {
            let mut slice = ReadBuf::new(buf.initialize_unfilled_to(this.allowance));
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut slice))?;
            let read = slice.filled().len();
            buf.advance(read);
            read
        };
        this.allowance -= read.min(this.allowance);
        Poll::Ready(Ok(()))
    }
}
