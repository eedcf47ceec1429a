//! Media: `media_conn`, encrypted upload to the media hosts over HTTPS (trying the next host
//! when one fails), download with full verification, and JPEG thumbnails
//! (protocol-messaging.md §5).
//!
//! The HTTP client is reqwest over rustls with the ring provider; it trusts the web PKI roots
//! plus the extra media CA certificates of the [`crate::ClientConfig`] (the emulator's
//! self-signed media certificate in tests). There is no switch that skips verification.

use std::time::{Duration, Instant};

use wa_proto::binary::{Jid, Node};
use wa_proto::media::{EncryptedMedia, Expected, MediaKey, MediaType};

use crate::client::Client;
use crate::error::ClientError;

/// A cached `media_conn` answer.
#[derive(Clone, Debug)]
pub(crate) struct MediaConn {
    pub(crate) auth: String,
    pub(crate) hosts: Vec<String>,
    fetched: Instant,
    ttl: Duration,
}

impl MediaConn {
    fn fresh(&self) -> bool {
        self.fetched.elapsed() < self.ttl
    }
}

/// What kind of media a [`MediaRef`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// A picture (`imageMessage`).
    Image,
    /// A video (`videoMessage`).
    Video,
    /// An audio file or voice note (`audioMessage`).
    Audio,
    /// A document (`documentMessage`).
    Document,
    /// A sticker (`stickerMessage`).
    Sticker,
}

impl MediaKind {
    /// The media crypto type (HKDF info, upload path).
    pub fn media_type(self) -> MediaType {
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Sticker => MediaType::Sticker,
            MediaKind::Video => MediaType::Video,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::Document => MediaType::Document,
        }
    }

    /// The `mediatype` attribute of `<enc>` (protocol-messaging.md §5.7).
    pub fn enc_media_type(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// Everything needed to download and verify one media file of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// What it is.
    pub kind: MediaKind,
    /// MIME type as sent.
    pub mimetype: Option<String>,
    /// Caption (images, videos, documents).
    pub caption: Option<String>,
    /// File name (documents).
    pub file_name: Option<String>,
    /// Full URL, if the sender gave one.
    pub url: Option<String>,
    /// The path on the media hosts.
    pub direct_path: Option<String>,
    /// The 32-byte media key.
    pub media_key: [u8; 32],
    /// SHA-256 of the plaintext.
    pub file_sha256: Option<[u8; 32]>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Option<[u8; 32]>,
    /// Plaintext length.
    pub file_length: Option<u64>,
    /// Width in pixels (images, videos, stickers).
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// The inline JPEG thumbnail.
    pub jpeg_thumbnail: Option<Vec<u8>>,
}

fn arr32(b: Option<&Vec<u8>>) -> Option<[u8; 32]> {
    b.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}

impl MediaRef {
    /// The media of a message, if it carries one with a usable media key.
    pub fn from_message(m: &wa_proto::proto::Message) -> Option<MediaRef> {
        macro_rules! media {
            ($kind:expr, $x:expr, caption: $cap:expr, file_name: $fname:expr, w: $w:expr, h: $h:expr, thumb: $t:expr) => {{
                let x = $x;
                Some(MediaRef {
                    kind: $kind,
                    mimetype: x.mimetype.clone(),
                    caption: $cap,
                    file_name: $fname,
                    url: x.url.clone(),
                    direct_path: x.direct_path.clone(),
                    media_key: arr32(x.media_key.as_ref())?,
                    file_sha256: arr32(x.file_sha256.as_ref()),
                    file_enc_sha256: arr32(x.file_enc_sha256.as_ref()),
                    file_length: x.file_length,
                    width: $w,
                    height: $h,
                    jpeg_thumbnail: $t,
                })
            }};
        }
        if let Some(x) = &m.image_message {
            return media!(MediaKind::Image, x, caption: x.caption.clone(), file_name: None,
                w: x.width, h: x.height, thumb: x.jpeg_thumbnail.clone());
        }
        if let Some(x) = &m.video_message {
            return media!(MediaKind::Video, x, caption: x.caption.clone(), file_name: None,
                w: x.width, h: x.height, thumb: x.jpeg_thumbnail.clone());
        }
        if let Some(x) = &m.audio_message {
            return media!(MediaKind::Audio, x, caption: None, file_name: None,
                w: None, h: None, thumb: None);
        }
        if let Some(x) = &m.document_message {
            return media!(MediaKind::Document, x, caption: x.caption.clone(),
                file_name: x.file_name.clone(), w: None, h: None, thumb: x.jpeg_thumbnail.clone());
        }
        if let Some(x) = &m.sticker_message {
            return media!(MediaKind::Sticker, x, caption: None, file_name: None,
                w: x.width, h: x.height, thumb: None);
        }
        None
    }
}

