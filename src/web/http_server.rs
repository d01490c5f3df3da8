//! The HTTP server: an accept loop of our own around the warp routes, so that what one
//! client can hold is bounded.
//!
//! - At most [`Limits::max_connections`] connections are served at once. A connection
//!   beyond that waits up to [`Limits::wait_for_slot`] for one to free (a burst of quick
//!   requests, a browser opening six at once), and is closed if none does; at most
//!   [`Limits::max_waiting`] wait, any further one is closed at once. Waiting briefly
//!   rather than refusing at once absorbs bursts without an error; waiting only briefly
//!   keeps a siege from queueing sockets and work behind it.
//! - A request's head must arrive within [`Limits::header_timeout`]; hyper also applies
//!   this limit to a kept-alive connection waiting for its next request, so it is the idle
//!   limit too. A head is at most [`Limits::max_head`] bytes (431 beyond).
//! - A connection on which no byte moves either way for [`Limits::stall_timeout`] is
//!   closed: a client that stops reading its answer or sending its body. A live event
//!   stream (`/api/events`) sends a keep-alive comment every 15 s, so it is never stalled
//!   and may stay open for hours. Request bodies have their own time limit where they are
//!   read (`hooks`); every other route answers without reading a body, and hyper then
//!   closes the connection rather than wait for the rest.
//! - HTTP/1.1 only: reverse proxies speak it to their upstreams, and one protocol is one
//!   set of limits to get right.
//!
//! On shutdown the listener is closed, every connection is asked to finish the answer it
//! is writing and close, and the server returns once all have, or after
//! [`Limits::shutdown_grace`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::http::Request;

/// What the server allows each client; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_waiting: usize,
    pub wait_for_slot: Duration,
    pub header_timeout: Duration,
    pub max_head: usize,
    pub stall_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // Below the 1024 open files a systemd service gets by default, with room for
            // the database, the repository and outgoing requests.
            max_connections: 512,
            max_waiting: 256,
            wait_for_slot: Duration::from_millis(250),
            // Browsers and proxies send a head in one go; 10 s covers a slow mobile link.
            header_timeout: Duration::from_secs(10),
            // Cookies and credentials of a dashboard fit many times over.
            max_head: 64 * 1024,
            // Four keep-alive comments of the event stream missed.
            stall_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Connections the kernel may hold for the accept loop (capped by `net.core.somaxconn`,
/// 4096 on current Linux). A burst of a thousand connections (a siege, many dashboards
/// reconnecting after a restart) overflows a shorter queue, and the kernel then drops new
/// connections, a person's among them, who waits a whole second for the retry.
const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with a queue of [`LISTEN_BACKLOG`] connections.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std's bind does on Unix: a restart may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The address of the client a request came from, in every request's extensions (read it
/// with `warp::ext::optional::<ClientAddr>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Serves `service` (from `warp::service(routes)`) on `listener` until `shutdown`
/// resolves, then finishes as the module documentation says.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<
            Request<Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let waiting = Arc::new(Semaphore::new(limits.max_waiting));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => Slot::Now(slot),
            Err(_) => match waiting.clone().try_acquire_owned() {
                Ok(turn) => Slot::Wait(slots.clone(), turn),
                Err(_) => {
                    tracing::debug!(%peer, "connection limit reached; closed at once");
                    continue;
                }
            },
        };
        let connection = Connection {
            service: service.clone(),
            peer,
            limits,
            watcher: graceful.watcher(),
        };
        tokio::spawn(async move {
            if let Some(_slot) = slot.acquire(limits.wait_for_slot).await {
                connection.run(stream).await;
            } else {
                tracing::debug!(%peer, "connection limit reached; closed after waiting");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {:?} after shutdown began; leaving them",
            limits.shutdown_grace
        );
    }
}

/// A connection's place among the served ones: given at once, or waited for.
enum Slot {
    Now(OwnedSemaphorePermit),
    Wait(Arc<Semaphore>, OwnedSemaphorePermit),
}

impl Slot {
    async fn acquire(self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        match self {
            Slot::Now(slot) => Some(slot),
            Slot::Wait(slots, _turn) => tokio::time::timeout(wait, slots.acquire_owned())
                .await
                .ok()?
                .ok(),
        }
    }
}

/// Out of file descriptors (or another error that is not the client's): log it and give
/// connections a moment to close before accepting again.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}");
    tokio::time::sleep(Duration::from_millis(250)).await;
}

struct Connection<S> {
    service: S,
    peer: SocketAddr,
    limits: Limits,
    watcher: Watcher,
}

impl<S> Connection<S>
where
    S: tower_service::Service<
            Request<Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    async fn run(self, stream: TcpStream) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let service = TowerToHyperService::new(WithClient {
            inner: self.service,
            client: self.peer,
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_header_size(self.limits.max_head);
        let served = self.watcher.watch(http.serve_connection(io, service));
        let peer = self.peer;
        tokio::select! {
            result = served => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
            }
            () = activity.stalled(self.limits.stall_timeout) => {
                tracing::debug!(%peer, "no byte moved for {:?}; closed", self.limits.stall_timeout);
            }
        }
    }
}

