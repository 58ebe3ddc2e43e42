//! Spare header maps, a few per thread. The HTTP/1 engine gives a
//! response's map back once its head is written, and whoever builds the
//! next response or request head takes it instead of allocating: with one
//! request at a time per thread the same maps go round. A map costs two
//! allocations (its index table and its entries) and the same two frees,
//! and growing one to its first size is the dearest insertion.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread.
const KEEP: usize = 4;

/// Largest map kept, in headers: a rare large one is not held for ever.
const LARGEST: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for `len` headers: a spare one, or a new one.
pub fn take(len: usize) -> HeaderMap {
    let spare = SPARE.with(|s| s.borrow_mut().pop());
    match spare {
        Some(mut map) => {
            map.reserve(len);
            map
        }
        None => HeaderMap::with_capacity(len),
    }
}

/// Keep `map` (emptied) for a later head, unless it has no room, is
/// large, or enough are kept already.
pub fn give(mut map: HeaderMap) {
    // A map that never held anything has no memory to give.
    if map.capacity() == 0 || map.capacity() > LARGEST {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            map.clear();
            s.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use http::header::{CONTENT_TYPE, ETAG};

    use super::*;

    #[test]
    fn a_given_map_comes_back_empty_with_its_room() {
        let mut map = take(6);
        map.insert(ETAG, HeaderValue::from_static("\"1\""));
        map.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let room = map.capacity();
        give(map);
        let again = take(2);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn large_maps_are_not_kept() {
        let mut map = HeaderMap::with_capacity(LARGEST * 2);
        map.insert(ETAG, HeaderValue::from_static("\"1\""));
        give(map);
        assert!(take(1).capacity() <= LARGEST);
    }
}
