//! HMAC-SHA256 signatures with an expiry and a purpose, over a text, keyed by the
//! server's secret: artifact links, CSRF tokens and the OAuth state cookie; and
//! constant-time comparison of secrets.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a signature is for. Its label is signed too, so a signature made for one use
/// is never valid for another, whatever the texts look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A link to a stored artifact (`/storage/{key}`).
    ArtifactLink,
    /// The CSRF token of an admin page's form.
    Csrf,
    /// The OAuth `state` cookie between login and callback.
    OAuthState,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::ArtifactLink => b"artifact-link",
            Purpose::Csrf => b"csrf",
            Purpose::OAuthState => b"oauth-state",
        }
    }
}

fn mac(secret: &[u8], purpose: Purpose, text: &str, expires: i64) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(purpose.label());
    mac.update(b"\n");
    mac.update(text.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The hex signature of `text` for `purpose`, valid until `expires` (Unix seconds).
pub fn sign(secret: &[u8], purpose: Purpose, text: &str, expires: i64) -> String {
    mac(secret, purpose, text, expires)
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `signature` is the signature of `text` and `expires` (the caller checks
/// the expiry itself).
pub fn verify(secret: &[u8], purpose: Purpose, text: &str, expires: i64, signature: &str) -> bool {
    let Some(bytes) = decode_hex(signature) else {
        return false;
    };
    mac(secret, purpose, text, expires)
        .verify_slice(&bytes)
        .is_ok()
}

/// The HMAC-SHA256 of `text` keyed by `secret` (how secrets are compared: digests of
/// equal length, in constant time).
pub fn digest(secret: &[u8], text: &str) -> Vec<u8> {
    keyed(secret, text).finalize().into_bytes().to_vec()
}

/// Whether `digest` is the [`digest`] of `text`, compared in constant time
/// ([`Mac::verify_slice`]).
pub fn is_digest_of(secret: &[u8], text: &str, digest: &[u8]) -> bool {
    keyed(secret, text).verify_slice(digest).is_ok()
}

/// Whether `candidate` equals `expected`, in constant time: their HMACs under `secret`
/// are compared, so neither the contents nor the length of `expected` show in the
/// timing.
pub fn same_text(secret: &[u8], candidate: &str, expected: &str) -> bool {
    is_digest_of(secret, candidate, &digest(secret, expected))
}

/// HMAC-SHA256 keyed by `secret`, fed with `text`.
fn keyed(secret: &[u8], text: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(text.as_bytes());
    mac
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_the_key_the_purpose_and_the_expiry() {
        let link = Purpose::ArtifactLink;
        let signature = sign(b"secret", link, "logs/a.log", 100);
        assert!(verify(b"secret", link, "logs/a.log", 100, &signature));
        assert!(!verify(b"secret", link, "logs/b.log", 100, &signature));
        assert!(!verify(b"secret", link, "logs/a.log", 101, &signature));
        assert!(!verify(b"other", link, "logs/a.log", 100, &signature));
        assert!(!verify(b"secret", link, "logs/a.log", 100, "zz"));
        for other in [Purpose::Csrf, Purpose::OAuthState] {
            assert!(!verify(b"secret", other, "logs/a.log", 100, &signature));
        }
    }

    #[test]
    fn secrets_are_compared_through_their_digests() {
        assert!(same_text(b"key", "password", "password"));
        assert!(!same_text(b"key", "passwore", "password"));
        assert!(!same_text(b"key", "password!", "password"));
        assert!(!same_text(b"key", "", "password"));
        let digest = digest(b"key", "robot-token");
        assert!(is_digest_of(b"key", "robot-token", &digest));
        assert!(!is_digest_of(b"other", "robot-token", &digest));
        assert!(!is_digest_of(b"key", "robot-token", &digest[..31]));
    }
}
