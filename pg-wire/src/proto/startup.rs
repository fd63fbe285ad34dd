//! The startup and authentication state machine, from the StartupMessage to the first
//! ReadyForQuery ("Start-up" in the protocol chapter's message flow section).
//!
//! Sans-IO: [`Startup::handle`] takes one backend message and appends any reply to an output
//! buffer; the SCRAM key derivation is returned as a [`Step::DeriveKey`] for the caller to run off
//! the async runtime. The nonce is an argument. What the machine enforces:
//!
//! - `require_auth`: a method the user did not allow is refused, including a server that skips
//!   authentication (AuthenticationOk straight away) unless `none` is allowed;
//! - SCRAM: AuthenticationOk is refused until the server's final signature was verified, so a
//!   server that does not know the password cannot pose as the real one;
//! - the session must speak UTF-8 (`client_encoding`), and the BackendKeyData must fit the
//!   negotiated protocol version.

use std::collections::HashMap;
use std::fmt;

use bytes::BytesMut;

use super::auth::md5::md5_password;
use super::auth::scram::{self, KeyDerivation, SaltedPassword, ScramClient, ScramError};
use super::backend::{
    Authentication, BackendKeyData, BackendMessage, ErrorFields, TransactionStatus,
};
use super::error::{EncodeError, ProtocolError};
use super::frontend;
use crate::config::{AuthMethod, RequireAuth};

/// Everything the state machine needs to know about the session it authenticates.
#[derive(Clone)]
pub struct StartupOptions {
    /// The user name sent in the StartupMessage (MD5 hashes it with the password).
    pub user: String,
    /// The password, if one is known.
    pub password: Option<Vec<u8>>,
    /// The authentication methods the user allows.
    pub require_auth: RequireAuth,
    /// The largest SCRAM iteration count accepted.
    pub max_scram_iterations: u32,
    /// The minor protocol version requested in the StartupMessage (0 or 2).
    pub requested_minor: i32,
    /// The oldest minor protocol version the user accepts.
    pub min_minor: i32,
    /// The SCRAM client nonce: printable ASCII without commas (base64 of 18 random bytes).
    pub scram_nonce: String,
}

impl fmt::Debug for StartupOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartupOptions")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("require_auth", &self.require_auth)
            .field("max_scram_iterations", &self.max_scram_iterations)
            .field("requested_minor", &self.requested_minor)
            .field("min_minor", &self.min_minor)
            .finish_non_exhaustive()
    }
}

/// What the caller does after [`Startup::handle`] or [`Startup::key_derived`].
#[derive(Debug)]
pub enum Step {
    /// Send whatever was appended to the output buffer (possibly nothing) and feed the next message.
    Continue,
    /// A NoticeResponse arrived; hand it to the notice handler and feed the next message.
    Notice(ErrorFields),
    /// Run this SCRAM key derivation off the async runtime, then call [`Startup::key_derived`].
    DeriveKey(KeyDerivation),
    /// ReadyForQuery arrived: the session is open. Take the result with [`Startup::finish`].
    Ready,
}

/// The client refused to authenticate, or could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The server asked for a method that `require_auth` does not allow.
    MethodNotAllowed {
        /// The method, in `require_auth`'s spelling.
        method: &'static str,
        /// The user's `require_auth` setting.
        require_auth: String,
    },
    /// The server asked for a password and none is known.
    PasswordMissing {
        /// The method that needed it.
        method: &'static str,
    },
    /// The server asked for a method this client does not implement.
    Unsupported {
        /// The method.
        method: String,
    },
    /// The SCRAM exchange failed.
    Scram(ScramError),
    /// AuthenticationOk came before the server proved it knows the password.
    OkBeforeScramCompleted,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MethodNotAllowed { method, require_auth } => write!(
                f,
                "the server asked for authentication method \"{method}\", which require_auth={require_auth} does not allow"
            ),
            AuthError::PasswordMissing { method } => {
                write!(f, "the server asked for {method} authentication but no password was supplied")
            }
            AuthError::Unsupported { method } => {
                write!(f, "the server asked for {method} authentication, which pg-wire does not support")
            }
            AuthError::Scram(e) => write!(f, "SCRAM-SHA-256 authentication failed: {e}"),
            AuthError::OkBeforeScramCompleted => f.write_str(
                "the server reported authentication success before proving it knows the password (SCRAM exchange not completed)",
            ),
        }
    }
}

