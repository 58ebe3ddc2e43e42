//! Integration tests: config. The configuration file as the real binary
//! reads it: `marmoset -C` (the effective configuration on stdout), real
//! starts, and every error and warning with its `file:line:col`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TempDir, TestServer, doc_conf, marmoset, site};

/// What a bounded run of the binary produced.
pub(crate) struct Outcome {
    /// The exit status; `None` when the process had to be killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code (`None` if killed or still running at the limit).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Run `cmd` (stdin closed, stdout and stderr captured) for at most `limit`;
/// a process still running then is killed.
pub(crate) fn run_bounded(cmd: &mut Command, limit: Duration) -> Outcome {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn marmoset");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Write `conf` as `marmoset.conf` in a fresh site and run
/// `marmoset -W site -C -f marmoset.conf`.
fn check(conf: &str) -> (TempDir, Outcome) {
    let dir = site();
    std::fs::write(dir.path().join("marmoset.conf"), conf).unwrap();
    let out = check_in(dir.path());
    (dir, out)
}

/// `marmoset -W dir -C -f marmoset.conf`.
fn check_in(dir: &Path) -> Outcome {
    run_bounded(
        marmoset()
            .arg("-W")
            .arg(dir)
            .args(["-C", "-f", "marmoset.conf"]),
        Duration::from_secs(20),
    )
}

/// A real start (`-P 0`) that is expected to fail: the outcome, bounded so a
/// server that wrongly starts is killed after a while.
fn start_fails(conf: &str) -> (TempDir, Outcome) {
    let dir = site();
    std::fs::write(dir.path().join("marmoset.conf"), conf).unwrap();
    let out = run_bounded(
        marmoset()
            .arg("-W")
            .arg(dir.path())
            .args(["-f", "marmoset.conf", "-P", "0"]),
        Duration::from_secs(10),
    );
    (dir, out)
}

/// `marmoset.conf:LINE:COL` of the first occurrence of `needle` in `text`
/// (1-based, columns in characters).
fn at(text: &str, needle: &str) -> String {
    let i = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the configuration"));
    let before = &text[..i];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap().chars().count() + 1;
    format!("marmoset.conf:{line}:{col}")
}

/// Assert a successful `-C` and return its stdout.
#[track_caller]
fn ok(out: &Outcome) -> &str {
    assert_eq!(
        out.code(),
        Some(0),
        "-C failed:\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    &out.stdout
}

/// Assert a failed run (exit 1) that printed `line` (a diagnostic) on stderr.
#[track_caller]
fn fails_with(out: &Outcome, line: &str) {
    assert_eq!(
        out.code(),
        Some(1),
        "expected exit code 1:\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains(line),
        "stderr lacks `{line}`:\n{}",
        out.stderr
    );
}

/// Fetch `path` with curl and return the body.
fn get(server: &TestServer, path: &str) -> String {
    let out = server.curl(path, &[]);
    assert!(
        out.status.success(),
        "curl {path} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Poll `cond` every 20 ms for at most `limit`.
fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Syntax elements
// ---------------------------------------------------------------------------

#[test]
fn config_syntax_equals_and_colon() {
    let (_dir, out) =
        check("servers : ({ port = 8081; maxclients : 7; keepalivetimeout = 3; });\n");
    let stdout = ok(&out);
    assert!(stdout.contains("port = 8081;"), "{stdout}");
    assert!(stdout.contains("maxclients = 7;"), "{stdout}");
    assert!(stdout.contains("keepalivetimeout = 3;"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "unexpected diagnostics: {}",
        out.stderr
    );
}

#[test]
fn config_syntax_terminators_optional_or_comma() {
    // `,` terminators, a missing terminator before `}`, and top-level
    // settings without any terminator: a real start serves files.
    let dir = site();
    let conf = "log-file = \"-\"\n\
                servers = ({ port : 0, addr = \"127.0.0.1\", maxclients = 5\n  \
                document = { docroot = \"htdocs\" } })\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    let (_d, out) = check(conf);
    assert!(ok(&out).contains("maxclients = 5;"), "{}", out.stdout);
}

#[test]
fn config_syntax_single_group_where_list_expected() {
    let dir = site();
    let conf =
        "servers = { port = 0; addr = \"127.0.0.1\"; document = { docroot = \"htdocs\"; }; };\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    // A single `mimetypes` group too.
    let (_d, out) = check(
        "mimetypes = { ext = \".foo\"; mime = \"application/x-foo\"; };\nservers = { port = 8081; };\n",
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains("ext = \".foo\"; mime = \"application/x-foo\";"),
        "{stdout}"
    );
    assert!(stdout.contains("port = 8081;"), "{stdout}");
}

#[test]
fn config_syntax_list_of_groups() {
    let (_dir, out) = check(
        "servers = (\n  { port = 8081; hostname = \"one.example.local\"; },\n  { port = 8082; hostname = \"two.example.local\"; }\n);\n",
    );
    let stdout = ok(&out);
    let one = stdout.find("port = 8081;").expect(stdout);
    let two = stdout.find("port = 8082;").expect(stdout);
    assert!(one < two, "servers out of order:\n{stdout}");
    assert!(
        stdout.contains("hostname = \"one.example.local\";"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hostname = \"two.example.local\";"),
        "{stdout}"
    );
}

#[test]
fn config_syntax_arrays() {
    // Arrays of scalars parse (kept keys that take arrays are accepted
    // silently); elements of mixed types are a syntax error.
    let (_dir, out) = check(
        "maxservers = [ 1, 2, 0x3 ];\nservers = ({ port = 8081; unlock_groups = [ \"users\", \"admin\" ]; });\n",
    );
    assert!(ok(&out).contains("port = 8081;"));
    assert!(
        out.stderr.is_empty(),
        "unexpected diagnostics: {}",
        out.stderr
    );

    let conf = "maxservers = [ 1, \"two\" ];\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        &format!(
            "{}: error: syntax error: array elements must all have the same scalar type: expected integer, found string",
            at(conf, "\"two\"")
        ),
    );
}

#[test]
fn config_syntax_string_escapes() {
    let (_dir, out) =
        check("servers = ({ port = 8081; hostname = \"a\\\\b\\\"c\\td\\x41\\x2elocal\"; });\n");
    let stdout = ok(&out);
    // Read as a\b"c<TAB>dA.local, printed back with escapes.
    assert!(
        stdout.contains("hostname = \"a\\\\b\\\"c\\tdA.local\";"),
        "{stdout}"
    );
    let (_dir, out) = check("servers = ({ port = 8081; hostname = \"line\\nnext.local\"; });\n");
    assert!(
        ok(&out).contains("hostname = \"line\\nnext.local\";"),
        "{}",
        out.stdout
    );
    // An unknown escape is a syntax error at the backslash.
    let conf = "servers = ({ hostname = \"a\\qb.local\"; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        &format!(
            "{}: error: syntax error: invalid escape '\\q'",
            at(conf, "\\q")
        ),
    );
}

#[test]
fn config_syntax_adjacent_strings_concatenate() {
    let dir = site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n  \
                document = { docroot = \"ht\" /* joined */ \"do\"\n    \"cs\"; }; });\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    let (_d, out) = check(conf);
    assert!(ok(&out).contains("docroot = \"htdocs\";"), "{}", out.stdout);
}

#[test]
fn config_syntax_integers_decimal_hex_long() {
    let (_dir, out) = check(
        "servers = ({ port = 0x1F91; maxclients = 0x20; keepalivetimeout = 7L;\n  \
         maxbodysize = 4096L; headertimeout = 0xBL; chunksize = +64; });\n",
    );
    let stdout = ok(&out);
    assert!(stdout.contains("port = 8081;"), "{stdout}");
    assert!(stdout.contains("maxclients = 32;"), "{stdout}");
    assert!(stdout.contains("keepalivetimeout = 7;"), "{stdout}");
    assert!(stdout.contains("maxbodysize = 4096L;"), "{stdout}");
    assert!(stdout.contains("headertimeout = 11;"), "{stdout}");
    assert!(stdout.contains("chunksize = 64;"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "unexpected diagnostics: {}",
        out.stderr
    );
}

#[test]
fn config_syntax_floats() {
    for value in ["2.5", ".5", "5.", "1e3", "2.5e-1"] {
        let (_dir, out) = check(&format!(
            "servers = ({{ port = 8081; timeout = {value}; }});\n"
        ));
        ok(&out);
        assert!(
            out.stderr.is_empty(),
            "timeout = {value}: unexpected diagnostics: {}",
            out.stderr
        );
    }
    // The key really is read as a float.
    let conf = "servers = ({ port = 8081; timeout = \"2.5\"; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        &format!(
            "{}: error: servers[0].timeout: expected float, found string",
            at(conf, "\"2.5\"")
        ),
    );
}

#[test]
fn config_syntax_booleans_any_case() {
    let (_dir, out) = check(
        "servers = (\n  { port = 8081; document = { docroot = \"htdocs\"; deny = \"^/a\"; denylast = TRUE; }; },\n  \
         { port = 8082; document = { docroot = \"htdocs\"; deny = \"^/b\"; denylast = fAlSe; }; },\n  \
         { port = 8083; document = { docroot = \"htdocs\"; deny = \"^/c\"; denylast = True; }; }\n);\n",
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains("deny = \"^/a\"; denylast = true;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("deny = \"^/b\"; denylast = false;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("deny = \"^/c\"; denylast = true;"),
        "{stdout}"
    );
    // Still a boolean, not a string.
    let conf = "servers = ({ port = 8081; document = { docroot = \"htdocs\"; denylast = \"TRUE\"; }; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        &format!(
            "{}: error: servers[0].document.denylast: expected boolean, found string",
            at(conf, "\"TRUE\"")
        ),
    );
}

