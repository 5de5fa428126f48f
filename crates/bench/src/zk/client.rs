//! A minimal ZooKeeper client over TCP: just enough of the wire protocol
//! to open a session, create PERSISTENT znodes, ping and close, plus the
//! four-letter words. One request in flight per connection (the driver is
//! a closed loop), so replies are matched by xid in order.
//!
//! The jute encoding is big-endian: `int` 4 bytes, `long` 8, `boolean` 1,
//! `buffer`/`ustring` an `int` length then the bytes, `vector` an `int`
//! count then the items. Every packet is framed by an `int` length. The
//! encoders and decoders are pure functions over byte vectors.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `OpCode.create`.
const OP_CREATE: i32 = 1;
/// `OpCode.ping`.
const OP_PING: i32 = 11;
/// `OpCode.closeSession`.
const OP_CLOSE: i32 = -11;
/// The xid the server uses for ping replies.
const PING_XID: i32 = -2;
/// The xid of watch notifications (never asked for here, skipped if seen).
const NOTIFICATION_XID: i32 = -1;
/// `ZooDefs.Perms.ALL` (READ|WRITE|CREATE|DELETE|ADMIN).
const PERMS_ALL: i32 = 31;
/// `CreateMode.PERSISTENT`.
const FLAGS_PERSISTENT: i32 = 0;
/// Error code of `KeeperException.NodeExistsException`.
pub const NODE_EXISTS: i32 = -110;
/// Largest frame accepted from a server (jute.maxbuffer is 1 MiB too).
const MAX_FRAME: usize = 1 << 20;
/// Bound on connecting and on the session handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Jute encoder.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn int(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn long(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn boolean(&mut self, v: bool) -> &mut Self {
        self.0.push(u8::from(v));
        self
    }
    fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.0.extend_from_slice(v);
        self
    }
    fn string(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }
    /// The packet behind its `int` length prefix.
    fn framed(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(self.0.len() + 4);
        f.extend_from_slice(&(self.0.len() as i32).to_be_bytes());
        f.extend_from_slice(&self.0);
        f
    }
}

/// Jute decoder over one packet.
struct In<'a>(&'a [u8]);

impl In<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.0.len() < n {
            bail!("short packet: wanted {n} more bytes, have {}", self.0.len());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn int(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn long(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into()?))
    }
    fn buffer(&mut self) -> Result<Vec<u8>> {
        let n = self.int()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(n as usize)?.to_vec())
    }
}

/// `ConnectRequest` for a new session (no previous zxid, no session id,
/// a 16-byte zero password, not read-only), framed.
fn encode_connect(timeout_ms: i32) -> Vec<u8> {
    let mut o = Out::default();
    o.int(0)
        .long(0)
        .int(timeout_ms)
        .long(0)
        .buffer(&[0; 16])
        .boolean(false);
    o.framed()
}

/// `ConnectResponse`: (negotiated timeout ms, session id). A timeout ≤ 0
/// means the server refused the session.
fn decode_connect_response(p: &[u8]) -> Result<(i32, i64)> {
    let mut i = In(p);
    let _protocol_version = i.int()?;
    let timeout = i.int()?;
    let session = i.long()?;
    let _passwd = i.buffer()?;
    Ok((timeout, session))
}

/// `RequestHeader` + `CreateRequest` with OPEN_ACL_UNSAFE (world:anyone,
/// all permissions), PERSISTENT, framed.
fn encode_create(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).int(OP_CREATE);
    o.string(path).buffer(data);
    o.int(1).int(PERMS_ALL).string("world").string("anyone");
    o.int(FLAGS_PERSISTENT);
    o.framed()
}

/// A `RequestHeader` alone (ping, closeSession), framed.
fn encode_header(xid: i32, op: i32) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).int(op);
    o.framed()
}

/// `ReplyHeader`: (xid, zxid, err).
fn decode_reply_header(p: &[u8]) -> Result<(i32, i64, i32)> {
    let mut i = In(p);
    Ok((i.int()?, i.long()?, i.int()?))
}

/// Name of a ZooKeeper error code, for messages.
pub fn code_name(err: i32) -> &'static str {
    match err {
        0 => "Ok",
        -1 => "SystemError",
        -4 => "ConnectionLoss",
        -5 => "MarshallingError",
        -6 => "Unimplemented",
        -7 => "OperationTimeout",
        -8 => "BadArguments",
        -13 => "NewConfigNoQuorum",
        -14 => "ReconfigInProgress",
        -101 => "NoNode",
        -102 => "NoAuth",
        -108 => "NoChildrenForEphemerals",
        NODE_EXISTS => "NodeExists",
        -112 => "SessionExpired",
        -118 => "SessionMoved",
        -119 => "NotReadOnly",
        _ => "Unknown",
    }
}

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
            .write_all(&encode_connect(session_timeout.as_millis() as i32))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_bytes() {
        let f = encode_connect(10_000);
        // length, protocolVersion, lastZxidSeen, timeOut, sessionId, passwd(16), readOnly
        let body_len = 4 + 8 + 4 + 8 + (4 + 16) + 1;
        assert_eq!(f.len(), 4 + body_len);
        assert_eq!(&f[..4], &(body_len as i32).to_be_bytes());
        assert_eq!(&f[4 + 4 + 8..4 + 4 + 8 + 4], &10_000i32.to_be_bytes());
        assert_eq!(&f[4 + 24..4 + 28], &16i32.to_be_bytes());
        assert_eq!(*f.last().unwrap(), 0);
    }

    #[test]
    fn create_request_bytes() {
        let f = encode_create(7, "/a", b"xy");
        let mut want = Vec::new();
        for part in [
            &7i32.to_be_bytes()[..],
            &1i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            b"/a",
            &2i32.to_be_bytes(),
            b"xy",
            &1i32.to_be_bytes(),
            &31i32.to_be_bytes(),
            &5i32.to_be_bytes(),
            b"world",
            &6i32.to_be_bytes(),
            b"anyone",
            &0i32.to_be_bytes(),
        ] {
            want.extend_from_slice(part);
        }
        assert_eq!(&f[4..], &want[..]);
        assert_eq!(&f[..4], &(want.len() as i32).to_be_bytes());
    }

    #[test]
    fn replies_decode() {
        let mut p = Out::default();
        p.int(0)
            .int(10_000)
            .long(0x1234)
            .buffer(&[9; 16])
            .boolean(false);
        assert_eq!(decode_connect_response(&p.0).unwrap(), (10_000, 0x1234));
        let mut r = Out::default();
        r.int(3).long(0x1_0000_0005).int(NODE_EXISTS);
        assert_eq!(decode_reply_header(&r.0).unwrap(), (3, 0x1_0000_0005, -110));
        assert!(decode_reply_header(&r.0[..10]).is_err());
        assert_eq!(code_name(NODE_EXISTS), "NodeExists");
    }
}
