//! Names of the cipher suites and protocol versions that the `ciphers` and
//! `protocols` keys accept: IANA names (`TLS_AES_128_GCM_SHA256`,
//! `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), OpenSSL names
//! (`ECDHE-RSA-AES128-GCM-SHA256`) and rustls names (`TLS13_AES_128_GCM_SHA256`).
//! rustls offers only TLS 1.2 and 1.3 with AEAD suites: nothing weak can be
//! named here.

use rustls::SupportedCipherSuite;
use rustls::crypto::ring::cipher_suite as cs;

/// Every suite of the ring provider with the names it answers to.
fn table() -> [(SupportedCipherSuite, &'static [&'static str]); 9] {
    [
        (
            cs::TLS13_AES_256_GCM_SHA384,
            &["TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"],
        ),
        (
            cs::TLS13_AES_128_GCM_SHA256,
            &["TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"],
        ),
        (
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            &[
                "TLS_CHACHA20_POLY1305_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
            ],
        ),
        (
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            &[
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
            ],
        ),
        (
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            &[
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
            ],
        ),
        (
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            &[
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "ECDHE-ECDSA-CHACHA20-POLY1305",
            ],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            &[
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
            ],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ],
        ),
        (
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            &[
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "ECDHE-RSA-CHACHA20-POLY1305",
            ],
        ),
    ]
}

/// The suites named in `list` (separated by `:`, `,` or spaces), in the
/// order given; `Err` names the first unknown one.
pub fn parse_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let table = table();
    let mut out = Vec::new();
    for name in list
        .split(|c: char| c == ':' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let suite = table
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(s, _)| *s)
            .ok_or_else(|| format!("unknown or unsupported cipher suite `{name}`"))?;
        if !out.contains(&suite) {
            out.push(suite);
        }
    }
    if out.is_empty() {
        return Err("no cipher suite named".into());
    }
    Ok(out)
}

/// The versions named in `list` (`TLSv1.2`, `TLSv1.3`, also `1.2`, `TLS1.3`).
pub fn parse_versions(
    list: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let mut out = Vec::new();
    for name in list
        .split(|c: char| c == ':' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let v = match name
            .to_ascii_lowercase()
            .trim_start_matches("tlsv")
            .trim_start_matches("tls")
        {
            "1.2" => &rustls::version::TLS12,
            "1.3" => &rustls::version::TLS13,
            "1.0" | "1.1" | "1" => {
                return Err(format!(
                    "`{name}` is not supported: only TLS 1.2 and 1.3 are safe"
                ));
            }
            _ => return Err(format!("unknown protocol version `{name}`")),
        };
        if !out
            .iter()
            .any(|o: &&rustls::SupportedProtocolVersion| o.version == v.version)
        {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err("no protocol version named".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_in_every_spelling() {
        let s = parse_suites(
            "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES256-GCM-SHA384, tls13_chacha20_poly1305_sha256",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0], cs::TLS13_AES_128_GCM_SHA256);
        assert_eq!(s[1], cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
        assert!(parse_suites("RC4-MD5").unwrap_err().contains("RC4-MD5"));
        assert!(parse_suites("").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_versions("TLSv1.3").unwrap().len(), 1);
        assert_eq!(parse_versions("TLSv1.2,TLSv1.3").unwrap().len(), 2);
        assert!(
            parse_versions("TLSv1.1")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_versions("SSLv3").is_err());
    }
}
