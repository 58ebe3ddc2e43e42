//! What the engine needs from a TLS implementation, as a trait so that the
//! engine has no `cfg(feature)`: the `tls` module implements it.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::pipeline::BoxFuture;

/// A byte stream the engine can serve HTTP on. `Any`: a module may take
/// the plain TCP stream back out of an upgraded connection (WebSocket
/// `direct` hands the socket to another process).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::any::Any {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Facts about a TLS connection, available to modules in
/// [`crate::RequestCtx::tls`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub sni: Option<String>,
    /// The negotiated protocol version (`TLSv1.2`, `TLSv1.3`).
    pub version: &'static str,
    /// Whether HTTP/2 was negotiated by ALPN.
    pub h2: bool,
}

/// A connection after its TLS handshake.
pub struct Secured {
    /// The decrypted stream.
    pub io: Box<dyn Io>,
    /// What was negotiated.
    pub info: TlsInfo,
}

/// Accepts TLS connections for one listening server.
pub trait TlsAcceptor: Send + Sync {
    /// Run the server side of the handshake.
    fn accept(&self, tcp: TcpStream) -> BoxFuture<'static, io::Result<Secured>>;

    /// Re-read certificates and keys if their files changed; established
    /// connections keep the old ones. Returns whether anything was reloaded;
    /// on error the current certificates stay in use.
    fn reload(&self) -> Result<bool, String>;
}

/// What to do with a new connection, decided from the peer address alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Accept,
    /// Close it at once, without a byte.
    Close,
    /// Answer `403 Forbidden` and close.
    Forbid,
}

/// Decides on connections before any byte of them is read (the
/// `clientfilter` module implements it).
pub trait ConnFilter: Send + Sync {
    /// The verdict for a client at `peer`.
    fn check(&self, peer: &std::net::SocketAddr) -> Verdict;
}
