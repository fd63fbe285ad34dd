//! Connects through a Unix socket directory, as the SQLAlchemy tutorial does with
//! `URL.create(drivername="postgresql", username="coderpad", host="/tmp/postgresql/socket",
//! database="coderpad")`, and prints the server version.
//!
//! ```text
//! cargo run --example connect                      # a throwaway local server
//! DATABASE_URL=postgresql://... cargo run --example connect
//! ```

use std::process::ExitCode;

use pg_examples::Database;
use pg_wire::Client;
use pg_wire::error::report;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let database = Database::from_env_or_throwaway("coderpad").await?;
    if let Database::Throwaway { url, .. } = &database {
        println!("url: {url}");
    }
    let config = database.config()?;
    let client = Client::connect(&config).await?;
    println!(
        "connected to {} as {}",
        client.target(),
        client
            .query_one("SELECT current_user::text", &[])
            .await?
            .get::<_, String>(0)
    );
    println!(
        "server_version: {}",
        client.server_version().unwrap_or_default()
    );
    let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
    println!("{version}");
    client.close().await?;
    Ok(())
}