#[test]
fn config_syntax_comments() {
    let dir = site();
    let conf = "# hash comment, port = 1;\n\
                // slash comment\n\
                servers = ({ /* port = 2;\n   still a comment */ port = 0; // trailing\n  \
                addr = \"127.0.0.1\"; # trailing\n  \
                maxclients = /* inline */ 6;\n  \
                document = { docroot = \"htdocs\"; };\n});\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    let (_d, out) = check(conf);
    let stdout = ok(&out);
    assert!(stdout.contains("maxclients = 6;"), "{stdout}");
    assert!(stdout.contains("port = 80;"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "unexpected diagnostics: {}",
        out.stderr
    );
}

#[test]
fn config_syntax_include_relative_to_including_file() {
    // marmoset.conf includes sub/server.inc, which includes doc.inc from
    // its own directory (sub/), not from the working directory.
    let dir = site();
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        sub.join("server.inc"),
        "servers = ({ port = 0; addr = \"127.0.0.1\"; maxclients = 9;\n@include \"doc.inc\"\n});\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("doc.inc"),
        "document = { docroot = \"htdocs\"; };\n",
    )
    .unwrap();
    assert!(!dir.path().join("doc.inc").exists());
    let conf = "# main file\n@include \"sub/server.inc\"\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    let out = check_in(dir.path());
    let stdout = ok(&out);
    assert!(stdout.contains("maxclients = 9;"), "{stdout}");
    assert!(stdout.contains("docroot = \"htdocs\";"), "{stdout}");

    // A missing included file is reported at the @include.
    let conf = "servers = ({ port = 8081; });\n  @include \"nowhere.inc\"\n";
    let (_d, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:3: error: cannot read included file \"nowhere.inc\"",
    );
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn config_error_syntax_missing_value() {
    let conf = "servers = ({\n  port = ;\n});\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:10: error: syntax error: expected a value, found ';'",
    );
    assert!(out.stdout.is_empty(), "-C printed despite the error");
}

