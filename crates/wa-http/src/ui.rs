//! The web UI from `web/`, embedded in the binary.

use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("../../../web/index.html");
const APP_JS: &str = include_str!("../../../web/app.js");
const STYLE_CSS: &str = include_str!("../../../web/style.css");
const FAVICON_SVG: &str = include_str!("../../../web/favicon.svg");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

async fn favicon() -> HttpResponse {
    asset("image/svg+xml", FAVICON_SVG)
}

/// Registers `/`, `/app.js`, `/style.css`, `/favicon.svg`.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/index.html", web::get().to(index))
        .route("/app.js", web::get().to(app_js))
        .route("/style.css", web::get().to(style_css))
        .route("/favicon.svg", web::get().to(favicon));
}