impl std::error::Error for AuthError {}

/// Why startup failed.
#[derive(Debug, Clone, PartialEq)]
pub enum StartupError {
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// A reply could not be encoded (a password containing NUL, ...).
    Encode(EncodeError),
    /// The server sent an ErrorResponse (wrong password, unknown database, ...).
    Server(ErrorFields),
    /// The client refused or failed to authenticate.
    Auth(AuthError),
    /// The server cannot give what the settings require (a protocol version).
    Unsupported(String),
}

impl From<ProtocolError> for StartupError {
    fn from(e: ProtocolError) -> Self {
        StartupError::Protocol(e)
    }
}

impl From<EncodeError> for StartupError {
    fn from(e: EncodeError) -> Self {
        StartupError::Encode(e)
    }
}

impl From<AuthError> for StartupError {
    fn from(e: AuthError) -> Self {
        StartupError::Auth(e)
    }
}

impl From<ScramError> for StartupError {
    fn from(e: ScramError) -> Self {
        StartupError::Auth(AuthError::Scram(e))
    }
}

/// What a successful startup established.
#[derive(Debug, Clone)]
pub struct Session {
    /// Run-time parameters the server reported (`server_version`, `TimeZone`, ...).
    pub parameters: HashMap<String, String>,
    /// The cancellation key, if the server sent one.
    pub backend_key: Option<BackendKeyData>,
    /// The transaction status of the first ReadyForQuery.
    pub transaction_status: TransactionStatus,
    /// The negotiated minor protocol version (0 or 2).
    pub protocol_minor: i32,
    /// The authentication method that was used.
    pub auth_method: AuthMethod,
}

enum State {
    /// Waiting for the server's first authentication request.
    AwaitingRequest,
    /// A cleartext or MD5 password was sent; waiting for AuthenticationOk.
    PasswordSent { method: AuthMethod },
    /// SCRAM client-first sent; waiting for AuthenticationSASLContinue.
    ScramStarted(ScramClient),
    /// Waiting for the caller to run the key derivation.
    ScramDeriving(ScramClient),
    /// SCRAM client-final sent; waiting for AuthenticationSASLFinal.
    ScramFinalSent(ScramClient),
    /// The server's signature was verified; waiting for AuthenticationOk.
    ScramVerified,
    /// Authenticated; collecting ParameterStatus and BackendKeyData until ReadyForQuery.
    AwaitingReady,
    /// ReadyForQuery arrived.
    Ready(TransactionStatus),
    /// An error ended startup.
    Failed,
}

impl State {
    fn expects(&self) -> &'static str {
        match self {
            State::AwaitingRequest => "an authentication request",
            State::PasswordSent { .. } => "AuthenticationOk after the password",
            State::ScramStarted(_) => "AuthenticationSASLContinue",
            State::ScramDeriving(_) => "no message while the SCRAM key is derived",
            State::ScramFinalSent(_) => "AuthenticationSASLFinal",
            State::ScramVerified => "AuthenticationOk after SCRAM",
            State::AwaitingReady => "ParameterStatus, BackendKeyData or ReadyForQuery",
            State::Ready(_) => "nothing after ReadyForQuery during startup",
            State::Failed => "nothing after a failed startup",
        }
    }
}

/// The startup and authentication state machine of one connection.
pub struct Startup {
    options: StartupOptions,
    state: State,
    parameters: HashMap<String, String>,
    backend_key: Option<BackendKeyData>,
    protocol_minor: i32,
    auth_method: AuthMethod,
}

