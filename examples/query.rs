//! Runs SQL with the simple query protocol and prints what `psql -XAt -F '<TAB>' -c "<sql>"` prints.
//!
//! ```text
//! cargo run --example query -- "<connection string>" "<sql>"
//! cargo run --example query -- - "SELECT version()"     # DATABASE_URL and the PG* variables
//! ```
//!
//! For each statement in turn: its rows (values in text form, tab-separated, NULL as an empty
//! field, one row a line), or its command tag (`INSERT 0 2`, `CREATE TABLE`) when it returns no
//! rows. A server error prints the SQLSTATE and message on stderr and exits with status 1; any
//! other failure prints the error and exits with status 2.

use std::io::{self, Write};
use std::process::ExitCode;

use pg_wire::error::report;
use pg_wire::{Client, Config, Error, SimpleQueryMessage};

fn usage() -> ExitCode {
    eprintln!("usage: cargo run --example query -- <connection string | -> <sql>");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, sql] = args.as_slice() else {
        return usage();
    };
    match run(target, sql).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.as_db_error() {
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

async fn run(target: &str, sql: &str) -> Result<(), Error> {
    // As psql: what the connection string leaves out comes from the PG* variables.
    let config = if target == "-" {
        Config::from_env()?
    } else {
        target.parse::<Config>()?.with_env()?
    };
    let client = Client::connect(&config).await?;
    client.set_notice_handler(|notice| eprintln!("{}:  {}", notice.severity(), notice.message()));

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut stream = client.simple_query_stream(sql).await?;
    // Whether the current statement returned rows (or COPY data): psql then prints no tag, except
    // for INSERT/UPDATE/DELETE/MERGE ... RETURNING.
    let mut returned_rows = false;
    let mut result = Ok(());
    while let Some(message) = stream.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let written = match message {
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
        if let Err(e) = written {
            eprintln!("error: could not write the output: {e}");
            return Ok(());
        }
    }
    drop(stream);
    for notification in client.take_notifications() {
        let payload = if notification.payload.is_empty() {
            String::new()
        } else {
            format!(" with payload \"{}\"", notification.payload)
        };
        let _ = writeln!(
            out,
            "Asynchronous notification \"{}\"{payload} received from server process with PID {}.",
            notification.channel, notification.process_id
        );
    }
    let _ = out.flush();
    drop(out);
    client.close().await?;
    result
}
