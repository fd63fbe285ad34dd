//! The tutorial example prints exactly what the same program in Python with SQLAlchemy 2 prints
//! against an empty PostgreSQL database (the lines of the ORM issue, which come from running it).

use std::path::PathBuf;
use std::process::Command;

const EXPECTED: &str = "\
How to Write Clean Python
1
How to Get Metadata from PostgreSQL System Catalogs
sqlalchemy-postgres
postgresql-system-catalogs
Clean Python
Clean Python
Cleaner Python
Interacting with Databases using SQLAlchemy with PostgreSQL
How to Get Metadata from PostgreSQL System Catalogs
Cleaner Python
Interacting with Databases using SQLAlchemy with PostgreSQL
How to Get Metadata from PostgreSQL System Catalogs
Cleaner Python
(\"clean-python\", \"Cleaner Python\")
3
Interacting with Databases using SQLAlchemy with PostgreSQL
How to Get Metadata from PostgreSQL System Catalogs
Cleaner Python
";

/// The example's binary, which `cargo test` builds next to this test's (`target/<profile>/examples`).
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let binary = profile_dir.join("examples").join("tutorial");
    binary.exists().then_some(binary)
}

#[test]
fn the_tutorial_prints_what_sqlalchemy_prints() {
    let mut command = match example_binary() {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["run", "-q", "--example", "tutorial"]);
            cargo
        }
    };
    // Run on a throwaway server: an empty database, whatever the environment says.
    for var in [
        "DATABASE_URL",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
    ] {
        command.env_remove(var);
    }
    let output = command.output().expect("the tutorial example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the tutorial failed: {stderr}");
    assert!(stderr.contains("throwaway PostgreSQL server"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), EXPECTED);
}