impl fmt::Debug for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Startup")
            .field("options", &self.options)
            .field("state", &self.state.expects())
            .finish_non_exhaustive()
    }
}

/// The `require_auth` name of a method, for messages.
fn method_name(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Password => "password",
        AuthMethod::Md5 => "md5",
        AuthMethod::ScramSha256 => "scram-sha-256",
        AuthMethod::Gss => "gss",
        AuthMethod::Sspi => "sspi",
        AuthMethod::None => "none",
    }
}

impl Startup {
    /// A machine that has sent nothing yet. Encode the StartupMessage with
    /// [`frontend::startup_message`] and feed the server's replies to [`Startup::handle`].
    pub fn new(options: StartupOptions) -> Startup {
        let protocol_minor = options.requested_minor;
        Startup {
            options,
            state: State::AwaitingRequest,
            parameters: HashMap::new(),
            backend_key: None,
            protocol_minor,
            auth_method: AuthMethod::None,
        }
    }

    /// Takes one backend message; any reply is appended to `out`.
    pub fn handle(
        &mut self,
        message: BackendMessage,
        out: &mut BytesMut,
    ) -> Result<Step, StartupError> {
        let result = self.step(message, out);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self, message: BackendMessage, out: &mut BytesMut) -> Result<Step, StartupError> {
        match message {
            BackendMessage::ErrorResponse(fields) => return Err(StartupError::Server(fields)),
            BackendMessage::NoticeResponse(fields) => return Ok(Step::Notice(fields)),
            _ => {}
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        match (state, message) {
            (State::AwaitingRequest, BackendMessage::NegotiateProtocolVersion(negotiate)) => {
                if negotiate.major() != 3 {
                    return Err(ProtocolError::Refused(format!(
                        "the server offered protocol version {}.{} in NegotiateProtocolVersion",
                        negotiate.major(),
                        negotiate.minor()
                    ))
                    .into());
                }
                self.negotiate(negotiate.minor())?;
                self.state = State::AwaitingRequest;
                Ok(Step::Continue)
            }
            (State::AwaitingRequest, BackendMessage::Authentication(request)) => {
                self.on_request(request, out)
            }
            (
                State::PasswordSent { method },
                BackendMessage::Authentication(Authentication::Ok),
            ) => {
                self.auth_method = method;
                self.state = State::AwaitingReady;
                Ok(Step::Continue)
            }
            (
                State::ScramStarted(mut client),
                BackendMessage::Authentication(Authentication::SaslContinue(data)),
            ) => {
                let derivation =
                    client.handle_server_first(&data, self.options.max_scram_iterations)?;
                self.state = State::ScramDeriving(client);
                Ok(Step::DeriveKey(derivation))
            }
            (
                State::ScramFinalSent(mut client),
                BackendMessage::Authentication(Authentication::SaslFinal(data)),
            ) => {
                client.verify_server_final(&data)?;
                self.state = State::ScramVerified;
                Ok(Step::Continue)
            }
            (State::ScramVerified, BackendMessage::Authentication(Authentication::Ok)) => {
                self.auth_method = AuthMethod::ScramSha256;
                self.state = State::AwaitingReady;
                Ok(Step::Continue)
            }
            (
                State::ScramStarted(_) | State::ScramDeriving(_) | State::ScramFinalSent(_),
                BackendMessage::Authentication(Authentication::Ok),
            ) => Err(AuthError::OkBeforeScramCompleted.into()),
            (State::AwaitingReady, BackendMessage::ParameterStatus(status)) => {
                record_parameter(&mut self.parameters, status.name, status.value)?;
                self.state = State::AwaitingReady;
                Ok(Step::Continue)
            }
            (State::AwaitingReady, BackendMessage::BackendKeyData(key)) => {
                if self.protocol_minor < 2 && key.secret_key.len() != 4 {
                    return Err(ProtocolError::InvalidValue {
                        what: "protocol 3.0 BackendKeyData secret key length",
                        value: i64::try_from(key.secret_key.len()).unwrap_or(i64::MAX),
                    }
                    .into());
                }
                self.backend_key = Some(key);
                self.state = State::AwaitingReady;
                Ok(Step::Continue)
            }
            (State::AwaitingReady, BackendMessage::ReadyForQuery(status)) => {
                self.state = State::Ready(status);
                Ok(Step::Ready)
            }
            (state, message) => Err(ProtocolError::UnexpectedMessage {
                expected: state.expects(),
                got: message.name(),
            }
            .into()),
        }
    }

    /// Applies a NegotiateProtocolVersion: the server's newest minor version, if we may use it.
    fn negotiate(&mut self, newest_minor: i32) -> Result<(), StartupError> {
        // Sent when the requested minor version is too new, or when `_pq_.` options were not
        // recognised (then with the requested version itself).
        if newest_minor > self.options.requested_minor || newest_minor < 0 {
            return Err(ProtocolError::Refused(format!(
                "the server offered protocol 3.{newest_minor} in NegotiateProtocolVersion after 3.{} was requested",
                self.options.requested_minor
            ))
            .into());
        }
        if newest_minor < self.options.min_minor {
            return Err(StartupError::Unsupported(format!(
                "the server supports protocol 3.{newest_minor} at most, below min_protocol_version 3.{}",
                self.options.min_minor
            )));
        }
        self.protocol_minor = newest_minor;
        Ok(())
    }

    fn allow(&self, method: AuthMethod) -> Result<(), AuthError> {
        if self.options.require_auth.allows(method) {
            Ok(())
        } else {
            Err(AuthError::MethodNotAllowed {
                method: method_name(method),
                require_auth: self.options.require_auth.to_string(),
            })
        }
    }

    fn password(&self, method: AuthMethod) -> Result<&[u8], AuthError> {
        self.options
            .password
            .as_deref()
            .ok_or(AuthError::PasswordMissing {
                method: method_name(method),
            })
    }

    fn on_request(
        &mut self,
        request: Authentication,
        out: &mut BytesMut,
    ) -> Result<Step, StartupError> {
        match request {
            Authentication::Ok => {
                // The server skipped authentication (trust).
                self.allow(AuthMethod::None)?;
                self.auth_method = AuthMethod::None;
                self.state = State::AwaitingReady;
            }
            Authentication::CleartextPassword => {
                self.allow(AuthMethod::Password)?;
                let password = self.password(AuthMethod::Password)?;
                frontend::password_message(out, password)?;
                self.state = State::PasswordSent {
                    method: AuthMethod::Password,
                };
            }
            Authentication::Md5Password { salt } => {
                self.allow(AuthMethod::Md5)?;
                let password = self.password(AuthMethod::Md5)?;
                let hashed = md5_password(self.options.user.as_bytes(), password, salt);
                frontend::password_message(out, hashed.as_bytes())?;
                self.state = State::PasswordSent {
                    method: AuthMethod::Md5,
                };
            }
            Authentication::Sasl { mechanisms } => {
                self.allow(AuthMethod::ScramSha256)?;
                if !mechanisms.iter().any(|m| m == scram::SCRAM_SHA_256) {
                    return Err(AuthError::Unsupported {
                        method: format!("SASL ({})", mechanisms.join(", ")),
                    }
                    .into());
                }
                let password = self.password(AuthMethod::ScramSha256)?;
                let (client, first) = ScramClient::new(password, &self.options.scram_nonce);
                frontend::sasl_initial_response(out, scram::SCRAM_SHA_256, &first)?;
                self.state = State::ScramStarted(client);
            }
            Authentication::Gss | Authentication::GssContinue(_) => {
                self.allow(AuthMethod::Gss)?;
                return Err(AuthError::Unsupported {
                    method: "GSSAPI".into(),
                }
                .into());
            }
            Authentication::Sspi => {
                self.allow(AuthMethod::Sspi)?;
                return Err(AuthError::Unsupported {
                    method: "SSPI".into(),
                }
                .into());
            }
            Authentication::KerberosV5 => {
                return Err(AuthError::Unsupported {
                    method: "Kerberos V5".into(),
                }
                .into());
            }
            Authentication::ScmCredential => {
                return Err(AuthError::Unsupported {
                    method: "SCM credential".into(),
                }
                .into());
            }
            other @ (Authentication::SaslContinue(_) | Authentication::SaslFinal(_)) => {
                return Err(ProtocolError::UnexpectedMessage {
                    expected: "an authentication request",
                    got: other.name(),
                }
                .into());
            }
        }
        Ok(Step::Continue)
    }

    /// Continues SCRAM with the derived key; appends the client-final message to `out`.
    pub fn key_derived(
        &mut self,
        salted: &SaltedPassword,
        out: &mut BytesMut,
    ) -> Result<Step, StartupError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::ScramDeriving(mut client) = state else {
            return Err(ScramError::OutOfOrder("derived key").into());
        };
        let message = client.client_final(salted)?;
        frontend::sasl_response(out, &message)?;
        self.state = State::ScramFinalSent(client);
        Ok(Step::Continue)
    }

