//! The example policy and the docs stay in step with the code.
use std::path::Path;

use capplan::simulate::policy::Policy;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn example_policy_lists_every_field_with_its_default() {
    let _machine = crate::common::machine::shared();
    let path = repo("examples/policy.toml");
    assert_eq!(Policy::read(&path).unwrap(), Policy::default());
    // Every field of the defaults appears in the example (and nothing else parses).
    let example: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let defaults = toml::Table::try_from(Policy::default()).unwrap();
    for (table, fields) in &defaults {
        for key in fields.as_table().unwrap().keys() {
            assert!(
                example[table].get(key).is_some(),
                "examples/policy.toml lacks {table}.{key}"
            );
        }
    }
}

#[test]
fn docs_describe_every_policy_field() {
    let _machine = crate::common::machine::shared();
    let docs = std::fs::read_to_string(repo("docs/simulate.md")).unwrap();
    let defaults = toml::Table::try_from(Policy::default()).unwrap();
    for (table, fields) in &defaults {
        for key in fields.as_table().unwrap().keys() {
            assert!(
                docs.contains(&format!("`{table}.{key}`")),
                "docs/simulate.md lacks {table}.{key}"
            );
        }
    }
}
