//! `wa-http`: the multi-session gateway binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("the wa-http gateway is not built yet (see issue #7); nothing to run")
}
