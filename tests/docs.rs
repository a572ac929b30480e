//! The generated references of `docs/`: `docs/answers.md` from the answers file's JSON Schema
//! (`core::schema::json_schema`, which `tests/schema.rs` keeps equal to the published
//! `schema/answers.schema.json`) and `docs/commands.md` from the command-line definition (clap).
//! Each file must be exactly what its generator makes, so neither can drift from the code;
//! `CARACAL_UPDATE_GENERATED=1 cargo test --test docs` rewrites them.

mod support;

use std::collections::BTreeMap;

use caracal_deploy::cli::Cli;
use caracal_deploy::core::schema;
use caracal_deploy::exit::Exit;
use clap::CommandFactory;
use serde_json::Value;
use support::{first_difference, repo};

const REGENERATE: &str = "CARACAL_UPDATE_GENERATED=1 cargo test --test docs";

/// Rewrites `rel` with `want` under CARACAL_UPDATE_GENERATED=1, else asserts it holds `want`.
fn check_generated(rel: &str, want: &str, source: &str) {
    let path = repo().join(rel);
    if std::env::var("CARACAL_UPDATE_GENERATED").as_deref() == Ok("1") {
        std::fs::write(&path, want).unwrap_or_else(|e| panic!("{rel}: {e}"));
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{rel} differs from what tests/docs.rs generates from {source} ({}); run `{REGENERATE}`",
        first_difference(&have, want)
    );
}

// ---------------------------------------------------------------- the answers reference

/// What the schema's per-cloud clauses (`allOf`) say of one field.
#[derive(Default)]
struct CloudRules {
    required_in: Vec<String>,
    forbidden_in: Vec<String>,
}

/// Reads the `allOf` clauses `if cloud = X then ...` into rules per field path.
fn cloud_rules(root: &Value) -> BTreeMap<String, CloudRules> {
    let mut rules: BTreeMap<String, CloudRules> = BTreeMap::new();
    for clause in root["allOf"].as_array().expect("allOf") {
        let cloud = clause["if"]["properties"]["cloud"]["const"]
            .as_str()
            .unwrap_or_else(|| panic!("an allOf clause not on `cloud`: {clause}"))
            .to_string();
        let then = &clause["then"];
        for key in then.as_object().expect("then").keys() {
            assert!(
                key == "properties" || key == "required",
                "tests/docs.rs does not render `{key}` in allOf's then"
            );
        }
        for name in then["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap().to_string();
            rules
                .entry(name)
                .or_default()
                .required_in
                .push(cloud.clone());
        }
        for (object, rule) in then["properties"].as_object().expect("then.properties") {
            for key in rule.as_object().expect("an object rule").keys() {
                assert!(
                    ["type", "properties", "required"].contains(&key.as_str()),
                    "tests/docs.rs does not render `{key}` in allOf's then.properties.{object}"
                );
            }
            for name in rule["required"].as_array().into_iter().flatten() {
                let path = format!("{object}.{}", name.as_str().unwrap());
                rules
                    .entry(path)
                    .or_default()
                    .required_in
                    .push(cloud.clone());
            }
            for (name, allowed) in rule["properties"].as_object().into_iter().flatten() {
                assert_eq!(allowed, &Value::Bool(false), "{object}.{name}");
                let path = format!("{object}.{name}");
                rules
                    .entry(path)
                    .or_default()
                    .forbidden_in
                    .push(cloud.clone());
            }
        }
    }
    rules
}

