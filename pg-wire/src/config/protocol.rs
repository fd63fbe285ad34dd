//! `min_protocol_version` / `max_protocol_version`: the frontend/backend protocol versions to accept.
//!
//! libpq 18 added these keywords with the values `3.0`, `3.2` and `latest` (3.2, which carries longer
//! cancel keys). Version 3.1 was never used by PostgreSQL and is rejected here.

use std::fmt;
use std::str::FromStr;

use crate::config::error::ConfigError;

/// A protocol version pg-wire can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ProtocolVersion {
    /// 3.0, understood by every server since PostgreSQL 7.4 (the default).
    #[default]
    V3_0,
    /// 3.2, PostgreSQL 18 and later.
    V3_2,
}

impl ProtocolVersion {
    /// The newest version pg-wire speaks (what `latest` means).
    pub const LATEST: ProtocolVersion = ProtocolVersion::V3_2;

    /// The major number (always 3).
    pub fn major(self) -> u16 {
        3
    }

    /// The minor number.
    pub fn minor(self) -> u16 {
        match self {
            ProtocolVersion::V3_0 => 0,
            ProtocolVersion::V3_2 => 2,
        }
    }

    /// The 32-bit code sent in the StartupMessage (`major << 16 | minor`).
    pub fn code(self) -> u32 {
        (u32::from(self.major()) << 16) | u32::from(self.minor())
    }

    /// Parses `3.0`, `3.2` or `latest`; `keyword` names the option in the error.
    pub(crate) fn parse_for(keyword: &str, s: &str) -> Result<ProtocolVersion, ConfigError> {
        let invalid = || {
            ConfigError::invalid(format!(
                "invalid {keyword} value: \"{s}\" (expected 3.0, 3.2 or latest)"
            ))
        };
        if s == "latest" {
            return Ok(ProtocolVersion::LATEST);
        }
        // libpq reads the two numbers with strtol, so "03.2" is 3.2 as well.
        let (major, minor) = s.split_once('.').ok_or_else(invalid)?;
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(major) || !all_digits(minor) {
            return Err(invalid());
        }
        match (major.parse::<u32>(), minor.parse::<u32>()) {
            (Ok(3), Ok(0)) => Ok(ProtocolVersion::V3_0),
            (Ok(3), Ok(2)) => Ok(ProtocolVersion::V3_2),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

impl FromStr for ProtocolVersion {
    type Err = ConfigError;

    /// Parses `3.0`, `3.2` or `latest` (= 3.2).
    fn from_str(s: &str) -> Result<ProtocolVersion, ConfigError> {
        ProtocolVersion::parse_for("protocol version", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "3.0".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_0
        );
        assert_eq!(
            "3.2".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_2
        );
        assert_eq!(
            "03.2".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_2
        );
        assert_eq!(
            "latest".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::V3_2
        );
        assert_eq!(ProtocolVersion::default(), ProtocolVersion::V3_0);
        assert!(ProtocolVersion::V3_0 < ProtocolVersion::V3_2);
        assert_eq!(ProtocolVersion::V3_0.code(), 196_608);
        assert_eq!(ProtocolVersion::V3_2.code(), 196_610);
        assert_eq!(ProtocolVersion::V3_2.to_string(), "3.2");
    }

    #[test]
    fn rejects() {
        for bad in [
            "3.1", "3", "3.", ".2", "4.0", "3.2.0", "+3.2", "3.-2", "Latest", "",
        ] {
            let e = ProtocolVersion::parse_for("min_protocol_version", bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid min_protocol_version value: \"{bad}\" (expected 3.0, 3.2 or latest)"
                )
            );
        }
    }
}
