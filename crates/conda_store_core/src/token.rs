//! Authentication tokens: the JWT payload of the Python conda-store
//! (`AuthenticationToken`) and HS256 signing compatible with PyJWT, byte for byte.
//!
//! PyJWT writes the header `{"alg":"HS256","typ":"JWT"}` (sorted keys) and the payload
//! with `json.dumps(..., separators=(",", ":"))`, whose default `ensure_ascii` escapes
//! every non-ASCII character (and DEL) as `\uXXXX`; [`TokenSigner::encode`] does the same,
//! so a token it makes is identical to PyJWT's for the same payload and secret.

use crate::authorization::RoleBindings;
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use std::fmt;
use std::io;

/// The only signing algorithm accepted, as PyJWT is configured by conda-store.
pub const ALGORITHM: &str = "HS256";

/// The primary namespace of a token that names none.
pub const DEFAULT_PRIMARY_NAMESPACE: &str = "default";

/// The JWT header PyJWT writes for HS256, with its keys sorted.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// base64url without padding on output; padding optional on input (as PyJWT).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// HMAC-SHA256.
type HmacSha256 = Hmac<Sha256>;

/// How long a token lasts when it names no `exp`: one day, as the original's default.
pub fn default_lifetime() -> TimeDelta {
    TimeDelta::days(1)
}

/// The claims of a conda-store token (Python `server.schema.AuthenticationToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthenticationToken {
    /// Expiry; written as integer seconds since the epoch (JWT NumericDate).
    #[serde(serialize_with = "serialize_numeric_date")]
    pub exp: DateTime<Utc>,
    /// The caller's own namespace (`default` unless given).
    pub primary_namespace: String,
    /// The role bindings the token grants, in the order given.
    pub role_bindings: RoleBindings,
}

impl AuthenticationToken {
    /// A token for `primary_namespace` with `role_bindings`, expiring at `exp`.
    pub fn new(
        exp: DateTime<Utc>,
        primary_namespace: impl Into<String>,
        role_bindings: RoleBindings,
    ) -> Self {
        AuthenticationToken {
            exp,
            primary_namespace: primary_namespace.into(),
            role_bindings,
        }
    }

    /// The default token made at `now`: one day long, namespace `default`, no bindings.
    pub fn default_at(now: DateTime<Utc>) -> Self {
        AuthenticationToken::new(
            now + default_lifetime(),
            DEFAULT_PRIMARY_NAMESPACE,
            RoleBindings::new(),
        )
    }

    /// Whether the token is expired at `now`, as PyJWT decides: whole seconds, and a token
    /// is already expired at the second of its `exp`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.exp.timestamp() <= now.timestamp()
    }
}

impl<'de> Deserialize<'de> for AuthenticationToken {
    /// Reads the claims; a missing `exp` means one day from the current time, as the
    /// original's pydantic default.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Claims::deserialize(deserializer).map(|claims| claims.into_token(Utc::now()))
    }
}

/// The claims as read, before a missing `exp` is filled in.
#[derive(Deserialize)]
struct Claims {
    #[serde(default, deserialize_with = "deserialize_numeric_date")]
    exp: Option<DateTime<Utc>>,
    #[serde(default = "default_primary_namespace")]
    primary_namespace: String,
    #[serde(default)]
    role_bindings: RoleBindings,
}

impl Claims {
    /// The token, with a missing `exp` set to `now` plus one day.
    fn into_token(self, now: DateTime<Utc>) -> AuthenticationToken {
        AuthenticationToken {
            exp: self.exp.unwrap_or_else(|| now + default_lifetime()),
            primary_namespace: self.primary_namespace,
            role_bindings: self.role_bindings,
        }
    }
}

/// `"default"`, for serde.
fn default_primary_namespace() -> String {
    DEFAULT_PRIMARY_NAMESPACE.to_owned()
}

/// Writes a time as whole seconds since the epoch (PyJWT's `timegm(utctimetuple())`).
fn serialize_numeric_date<S: Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(time.timestamp())
}

/// Reads `exp` as integer or fractional seconds, a numeric string, or an ISO-8601 time
/// (naive means UTC), as pydantic accepts for a `datetime`.
fn deserialize_numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    deserializer.deserialize_any(NumericDateVisitor).map(Some)
}

/// Visitor for [`deserialize_numeric_date`].
struct NumericDateVisitor;

impl Visitor<'_> for NumericDateVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("seconds since the epoch or an ISO-8601 time")
    }

    fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
        DateTime::from_timestamp(seconds, 0).ok_or_else(|| out_of_range(seconds))
    }

    fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
        let seconds = i64::try_from(seconds).map_err(|_| out_of_range(seconds))?;
        self.visit_i64(seconds)
    }

    fn visit_f64<E: serde::de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
        from_fractional_seconds(seconds).ok_or_else(|| out_of_range(seconds))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        if let Ok(seconds) = text.parse::<f64>() {
            return self.visit_f64(seconds);
        }
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .or_else(|_| text.parse::<NaiveDateTime>().map(|time| time.and_utc()))
            .map_err(|_| E::custom(format!("exp {text:?} is not a time")))
    }
}

/// The error for an `exp` outside the representable times.
fn out_of_range<E: serde::de::Error>(value: impl fmt::Display) -> E {
    E::custom(format!("exp {value} is out of range"))
}

