//! Sessions of the leader-detection endpoint: the handshake, then requests
//! answered against this server's current [`View`] and watch notifications
//! when the view changes. The view follows the store's Raft metrics.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corral_api::zk::{
    decode_request, encode_connect_response, encode_notification, encode_reply, ConnectRequest, Op,
    MAX_FRAME,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::context::MasterCtx;
use crate::zk::tree::{answer, fired, Leader, View, Watches};

/// Session timeouts granted, as ZooKeeper bounds them with its default
/// tick (2 s): 2 to 20 ticks.
const MIN_SESSION_MS: i32 = 4_000;
const MAX_SESSION_MS: i32 = 40_000;
/// Bound on a client's first packet.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// Accepts sessions on `listener` until the process ends.
pub async fn serve(listener: TcpListener, ctx: Arc<MasterCtx>) {
    let (tx, rx) = watch::channel(View::default());
    tokio::spawn(follow_leader(ctx, tx));
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "leader detection: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let views = rx.clone();
        tokio::spawn(async move {
            if let Err(e) = session(sock, views).await {
                tracing::debug!(%peer, error = %e, "leader detection session ended");
            }
        });
    }
}

/// Keeps `tx` at the leader the store's metrics name.
async fn follow_leader(ctx: Arc<MasterCtx>, tx: watch::Sender<View>) {
    let mut metrics = ctx.store.metrics();
    loop {
        let (term, leader_id) = {
            let m = metrics.borrow_and_update();
            (m.current_term, m.current_leader)
        };
        let leader = leader_id.and_then(|id| {
            let (_, node) = ctx.store.leader().filter(|(l, _)| *l == id)?;
            let info = crate::view::master_info(id, &node.api_addr);
            Some(Leader {
                term,
                server_id: id,
                data: serde_json::to_vec(&info).ok()?,
            })
        });
        tx.send_if_modified(|v| {
            if v.leader == leader {
                return false;
            }
            tracing::debug!(leader = ?leader.as_ref().map(Leader::path), "leader detection view changed");
            *v = v.next(leader);
            true
        });
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// One client session: handshake, then requests and notifications until
/// the client closes, goes quiet past its session timeout, or sends
/// something that does not decode.
async fn session(mut sock: TcpStream, mut views: watch::Receiver<View>) -> Result<(), String> {
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    let first = tokio::time::timeout(HANDSHAKE, read_frame(&mut sock))
        .await
        .map_err(|_| "no handshake".to_string())??;
    let req = ConnectRequest::decode(&first).map_err(|e| e.to_string())?;
    let timeout_ms = req.timeout_ms.clamp(MIN_SESSION_MS, MAX_SESSION_MS);
    // Sessions hold nothing (no ephemeral nodes), so a client resuming its
    // session on another server keeps it.
    let (session_id, passwd) = if req.session_id != 0 {
        (req.session_id, req.passwd)
    } else {
        (next_session_id(), vec![0; 16])
    };
    sock.write_all(&encode_connect_response(timeout_ms, session_id, &passwd))
        .await
        .map_err(|e| e.to_string())?;

    let (mut rd, mut wr) = sock.into_split();
    // Frames come through a channel so a view change can interrupt the wait.
    let (ftx, mut frames) = mpsc::channel::<Vec<u8>>(16);
    let reader = tokio::spawn(async move {
        while let Ok(f) = read_frame(&mut rd).await {
            if ftx.send(f).await.is_err() {
                break;
            }
        }
    });
    let idle = Duration::from_millis(timeout_ms as u64);
    let mut watches = Watches::default();
    let mut seen = views.borrow_and_update().clone();
    let result = loop {
        let mut out = Vec::new();
        tokio::select! {
            frame = tokio::time::timeout(idle, frames.recv()) => {
                let Ok(Some(frame)) = frame else {
                    break Ok(()); // closed, or silent past the session timeout
                };
                let (xid, op) = match decode_request(&frame) {
                    Ok(r) => r,
                    Err(e) => break Err(e.to_string()),
                };
                let a = answer(&seen, &mut watches, &op);
                out.extend(encode_reply(xid, seen.zxid, a.err, &a.body));
                for (kind, path) in a.notify {
                    out.extend(encode_notification(kind, &path));
                }
                if op == Op::Close {
                    let _ = wr.write_all(&out).await;
                    break Ok(());
                }
            }
            changed = views.changed() => {
                if changed.is_err() {
                    break Ok(());
                }
                let new = views.borrow_and_update().clone();
                for (kind, path) in fired(&seen, &new, &mut watches) {
                    out.extend(encode_notification(kind, &path));
                }
                seen = new;
            }
        }
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                break Err(e.to_string());
            }
        }
    };
    reader.abort();
    result
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > MAX_FRAME {
        return Err(format!("bad frame length {len}"));
    }
    let mut p = vec![0u8; len as usize];
    r.read_exact(&mut p).await.map_err(|e| e.to_string())?;
    Ok(p)
}

/// A session id unique in this process and unlikely to match another
/// server's: the start time in the high bits, a counter in the low.
fn next_session_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    if NEXT.load(Ordering::Relaxed) == 0 {
        let t = crate::context::now_ms() as i64;
        let _ = NEXT.compare_exchange(
            0,
            (t & 0x7fff_ffff) << 32,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    NEXT.fetch_add(1, Ordering::SeqCst) + 1
}
