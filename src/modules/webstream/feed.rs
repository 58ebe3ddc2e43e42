//! Fan-out: one reader per producer socket, any number of clients.
//!
//! The first client of a socket connects to the producer and starts the
//! feed's reader task; later clients join the running feed. The reader never
//! waits for a client, so no client can slow the producer or the others:
//!
//! - **plain** streams go through a [`broadcast`] ring of [`RING`] chunks. A
//!   client that falls further behind than the ring has missed bytes it
//!   cannot do without, and is disconnected;
//! - **multipart** streams keep only the latest packet ([`watch`]): a
//!   client that is slower than the producer skips packets and always gets
//!   the newest; a packet is never cut.
//!
//! When the producer goes away (end of stream or error), the reader tries to
//! connect again every [`RETRY`] for [`RESTART_GRACE`], keeping its
//! clients: a restarted producer goes on feeding them. After that the
//! clients' responses end. When the last client leaves, the producer
//! connection is closed.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::modules::bridge::seqpacket::TooLarge;
use crate::modules::bridge::{Backend, MAX_PACKET, Prefer};

/// Chunks a plain-stream client may lag behind before it is disconnected.
pub const RING: usize = 64;
/// How long a feed waits for its producer to come back.
pub const RESTART_GRACE: Duration = Duration::from_secs(10);
/// How often it tries meanwhile.
pub const RETRY: Duration = Duration::from_millis(100);

/// The sending side of a feed.
#[derive(Clone)]
enum Sender {
    Bytes(broadcast::Sender<Bytes>),
    Frames(watch::Sender<Option<Bytes>>),
}

/// A client's side of a feed.
pub enum Subscription {
    /// Every chunk of a plain stream, in order.
    Bytes(broadcast::Receiver<Bytes>),
    /// The latest packet of a packet stream.
    Frames(watch::Receiver<Option<Bytes>>),
}

impl Sender {
    fn new(multipart: bool) -> Sender {
        if multipart {
            Sender::Frames(watch::Sender::new(None))
        } else {
            Sender::Bytes(broadcast::Sender::new(RING))
        }
    }

    fn subscribe(&self) -> Subscription {
        match self {
            Sender::Bytes(tx) => Subscription::Bytes(tx.subscribe()),
            Sender::Frames(tx) => {
                let mut rx = tx.subscribe();
                // A joining client gets the current packet at once.
                if rx.borrow().is_some() {
                    rx.mark_changed();
                }
                Subscription::Frames(rx)
            }
        }
    }

    fn publish(&self, data: Bytes) {
        match self {
            Sender::Bytes(tx) => {
                let _ = tx.send(data);
            }
            Sender::Frames(tx) => {
                tx.send_replace(Some(data));
            }
        }
    }

    fn clients(&self) -> usize {
        match self {
            Sender::Bytes(tx) => tx.receiver_count(),
            Sender::Frames(tx) => tx.receiver_count(),
        }
    }

    async fn no_clients(&self) {
        match self {
            Sender::Bytes(tx) => tx.closed().await,
            Sender::Frames(tx) => tx.closed().await,
        }
    }

    fn same(&self, other: &Sender) -> bool {
        match (self, other) {
            (Sender::Bytes(a), Sender::Bytes(b)) => a.same_channel(b),
            (Sender::Frames(a), Sender::Frames(b)) => a.same_channel(b),
            _ => false,
        }
    }
}

/// The feeds of one `webstream` instance, by producer socket.
pub struct Hub {
    multipart: bool,
    feeds: Mutex<HashMap<PathBuf, Sender>>,
}

impl Hub {
    /// An empty hub; `multipart` feeds keep packets whole.
    pub fn new(multipart: bool) -> Hub {
        Hub {
            multipart,
            feeds: Mutex::new(HashMap::new()),
        }
    }

    fn prefer(&self) -> Prefer {
        if self.multipart {
            Prefer::PacketOnly
        } else {
            Prefer::Stream
        }
    }

    fn join(&self, path: &Path) -> Option<Subscription> {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        feeds.get(path).map(Sender::subscribe)
    }

    /// Join the feed of the producer at `path`, connecting to it if no
    /// client is watching it yet.
    pub async fn subscribe(self: &Arc<Self>, path: &Path) -> io::Result<Subscription> {
        if let Some(sub) = self.join(path) {
            return Ok(sub);
        }
        let backend = Backend::connect(path, self.prefer()).await?;
        let tx = Sender::new(self.multipart);
        let sub = {
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(running) = feeds.get(path) {
                // Another client connected meanwhile: use its feed.
                return Ok(running.subscribe());
            }
            feeds.insert(path.to_path_buf(), tx.clone());
            tx.subscribe()
        };
        tokio::spawn(self.clone().read(path.to_path_buf(), tx, backend));
        Ok(sub)
    }

    /// Remove the feed when it has no client; whether it was removed.
    fn remove_if_idle(&self, path: &Path, tx: &Sender) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if tx.clients() > 0 {
            return false;
        }
        if feeds.get(path).is_some_and(|t| t.same(tx)) {
            feeds.remove(path);
        }
        true
    }

    fn remove(&self, path: &Path, tx: &Sender) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if feeds.get(path).is_some_and(|t| t.same(tx)) {
            feeds.remove(path);
        }
    }

    /// The feed's reader task.
    async fn read(self: Arc<Self>, path: PathBuf, tx: Sender, mut backend: Backend) {
        loop {
            // The writing half stays open: a producer may take end of
            // stream on its socket for "the reader has gone".
            let (mut reader, _writer) = backend.split();
            loop {
                tokio::select! {
                    r = reader.read(MAX_PACKET) => match r {
                        Ok(Some(data)) => tx.publish(data),
                        Ok(None) => break,
                        Err(e) if e.get_ref().is_some_and(|i| i.is::<TooLarge>()) => {
                            log::warn!("webstream {}: {e}, dropped", path.display());
                        }
                        Err(e) => {
                            log::debug!("webstream {}: {e}", path.display());
                            break;
                        }
                    },
                    _ = tx.no_clients() => {
                        if self.remove_if_idle(&path, &tx) {
                            return;
                        }
                    }
                }
            }
            log::info!(
                "webstream {}: producer gone, waiting for it",
                path.display()
            );
            backend = match self.reconnect(&path, &tx).await {
                Some(b) => b,
                None => return,
            };
            log::info!("webstream {}: producer back", path.display());
        }
    }

    /// Wait for the producer to come back while clients remain.
    async fn reconnect(&self, path: &Path, tx: &Sender) -> Option<Backend> {
        let deadline = Instant::now() + RESTART_GRACE;
        loop {
            if self.remove_if_idle(path, tx) {
                return None;
            }
            if Instant::now() >= deadline {
                self.remove(path, tx);
                return None;
            }
            tokio::time::sleep(RETRY).await;
            if let Ok(b) = Backend::connect(path, self.prefer()).await {
                return Some(b);
            }
        }
    }
}
