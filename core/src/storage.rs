//! Building the S3 client from configuration (the api and the activities must address the store the
//! same way: endpoint, region, path style, credentials), and removing a video's objects, which the
//! api and the delete workflow's activity both do.

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::VideoId;
use crate::config::S3Config;

pub fn s3_client(cfg: &S3Config) -> aws_sdk_s3::Client {
    let creds = Credentials::new(
        &cfg.access_key_id,
        &cfg.secret_access_key,
        None,
        None,
        "vodflow-config",
    );
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(cfg.region.clone()))
        .credentials_provider(creds)
        .force_path_style(cfg.force_path_style)
        // S3-compatible stores differ in which flexible checksums they accept; send them only where
        // the operation requires one.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &cfg.endpoint {
        b = b.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

#[derive(Debug, thiserror::Error)]
#[error("object store: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// The multipart upload named is not in the store (completed or aborted already).
    pub fn is_no_such_upload(&self) -> bool {
        self.0.contains("NoSuchUpload")
    }
}

/// The SDK's error with its whole context (the first line alone rarely says what went wrong).
pub fn sdk_error<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> StoreError {
    StoreError(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// Removes the source and every rendition of a video.
pub async fn delete_video_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: VideoId,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for prefix in crate::layout::video_object_prefixes(id) {
        deleted += delete_prefix(s3, bucket, &prefix).await?;
    }
    Ok(deleted)
}

pub async fn delete_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<u64, StoreError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .page_size(1000)
        .send();
    let mut deleted = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_error)?;
        let keys: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
        deleted += delete_keys(s3, bucket, &keys).await?;
    }
    Ok(deleted)
}

/// Removes `keys` (at most 1,000, the store's limit for one request) in one request; keys that do
/// not exist are not an error. Returns how many were asked for.
pub async fn delete_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[&str],
) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let ids = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError(e.to_string()))?;
    let delete = Delete::builder()
        .set_objects(Some(ids))
        .quiet(true)
        .build()
        .map_err(|e| StoreError(e.to_string()))?;
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(sdk_error)?;
    if let Some(e) = out.errors().first() {
        return Err(StoreError(format!(
            "could not delete {:?}: {:?}",
            e.key(),
            e.message()
        )));
    }
    Ok(keys.len() as u64)
}

/// Aborts the multipart uploads under `prefix` (only those started before `started_before`, when
/// given), page by page; returns how many.
pub async fn abort_multipart_uploads(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    started_before: Option<std::time::SystemTime>,
    keep: impl Fn(&str) -> bool,
) -> Result<u64, StoreError> {
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    let mut aborted = 0;
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .send()
            .await
            .map_err(sdk_error)?;
        for u in page.uploads() {
            let due = started_before.is_none_or(|cutoff| {
                u.initiated()
                    .and_then(|t| std::time::SystemTime::try_from(*t).ok())
                    .is_some_and(|t| t < cutoff)
            });
            if let (Some(key), Some(upload), true) = (u.key(), u.upload_id(), due)
                && !keep(key)
            {
                s3.abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(upload)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                tracing::info!(key, "multipart upload aborted");
                aborted += 1;
            }
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            break;
        }
    }
    Ok(aborted)
}