/// A time from fractional seconds since the epoch; `None` if not finite or out of range.
fn from_fractional_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() || seconds.abs() > 1e15 {
        return None;
    }
    let whole = seconds.floor();
    let nanoseconds = ((seconds - whole) * 1e9).round().clamp(0.0, 999_999_999.0);
    // Both values are finite and range-checked above, so the casts cannot truncate.
    DateTime::from_timestamp(whole as i64, nanoseconds as u32)
}

/// Why a token could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url segments holding a JSON header and payload.
    #[error("malformed token: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The header names an algorithm other than HS256 (including `none`).
    #[error("token algorithm {algorithm:?} is not allowed; expected {ALGORITHM}")]
    UnsupportedAlgorithm {
        /// The `alg` of the header (empty when missing).
        algorithm: String,
    },
    /// The signature does not verify with our secret.
    #[error("token signature verification failed")]
    BadSignature,
    /// The token's `exp` has passed.
    #[error("token expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// The signed payload is not a valid conda-store token.
    #[error("invalid token claims: {reason}")]
    InvalidClaims {
        /// Which claim is wrong.
        reason: String,
    },
    /// The secret cannot key HMAC-SHA256 (HMAC takes keys of any length, so never seen).
    #[error("the token secret cannot be used as an HMAC-SHA256 key")]
    InvalidKey,
    /// The claims could not be written as JSON.
    #[error("cannot encode token: {reason}")]
    Encode {
        /// The serializer's message.
        reason: String,
    },
}

/// Signs and verifies HS256 JWTs with a shared secret (`AuthenticationBackend.secret`).
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TokenSigner")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The JWT header fields we read.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: Option<String>,
}

impl TokenSigner {
    /// A signer with `secret` as the HMAC key (Python: the secret string's UTF-8 bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        TokenSigner {
            key: secret.as_ref().to_vec(),
        }
    }

    /// The compact JWT for `token`, identical to PyJWT's `jwt.encode(token, secret, "HS256")`.
    pub fn encode(&self, token: &AuthenticationToken) -> Result<String, TokenError> {
        let payload = to_ascii_json(token).map_err(|error| TokenError::Encode {
            reason: error.to_string(),
        })?;
        let signing_input = format!(
            "{}.{}",
            BASE64URL.encode(HEADER_JSON),
            BASE64URL.encode(payload)
        );
        let signature = self.mac(&signing_input)?.finalize().into_bytes();
        Ok(format!("{signing_input}.{}", BASE64URL.encode(signature)))
    }

    /// Verifies `jwt` (algorithm, signature in constant time, then `exp` against `now`)
    /// and returns its claims.
    pub fn decode(&self, jwt: &str, now: DateTime<Utc>) -> Result<AuthenticationToken, TokenError> {
        let (signing_input, signature) = jwt
            .rsplit_once('.')
            .ok_or_else(|| malformed("expected three '.'-separated segments"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or_else(|| malformed("expected three '.'-separated segments"))?;
        check_algorithm(&decode_segment(header, "header")?)?;
        let signature = decode_segment(signature, "signature")?;
        self.mac(signing_input)?
            .verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let token = parse_claims(&decode_segment(payload, "payload")?)?.into_token(now);
        if token.is_expired(now) {
            return Err(TokenError::Expired {
                expired_at: token.exp,
            });
        }
        Ok(token)
    }

    /// HMAC-SHA256 keyed with the secret, fed with `input`.
    fn mac(&self, input: &str) -> Result<HmacSha256, TokenError> {
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(&self.key)
            .map_err(|_| TokenError::InvalidKey)?;
        mac.update(input.as_bytes());
        Ok(mac)
    }
}

/// A [`TokenError::Malformed`] with `reason`.
fn malformed(reason: &str) -> TokenError {
    TokenError::Malformed {
        reason: reason.to_owned(),
    }
}

/// The bytes of one base64url segment.
fn decode_segment(segment: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    BASE64URL
        .decode(segment)
        .map_err(|error| TokenError::Malformed {
            reason: format!("the {what} is not base64url: {error}"),
        })
}

/// The claims of a verified payload, which must be a JSON object (parsed straight from
/// the bytes, so `role_bindings` keeps its key order).
fn parse_claims(payload: &[u8]) -> Result<Claims, TokenError> {
    let first = payload.iter().find(|byte| !byte.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(TokenError::InvalidClaims {
            reason: "the payload is not a JSON object".to_owned(),
        });
    }
    serde_json::from_slice(payload).map_err(|error| TokenError::InvalidClaims {
        reason: error.to_string(),
    })
}

/// Refuses headers that are not JSON objects or name an algorithm other than HS256.
fn check_algorithm(header: &[u8]) -> Result<(), TokenError> {
    let header: Header = serde_json::from_slice(header).map_err(|error| TokenError::Malformed {
        reason: format!("the header is not a JSON object: {error}"),
    })?;
    match header.alg {
        Some(algorithm) if algorithm == ALGORITHM => Ok(()),
        algorithm => Err(TokenError::UnsupportedAlgorithm {
            algorithm: algorithm.unwrap_or_default(),
        }),
    }
}

/// Compact JSON with non-ASCII characters escaped, as Python's `json.dumps` by default.
fn to_ascii_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut output = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut output, AsciiFormatter);
    value.serialize(&mut serializer)?;
    Ok(output)
}

/// Compact formatter that writes non-ASCII characters and DEL as `\uXXXX` escapes.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for character in fragment.chars() {
            if character.is_ascii() && character != '\u{7f}' {
                let mut buffer = [0u8; 1];
                writer.write_all(character.encode_utf8(&mut buffer).as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for unit in character.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}