#[test]
fn config_error_syntax_missing_separator() {
    // Between list elements the `,` is required.
    let conf = "servers = (\n  { port = 8081; }\n  { port = 8082; }\n);\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:3: error: syntax error: expected ',' or ')', found '{'",
    );
    // A `;` missing where a setting must end: a value followed by a value.
    let conf = "servers = ({ port = 8081 8082; });\n";
    let (_dir, out) = check(conf);
    fails_with(&out, &format!("{}: error: syntax error:", at(conf, "8082")));
}

#[test]
fn config_error_syntax_unterminated_string() {
    let conf = "hostname = \"abc;\nservers = ();\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:1: error: syntax error: unexpected end of file: unterminated string (opened at 1:12)",
    );
}

#[test]
fn config_error_syntax_unclosed_group() {
    let conf = "servers = ({\n  port = 8081;\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:1: error: syntax error: unexpected end of file",
    );
    assert!(out.stderr.contains("opened at 1:"), "{}", out.stderr);
}

#[test]
fn config_error_syntax_duplicate_key() {
    let conf = "servers = ({\n  port = 8081;\n  port = 8082;\n});\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:3: error: syntax error: duplicate setting 'port'",
    );
}

#[test]
fn config_error_wrong_type() {
    let conf = "servers = ({ port = \"80\"; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:1:21: error: servers[0].port: expected integer, found string",
    );
    let conf = "servers = ({ port = 8081;\n  maxclients = 2.5; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:16: error: servers[0].maxclients: expected integer, found float",
    );
    let conf = "servers = 5;\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:1:11: error: servers: expected group or list of groups, found integer",
    );
}

