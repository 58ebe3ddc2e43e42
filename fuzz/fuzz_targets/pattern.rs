//! Ouistiti pattern lists (`PatternList`) and the allow/deny `UriFilter`
//! built on them. The rest returned by a match is a suffix of the subject.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marmoset::pattern::{PatternList, has_option};
use marmoset::uri_filter::UriFilter;
use marmoset_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [flags, a, b, c] = fields::<4>(data);
    let (a, b, c) = (text(a), text(b), text(c));
    let list = PatternList::new(&a);
    if let Some(rest) = list.matches(&b) {
        assert!(b.ends_with(rest), "rest {rest:?} is not a suffix of {b:?}");
        assert!(list.is_match(&b));
    }
    let _ = list.is_empty();
    let _ = has_option(&a, &b);
    let flag = flags.first().copied().unwrap_or(0);
    let allow = (flag & 1 != 0).then_some(a.as_str());
    let deny = (flag & 2 != 0).then_some(c.as_str());
    let deny_last = match flag & 12 {
        0 => None,
        4 => Some(false),
        _ => Some(true),
    };
    let _ = UriFilter::new(allow, deny, deny_last).accepts(&b);
});
