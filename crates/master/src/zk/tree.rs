//! The znodes the leader-detection endpoint shows, and what each request
//! and each leader change answers. Pure: a [`View`] is this server's idea
//! of the leader; [`answer`] serves one request against it, registering
//! watches, and [`fired`] lists the notifications a change of view owes.
//!
//! The tree is Mesos's layout: `/mesos` always exists (a missing parent
//! stops kazoo's ChildrenWatch for good) and holds one child,
//! `json.info_<term, 10 digits>`, while a leader is known, whose data is
//! the leader's MasterInfo as JSON. The leader of a later term has a higher
//! sequence, so clients that pick the lowest child (pymesos) or the first
//! `json*` child (mesoshttp) both find it.

use std::collections::BTreeSet;

use corral_api::zk::{
    Op, Out, Stat, EVENT_CHILDREN_CHANGED, EVENT_CREATED, EVENT_DATA_CHANGED, EVENT_DELETED,
    NOT_READ_ONLY, NO_NODE, UNIMPLEMENTED,
};

/// The znode that holds the leaders.
pub const MESOS: &str = "/mesos";

/// This server's idea of the leader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// Orders views; grows with every change this server sees (the zxid of
    /// its replies and the version of its znodes).
    pub zxid: i64,
    pub leader: Option<Leader>,
}

/// The leader's znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// Its sequence number: the Raft term it leads.
    pub term: u64,
    /// The server id (the znode's ephemeral owner).
    pub server_id: u64,
    /// MasterInfo as JSON.
    pub data: Vec<u8>,
}

impl Leader {
    pub fn name(&self) -> String {
        format!("json.info_{:010}", self.term)
    }
    pub fn path(&self) -> String {
        format!("{MESOS}/{}", self.name())
    }
}

/// One node of the tree: its data, children and Stat.
struct Node {
    data: Vec<u8>,
    children: Vec<String>,
    stat: Stat,
}

impl View {
    /// The view after `leader` became what this server believes, at a zxid
    /// above this one.
    pub fn next(&self, leader: Option<Leader>) -> View {
        View {
            zxid: self.zxid + 1,
            leader,
        }
    }

    fn node(&self, path: &str) -> Option<Node> {
        let leader_path = self.leader.as_ref().map(Leader::path);
        match path {
            "/" => Some(Node {
                data: Vec::new(),
                children: vec!["mesos".into()],
                stat: Stat {
                    num_children: 1,
                    ..Stat::default()
                },
            }),
            MESOS => {
                let children: Vec<String> = self.leader.iter().map(Leader::name).collect();
                Some(Node {
                    data: Vec::new(),
                    stat: Stat {
                        num_children: children.len() as i32,
                        cversion: self.zxid as i32,
                        pzxid: self.zxid,
                        ..Stat::default()
                    },
                    children,
                })
            }
            p if Some(p) == leader_path.as_deref() => {
                let l = self.leader.as_ref()?;
                Some(Node {
                    data: l.data.clone(),
                    children: Vec::new(),
                    stat: Stat {
                        czxid: self.zxid,
                        mzxid: self.zxid,
                        pzxid: self.zxid,
                        ephemeral_owner: l.server_id as i64,
                        data_length: l.data.len() as i32,
                        ..Stat::default()
                    },
                })
            }
            _ => None,
        }
    }
}

/// One-shot watches a session has registered, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watches {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
}

/// What a request answers: an error code (0 for ok) and the reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub err: i32,
    pub body: Vec<u8>,
    /// Notifications to send right after the reply (event type, path).
    pub notify: Vec<(i32, String)>,
}

impl Answer {
    fn ok(body: Out) -> Answer {
        Answer {
            err: 0,
            body: body.0,
            notify: Vec::new(),
        }
    }
    fn err(err: i32) -> Answer {
        Answer {
            err,
            body: Vec::new(),
            notify: Vec::new(),
        }
    }
}