#[test]
fn config_error_port_out_of_range() {
    let conf = "servers = ({\n  port = 70000;\n});\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:10: error: servers[0].port: port 70000 is out of range",
    );
    let conf = "servers = ({\n  port = -1;\n});\n";
    let (_dir, out) = check(conf);
    fails_with(&out, "marmoset.conf:2:10: error: servers[0].port:");
}

#[test]
fn config_error_bad_addr() {
    let conf = "servers = ({ port = 8081;\n    addr = \"1.2.3\"; });\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:12: error: servers[0].addr: `1.2.3` is not an IPv4 or IPv6 address",
    );
    // Literals and `localhost` are fine.
    for addr in ["::1", "127.0.0.1", "localhost"] {
        let (_dir, out) = check(&format!(
            "servers = ({{ port = 8081; addr = \"{addr}\"; }});\n"
        ));
        assert!(ok(&out).contains("addr = \""), "{addr}: {}", out.stdout);
    }
}

#[test]
fn config_error_missing_docroot() {
    let conf = "servers = ({ port = 8081;\n  document = { options = \"range\"; };\n});\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:2:14: error: servers[0].document.docroot: missing key `docroot`",
    );
}

#[test]
fn config_error_docroot_not_found_at_start() {
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n  document = { docroot = \"nothere\"; };\n});\n";
    // The file itself is valid: -C accepts it.
    let (_d, out) = check(conf);
    ok(&out);
    // Starting fails, at the docroot value.
    let (_d, out) = start_fails(conf);
    fails_with(
        &out,
        &format!(
            "{}: error: servers[0].document.docroot: nothere",
            at(conf, "\"nothere\"")
        ),
    );
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
}

#[test]
fn config_error_two_servers_same_port() {
    let conf = "servers = (\n  { port = 8081; addr = \"127.0.0.1\"; },\n  { port = 8081; addr = \"127.0.0.1\"; }\n);\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:3: error: servers[1]: port 8081 is already used by servers[0]",
    );
    // All addresses against one address clash too.
    let conf = "servers = (\n  { port = 8081; },\n  { port = 8081; addr = \"127.0.0.1\"; }\n);\n";
    let (_dir, out) = check(conf);
    fails_with(
        &out,
        "marmoset.conf:3:3: error: servers[1]: port 8081 is already used by servers[0]",
    );
    // Different ports are fine.
    let (_dir, out) = check("servers = ({ port = 8081; }, { port = 8082; });\n");
    ok(&out);
}

