//! tus 1.0 on the wire: versions, extensions, headers and the statuses the protocol gives errors.

use base64::Engine;
use poem::Response;
use poem::http::{HeaderMap, StatusCode};
use vodflow_core::uploads::UploadMeta;

use crate::problem::ApiError;

pub(crate) const VERSION: &str = "1.0.0";
pub(crate) const EXTENSIONS: &str =
    "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum";
pub(crate) const CHECKSUMS: &str = "sha1,sha256";
pub(crate) const OFFSET_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// The headers a browser may send and read (CORS).
pub(crate) const ALLOW_HEADERS: &str = "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Defer-Length, Upload-Checksum, Upload-Concat, X-HTTP-Method-Override, X-Requested-With";
pub(crate) const EXPOSE_HEADERS: &str = "Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Expires, Video-Id";

/// What can go wrong in a tus request; each maps to the status the protocol prescribes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TusError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// `Tus-Resumable` missing or a version we do not speak.
    #[error("this server speaks tus {VERSION}; send `Tus-Resumable: {VERSION}`")]
    Version,
    /// The upload expired (or was aborted by the sweep).
    #[error("{0}")]
    Gone(String),
    /// Another request is writing to this upload.
    #[error("{0}")]
    Locked(String),
    /// `Upload-Checksum` did not match the body; nothing of it was kept.
    #[error("{0}")]
    ChecksumMismatch(String),
}

impl From<vodflow_core::Error> for TusError {
    fn from(e: vodflow_core::Error) -> Self {
        Self::Api(e.into())
    }
}

impl From<crate::store::StoreError> for TusError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Api(ApiError::Unavailable(format!("object store: {e}")))
    }
}

impl TusError {
    pub(crate) fn into_response(self, path: &str) -> Response {
        let (status, slug, detail) = match &self {
            Self::Api(e) => {
                if let ApiError::Internal(msg) = e {
                    tracing::error!(error = %msg, "tus: internal error");
                }
                let mut resp = crate::problem::problem_response_for(e, path);
                resp.headers_mut()
                    .insert("Tus-Resumable", VERSION.parse().expect("static"));
                return resp;
            }
            Self::Version => (
                StatusCode::PRECONDITION_FAILED,
                "tus-version",
                self.to_string(),
            ),
            Self::Gone(_) => (StatusCode::GONE, "upload-expired", self.to_string()),
            Self::Locked(_) => (StatusCode::LOCKED, "upload-locked", self.to_string()),
            Self::ChecksumMismatch(_) => (
                StatusCode::from_u16(460).expect("460 is a valid status"),
                "checksum-mismatch",
                self.to_string(),
            ),
        };
        let p = crate::problem::Problem {
            kind: format!("{}{slug}", crate::problem::TYPE_BASE),
            title: status
                .canonical_reason()
                .unwrap_or("Checksum Mismatch")
                .to_owned(),
            status: status.as_u16(),
            detail,
            instance: Some(path.to_owned()),
        };
        let mut resp = crate::problem::problem_response(status, &p);
        resp.headers_mut()
            .insert("Tus-Resumable", VERSION.parse().expect("static"));
        if status == StatusCode::PRECONDITION_FAILED {
            resp.headers_mut()
                .insert("Tus-Version", VERSION.parse().expect("static"));
        }
        resp
    }
}

pub(crate) fn check_version(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(TusError::Version),
    }
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A non-negative integer header (`Upload-Offset`, `Upload-Length`).
pub(crate) fn number(headers: &HeaderMap, name: &str) -> Result<Option<i64>, TusError> {
    match header(headers, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && v.bytes().all(|b| b.is_ascii_digit()))
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{name} must be a non-negative integer, not {v:?}"))
                    .into()
            }),
    }
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs. Known keys fill [`UploadMeta`]
/// (`name` is what Uppy and tus-js-client examples send for the file name); others are ignored.
pub(crate) fn metadata(headers: &HeaderMap) -> Result<UploadMeta, TusError> {
    let mut meta = UploadMeta::default();
    let Some(raw) = header(headers, "upload-metadata") else {
        return Ok(meta);
    };
    if raw.len() > 16 * 1024 {
        return Err(ApiError::BadRequest("Upload-Metadata is longer than 16 KiB".into()).into());
    }
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "Upload-Metadata: the value of {key:?} is not base64"
                ))
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadRequest(format!("Upload-Metadata: {key:?} is not UTF-8")))?;
        match key {
            "title" => meta.title = Some(text),
            "filename" | "name" => meta.filename = Some(text),
            "filetype" | "type" => meta.filetype = Some(text),
            "visibility" => meta.visibility = Some(text),
            "description" => meta.description = Some(text),
            "downloads" => meta.downloads = Some(text),
            "normalize_audio" => meta.normalize_audio = Some(text),
            _ => {}
        }
    }
    Ok(meta)
}

