// The console is embedded from console/dist; rebuild when it changes (or appears after a build
// that found it missing).
fn main() {
    println!("cargo:rerun-if-changed=../../console/dist");
}
