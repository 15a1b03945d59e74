fn main() {
    eprintln!("ipvsadm-rs: not implemented yet");
    std::process::exit(2);
}
