//! The CGI/1.1 meta-variables of a request (RFC 3875 §4.1, REFERENCE
//! §6.12), shared by the `cgi` module (a script's environment) and the
//! `python` module (a WSGI `environ`).
//!
//! The list is an allow-list: only these variables reach a script, never
//! the server's own environment (GoAhead's CVE-2017-17562 came from
//! passing request-controlled names through). Request headers become
//! `HTTP_*` except `Authorization` and `Proxy-Authorization` (credentials
//! stay with the server; `REMOTE_USER` says who logged in) and `Proxy`
//! ("httpoxy": it would become `HTTP_PROXY`).
//!
//! Differences from the original, each to follow RFC 3875 where a script
//! may rely on it: `SCRIPT_NAME` has its leading `/`, `PATH_TRANSLATED` is
//! `PATH_INFO` mapped under the docroot, `SERVER_PROTOCOL` is the
//! request's version, `HTTPS` is `on`, every request header is passed, and
//! `PATH` has a fixed safe value (`env` entries may override it).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::config::value::ValueKind;
use crate::config::{Problem, Section};

use crate::pipeline::{RequestCtx, RequestHead};

/// `PATH` given to scripts.
pub const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What the module found for the request.
pub struct ScriptInfo<'a> {
    /// The request path of the script (`/cgi-bin/app.cgi`), or the mount
    /// point of an application (`""` at the root).
    pub script_name: &'a str,
    /// The rest of the request path after `script_name` (may be empty).
    pub path_info: &'a str,
    /// The script file, when there is one.
    pub script_filename: Option<&'a Path>,
    /// The module's document root.
    pub document_root: &'a Path,
}

/// Meta-variables, in the order the original sets them; values are bytes
/// (header values need not be UTF-8).
pub fn meta(
    head: &RequestHead,
    ctx: &RequestCtx,
    script: &ScriptInfo<'_>,
) -> Vec<(String, Vec<u8>)> {
    let mut env: Vec<(String, Vec<u8>)> = Vec::with_capacity(40);
    let mut set = |k: &str, v: &[u8]| env.push((k.to_string(), v.to_vec()));
    let header = |name: &str| head.headers.get(name).map(|v| v.as_bytes()).unwrap_or(b"");
    set("CONTENT_LENGTH", header("content-length"));
    set("GATEWAY_INTERFACE", b"CGI/1.1");
    if !script.path_info.is_empty() {
        set("PATH_INFO", script.path_info.as_bytes());
        let translated = script
            .document_root
            .join(script.path_info.trim_start_matches('/'));
        set("PATH_TRANSLATED", translated.to_string_lossy().as_bytes());
    }
    if let Some(f) = script.script_filename {
        set("SCRIPT_FILENAME", f.to_string_lossy().as_bytes());
    }
    set("SCRIPT_NAME", script.script_name.as_bytes());
    set(
        "DOCUMENT_ROOT",
        script.document_root.to_string_lossy().as_bytes(),
    );
    set(
        "SERVER_SOFTWARE",
        crate::server_info::SERVER_NAME.as_bytes(),
    );
    set("SERVER_NAME", ctx.server.hostname.as_bytes());
    set("SERVER_PROTOCOL", version(head.version).as_bytes());
    set("SERVER_ADDR", plain(ctx.local).to_string().as_bytes());
    set("SERVER_PORT", ctx.local.port().to_string().as_bytes());
    set("SERVER_SERVICE", ctx.server.service.as_bytes());
    set("REQUEST_METHOD", head.method.as_str().as_bytes());
    let https = ctx.tls.is_some() || ctx.server.tls;
    set("REQUEST_SCHEME", if https { b"https" } else { b"http" });
    set("REQUEST_URI", ctx.path.as_bytes());
    set("CONTENT_TYPE", header("content-type"));
    set("QUERY_STRING", head.uri.query().unwrap_or("").as_bytes());
    let addr = plain(ctx.peer).to_string();
    set("REMOTE_HOST", addr.as_bytes());
    set("REMOTE_ADDR", addr.as_bytes());
    set("REMOTE_PORT", ctx.peer.port().to_string().as_bytes());
    if let Some(u) = &ctx.user {
        set("REMOTE_USER", u.name.as_bytes());
        set("AUTH_USER", u.name.as_bytes());
        set("AUTH_TYPE", u.auth_type.as_bytes());
        if !u.group.is_empty() {
            set("REMOTE_GROUP", u.group.as_bytes());
            set("AUTH_GROUP", u.group.as_bytes());
        }
    }
    if https {
        set("HTTPS", b"on");
    }
    set("PATH", SAFE_PATH.as_bytes());
    for (name, value) in &head.headers {
        let n = name.as_str();
        if matches!(
            n,
            "content-length" | "content-type" | "authorization" | "proxy-authorization" | "proxy"
        ) {
            continue;
        }
        if !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let key = format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_"));
        match env.iter_mut().find(|(k, _)| *k == key) {
            // Repeated headers are joined, as RFC 3875 §4.1.18 asks.
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(value.as_bytes());
            }
            None => env.push((key, value.as_bytes().to_vec())),
        }
    }
    env
}

