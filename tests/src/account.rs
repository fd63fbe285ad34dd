//! Which operating-system user runs the server.
//!
//! PostgreSQL refuses to run as root (`initdb`, `pg_ctl` and `postgres` all check). When the tests run
//! as root, as they do in containers and CI, the harness runs those three as an unprivileged user
//! instead: `nobody` by default, or the user named (or numbered) by the `PG_TEST_USER` environment
//! variable. Otherwise they run as the current user.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::error::HarnessError;

/// An unprivileged user the server processes switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    /// The user's name, for messages.
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Account {
    /// The account to run the server as: `None` to run as the current user (when not root).
    pub(crate) fn for_server() -> Result<Option<Account>, HarnessError> {
        if effective_uid()? != 0 {
            return Ok(None);
        }
        let wanted = std::env::var("PG_TEST_USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "nobody".to_owned());
        let account = lookup(&wanted)?;
        if account.uid == 0 {
            return Err(HarnessError::new(format!(
                "PG_TEST_USER={wanted} is root; PostgreSQL refuses to run as root, name an \
                 unprivileged user"
            )));
        }
        Ok(Some(account))
    }

    /// Makes `command` run as this account (with no supplementary groups: std drops them when a
    /// root process sets a uid).
    pub(crate) fn apply(&self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Makes `path` owned by this account.
    pub(crate) fn chown(&self, path: &Path) -> Result<(), HarnessError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(|e| {
            HarnessError::io(
                format_args!("could not give {} to user {}", path.display(), self.name),
                e,
            )
        })
    }

    /// Whether this account can search (traverse) every directory from `/` down to `dir`, judged by
    /// owner, group and other permission bits (supplementary groups are ignored: the server runs
    /// without them).
    pub(crate) fn can_reach(&self, dir: &Path) -> bool {
        dir.ancestors().all(|d| match std::fs::metadata(d) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == self.uid {
                    mode & 0o100 != 0
                } else if meta.gid() == self.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => false,
        })
    }
}

/// The effective user id of this process: the owner of `/proc/self` (Linux), else `id -u`.
fn effective_uid() -> Result<u32, HarnessError> {
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let output = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| HarnessError::io("could not run `id -u` to find the current user", e))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| HarnessError::command("`id -u` did not print a user id", &output))
}

/// Looks a user up by name, or by number, in `/etc/passwd`. A number with no entry is used as both
/// uid and gid.
fn lookup(user: &str) -> Result<Account, HarnessError> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| HarnessError::io("could not read /etc/passwd", e))?;
    let number: Option<u32> = user.parse().ok();
    let found = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid: u32 = fields.next()?.parse().ok()?;
        let gid: u32 = fields.next()?.parse().ok()?;
        (name == user || number == Some(uid)).then(|| Account {
            name: name.to_owned(),
            uid,
            gid,
        })
    });
    match (found, number) {
        (Some(account), _) => Ok(account),
        (None, Some(id)) => Ok(Account {
            name: id.to_string(),
            uid: id,
            gid: id,
        }),
        (None, None) => Err(HarnessError::new(format!(
            "running as root, the server must run as an unprivileged user, but user {user:?} is \
             not in /etc/passwd; set PG_TEST_USER to an existing user"
        ))),
    }
}
