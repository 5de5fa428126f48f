//! Subscribed event streams, one per framework. A new SUBSCRIBE replaces
//! the framework's stream (the old one ends), as in Mesos.

use std::collections::HashMap;
use std::sync::Mutex;

use corral_api::mesos_v1::Event;
use corral_core::FrameworkId;
use tokio::sync::mpsc;

/// Why a call's `Mesos-Stream-Id` is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the Mesos-Stream-Id header is missing; send the one SUBSCRIBE returned")]
    MissingHeader,
    #[error("Framework is not subscribed; SUBSCRIBE first (again, after a leader change)")]
    NotSubscribed,
    #[error("Mesos-Stream-Id {got:?} is not this framework's current stream; a newer SUBSCRIBE replaced it")]
    Mismatch { got: String },
}

struct Handle {
    stream_id: String,
    tx: mpsc::UnboundedSender<Event>,
}

#[derive(Default)]
pub struct Streams {
    inner: Mutex<HashMap<FrameworkId, Handle>>,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FrameworkId, Handle>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens `framework`'s stream under `stream_id`; a previous one ends.
    pub fn open(&self, framework: &FrameworkId, stream_id: &str) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(
            framework.clone(),
            Handle {
                stream_id: stream_id.to_string(),
                tx,
            },
        );
        rx
    }

    /// Checks a call's stream id against the framework's current stream.
    pub fn check(
        &self,
        framework: &FrameworkId,
        stream_id: Option<&str>,
    ) -> Result<(), StreamError> {
        let got = stream_id.ok_or(StreamError::MissingHeader)?;
        match self.lock().get(framework) {
            Some(h) if h.tx.is_closed() => Err(StreamError::NotSubscribed),
            Some(h) if h.stream_id == got => Ok(()),
            Some(_) => Err(StreamError::Mismatch {
                got: got.to_string(),
            }),
            None => Err(StreamError::NotSubscribed),
        }
    }

    /// Frameworks with an open stream, in id order.
    pub fn subscribed(&self) -> Vec<FrameworkId> {
        let mut v: Vec<FrameworkId> = self
            .lock()
            .iter()
            .filter(|(_, h)| !h.tx.is_closed())
            .map(|(id, _)| id.clone())
            .collect();
        v.sort();
        v
    }

    /// Ends `framework`'s stream.
    pub fn close(&self, framework: &FrameworkId) {
        self.lock().remove(framework);
    }

    /// Ends every stream (this server stopped leading).
    pub fn close_all(&self) {
        self.lock().clear();
    }

    /// Sends `event` on `framework`'s stream, if it has one.
    pub fn send(&self, framework: &FrameworkId, event: Event) -> bool {
        self.lock()
            .get(framework)
            .is_some_and(|h| h.tx.send(event).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids() {
        let s = Streams::default();
        let f = FrameworkId("f1".into());
        assert_eq!(s.check(&f, Some("a")), Err(StreamError::NotSubscribed));
        let _old = s.open(&f, "a");
        assert_eq!(s.check(&f, Some("a")), Ok(()));
        assert_eq!(s.check(&f, None), Err(StreamError::MissingHeader));
        let mut new = s.open(&f, "b");
        assert_eq!(
            s.check(&f, Some("a")),
            Err(StreamError::Mismatch { got: "a".into() })
        );
        assert!(s.send(&f, Event::Heartbeat));
        assert_eq!(new.try_recv().ok(), Some(Event::Heartbeat));
        drop(new);
        assert_eq!(
            s.check(&f, Some("b")),
            Err(StreamError::NotSubscribed),
            "the client went away"
        );
        s.close(&f);
        assert!(!s.send(&f, Event::Heartbeat));
    }
}
