//! marmoset — a small, featured HTTP server for devices.
//!
//! marmoset has two faces and one engine: the `marmoset` binary, a drop-in
//! replacement for the C server Ouistiti (same configuration files, flags
//! and wire behaviour), and this library, which applications embed.
//!
//! # Architecture
//!
//! ```text
//! config/     libconfig text → Value tree with spans → typed Config
//! engine/     sockets, maxclients, HTTP/0.9 sniffing, HTTP/1 (own), HTTP/2 (hyper), shutdown
//! pipeline/   RequestCtx, the Module contract, the phase sequence
//! modules/    registry (the only cfg(feature) spot) + one folder per module
//! body.rs     streaming response bodies (files by ranges, channels)
//! path.rs     the one path normaliser; pattern.rs Ouistiti pattern lists
//! ```
//!
//! A request flows: accept → HTTP/0.9 sniff → HTTP/1 engine (or hyper's HTTP/2) → path normalisation →
//! preflight → authenticate → authorize → route → handle → rewrite → default
//! headers. See [`pipeline`] for the phase chart.
//!
//! # Serving a configuration
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let loaded = marmoset::config::load_str(r#"
//!     servers = ({ port = 8080; keepalivetimeout = 5;
//!                  document = { docroot = "/srv/www"; }; });
//! "#)?;
//! let server = marmoset::Server::from_config(&loaded.config, None)?.bind()?;
//! println!("listening on {:?}", server.local_addrs());
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access_log;
pub mod body;
pub mod cgi_env;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod http_date;
pub mod mime;
pub mod modules;
pub mod open_cache;
pub mod path;
pub mod pattern;
pub mod pipeline;
pub mod request_body;
pub mod resolve;
pub mod server_info;
pub mod spare_map;
pub mod uri_filter;

pub use body::{Body, BodySender};
pub use engine::{Bound, Mode, Running, Server};
pub use error::HttpError;
pub use pipeline::{Module, Request, RequestCtx, Response, User};
pub use request_body::RequestBody;
