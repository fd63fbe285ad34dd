//! Finding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`, and `psql` if present).
//!
//! Searched in this order: the `PG_BINDIR` environment variable; `initdb` on `PATH`; the directory
//! `pg_config --bindir` reports; the highest version under `/usr/lib/postgresql/*/bin` (Debian and
//! Ubuntu's layout, where the server binaries are not on `PATH`).

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
    use super::parse_version;

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert!(parse_version("15") > parse_version("14"));
        assert_eq!(parse_version("main"), None);
    }
}
