fn main() {
    eprintln!("keepalived-lite: not implemented yet");
    std::process::exit(1);
}
