//! marmoset's integration tests: one binary, driving the real server with
//! real clients. Tests are named `<module>_<behaviour>`.

mod cli;
mod config;
mod document;
mod embed;
mod http;
mod clientfilter;
mod cors;
mod redirect;
mod support;
mod tls;
mod vhost;
