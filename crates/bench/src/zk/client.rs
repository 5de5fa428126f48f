//! A minimal ZooKeeper client over TCP: just enough of the wire protocol
//! to open a session, create PERSISTENT znodes, ping and close, plus the
//! four-letter words. One request in flight per connection (the driver is
//! a closed loop), so replies are matched by xid in order.
//!
//! The jute encoding lives in `corral_api::zk` (corral's own ZooKeeper-
//! compatible leader detection speaks it too).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use corral_api::zk::{
    code_name, decode_connect_response, decode_reply_header, encode_create, encode_header,
    ConnectRequest, MAX_FRAME, NODE_EXISTS, NOTIFICATION_XID, OP_CLOSE, OP_PING, PING_XID,
};

/// Bound on connecting and on the session handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A failed request: the server's error code.
#[derive(Debug)]
pub struct ZkError {
    pub op: &'static str,
    pub path: String,
    pub code: i32,
}

impl std::fmt::Display for ZkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} ({})",
            self.op,
            self.path,
            code_name(self.code),
            self.code
        )
    }
}

impl std::error::Error for ZkError {}

/// One session over one TCP connection.
pub struct ZkConn {
    stream: TcpStream,
    peer: SocketAddr,
    next_xid: i32,
    pub session_id: i64,
    pub timeout_ms: i32,
}

impl ZkConn {
    /// Connects and opens a new session asking for `session_timeout`.
    pub async fn connect(addr: SocketAddr, session_timeout: Duration) -> Result<ZkConn> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::handshake(addr, session_timeout))
            .await
            .with_context(|| format!("zookeeper {addr}: no session within {CONNECT_TIMEOUT:?}"))?
    }

    async fn handshake(addr: SocketAddr, session_timeout: Duration) -> Result<ZkConn> {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream
            .write_all(&ConnectRequest::new_session(
                session_timeout.as_millis() as i32
            ))
            .await?;
        let p = read_frame(&mut stream)
            .await
            .with_context(|| format!("zookeeper {addr}: session handshake"))?;
        let (timeout_ms, session_id) = decode_connect_response(&p)?;
        if timeout_ms <= 0 {
            bail!("zookeeper {addr} refused the session (negotiated timeout {timeout_ms})");
        }
        Ok(ZkConn {
            stream,
            peer: addr,
            next_xid: 1,
            session_id,
            timeout_ms,
        })
    }

    /// Creates a PERSISTENT znode at `path` holding `data`.
    pub async fn create(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let xid = self.xid();
        let (_zxid, err) = self.call(xid, &encode_create(xid, path, data)).await?;
        if err != 0 {
            return Err(ZkError {
                op: "create",
                path: path.to_string(),
                code: err,
            }
            .into());
        }
        Ok(())
    }

    /// Creates `path` unless it exists.
    pub async fn ensure(&mut self, path: &str) -> Result<()> {
        match self.create(path, b"").await {
            Err(e)
                if e.downcast_ref::<ZkError>()
                    .is_some_and(|z| z.code == NODE_EXISTS) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// A ping round trip: the server is serving this session.
    pub async fn ping(&mut self) -> Result<()> {
        let (_zxid, err) = self
            .call(PING_XID, &encode_header(PING_XID, OP_PING))
            .await?;
        if err != 0 {
            bail!("ping {}: {}", self.peer, code_name(err));
        }
        Ok(())
    }

    /// Ends the session (so the server need not wait for it to expire).
    pub async fn close(mut self) -> Result<()> {
        let xid = self.xid();
        self.call(xid, &encode_header(xid, OP_CLOSE))
            .await
            .map(|_| ())
    }

    fn xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    /// Sends one framed request and reads replies until the one for `xid`;
    /// returns (zxid, err).
    async fn call(&mut self, xid: i32, framed: &[u8]) -> Result<(i64, i32)> {
        self.stream
            .write_all(framed)
            .await
            .with_context(|| format!("send to {}", self.peer))?;
        loop {
            let p = read_frame(&mut self.stream)
                .await
                .with_context(|| format!("reply from {}", self.peer))?;
            let (got, zxid, err) = decode_reply_header(&p)?;
            if got == NOTIFICATION_XID {
                continue;
            }
            if got != xid {
                bail!("reply from {} for xid {got}, expected {xid}", self.peer);
            }
            return Ok((zxid, err));
        }
    }
}

async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .await
        .context("connection closed")?;
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > MAX_FRAME {
        bail!("bad frame length {len}");
    }
    let mut p = vec![0u8; len as usize];
    stream
        .read_exact(&mut p)
        .await
        .context("connection closed mid-frame")?;
    Ok(p)
}

/// Sends a four-letter word (`srvr`, `mntr`, …) and returns the whole answer.
pub async fn four_letter(addr: SocketAddr, word: &str) -> Result<String> {
    let ask = async {
        let mut s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        s.write_all(word.as_bytes()).await?;
        let mut text = String::new();
        s.read_to_string(&mut text).await?;
        anyhow::Ok(text)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, ask)
        .await
        .with_context(|| format!("{word} to {addr} timed out"))?
}
