//! Stage 2 of the configuration: typed values for the main entries and the
//! server entries. Defaults live in one `Default` impl each; every field's
//! doc names its Ouistiti key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::diag::{Problem, Section};
use super::value::Span;
use crate::modules::ModulesConfig;
use crate::pattern::has_option;
use crate::server_info::{HttpVersion, Security};

/// The whole configuration file.
#[derive(Debug, Default)]
pub struct Config {
    /// `user`: account to switch to after binding.
    pub user: Option<String>,
    /// `log-file`: log destination (`None` or `-…` = stderr).
    pub log_file: Option<PathBuf>,
    /// `pid-file` (Ouistiti documents it but ignores it; marmoset honours it).
    pub pid_file: Option<PathBuf>,
    /// `config_d`: directory of `*.conf` files with more servers.
    pub config_d: Option<PathBuf>,
    /// `init_d`: script or directory of scripts run at start and stop.
    pub init_d: Option<PathBuf>,
    /// `chroot` (marmoset): directory the process is confined to before
    /// the servers are built; their paths are then paths inside it.
    pub chroot: Option<PathBuf>,
    /// `mode` (marmoset): `mono` (one thread, default), `threads` or `process`.
    pub mode: crate::engine::Mode,
    /// `mimetypes`: extra extension → type mappings.
    pub mimetypes: Vec<MimeTypeConfig>,
    /// `servers` (or `server`).
    pub servers: Vec<ServerConfig>,
}

/// One `mimetypes` entry.
#[derive(Debug, Clone)]
pub struct MimeTypeConfig {
    /// `ext`: pattern list matched against the file's last extension.
    pub ext: String,
    /// `mime`: the content type.
    pub mime: String,
}

/// One server (a listening port) and its modules.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where the server group starts in the configuration.
    pub span: Span,
    /// `hostname` (default `<machine>.local`).
    pub hostname: String,
    /// `addr`: bind address (default: all IPv6 and IPv4 interfaces).
    pub addr: Option<IpAddr>,
    /// `port` (default 80; `0` takes the `-P` value).
    pub port: u16,
    /// `service` (default: the first label of a host name with two dots,
    /// else `www`).
    pub service: String,
    /// `keepalivetimeout`: idle time allowed between requests; zero closes
    /// the connection after each response (Ouistiti's default).
    pub keepalive_timeout: Duration,
    /// `chunksize`: Ouistiti's buffer unit; accepted and kept, marmoset's
    /// buffers size themselves.
    pub chunksize: usize,
    /// `maxclients`: simultaneous connections (default 10, as Ouistiti).
    pub maxclients: usize,
    /// `version`: highest HTTP version spoken.
    pub version: HttpVersion,
    /// `security`: default security headers to drop.
    pub security: Security,
    /// `headertimeout` (marmoset): seconds a client has to send a request head.
    pub header_timeout: Duration,
    /// `maxheadersize` (marmoset): largest request head in bytes (431 past it).
    pub max_header_size: usize,
    /// `maxurisize` (marmoset): longest request target in bytes (414 past it).
    pub max_uri_size: usize,
    /// `maxbodysize` (marmoset): largest request body in bytes (413 past it).
    pub max_body_size: u64,
    /// `root`: directory relative module paths resolve against.
    pub root: Option<PathBuf>,
    /// `timeout`: I/O timeout towards CGI / Python children, seconds.
    pub timeout: f64,
    /// The modules of this server.
    pub modules: ModulesConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let hostname = default_hostname();
        ServerConfig {
            span: Span {
                file: std::path::Path::new("<default>").into(),
                line: 0,
                col: 0,
            },
            service: default_service(&hostname),
            hostname,
            addr: None,
            port: 80,
            keepalive_timeout: Duration::ZERO,
            chunksize: 128,
            maxclients: 10,
            version: HttpVersion::Http11,
            security: Security::default(),
            header_timeout: Duration::from_secs(10),
            max_header_size: 16 * 1024,
            max_uri_size: 8 * 1024,
            max_body_size: 1024 * 1024,
            root: None,
            timeout: 3.0,
            modules: ModulesConfig::default(),
        }
    }
}

/// `<machine host name>.local`, as Ouistiti derives it.
pub fn default_hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}.local")
}

/// The first label of a host name with at least two dots, else `www`.
pub fn default_service(hostname: &str) -> String {
    if hostname.matches('.').count() >= 2 {
        hostname.split('.').next().unwrap_or("www").to_string()
    } else {
        "www".into()
    }
}

