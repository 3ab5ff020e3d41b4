//! Misbehaving HTTP/1.1 servers, small and exact, for the run's edges: each
//! answers like a healthy server except for its one fault, counts the requests
//! it read (the server's side of the story) and stops by itself after 30 s.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a fixture lives at most: no test can leave one behind.
const LIFETIME: Duration = Duration::from_secs(30);

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The one thing a fixture does wrong.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Accepts connections, reads requests, never answers.
    Stall,
    /// Answers normally for this long after it starts, then never again.
    StallAfter(Duration),
    /// Sends the head and the first body byte at once, the last one this much later.
    SlowBody(Duration),
    /// Reads each request and resets the connection (RST, no answer).
    Reset,
    /// Answers every request with bytes that are not HTTP.
    Garbage,
}

/// A running fixture.
pub struct Faulty {
    pub url: String,
    received: Arc<AtomicU64>,
}

impl Faulty {
    pub fn start(fault: Fault) -> Faulty {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a fixture");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        thread::spawn(move || {
            let started = Instant::now();
            listener.set_nonblocking(true).unwrap();
            while started.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let counter = Arc::clone(&counter);
                        thread::spawn(move || serve(stream, fault, started, &counter));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Faulty { url, received }
    }

    /// Request heads the server read in full.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

/// One connection: read request heads (no bodies: the tests send GETs) and
/// answer each as the fault says.
fn serve(mut stream: TcpStream, fault: Fault, started: Instant, received: &AtomicU64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < LIFETIME {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(err) if is_timeout(&err) => continue,
            Err(_) => return,
        }
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            pending.drain(..end + 4);
            received.fetch_add(1, Ordering::SeqCst);
            if !answer(&mut stream, fault, started) {
                return;
            }
        }
    }
}

/// Answer one request; false when the connection is done.
fn answer(stream: &mut TcpStream, fault: Fault, started: Instant) -> bool {
    match fault {
        Fault::Stall => hold(started),
        Fault::StallAfter(healthy) if started.elapsed() >= healthy => hold(started),
        Fault::StallAfter(_) => stream.write_all(OK).is_ok(),
        Fault::SlowBody(delay) => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no";
            if stream.write_all(head).is_err() {
                return false;
            }
            thread::sleep(delay);
            stream.write_all(b"k").is_ok()
        }
        Fault::Reset => {
            reset(stream);
            false
        }
        Fault::Garbage => stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").is_ok(),
    }
}

/// Keep the connection open and silent until the fixture's end.
fn hold(started: Instant) -> bool {
    thread::sleep(LIFETIME.saturating_sub(started.elapsed()));
    false
}

/// Close with RST instead of FIN: SO_LINGER with a zero timeout.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
