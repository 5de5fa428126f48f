//! The listening sockets corral's HTTP servers accept on.
//!
//! Owns: the accept backlog. tokio binds with a backlog of 1,024; a leader
//! answering 1,000 agents and a busy framework at once overflowed it, and a
//! client whose SYN was dropped retried after 1, 3, 7, 15, 31 s (the
//! kernel's backoff), which showed as launches arriving 30 s late.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Connections waiting to be accepted (the kernel caps it at
/// `net.core.somaxconn`, 4,096 by default).
pub const BACKLOG: u32 = 4096;

/// Listens on `addr` (`ip:port`) with [`BACKLOG`], reusing the address as
/// tokio's own `bind` does.
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} is not IP:PORT: {e}"),
        )
    })?;
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listens_and_refuses_what_is_not_an_address() {
        let l = listen("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (connected, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
        assert!(connected.is_ok() && accepted.is_ok());
        let e = listen("localhost:80").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("IP:PORT"), "{e}");
    }
}
