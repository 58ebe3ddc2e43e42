//! `vhost`: several sites on one listening port, chosen by the `Host`
//! header.
//!
//! A server's `vhost` is a group, a list, or a string; list elements are
//! groups or strings. A string names a libconfig file whose first `servers`
//! element (or `server` group, or top-level `vhost` group) is the virtual
//! host. Each virtual host has its own modules (document, auth, redirect,
//! cors, …), configured like a server; its `tls` group, when present, gives
//! the certificate sent to clients asking for its `hostname` by SNI.
//!
//! | key | meaning |
//! |-----|---------|
//! | `hostname` | host to match, case-insensitively, with or without the request's `:port` |
//! | `service` | first DNS label to match, when there is no `hostname` |
//! | `root` | directory relative module paths resolve against |
//!
//! Requests whose `Host` matches no virtual host are served by the server's
//! own modules. Each request is matched on its own (Ouistiti switches a
//! whole connection to the first virtual host it matched).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::value::{Span, ValueKind};
use crate::config::{Diagnostic, Diagnostics, Problem, Section, Severity, syntax};
use crate::engine::VhostSpec;
use crate::mime::MimeTable;
use crate::modules::{BuildEnv, ModulesConfig, in_dir};
use crate::server_info::ServerInfo;

/// One parsed virtual host.
#[derive(Debug)]
pub struct VhostConfig {
    /// Where it is written.
    pub span: Span,
    /// Its key path.
    pub path: String,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `service`.
    pub service: Option<String>,
    /// `root`.
    pub root: Option<PathBuf>,
    /// Its modules.
    pub modules: ModulesConfig,
}

impl VhostConfig {
    /// Read a virtual-host group.
    pub fn from_section(s: &Section<'_>) -> Option<VhostConfig> {
        let hostname = s.str("hostname");
        let service = s.str("service");
        if hostname.is_none() && service.is_none() {
            s.error(
                "hostname",
                Problem::BadValue("a virtual host needs `hostname` or `service`".into()),
            );
        }
        if s.value("vhost").is_some() {
            s.warn(
                "vhost",
                Problem::BadValue("nested virtual hosts are ignored".into()),
            );
        }
        let cfg = VhostConfig {
            span: s.span().clone(),
            path: s.path().to_string(),
            root: s.str("root").map(PathBuf::from),
            modules: ModulesConfig::from_section_of_vhost(s),
            hostname: hostname.clone(),
            service: service.clone(),
        };
        s.accept(&["hostname", "service", "root"]);
        (hostname.is_some() || service.is_some()).then_some(cfg)
    }

    /// The section as libconfig text, for `-C`.
    pub fn print(&self) -> String {
        use crate::config::print::quote;
        let mut parts = Vec::new();
        if let Some(h) = &self.hostname {
            parts.push(format!("hostname = {};", quote(h)));
        }
        if let Some(sv) = &self.service {
            parts.push(format!("service = {};", quote(sv)));
        }
        if let Some(r) = &self.root {
            parts.push(format!("root = {};", quote(&r.to_string_lossy())));
        }
        for (k, v) in self.modules.print() {
            parts.push(format!("{k} = {v};"));
        }
        format!("{{ {} }}", parts.join(" "))
    }
}

/// Build the modules of a virtual host of a server described by `parent`.
pub fn build(
    vh: &VhostConfig,
    parent: &ServerInfo,
    mime: &Arc<MimeTable>,
) -> Result<VhostSpec, Vec<Diagnostic>> {
    let hostname = vh
        .hostname
        .clone()
        .unwrap_or_else(|| parent.hostname.clone());
    let info = Arc::new(ServerInfo {
        service: vh
            .service
            .clone()
            .unwrap_or_else(|| crate::config::model::default_service(&hostname)),
        hostname,
        ..parent.clone()
    });
    let env = BuildEnv {
        mime: mime.clone(),
        server: info.clone(),
    };
    let modules = in_dir(vh.root.as_deref(), || vh.modules.build(&env)).map_err(|e| {
        vec![Diagnostic {
            severity: Severity::Error,
            span: vh.span.clone(),
            path: format!("{}.root", vh.path),
            problem: Problem::Io(e.to_string()),
        }]
    })??;
    Ok(VhostSpec {
        hostname: vh.hostname.clone(),
        service: vh.service.clone(),
        info,
        modules,
    })
}

