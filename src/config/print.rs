//! `-C`: the effective configuration, printed back in libconfig syntax with
//! every default filled in, so a user sees what marmoset will actually do.

use std::fmt::Write;
use std::path::Path;

use super::model::{Config, ServerConfig};

/// Quote a string for libconfig.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The effective configuration of `config`, read from `path`.
pub fn effective(config: &Config, path: &Path) -> String {
    let mut o = String::new();
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let _ = writeln!(o, "# configfile={}", quote(&real.to_string_lossy()));
    let opt = |o: &mut String, key: &str, v: Option<&Path>| {
        if let Some(v) = v {
            let _ = writeln!(o, "{key} = {};", quote(&v.to_string_lossy()));
        }
    };
    match config.mode {
        crate::engine::Mode::Mono => o.push_str("mode = \"mono\";\n"),
        crate::engine::Mode::Process => o.push_str("mode = \"process\";\n"),
        crate::engine::Mode::Threads(n) => {
            let _ = writeln!(o, "mode = \"threads\";\nworkers = {n};");
        }
    }
    if let Some(u) = &config.user {
        let _ = writeln!(o, "user = {};", quote(u));
    }
    opt(&mut o, "log-file", config.log_file.as_deref());
    opt(&mut o, "pid-file", config.pid_file.as_deref());
    opt(&mut o, "config_d", config.config_d.as_deref());
    opt(&mut o, "init_d", config.init_d.as_deref());
    opt(&mut o, "chroot", config.chroot.as_deref());
    if !config.mimetypes.is_empty() {
        let items: Vec<String> = config
            .mimetypes
            .iter()
            .map(|m| format!("{{ ext = {}; mime = {}; }}", quote(&m.ext), quote(&m.mime)))
            .collect();
        let _ = writeln!(o, "mimetypes = ({});", items.join(",\n             "));
    }
    let servers: Vec<String> = config.servers.iter().map(server).collect();
    let _ = writeln!(o, "servers = ({});", servers.join(", "));
    o
}

fn server(s: &ServerConfig) -> String {
    let mut o = String::from("{\n");
    let mut line = |k: &str, v: String| {
        let _ = writeln!(o, "    {k} = {v};");
    };
    line("hostname", quote(&s.hostname));
    if let Some(a) = s.addr {
        line("addr", quote(&a.to_string()));
    }
    line("port", s.port.to_string());
    line("service", quote(&s.service));
    line(
        "keepalivetimeout",
        s.keepalive_timeout.as_secs().to_string(),
    );
    line("chunksize", s.chunksize.to_string());
    line("maxclients", s.maxclients.to_string());
    line("version", quote(s.version.as_str()));
    line("headertimeout", s.header_timeout.as_secs().to_string());
    line("maxheadersize", s.max_header_size.to_string());
    line("maxurisize", s.max_uri_size.to_string());
    line("maxbodysize", format!("{}L", s.max_body_size));
    if let Some(r) = &s.root {
        line("root", quote(&r.to_string_lossy()));
    }
    for (key, value) in s.modules.print() {
        line(key, value);
    }
    o.push_str("  }");
    o
}
