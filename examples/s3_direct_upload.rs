//! Benchmark baseline for `make bench`: uploads a file straight to the store with aws-sdk-s3
//! multipart, with the same part size and parts in flight as the api, and prints the seconds taken.
//! Usage: s3_direct_upload FILE KEY

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (file, key) = (args.next().expect("FILE"), args.next().expect("KEY"));
    let cfg = vodflow_core::Config::from_env()?;
    let s3 = vodflow_core::storage::s3_client(&cfg.s3);
    let bucket = cfg.s3.bucket.clone();
    let started = Instant::now();
    let up = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await?;
    let id = up.upload_id().unwrap_or_default().to_owned();
    let mut f = tokio::fs::File::open(&file).await?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut parts = Vec::new();
    let mut n = 0;
    loop {
        let mut buf = Vec::with_capacity(cfg.upload_part_bytes);
        (&mut f)
            .take(cfg.upload_part_bytes as u64)
            .read_to_end(&mut buf)
            .await?;
        if buf.is_empty() {
            break;
        }
        n += 1;
        while tasks.len() >= 3 {
            parts.push(tasks.join_next().await.expect("task")??);
        }
        let (s3, bucket, key, id) = (s3.clone(), bucket.clone(), key.clone(), id.clone());
        tasks.spawn(async move {
            let out = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(buf))
                // The api's part uploads skip SigV4 payload hashing; so does the baseline.
                .customize()
                .disable_payload_signing()
                .send()
                .await?;
            anyhow::Ok(
                CompletedPart::builder()
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .part_number(n)
                    .build(),
            )
        });
    }
    while let Some(p) = tasks.join_next().await {
        parts.push(p??);
    }
    parts.sort_by_key(|p| p.part_number());
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    println!("{:.3}", started.elapsed().as_secs_f64());
    s3.delete_object().bucket(&bucket).key(&key).send().await?;
    Ok(())
}
