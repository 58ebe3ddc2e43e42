//! `marmoset-passwd`: write a password-file line, or add / change / remove
//! a user in an `auth` sqlite database. Modelled on Ouistiti's `ouipasswd`
//! (same `-u -p -g -H -T -R -A` flags), with modern hashes and the
//! database operations added.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};
use lexopt::prelude::*;

use marmoset::modules::auth::crypt::Format;
use marmoset::modules::auth::crypt::random;
use marmoset::modules::auth::digest::Hash;
use marmoset::modules::auth::storage::sqlite::{self, UserChange};
use marmoset::modules::auth::storage::totp;
use marmoset::modules::auth::totp as auth_totp;

const USAGE: &str = "\
usage: marmoset-passwd -u USER [-p PASSWORD] [-g GROUP] [-H HOME]
                       [-T Basic|Digest] [-R REALM] [-A ALGORITHM]
                       [-D DBNAME [--add | --change | --remove | --list]
                        [-s STATUS] [-I ISSUER]]
       marmoset-passwd -D DBNAME -u USER --totp [-I ISSUER] | --totp-reset

Without -D, print one line for an auth `file` storage:
  USER:ENCODED[:GROUP[:HOME]]
With -D, change the sqlite database DBNAME (created, empty, if missing):
  --add (default) a new user, --change an existing one (only what is given
  changes), --remove a user, --list the user names.
With --totp, give USER a TOTP key in DBNAME (kept if it has one) and print
its otpauth:// URL for the default TOTP settings (6 digits, 30 s, SHA1;
issuer -I, default `totp`); --totp-reset removes the key, so that the user
enrols again (see docs/totp.md).

  -u USER       user name
  -p PASSWORD   password (default: asked on the terminal twice, or read as
                one line from standard input)
  -g GROUP      group (role); file default `users`
  -H HOME       home directory
  -T TYPE       Basic (default) or Digest: Digest needs a hash it can use,
                `$a<id>$realm=REALM$…`, so -R is required
  -R REALM      the realm of the Digest authenticator
  -A ALGORITHM  argon2 (default for Basic), yescrypt, sha512-crypt,
                sha256-crypt, md5-crypt, plain, or Ouistiti's digests MD5,
                SHA1, SHA-256 (default for Digest), SHA-512, SHA-512-256
  -s STATUS     approving, activated (default), repudiated, reapproving
  -I ISSUER     the issuer this password belongs to (multi-factor)
  -h, --help    this help;  -V, --version  the version
";

#[derive(Default)]
struct Args {
    user: Option<String>,
    password: Option<String>,
    group: Option<String>,
    home: Option<String>,
    digest: bool,
    realm: Option<String>,
    algorithm: Option<String>,
    db: Option<PathBuf>,
    action: Action,
    status: Option<String>,
    issuer: Option<String>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Action {
    #[default]
    Add,
    Change,
    Remove,
    List,
    Totp,
    TotpReset,
}

enum Parsed {
    Run(Box<Args>),
    Help,
    Version,
}

fn val(p: &mut lexopt::Parser) -> Result<String> {
    Ok(p.value()?.string()?)
}

fn parse() -> Result<Parsed> {
    let mut a = Args::default();
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('u') | Long("user") => a.user = Some(val(&mut p)?),
            Short('p') | Long("password") => a.password = Some(val(&mut p)?),
            Short('g') | Long("group") => a.group = Some(val(&mut p)?),
            Short('H') | Long("home") => a.home = Some(val(&mut p)?),
            Short('T') | Long("type") => {
                let t = val(&mut p)?;
                a.digest = match t.to_ascii_lowercase().as_str() {
                    "digest" => true,
                    "basic" | "wwwform" | "none" | "bearer" => false,
                    _ => bail!("-T {t}: Basic or Digest"),
                };
            }
            Short('R') | Long("realm") => a.realm = Some(val(&mut p)?),
            Short('A') | Long("algorithm") => a.algorithm = Some(val(&mut p)?),
            Short('D') | Long("dbname") => a.db = Some(PathBuf::from(val(&mut p)?)),
            Short('s') | Long("status") => a.status = Some(val(&mut p)?),
            Short('I') | Long("issuer") => a.issuer = Some(val(&mut p)?),
            Long("add") => a.action = Action::Add,
            Long("change") => a.action = Action::Change,
            Long("remove") => a.action = Action::Remove,
            Long("list") => a.action = Action::List,
            Long("totp") => a.action = Action::Totp,
            Long("totp-reset") => a.action = Action::TotpReset,
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Parsed::Run(Box::new(a)))
}

