//! The default bridge: WebSocket messages ↔ a UNIX socket.
//!
//! - **Client → server**: the payload of each text or binary message
//!   (fragments reassembled) is written to the socket; on a packet socket
//!   one message is one packet. Ping, pong and close are answered here and
//!   never reach the server. A message over `maxmessage` closes with 1009.
//! - **Server → client**: on a stream socket each read becomes one message,
//!   on a packet socket each packet. A message is sent as text when it is
//!   valid UTF-8 (on a stream, a character cut by a read boundary is held
//!   back for the next read), as binary otherwise.
//! - **Ends**: a close from the client is answered with the same code (RFC
//!   6455), then the socket is shut down, so the server reads end of stream.
//!   The server closing its end sends close 1001 (going away); a socket
//!   error or an oversized packet sends 1011. Either way the client has
//!   [`CLOSE_WAIT`] to answer the close before the connection is dropped.
//!
//! The two directions run concurrently, each with backpressure: a slow
//! client slows the reads from its server, not the other direction.

use std::net::SocketAddr;
use std::time::Duration;

use crate::engine::upgrade::Upgraded;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::modules::bridge::{Backend, BackendReader, BackendWriter};

/// How long the client has to answer a close sent by marmoset.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<Upgraded>;

/// How the client side ended.
enum ClientEnd {
    /// A close frame came (and was answered), or the connection dropped.
    Closed,
    /// A message over the limit.
    TooBig,
    /// A protocol violation.
    Broken(WsError),
    /// Writing to the server failed.
    Server(std::io::Error),
}

/// How the server side ended.
enum ServerEnd {
    /// End of stream from the server.
    Eof,
    /// A socket error or an oversized packet.
    Failed(std::io::Error),
    /// The client could not be written to.
    ClientGone,
}

/// Relay between `client` (upgraded, handshake done) and `backend` until
/// either ends.
pub async fn run(
    client: Upgraded,
    backend: Backend,
    preamble: Option<Bytes>,
    max: usize,
    peer: SocketAddr,
) {
    let packets = backend.is_packet();
    let (mut from_server, mut to_server) = backend.split();
    if let Some(p) = preamble
        && let Err(e) = to_server.write(&p).await
    {
        log::debug!("{peer}: websocket server: {e}");
        return;
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_mul(2).max(64 * 1024))
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let ws: Ws = WebSocketStream::from_raw_socket(client, Role::Server, Some(config)).await;
    let (mut sink, mut stream) = ws.split();
    let close = tokio::select! {
        end = client_to_server(&mut stream, &mut to_server) => match end {
            ClientEnd::Closed => None,
            ClientEnd::TooBig => Some((CloseCode::Size, "message too big")),
            ClientEnd::Broken(e) => {
                log::debug!("{peer}: websocket: {e}");
                Some((CloseCode::Protocol, "protocol error"))
            }
            ClientEnd::Server(e) => {
                log::debug!("{peer}: websocket server: {e}");
                Some((CloseCode::Error, "server error"))
            }
        },
        end = server_to_client(&mut from_server, &mut sink, packets, max) => match end {
            ServerEnd::Eof => Some((CloseCode::Away, "server closed")),
            ServerEnd::Failed(e) => {
                log::debug!("{peer}: websocket server: {e}");
                Some((CloseCode::Error, "server error"))
            }
            ServerEnd::ClientGone => None,
        },
    };
    to_server.shutdown().await;
    drop(from_server);
    let Some((code, reason)) = close else {
        // The client closed: keep reading until its connection is done so
        // the answer to its close frame is flushed.
        let _ = tokio::time::timeout(CLOSE_WAIT, drain(&mut stream)).await;
        return;
    };
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    if sink.send(Message::Close(Some(frame))).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_WAIT, drain(&mut stream)).await;
    }
}