impl MediaRef {
    /// Verify and decrypt a blob downloaded for this media: the blob hash, the MAC (before
    /// any decryption), the padding, then the plaintext hash and length.
    pub fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, ClientError> {
        let expected = Expected {
            file_enc_sha256: self.file_enc_sha256,
            file_sha256: self.file_sha256,
            file_length: self.file_length,
        };
        decrypt_blob(self, blob, &expected)
    }
}

/// Where an upload landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub(crate) url: String,
    pub(crate) direct_path: String,
}

fn media_err(what: impl std::fmt::Display) -> ClientError {
    ClientError::Media(what.to_string())
}

fn http(client: &Client) -> Result<reqwest::Client, ClientError> {
    let state = &client.inner.messaging;
    if let Some(c) = state.http.get() {
        return Ok(c.clone());
    }
    let tls = crate::transport::tls_client_config(client.config().media_ca_der())
        .map_err(|e| media_err(format!("media TLS: {e}")))?;
    let c = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(120))
        .connect_timeout(Duration::from_secs(20))
        .build()
        .map_err(media_err)?;
    Ok(state.http.get_or_init(|| c).clone())
}

/// Parse a `media_conn` IQ result.
pub(crate) fn parse_media_conn(resp: &Node) -> Option<MediaConn> {
    let mc = resp.get_child("media_conn")?;
    let auth = mc.attr_text("auth")?.into_owned();
    let ttl = mc.attr_u64("ttl").unwrap_or(300).clamp(30, 86_400);
    let hosts: Vec<String> = mc
        .children_by_tag("host")
        .filter_map(|h| h.attr_text("hostname").map(|s| s.into_owned()))
        .filter(|h| !h.is_empty())
        .collect();
    (!hosts.is_empty()).then(|| MediaConn {
        auth,
        hosts,
        fetched: Instant::now(),
        ttl: Duration::from_secs(ttl),
    })
}

/// The media hosts and upload auth, cached until the answer's `ttl` (or refreshed on demand).
pub(crate) async fn media_conn(client: &Client, force: bool) -> Result<MediaConn, ClientError> {
    if !force {
        let cached = client
            .inner
            .messaging
            .media_conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(c) = cached.filter(MediaConn::fresh) {
            return Ok(c);
        }
    }
    let iq = Node::new("iq")
        .attr("xmlns", "w:m")
        .attr("type", "set")
        .attr("to", Jid::server())
        .child(Node::new("media_conn"));
    let resp = client.send_iq(iq).await?;
    let mc = parse_media_conn(&resp)
        .ok_or_else(|| ClientError::Protocol("media_conn without auth or hosts".into()))?;
    *client
        .inner
        .messaging
        .media_conn
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(mc.clone());
    Ok(mc)
}

#[derive(serde::Deserialize)]
struct UploadReply {
    url: Option<String>,
    direct_path: Option<String>,
}

/// Upload an encrypted blob: `POST https://<host>/mms/<type>/<token>?auth=..&token=..`, trying
/// each host in turn and refreshing `media_conn` once if every host refused.
pub(crate) async fn upload(
    client: &Client,
    media_type: MediaType,
    enc: EncryptedMedia,
) -> Result<Uploaded, ClientError> {
    let info = enc.info.clone();
    upload_body(
        client,
        media_type,
        &info,
        UploadBody::Buffer(bytes::Bytes::from(enc.enc_file)),
    )
    .await
}

/// Upload `body` (whose blob is described by `info`), trying each host in turn.
pub(crate) async fn upload_body(
    client: &Client,
    media_type: MediaType,
    info: &wa_proto::media::MediaInfo,
    body: UploadBody,
) -> Result<Uploaded, ClientError> {
    let http = http(client)?;
    let mut last_err = String::from("no media host");
    for attempt in 0..2 {
        let conn = media_conn(client, attempt > 0).await?;
        match upload_to_hosts(&http, &conn, media_type, info, &body).await {
            Ok(u) => return Ok(u),
            Err(e) => last_err = e,
        }
    }
    Err(media_err(format!("upload failed: {last_err}")))
}

