//! ZooKeeper's wire protocol (jute), as far as corral speaks it: the
//! encoder and decoder, the session handshake, the read requests a
//! leader-detecting client sends (exists, getData, getChildren[2], sync,
//! setWatches, ping, close), replies, watch notifications and `Stat`.
//!
//! The encoding is big-endian: `int` 4 bytes, `long` 8, `boolean` 1,
//! `buffer`/`ustring` an `int` length then the bytes (-1 for null), `vector`
//! an `int` count then the items. Every packet is framed by an `int` length.
//! Everything here is pure.

/// `OpCode.create`.
pub const OP_CREATE: i32 = 1;
/// `OpCode.exists`.
pub const OP_EXISTS: i32 = 3;
/// `OpCode.getData`.
pub const OP_GET_DATA: i32 = 4;
/// `OpCode.getChildren`.
pub const OP_GET_CHILDREN: i32 = 8;
/// `OpCode.sync`.
pub const OP_SYNC: i32 = 9;
/// `OpCode.ping`.
pub const OP_PING: i32 = 11;
/// `OpCode.getChildren2` (children and the parent's Stat).
pub const OP_GET_CHILDREN2: i32 = 12;
/// `OpCode.setWatches` (sent by Java clients after a reconnect).
pub const OP_SET_WATCHES: i32 = 101;
/// `OpCode.closeSession`.
pub const OP_CLOSE: i32 = -11;
/// The xid of ping requests and replies.
pub const PING_XID: i32 = -2;
/// The xid of watch notifications.
pub const NOTIFICATION_XID: i32 = -1;
/// The xid of auth packets.
pub const AUTH_XID: i32 = -4;
/// `ZooDefs.Perms.ALL` (READ|WRITE|CREATE|DELETE|ADMIN).
pub const PERMS_ALL: i32 = 31;
/// `CreateMode.PERSISTENT`.
pub const FLAGS_PERSISTENT: i32 = 0;

/// Error code of `KeeperException.UnimplementedException`.
pub const UNIMPLEMENTED: i32 = -6;
/// Error code of `KeeperException.MarshallingErrorException`.
pub const MARSHALLING_ERROR: i32 = -5;
/// Error code of `KeeperException.NoNodeException`.
pub const NO_NODE: i32 = -101;
/// Error code of `KeeperException.NodeExistsException`.
pub const NODE_EXISTS: i32 = -110;
/// Error code of `KeeperException.NotReadOnlyException`: a write sent to
/// a server that only reads.
pub const NOT_READ_ONLY: i32 = -119;

/// `Watcher.Event.EventType.NodeCreated`.
pub const EVENT_CREATED: i32 = 1;
/// `Watcher.Event.EventType.NodeDeleted`.
pub const EVENT_DELETED: i32 = 2;
/// `Watcher.Event.EventType.NodeDataChanged`.
pub const EVENT_DATA_CHANGED: i32 = 3;
/// `Watcher.Event.EventType.NodeChildrenChanged`.
pub const EVENT_CHILDREN_CHANGED: i32 = 4;
/// `Watcher.Event.KeeperState.SyncConnected`.
pub const STATE_SYNC_CONNECTED: i32 = 3;

/// Largest frame either side accepts (ZooKeeper's jute.maxbuffer is 1 MiB).
pub const MAX_FRAME: usize = 1 << 20;

/// Name of a ZooKeeper error code, for messages.
pub fn code_name(err: i32) -> &'static str {
    match err {
        0 => "Ok",
        -1 => "SystemError",
        -4 => "ConnectionLoss",
        MARSHALLING_ERROR => "MarshallingError",
        UNIMPLEMENTED => "Unimplemented",
        -7 => "OperationTimeout",
        -8 => "BadArguments",
        -13 => "NewConfigNoQuorum",
        -14 => "ReconfigInProgress",
        NO_NODE => "NoNode",
        -102 => "NoAuth",
        -108 => "NoChildrenForEphemerals",
        NODE_EXISTS => "NodeExists",
        -112 => "SessionExpired",
        -118 => "SessionMoved",
        NOT_READ_ONLY => "NotReadOnly",
        _ => "Unknown",
    }
}

