//! What every upload path checks of what a client says about its video: the title, the
//! description, the callback URL, the audio choice; and the answer to a client that went quiet.

use std::time::Duration;

use crate::problem::ApiError;

pub(crate) const MAX_TITLE_CHARS: usize = 200;
pub(crate) const MAX_DESCRIPTION_CHARS: usize = 5000;

pub(crate) async fn validate_callback(text: &str, allow_private: bool) -> Result<String, ApiError> {
    if text.len() > 2048 {
        return Err(ApiError::BadRequest(
            "callback_url is longer than 2048 characters".into(),
        ));
    }
    vodflow_core::net_guard::check_url(text.trim(), allow_private)
        .await
        .map_err(|e| ApiError::BadRequest(format!("callback_url refused: {e}")))?;
    Ok(text.trim().to_owned())
}

/// `true` or `false`, exactly (a form field, or tus metadata).
pub(crate) fn parse_normalize_audio(text: &str) -> Result<bool, ApiError> {
    match text.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::BadRequest(
            "normalize_audio must be `true` or `false`".into(),
        )),
    }
}

pub(crate) fn validate_title(text: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ApiError::BadRequest("title must not be empty".into()));
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::BadRequest(format!(
            "title is longer than {MAX_TITLE_CHARS} characters"
        )));
    }
    if t.chars().any(|c| c.is_control()) {
        return Err(ApiError::BadRequest(
            "title must not contain control characters".into(),
        ));
    }
    Ok(t.to_owned())
}

/// A description is free text (several lines are fine), within its length and without NUL, which
/// no Postgres text can hold.
pub(crate) fn validate_description(text: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::BadRequest(format!(
            "description is longer than {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if text.contains('\0') {
        return Err(ApiError::BadRequest(
            "description contains a NUL character".into(),
        ));
    }
    Ok(())
}

pub(crate) fn idle_error(idle: Duration, received: u64) -> ApiError {
    ApiError::Timeout(format!(
        "the upload sent nothing for {} s after {received} bytes (VODFLOW_UPLOAD_IDLE_TIMEOUT); it was aborted",
        idle.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_is_free_text_within_its_length_and_without_nul() {
        assert!(validate_description("two\nlines\tand a tab").is_ok());
        assert!(validate_description(&"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        for bad in ["nul \0 inside", &"x".repeat(MAX_DESCRIPTION_CHARS + 1)] {
            assert!(
                matches!(validate_description(bad), Err(ApiError::BadRequest(_))),
                "refused with 400"
            );
        }
    }
}
