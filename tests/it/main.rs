//! marmoset's integration tests: one binary, driving the real server with
//! real clients. Tests are named `<module>_<behaviour>`.

#[cfg(feature = "auth")]
mod auth;
#[cfg(feature = "auth")]
mod auth_mngt;
#[cfg(all(feature = "openid", feature = "cgi"))]
mod auth_oidc;
#[cfg(feature = "auth")]
mod auth_totp;
#[cfg(all(feature = "websocket", feature = "webstream", feature = "upgrade"))]
mod bridges;
mod cgi;
mod cli;
mod clientfilter;
mod config;
mod cors;
mod disk_full;
mod document;
mod embed;
mod h1_engine;
mod h1_review;
mod http;
mod modes;
#[cfg(feature = "python")]
mod python;
mod redirect;
mod reload;
mod rest;
mod robustness;
mod startup;
mod support;
mod systemd;
mod tls;
mod userfilter;
mod vhost;
