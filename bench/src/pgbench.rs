//! pgbench (libpq, C) against the same server, pinned the same way: the server-side reference.
//!
//! pgbench is a child of the bench process, so it inherits its CPU affinity, and its backend is
//! forked by the pinned postmaster.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::TestServer;

use crate::BoxError;

/// One pgbench measurement.
pub struct PgbenchResult {
    pub label: &'static str,
    /// The command as run.
    pub command: String,
    /// Transactions (script runs) per second, without the initial connection time.
    pub tps: f64,
    /// Statements per transaction, to turn tps into statements per second.
    pub statements_per_transaction: usize,
}

impl PgbenchResult {
    pub fn statements_per_second(&self) -> f64 {
        self.tps * self.statements_per_transaction as f64
    }
}

/// pgbench beside the server's binaries. The harness may have found the binaries through
/// symlinks on `PATH` (e.g. `/usr/local/bin/initdb`), so the directory `postgres` resolves to is
/// tried too.
pub fn find(server: &TestServer) -> Result<PathBuf, BoxError> {
    let direct = server.bindir().join("pgbench");
    if direct.is_file() {
        return Ok(direct);
    }
    if let Ok(real) = server.bindir().join("postgres").canonicalize() {
        if let Some(dir) = real.parent() {
            let beside = dir.join("pgbench");
            if beside.is_file() {
                return Ok(beside);
            }
        }
    }
    Err(format!(
        "no pgbench in {} (nor beside the postgres it links to)",
        server.bindir().display()
    )
    .into())
}

/// Runs `pgbench -i`, then the reference workloads for `seconds` each, and returns their results.
pub fn run(
    server: &TestServer,
    dbname: &str,
    seconds: u32,
    pipeline_depth: usize,
) -> Result<Vec<PgbenchResult>, BoxError> {
    let pgbench = find(server)?;
    let dir = std::env::temp_dir().join(format!("pg-bench-scripts-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let result = run_in(server, &pgbench, &dir, dbname, seconds, pipeline_depth);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn run_in(
    server: &TestServer,
    pgbench: &Path,
    dir: &Path,
    dbname: &str,
    seconds: u32,
    pipeline_depth: usize,
) -> Result<Vec<PgbenchResult>, BoxError> {
    let select_1 = dir.join("select1.sql");
    fs::write(&select_1, "SELECT 1;\n")?;
    let pipeline = dir.join("pipeline.sql");
    let mut script = String::from("\\set x random(1, 1000000)\n\\startpipeline\n");
    for _ in 0..pipeline_depth {
        script.push_str("SELECT :x::int4;\n");
    }
    script.push_str("\\endpipeline\n");
    fs::write(&pipeline, script)?;

    let connection = |command: &mut Command| {
        command.arg("-h").arg(server.socket_dir()).args([
            "-p",
            &server.port().to_string(),
            "-U",
            server.superuser(),
        ]);
    };
    let mut init = Command::new(pgbench);
    connection(&mut init);
    init.args(["-i", "-q", "-s", "1", dbname]);
    println!("  {}", show(&init));
    let output = clean_env(&mut init).output()?;
    if !output.status.success() {
        return Err(format!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }

    let time = seconds.to_string();
    let select_1 = select_1.to_string_lossy().into_owned();
    let pipeline = pipeline.to_string_lossy().into_owned();
    let runs: [(&'static str, Vec<&str>, usize); 4] = [
        (
            "pgbench -S (built-in select-only), prepared",
            vec!["-n", "-S", "-M", "prepared", "-c", "1", "-T", &time],
            1,
        ),
        (
            "pgbench `SELECT 1`, prepared (reference for 2)",
            vec![
                "-n", "-M", "prepared", "-c", "1", "-T", &time, "-f", &select_1,
            ],
            1,
        ),
        (
            "pgbench `SELECT 1`, simple (reference for 1)",
            vec![
                "-n", "-M", "simple", "-c", "1", "-T", &time, "-f", &select_1,
            ],
            1,
        ),
        (
            "pgbench pipeline of `SELECT :x::int4`, prepared (reference for 5, 6)",
            vec![
                "-n", "-M", "prepared", "-c", "1", "-T", &time, "-f", &pipeline,
            ],
            pipeline_depth,
        ),
    ];
    let mut results = Vec::new();
    for (label, args, statements_per_transaction) in runs {
        let mut command = Command::new(pgbench);
        connection(&mut command);
        command.args(&args).arg(dbname);
        let shown = show(&command);
        let output = clean_env(&mut command).output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "{shown} failed: {}{}",
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        let tps = stdout
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .ok_or_else(|| format!("no tps in the output of {shown}: {stdout}"))?;
        let result = PgbenchResult {
            label,
            command: shown,
            tps,
            statements_per_transaction,
        };
        println!(
            "  {:<70} {:>12} tps  {:>12} statements/s",
            result.label,
            crate::stats::group(result.tps),
            crate::stats::group(result.statements_per_second())
        );
        println!("    {}", result.command);
        results.push(result);
    }
    if pipeline_depth > 0 {
        println!(
            "  (the pipeline script: \\set x random(1, 1000000), \\startpipeline, {pipeline_depth} x `SELECT :x::int4;`, \\endpipeline)"
        );
    }
    Ok(results)
}

/// The connection settings come from the command line alone.
fn clean_env(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command
}

/// A command as a shell line.
fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