/// Puts the client's address into each request before warp sees it.
#[derive(Clone)]
struct WithClient<S> {
    inner: S,
    client: SocketAddr,
}

impl<S, B> tower_service::Service<Request<B>> for WithClient<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        request.extensions_mut().insert(ClientAddr(self.client));
        self.inner.call(request)
    }
}

/// When a byte last moved on a connection.
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `limit`.
    async fn stalled(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A socket that records in [`Activity`] every time bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    fn moved<T>(
        &self,
        result: Poll<io::Result<T>>,
        moved: impl FnOnce(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(Ok(v)) = &result {
            if moved(v) {
                self.activity.touch();
            }
        }
        result
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() > before;
        self.moved(result, |()| read)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.moved(result, |n| *n > 0)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.moved(result, |n| *n > 0)
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
    use super::*;
    use std::io::{Read, Write};
    use warp::Filter;

    /// A server with `limits` whose one route answers after `delay`.
    async fn server(
        limits: Limits,
        delay: Duration,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = warp::any().and(warp::ext::optional::<ClientAddr>()).then(
            move |client: Option<ClientAddr>| async move {
                tokio::time::sleep(delay).await;
                client.map_or("none".to_string(), |c| c.0.ip().to_string())
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, warp::service(routes), limits, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    /// GET / on a fresh connection: the answer's body, or None when the server closed it.
    fn get(addr: SocketAddr) -> Option<String> {
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        answer
            .starts_with("HTTP/1.1 200")
            .then(|| answer.rsplit("\r\n").next().unwrap_or("").to_string())
    }

    fn small(max_connections: usize, max_waiting: usize) -> Limits {
        Limits {
            max_connections,
            max_waiting,
            wait_for_slot: Duration::from_millis(300),
            ..Limits::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_request_knows_its_client() {
        let (addr, _stop) = server(Limits::default(), Duration::ZERO).await;
        let body = tokio::task::spawn_blocking(move || get(addr))
            .await
            .unwrap();
        assert_eq!(body.as_deref(), Some("127.0.0.1"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_limit_a_connection_waits_briefly_then_is_closed() {
        // One slot, one waiting place; each answer takes 200 ms.
        let (addr, _stop) = server(small(1, 1), Duration::from_millis(200)).await;
        let results = tokio::task::spawn_blocking(move || {
            let clients: Vec<_> = (0..3)
                .map(|i| {
                    std::thread::sleep(Duration::from_millis(if i == 0 { 0 } else { 30 }));
                    std::thread::spawn(move || get(addr))
                })
                .collect();
            clients
                .into_iter()
                .map(|c| c.join().unwrap())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        // The first is served; the second waits for its slot (free within 300 ms); the
        // third finds no waiting place and is closed at once.
        assert!(results[0].is_some(), "{results:?}");
        assert!(results[1].is_some(), "{results:?}");
        assert!(results[2].is_none(), "{results:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_waiting_too_long_for_a_slot_is_closed() {
        let (addr, _stop) = server(small(1, 4), Duration::from_millis(1500)).await;
        let results = tokio::task::spawn_blocking(move || {
            let first = std::thread::spawn(move || get(addr));
            std::thread::sleep(Duration::from_millis(100));
            let started = Instant::now();
            let second = get(addr);
            let took = started.elapsed();
            (first.join().unwrap(), second, took)
        })
        .await
        .unwrap();
        assert!(results.0.is_some());
        assert!(results.1.is_none(), "no slot freed within the wait");
        assert!(results.2 < Duration::from_millis(1000), "{:?}", results.2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_live_event_stream_outlives_the_idle_and_stall_limits() {
        let limits = Limits {
            header_timeout: Duration::from_millis(200),
            stall_timeout: Duration::from_millis(400),
            ..Limits::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // No events at all: only the keep-alive comments move bytes.
        let routes = warp::any().map(|| {
            let nothing = futures_util::stream::pending::<Result<warp::sse::Event, Infallible>>();
            warp::sse::reply(
                warp::sse::keep_alive()
                    .interval(Duration::from_millis(100))
                    .stream(nothing),
            )
        });
        tokio::spawn(serve(
            listener,
            warp::service(routes),
            limits,
            std::future::pending(),
        ));
        let (open, received) = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let started = Instant::now();
            let mut received = Vec::new();
            let mut buf = [0u8; 256];
            while started.elapsed() < Duration::from_millis(1500) {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return (false, received),
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
            (true, received)
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&received);
        assert!(open, "the stream was cut: {text}");
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.matches(":\n\n").count() >= 5,
            "keep-alive comments: {text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stalled_connection_is_closed() {
        let limits = Limits {
            stall_timeout: Duration::from_millis(300),
            header_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        let (addr, _stop) = server(limits, Duration::ZERO).await;
        let took = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            let started = Instant::now();
            let mut buf = [0u8; 16];
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = s.read(&mut buf).unwrap_or(0);
            (n, started.elapsed())
        })
        .await
        .unwrap();
        assert_eq!(took.0, 0, "closed without an answer");
        assert!(took.1 < Duration::from_secs(2), "{:?}", took.1);
    }
}