async fn client_to_server(
    stream: &mut SplitStream<Ws>,
    to_server: &mut BackendWriter,
) -> ClientEnd {
    while let Some(msg) = stream.next().await {
        let data = match msg {
            Ok(Message::Text(t)) => Bytes::from(t),
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) => return ClientEnd::Closed,
            Ok(_) => continue,
            Err(WsError::Capacity(CapacityError::MessageTooLong { .. })) => {
                return ClientEnd::TooBig;
            }
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_)) => {
                return ClientEnd::Closed;
            }
            Err(e) => return ClientEnd::Broken(e),
        };
        if let Err(e) = to_server.write(&data).await {
            return ClientEnd::Server(e);
        }
    }
    ClientEnd::Closed
}

async fn server_to_client(
    from_server: &mut BackendReader,
    sink: &mut SplitSink<Ws, Message>,
    packets: bool,
    max: usize,
) -> ServerEnd {
    let mut text = TextSplitter::default();
    loop {
        let data = match from_server.read(max).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                if let Some(rest) = text.finish()
                    && sink.send(Message::Binary(rest)).await.is_err()
                {
                    return ServerEnd::ClientGone;
                }
                return ServerEnd::Eof;
            }
            Err(e) => return ServerEnd::Failed(e),
        };
        let msg = if packets {
            Some(message(data))
        } else {
            text.next(data)
        };
        if let Some(msg) = msg
            && sink.send(msg).await.is_err()
        {
            return ServerEnd::ClientGone;
        }
    }
}

/// Read and discard until the client's side is closed.
async fn drain(stream: &mut SplitStream<Ws>) {
    while let Some(Ok(_)) = stream.next().await {}
}

/// A whole message: text when it is UTF-8, binary otherwise.
pub fn message(data: Bytes) -> Message {
    match Utf8Bytes::try_from(data.clone()) {
        Ok(t) => Message::Text(t),
        Err(_) => Message::Binary(data),
    }
}

/// Cuts a byte stream into messages without splitting UTF-8 characters.
#[derive(Default)]
pub struct TextSplitter {
    carry: BytesMut,
}

impl TextSplitter {
    /// The message for the next chunk, if it yields one.
    pub fn next(&mut self, chunk: Bytes) -> Option<Message> {
        let data = if self.carry.is_empty() {
            chunk
        } else {
            self.carry.extend_from_slice(&chunk);
            self.carry.split().freeze()
        };
        match std::str::from_utf8(&data) {
            Ok(_) => Some(message(data)),
            // Only an incomplete character at the very end: hold it back.
            Err(e) if e.error_len().is_none() && data.len() - e.valid_up_to() < 4 => {
                let cut = e.valid_up_to();
                self.carry.extend_from_slice(&data[cut..]);
                (cut > 0).then(|| message(data.slice(..cut)))
            }
            Err(_) => Some(Message::Binary(data)),
        }
    }

    /// What is left at the end of the stream (an incomplete character).
    pub fn finish(&mut self) -> Option<Bytes> {
        (!self.carry.is_empty()).then(|| self.carry.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: Option<Message>) -> Option<String> {
        match m {
            Some(Message::Text(t)) => Some(t.to_string()),
            Some(other) => panic!("not text: {other:?}"),
            None => None,
        }
    }

    #[test]
    fn splitter_holds_back_cut_characters() {
        let mut s = TextSplitter::default();
        let e = "é".as_bytes();
        let mut first = b"caf".to_vec();
        first.push(e[0]);
        assert_eq!(text(s.next(Bytes::from(first))), Some("caf".into()));
        assert_eq!(
            text(s.next(Bytes::from(vec![e[1], b'!']))),
            Some("é!".into())
        );
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn splitter_sends_binary_as_binary() {
        let mut s = TextSplitter::default();
        let m = s.next(Bytes::from_static(&[0xff, 0x00, 0x41]));
        assert!(matches!(m, Some(Message::Binary(_))));
        // A lone lead byte is held, and returned at the end.
        assert!(s.next(Bytes::from_static(&[0xc3])).is_none());
        assert_eq!(s.finish(), Some(Bytes::from_static(&[0xc3])));
    }

    #[test]
    fn packets_are_whole_messages() {
        assert!(matches!(
            message(Bytes::from_static(b"{}")),
            Message::Text(_)
        ));
        assert!(matches!(
            message(Bytes::from_static(&[0xff])),
            Message::Binary(_)
        ));
    }
}
