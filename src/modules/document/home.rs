//! User homes (option `home`, REFERENCE §6.11.6): `/~/…` is served from
//! `<dochome>/<home>/…`, where `<home>` is the authenticated user's home
//! with leading `/` and `.` removed, or the user's name when the home is
//! empty. The directory is created (mode 0750) on first use.
//!
//! `/~name/…` is accepted for the user `name` only, so one user can never
//! read or write another's home; without an authenticated user every `/~`
//! path is refused with 403 (the `auth` module asks for credentials before
//! this runs). A home that would leave `dochome` (`..` segments, or a
//! symbolic link pointing elsewhere) is refused with 403 too.
//!
//! Paths that do not start with `/~` are served from `docroot` as usual.

use std::borrow::Cow;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::resolve::{Root, Target};
use crate::error::HttpError;
use crate::pipeline::User;

/// The canonical `dochome` directory.
#[derive(Clone, Debug)]
pub struct Homes {
    pub(super) dir: PathBuf,
}

/// The directory a request path is resolved in, and the part of the path
/// that names it.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// The root the rest of the path is resolved under.
    pub root: Cow<'a, Root>,
    /// The request-path prefix standing for `root` (`""` for the docroot,
    /// `/~` or `/~name` for a home).
    pub prefix: String,
}

impl<'a> Scope<'a> {
    /// The document root, every path as is.
    pub fn docroot(root: &'a Root) -> Scope<'a> {
        Scope {
            root: Cow::Borrowed(root),
            prefix: String::new(),
        }
    }

    /// The path of `uri` inside the root (starts with `/`).
    pub fn rel<'u>(&self, uri: &'u str) -> &'u str {
        match uri.get(self.prefix.len()..) {
            Some(r) if r.starts_with('/') => r,
            _ => "/",
        }
    }

    /// The request path of `rel` (a path inside the root).
    pub fn uri(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    /// Resolve a request path (see [`Root::resolve`]).
    pub fn resolve(&self, uri: &str) -> Result<Target, HttpError> {
        self.root.resolve(self.rel(uri))
    }
}

impl Homes {
    /// Canonicalise `dochome`, which must be a directory.
    pub fn open(dochome: &Path) -> io::Result<Homes> {
        Ok(Homes {
            dir: Root::open(dochome)?.dir().to_path_buf(),
        })
    }

    /// The scope of `path` for `user`.
    pub fn scope<'a>(
        &self,
        docroot: &'a Root,
        path: &str,
        user: Option<&User>,
    ) -> Result<Scope<'a>, HttpError> {
        let Some(after) = path.strip_prefix("/~") else {
            return Ok(Scope::docroot(docroot));
        };
        let named = after.split('/').next().unwrap_or_default();
        let user =
            user.ok_or_else(|| HttpError::forbidden("`/~` without an authenticated user"))?;
        if !named.is_empty() && named != user.name {
            return Err(HttpError::forbidden(format!(
                "user `{}` asked for the home of `{named}`",
                user.name
            )));
        }
        let name = home_name(user)
            .ok_or_else(|| HttpError::forbidden(format!("bad home `{}`", user.home)))?;
        let dir = self.dir.join(name);
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let root = Root::open(&dir)?;
        if !root.dir().starts_with(&self.dir) {
            return Err(HttpError::forbidden(format!(
                "home {} is outside dochome",
                root.dir().display()
            )));
        }
        Ok(Scope {
            root: Cow::Owned(root),
            prefix: format!("/~{named}"),
        })
    }
}

/// The directory name of a user's home under `dochome`: the home without
/// leading `/` and `.`, or the user name; `None` when it has `.`/`..` or
/// empty segments (it could name something outside `dochome`).
pub fn home_name(user: &User) -> Option<String> {
    // Checked before the leading dots go: `/../foo` must not become `foo`.
    if user.home.split('/').any(|seg| seg == "..") {
        return None;
    }
    let home = user
        .home
        .trim_start_matches(['/', '.'])
        .trim_end_matches('/');
    let home = if home.is_empty() {
        user.name.as_str()
    } else {
        home
    };
    let clean = !home.is_empty()
        && !home.contains('\0')
        && home
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    clean.then(|| home.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, home: &str) -> User {
        User {
            name: name.into(),
            group: "users".into(),
            home: home.into(),
            status: "activated".into(),
            auth_type: "Basic",
        }
    }

    #[test]
    fn home_names() {
        assert_eq!(home_name(&user("foo", "/foo")).as_deref(), Some("foo"));
        assert_eq!(home_name(&user("foo", "")).as_deref(), Some("foo"));
        assert_eq!(home_name(&user("foo", "./bar/")).as_deref(), Some("bar"));
        assert_eq!(home_name(&user("foo", "/a/b")).as_deref(), Some("a/b"));
        assert_eq!(home_name(&user("foo", "/a/../../etc")), None);
        assert_eq!(home_name(&user("..", "")), None);
        assert_eq!(home_name(&user("a/..", "")), None);
    }

    #[test]
    fn scopes() {
        let doc = tempfile::tempdir().unwrap();
        let homes = tempfile::tempdir().unwrap();
        let root = Root::open(doc.path()).unwrap();
        let h = Homes::open(homes.path()).unwrap();
        let foo = user("foo", "/foo");

        let s = h.scope(&root, "/x/y", Some(&foo)).unwrap();
        assert_eq!(s.prefix, "");
        assert_eq!(s.root.dir(), root.dir());
        assert_eq!(s.rel("/x/y"), "/x/y");

        let s = h.scope(&root, "/~/notes.txt", Some(&foo)).unwrap();
        assert_eq!(s.prefix, "/~");
        assert_eq!(s.rel("/~/notes.txt"), "/notes.txt");
        assert_eq!(s.rel("/~"), "/");
        assert_eq!(s.uri("/a"), "/~/a");
        assert_eq!(s.root.dir(), h.dir.join("foo"));
        assert!(h.dir.join("foo").is_dir(), "home created");

        let s = h.scope(&root, "/~foo/a", Some(&foo)).unwrap();
        assert_eq!(s.prefix, "/~foo");
        assert_eq!(s.rel("/~foo/a"), "/a");

        let other = h.scope(&root, "/~bar/a", Some(&foo)).unwrap_err();
        assert_eq!(other.status(), http::StatusCode::FORBIDDEN);
        let anon = h.scope(&root, "/~/a", None).unwrap_err();
        assert_eq!(anon.status(), http::StatusCode::FORBIDDEN);
        let evil = h.scope(&root, "/~/a", Some(&user("foo", "/../x")));
        assert!(evil.is_err());
    }

    #[test]
    fn home_link_out_of_dochome_is_refused() {
        let doc = tempfile::tempdir().unwrap();
        let homes = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), homes.path().join("foo")).unwrap();
        let root = Root::open(doc.path()).unwrap();
        let h = Homes::open(homes.path()).unwrap();
        let e = h.scope(&root, "/~/", Some(&user("foo", ""))).unwrap_err();
        assert_eq!(e.status(), http::StatusCode::FORBIDDEN);
    }
}
