//! `cargo xtask <user command>` hands its arguments to the `roberta` command line unchanged (same output, usage
//! lines saying `roberta`), and `cargo xtask --help` lists the user commands apart from the developer ones.
use std::path::PathBuf;
use std::process::Command;

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().unwrap()
}

#[test]
fn user_commands_are_delegated_to_roberta() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models/tiny-ner");
    let o = xtask(&["ner", "--model", model.to_str().unwrap(), "--aggregation", "first", "Recibió paracetamol y omeprazol."]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["entities"].as_array().is_some_and(|e| !e.is_empty()), "{v}");
    let help = xtask(&["ner", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: roberta ner"));
}

#[test]
fn help_lists_user_commands_apart() {
    let o = xtask(&["--help"]);
    let s = String::from_utf8_lossy(&o.stdout);
    let (dev, user) = s.split_once("User commands").expect("a user-command section");
    for c in ["test", "fuzz", "check-kernels", "gpu-check", "emulate", "compare"] {
        assert!(dev.contains(&format!("  {c} ")), "{c} among the developer commands: {s}");
    }
    for c in ["fill-mask", "ner", "classify", "embed", "tokenize", "eval-ner", "validate", "convert", "demo"] {
        assert!(user.contains(&format!("  {c} ")) && !dev.contains(&format!("  {c} ")), "{c} among the user commands: {s}");
    }
}
