//! The cache of open files: hits, changes seen by the check and by
//! inotify, bounds.

use super::*;

/// The directory `dir` as a cache root.
fn root_at(dir: &std::path::Path) -> RootDir {
    RootDir::new(File::open(dir).unwrap().into()).unwrap()
}

fn open(dir: &std::path::Path, rel: &str) -> Cached {
    let file = File::open(dir.join(rel)).unwrap();
    let meta = file.metadata().unwrap();
    Cached::new(Arc::new(file), meta)
}

#[test]
fn a_hit_until_the_file_changes() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    std::fs::write(d.path().join("a"), "one").unwrap();
    assert!(lookup(&root, "a").is_none());
    insert(&root, "a", open(d.path(), "a"));
    assert!(lookup(&root, "a").is_some());
    // Replaced by rename: another inode.
    std::fs::write(d.path().join("b"), "two").unwrap();
    std::fs::rename(d.path().join("b"), d.path().join("a")).unwrap();
    assert!(lookup(&root, "a").is_none(), "renamed over");
    insert(&root, "a", open(d.path(), "a"));
    // Re-permissioned: ctime and mode.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(lookup(&root, "a").is_none(), "chmod");
    insert(&root, "a", open(d.path(), "a"));
    // Swapped for a link to itself: the link's inode.
    std::fs::rename(d.path().join("a"), d.path().join("c")).unwrap();
    std::os::unix::fs::symlink("c", d.path().join("a")).unwrap();
    assert!(lookup(&root, "a").is_none(), "link");
    // Deleted.
    insert(&root, "c", open(d.path(), "c"));
    std::fs::remove_file(d.path().join("c")).unwrap();
    assert!(lookup(&root, "c").is_none(), "deleted");
}

#[test]
fn small_settled_files_keep_their_content_until_changed() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    std::fs::write(d.path().join("new"), "fresh").unwrap();
    std::fs::write(d.path().join("old"), "one").unwrap();
    std::fs::write(d.path().join("big"), vec![b'x'; SMALL_FILE as usize + 1]).unwrap();
    // Just written: not settled, only the descriptor is kept.
    let kept = insert(&root, "new", open(d.path(), "new"));
    assert_eq!(kept.content, None);
    std::thread::sleep(SETTLED + Duration::from_millis(100));
    let kept = insert(&root, "old", open(d.path(), "old"));
    assert_eq!(kept.content.as_deref(), Some(&b"one"[..]));
    assert_eq!(insert(&root, "big", open(d.path(), "big")).content, None);
    // Settled since: the next hit reads it.
    assert_eq!(
        lookup(&root, "new").unwrap().content.as_deref(),
        Some(&b"fresh"[..])
    );
    // Rewritten in place, same size: the change time moves, the entry
    // goes, the new bytes are read afresh.
    std::fs::write(d.path().join("old"), "two").unwrap();
    assert!(lookup(&root, "old").is_none());
    let kept = insert(&root, "old", open(d.path(), "old"));
    assert_eq!(kept.content, None, "just changed: not settled");
}

#[test]
fn content_stays_within_the_budget() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    let per = SMALL_FILE as usize;
    let n = CONTENT_BUDGET / per + 2;
    for i in 0..n {
        std::fs::write(d.path().join(i.to_string()), vec![b'x'; per]).unwrap();
    }
    std::thread::sleep(SETTLED + Duration::from_millis(100));
    let with_content = (0..n)
        .filter(|i| {
            insert(&root, &i.to_string(), open(d.path(), &i.to_string()))
                .content
                .is_some()
        })
        .count();
    assert_eq!(with_content, CONTENT_BUDGET / per);
    CACHE.with(|c| assert!(c.borrow().room() < per));
}

#[test]
fn bounded() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    for i in 0..SLOTS + 5 {
        std::fs::write(d.path().join(i.to_string()), "x").unwrap();
        insert(&root, &i.to_string(), open(d.path(), &i.to_string()));
    }
    CACHE.with(|c| assert_eq!(c.borrow().entries.len(), SLOTS));
    assert!(lookup(&root, &(SLOTS + 4).to_string()).is_some());
}

