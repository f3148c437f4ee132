//! Playback URLs and their signatures. A `signed` video's URLs carry `sig-{expires}-{mac}` as a path
//! segment right after the video id, so every relative URL inside its playlists (renditions, init
//! segments, media segments) inherits the signature; the MAC covers the video's whole playback tree
//! and the expiry, so neither can be changed without the key.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::VideoId;

/// Who may play a video: anyone with the plain URL, or only holders of an unexpired signed URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Signed,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Signed => "signed",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Self::Public),
            "signed" => Ok(Self::Signed),
            other => Err(format!(
                "unknown visibility {other:?} (expected public or signed)"
            )),
        }
    }
}

const SIG_PREFIX: &str = "sig-";

/// Why a playback path's signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("this video is private: its playback URLs must be signed")]
    Missing,
    #[error("the playback URL's signature is malformed")]
    Malformed,
    #[error("the playback URL has expired")]
    Expired,
    #[error("the playback URL's signature does not match")]
    Mismatch,
}

fn mac(secret: &str, id: VideoId, expires: u64) -> Hmac<Sha256> {
    // new_from_slice accepts keys of any length for HMAC.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(format!("/play/{id}/\n{expires}").as_bytes());
    m
}

/// The path segment that signs `id`'s playback tree until `expires` (unix seconds).
pub fn signature_segment(secret: &str, id: VideoId, expires: u64) -> String {
    let tag = mac(secret, id, expires).finalize().into_bytes();
    format!(
        "{SIG_PREFIX}{expires}-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Whether `segment` looks like a signature (so the path parser knows to strip it).
pub fn is_signature_segment(segment: &str) -> bool {
    segment.starts_with(SIG_PREFIX)
}

/// Checks a signature segment in constant time; `now` is unix seconds. Returns the expiry.
pub fn verify_segment(
    secret: &str,
    id: VideoId,
    segment: Option<&str>,
    now: u64,
) -> Result<u64, SignatureError> {
    let segment = segment.ok_or(SignatureError::Missing)?;
    let rest = segment
        .strip_prefix(SIG_PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let (expires, tag) = rest.split_once('-').ok_or(SignatureError::Malformed)?;
    let expires: u64 = expires.parse().map_err(|_| SignatureError::Malformed)?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| SignatureError::Malformed)?;
    mac(secret, id, expires)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)?;
    if expires < now {
        return Err(SignatureError::Expired);
    }
    Ok(expires)
}

/// The base of a video's playback URLs (ends with `/`): plain for public videos, signed otherwise.
/// Returns the expiry (unix seconds) of a signed base.
pub fn base_url(
    origin: &str,
    id: VideoId,
    visibility: Visibility,
    secret: &str,
    expires: u64,
) -> (String, Option<u64>) {
    match visibility {
        Visibility::Public => (format!("{origin}/play/{id}/"), None),
        Visibility::Signed => (
            format!(
                "{origin}/play/{id}/{}/",
                signature_segment(secret, id, expires)
            ),
            Some(expires),
        ),
    }
}

/// The playback base of a video as configured: the public origin (a CDN domain when one is
/// configured), signed for `VODFLOW_PLAYBACK_URL_TTL` from `now` unless the video is public.
pub fn configured_base_url(
    cfg: &crate::Config,
    id: VideoId,
    visibility: Visibility,
    now: u64,
) -> (String, Option<u64>) {
    base_url(
        cfg.playback_origin(),
        id,
        visibility,
        &cfg.playback.signing_secret,
        now + cfg.playback.url_ttl.as_secs(),
    )
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> VideoId {
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap()
    }

    #[test]
    fn a_signature_verifies_until_it_expires() {
        let seg = signature_segment("k", id(), 1_000);
        assert_eq!(verify_segment("k", id(), Some(&seg), 999), Ok(1_000));
        assert_eq!(verify_segment("k", id(), Some(&seg), 1_000), Ok(1_000));
        assert_eq!(
            verify_segment("k", id(), Some(&seg), 1_001),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn tampering_with_expiry_id_or_key_is_refused() {
        let seg = signature_segment("k", id(), 1_000);
        let later = seg.replacen("1000", "9000", 1);
        assert_eq!(
            verify_segment("k", id(), Some(&later), 0),
            Err(SignatureError::Mismatch)
        );
        let other: VideoId = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c".parse().unwrap();
        assert_eq!(
            verify_segment("k", other, Some(&seg), 0),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_segment("other-key", id(), Some(&seg), 0),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_segment("k", id(), Some("sig-x"), 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_segment("k", id(), None, 0),
            Err(SignatureError::Missing)
        );
    }
}
