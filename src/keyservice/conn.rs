//! The key service's accepted connections, bounded: at most [`Limits::max_connections`]
//! at once (a connection over the limit is closed as soon as it is accepted), a
//! connection that sends nothing within [`Limits::first_bytes`] or stays silent for
//! [`Limits::idle`] is closed, one that delivers no whole request within
//! [`Limits::between_requests`] of connecting or of its last request's answer is closed
//! however many bytes it trickles (no slot held by a byte a second), and an accept that fails for want of resources (no file
//! descriptors left) is retried after [`ACCEPT_BACKOFF`] instead of at once, which would
//! spin a core until a descriptor frees up.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;
use tokio::time::Instant;
use tokio::time::Sleep;

/// How long to wait before accepting again after an accept failed for want of resources.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are closed when accepted.
    pub max_connections: usize,
    /// Time a new connection has to send its first bytes (the HTTP/2 preface).
    pub first_bytes: Duration,
    /// Time a connection may go without reading or writing a byte, a request in
    /// progress included (a `--prompt` question waiting that long is answered with an
    /// error).
    pub idle: Duration,
    /// Time a connection has, from connecting or from its last answer, to deliver a
    /// whole request (headers and message) when none is being handled: bytes alone do
    /// not extend it.
    pub between_requests: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            first_bytes: Duration::from_secs(10),
            idle: Duration::from_secs(600),
            between_requests: Duration::from_secs(30),
        }
    }
}

/// A listener that can accept one connection.
pub(super) trait Accept {
    /// The connection.
    type Io;
    /// Accepts one connection, or is pending.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>>;
}

impl Accept for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        tokio::net::TcpListener::poll_accept(self, cx).map_ok(|(s, _)| s)
    }
}

impl Accept for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        tokio::net::UnixListener::poll_accept(self, cx).map_ok(|(s, _)| s)
    }
}

/// Whether an accept error concerns only the one connection (accept again at once), as
/// opposed to the process or the system running out of something.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// The stream of accepted connections handed to the server.
pub(super) struct Incoming<A> {
    listener: A,
    limits: Limits,
    active: Arc<AtomicUsize>,
    backoff: Option<Pin<Box<Sleep>>>,
}

impl<A: Accept> Incoming<A> {
    pub(super) fn new(listener: A, limits: Limits) -> Self {
        Incoming {
            listener,
            limits,
            active: Arc::new(AtomicUsize::new(0)),
            backoff: None,
        }
    }
}

impl<A: Accept + Unpin> tokio_stream::Stream for Incoming<A> {
    type Item = io::Result<Bounded<A::Io>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(wait) = this.backoff.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.backoff = None;
            }
            match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if is_connection_error(&e) => {}
                Poll::Ready(Err(_)) => {
                    this.backoff = Some(Box::pin(tokio::time::sleep(ACCEPT_BACKOFF)));
                }
                Poll::Ready(Ok(io)) => {
                    let before = this.active.fetch_add(1, Ordering::AcqRel);
                    let slot = Slot(Arc::clone(&this.active));
                    if before >= this.limits.max_connections {
                        // Closed at once: dropping the connection and its slot.
                        drop((io, slot));
                        continue;
                    }
                    let between = this.limits.between_requests;
                    return Poll::Ready(Some(Ok(Bounded {
                        io,
                        _slot: slot,
                        idle: this.limits.idle,
                        deadline: Box::pin(tokio::time::sleep(this.limits.first_bytes)),
                        heard: false,
                        progress: Progress::new(),
                        between,
                        progress_deadline: Box::pin(tokio::time::sleep(between)),
                    })));
                }
            }
        }
    }
}

/// One place in the count of connections, given back when the connection closes.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the handlers of one connection's requests tell the connection: how many are
/// being handled, and when the last one was answered. Reaches them as the connection's
/// `ConnectInfo` (in each request's extensions).
#[derive(Debug, Default)]
pub(super) struct Progress {
    handling: AtomicUsize,
    /// Answers given so far (a change moves the deadline).
    answered: AtomicUsize,
}

impl Progress {
    fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// A whole request has arrived and is being handled, until the guard is dropped.
    pub(super) fn handling(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::AcqRel);
        Handling(Arc::clone(self))
    }
}

/// One request being handled (see [`Progress::handling`]).
pub(super) struct Handling(Arc<Progress>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.handling.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's [`Progress`], as the requests see it.
#[derive(Debug, Clone)]
pub(super) struct ConnProgress(pub(super) Arc<Progress>);

/// An accepted connection that times out when silent, or when it delivers no request.
pub(super) struct Bounded<Io> {
    io: Io,
    _slot: Slot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Whether the client has sent a byte: until then only its bytes end the
    /// first-bytes deadline (the server writes its HTTP/2 settings at once).
    heard: bool,
    progress: Arc<Progress>,
    between: Duration,
    /// When the connection must have delivered a request (none being handled).
    progress_deadline: Pin<Box<Sleep>>,
}

impl<Io> Bounded<Io> {
    fn touched(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn read_some(&mut self) {
        self.heard = true;
        self.touched();
    }

    /// A write's outcome: bytes written count as activity once the client has spoken;
    /// pending, the deadline applies.
    fn after_write(
        &mut self,
        r: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                if self.heard && matches!(r, Ok(n) if n > 0) {
                    self.touched();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.pending_or_expired(cx),
        }
    }

    /// Pending from the connection: an error once the silence deadline has passed, or
    /// the request deadline with no request delivered.
    fn pending_or_expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was silent for too long",
            )));
        }
        self.request_overdue(cx)
    }

    /// An error once [`Limits::between_requests`] has passed since the connection was
    /// accepted or last answered with no request being handled meanwhile; pending
    /// otherwise (the timer registered).
    fn request_overdue<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            if self.progress_deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let answered = self.progress.answered.swap(0, Ordering::AcqRel);
            if answered == 0 && self.progress.handling.load(Ordering::Acquire) == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection delivered no request in time",
                )));
            }
            // A request answered or being handled since: a new period (polled once so
            // that the timer wakes this connection).
            let next = Instant::now() + self.between;
            self.progress_deadline.as_mut().reset(next);
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Bounded<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.read_some();
                }
                // Bytes arriving do not excuse a connection that delivers no request.
                if let Poll::Ready(Err(e)) = self.request_overdue::<()>(cx) {
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.pending_or_expired(cx),
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Bounded<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.after_write(r, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.after_write(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<Io> tonic::transport::server::Connected for Bounded<Io> {
    type ConnectInfo = ConnProgress;
    fn connect_info(&self) -> Self::ConnectInfo {
        ConnProgress(Arc::clone(&self.progress))
    }
}