/// `Upload-Metadata` as we echo it on HEAD.
pub(crate) fn encode_metadata(meta: &UploadMeta) -> String {
    let enc = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    [
        ("title", &meta.title),
        ("filename", &meta.filename),
        ("filetype", &meta.filetype),
        ("visibility", &meta.visibility),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {}", enc(v))))
    .collect::<Vec<_>>()
    .join(",")
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

pub(crate) fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, TusError> {
    let Some(raw) = header(headers, "upload-checksum") else {
        return Ok(None);
    };
    let bad = |why: &str| TusError::Api(ApiError::BadRequest(format!("Upload-Checksum: {why}")));
    let (algo, digest) = raw
        .split_once(' ')
        .ok_or_else(|| bad("expected `<algorithm> <base64>`"))?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| bad("the digest is not base64"))?;
    match algo {
        "sha1" if digest.len() == 20 => Ok(Some(Checksum::Sha1(digest))),
        "sha256" if digest.len() == 32 => Ok(Some(Checksum::Sha256(digest))),
        "sha1" | "sha256" => Err(bad("the digest has the wrong length")),
        other => Err(bad(&format!(
            "unsupported algorithm {other:?}; use one of {CHECKSUMS}"
        ))),
    }
}

/// RFC 7231 date, as `Upload-Expires` carries it.
pub(crate) fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn metadata_round_trips_and_refuses_garbage() {
        let h = headers(&[(
            "upload-metadata",
            "filename bXkubXA0,title SGVsbG8gd29ybGQ=,is_confidential",
        )]);
        let m = metadata(&h).unwrap();
        assert_eq!(m.filename.as_deref(), Some("my.mp4"));
        assert_eq!(m.title.as_deref(), Some("Hello world"));
        let again = metadata(&headers(&[("upload-metadata", &encode_metadata(&m))])).unwrap();
        assert_eq!(again, m);
        assert!(metadata(&headers(&[("upload-metadata", "title !!!")])).is_err());
    }

    #[test]
    fn checksums_and_numbers() {
        let h = headers(&[("upload-checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")]);
        assert!(matches!(checksum(&h).unwrap(), Some(Checksum::Sha1(_))));
        assert!(checksum(&headers(&[("upload-checksum", "md5 AAAA")])).is_err());
        assert!(checksum(&headers(&[("upload-checksum", "sha256 AAAA")])).is_err());
        assert_eq!(
            number(&headers(&[("upload-offset", "42")]), "upload-offset").unwrap(),
            Some(42)
        );
        assert!(number(&headers(&[("upload-offset", "-1")]), "upload-offset").is_err());
        assert!(number(&headers(&[("upload-offset", "+1")]), "upload-offset").is_err());
        assert!(check_version(&headers(&[("tus-resumable", "0.2.2")])).is_err());
        assert!(check_version(&headers(&[("tus-resumable", "1.0.0")])).is_ok());
    }
}

#[cfg(test)]
mod props {
    use poem::http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    use super::{checksum, metadata, number};

    mod mutate {
        include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/mutate.rs"));
    }

    /// The seed corpus kept in the repo (`fuzz/corpus/tus_header`) and its mutations, as every
    /// tus header a client sends.
    #[test]
    fn every_mutation_of_the_header_corpus_is_parsed_without_panicking() {
        let mut parsed = 0;
        for (name, seed) in mutate::seeds("tus_header") {
            for (i, m) in mutate::mutations(&seed, 400).iter().enumerate() {
                let r = std::panic::catch_unwind(|| {
                    let mut n = 0;
                    for header in ["upload-offset", "upload-length"] {
                        if let Some(h) = with(header, m) {
                            n += usize::from(number(&h, header).is_ok());
                        }
                    }
                    if let Some(h) = with("upload-metadata", m) {
                        n += usize::from(metadata(&h).is_ok());
                    }
                    if let Some(h) = with("upload-checksum", m) {
                        n += usize::from(checksum(&h).is_ok());
                    }
                    n
                });
                match r {
                    Ok(n) => parsed += n,
                    Err(_) => panic!("a tus header parser panicked on {name} #{i}: {m:?}"),
                }
            }
        }
        assert!(parsed > 0, "some seeds are valid headers");
    }

    fn with(name: &'static str, value: &[u8]) -> Option<HeaderMap> {
        let v = HeaderValue::from_bytes(value).ok()?;
        let mut h = HeaderMap::new();
        h.insert(name, v);
        Some(h)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every tus header a client sends is parsed to a value or a 400, never a panic.
        #[test]
        fn any_tus_header_value_is_parsed_without_panicking(
            value in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            for name in ["upload-offset", "upload-length"] {
                if let Some(h) = with(name, &value) {
                    let _ = number(&h, name);
                }
            }
            if let Some(h) = with("upload-metadata", &value) {
                let _ = metadata(&h);
            }
            if let Some(h) = with("upload-checksum", &value) {
                let _ = checksum(&h);
            }
        }

        /// Metadata shaped like the real thing (`key base64, ...`) with hostile keys and values.
        #[test]
        fn metadata_pairs_are_parsed_without_panicking(
            pairs in proptest::collection::vec(("[ -~]{0,12}", "[A-Za-z0-9+/=]{0,40}"), 0..20),
        ) {
            let raw = pairs
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(",");
            if let Some(h) = with("upload-metadata", raw.as_bytes()) {
                let _ = metadata(&h);
            }
        }

        /// Offsets: exactly the non-negative decimal integers that fit are accepted.
        #[test]
        fn offsets_accept_exactly_non_negative_decimals(value in "[-+0-9 a-f]{0,24}") {
            if let Some(h) = with("upload-offset", value.as_bytes()) {
                let got = number(&h, "upload-offset");
                let trimmed = value.trim();
                let want = !trimmed.is_empty()
                    && trimmed.bytes().all(|b| b.is_ascii_digit())
                    && trimmed.parse::<i64>().is_ok();
                prop_assert_eq!(matches!(got, Ok(Some(_))), want, "{:?}", value);
            }
        }
    }
}
