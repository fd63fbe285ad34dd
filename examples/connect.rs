fn main() {
    println!("connect");
}
