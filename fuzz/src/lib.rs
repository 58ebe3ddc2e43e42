//! Helpers shared by the fuzz targets.

/// Split `data` into exactly `N` fields at NUL bytes (missing fields are
/// empty; the last field keeps any further NULs).
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    let mut rest = data;
    for (i, slot) in out.iter_mut().enumerate() {
        if i + 1 == N {
            *slot = rest;
            break;
        }
        match rest.iter().position(|&b| b == 0) {
            Some(p) => {
                *slot = &rest[..p];
                rest = &rest[p + 1..];
            }
            None => {
                *slot = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    out
}

/// The text of a field, lossily decoded (fuzzers mostly find UTF-8 anyway).
pub fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

/// A request head carrying `headers` (those whose value is not a valid
/// header value are left out, as hyper would refuse them).
pub fn head(headers: &[(&'static str, &[u8])]) -> http::request::Parts {
    let mut req = http::Request::new(());
    for (name, value) in headers {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            req.headers_mut()
                .append(http::HeaderName::from_static(name), v);
        }
    }
    req.into_parts().0
}