/// A packet that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad ZooKeeper packet: {0}")]
pub struct WireError(pub String);

/// Jute encoder.
#[derive(Debug, Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.0.push(u8::from(v));
        self
    }
    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.int(v.len() as i32);
        self.0.extend_from_slice(v);
        self
    }
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }
    pub fn strings(&mut self, v: &[String]) -> &mut Self {
        self.int(v.len() as i32);
        for s in v {
            self.string(s);
        }
        self
    }
    pub fn stat(&mut self, s: &Stat) -> &mut Self {
        self.long(s.czxid)
            .long(s.mzxid)
            .long(s.ctime)
            .long(s.mtime)
            .int(s.version)
            .int(s.cversion)
            .int(s.aversion)
            .long(s.ephemeral_owner)
            .int(s.data_length)
            .int(s.num_children)
            .long(s.pzxid)
    }
    /// The packet behind its `int` length prefix.
    pub fn framed(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(self.0.len() + 4);
        f.extend_from_slice(&(self.0.len() as i32).to_be_bytes());
        f.extend_from_slice(&self.0);
        f
    }
}

/// Jute decoder over one packet.
#[derive(Debug)]
pub struct In<'a>(pub &'a [u8]);

impl In<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        if self.0.len() < n {
            return Err(WireError(format!(
                "short packet: wanted {n} more bytes, have {}",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn int(&mut self) -> Result<i32, WireError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn long(&mut self) -> Result<i64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    pub fn boolean(&mut self) -> Result<bool, WireError> {
        Ok(self.take(1)?[0] != 0)
    }
    pub fn buffer(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.int()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(n as usize)?.to_vec())
    }
    pub fn string(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.buffer()?).map_err(|_| WireError("a path is not UTF-8".into()))
    }
    pub fn strings(&mut self) -> Result<Vec<String>, WireError> {
        let n = self.int()?;
        if n < 0 || n as usize > self.0.len() {
            return Err(WireError(format!("bad vector length {n}")));
        }
        (0..n).map(|_| self.string()).collect()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A znode's metadata (`Stat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// `ConnectRequest`: a client opening (or resuming) a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: bool,
}

impl ConnectRequest {
    /// A new session asking for `timeout_ms` (no previous zxid or session,
    /// a 16-byte zero password, not read-only), framed.
    pub fn new_session(timeout_ms: i32) -> Vec<u8> {
        let mut o = Out::default();
        o.int(0)
            .long(0)
            .int(timeout_ms)
            .long(0)
            .buffer(&[0; 16])
            .boolean(false);
        o.framed()
    }

    /// Decodes one (the trailing read-only flag is optional, as in ZooKeeper).
    pub fn decode(p: &[u8]) -> Result<ConnectRequest, WireError> {
        let mut i = In(p);
        Ok(ConnectRequest {
            protocol_version: i.int()?,
            last_zxid_seen: i.long()?,
            timeout_ms: i.int()?,
            session_id: i.long()?,
            passwd: i.buffer()?,
            read_only: if i.is_empty() { false } else { i.boolean()? },
        })
    }
}

/// `ConnectResponse`: the negotiated timeout and the session, framed.
pub fn encode_connect_response(timeout_ms: i32, session_id: i64, passwd: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.int(0)
        .int(timeout_ms)
        .long(session_id)
        .buffer(passwd)
        .boolean(false);
    o.framed()
}

/// `ConnectResponse` as a client reads it: (negotiated timeout ms, session
/// id). A timeout ≤ 0 means the server refused the session.
pub fn decode_connect_response(p: &[u8]) -> Result<(i32, i64), WireError> {
    let mut i = In(p);
    let _protocol_version = i.int()?;
    let timeout = i.int()?;
    let session = i.long()?;
    let _passwd = i.buffer()?;
    Ok((timeout, session))
}

/// A request after the handshake, as a server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Ping,
    Close,
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    SetWatches {
        relative_zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    /// An auth packet (accepted and ignored: everything here is readable).
    Auth,
    /// Any other op code: answered with an error.
    Other(i32),
}

/// Decodes a request packet into (xid, op).
pub fn decode_request(p: &[u8]) -> Result<(i32, Op), WireError> {
    let mut i = In(p);
    let xid = i.int()?;
    let kind = i.int()?;
    let path_watch = |i: &mut In| -> Result<(String, bool), WireError> {
        let path = i.string()?;
        let watch = i.boolean()?;
        Ok((path, watch))
    };
    let op = match kind {
        OP_PING => Op::Ping,
        OP_CLOSE => Op::Close,
        OP_EXISTS => {
            let (path, watch) = path_watch(&mut i)?;
            Op::Exists { path, watch }
        }
        OP_GET_DATA => {
            let (path, watch) = path_watch(&mut i)?;
            Op::GetData { path, watch }
        }
        OP_GET_CHILDREN => {
            let (path, watch) = path_watch(&mut i)?;
            Op::GetChildren { path, watch }
        }
        OP_GET_CHILDREN2 => {
            let (path, watch) = path_watch(&mut i)?;
            Op::GetChildren2 { path, watch }
        }
        OP_SYNC => Op::Sync { path: i.string()? },
        OP_SET_WATCHES => Op::SetWatches {
            relative_zxid: i.long()?,
            data: i.strings()?,
            exist: i.strings()?,
            child: i.strings()?,
        },
        _ if xid == AUTH_XID => Op::Auth,
        other => Op::Other(other),
    };
    Ok((xid, op))
}

/// A reply: `ReplyHeader` then `body` (nothing when `err` is not 0), framed.
pub fn encode_reply(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).long(zxid).int(err);
    if err == 0 {
        o.0.extend_from_slice(body);
    }
    o.framed()
}

/// `ReplyHeader` as a client reads it: (xid, zxid, err).
pub fn decode_reply_header(p: &[u8]) -> Result<(i32, i64, i32), WireError> {
    let mut i = In(p);
    Ok((i.int()?, i.long()?, i.int()?))
}

/// A watch notification (`WatcherEvent` behind xid -1), framed.
pub fn encode_notification(event_type: i32, path: &str) -> Vec<u8> {
    let mut o = Out::default();
    o.int(NOTIFICATION_XID).long(-1).int(0);
    o.int(event_type).int(STATE_SYNC_CONNECTED).string(path);
    o.framed()
}

/// `RequestHeader` + `CreateRequest` with OPEN_ACL_UNSAFE (world:anyone,
/// all permissions), PERSISTENT, framed.
pub fn encode_create(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).int(OP_CREATE);
    o.string(path).buffer(data);
    o.int(1).int(PERMS_ALL).string("world").string("anyone");
    o.int(FLAGS_PERSISTENT);
    o.framed()
}

