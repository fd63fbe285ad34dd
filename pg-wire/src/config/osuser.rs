//! The operating-system user: libpq's default user name, and the home directory holding `.pgpass`.
//!
//! libpq calls `getpwuid(geteuid())`. Without `unsafe` or a libc binding, pg-wire reads the effective
//! uid as the owner of `/proc/self` (Linux) and looks it up in `/etc/passwd`; when that fails it falls
//! back to `$USER`, then `$LOGNAME`. (Users known only to NSS services such as LDAP are therefore found
//! through the environment variables.)

use std::path::PathBuf;

use crate::config::Config;
use crate::config::error::{ConfigError, ConfigErrorKind};

/// One line of `/etc/passwd`, the fields pg-wire needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    /// The login name.
    pub(crate) name: String,
    /// The home directory.
    pub(crate) home: PathBuf,
}

/// Finds the entry for `uid` in the text of a passwd file (`name:x:uid:gid:gecos:home:shell`).
pub(crate) fn passwd_entry(contents: &str, uid: u32) -> Option<PasswdEntry> {
    contents.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let line_uid: u32 = fields.next()?.parse().ok()?;
        let _gid = fields.next()?;
        let _gecos = fields.next()?;
        let home = fields.next()?;
        (line_uid == uid && !name.is_empty()).then(|| PasswdEntry {
            name: name.to_owned(),
            home: PathBuf::from(home),
        })
    })
}

/// The effective uid of this process, as the owner of `/proc/self`.
#[cfg(unix)]
fn effective_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

#[cfg(not(unix))]
fn effective_uid() -> Option<u32> {
    None
}

/// This process's entry in `/etc/passwd`, if it can be found.
fn own_passwd_entry() -> Option<PasswdEntry> {
    let uid = effective_uid()?;
    let contents = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_entry(&contents, uid)
}

/// The operating-system user name: the passwd entry of the effective uid, else the first non-empty
/// of `$USER` and `$LOGNAME` (as given by `lookup`).
pub(crate) fn os_user_name(
    entry: Option<PasswdEntry>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    entry.map(|e| e.name).or_else(|| {
        ["USER", "LOGNAME"]
            .into_iter()
            .find_map(|var| lookup(var).filter(|v| !v.is_empty()))
    })
}

/// The home directory, as libpq's `pqGetHomeDirectory`: `$HOME` if set and not empty, else the
/// passwd entry's.
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| own_passwd_entry().map(|e| e.home))
}

impl Config {
    /// The user name to log in as: the configured `user` if not empty, else the operating-system
    /// user (libpq's default).
    pub fn effective_user(&self) -> Result<String, ConfigError> {
        if let Some(user) = self.user.as_deref().filter(|u| !u.is_empty()) {
            return Ok(user.to_owned());
        }
        os_user_name(own_passwd_entry(), |var| std::env::var(var).ok()).ok_or_else(|| {
            ConfigError::new(
                ConfigErrorKind::NoUser,
                "could not determine the user name: none is configured (user, PGUSER), the \
                 effective user id has no entry in /etc/passwd, and USER and LOGNAME are not set",
            )
        })
    }

    /// The database to connect to: the configured `dbname` if not empty, else the
    /// [effective user](Config::effective_user) name (libpq's default).
    pub fn effective_dbname(&self) -> Result<String, ConfigError> {
        match self.dbname.as_deref().filter(|d| !d.is_empty()) {
            Some(dbname) => Ok(dbname.to_owned()),
            None => self.effective_user(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
:x:1001:1001::/nowhere:/bin/sh
";

    #[test]
    fn passwd_lookup() {
        assert_eq!(
            passwd_entry(PASSWD, 1000),
            Some(PasswdEntry {
                name: "alice".into(),
                home: "/home/alice".into()
            })
        );
        assert_eq!(passwd_entry(PASSWD, 0).map(|e| e.name), Some("root".into()));
        assert_eq!(passwd_entry(PASSWD, 1001), None);
        assert_eq!(passwd_entry(PASSWD, 4242), None);
        assert_eq!(passwd_entry("", 0), None);
    }

    #[test]
    fn user_name_fallbacks() {
        let entry = passwd_entry(PASSWD, 1000);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            os_user_name(entry, env(&[("USER", "bob")])),
            Some("alice".into())
        );
        assert_eq!(
            os_user_name(None, env(&[("USER", "bob"), ("LOGNAME", "carol")])),
            Some("bob".into())
        );
        assert_eq!(
            os_user_name(None, env(&[("USER", ""), ("LOGNAME", "carol")])),
            Some("carol".into())
        );
        assert_eq!(os_user_name(None, env(&[])), None);
    }

    #[test]
    fn effective_user_and_dbname() {
        let mut c = Config::new();
        c.user("u");
        assert_eq!(c.effective_user().unwrap(), "u");
        assert_eq!(c.effective_dbname().unwrap(), "u");
        c.dbname("d");
        assert_eq!(c.effective_dbname().unwrap(), "d");
        c.dbname("");
        assert_eq!(c.effective_dbname().unwrap(), "u");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn os_user_on_linux() {
        // The test process has an owner; with /etc/passwd or $USER it has a name.
        assert!(effective_uid().is_some());
        if let Ok(name) = Config::new().effective_user() {
            assert!(!name.is_empty());
            assert_eq!(Config::new().effective_dbname().unwrap(), name);
        }
    }
}
