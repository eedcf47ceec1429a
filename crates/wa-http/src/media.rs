//! Image input for `messages/image`: multipart upload, base64 or URL, each with a size limit
//! and a check that the bytes really are an image.

use crate::error::ApiError;
use base64::Engine as _;
use std::time::Duration;

/// An image accepted for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedImage {
    pub(crate) bytes: Vec<u8>,
    pub(crate) mimetype: &'static str,
}

/// The image type of `bytes` from its magic number, if it is one we can send.
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Checks size, declared type and content of an image.
pub(crate) fn check_image(
    bytes: Vec<u8>,
    declared: Option<&str>,
    limit: usize,
) -> Result<CheckedImage, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("missing_file", "the image is empty"));
    }
    if bytes.len() > limit {
        return Err(ApiError::too_large(format!(
            "the image is {} bytes, the limit is {limit}",
            bytes.len()
        )));
    }
    if let Some(d) = declared {
        let essence = d
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !essence.is_empty()
            && !essence.starts_with("image/")
            && essence != "application/octet-stream"
        {
            return Err(ApiError::unsupported_media(format!(
                "{essence} is not an image type"
            )));
        }
    }
    match sniff_image(&bytes) {
        Some(mimetype) => Ok(CheckedImage { bytes, mimetype }),
        None => Err(ApiError::unsupported_media(
            "the file is not a JPEG, PNG or WebP image",
        )),
    }
}

/// Decodes base64 (standard alphabet, padding optional, a `data:...;base64,` prefix allowed).
/// Returns the bytes and the mimetype of a data URL prefix, if any.
pub(crate) fn decode_base64(
    input: &str,
    limit: usize,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let (declared, data) = match input.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, data)) => {
                let mime = meta.trim_end_matches(";base64");
                (Some(mime.to_string()).filter(|m| !m.is_empty()), data)
            }
            None => {
                return Err(ApiError::bad_request(
                    "invalid_base64",
                    "malformed data URL",
                ));
            }
        },
        None => (None, input),
    };
    let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    // 4 characters carry 3 bytes: refuse before decoding anything too big.
    if cleaned.len() / 4 * 3 > limit.saturating_add(3) {
        return Err(ApiError::too_large(format!(
            "the image is larger than the limit of {limit} bytes"
        )));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(cleaned.as_bytes())
        .map_err(|e| ApiError::bad_request("invalid_base64", format!("invalid base64: {e}")))?;
    Ok((bytes, declared))
}

/// Downloads an image from an `http(s)` URL with a size limit.
/// Returns the bytes and the declared `Content-Type`.
pub(crate) async fn fetch_url(
    http: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ApiError::bad_request("invalid_url", format!("invalid image URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::bad_request(
            "invalid_url",
            "the image URL must be http:// or https://",
        ));
    }
    let fetch_err = |m: String| {
        ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "image_fetch_failed",
            m,
        )
    };
    let mut resp = http
        .get(parsed)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| fetch_err(format!("could not fetch the image: {e}")))?;
    if !resp.status().is_success() {
        return Err(fetch_err(format!(
            "fetching the image returned HTTP {}",
            resp.status()
        )));
    }
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(format!(
            "the image is larger than the limit of {limit} bytes"
        )));
    }
    let declared = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fetch_err(format!("could not fetch the image: {e}")))?
    {
        if out.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!(
                "the image is larger than the limit of {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok((out, declared))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn sniffing() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(PNG), Some("image/png"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b""), None);
        assert_eq!(sniff_image(b"RIFF"), None);
    }

    #[test]
    fn checks() {
        assert!(check_image(PNG.to_vec(), Some("image/png"), 100).is_ok());
        assert_eq!(
            check_image(PNG.to_vec(), None, 4)
                .unwrap_err()
                .status
                .as_u16(),
            413
        );
        assert_eq!(
            check_image(b"hello".to_vec(), None, 100)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        assert_eq!(
            check_image(PNG.to_vec(), Some("text/plain"), 100)
                .unwrap_err()
                .status
                .as_u16(),
            415
        );
        assert_eq!(
            check_image(vec![], None, 100).unwrap_err().status.as_u16(),
            400
        );
    }

    #[test]
    fn base64_forms() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(PNG);
        assert_eq!(decode_base64(&b64, 100).unwrap(), (PNG.to_vec(), None));
        let url = format!("data:image/png;base64,{b64}");
        assert_eq!(
            decode_base64(&url, 100).unwrap(),
            (PNG.to_vec(), Some("image/png".into()))
        );
        assert_eq!(decode_base64("!!!", 100).unwrap_err().status.as_u16(), 400);
        let big = "A".repeat(4000);
        assert_eq!(decode_base64(&big, 100).unwrap_err().status.as_u16(), 413);
    }
}
