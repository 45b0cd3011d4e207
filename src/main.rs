fn main() {
    std::process::exit(skypanel::run());
}
