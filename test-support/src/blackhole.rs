//! [`Blackhole`]: an address where TCP connects hang instead of failing.

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    time::Duration,
};

use socket2::{Domain, Protocol, Socket, Type};

/// How long a probe connect may take before the accept queue counts as full.
/// A connect on loopback that is answered completes in microseconds.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// Connects beyond this many mean the kernel is not dropping SYNs as expected.
const MAX_FILLERS: usize = 64;

/// An address on `127.0.0.1` where TCP connect attempts neither complete nor
/// fail: for connect-timeout tests.
///
/// It is a listener with a backlog of zero that never accepts, whose accept
/// queue this struct fills with its own connections. Linux then drops further
/// SYNs, and a client keeps retransmitting for about two minutes (with the
/// default `tcp_syn_retries`). The effect lasts as long as the value lives.
pub struct Blackhole {
    addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

impl std::fmt::Debug for Blackhole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blackhole")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Blackhole {
    /// Creates the blackhole. It blocks the calling thread for about 100 ms
    /// while it proves the accept queue is full (one connect must time out).
    ///
    /// # Panics
    ///
    /// If the socket cannot be set up, or if connects keep succeeding (a kernel
    /// that does not drop SYNs on a full accept queue).
    pub fn bind() -> Self {
        let (listener, addr) = listen().expect("setting up the blackhole listener");
        let mut fillers = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
                Ok(stream) => {
                    fillers.push(stream);
                    assert!(
                        fillers.len() < MAX_FILLERS,
                        "the kernel keeps completing connects to a listener that never accepts"
                    );
                }
                // A timeout before anything was queued cannot be the full queue.
                Err(error) if error.kind() == io::ErrorKind::TimedOut && !fillers.is_empty() => {
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
                Err(error) => panic!("filling the blackhole's accept queue: {error}"),
            }
        }
        Self {
            addr,
            _listener: listener,
            _fillers: fillers,
        }
    }

    /// The address where connects hang.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr)
    }
}

fn listen() -> io::Result<(Socket, SocketAddr)> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(0)?;
    let addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("an IPv4 socket has an IPv4 address"))?;
    Ok((socket, addr))
}