/// A `RequestHeader` alone (ping, closeSession), framed.
pub fn encode_header(xid: i32, op: i32) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).int(op);
    o.framed()
}

/// A `RequestHeader` and a path with its watch flag (exists, getData,
/// getChildren, getChildren2), framed.
pub fn encode_path_request(xid: i32, op: i32, path: &str, watch: bool) -> Vec<u8> {
    let mut o = Out::default();
    o.int(xid).int(op).string(path).boolean(watch);
    o.framed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_bytes() {
        let f = ConnectRequest::new_session(10_000);
        // length, protocolVersion, lastZxidSeen, timeOut, sessionId, passwd(16), readOnly
        let body_len = 4 + 8 + 4 + 8 + (4 + 16) + 1;
        assert_eq!(f.len(), 4 + body_len);
        assert_eq!(&f[..4], &(body_len as i32).to_be_bytes());
        assert_eq!(&f[4 + 4 + 8..4 + 4 + 8 + 4], &10_000i32.to_be_bytes());
        assert_eq!(&f[4 + 24..4 + 28], &16i32.to_be_bytes());
        assert_eq!(*f.last().unwrap(), 0);
        let back = ConnectRequest::decode(&f[4..]).unwrap();
        assert_eq!(back.timeout_ms, 10_000);
        assert_eq!(back.passwd, vec![0; 16]);
        // Old clients leave out the read-only flag.
        assert!(
            !ConnectRequest::decode(&f[4..f.len() - 1])
                .unwrap()
                .read_only
        );
        assert!(ConnectRequest::decode(&f[4..10]).is_err());
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
        let (xid, op) = decode_request(&f[4..]).unwrap();
        assert_eq!(
            (xid, op),
            (7, Op::Other(OP_CREATE)),
            "writes are not ours to serve"
        );
    }

    #[test]
    fn requests_decode() {
        let cases = [
            (encode_header(PING_XID, OP_PING), PING_XID, Op::Ping),
            (encode_header(9, OP_CLOSE), 9, Op::Close),
            (
                encode_path_request(3, OP_GET_CHILDREN, "/mesos", true),
                3,
                Op::GetChildren {
                    path: "/mesos".into(),
                    watch: true,
                },
            ),
            (
                encode_path_request(4, OP_GET_DATA, "/mesos/json.info_0000000001", false),
                4,
                Op::GetData {
                    path: "/mesos/json.info_0000000001".into(),
                    watch: false,
                },
            ),
            (
                encode_path_request(5, OP_EXISTS, "/x", true),
                5,
                Op::Exists {
                    path: "/x".into(),
                    watch: true,
                },
            ),
            (
                encode_path_request(6, OP_GET_CHILDREN2, "/", false),
                6,
                Op::GetChildren2 {
                    path: "/".into(),
                    watch: false,
                },
            ),
        ];
        for (framed, xid, op) in cases {
            assert_eq!(decode_request(&framed[4..]).unwrap(), (xid, op));
        }
        let mut o = Out::default();
        o.int(-8).int(OP_SET_WATCHES).long(42);
        o.strings(&["/a".into()])
            .strings(&[])
            .strings(&["/mesos".into()]);
        assert_eq!(
            decode_request(&o.0).unwrap(),
            (
                -8,
                Op::SetWatches {
                    relative_zxid: 42,
                    data: vec!["/a".into()],
                    exist: vec![],
                    child: vec!["/mesos".into()]
                }
            )
        );
        assert!(decode_request(&[0, 0, 0, 1, 0, 0]).is_err());
        let mut huge = Out::default();
        huge.int(1).int(OP_SET_WATCHES).long(0).int(i32::MAX);
        assert!(
            decode_request(&huge.0).is_err(),
            "a vector longer than the packet"
        );
    }

    #[test]
    fn replies_and_notifications() {
        let r = encode_reply(3, 0x1_0000_0005, NO_NODE, b"ignored");
        assert_eq!(r.len(), 4 + 16, "an error reply has no body");
        assert_eq!(
            decode_reply_header(&r[4..]).unwrap(),
            (3, 0x1_0000_0005, NO_NODE)
        );
        let n = encode_notification(EVENT_CHILDREN_CHANGED, "/mesos");
        let mut i = In(&n[4..]);
        assert_eq!(i.int().unwrap(), NOTIFICATION_XID);
        assert_eq!(i.long().unwrap(), -1);
        assert_eq!(i.int().unwrap(), 0);
        assert_eq!(i.int().unwrap(), EVENT_CHILDREN_CHANGED);
        assert_eq!(i.int().unwrap(), STATE_SYNC_CONNECTED);
        assert_eq!(i.string().unwrap(), "/mesos");
        let c = encode_connect_response(10_000, 0x1234, &[9; 16]);
        assert_eq!(decode_connect_response(&c[4..]).unwrap(), (10_000, 0x1234));
        let mut s = Out::default();
        s.stat(&Stat::default());
        assert_eq!(s.0.len(), 68, "Stat is 68 bytes");
        assert_eq!(code_name(NODE_EXISTS), "NodeExists");
    }
}
