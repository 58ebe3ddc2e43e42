//! curl as the tests' HTTP client: the final status, every header block
//! and the body of one call.

use super::TestServer;

/// A response as curl saw it.
#[derive(Debug)]
pub struct Resp {
    /// Final status (0 when curl got none).
    pub code: u16,
    /// Every header block curl printed (`-D -`).
    pub head: String,
    /// The body.
    pub body: String,
    /// Whether curl itself succeeded, and what it said if not.
    pub curl_ok: bool,
    pub stderr: String,
}

impl Resp {
    /// What a curl run printed with `-D - -w '\n%{http_code}'` on its
    /// standard output, the body being in the file `body`.
    pub fn of(out: &std::process::Output, body: &std::path::Path) -> Resp {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Resp {
            code: code.trim().parse().unwrap_or(0),
            head: head.to_string(),
            body: std::fs::read_to_string(body).unwrap_or_default(),
            curl_ok: out.status.success(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Every `Set-Cookie` value, attributes included.
    pub fn cookies(&self) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// Whether the head contains `text`, ignoring case.
    pub fn has(&self, text: &str) -> bool {
        self.head.to_lowercase().contains(&text.to_lowercase())
    }

    /// The value of the last `name` header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .rfind(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    }

    /// The `Set-Cookie` value setting cookie `name`, attributes included.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cookies().into_iter().find(|v| v.starts_with(&prefix))
    }

    /// The token set by `Set-Cookie: X-Auth-Token=…` (the value only).
    pub fn token(&self) -> Option<String> {
        let c = self.cookie("X-Auth-Token")?;
        let v = c.strip_prefix("X-Auth-Token=")?;
        Some(v.split(';').next().unwrap_or("").to_string())
    }
}

/// `path` on `s` with extra curl `args`.
pub fn curl(s: &TestServer, path: &str, args: &[&str]) -> Resp {
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut all = args.to_vec();
    all.extend([
        "-D",
        "-",
        "-o",
        body.path().to_str().unwrap(),
        "-w",
        "\n%{http_code}",
    ]);
    let out = s.curl(path, &all);
    Resp::of(&out, body.path())
}
