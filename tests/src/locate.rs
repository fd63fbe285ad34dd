//! Finding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`, and `psql` if present).
//!
//! The default binaries ([`find_bindir`]) are searched in this order: the `PG_BINDIR` environment
//! variable; `initdb` on `PATH`; the directory `pg_config --bindir` reports; the highest version
//! under `/usr/lib/postgresql/*/bin` (Debian and Ubuntu's layout, where the server binaries are not
//! on `PATH`).
//!
//! The binaries of one major version ([`find_major_bindir`]) are searched in this order: the
//! `PG<major>_BINDIR` environment variable (e.g. `PG18_BINDIR`); `/usr/lib/postgresql/<major>/bin`;
//! `target/pg<major>/*/bin` under the workspace root, where `.ci/install-pg18` unpacks PostgreSQL
//! 18. Whether they really are that version is checked by [`major_version_of`] before use.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::HarnessError;

/// The binaries a directory must hold to be usable.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Returns the directory holding the server binaries, or an error naming every place searched.
pub(crate) fn find_bindir() -> Result<PathBuf, HarnessError> {
    let mut searched = Vec::new();

    if let Some(dir) = std::env::var_os("PG_BINDIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        // An explicit setting that is wrong is an error, not a reason to quietly use another server.
        return match missing_binaries(&dir) {
            None => Ok(dir),
            Some(missing) => Err(HarnessError::new(format!(
                "PG_BINDIR is set to {} but it has no {missing}; point it at the directory holding \
                 initdb, pg_ctl and postgres, or unset it",
                dir.display()
            ))),
        };
    }
    searched.push("PG_BINDIR (not set)".to_owned());

    match initdb_on_path() {
        Some(dir) => return Ok(dir),
        None => {
            searched.push("initdb on PATH (not found, or not beside pg_ctl and postgres)".into())
        }
    }

    match pg_config_bindir() {
        Ok(dir) => return Ok(dir),
        Err(why) => searched.push(format!("pg_config --bindir ({why})")),
    }

    match highest_debian_bindir() {
        Some(dir) => return Ok(dir),
        None => searched.push("/usr/lib/postgresql/*/bin (none with initdb)".into()),
    }

    Err(HarnessError::new(format!(
        "no PostgreSQL server binaries found; searched: {}. Install them (e.g. `apt-get install \
         postgresql`) or set PG_BINDIR to the directory holding initdb, pg_ctl and postgres",
        searched.join("; ")
    )))
}

/// Why [`find_major_bindir`] found nothing usable.
pub(crate) enum MajorLookupError {
    /// No binaries of that version anywhere searched: the error says where, and how to get them.
    Missing(HarnessError),
    /// An explicit setting (`PG<major>_BINDIR`) is wrong: never a reason to skip a test.
    Misconfigured(HarnessError),
}

/// Returns the directory holding the server binaries of PostgreSQL `major` (10 or later).
pub(crate) fn find_major_bindir(major: u32) -> Result<PathBuf, MajorLookupError> {
    let variable = format!("PG{major}_BINDIR");
    if let Some(dir) = std::env::var_os(&variable).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return match missing_binaries(&dir) {
            None => Ok(dir),
            Some(missing) => Err(MajorLookupError::Misconfigured(HarnessError::new(format!(
                "{variable} is set to {} but it has no {missing}; point it at the directory \
                 holding the PostgreSQL {major} initdb, pg_ctl and postgres, or unset it",
                dir.display()
            )))),
        };
    }
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if missing_binaries(&debian).is_none() {
        return Ok(debian);
    }
    let cache = workspace_root().join("target").join(format!("pg{major}"));
    if let Some(dir) = unpacked_bindir(&cache) {
        return Ok(dir);
    }
    let how = if major == 18 {
        "run `bash .ci/install-pg18` (it unpacks them into target/pg18/, where the tests look) or \
         set PG18_BINDIR"
            .to_owned()
    } else {
        format!(
            "install them (e.g. `apt-get install postgresql-{major}` from the PostgreSQL apt \
             repository) or set {variable} to the directory holding initdb, pg_ctl and postgres"
        )
    };
    Err(MajorLookupError::Missing(HarnessError::new(format!(
        "no PostgreSQL {major} server binaries found; searched {variable} (not set), {} and {}/*/bin; \
         {how}. To skip the tests that need PostgreSQL {major} instead (never in CI), set \
         PG_TEST_SKIP_MISSING_VERSIONS=1",
        debian.display(),
        cache.display()
    ))))
}

/// The workspace's root directory (this crate's parent), where `target/` usually is.
fn workspace_root() -> &'static Path {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir)
}

/// The `<cache>/*/bin` holding the binaries, the last by name if several do.
fn unpacked_bindir(cache: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| missing_binaries(bin).is_none())
        .collect();
    found.sort();
    found.pop()
}

/// The major version of the binaries in `dir`, from `postgres --version` (which prints e.g.
/// `postgres (PostgreSQL) 18.6` or `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`).
pub(crate) fn major_version_of(dir: &Path) -> Result<u32, HarnessError> {
    let postgres = dir.join("postgres");
    let output = Command::new(&postgres)
        .arg("--version")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| HarnessError::io(format_args!("could not run {}", postgres.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match (output.status.success(), parse_major(&text)) {
        (true, Some(major)) => Ok(major),
        _ => Err(HarnessError::command(
            format_args!(
                "could not read the version of {} --version",
                postgres.display()
            ),
            &output,
        )),
    }
}

/// The major version in `postgres --version` output: the number after `(PostgreSQL) `, up to the
/// first character that is not a digit.
fn parse_major(version_output: &str) -> Option<u32> {
    let (_, rest) = version_output.split_once("(PostgreSQL) ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Names the first required binary missing from `dir`, or `None` if all are there.
fn missing_binaries(dir: &Path) -> Option<&'static str> {
    REQUIRED.into_iter().find(|name| !dir.join(name).is_file())
}

/// The directory of the first `initdb` on `PATH`, following symlinks: a distribution may put a
/// symlink to `initdb` alone on `PATH`, while `pg_ctl`, `postgres` and `psql` of the same version sit
/// beside the real file.
fn initdb_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            return None;
        }
        let real_dir = initdb
            .canonicalize()
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf));
        [real_dir, Some(dir)]
            .into_iter()
            .flatten()
            .find(|d| missing_binaries(d).is_none())
    })
}

/// `pg_config --bindir`, if that directory holds the server binaries; else why not.
fn pg_config_bindir() -> Result<PathBuf, String> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|e| format!("could not run it: {e}"))?;
    if !output.status.success() {
        return Err(format!("it failed: {}", output.status));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    match missing_binaries(&dir) {
        None => Ok(dir),
        Some(missing) => Err(format!(
            "it reported {} which has no {missing}",
            dir.display()
        )),
    }
}

/// The `/usr/lib/postgresql/<version>/bin` with the highest version that holds the binaries.
fn highest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            missing_binaries(&bin).is_none().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// Parses a directory name like `15` or `9.6` into comparable numbers.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::{parse_major, parse_version};

    #[test]
    fn majors_are_read_from_version_output() {
        assert_eq!(parse_major("postgres (PostgreSQL) 18.6\n"), Some(18));
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 19devel\n"), Some(19));
        assert_eq!(parse_major("something else"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert!(parse_version("15") > parse_version("14"));
        assert_eq!(parse_version("main"), None);
    }
}
