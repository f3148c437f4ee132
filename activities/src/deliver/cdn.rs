//! CDN invalidation: CloudFront `CreateInvalidation` for `/videos/{id}/*` and `/play/{id}/*` when a distribution is
//! configured; otherwise nothing to do, and the result says so.

use vodflow_core::{Config, VideoId};

#[derive(Debug, thiserror::Error)]
#[error("cdn: {0}")]
pub struct CdnError(String);

/// Invalidates everything cached for the video (after a re-encode or a delete).
pub async fn invalidate(cfg: &Config, id: VideoId) -> Result<String, CdnError> {
    let Some(distribution) = cfg.cloudfront_distribution_id.as_deref() else {
        return Ok("skipped: VODFLOW_CLOUDFRONT_DISTRIBUTION_ID is not set".into());
    };
    let client = client(cfg);
    // Both layouts a distribution may have: in front of the bucket, or of the `/play` origin.
    let paths = vec![format!("/videos/{id}/*"), format!("/play/{id}/*")];
    let batch = aws_sdk_cloudfront::types::InvalidationBatch::builder()
        .paths(
            aws_sdk_cloudfront::types::Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths))
                .build()
                .map_err(|e| CdnError(e.to_string()))?,
        )
        // Deterministic per video and moment of request, so a retried activity is idempotent at CloudFront.
        .caller_reference(format!(
            "vodflow-{id}-{}",
            chrono::Utc::now().timestamp() / 60
        ))
        .build()
        .map_err(|e| CdnError(e.to_string()))?;
    let out = client
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| CdnError(aws_sdk_cloudfront::error::DisplayErrorContext(e).to_string()))?;
    Ok(format!(
        "invalidation {}",
        out.invalidation().map(|i| i.id()).unwrap_or("created")
    ))
}

fn client(cfg: &Config) -> aws_sdk_cloudfront::Client {
    use aws_sdk_cloudfront::config::{BehaviorVersion, Credentials, Region};
    let mut b = aws_sdk_cloudfront::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        // CloudFront is global; its API signs in us-east-1.
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            &cfg.s3.access_key_id,
            &cfg.s3.secret_access_key,
            None,
            None,
            "vodflow-config",
        ));
    if let Some(endpoint) = &cfg.cloudfront_endpoint {
        b = b.endpoint_url(endpoint);
    }
    aws_sdk_cloudfront::Client::from_conf(b.build())
}