/// Answers `op` against `view`, registering the watches it asks for.
/// Ping, close and auth answer an empty ok; writes answer NotReadOnly;
/// SetWatches answers with notifications.
pub fn answer(view: &View, watches: &mut Watches, op: &Op) -> Answer {
    let mut out = Out::default();
    let mut notify = Vec::new();
    match op {
        Op::Ping | Op::Close | Op::Auth => Answer::ok(out),
        Op::Exists { path, watch } => match view.node(path) {
            Some(n) => {
                if *watch {
                    watches.data.insert(path.clone());
                }
                out.stat(&n.stat);
                Answer::ok(out)
            }
            None => {
                if *watch {
                    watches.exist.insert(path.clone());
                }
                Answer::err(NO_NODE)
            }
        },
        Op::GetData { path, watch } => match view.node(path) {
            Some(n) => {
                if *watch {
                    watches.data.insert(path.clone());
                }
                out.buffer(&n.data).stat(&n.stat);
                Answer::ok(out)
            }
            None => Answer::err(NO_NODE),
        },
        Op::GetChildren { path, watch } | Op::GetChildren2 { path, watch } => {
            match view.node(path) {
                Some(n) => {
                    if *watch {
                        watches.child.insert(path.clone());
                    }
                    out.strings(&n.children);
                    if matches!(op, Op::GetChildren2 { .. }) {
                        out.stat(&n.stat);
                    }
                    Answer::ok(out)
                }
                None => Answer::err(NO_NODE),
            }
        }
        Op::Sync { path } => {
            out.string(path);
            Answer::ok(out)
        }
        Op::SetWatches {
            data, exist, child, ..
        } => {
            // A client re-registering after a reconnect. Zxids are this
            // server's own, so what changed since the client's cannot be
            // told: every watch on a node that exists fires now (the client
            // reads again); an exist watch on a missing node stays.
            for p in data {
                let kind = if view.node(p).is_some() {
                    EVENT_DATA_CHANGED
                } else {
                    EVENT_DELETED
                };
                notify.push((kind, p.clone()));
            }
            for p in exist {
                if view.node(p).is_some() {
                    notify.push((EVENT_CREATED, p.clone()));
                } else {
                    watches.exist.insert(p.clone());
                }
            }
            for p in child {
                if view.node(p).is_some() {
                    notify.push((EVENT_CHILDREN_CHANGED, p.clone()));
                }
            }
            Answer {
                err: 0,
                body: Vec::new(),
                notify,
            }
        }
        Op::Other(code) if is_write(*code) => Answer::err(NOT_READ_ONLY),
        Op::Other(_) => Answer::err(UNIMPLEMENTED),
    }
}

/// Op codes that would change the tree (create, delete, setData, setACL,
/// multi, create2, reconfig, createContainer, createTTL).
fn is_write(code: i32) -> bool {
    matches!(code, 1 | 2 | 5 | 7 | 14 | 15 | 16 | 19 | 21)
}

