//! The `Date` header value, formatted once per second per thread.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

thread_local! {
    static CACHE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// The current time as an RFC 9110 `Date` value (`Tue, 04 Mar 2025 10:00:00 GMT`).
pub fn now() -> HeaderValue {
    with_now(HeaderValue::clone)
}

/// Call `f` with the current `Date` value, without a copy of it (no
/// reference count touched).
pub fn with_now<R>(f: impl FnOnce(&HeaderValue) -> R) -> R {
    let secs = secs();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let at = UNIX_EPOCH + Duration::from_secs(secs);
            let text = httpdate::fmt_http_date(at);
            c.1 = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""));
            c.0 = secs;
        }
        f(&c.1)
    })
}

thread_local! {
    static CLF: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The current time in the common log format: `10/Oct/2000:13:55:36 +0000`
/// (UTC), formatted once per second per thread, lent to `f`.
pub fn with_clf<R>(f: impl FnOnce(&str) -> R) -> R {
    let secs = secs();
    CLF.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            c.1 = clf(secs);
            c.0 = secs;
        }
        f(&c.1)
    })
}

/// Seconds since the epoch. (The coarse clock would be cheaper, but
/// rustix's vDSO lookup for it faults under valgrind, which
/// `bench/callgrind.sh` relies on.)
fn secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Format seconds since the epoch in the common log format (UTC).
pub fn clf(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31), proleptic
/// Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_log_format_dates() {
        assert_eq!(clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf(971_185_736), "10/Oct/2000:13:48:56 +0000");
        assert_eq!(clf(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf(1_795_391_999), "22/Nov/2026:23:59:59 +0000");
    }

    #[test]
    fn date_header_is_an_http_date() {
        let v = now();
        let t = httpdate::parse_http_date(v.to_str().unwrap()).unwrap();
        let age = SystemTime::now().duration_since(t).unwrap();
        assert!(age.as_secs() < 2);
    }
}
