//! What a client sends to the authentication module: `Authorization:
//! Basic` and `Digest` credentials, the scheme prefix, the token sources
//! (`Authorization: Bearer`, `X-Auth-Token` header and cookie), cookies,
//! the sign-in form body and its `redirect_uri` check, and the digest
//! response computation over parsed parameters.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marmoset::modules::auth::digest::{self, Algorithm, Hash};
use marmoset::modules::auth::{Scheme, basic, token, wwwform};
use marmoset_fuzz::{fields, head, text};

fuzz_target!(|data: &[u8]| {
    let [authz, cookie, x_token, host, other] = fields::<5>(data);
    let other_text = text(other);

    // Authorization header, each scheme.
    let authz_text = text(authz);
    for scheme in ["Basic", "Digest", "Bearer"] {
        if let Some(rest) = token::strip_scheme(&authz_text, scheme) {
            assert!(rest.len() < authz_text.len());
            match scheme {
                "Basic" => {
                    if let Some((user, _)) = basic::Decoded::parse(rest)
                        .as_ref()
                        .and_then(basic::Decoded::split)
                    {
                        assert!(!user.contains(':'), "user {user:?} holds the separator");
                    }
                }
                "Digest" => digest_params(rest),
                _ => {}
            }
        }
    }
    let _ = basic::Decoded::parse(&other_text)
        .as_ref()
        .and_then(basic::Decoded::split);
    digest_params(&other_text);

    // Token sources and cookies.
    let h = head(&[
        ("authorization", authz),
        ("cookie", cookie),
        ("x-auth-token", x_token),
    ]);
    if let Some(t) = token::find(&h) {
        assert!(!t.is_empty() && t.trim() == t, "token {t:?} not trimmed");
    }
    let _ = token::cookie(&h, &other_text);
    let _ = token::cookie(&h, token::TOKEN_NAME);
    let _ = token::cookie_domain(&text(host));

    // Form sign-in.
    let _ = wwwform::parse_form(&other_text);
    let host_text = text(host);
    let redirect = wwwform::safe_redirect(&other_text, Some(&host_text));
    // Only what can be sent as a `Location` header matters.
    if let Some(to) = redirect.filter(|to| http::HeaderValue::from_str(to).is_ok()) {
        // Never another host: a path on this one, or this host named. A
        // browser drops tabs and newlines from a URL before parsing it
        // (WHATWG URL), so judge the location as it will read it.
        let strip = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect()
        };
        let seen = strip(to);
        match seen
            .strip_prefix("http://")
            .or_else(|| seen.strip_prefix("https://"))
        {
            Some(rest) => {
                let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
                assert!(
                    authority.eq_ignore_ascii_case(&strip(&host_text)),
                    "redirect {to:?} leaves host {host_text:?}"
                );
            }
            None => assert!(
                seen.starts_with('/') && !seen.starts_with("//") && !seen.contains('\\'),
                "redirect {to:?} leaves the server"
            ),
        }
    }
    let _ = wwwform::safe_redirect(&other_text, None);
    let _ = Scheme::parse(&other_text);
});

fn digest_params(s: &str) {
    let Some(p) = digest::parse_params(s) else {
        return;
    };
    let alg = p
        .algorithm
        .as_deref()
        .map_or(Some(Algorithm::parse("MD5").unwrap()), Algorithm::parse);
    if let Some(alg) = alg {
        let _ = alg.name();
        let r = digest::response(alg, "0123456789abcdef", &p, "GET");
        assert_eq!(r.len(), alg.hash.output_len() * 2);
    }
    let _ = Hash::from_ouistiti_id(&p.nc);
}
