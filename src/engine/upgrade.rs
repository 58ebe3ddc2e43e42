//! Connections handed over to a module after `101 Switching Protocols` (or
//! a `2xx` to `CONNECT`): the WebSocket, stream and Upgrade bridges.
//!
//! Both engines put an `OnUpgrade` in the request's extensions when it
//! may upgrade: the HTTP/1 engine sends its connection through it after the
//! response head, the HTTP/2 engine an extended-CONNECT stream (RFC 8441).

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::transport::Io;
use crate::pipeline::Request;

/// The client's byte stream after the upgrade.
pub type Upgraded = Box<dyn Io>;

/// Put in a request's extensions by the HTTP/1 engine when the request may
/// upgrade; resolved once the response head is sent.
/// (Cloneable, as extensions must be; the first [`on`] takes it.)
#[derive(Clone)]
pub(crate) struct OnUpgrade(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>);

impl OnUpgrade {
    pub(crate) fn new(rx: oneshot::Receiver<Upgraded>) -> Self {
        OnUpgrade(Arc::new(Mutex::new(Some(rx))))
    }
}

/// The stream of `req`'s connection once its `101` (or `2xx` to
/// `CONNECT`) has been sent. Call it while handling the request, then
/// answer; the future resolves after the answer is on the wire, and fails
/// if the connection closed first or the answer was not an upgrade.
pub fn on(req: &mut Request) -> impl Future<Output = io::Result<Upgraded>> + Send + 'static {
    let pending = req
        .extensions_mut()
        .remove::<OnUpgrade>()
        .and_then(|o| o.0.lock().unwrap_or_else(|e| e.into_inner()).take());
    async move {
        match pending {
            Some(rx) => rx
                .await
                .map_err(|_| io::Error::other("the connection was not upgraded")),
            None => Err(io::Error::other("this request cannot upgrade")),
        }
    }
}
