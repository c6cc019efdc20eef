//! What keeps outsiders from starving the daemon, independent of the HTTP framework: the
//! open-file limit raised at start, a cap on concurrent API connections that leaves
//! descriptors for the store and the Azure clients, the header/idle/body timeouts the HTTP
//! layer applies, and an accept loop that backs off on errors and logs each cause at most once
//! a second (with a count of the lines it held back).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// A client must send a request's whole header within this; it is also how long a kept-alive
/// connection may sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body (at most `MAX_BODY`) must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Descriptors kept back for everything but the API: the store (sled's log, snapshots, blobs,
/// the sidecar and the syncs that open the directory), stdio, the runtime, logs.
const RESERVED_BASE: u64 = 64;
/// Per step in flight: an ARM connection and a token or DNS lookup beside it.
const RESERVED_PER_STEP: u64 = 2;
/// Never fewer API connections than this, however low the limit.
const MIN_TCP: usize = 8;
const MIN_UNIX: usize = 4;
/// Past this many connections more would only cost memory.
const MAX_TCP: usize = 4096;
const MAX_UNIX: usize = 256;
/// Accept errors: first pause, doubling up to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// One log line per cause per this.
const LOG_EVERY: Duration = Duration::from_secs(1);
/// Connections the kernel completes and queues for the TCP listener while every slot is taken
/// (they hold no descriptor of ours). Larger than the usual 128, so a burst of clients waits
/// its turn instead of having its SYNs dropped.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Listen on `addr` with [`LISTEN_BACKLOG`].
pub fn bind_tcp(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The open-file limit after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    pub soft: u64,
    pub hard: u64,
}

