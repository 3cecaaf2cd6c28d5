//! A TCP proxy that delays every byte by a fixed time each way, so the bench
//! scripts can put a server "far away" (a desktop 20–50 ms from its servers) for
//! Ferry and for the tools it is compared with alike. Bandwidth is not limited:
//! only distance is added, as on a WAN with a wide pipe.
//!
//!   delay_proxy ONE_WAY_MS LISTEN_PORT:UPSTREAM_PORT [LISTEN_PORT:UPSTREAM_PORT …]
//!
//! Listens on 127.0.0.1, connects to 127.0.0.1:UPSTREAM_PORT for each client, and
//! prints `ready` once every port listens. Data read at instant t is written at
//! t + ONE_WAY_MS in the order read, so a round trip costs 2 × ONE_WAY_MS and a
//! stream keeps its throughput (up to the buffered window below).
//!
//! With `DELAY_PROXY_TRACE=FILE` every read from a client is written to FILE as
//! `ms-since-start connection-id bytes command-byte first-bytes` (the MySQL
//! command and the start of its SQL), so a run's round trips in series can be counted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Buffers in flight per direction: at most this × `READ_SIZE` bytes (64 MiB), a
/// window wide enough for 1 GB/s at 50 ms.
const IN_FLIGHT: usize = 1024;
const READ_SIZE: usize = 64 * 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "usage: delay_proxy ONE_WAY_MS LISTEN_PORT:UPSTREAM_PORT …",
        )
    };
    let delay_ms: u64 = args.next().and_then(|a| a.parse().ok()).ok_or_else(usage)?;
    let delay = Duration::from_millis(delay_ms);
    let mut listeners = Vec::new();
    for pair in args {
        let (listen, upstream) = pair.split_once(':').ok_or_else(usage)?;
        let listen: u16 = listen.parse().map_err(|_| usage())?;
        let upstream: u16 = upstream.parse().map_err(|_| usage())?;
        listeners.push((TcpListener::bind(("127.0.0.1", listen)).await?, upstream));
    }
    if listeners.is_empty() {
        return Err(usage());
    }
    println!("ready");
    let (trace, started) = (trace(), Instant::now());
    let mut tasks = Vec::new();
    for (listener, upstream) in listeners {
        let trace = trace.clone();
        tasks.push(tokio::spawn(accept(
            listener, upstream, delay, trace, started,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

/// Where client reads are traced (see the module's comment), shared by every pipe.
type Trace = Option<std::sync::Arc<std::sync::Mutex<std::fs::File>>>;

fn trace() -> Trace {
    let path = std::env::var_os("DELAY_PROXY_TRACE")?;
    let file = std::fs::File::create(path).ok()?;
    Some(std::sync::Arc::new(std::sync::Mutex::new(file)))
}

fn note(trace: &Trace, started: Instant, conn: u64, buf: &[u8]) {
    let Some(file) = trace else { return };
    // A MySQL packet: 3 bytes of length, a sequence number, then the command.
    let body = buf.get(4..).unwrap_or_default();
    let text: String = body
        .iter()
        .take(90)
        .map(|&b| {
            if (32..127).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    if let Ok(mut f) = file.lock() {
        use std::io::Write;
        // The command byte in hex too: 0e is a ping, 1f a reset, 16/17 a
        // statement's prepare/execute.
        let _ = writeln!(
            f,
            "{:9.1} {conn:4} {:7} {:02x} {text}",
            started.elapsed().as_secs_f64() * 1000.0,
            buf.len(),
            body.first().copied().unwrap_or(0)
        );
    }
}

/// `trace` and `started` are shared by every listener: one file, one clock.
async fn accept(
    listener: TcpListener,
    upstream: u16,
    delay: Duration,
    trace: Trace,
    started: Instant,
) {
    let mut next = 0u64;
    while let Ok((client, _)) = listener.accept().await {
        next += 1;
        let (conn, trace) = (next + u64::from(upstream) * 1000, trace.clone());
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            // Small packets (a query, an OK) must not wait for Nagle on top of the delay.
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let client_side = move |buf: &[u8]| note(&trace, started, conn, buf);
            tokio::spawn(pipe(cr, sw, delay, client_side));
            tokio::spawn(pipe(sr, cw, delay, |_: &[u8]| {}));
        });
    }
}

/// One direction: a reader stamps each buffer with its due time, a writer sends it
/// then. EOF or an error on either side closes the other side's write half.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    seen: impl Fn(&[u8]) + Send + 'static,
) {
    if delay.is_zero() {
        // Nothing to hold back: each read is written at once from the same task,
        // so "0 ms" costs the tools no hand-off between tasks (a wake-up and a
        // context switch per buffer, which took a third of a core on the copy).
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen(&buf[..n]);
                    if to.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown().await;
        return;
    }
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; READ_SIZE];
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.truncate(n);
                    seen(&buf);
                    if tx.send((Instant::now() + delay, buf)).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, buf)) = rx.recv().await {
            // Only a buffer not yet due waits: tokio's timer rounds a deadline up
            // to its next millisecond, so even a due one would wait up to 1 ms,
            // which at 0 ms added would charge every round trip a delay it asked
            // not to have.
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if to.write_all(&buf).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