/// One round over the hosts of `conn`: the first that stores the blob wins.
pub(crate) async fn upload_to_hosts(
    http: &reqwest::Client,
    conn: &MediaConn,
    media_type: MediaType,
    info: &wa_proto::media::MediaInfo,
    body: &UploadBody,
) -> Result<Uploaded, String> {
    let token = info.upload_token();
    let mut last_err = String::from("no media host");
    for host in &conn.hosts {
        let url = format!(
            "https://{host}{}/{token}?auth={}&token={token}",
            media_type.upload_path(),
            conn.auth
        );
        let r = http
            .post(&url)
            .header("Origin", "https://web.whatsapp.com")
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", info.enc_length().to_string())
            .body(match body {
                UploadBody::Buffer(b) => reqwest::Body::from(b.clone()),
                UploadBody::File { path, key } => {
                    reqwest::Body::wrap_stream(file_body(path.clone(), key.clone(), media_type))
                }
            })
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => match resp.json::<UploadReply>().await {
                Ok(UploadReply {
                    url: Some(url),
                    direct_path: Some(direct_path),
                }) => return Ok(Uploaded { url, direct_path }),
                Ok(_) => last_err = format!("{host}: reply without url/direct_path"),
                Err(e) => last_err = format!("{host}: bad reply: {e}"),
            },
            Ok(resp) => last_err = format!("{host}: HTTP {}", resp.status()),
            Err(e) => last_err = format!("{host}: {e}"),
        }
        tracing::warn!("media upload failed, trying the next host: {last_err}");
    }
    Err(last_err)
}

/// Read size for streaming a file through the encryptor.
const FILE_CHUNK: usize = 256 * 1024;

/// First pass over a file: encrypt it with `key` in constant memory, keeping only the hashes,
/// the MAC and the lengths (the upload token needs the blob hash before the upload starts).
pub(crate) async fn file_info(
    path: &std::path::Path,
    key: &MediaKey,
    media_type: MediaType,
) -> Result<wa_proto::media::MediaInfo, ClientError> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await.map_err(media_err)?;
    let mut enc = wa_proto::media::MediaEncryptor::new(key, media_type);
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut out = Vec::with_capacity(FILE_CHUNK + 32);
    loop {
        let n = file.read(&mut buf).await.map_err(media_err)?;
        if n == 0 {
            break;
        }
        enc.update(&buf[..n], &mut out);
        out.clear();
    }
    Ok(enc.finish(&mut out))
}

/// Second pass: the encrypted blob of the file as a byte stream (same key, so the same bytes
/// as the first pass), for a streaming upload body.
fn file_body(
    path: std::path::PathBuf,
    key: MediaKey,
    media_type: MediaType,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    struct St {
        file: Option<tokio::fs::File>,
        enc: Option<wa_proto::media::MediaEncryptor>,
        path: std::path::PathBuf,
        buf: Vec<u8>,
    }
    let enc = wa_proto::media::MediaEncryptor::new(&key, media_type);
    let st = St {
        file: None,
        enc: Some(enc),
        path,
        buf: vec![0u8; FILE_CHUNK],
    };
    futures_util::stream::unfold(st, |mut st| async move {
        let enc = st.enc.as_mut()?;
        if st.file.is_none() {
            match tokio::fs::File::open(&st.path).await {
                Ok(f) => st.file = Some(f),
                Err(e) => {
                    st.enc = None;
                    return Some((Err(e), st));
                }
            }
        }
        let file = st.file.as_mut()?;
        let mut out = Vec::with_capacity(FILE_CHUNK + 32);
        match file.read(&mut st.buf).await {
            Ok(0) => {
                let enc = st.enc.take()?;
                enc.finish(&mut out);
            }
            Ok(n) => enc.update(&st.buf[..n], &mut out),
            Err(e) => {
                st.enc = None;
                return Some((Err(e), st));
            }
        }
        Some((Ok(bytes::Bytes::from(out)), st))
    })
}

/// Body of an upload: a buffer, or a file streamed through the encryptor.
pub(crate) enum UploadBody {
    /// The whole encrypted blob.
    Buffer(bytes::Bytes),
    /// A file encrypted on the fly (re-read for each attempt).
    File {
        path: std::path::PathBuf,
        key: MediaKey,
    },
}

/// Encrypt `plaintext` for `media_type` with a fresh media key (both hashes computed beside the
/// cipher on a second core for large files).
pub(crate) fn encrypt(
    client: &Client,
    media_type: MediaType,
    plaintext: &[u8],
) -> Result<(MediaKey, EncryptedMedia), ClientError> {
    let key = MediaKey::generate(&mut client.config().rng.clone());
    let enc = if plaintext.len() >= 1 << 20 {
        wa_proto::media::encrypt_parallel(&key, media_type, plaintext).map_err(media_err)?
    } else {
        wa_proto::media::encrypt(&key, media_type, plaintext)
    };
    Ok((key, enc))
}