/// The notifications (event type, path) that going from `old` to `new`
/// owes `watches`, removing the watches that fire (they are one-shot).
pub fn fired(old: &View, new: &View, watches: &mut Watches) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    if old.leader == new.leader {
        return out;
    }
    let old_path = old.leader.as_ref().map(Leader::path);
    let new_path = new.leader.as_ref().map(Leader::path);
    if old_path != new_path && watches.child.remove(MESOS) {
        out.push((EVENT_CHILDREN_CHANGED, MESOS.to_string()));
    }
    if let Some(p) = &old_path {
        if old_path != new_path && watches.data.remove(p) {
            out.push((EVENT_DELETED, p.clone()));
        } else if old_path == new_path && watches.data.remove(p) {
            out.push((EVENT_DATA_CHANGED, p.clone()));
        }
    }
    if let Some(p) = &new_path {
        if old_path != new_path && watches.exist.remove(p) {
            out.push((EVENT_CREATED, p.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use corral_api::zk::In;

    use super::*;

    fn leader(term: u64) -> Option<Leader> {
        Some(Leader {
            term,
            server_id: 2,
            data: format!("{{\"term\":{term}}}").into_bytes(),
        })
    }

    fn view(zxid: i64, term: Option<u64>) -> View {
        View {
            zxid,
            leader: term.and_then(leader),
        }
    }

    fn children(a: &Answer) -> Vec<String> {
        In(&a.body).strings().unwrap()
    }

    fn path(p: &str, watch: bool) -> (String, bool) {
        (p.to_string(), watch)
    }

    #[test]
    fn the_tree_as_clients_read_it() {
        let v = view(7, Some(3));
        let mut w = Watches::default();
        let (p, watch) = path(MESOS, true);
        let a = answer(&v, &mut w, &Op::GetChildren { path: p, watch });
        assert_eq!(children(&a), ["json.info_0000000003"]);
        assert!(w.child.contains(MESOS));

        let (p, watch) = path("/mesos/json.info_0000000003", true);
        let a = answer(&v, &mut w, &Op::GetData { path: p, watch });
        let mut i = In(&a.body);
        assert_eq!(i.buffer().unwrap(), b"{\"term\":3}");
        let czxid = i.long().unwrap();
        assert_eq!(czxid, 7);
        assert!(w.data.contains("/mesos/json.info_0000000003"));

        // No leader: /mesos stays, empty (pymesos: "no master").
        let none = view(8, None);
        let (p, watch) = path(MESOS, false);
        let a = answer(&none, &mut w, &Op::GetChildren2 { path: p, watch });
        let mut i = In(&a.body);
        assert!(i.strings().unwrap().is_empty());
        assert_eq!(i.0.len(), 68, "GetChildren2 appends the Stat");

        let cases: Vec<(Op, i32)> = vec![
            (
                Op::GetData {
                    path: "/mesos/json.info_0000000002".into(),
                    watch: false,
                },
                NO_NODE,
            ),
            (
                Op::GetChildren {
                    path: "/marathon".into(),
                    watch: false,
                },
                NO_NODE,
            ),
            (Op::Other(1), NOT_READ_ONLY),
            (Op::Other(2), NOT_READ_ONLY),
            (Op::Other(102), UNIMPLEMENTED),
            (Op::Ping, 0),
            (
                Op::Exists {
                    path: "/".into(),
                    watch: false,
                },
                0,
            ),
        ];
        for (op, err) in cases {
            assert_eq!(answer(&v, &mut w, &op).err, err, "{op:?}");
        }
    }

    #[test]
    fn a_new_leader_fires_the_watches_that_see_it() {
        let mut w = Watches::default();
        w.child.insert(MESOS.into());
        w.data.insert("/mesos/json.info_0000000003".into());
        w.exist.insert("/mesos/json.info_0000000004".into());
        w.data.insert("/".into());
        // Term 3's leader is gone (no leader yet).
        let fired1 = fired(&view(1, Some(3)), &view(2, None), &mut w);
        assert_eq!(
            fired1,
            [
                (EVENT_CHILDREN_CHANGED, MESOS.to_string()),
                (EVENT_DELETED, "/mesos/json.info_0000000003".to_string())
            ]
        );
        // One-shot: the client must ask again.
        assert!(w.child.is_empty());
        w.child.insert(MESOS.into());
        let fired2 = fired(&view(2, None), &view(3, Some(4)), &mut w);
        assert_eq!(
            fired2,
            [
                (EVENT_CHILDREN_CHANGED, MESOS.to_string()),
                (EVENT_CREATED, "/mesos/json.info_0000000004".to_string())
            ]
        );
        // Nothing changed, nothing fires; "/" never changes.
        assert!(fired(&view(3, Some(4)), &view(4, Some(4)), &mut w).is_empty());
        assert!(w.data.contains("/"));
    }

    #[test]
    fn set_watches_after_a_reconnect_fires_at_once() {
        let mut w = Watches::default();
        let op = Op::SetWatches {
            relative_zxid: 5,
            data: vec!["/mesos/json.info_0000000001".into(), MESOS.into()],
            exist: vec![
                "/mesos/json.info_0000000002".into(),
                "/mesos/json.info_0000000003".into(),
            ],
            child: vec![MESOS.into(), "/gone".into()],
        };
        let a = answer(&view(6, Some(2)), &mut w, &op);
        assert_eq!(a.err, 0);
        assert_eq!(
            a.notify,
            [
                (EVENT_DELETED, "/mesos/json.info_0000000001".to_string()),
                (EVENT_DATA_CHANGED, MESOS.to_string()),
                (EVENT_CREATED, "/mesos/json.info_0000000002".to_string()),
                (EVENT_CHILDREN_CHANGED, MESOS.to_string()),
            ]
        );
        assert_eq!(
            w.exist.iter().collect::<Vec<_>>(),
            ["/mesos/json.info_0000000003"],
            "an exist watch on a missing node waits"
        );
    }
}
