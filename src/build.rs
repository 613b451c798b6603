//! Recompile when a migration is added: sqlx embeds the migrations folders at build time.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
