//! The README's library example is `examples/readme.rs`, verbatim (so it can be copied as it is shown, with no
//! hidden doctest lines), and it runs: this test checks both, running it from the repository root as a user's
//! program in a checkout would.
mod example {
    include!("../examples/readme.rs");

    pub fn run() -> Result<(), roberta::Error> {
        main()
    }
}

#[test]
fn the_readme_example_is_the_example_and_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/readme.rs")).unwrap();
    assert!(readme.contains(&format!("```rust\n{example}```")), "README.md's library example differs from crates/roberta/examples/readme.rs");
    std::env::set_current_dir(&root).unwrap();
    example::run().unwrap();
}