/// The stored-password format for `-T` / `-A`.
fn format(a: &Args) -> Result<Format> {
    let name = a
        .algorithm
        .clone()
        .unwrap_or_else(|| if a.digest { "SHA-256" } else { "argon2" }.into());
    let hash = match name.to_ascii_uppercase().as_str() {
        "MD5" => Some(Hash::Md5),
        "SHA1" | "SHA-1" => Some(Hash::Sha1),
        "SHA-256" | "SHA256" => Some(Hash::Sha256),
        "SHA-512" | "SHA512" => Some(Hash::Sha512),
        "SHA-512-256" => Some(Hash::Sha512_256),
        _ => None,
    };
    if a.digest {
        let Some(h) = hash else {
            bail!("-A {name}: Digest needs MD5, SHA1, SHA-256, SHA-512 or SHA-512-256");
        };
        if a.realm.is_none() {
            bail!("-T Digest needs the realm (-R)");
        }
        return Ok(Format::Realm(h));
    }
    if let Some(h) = hash {
        return Ok(Format::Ouistiti(h));
    }
    Ok(match name.to_ascii_lowercase().as_str() {
        "argon2" | "argon2id" => Format::Argon2,
        "yescrypt" => Format::Yescrypt,
        "sha512-crypt" => Format::Sha512Crypt,
        "sha256-crypt" => Format::Sha256Crypt,
        "md5-crypt" => Format::Md5Crypt,
        "plain" | "clear" => Format::Plain,
        _ => bail!("-A {name}: unknown algorithm (see --help)"),
    })
}

/// The password: `-p`, else asked twice on a terminal, else one line of
/// standard input.
fn password(a: &Args) -> Result<String> {
    if let Some(p) = &a.password {
        return Ok(p.clone());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let _ = Command::new("stty").arg("-echo").status();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        let _ = Command::new("stty").arg("echo").status();
        eprintln!();
        read?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask("Password: ")?;
    if ask("Again: ")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn run(a: &Args) -> Result<()> {
    if a.action == Action::List {
        let db = a.db.as_ref().context("--list needs -D DBNAME")?;
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .with_context(|| db.display().to_string())?;
        for name in sqlite::list(&conn)? {
            println!("{name}");
        }
        return Ok(());
    }
    let user = a.user.as_deref().context("-u USER is required")?;
    if user.is_empty() || user.contains([':', '\n']) {
        bail!("-u {user:?}: a user name cannot be empty or contain `:`");
    }
    let Some(db) = &a.db else {
        let fmt = format(a)?;
        let pw = password(a)?;
        warn_short(&pw);
        let enc = fmt.encode(user, a.realm.as_deref().unwrap_or(""), &pw)?;
        let mut line = format!("{user}:{enc}");
        match (&a.group, &a.home) {
            (Some(g), Some(h)) => line.push_str(&format!(":{g}:{h}")),
            (Some(g), None) => line.push_str(&format!(":{g}")),
            (None, Some(h)) => line.push_str(&format!("::{h}")),
            (None, None) => {}
        }
        println!("{line}");
        return Ok(());
    };
    if !db.exists() {
        sqlite::create(db)?;
        eprintln!("marmoset-passwd: created {}", db.display());
    }
    if matches!(a.action, Action::Totp | Action::TotpReset) {
        return totp(a, db, user);
    }
    let mut conn = rusqlite::Connection::open(db).with_context(|| db.display().to_string())?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    match a.action {
        Action::Remove => sqlite::remove(&mut conn, user)?,
        action => {
            let enc = if action == Action::Add || a.password.is_some() || a.algorithm.is_some() {
                let fmt = format(a)?;
                let pw = password(a)?;
                warn_short(&pw);
                Some(fmt.encode(user, a.realm.as_deref().unwrap_or(""), &pw)?)
            } else {
                None
            };
            let change = UserChange {
                passwd: enc.as_deref(),
                group: a.group.as_deref(),
                home: a.home.as_deref(),
                status: a.status.as_deref(),
                issuer: a.issuer.as_deref(),
            };
            sqlite::upsert(&mut conn, user, action == Action::Add, &change)?;
        }
    }
    Ok(())
}

/// `--totp` and `--totp-reset`.
fn totp(a: &Args, db: &std::path::Path, user: &str) -> Result<()> {
    let keys = totp::Db::open(db)?;
    if a.action == Action::TotpReset {
        if !keys.remove(user)? {
            bail!("{user} has no TOTP key");
        }
        return Ok(());
    }
    let key = keys.enrol(user, &random::<{ auth_totp::KEY_BYTES }>())?;
    let verifier = auth_totp::Totp::open(&auth_totp::TotpConfig {
        secret: Some("unused".into()),
        ..Default::default()
    })?;
    println!(
        "{}",
        verifier.url(a.issuer.as_deref().unwrap_or("totp"), user, &key)
    );
    Ok(())
}

fn warn_short(pw: &str) {
    if pw.chars().count() < 8 {
        eprintln!(
            "marmoset-passwd: warning: a password shorter than 8 characters is easy to guess"
        );
    }
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("marmoset-passwd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("marmoset-passwd: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("marmoset-passwd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
