//! Administrative SQL (roles, databases) and connection strings for a [`TestServer`].
//!
//! Every statement goes through one private function, `run_admin_sql`, which uses the project's own
//! driver. Identifiers are always quoted
//! (`"..."` with `"` doubled) and passwords written as standard string literals (`'...'` with `'`
//! doubled; `standard_conforming_strings` is on, so backslashes are plain characters).

use std::process::Command;

use crate::error::HarnessError;
use crate::server::TestServer;

impl TestServer {
    /// Creates a role that can log in, with `password` if given. The server's
    /// `password_encryption` decides how it is stored: MD5 on an [`AuthMethod::Md5`] server, SCRAM
    /// on the others.
    ///
    /// [`AuthMethod::Md5`]: crate::AuthMethod::Md5
    ///
    /// # Errors
    ///
    /// If the name or password holds a NUL character, or the server refuses (e.g. the role exists).
    pub async fn create_role(
        &self,
        name: &str,
        password: Option<&str>,
    ) -> Result<(), HarnessError> {
        let mut sql = format!("CREATE ROLE {} LOGIN", quote_ident(name)?);
        if let Some(password) = password {
            sql.push_str(" PASSWORD ");
            sql.push_str(&quote_literal(password)?);
        }
        sql.push(';');
        self.run_admin_sql(&sql).await
    }

    /// Creates a database, owned by `owner` if given, else by the superuser.
    ///
    /// # Errors
    ///
    /// If a name holds a NUL character, or the server refuses (e.g. the database exists).
    pub async fn create_database(
        &self,
        name: &str,
        owner: Option<&str>,
    ) -> Result<(), HarnessError> {
        let mut sql = format!("CREATE DATABASE {}", quote_ident(name)?);
        if let Some(owner) = owner {
            sql.push_str(" OWNER ");
            sql.push_str(&quote_ident(owner)?);
        }
        sql.push(';');
        self.run_admin_sql(&sql).await
    }

    /// Creates a database with a new unique name (see [`TestServer::unique_name`]), owned by the
    /// superuser, and returns the name.
    ///
    /// # Errors
    ///
    /// If the server refuses.
    pub async fn fresh_database(&self) -> Result<String, HarnessError> {
        let name = TestServer::unique_name("db");
        self.create_database(&name, None).await?;
        Ok(name)
    }

    /// A libpq key=value connection string for this server: over the Unix socket, or over TCP to
    /// 127.0.0.1 if `tcp`. Values are single-quoted (with `\` escapes) where libpq needs it.
    pub fn connection_string(
        &self,
        user: &str,
        password: Option<&str>,
        dbname: &str,
        tcp: bool,
    ) -> String {
        let host = if tcp {
            "127.0.0.1".to_owned()
        } else {
            self.socket_dir().to_string_lossy().into_owned()
        };
        let port = self.port().to_string();
        let mut pairs = vec![
            ("host", host.as_str()),
            ("port", port.as_str()),
            ("user", user),
            ("dbname", dbname),
        ];
        if let Some(password) = password {
            pairs.push(("password", password));
        }
        pairs
            .into_iter()
            .map(|(key, value)| format!("{key}={}", conninfo_value(value)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs `sql` as the superuser in the `postgres` database, with the project's own driver
    /// over the Unix socket. The one place the harness executes SQL. `sql` is one statement, or
    /// several that may share a transaction (`CREATE DATABASE` must come alone).
    async fn run_admin_sql(&self, sql: &str) -> Result<(), HarnessError> {
        let mut config = pg_wire::Config::new();
        config
            .host_path(self.socket_dir())
            .port(self.port())
            .user(self.superuser())
            .password(self.superuser_password())
            .dbname("postgres")
            .application_name("pg-tests-harness")
            .connect_timeout(std::time::Duration::from_secs(10));
        let client = pg_wire::Client::connect(&config).await.map_err(|e| {
            HarnessError::new(format!(
                "could not connect to the test server as the superuser: {}",
                pg_wire::error::report(&e)
            ))
        })?;
        let result = client.batch_execute(sql).await;
        // The outcome of the SQL is what matters; a failed Terminate changes nothing.
        let _ = client.close().await;
        result.map_err(|e| {
            HarnessError::new(format!(
                "administrative SQL failed: {}",
                pg_wire::error::report(&e)
            ))
            .with_detail("sql", sql)
        })
    }
}

/// Removes every `PG*` variable (PGHOST, PGDATA, PGOPTIONS, ...) from a child's environment, so
/// the developer's settings cannot redirect or reconfigure the harness's commands.
pub(crate) fn clean_environment(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> Result<String, HarnessError> {
    reject_nul(name, "an identifier")?;
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// `text` as a standard SQL string literal.
pub(crate) fn quote_literal(text: &str) -> Result<String, HarnessError> {
    reject_nul(text, "a string literal")?;
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// `text` as a `postgresql.conf` string value (which knows `\` escapes as well as doubled quotes).
pub(crate) fn conf_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// A libpq connection-string value: as is if plain, else single-quoted with `\` and `'` escaped.
pub(crate) fn conninfo_value(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// PostgreSQL text cannot hold NUL, and it would cut a command line short.
fn reject_nul(text: &str, what: &str) -> Result<(), HarnessError> {
    if text.contains('\0') {
        Err(HarnessError::new(format!(
            "{what} cannot contain a NUL character: {text:?}"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{conf_string, conninfo_value, quote_ident, quote_literal};

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
        assert_eq!(quote_literal("back\\slash").unwrap(), "'back\\slash'");
        assert!(quote_ident("a\0b").is_err());
        assert!(quote_literal("a\0b").is_err());
    }

    #[test]
    fn conf_strings_escape_backslash_and_quote() {
        assert_eq!(conf_string("/tmp/a'b\\c"), "'/tmp/a''b\\\\c'");
    }

    #[test]
    fn conninfo_values_are_quoted_when_needed() {
        assert_eq!(conninfo_value("postgres"), "postgres");
        assert_eq!(conninfo_value(""), "''");
        assert_eq!(conninfo_value("a b"), "'a b'");
        assert_eq!(conninfo_value("it's\\"), "'it\\'s\\\\'");
    }
}
