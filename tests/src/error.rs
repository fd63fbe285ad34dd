//! The harness's one error type.
//!
//! A [`HarnessError`] is meant to be read by a person looking at a failed test: its `Display` says
//! what the harness was doing, the underlying OS error if any, and then (on the following lines) the
//! output of the command that failed or the tail of the server log.

use std::fmt;
use std::process::Output;

/// Why the harness could not start a server or run an administrative command.
///
/// `Display` gives the whole story (what failed, why, and any command output or server log tail),
/// and so does `Debug`, so that `.unwrap()` and `.expect()` in tests print something readable.
pub struct HarnessError {
    /// One line: what the harness tried to do and, for OS errors, why it failed.
    message: String,
    /// Further lines: command output, the server log's tail. May be empty.
    detail: String,
}

impl HarnessError {
    /// An error with only a message.
    pub(crate) fn new(message: impl Into<String>) -> HarnessError {
        HarnessError {
            message: message.into(),
            detail: String::new(),
        }
    }

    /// An error caused by an OS-level failure, e.g. `io("could not create /tmp/x", err)`.
    pub(crate) fn io(message: impl fmt::Display, err: std::io::Error) -> HarnessError {
        HarnessError::new(format!("{message}: {err}"))
    }

    /// An error from a command that ran and failed, with its exit status and output.
    pub(crate) fn command(message: impl fmt::Display, output: &Output) -> HarnessError {
        HarnessError::new(format!("{message} ({})", output.status)).with_output(output)
    }

    /// Appends a titled block of text (e.g. a log tail) to the detail.
    pub(crate) fn with_detail(mut self, title: &str, text: &str) -> HarnessError {
        let text = text.trim_end();
        if !text.is_empty() {
            if !self.detail.is_empty() {
                self.detail.push('\n');
            }
            self.detail.push_str("--- ");
            self.detail.push_str(title);
            self.detail.push_str(" ---\n");
            self.detail.push_str(text);
        }
        self
    }

    /// Appends a command's stdout and stderr to the detail.
    pub(crate) fn with_output(self, output: &Output) -> HarnessError {
        self.with_detail("stdout", &String::from_utf8_lossy(&output.stdout))
            .with_detail("stderr", &String::from_utf8_lossy(&output.stderr))
    }

    /// The one-line summary, without command output or log tail.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.detail.is_empty() {
            write!(f, "\n{}", self.detail)?;
        }
        Ok(())
    }
}

// Debug prints the same text as Display: a test's `unwrap()` shows it, and the escaped one-line form
// that a derived Debug would give is unreadable for multi-line command output.
impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for HarnessError {}
