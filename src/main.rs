//! qfactor command line.
fn main() {
    println!("qfactor");
}
