//! `bolide`: the broker binary. Thin: parse the command line, load config, start the shards.
fn main() {}
