//! marmoset's integration tests: one binary, driving the real server with
//! real clients. Tests are named `<module>_<behaviour>`.

#[cfg(feature = "auth")]
mod auth;
#[cfg(all(feature = "websocket", feature = "webstream", feature = "upgrade"))]
mod bridges;
mod cli;
mod config;
mod document;
mod embed;
mod http;
mod clientfilter;
mod cgi;
mod cors;
#[cfg(feature = "python")]
mod python;
mod redirect;
mod rest;
mod support;
mod tls;
mod vhost;
mod userfilter;
mod systemd;
mod reload;
mod modes;
