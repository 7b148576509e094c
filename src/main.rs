fn main() {
    println!("smolproxy (skeleton)");
}