/// The certificate a virtual host wants sent for its name, if any.
pub fn sni(vh: &VhostConfig) -> Option<(String, crate::modules::tls::TlsConfig)> {
    Some((vh.hostname.clone()?, vh.modules.tls.clone()?))
}

/// Every virtual host of a server section (`vhost` key).
pub fn vhosts_of(s: &Section<'_>) -> Vec<VhostConfig> {
    let Some(v) = s.value("vhost") else {
        return Vec::new();
    };
    let diag = s.diagnostics();
    let items: Vec<_> = match &v.kind {
        ValueKind::List(items) | ValueKind::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{}.vhost[{i}]", s.path());
        match &item.kind {
            ValueKind::Group(g) => {
                let sec = Section::new(g, path, item.span.clone(), diag);
                out.extend(VhostConfig::from_section(&sec));
                sec.finish();
            }
            ValueKind::Str(file) => out.extend(from_file(Path::new(file), &item.span, path, diag)),
            other => diag.push(
                Severity::Error,
                item.span.clone(),
                path,
                Problem::WrongType {
                    expected: "group or file name",
                    found: other.type_name(),
                },
            ),
        }
    }
    out
}

/// A virtual host from a file; a file that does not parse is skipped with
/// a warning, as Ouistiti does.
fn from_file(file: &Path, at: &Span, path: String, diag: &Diagnostics) -> Option<VhostConfig> {
    let top = match syntax::parse_file(file) {
        Ok(top) => top,
        Err(d) => {
            diag.push(
                Severity::Warning,
                at.clone(),
                path,
                Problem::Io(format!("{}: {}", d.span, d.problem)),
            );
            return None;
        }
    };
    let span = Span {
        file: file.into(),
        line: 1,
        col: 1,
    };
    let section = Section::new(&top, String::new(), span, diag);
    let found = ["servers", "server", "vhost"]
        .into_iter()
        .find(|k| top.get(k).is_some());
    let Some(key) = found else {
        diag.push(
            Severity::Warning,
            at.clone(),
            path,
            Problem::BadValue(format!(
                "{}: no `servers`, `server` or `vhost` group",
                file.display()
            )),
        );
        return None;
    };
    section.accept(&["servers", "server", "vhost"]);
    let first = section.groups(key).into_iter().next()?;
    let vhost = VhostConfig::from_section(&first);
    first.finish();
    vhost
}

/// Whether a request for `host` (the `Host` header) is for this virtual host.
pub fn matches(hostname: Option<&str>, service: Option<&str>, host: &str) -> bool {
    if let Some(name) = hostname {
        let bare = host
            .rsplit_once(':')
            .filter(|(h, _)| !h.ends_with(']'))
            .map_or(host, |(h, _)| h);
        return name.eq_ignore_ascii_case(host) || name.eq_ignore_ascii_case(bare);
    }
    if let Some(service) = service {
        return host
            .split('.')
            .next()
            .is_some_and(|l| l.eq_ignore_ascii_case(service));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_matching() {
        assert!(matches(Some("a.example.org"), None, "a.example.org"));
        assert!(matches(Some("a.example.org"), None, "A.Example.org:8080"));
        assert!(matches(
            Some("a.example.org:8080"),
            None,
            "a.example.org:8080"
        ));
        assert!(!matches(Some("a.example.org"), None, "b.example.org"));
        assert!(matches(None, Some("media"), "media.example.org"));
        assert!(matches(None, Some("media"), "MEDIA.example.org:80"));
        assert!(!matches(None, Some("media"), "mediax.example.org"));
        assert!(!matches(None, None, "x"));
    }
}