fn code(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn list(values: &[Value]) -> String {
    values.iter().map(code).collect::<Vec<_>>().join(", ")
}

fn clouds(names: &[String]) -> String {
    names
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The type of a node: `string`, `array`, ..., with `null` (absent: the default) noted.
fn type_of(node: &Value) -> Option<String> {
    let types: Vec<&str> = match &node["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let named: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
    let mut text = named.join(" or ");
    if types.contains(&"null") {
        text.push_str(" (`null` means the default)");
    }
    Some(text)
}

/// The rules of a string, number or array node, one bullet each.
fn value_rules(node: &Value, out: &mut Vec<String>) {
    const RENDERED: &[&str] = &[
        "description",
        "type",
        "enum",
        "pattern",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "items",
        "if",
        "then",
        "not",
        "default",
        "additionalProperties",
        "propertyNames",
        "properties",
        "required",
        "anyOf",
    ];
    for key in node.as_object().expect("a schema node").keys() {
        assert!(
            RENDERED.contains(&key.as_str()),
            "tests/docs.rs does not render the keyword `{key}`: teach it, so the reference shows every rule"
        );
    }
    if let Some(t) = type_of(node) {
        out.push(format!("type: {t}"));
    }
    if let Some(values) = node["enum"].as_array() {
        let named: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        out.push(format!("one of: {}", list(&named)));
    }
    if let Some(p) = node["pattern"].as_str() {
        out.push(format!("matches: `{p}`"));
    }
    if let (Some(cond), Some(then)) = (node["if"]["pattern"].as_str(), node["then"].as_object()) {
        let mut rule = format!("when it matches `{cond}`");
        if let Some(p) = then.get("pattern").and_then(Value::as_str) {
            rule.push_str(&format!(", it must match `{p}`"));
        }
        if let Some(p) = then
            .get("not")
            .and_then(|n| n["pattern"].as_str())
            .map(str::to_string)
        {
            rule.push_str(&format!(" and must not match `{p}`"));
        }
        out.push(rule);
    }
    if let Some(p) = node["not"]["pattern"].as_str() {
        out.push(format!("must not match: `{p}`"));
    }
    if let Some(n) = node["maxLength"].as_u64() {
        out.push(format!("at most {n} characters"));
    }
    if let (Some(min), Some(max)) = (node["minimum"].as_i64(), node["maximum"].as_i64()) {
        out.push(format!("from {min} to {max}"));
    }
    if let Some(n) = node["minItems"].as_u64() {
        out.push(format!(
            "at least {n} item{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    if node["items"].is_object() {
        let mut items = Vec::new();
        value_rules(&node["items"], &mut items);
        out.push(format!("each item: {}", items.join("; ")));
    }
    if let Some(names) = node["propertyNames"]["enum"].as_array() {
        out.push(format!("keys: {}", list(names)));
    } else if node["propertyNames"].is_object() {
        let mut keys = Vec::new();
        value_rules(&node["propertyNames"], &mut keys);
        out.push(format!("each key: {}", keys.join("; ")));
    }
    match &node["additionalProperties"] {
        Value::Object(_) => {
            let mut values = Vec::new();
            value_rules(&node["additionalProperties"], &mut values);
            out.push(format!("each value: {}", values.join("; ")));
        }
        Value::Bool(false) if node.get("properties").is_some() => {
            out.push("no other keys".into());
        }
        _ => {}
    }
    if let Some(any) = node["anyOf"].as_array() {
        let alternatives: Vec<String> = any
            .iter()
            .map(|alt| {
                let mut rules = Vec::new();
                value_rules(alt, &mut rules);
                rules.join(", ")
            })
            .collect();
        out.push(alternatives.join("; or "));
    }
    if let Some(d) = node.get("default") {
        out.push(format!("default: {}", code(d)));
    }
}

/// One field's section: its heading, description and rules; then its own fields.
fn field(
    path: &str,
    node: &Value,
    required: bool,
    rules: &BTreeMap<String, CloudRules>,
    all_clouds: &[String],
    out: &mut String,
) {
    let depth = path.matches('.').count();
    out.push_str(&format!("{} `{path}`\n\n", "#".repeat(3 + depth.min(1))));
    if let Some(d) = node["description"].as_str() {
        out.push_str(&sentence(d));
        out.push_str("\n\n");
    }
    let mut bullets = Vec::new();
    let cloud = rules.get(path);
    match (required, cloud.map(|c| c.required_in.as_slice())) {
        (true, _) => bullets.push("required".to_string()),
        (false, Some(clouds_)) if clouds_.len() == all_clouds.len() => {
            bullets.push("required".to_string())
        }
        (false, Some(clouds_)) if !clouds_.is_empty() => {
            bullets.push(format!("required when `cloud` is {}", clouds(clouds_)))
        }
        _ => bullets.push("optional".to_string()),
    }
    if let Some(forbidden) = cloud.map(|c| &c.forbidden_in).filter(|f| !f.is_empty()) {
        let allowed: Vec<String> = all_clouds
            .iter()
            .filter(|c| !forbidden.contains(c))
            .cloned()
            .collect();
        bullets.push(format!("only when `cloud` is {}", clouds(&allowed)));
    }
    value_rules(node, &mut bullets);
    for b in &bullets {
        out.push_str(&format!("- {b}\n"));
    }
    out.push('\n');
    let own_required: Vec<&str> = node["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        let child_path = format!("{path}.{name}");
        field(
            &child_path,
            child,
            own_required.contains(&name.as_str()),
            rules,
            all_clouds,
            out,
        );
    }
}

/// `docs/answers.md`, from the answers file's JSON Schema.
fn answers_reference(root: &Value) -> String {
    let rules = cloud_rules(root);
    let all_clouds: Vec<String> = root["properties"]["cloud"]["enum"]
        .as_array()
        .expect("cloud's enum")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let required: Vec<&str> = root["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut out = String::new();
    out.push_str("# The answers file\n\n");
    out.push_str(&format!(
        "<!-- generated from the JSON Schema (src/core/schema.rs, published as schema/answers.schema.json) by tests/docs.rs: `{REGENERATE}` rewrites it -->\n\n"
    ));
    out.push_str(&format!(
        "{}\n\n",
        root["description"]
            .as_str()
            .expect("the schema's description")
            .split(" Generated from")
            .next()
            .unwrap()
    ));
    out.push_str(
        "One YAML document: each field below can also be answered in the wizard, which saves \
         this file and resumes from it. A secret is never written here, only where its value \
         comes from (`generate`, `prompt`, `env:VAR`, `file:PATH`). The JSON Schema \
         ([`schema/answers.schema.json`](../schema/answers.schema.json), draft 2020-12) checks \
         each field as listed here; editors with the YAML language server use it when the \
         file starts with `# yaml-language-server: $schema=PATH/TO/schema/answers.schema.json`. \
         `caracal-deploy` also checks what a pattern cannot (CIDRs with host bits set, the two \
         databases differing, one host per service). Examples: \
         [`examples/answers-aws.yaml`](../examples/answers-aws.yaml), \
         [`examples/answers-gcp.yaml`](../examples/answers-gcp.yaml), \
         [`examples/answers-azure.yaml`](../examples/answers-azure.yaml).\n\n",
    );
    out.push_str(&format!(
        "Fields that belong to one cloud are refused on the others; `cloud` is one of {}.\n\n",
        clouds(&all_clouds)
    ));
    for (name, node) in root["properties"].as_object().expect("properties") {
        field(
            name,
            node,
            required.contains(&name.as_str()),
            &rules,
            &all_clouds,
            &mut out,
        );
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn the_answers_reference_is_what_the_schema_generates() {
    let root = schema::json_schema();
    let want = answers_reference(&root);
    // Every field of the schema has its heading.
    fn paths(prefix: &str, node: &Value, out: &mut Vec<String>) {
        for (name, child) in node["properties"].as_object().into_iter().flatten() {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            paths(&path, child, out);
            out.push(path);
        }
    }
    let mut all = Vec::new();
    paths("", &root, &mut all);
    assert!(all.len() > 40, "{all:?}");
    for path in &all {
        assert!(
            want.contains(&format!(" `{path}`\n")),
            "no heading for {path}"
        );
    }
    check_generated("docs/answers.md", &want, "the JSON Schema");
}

// ---------------------------------------------------------------- the command reference

/// A description as a sentence: capitalised, ending with a period.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// How an argument is written: `-f, --answers <ANSWERS>`, `--dry-run`, `<CHECK_ID>`.
fn spelling(arg: &clap::Arg) -> String {
    let value = || {
        arg.get_value_names()
            .map(|names| {
                names
                    .iter()
                    .map(|n| format!("<{n}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()))
    };
    if arg.is_positional() {
        return value();
    }
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let mut text = names.join(", ");
    if arg.get_num_args().is_some_and(|n| n.takes_values()) {
        text.push(' ');
        text.push_str(&value());
    }
    text
}

fn command_section(title: &str, cmd: &clap::Command, out: &mut String) {
    out.push_str(&format!("## `{title}`\n\n"));
    for text in [cmd.get_about(), cmd.get_long_about()]
        .into_iter()
        .flatten()
    {
        out.push_str(&format!("{}\n\n", sentence(&cell(&text.to_string()))));
    }
    out.push_str(&format!(
        "```\n{}\n```\n\n",
        cmd.clone().render_usage().to_string().trim()
    ));
    let args: Vec<&clap::Arg> = cmd.get_arguments().filter(|a| !a.is_hide_set()).collect();
    if args.is_empty() {
        return;
    }
    out.push_str(
        "| argument | default | environment | what it does |\n| --- | --- | --- | --- |\n",
    );
    for arg in args {
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let mut help = if help.trim().is_empty() {
            String::new()
        } else {
            sentence(&cell(&help))
        };
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !possible.is_empty() {
            help.push_str(&format!(" One of: {}.", possible.join(", ")));
        }
        if arg.is_required_set() {
            help.push_str(" Required.");
        }
        let takes_values = arg.get_num_args().is_some_and(|n| n.takes_values());
        let default = arg
            .get_default_values()
            .iter()
            .filter(|_| takes_values)
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ");
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {default} | {env} | {} |\n",
            spelling(arg),
            help.trim()
        ));
    }
    out.push('\n');
}

/// The exit codes of the contract (`src/exit.rs`).
const EXIT_CODES: [(Exit, &str); 5] = [
    (Exit::Success, "everything asked for was done"),
    (
        Exit::Other,
        "anything else: interrupted, an internal error, a capability not built yet",
    ),
    (Exit::InvalidInput, "invalid input: the answers file, flags"),
    (Exit::CheckFailed, "a check or a step failed"),
    (Exit::Warnings, "warnings only (3 with `--fail-on-warning`)"),
];

/// `docs/commands.md`, from the clap definition.
fn commands_reference() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::new();
    out.push_str("# Commands\n\n");
    out.push_str(&format!(
        "<!-- generated from the command-line definition (src/cli/) by tests/docs.rs: `{REGENERATE}` rewrites it -->\n\n"
    ));
    out.push_str(
        "Without a command, `caracal-deploy` opens the wizard. The other commands are headless: \
         they print progress to stderr and results to stdout, ask nothing but the value of a \
         `prompt` source (masked, at a terminal), and change a cluster only with `--yes`. Every \
         command takes `-h` (a summary) and `--help` (all of it). The answers file is described \
         in [answers.md](answers.md).\n\n",
    );
    out.push_str("## Exit codes\n\n| code | meaning |\n| --- | --- |\n");
    for (exit, meaning) in EXIT_CODES {
        out.push_str(&format!("| {} | {meaning} |\n", exit.code()));
    }
    out.push('\n');
    command_section("caracal-deploy", &root, &mut out);
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        command_section(&format!("caracal-deploy {}", sub.get_name()), sub, &mut out);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn the_command_reference_is_what_the_cli_definition_generates() {
    let want = commands_reference();
    // Every command and every flag of the definition is in it.
    let mut root = Cli::command();
    root.build();
    let mut commands = vec![&root];
    commands.extend(root.get_subcommands().filter(|s| s.get_name() != "help"));
    assert!(commands.len() >= 10, "{}", commands.len());
    for cmd in commands {
        let title = if cmd.get_name() == root.get_name() {
            "caracal-deploy".to_string()
        } else {
            format!("caracal-deploy {}", cmd.get_name())
        };
        let start = want
            .find(&format!("## `{title}`\n"))
            .unwrap_or_else(|| panic!("no section for `{title}`"));
        let section = &want[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let name = arg
                .get_long()
                .map(|l| format!("--{l}"))
                .unwrap_or_else(|| spelling(arg));
            assert!(section.contains(&name), "`{title}` lacks {name}");
        }
    }
    check_generated("docs/commands.md", &want, "the CLI definition");
}