#[test]
fn config_error_security_module_not_provided() {
    // An auth section that cannot protect anything (no password storage)
    // stops the start instead of serving unprotected (fail closed).
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n  document = { docroot = \"htdocs\"; };\n  \
                auth = { type = \"Basic\"; };\n});\n";
    let (_d, out) = check(conf);
    let expected = format!("{}: error: servers[0].auth", at(conf, "{ type"));
    fails_with(&out, &expected);
    let (_d, out) = start_fails(conf);
    fails_with(&out, &expected);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
}

#[test]
fn config_error_many_reported_at_once_sorted() {
    // Within a server `port` is read before `addr`, so the reading order
    // differs from the file order; the report must follow the file.
    let conf = "servers = (\n  { addr = \"nope\";\n    port = \"80\"; },\n  { port = 8082;\n    maxclients = 0;\n    document = { };\n  }\n);\nmimetypes = 3;\n";
    let (_dir, out) = check(conf);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let expected = [
        format!("{}: error: servers[0].addr:", at(conf, "\"nope\"")),
        format!(
            "{}: error: servers[0].port: expected integer, found string",
            at(conf, "\"80\"")
        ),
        "marmoset.conf:5:18: error: servers[1].maxclients:".to_string(),
        format!(
            "{}: error: servers[1].document.docroot: missing key `docroot`",
            at(conf, "{ }")
        ),
        "marmoset.conf:9:13: error: mimetypes: expected group or list of groups, found integer"
            .to_string(),
    ];
    let mut last = 0;
    for e in &expected {
        let pos = out
            .stderr
            .find(e.as_str())
            .unwrap_or_else(|| panic!("missing `{e}` in:\n{}", out.stderr));
        assert!(pos >= last, "`{e}` out of order in:\n{}", out.stderr);
        last = pos;
    }
    // One diagnostic per line, each starting with its location.
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", out.stderr);
    for l in lines {
        assert!(l.contains("marmoset.conf:"), "{l}");
    }
}

// ---------------------------------------------------------------------------
// Warnings
// ---------------------------------------------------------------------------

#[test]
fn config_warning_unknown_key() {
    let dir = site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n    bogus = 1;\n  document = { docroot = \"htdocs\"; };\n});\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    assert!(
        server
            .log()
            .contains("marmoset.conf:2:5: warning: servers[0].bogus: unknown key, ignored"),
        "{}",
        server.log()
    );
    // Top level and in a module section as well.
    let conf = "frobnicate = true;\nservers = ({ port = 8081;\n  document = { docroot = \"htdocs\"; colour = \"red\"; }; });\n";
    let (_d, out) = check(conf);
    ok(&out);
    assert!(
        out.stderr
            .contains("marmoset.conf:1:1: warning: frobnicate: unknown key, ignored"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{}: warning: servers[0].document.colour: unknown key, ignored",
            at(conf, "colour")
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn config_warning_unknown_version() {
    let conf = "servers = ({ port = 8081;\n  version = \"HTTP/3\"; });\n";
    let (_d, out) = check(conf);
    let stdout = ok(&out);
    assert!(stdout.contains("version = \"HTTP/1.1\";"), "{stdout}");
    assert!(
        out.stderr
            .contains("marmoset.conf:2:3: warning: servers[0].version: unknown version `HTTP/3`"),
        "{}",
        out.stderr
    );
    // Known versions are taken without a warning.
    let (_d, out) = check("servers = ({ port = 8081; version = \"HTTP/1.0\"; });\n");
    assert!(
        ok(&out).contains("version = \"HTTP/1.0\";"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn config_warning_unsupported_module_still_starts() {
    let dir = site();
    let conf = "servers = ({ port = 0; addr = \"127.0.0.1\";\n  document = { docroot = \"htdocs\"; };\n  \
                signature = { key = \"k\"; };\n});\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    assert!(
        server.log().contains(
            "marmoset.conf:3:3: warning: servers[0].signature: module `signature` is not supported by this version of marmoset"
        ),
        "{}",
        server.log()
    );
}

// ---------------------------------------------------------------------------
// Main entries
// ---------------------------------------------------------------------------

#[test]
fn config_d_adds_servers_and_skips_broken_files() {
    let dir = site();
    let confd = dir.path().join("conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::create_dir_all(dir.path().join("extra")).unwrap();
    std::fs::write(dir.path().join("extra/which.txt"), "extra\n").unwrap();
    std::fs::write(
        confd.join("10-extra.conf"),
        "servers = ({ port = 8082; hostname = \"extra.example.local\"; document = { docroot = \"extra\"; }; });\n",
    )
    .unwrap();
    std::fs::write(confd.join("20-broken.conf"), "servers = ({ port = 8083;\n").unwrap();
    std::fs::write(confd.join("notes.txt"), "servers = ({ port = 8084; });\n").unwrap();
    std::fs::write(
        dir.path().join("marmoset.conf"),
        "config_d = \"conf.d\";\nservers = ({ port = 8081; hostname = \"main.example.local\"; document = { docroot = \"htdocs\"; }; });\n",
    )
    .unwrap();
    let out = check_in(dir.path());
    let stdout = ok(&out);
    assert!(stdout.contains("port = 8081;"), "{stdout}");
    assert!(stdout.contains("port = 8082;"), "{stdout}");
    assert!(
        stdout.contains("hostname = \"main.example.local\";"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hostname = \"extra.example.local\";"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("port = 8083;"),
        "broken file used:\n{stdout}"
    );
    assert!(
        !stdout.contains("port = 8084;"),
        "non-.conf file used:\n{stdout}"
    );
    assert!(
        out.stderr
            .contains("conf.d/20-broken.conf:2:1: warning: syntax error"),
        "{}",
        out.stderr
    );

    // A real start: the config_d server listens and serves its docroot.
    std::fs::write(
        confd.join("10-extra.conf"),
        "servers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"extra\"; }; });\n",
    )
    .unwrap();
    let conf = "config_d = \"conf.d\";\nservers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"htdocs\"; }; });\n";
    let server = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(server.addrs.len(), 2, "{}", server.log());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{}/which.txt", server.addrs[1]))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "extra\n");
    assert!(server.log().contains("20-broken.conf"), "{}", server.log());
}

#[test]
fn config_mimetypes_apply() {
    let dir = site();
    std::fs::write(dir.path().join("htdocs/x.foo"), "foo\n").unwrap();
    let conf = format!(
        "mimetypes = ({{ ext = \".foo\"; mime = \"application/x-foo\"; }});\n{}",
        doc_conf("", "")
    );
    let server = TestServer::start(dir.path(), &conf, &[]);
    let out = server.curl(
        "/x.foo",
        &["-o", "/dev/null", "-w", "%{http_code} %{content_type}"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 application/x-foo"
    );
}

#[test]
fn config_check_prints_defaults() {
    let (_d, out) = check("servers = ({ });\n");
    let stdout = ok(&out);
    for line in [
        "port = 80;",
        "keepalivetimeout = 0;",
        "maxclients = 10;",
        "version = \"HTTP/1.1\";",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    let host = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("hostname = "))
        .unwrap_or_else(|| panic!("no hostname in:\n{stdout}"));
    assert!(host.trim_end().ends_with(".local\";"), "{host}");
    // What -C prints reads back as the same configuration (but for the
    // `# configfile=` comment, which names the file).
    let (_d, again) = check(stdout);
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(ok(&again)), body(stdout));
}

#[test]
fn config_init_d_runs_scripts_at_start_and_stop() {
    use std::os::unix::fs::PermissionsExt;
    let dir = site();
    let init = dir.path().join("init.d");
    std::fs::create_dir_all(&init).unwrap();
    let mut outs = Vec::new();
    for name in ["S10first", "S20second"] {
        let out = dir.path().join(format!("{name}.out"));
        let script = init.join(name);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$1\" >> '{}'\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        outs.push(out);
    }
    let conf = format!("init_d = \"init.d\";\n{}", doc_conf("", ""));
    let mut server = TestServer::start(dir.path(), &conf, &[]);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    for out in &outs {
        assert!(
            poll(Duration::from_secs(10), || read(out) == "start\n"),
            "{}: {:?}\n{}",
            out.display(),
            read(out),
            server.log()
        );
    }
    assert_eq!(get(&server, "/hello.txt"), "hello world\n");
    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
    for out in &outs {
        assert!(
            poll(Duration::from_secs(10), || read(out) == "start\nstop\n"),
            "{}: {:?}",
            out.display(),
            read(out)
        );
    }
}