    /// The established session, once [`Step::Ready`] was returned.
    pub fn finish(self) -> Option<Session> {
        let State::Ready(transaction_status) = self.state else {
            return None;
        };
        Some(Session {
            parameters: self.parameters,
            backend_key: self.backend_key,
            transaction_status,
            protocol_minor: self.protocol_minor,
            auth_method: self.auth_method,
        })
    }
}

/// The most distinct run-time parameters a server may report. PostgreSQL reports a few dozen;
/// the cap keeps a hostile server from growing the client's map without bound.
pub const MAX_PARAMETERS: usize = 1024;

/// Checks a ParameterStatus (see [`check_parameter`]) and records it in `parameters`, refusing
/// a new name beyond [`MAX_PARAMETERS`].
pub fn record_parameter(
    parameters: &mut HashMap<String, String>,
    name: String,
    value: String,
) -> Result<(), ProtocolError> {
    check_parameter(&name, &value)?;
    if parameters.len() >= MAX_PARAMETERS && !parameters.contains_key(&name) {
        return Err(ProtocolError::Refused(format!(
            "the server reported more than {MAX_PARAMETERS} distinct run-time parameters"
        )));
    }
    parameters.insert(name, value);
    Ok(())
}

/// Refuses a session whose client encoding is not UTF-8: its bytes would be handed out as text.
pub fn check_parameter(name: &str, value: &str) -> Result<(), ProtocolError> {
    if name.eq_ignore_ascii_case("client_encoding") && !value.eq_ignore_ascii_case("UTF8") {
        return Err(ProtocolError::Refused(format!(
            "the server set client_encoding to {value}; pg-wire only accepts UTF8"
        )));
    }
    Ok(())
}

