//! Target `connection_string`: libpq connection strings (URI and key=value), the password file,
//! and the [`Url`] builder's promise that its rendering parses back to the same settings.

use std::path::Path;

use crate::config::{Config, Url, find_password};

/// Input: a connection string (invalid UTF-8 is replaced). Also read as a password file, and, split
/// at NUL bytes, as the parts of a [`Url`]: user, password, host, port, database, then query keys
/// and values.
///
/// Checks: parsing gives settings or a typed error; the targets, the environment step and every
/// getter work on what parsed; a password-file lookup never panics; and for every [`Url`] whose
/// [`Url::to_config`] succeeds, [`Url::render_with_password`] parses to the same [`Config`].
pub fn connection_string(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Config>() {
        Ok(config) => exercise(&config, data),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let _ = (e.kind(), format!("{e:?}"));
        }
    }
    let _ = find_password(data, "localhost", 5432, "postgres", "alice");
    check_url(&text);
}

/// Every getter and derived value of parsed settings.
fn exercise(config: &Config, data: &[u8]) {
    let _ = format!("{config:?}");
    let _ = (
        config.get_user(),
        config.get_dbname(),
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
        config.get_options(),
        config.get_connect_timeout(),
        config.get_ssl_mode(),
        config.get_passfile(),
        config.get_max_message_size(),
        config.get_statement_cache_capacity(),
        config.get_named_statements(),
        config.get_query_timeout(),
        config.get_max_scram_iterations(),
        config.effective_application_name(),
        config.effective_connect_timeout(),
    );
    let _ = config.get_require_auth().to_string();
    assert!(config.get_min_protocol_version() <= config.get_max_protocol_version());
    if let Ok(targets) = config.targets_with_default_dir(Path::new("/tmp")) {
        assert!(!targets.is_empty(), "settings that parsed give no target");
        for target in &targets {
            assert_ne!(target.port, 0);
            let _ = (target.display_name(), target.socket_path());
            let user = config.get_user().unwrap_or("alice");
            let dbname = config.get_dbname().unwrap_or(user);
            let _ = find_password(data, &target.host.to_string(), target.port, dbname, user);
        }
    }
    let env = |name: &str| match name {
        "PGHOST" => Some("/run/postgresql,db.example.com".to_owned()),
        "PGPORT" => Some("5433,5434".to_owned()),
        "PGUSER" => Some("env_user".to_owned()),
        "PGSSLMODE" => Some("disable".to_owned()),
        "PGCONNECT_TIMEOUT" => Some("10".to_owned()),
        _ => None,
    };
    let _ = config.clone().with_env_from(env);
}

/// Builds a [`Url`] from NUL-separated parts and checks that its rendering parses back to
/// [`Url::to_config`]'s settings.
fn check_url(text: &str) {
    if !text.contains('\0') {
        return;
    }
    let mut parts = text.split('\0');
    let mut url = Url::create("postgresql");
    if let Some(user) = parts.next() {
        url = url.username(user);
    }
    if let Some(password) = parts.next() {
        url = url.password(password);
    }
    if let Some(host) = parts.next() {
        url = url.host(host);
    }
    if let Some(port) = parts.next().and_then(|p| p.parse::<u16>().ok()) {
        url = url.port(port);
    }
    if let Some(database) = parts.next() {
        url = url.database(database);
    }
    while let (Some(key), Some(value)) = (parts.next(), parts.next()) {
        url = url.query(key, value);
    }
    let _ = (url.to_string(), format!("{url:?}"));
    let Ok(config) = url.to_config() else {
        return;
    };
    let rendered = url.render_with_password();
    match rendered.parse::<Config>() {
        Ok(parsed) => assert!(
            parsed == config,
            "{rendered:?} parses to {parsed:?}, but the Url gives {config:?}"
        ),
        Err(e) => panic!("{rendered:?} does not parse ({e}) though the Url's settings are valid"),
    }
}