impl Config {
    /// Read the main entries of the top-level group.
    pub fn from_section(top: &Section<'_>) -> Config {
        let mut cfg = Config {
            user: top.str("user"),
            log_file: top.str("log-file").map(PathBuf::from),
            pid_file: top.str("pid-file").map(PathBuf::from),
            config_d: top.str("config_d").map(PathBuf::from),
            init_d: top.str("init_d").map(PathBuf::from),
            chroot: top.str("chroot").map(PathBuf::from),
            ..Config::default()
        };
        for m in top.groups("mimetypes") {
            if let (Some(ext), Some(mime)) = (m.str("ext"), m.str("mime")) {
                cfg.mimetypes.push(MimeTypeConfig { ext, mime });
            }
            m.finish();
        }
        cfg.mode = mode_of(top);
        cfg.servers = servers_of(top);
        // Keys seen in Ouistiti example files and ignored by it.
        top.accept(&["maxservers", "static_file"]);
        cfg
    }
}

/// `mode` and `workers` (marmoset keys).
fn mode_of(top: &Section<'_>) -> crate::engine::Mode {
    use crate::engine::Mode;
    let workers = top.uint("workers").unwrap_or(0) as usize;
    match top.str("mode").as_deref() {
        None | Some("mono") => Mode::Mono,
        Some("threads") => Mode::Threads(workers),
        Some("process") => Mode::Process,
        Some(other) => {
            top.error(
                "mode",
                Problem::BadValue(format!(
                    "`{other}`: expected \"mono\", \"threads\" or \"process\""
                )),
            );
            Mode::Mono
        }
    }
}

/// The servers of a file: `servers`, or `server` when absent.
pub fn servers_of(top: &Section<'_>) -> Vec<ServerConfig> {
    let key = if top.has("servers") {
        "servers"
    } else {
        "server"
    };
    top.accept(&["servers", "server"]);
    top.groups(key)
        .into_iter()
        .map(|s| {
            let server = ServerConfig::from_section(&s);
            s.finish();
            server
        })
        .collect()
}

impl ServerConfig {
    /// Read one server group.
    pub fn from_section(s: &Section<'_>) -> ServerConfig {
        let d = ServerConfig::default();
        let hostname = s.str("hostname").unwrap_or(d.hostname);
        if !hostname.contains('.') {
            s.warn(
                "hostname",
                Problem::BadValue(format!(
                    "host name `{hostname}` has no dot; cookies get no domain"
                )),
            );
        }
        let service = s
            .str("service")
            .unwrap_or_else(|| default_service(&hostname));
        let port = match s.uint("port") {
            Some(p) if p <= u16::MAX as u64 => p as u16,
            Some(p) => {
                s.error(
                    "port",
                    Problem::BadValue(format!("port {p} is out of range")),
                );
                d.port
            }
            None => d.port,
        };
        let addr = s.str("addr").and_then(|a| parse_addr(s, &a));
        let version = match s.str("version") {
            None => d.version,
            Some(v) => HttpVersion::parse(&v).unwrap_or_else(|| {
                s.warn(
                    "version",
                    Problem::BadValue(format!(
                        "unknown version `{v}` (expected HTTP/0.9, HTTP/1.0, HTTP/1.1 or HTTP/2), HTTP/1.1 used"
                    )),
                );
                d.version
            }),
        };
        let security = s.str("security").map_or(d.security, |o| Security {
            frame: has_option(&o, "frame"),
            cache: has_option(&o, "cache"),
            sniff: has_option(&o, "sniff"),
            otherorigin: has_option(&o, "otherorigin"),
        });
        let positive = |key, default: usize| match s.uint(key) {
            Some(0) => {
                s.error(key, Problem::BadValue("must be greater than 0".into()));
                default
            }
            Some(n) => n as usize,
            None => default,
        };
        let cfg = ServerConfig {
            span: s.span().clone(),
            keepalive_timeout: s
                .uint("keepalivetimeout")
                .map_or(d.keepalive_timeout, Duration::from_secs),
            chunksize: positive("chunksize", d.chunksize),
            maxclients: positive("maxclients", d.maxclients),
            header_timeout: s
                .uint("headertimeout")
                .map_or(d.header_timeout, Duration::from_secs),
            max_header_size: positive("maxheadersize", d.max_header_size).max(1024),
            max_uri_size: positive("maxurisize", d.max_uri_size),
            max_body_size: s.uint("maxbodysize").unwrap_or(d.max_body_size),
            root: s.str("root").map(PathBuf::from),
            timeout: s.float("timeout").unwrap_or(d.timeout),
            modules: ModulesConfig::from_section(s),
            hostname,
            service,
            port,
            addr,
            version,
            security,
        };
        // Keys of modules that are not (yet) part of marmoset.
        s.accept(&["unlock_groups"]);
        cfg
    }
}

fn parse_addr(s: &Section<'_>, text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if text == "localhost" {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    s.error(
        "addr",
        Problem::BadValue(format!("`{text}` is not an IPv4 or IPv6 address")),
    );
    None
}
