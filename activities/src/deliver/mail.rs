//! The owner's ready/failed mail (plain text + HTML), when their token carried an `email` claim and
//! an SMTP server is configured.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vodflow_core::repo::VideoRow;
use vodflow_core::{Config, VideoStatus};

use crate::error::{Error, Result};

/// What the mail says: the outcome, and where to watch (ready) or why it failed.
pub struct Outcome<'a> {
    pub status: VideoStatus,
    pub reason: Option<&'a str>,
    pub watch_url: String,
}

/// Sends the mail for `event_id`. Its `Message-ID` is derived from the event, so a mail sent again
/// after a crash (at-least-once) is recognisably the same message.
pub async fn send(
    cfg: &Config,
    video: &VideoRow,
    to: &str,
    outcome: &Outcome<'_>,
    event_id: &str,
) -> Result<()> {
    let Some(url) = &cfg.smtp_url else {
        return Ok(());
    };
    let from: Mailbox = cfg
        .mail_from
        .parse()
        .map_err(|e| Error::Mail(format!("VODFLOW_MAIL_FROM {:?}: {e}", cfg.mail_from)))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| Error::MailRefused(format!("recipient {to:?}: {e}")))?;
    let (subject, text, html) = render(video, outcome);
    let message = Message::builder()
        .message_id(Some(message_id(event_id, &from)))
        .from(from)
        .to(to)
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| Error::Mail(e.to_string()))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| Error::Mail(format!("VODFLOW_SMTP_URL: {e}")))?
        .timeout(Some(std::time::Duration::from_secs(20)))
        .build();
    transport
        .send(message)
        .await
        .map_err(|e| Error::Mail(e.to_string()))?;
    tracing::info!(video_id = %video.video_id(), status = %outcome.status, "mail sent");
    Ok(())
}

/// `<event-id@sender-domain>`, with the event id's characters that RFC 5322 does not allow in a
/// message id's left part replaced by dots.
fn message_id(event_id: &str, from: &Mailbox) -> String {
    let left: String = event_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("<{left}@{}>", from.email.domain())
}

fn render(video: &VideoRow, o: &Outcome<'_>) -> (String, String, String) {
    let title = &video.title;
    let safe_title = escape(title);
    let link = escape(&o.watch_url);
    if o.status == VideoStatus::Ready {
        (
            format!("Your video \"{title}\" is ready"),
            format!(
                "Your video \"{title}\" has been processed and is ready to watch:\n\n{}\n",
                o.watch_url
            ),
            format!(
                "<!doctype html><html><body><p>Your video <strong>{safe_title}</strong> has been processed and is ready to watch.</p>\
                 <p><a href=\"{link}\">Watch it</a></p></body></html>"
            ),
        )
    } else {
        let reason = o.reason.unwrap_or("unknown reason");
        (
            format!("Your video \"{title}\" could not be processed"),
            format!(
                "Processing your video \"{title}\" failed: {reason}\n\nDetails and replay: {}\n",
                o.watch_url
            ),
            format!(
                "<!doctype html><html><body><p>Processing your video <strong>{safe_title}</strong> failed:</p>\
                 <blockquote>{}</blockquote><p><a href=\"{link}\">Details</a></p></body></html>",
                escape(reason)
            ),
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::message_id;

    #[test]
    fn the_message_id_is_the_event_id_at_the_senders_domain() {
        let from = "vodflow <noreply@vodflow.test>".parse().unwrap();
        assert_eq!(
            message_id("video.ready:0b5e-1:2", &from),
            "<video.ready.0b5e-1.2@vodflow.test>"
        );
    }
}
