//! A WhatsApp Web multi-device client.