/// An 18-byte random value in base64: the SCRAM nonce format libpq uses.
pub fn scram_nonce(random: [u8; 18]) -> String {
    super::auth::base64::encode(&random)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::backend::ParameterStatus;
    use bytes::Bytes;

    fn options(require_auth: RequireAuth, password: Option<&str>) -> StartupOptions {
        StartupOptions {
            user: "alice".into(),
            password: password.map(|p| p.as_bytes().to_vec()),
            require_auth,
            max_scram_iterations: scram::DEFAULT_MAX_ITERATIONS,
            requested_minor: 0,
            min_minor: 0,
            scram_nonce: "rOprNGfwEbeRWgbNEkqO".into(),
        }
    }

    fn finish_ready(startup: &mut Startup) {
        let mut out = BytesMut::new();
        startup
            .handle(
                BackendMessage::ParameterStatus(ParameterStatus {
                    name: "client_encoding".into(),
                    value: "UTF8".into(),
                }),
                &mut out,
            )
            .unwrap();
        let step = startup
            .handle(
                BackendMessage::ReadyForQuery(TransactionStatus::Idle),
                &mut out,
            )
            .unwrap();
        assert!(matches!(step, Step::Ready));
        assert!(out.is_empty());
    }

    #[test]
    fn trust_is_refused_when_none_is_not_allowed() {
        let mut startup = Startup::new(options(
            RequireAuth::only(&[AuthMethod::ScramSha256]),
            Some("x"),
        ));
        let err = startup
            .handle(
                BackendMessage::Authentication(Authentication::Ok),
                &mut BytesMut::new(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            StartupError::Auth(AuthError::MethodNotAllowed {
                method: "none",
                require_auth: "scram-sha-256".into()
            })
        );
    }

    #[test]
    fn trust_is_accepted_by_default() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        startup
            .handle(
                BackendMessage::Authentication(Authentication::Ok),
                &mut BytesMut::new(),
            )
            .unwrap();
        finish_ready(&mut startup);
        let session = startup.finish().unwrap();
        assert_eq!(
            session
                .parameters
                .get("client_encoding")
                .map(String::as_str),
            Some("UTF8")
        );
        assert_eq!(session.auth_method, AuthMethod::None);
    }

    #[test]
    fn cleartext_and_md5_replies() {
        let mut startup = Startup::new(options(RequireAuth::any(), Some("secret")));
        let mut out = BytesMut::new();
        startup
            .handle(
                BackendMessage::Authentication(Authentication::CleartextPassword),
                &mut out,
            )
            .unwrap();
        assert_eq!(&out[..], b"p\0\0\0\x0bsecret\0");

        let mut startup = Startup::new(options(RequireAuth::any(), Some("secret")));
        let mut out = BytesMut::new();
        startup
            .handle(
                BackendMessage::Authentication(Authentication::Md5Password { salt: [1, 2, 3, 4] }),
                &mut out,
            )
            .unwrap();
        let expected = md5_password(b"alice", b"secret", [1, 2, 3, 4]);
        assert_eq!(&out[5..out.len() - 1], expected.as_bytes());
    }

    #[test]
    fn cleartext_refused_by_require_auth() {
        let mut startup = Startup::new(options(
            RequireAuth::only(&[AuthMethod::ScramSha256]),
            Some("secret"),
        ));
        let mut out = BytesMut::new();
        let err = startup
            .handle(
                BackendMessage::Authentication(Authentication::CleartextPassword),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            StartupError::Auth(AuthError::MethodNotAllowed {
                method: "password",
                ..
            })
        ));
        // Nothing was sent: the password never left the client.
        assert!(out.is_empty());
    }

    #[test]
    fn missing_password() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        let err = startup
            .handle(
                BackendMessage::Authentication(Authentication::Md5Password { salt: [0; 4] }),
                &mut BytesMut::new(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            StartupError::Auth(AuthError::PasswordMissing { method: "md5" })
        );
    }

    #[test]
    fn ok_before_scram_final_is_refused() {
        let mut startup = Startup::new(options(RequireAuth::any(), Some("pencil")));
        let mut out = BytesMut::new();
        startup
            .handle(
                BackendMessage::Authentication(Authentication::Sasl {
                    mechanisms: vec!["SCRAM-SHA-256".into()],
                }),
                &mut out,
            )
            .unwrap();
        assert!(out.starts_with(b"p"));
        let err = startup
            .handle(BackendMessage::Authentication(Authentication::Ok), &mut out)
            .unwrap_err();
        assert_eq!(err, StartupError::Auth(AuthError::OkBeforeScramCompleted));
    }

    #[test]
    fn scram_sequence_with_verified_signature() {
        let mut startup = Startup::new(options(RequireAuth::any(), Some("pencil")));
        let mut out = BytesMut::new();
        startup
            .handle(
                BackendMessage::Authentication(Authentication::Sasl {
                    mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()],
                }),
                &mut out,
            )
            .unwrap();
        out.clear();
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let step = startup
            .handle(
                BackendMessage::Authentication(Authentication::SaslContinue(Bytes::from_static(
                    server_first.as_bytes(),
                ))),
                &mut out,
            )
            .unwrap();
        let Step::DeriveKey(derivation) = step else {
            panic!("expected a key derivation")
        };
        // AuthenticationOk while the key is being derived is refused too.
        let salted = derivation.derive().unwrap();
        startup.key_derived(&salted, &mut out).unwrap();
        assert!(out.starts_with(b"p"));
        // A server-final with a wrong signature aborts.
        let mut failing = std::mem::replace(
            &mut startup,
            Startup::new(options(RequireAuth::any(), None)),
        );
        let err = failing
            .handle(
                BackendMessage::Authentication(Authentication::SaslFinal(Bytes::from_static(
                    b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                ))),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(
            err,
            StartupError::Auth(AuthError::Scram(ScramError::SignatureMismatch))
        );
        // After a failure, nothing more is accepted.
        assert!(
            failing
                .handle(BackendMessage::Authentication(Authentication::Ok), &mut out)
                .is_err()
        );
    }

    #[test]
    fn non_utf8_client_encoding_is_refused() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        let mut out = BytesMut::new();
        startup
            .handle(BackendMessage::Authentication(Authentication::Ok), &mut out)
            .unwrap();
        let err = startup
            .handle(
                BackendMessage::ParameterStatus(ParameterStatus {
                    name: "client_encoding".into(),
                    value: "LATIN1".into(),
                }),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            StartupError::Protocol(ProtocolError::Refused(_))
        ));
    }

    #[test]
    fn error_response_ends_startup() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        let fields =
            ErrorFields::from_pairs([(b'C', "3D000"), (b'M', "database \"x\" does not exist")]);
        assert_eq!(
            startup
                .handle(
                    BackendMessage::ErrorResponse(fields.clone()),
                    &mut BytesMut::new()
                )
                .unwrap_err(),
            StartupError::Server(fields)
        );
    }

    #[test]
    fn unexpected_messages_name_both_sides() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        let err = startup
            .handle(
                BackendMessage::ReadyForQuery(TransactionStatus::Idle),
                &mut BytesMut::new(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            StartupError::Protocol(ProtocolError::UnexpectedMessage {
                expected: "an authentication request",
                got: "ReadyForQuery"
            })
        );
    }

    #[test]
    fn key_length_must_fit_the_protocol_version() {
        let mut startup = Startup::new(options(RequireAuth::any(), None));
        let mut out = BytesMut::new();
        startup
            .handle(BackendMessage::Authentication(Authentication::Ok), &mut out)
            .unwrap();
        let err = startup
            .handle(
                BackendMessage::BackendKeyData(BackendKeyData {
                    process_id: 1,
                    secret_key: Bytes::from_static(&[0; 32]),
                }),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            StartupError::Protocol(ProtocolError::InvalidValue { .. })
        ));
    }

    #[test]
    fn negotiate_down_to_3_0() {
        let mut opts = options(RequireAuth::any(), None);
        opts.requested_minor = 2;
        let mut startup = Startup::new(opts.clone());
        let negotiate = BackendMessage::NegotiateProtocolVersion(
            super::super::backend::NegotiateProtocolVersion {
                newest_version: 3 << 16,
                unrecognized_options: vec![],
            },
        );
        startup
            .handle(negotiate.clone(), &mut BytesMut::new())
            .unwrap();
        startup
            .handle(
                BackendMessage::Authentication(Authentication::Ok),
                &mut BytesMut::new(),
            )
            .unwrap();
        finish_ready(&mut startup);
        assert_eq!(startup.finish().unwrap().protocol_minor, 0);

        opts.min_minor = 2;
        let mut startup = Startup::new(opts);
        assert!(startup.handle(negotiate, &mut BytesMut::new()).is_err());
    }
}
