// Re-embed the migrations whenever their SQL changes (embed_migrations! cannot see that itself).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