/// Runs `f` on a one-thread runtime with its reactor, as the server's
/// threads do (the watched path needs one).
fn on_runtime(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

/// Let the reactor wait for events once, as it does between requests.
async fn turn() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn changes() -> u64 {
    CACHE.with(|c| c.borrow().changes)
}

fn watched(rel: &str) -> bool {
    CACHE.with(|c| {
        c.borrow()
            .entries
            .iter()
            .any(|e| &*e.rel == rel && e.watches.is_some())
    })
}

#[test]
fn watched_entries_hear_of_changes_to_the_file_and_its_directories() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), "one").unwrap();
        std::fs::write(d.path().join("b"), "two").unwrap();
        insert(&root, "sub/a", open(d.path(), "sub/a"));
        insert(&root, "b", open(d.path(), "b"));
        assert!(watched("sub/a") && watched("b"));
        // Hits with nothing changed: no change counted.
        let before = changes();
        turn().await;
        assert!(lookup(&root, "sub/a").is_some());
        assert!(lookup(&root, "b").is_some());
        assert_eq!(changes(), before);

        // The file rewritten in place: inotify says so, the check
        // that follows drops the entry.
        std::fs::write(d.path().join("b"), "TWO").unwrap();
        turn().await;
        assert!(lookup(&root, "b").is_none(), "rewritten");
        assert!(changes() > before);

        // A directory on the path swapped for another holding the same
        // name: a change on the root's watch, a new inode at the path.
        let before = changes();
        std::fs::rename(d.path().join("sub"), d.path().join("old")).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), "one").unwrap();
        turn().await;
        assert!(lookup(&root, "sub/a").is_none(), "directory swapped");
        assert!(changes() > before);

        // Deleted: the kernel drops the watch, the entry goes with it.
        insert(&root, "b", open(d.path(), "b"));
        std::fs::remove_file(d.path().join("b")).unwrap();
        turn().await;
        assert!(lookup(&root, "b").is_none(), "deleted");
        CACHE.with(|c| assert!(c.borrow().entries.iter().all(|e| &*e.rel != "b")));
    });
}

#[test]
fn the_servers_own_writes_are_seen_before_any_event_is_read() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        std::fs::write(d.path().join("a"), "one").unwrap();
        insert(&root, "a", open(d.path(), "a"));
        // No turn of the reactor between the write and the lookup (a
        // pipelined request read with the one that wrote).
        std::fs::write(d.path().join("a"), "two!").unwrap();
        // A hit trusts the watch: until the reactor reports the
        // event, nothing is checked (no system call)...
        assert!(lookup(&root, "a").is_some(), "a hit checks nothing");
        // ...but the server's own write is known at once.
        written();
        assert!(lookup(&root, "a").is_none());
    });
}

#[test]
fn without_a_reactor_every_hit_is_checked() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    std::fs::write(d.path().join("a"), "one").unwrap();
    insert(&root, "a", open(d.path(), "a"));
    assert!(!watched("a"));
    std::fs::write(d.path().join("a"), "two!").unwrap();
    assert!(lookup(&root, "a").is_none());
}

#[test]
fn a_reused_descriptor_number_does_not_find_another_roots_files() {
    use std::os::fd::AsRawFd;
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("alice")).unwrap();
        std::fs::create_dir(d.path().join("bob")).unwrap();
        std::fs::write(d.path().join("alice/notes.txt"), "alice's").unwrap();
        // Descriptor numbers are the process's: a test on another thread
        // may take the freed one first. Tried again then, a few times.
        let mut reused = false;
        for _ in 0..20 {
            let alice = root_at(&d.path().join("alice"));
            let n = alice.fd().as_raw_fd();
            insert(
                &alice,
                "notes.txt",
                open(&d.path().join("alice"), "notes.txt"),
            );
            assert!(lookup(&alice, "notes.txt").is_some());
            drop(alice);
            let bob = root_at(&d.path().join("bob"));
            if bob.fd().as_raw_fd() == n {
                reused = true;
                assert!(lookup(&bob, "notes.txt").is_none());
                break;
            }
        }
        assert!(reused, "the number was never reused");
    });
}

/// Watches the thread's instance holds.
fn held() -> usize {
    CACHE.with(|c| match &c.borrow().watcher {
        Watching::On(w) => w.held(),
        Watching::Retry(_) => usize::MAX,
    })
}

#[test]
fn watches_go_with_the_last_entry_that_held_them() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), "a").unwrap();
        std::fs::write(d.path().join("sub/b"), "b").unwrap();
        insert(&root, "sub/a", open(d.path(), "sub/a"));
        insert(&root, "sub/b", open(d.path(), "sub/b"));
        // The root, `sub`, and the two files.
        assert_eq!(held(), 4);
        // A deleted file (still open here, so its watch stays): the
        // check at its next hit drops the entry and the file's watch.
        std::fs::remove_file(d.path().join("sub/a")).unwrap();
        turn().await;
        assert!(lookup(&root, "sub/a").is_none());
        assert_eq!(held(), 3);
        // Its directory removed too (pinned by the open file below it, so
        // the kernel keeps the watch): the root's watch reports it, the
        // check drops the last entry, and with it the last watches.
        std::fs::remove_file(d.path().join("sub/b")).unwrap();
        std::fs::remove_dir(d.path().join("sub")).unwrap();
        turn().await;
        assert!(lookup(&root, "sub/b").is_none());
        CACHE.with(|c| assert!(c.borrow().entries.is_empty()));
        assert_eq!(held(), 0);
    });
}

