//! Writes the kernel-captured fixtures as a seed corpus, one message per file:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin seed -- fuzz/corpus/decode`

macro_rules! fixtures {
    ($($name:ident),*) => {
        $(mod $name { include!(concat!("../ipvs-core/tests/fixtures/", stringify!($name), ".rs")); })*
        const ALL: &[(&str, &[&[u8]])] = &[$((stringify!($name), $name::MESSAGES)),*];
    };
}

fixtures!(
    service_dump,
    dest_dump,
    daemon_dump,
    config_reply,
    info_reply,
    error_no_such_service,
    dest_dump_v6,
    daemon_dump_v6
);

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus/decode".into());
    std::fs::create_dir_all(&dir)?;
    let mut n = 0;
    for (name, msgs) in ALL {
        for (i, m) in msgs.iter().enumerate() {
            std::fs::write(format!("{dir}/{name}_{i}"), m)?;
            n += 1;
        }
        // The whole dump as one datagram, as the socket delivers it.
        std::fs::write(format!("{dir}/{name}_all"), msgs.concat())?;
    }
    println!("wrote {n} messages to {dir}");
    Ok(())
}
