//! The multi-session WhatsApp gateway: REST API, server-sent events, webhooks and a web UI.