/// The JPEG thumbnail (longest side 72 px) and the width and height of an image, when the
/// bytes decode as JPEG or PNG.
pub fn thumbnail(image_bytes: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let img = image::load_from_memory(image_bytes).ok()?;
    let (w, h) = (img.width(), img.height());
    let thumb = img.thumbnail(72, 72).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 60)
        .encode_image(&thumb)
        .ok()?;
    Some((out, w, h))
}

impl Client {
    /// Download the media of a received message from the media hosts and return the
    /// plaintext after checking the blob hash, the MAC (before decrypting) and the plaintext
    /// hash and length.
    pub async fn download_media(&self, media: &MediaRef) -> Result<Vec<u8>, ClientError> {
        let http = http(self)?;
        let mut urls = Vec::new();
        if let Some(path) = &media.direct_path {
            if let Ok(conn) = media_conn(self, false).await {
                urls.extend(conn.hosts.iter().map(|h| format!("https://{h}{path}")));
            }
        }
        if let Some(u) = &media.url {
            urls.push(u.clone());
        }
        if urls.is_empty() {
            return Err(media_err("no direct path or url"));
        }
        let mut last_err = String::new();
        for url in urls {
            let blob = match http
                .get(&url)
                .header("Origin", "https://web.whatsapp.com")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        last_err = e.to_string();
                        continue;
                    }
                },
                Ok(r) => {
                    last_err = format!("HTTP {}", r.status());
                    continue;
                }
                Err(e) => {
                    last_err = e.to_string();
                    continue;
                }
            };
            return media.decrypt(&blob);
        }
        Err(media_err(format!("download failed: {last_err}")))
    }
}

/// Verify and decrypt a downloaded blob for `media`.
pub(crate) fn decrypt_blob(
    media: &MediaRef,
    blob: &[u8],
    expected: &Expected,
) -> Result<Vec<u8>, ClientError> {
    let key = MediaKey(media.media_key);
    let r = if blob.len() >= 1 << 20 {
        wa_proto::media::decrypt_parallel(&key, media.kind.media_type(), blob, expected)
    } else {
        wa_proto::media::decrypt(&key, media.kind.media_type(), blob, expected)
    };
    r.map_err(|e| media_err(format!("media verification failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_of_png() {
        let img = image::RgbImage::from_fn(300, 150, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let (jpeg, w, h) = thumbnail(&png).unwrap();
        assert_eq!((w, h), (300, 150));
        let t = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((t.width(), t.height()), (72, 36));
        assert!(thumbnail(b"not an image").is_none());
    }

    #[tokio::test]
    async fn upload_falls_back_to_the_next_host() {
        let emu = wa_emulator::Emulator::start(wa_emulator::EmulatorConfig::default())
            .await
            .unwrap();
        let ders = crate::transport::parse_pem_certs(&emu.tls_cert_pem()).unwrap();
        let tls = crate::transport::tls_client_config(&ders).unwrap();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .unwrap();
        let good = emu
            .media_tls_url()
            .trim_start_matches("https://")
            .to_owned();
        // A port that refuses connections, then a port that does not speak TLS (the plain
        // HTTP listener), then the real one.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap().to_string();
        drop(dead);
        let plain = emu.media_url().trim_start_matches("http://").to_owned();
        let conn = MediaConn {
            auth: emu.media_auth_token(),
            hosts: vec![dead_addr, plain, good],
            fetched: Instant::now(),
            ttl: Duration::from_secs(60),
        };
        let enc = wa_proto::media::encrypt(&MediaKey([5; 32]), MediaType::Image, b"pixels");
        let body = UploadBody::Buffer(bytes::Bytes::from(enc.enc_file.clone()));
        let up = upload_to_hosts(&http, &conn, MediaType::Image, &enc.info, &body)
            .await
            .unwrap();
        assert!(up.direct_path.starts_with("/v/"));
        // Wrong auth everywhere: a clear error naming the last host.
        let bad = MediaConn {
            auth: "nope".into(),
            ..conn
        };
        let err = upload_to_hosts(&http, &bad, MediaType::Image, &enc.info, &body)
            .await
            .unwrap_err();
        assert!(err.contains("401"), "{err}");
    }

    #[test]
    fn media_conn_parsing() {
        let n = Node::new("iq").child(
            Node::new("media_conn")
                .attr("auth", "AUTH")
                .attr("ttl", "100")
                .children([
                    Node::new("host").attr("hostname", "a.example"),
                    Node::new("host").attr("hostname", "b.example"),
                ]),
        );
        let mc = parse_media_conn(&n).unwrap();
        assert_eq!(mc.auth, "AUTH");
        assert_eq!(mc.hosts, ["a.example", "b.example"]);
        assert!(parse_media_conn(&Node::new("iq")).is_none());
    }
}
