//! `wa-http`: the multi-session WhatsApp gateway (`wa-http --help`).

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let cli = wa_http::config::Cli::parse();
    wa_http::server::init_tracing(cli.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(wa_http::server::run(cli))
}