/// Raise the soft `RLIMIT_NOFILE` to the hard one (a service manager's default soft limit,
/// 1024, is what an idle-connection flood exhausts). Returns the limit now in force.
pub fn raise_nofile() -> io::Result<Nofile> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // An unlimited hard limit: the kernel still caps at nr_open; 1 Mi is plenty.
    let target = lim.rlim_max.min(1 << 20);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = target;
        } else {
            tracing::warn!(error = %io::Error::last_os_error(), "could not raise RLIMIT_NOFILE");
        }
    }
    Ok(Nofile {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// How many API connections each listener may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub tcp: usize,
    pub unix: usize,
    /// Descriptors left to the store, the Azure clients and the rest.
    pub reserved: u64,
}

impl Budget {
    /// The TCP listener (unauthenticated clients can reach it) gets three quarters of what is
    /// left after the reserve; the owner-only socket keeps its own quarter, so a TCP flood
    /// never holds up `failback list`.
    pub fn for_limit(nofile: u64, max_steps: usize) -> Self {
        let reserved = RESERVED_BASE + RESERVED_PER_STEP * max_steps as u64;
        let api = usize::try_from(nofile.saturating_sub(reserved)).unwrap_or(usize::MAX);
        Self {
            tcp: (api / 4 * 3).clamp(MIN_TCP, MAX_TCP),
            unix: (api / 4).clamp(MIN_UNIX, MAX_UNIX),
            reserved,
        }
    }
}

/// One listener's counters, for `/metrics`.
#[derive(Debug)]
pub struct ListenerStats {
    pub name: &'static str,
    pub limit: usize,
    permits: Arc<Semaphore>,
    pub accepted: AtomicU64,
    pub accept_errors: AtomicU64,
}

impl ListenerStats {
    pub fn new(name: &'static str, limit: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            limit,
            permits: Arc::new(Semaphore::new(limit)),
            accepted: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limit - self.permits.available_permits()
    }
}

/// A listener, whatever its transport.
pub trait Acceptor: Send + 'static {
    type Stream: Send + 'static;
    fn accept_one(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Acceptor for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Acceptor for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

/// Accept until `stop`, at most `stats.limit` connections at once: while all are taken,
/// nothing is accepted (new clients wait in the kernel's backlog, holding none of our
/// descriptors). `serve` gets each connection with the permit it must hold until it ends.
pub async fn accept_loop<A: Acceptor>(
    listener: A,
    stats: Arc<ListenerStats>,
    stop: CancellationToken,
    mut serve: impl FnMut(A::Stream, OwnedSemaphorePermit),
) {
    let mut backoff = Backoff::new(stats.name);
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = stats.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept_one() => a,
        };
        match accepted {
            Ok(stream) => {
                backoff.reset();
                stats.accepted.fetch_add(1, Relaxed);
                serve(stream, permit);
            }
            Err(e) => {
                drop(permit);
                stats.accept_errors.fetch_add(1, Relaxed);
                let pause = backoff.failed(&e, Instant::now());
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Pauses after accept errors and their rate-limited log lines.
pub struct Backoff {
    listener: &'static str,
    delay: Duration,
    /// Per cause: when it was last logged, and how many lines were held back since.
    logged: HashMap<String, (Instant, u64)>,
}

impl Backoff {
    pub fn new(listener: &'static str) -> Self {
        Self {
            listener,
            delay: Duration::ZERO,
            logged: HashMap::new(),
        }
    }

    pub fn reset(&mut self) {
        self.delay = Duration::ZERO;
    }

    /// Note a failed accept at `now`; returns how long to pause before the next one.
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> Duration {
        self.delay = if self.delay.is_zero() {
            BACKOFF_FIRST
        } else {
            (self.delay * 2).min(BACKOFF_MAX)
        };
        let cause = match e
            .raw_os_error()
            .and_then(failback_state::failure::errno_name)
        {
            Some(name) => name.to_owned(),
            None => format!("{:?}", e.kind()),
        };
        if let Some(held_back) = self.should_log(&cause, now) {
            tracing::warn!(
                listener = self.listener,
                cause = %cause,
                error = %e,
                suppressed = held_back,
                retry_in_ms = self.delay.as_millis() as u64,
                "accepting an API connection failed"
            );
        }
        self.delay
    }

    /// `Some(lines held back since the last one)` when `cause` may be logged at `now`.
    fn should_log(&mut self, cause: &str, now: Instant) -> Option<u64> {
        match self.logged.get_mut(cause) {
            Some((last, held)) if now.duration_since(*last) < LOG_EVERY => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                self.logged.insert(cause.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_the_reserve_and_splits_the_rest() {
        let b = Budget::for_limit(1024, 64);
        assert_eq!(b.reserved, 192);
        assert_eq!((b.tcp, b.unix), (624, 208));
        let low = Budget::for_limit(256, 64);
        assert_eq!((low.tcp, low.unix), (48, 16));
        let tiny = Budget::for_limit(100, 64);
        assert_eq!((tiny.tcp, tiny.unix), (MIN_TCP, MIN_UNIX));
        let huge = Budget::for_limit(1 << 20, 64);
        assert_eq!((huge.tcp, huge.unix), (MAX_TCP, MAX_UNIX));
    }

    #[test]
    fn accept_errors_back_off_and_log_once_a_second_per_cause() {
        let mut b = Backoff::new("tcp");
        let t0 = Instant::now();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let delays: Vec<_> = (0..9).map(|_| b.failed(&emfile, t0)).collect();
        assert_eq!(delays[0], BACKOFF_FIRST);
        assert_eq!(delays[1], BACKOFF_FIRST * 2);
        assert_eq!(delays[8], BACKOFF_MAX);
        // 9 failures within the same second: only the first was logged.
        assert_eq!(
            b.should_log("EMFILE", t0 + Duration::from_millis(500)),
            None
        );
        assert_eq!(b.should_log("EMFILE", t0 + LOG_EVERY), Some(9));
        // Another cause has its own budget.
        assert_eq!(b.should_log("ENFILE", t0 + LOG_EVERY), Some(0));
        b.reset();
        assert_eq!(b.failed(&emfile, t0), BACKOFF_FIRST);
    }
}