/// Add `NAME=value` entries (the `env` key), replacing earlier values.
pub fn extend(env: &mut Vec<(String, Vec<u8>)>, extra: &[String]) {
    for entry in extra {
        let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.as_bytes().to_vec()));
    }
}

/// An IPv4-mapped IPv6 address as plain IPv4.
fn plain(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

// Configuration keys both gateways (`cgi`, `python`) read.

/// The server's `timeout` when absent (Ouistiti's 3 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The server's `timeout` (seconds, float), already checked by the server
/// section: read without a second diagnostic.
pub fn server_timeout(server: &Section<'_>) -> Duration {
    let secs = server.value("timeout").and_then(|v| match v.kind {
        ValueKind::Float(f) => Some(f),
        ValueKind::Int { value, .. } => Some(value as f64),
        _ => None,
    });
    match secs {
        Some(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
        _ => DEFAULT_TIMEOUT,
    }
}

/// A string or a list/array of strings (`env`, `scripts`).
pub fn string_list(sec: &Section<'_>, key: &'static str) -> Vec<String> {
    let Some(v) = sec.value(key) else {
        return Vec::new();
    };
    let items: Vec<&crate::config::value::Value> = match &v.kind {
        ValueKind::Str(_) => vec![v],
        ValueKind::List(items) | ValueKind::Array(items) => items.iter().collect(),
        other => {
            sec.error(
                key,
                Problem::WrongType {
                    expected: "string or list of strings",
                    found: other.type_name(),
                },
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        match &item.kind {
            ValueKind::Str(s) => out.push(s.clone()),
            other => sec.error(
                key,
                Problem::WrongType {
                    expected: "string",
                    found: other.type_name(),
                },
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn variables() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/app.cgi/x/y?a=1&b")
            .header("content-type", "text/plain")
            .header("content-length", "5")
            .header("user-agent", "t")
            .header("authorization", "Basic secret")
            .header("proxy", "http://evil")
            .header("x-a", "1")
            .header("x-a", "2")
            .body(())
            .unwrap();
        let (head, ()) = req.into_parts();
        let info = crate::server_info::ServerInfo {
            hostname: "dev.local".into(),
            service: "www".into(),
            port: 80,
            tls: false,
            version: crate::server_info::HttpVersion::Http11,
            default_headers: Default::default(),
        };
        let peer: SocketAddr = "[::ffff:10.0.0.2]:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut ctx = RequestCtx::new(Arc::new(info), peer, local);
        ctx.path = "/app.cgi/x/y".into();
        ctx.user = Some(std::sync::Arc::new(crate::pipeline::User {
            name: "foo".into(),
            group: "users".into(),
            auth_type: "Basic",
            ..Default::default()
        }));
        let script = ScriptInfo {
            script_name: "/app.cgi",
            path_info: "/x/y",
            script_filename: Some(Path::new("/srv/cgi/app.cgi")),
            document_root: Path::new("/srv/cgi"),
        };
        let mut env = meta(&head, &ctx, &script);
        extend(&mut env, &["EXTRA=1".into(), "PATH=/opt/bin".into()]);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(get("QUERY_STRING").as_deref(), Some("a=1&b"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/x/y"));
        assert_eq!(get("PATH_TRANSLATED").as_deref(), Some("/srv/cgi/x/y"));
        assert_eq!(get("SCRIPT_NAME").as_deref(), Some("/app.cgi"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("10.0.0.2"));
        assert_eq!(get("REMOTE_USER").as_deref(), Some("foo"));
        assert_eq!(get("AUTH_TYPE").as_deref(), Some("Basic"));
        assert_eq!(get("CONTENT_LENGTH").as_deref(), Some("5"));
        assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("t"));
        assert_eq!(get("HTTP_X_A").as_deref(), Some("1, 2"));
        assert_eq!(get("HTTP_AUTHORIZATION"), None);
        assert_eq!(get("HTTP_PROXY"), None);
        assert_eq!(get("HTTP_CONTENT_TYPE"), None);
        assert_eq!(get("HTTPS"), None);
        assert_eq!(get("EXTRA").as_deref(), Some("1"));
        assert_eq!(get("PATH").as_deref(), Some("/opt/bin"));
        assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1);
    }
}