/// Miss `rel` twice (a first miss leaves only a hash) and look it up at
/// once. Other tests' threads may report a server write in between
/// (which rightly forgets every absent path): tried again then, a few
/// times.
fn remembered(root: &RootDir, rel: &str) -> bool {
    for _ in 0..10 {
        let writes = WRITES.load(Ordering::Acquire);
        insert_absent(root, rel);
        insert_absent(root, rel);
        if absent(root, rel) {
            return true;
        }
        if WRITES.load(Ordering::Acquire) == writes {
            return false;
        }
    }
    false
}

#[test]
fn absent_paths_are_known_until_a_name_appears_on_their_path() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        std::fs::create_dir(d.path().join("sub")).unwrap();
        // Created in the root.
        assert!(remembered(&root, "a.html"));
        std::fs::write(d.path().join("a.html"), "here").unwrap();
        turn().await;
        assert!(!absent(&root, "a.html"), "created");
        // Created in an existing directory.
        assert!(remembered(&root, "sub/b.html"));
        std::fs::write(d.path().join("sub/b.html"), "here").unwrap();
        turn().await;
        assert!(!absent(&root, "sub/b.html"), "created in sub");
        // Missing directories: the deepest existing one hears of the
        // first missing one being made.
        assert!(remembered(&root, "sub/x/y/c.html"));
        std::fs::create_dir(d.path().join("sub/x")).unwrap();
        turn().await;
        assert!(!absent(&root, "sub/x/y/c.html"), "a directory made");
        // Moved in under the name.
        assert!(remembered(&root, "d.html"));
        std::fs::write(d.path().join("sub/d"), "moved").unwrap();
        turn().await;
        assert!(remembered(&root, "d.html"), "another name: still absent");
        std::fs::rename(d.path().join("sub/d"), d.path().join("d.html")).unwrap();
        turn().await;
        assert!(!absent(&root, "d.html"), "renamed in");
    });
}

#[test]
fn absent_paths_are_forgotten_at_the_servers_writes_and_in_time() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        assert!(remembered(&root, "a"));
        // Created by the server itself and looked up at once, before the
        // reactor turns (a pipelined request).
        std::fs::write(d.path().join("a"), "put").unwrap();
        written();
        assert!(!absent(&root, "a"), "the server's own write");
        assert!(remembered(&root, "b"));
        std::thread::sleep(watch::REVERIFY + Duration::from_millis(50));
        assert!(!absent(&root, "b"), "looked up again after REVERIFY");
        CACHE.with(|c| assert!(c.borrow().absent.is_empty()));
    });
}

#[test]
fn a_path_missed_once_is_not_remembered() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        insert_absent(&root, "once");
        assert!(!absent(&root, "once"));
        CACHE.with(|c| assert!(c.borrow().absent.is_empty()));
        assert_eq!(held(), usize::MAX, "no inotify instance even made");
        // Pushed out of the hashes by as many other misses.
        for i in 0..MISSES {
            insert_absent(&root, &i.to_string());
        }
        insert_absent(&root, "once");
        assert!(!absent(&root, "once"));
        insert_absent(&root, "once");
        assert!(absent(&root, "once"), "missed twice in a row");
    });
}

#[test]
fn without_a_reactor_no_absence_is_remembered() {
    let d = tempfile::tempdir().unwrap();
    let root = root_at(d.path());
    assert!(!remembered(&root, "a"), "nothing watches it");
}

#[test]
fn only_a_plain_absence_is_remembered() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("nowhere", d.path().join("dangling")).unwrap();
        std::os::unix::fs::symlink("real", d.path().join("link")).unwrap();
        std::fs::write(d.path().join("file"), "f").unwrap();
        assert!(remembered(&root, "real/a"));
        // A dangling link: its target may appear anywhere.
        assert!(!remembered(&root, "dangling"));
        // Through a link to a directory: that directory is not watched.
        assert!(!remembered(&root, "link/a"));
        // Beneath a file: the file must be replaced first, which its
        // directory hears of.
        assert!(remembered(&root, "file/a"));
    });
}

#[test]
fn absent_paths_are_bounded_and_let_their_watches_go() {
    on_runtime(async {
        let d = tempfile::tempdir().unwrap();
        let root = root_at(d.path());
        for i in 0..ABSENT_SLOTS + 4 {
            assert!(remembered(&root, &format!("{i}/x")));
        }
        CACHE.with(|c| assert_eq!(c.borrow().absent.len(), ABSENT_SLOTS));
        assert!(absent(&root, &format!("{}/x", ABSENT_SLOTS + 3)));
        assert!(!absent(&root, "0/x"), "the oldest made room");
        std::thread::sleep(watch::REVERIFY + Duration::from_millis(50));
        assert!(!absent(&root, "1/x"));
        CACHE.with(|c| assert!(c.borrow().absent.is_empty()));
        assert_eq!(held(), 0);
    });
}
