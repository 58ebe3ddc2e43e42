//! HTTP/2 connections (cargo feature `http2`), served by hyper: over TLS
//! when ALPN chose `h2`, or on a plain port by prior knowledge when the
//! server's `version` is `HTTP/2`. The same pipeline as HTTP/1: hyper's
//! request body and upgrade are adapted here, so nothing else in marmoset
//! knows hyper. The connection's writes are gathered (module `coalesce`) and
//! sent once per turn of the connection; its streams run in the connection's
//! task (module `streams`).

mod coalesce;
mod streams;

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{oneshot, watch};

use super::transport::Io;
use super::upgrade::{OnUpgrade, Upgraded};
use crate::pipeline::{Request, Response};
use crate::request_body::RequestBody;

/// Whether this build speaks HTTP/2.
pub const ENABLED: bool = true;

/// Rounds of connection and streams in one turn of the connection.
const MAX_ROUNDS: usize = 4;

/// Serve `io` as an HTTP/2 connection, each stream's request through
/// `dispatch` (bodies limited to `max_body` bytes), until it ends or the
/// server shuts down (then a GOAWAY lets in-flight streams finish).
pub async fn serve<I, F, Fut>(
    io: I,
    dispatch: F,
    max_body: u64,
    mut shutdown: watch::Receiver<bool>,
) where
    I: Io + 'static,
    F: Fn(Request) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        // Boxed: hyper moves each stream's future several times while
        // handing it to the executor, and the pipeline's future is large;
        // a pointer moves for free.
        let exchange = Box::pin(dispatch(adapt(req, max_body)));
        async move { Ok::<_, Infallible>(exchange.await) }
    });
    let (stream, sender) = coalesce::gather(io);
    let streams = streams::Streams::default();
    let mut running = streams.running();
    let mut conn = pin!(
        http2::Builder::new(streams)
            .timer(TokioTimer::new())
            // The pipeline's `finish` writes `Date` (and the default headers)
            // into every response it makes; only a 500 for a panic outside
            // the pipeline has none, which RFC 9110 §6.6.1 allows.
            .auto_date_header(false)
            // RFC 8441: WebSocket over HTTP/2 (the `websocket` module).
            .enable_connect_protocol()
            .serve_connection(TokioIo::new(stream), service)
    );
    let mut stop = pin!(shutdown.changed());
    let mut stopping = false;
    let end = poll_fn(|cx| {
        if !stopping && stop.as_mut().poll(cx).is_ready() {
            // A GOAWAY lets in-flight streams finish.
            stopping = true;
            conn.as_mut().graceful_shutdown();
        }
        // The connection reads requests and hands their streams over, the
        // streams answer, the connection encodes the answers: a few rounds
        // of that in one turn, then the writes go out together. (A stream's
        // answer wakes this task too; the rounds only spare the trip
        // through the scheduler.)
        let mut rounds = 0;
        let turn = loop {
            let turn = conn.as_mut().poll(cx);
            rounds += 1;
            if turn.is_ready() || !running.poll(cx) || rounds == MAX_ROUNDS {
                break turn;
            }
        };
        if turn.is_pending()
            && let Poll::Ready(Err(e)) = sender.poll_send(cx)
        {
            return Poll::Ready(Err(e.to_string()));
        }
        turn.map_err(|e| e.to_string())
    })
    .await;
    if let Err(e) = end {
        log::debug!("h2 connection: {e}");
    }
}

/// hyper's request as marmoset's: the body boxed behind [`RequestBody`],
/// and for a `CONNECT` (RFC 8441 WebSocket) the stream handed over through
/// [`OnUpgrade`] once the `200` is sent.
fn adapt(mut req: hyper::Request<Incoming>, max_body: u64) -> Request {
    let upgrade = (req.method() == http::Method::CONNECT).then(|| {
        let pending = hyper::upgrade::on(&mut req);
        let (tx, rx) = oneshot::channel::<Upgraded>();
        tokio::spawn(async move {
            if let Ok(up) = pending.await {
                let _ = tx.send(Box::new(TokioIo::new(up)));
            }
        });
        OnUpgrade::new(rx)
    });
    let (mut parts, body) = req.into_parts();
    if let Some(on) = upgrade {
        parts.extensions.insert(on);
    }
    // Most requests (a GET's HEADERS frame ends its stream) have no body:
    // nothing to box.
    let body = if body.is_end_stream() {
        RequestBody::from_engine(None, max_body)
    } else {
        RequestBody::from_boxed(Box::pin(body.map_err(Into::into)), max_body)
    };
    Request::from_parts(parts, body)
}
