//! The API as a client calls it.

use std::time::Duration;

/// Uploads through the API like a client; returns the video id.
pub async fn upload(base: &str, token: &str, path: &std::path::Path, title: &str) -> String {
    upload_with(base, token, path, title, &[]).await
}

/// The video resource as its owner reads it (`GET /v1/videos/{id}`), as JSON.
pub async fn video_json(base: &str, token: &str, id: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/videos/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get video");
    assert!(
        r.status().is_success(),
        "GET /v1/videos/{id}: {}",
        r.status()
    );
    r.json().await.expect("video JSON")
}

/// The playback URL of a video's rendition `name` (e.g. `audio`), and the video resource.
pub async fn rendition_url(
    base: &str,
    token: &str,
    id: &str,
    name: &str,
) -> (String, serde_json::Value) {
    let video = video_json(base, token, id).await;
    let url = video["playback"]["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("a {name} rendition: {video}"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    (url, video)
}

/// [`upload`] with extra form fields, e.g. `("visibility", "public")`.
pub async fn upload_with(
    base: &str,
    token: &str,
    path: &std::path::Path,
    title: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form = reqwest::multipart::Form::new().text("title", title.to_owned());
    for (k, v) in fields {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(path).expect("read")).file_name("v.mp4"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// `POST /v1/videos` importing `url`: the status and the JSON answer.
pub async fn import_url(base: &str, token: &str, url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "imported", "source_url": url}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}
