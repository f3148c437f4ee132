//! The api's own object-store work: streaming uploads into multipart uploads, and removing a
//! video's objects.

mod multipart_sink;

pub use multipart_sink::MultipartSink;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use vodflow_core::VideoId;

#[derive(Debug, thiserror::Error)]
#[error("object store: {0}")]
pub struct StoreError(pub(crate) String);

fn err<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> StoreError {
    StoreError(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// Removes the source and every rendition of a video.
pub async fn delete_video_objects(
    s3: &Client,
    bucket: &str,
    id: VideoId,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for prefix in vodflow_core::layout::video_object_prefixes(id) {
        deleted += delete_prefix(s3, bucket, &prefix).await?;
    }
    Ok(deleted)
}

pub async fn delete_prefix(s3: &Client, bucket: &str, prefix: &str) -> Result<u64, StoreError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .page_size(1000)
        .send();
    let mut deleted = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(err)?;
        let ids = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError(e.to_string()))?;
        if ids.is_empty() {
            continue;
        }
        deleted += ids.len() as u64;
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
            .map_err(err)?;
        if let Some(e) = out.errors().first() {
            return Err(StoreError(format!(
                "could not delete {:?}: {:?}",
                e.key(),
                e.message()
            )));
        }
    }
    Ok(deleted)
}
