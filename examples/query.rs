//! Runs SQL with the simple query protocol and prints what `psql -XAt -F '<TAB>' -c "<sql>"` prints.
//!
//! ```text
//! cargo run --example query -- "<connection string>" "<sql>"
//! cargo run --example query -- - "SELECT version()"     # DATABASE_URL and the PG* variables
//! cargo run --example query -- --timeout 2 - "SELECT pg_sleep(10)"
//! ```
//!
//! For each statement in turn: its rows (values in text form, tab-separated, NULL as an empty
//! field, one row a line), or its command tag (`INSERT 0 2`, `CREATE TABLE`) when it returns no
//! rows. A server error prints the SQLSTATE and message on stderr and exits with status 1; a query
//! that runs past `--timeout <seconds>` is cancelled and exits with status 3; any other failure
//! prints the error and exits with status 2.

use std::io::{self, Write};
use std::process::ExitCode;

use pg_wire::error::report;
use std::time::Duration;

use pg_wire::{Client, Config, Error, ErrorKind, SimpleQueryMessage};

fn usage() -> ExitCode {
    eprintln!(
        "usage: cargo run --example query -- [--timeout <seconds>] <connection string | -> <sql>"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut timeout = None;
    if args.first().map(String::as_str) == Some("--timeout") {
        let seconds = args
            .get(1)
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0);
        let Some(seconds) = seconds else {
            return usage();
        };
        timeout = Some(Duration::from_secs_f64(seconds));
        args.drain(..2);
    }
    let [target, sql] = args.as_slice() else {
        return usage();
    };
    match run(target, sql, timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("error: could not write the output: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Pg(e)) if e.kind() == ErrorKind::Timeout => {
            eprintln!("error: {}", report(&e));
            ExitCode::from(3)
        }
        Err(Failure::Pg(e)) => match e.as_db_error() {
            Some(db) => {
                eprintln!("{}:  {}: {}", db.severity(), db.code(), db.message());
                ExitCode::from(1)
            }
            None => {
                eprintln!("error: {}", report(&e));
                ExitCode::from(2)
            }
        },
    }
}

/// Why the example failed.
enum Failure {
    /// The driver or the server reported an error.
    Pg(Error),
    /// Standard output could not be written.
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Pg(e)
    }
}

async fn run(target: &str, sql: &str, timeout: Option<Duration>) -> Result<(), Failure> {
    // As psql: what the connection string leaves out comes from the PG* variables.
    let config = if target == "-" {
        Config::from_env().map_err(Error::from)?
    } else {
        target
            .parse::<Config>()
            .map_err(Error::from)?
            .with_env()
            .map_err(Error::from)?
    };
    let client = Client::connect(&config).await?;
    client.set_query_timeout(timeout);
    client.set_notice_handler(|notice| eprintln!("{}:  {}", notice.severity(), notice.message()));

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // The whole query, reading included, runs under the timeout; the output so far is printed
    // even when a later statement fails.
    let printed = client
        .with_timeout(print_results(&client, sql, &mut out))
        .await;
    for notification in client.take_notifications() {
        let payload = if notification.payload.is_empty() {
            String::new()
        } else {
            format!(" with payload \"{}\"", notification.payload)
        };
        writeln!(
            out,
            "Asynchronous notification \"{}\"{payload} received from server process with PID {}.",
            notification.channel, notification.process_id
        )
        .map_err(Failure::Output)?;
    }
    out.flush().map_err(Failure::Output)?;
    drop(out);
    let output = printed?;
    client.close().await?;
    output.map_err(Failure::Output)
}

/// Prints each statement's rows, or its command tag when it returns none, as psql does. The outer
/// error is the query's; the inner one a failure to write the output.
async fn print_results(
    client: &Client,
    sql: &str,
    out: &mut impl Write,
) -> Result<io::Result<()>, Error> {
    let mut stream = client.simple_query_stream(sql).await?;
    // Whether the current statement returned rows (or COPY data): psql then prints no tag, except
    // for INSERT/UPDATE/DELETE/MERGE ... RETURNING.
    let mut returned_rows = false;
    while let Some(message) = stream.next().await {
        let written = match message? {
            SimpleQueryMessage::RowDescription(_) => {
                returned_rows = true;
                Ok(())
            }
            SimpleQueryMessage::Row(row) => {
                let line: Vec<&str> = row.values().map(|v| v.unwrap_or("")).collect();
                writeln!(out, "{}", line.join("\t"))
            }
            SimpleQueryMessage::CopyData(data) => {
                returned_rows = true;
                out.write_all(&data)
            }
            SimpleQueryMessage::CommandComplete(tag) => {
                let command = tag.as_str().split(' ').next().unwrap_or("");
                let show =
                    !returned_rows || matches!(command, "INSERT" | "UPDATE" | "DELETE" | "MERGE");
                returned_rows = false;
                if show { writeln!(out, "{tag}") } else { Ok(()) }
            }
            SimpleQueryMessage::EmptyQuery => Ok(()),
        };
        if written.is_err() {
            return Ok(written);
        }
    }
    Ok(Ok(()))
}
