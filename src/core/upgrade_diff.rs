//! What an upgrade would change, shown before it changes anything: the deployed release's
//! objects against the newly rendered ones, and the deployed helm values against the new ones,
//! field by field.
//!
//! Secret values never enter the diff. A field that is secret (a Secret's `data` and
//! `stringData`, a container's `env` entry named like a password, token, secret or key, a helm
//! value whose key names a password, token or secret) is recorded as [`Shown::Hidden`] before any
//! text is made from it, so the result holds no copy of it, not even a length or a hash, and
//! nothing that later prints the diff can leak it.
//!
//! Paths are dotted (`spec.replicas`); list items are `[i]` (`args[0]`), except in lists whose
//! items are all maps with a distinct string `name` (containers, env, ports, volumes…): there
//! they are `[name=X]` (`containers[name=api].image`), so that reordering such a list is not a
//! change. Keys are written as they are, dots included (`data.tls.crt`).

use serde_json::{Map, Value};

/// One object of the release that the upgrade adds, removes or changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectChange {
    pub kind: String,
    /// The target's apiVersion; the deployed one for a removed object.
    pub api_version: String,
    /// None for a cluster-scoped object, or one whose manifest names no namespace.
    pub namespace: Option<String>,
    pub name: String,
    pub change: Change,
}

/// What happens to one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// The fields that differ, in document order (never empty).
    Changed(Vec<FieldChange>),
}

/// One leaf field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    /// Dotted path, e.g. `spec.template.spec.containers[name=api].image`.
    pub path: String,
    pub what: FieldWhat,
}

/// How a field differs. A field on one side only is added or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldWhat {
    Added(Shown),
    Removed(Shown),
    Changed { from: Shown, to: Shown },
}

/// A field's value as the diff may show it: a short text, or nothing at all for a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// One line, at most 80 characters of the value (then `…`).
    Value(String),
    /// A secret: its value was never read into the diff.
    Hidden,
}

/// Longest text kept of a value, in characters.
const MAX_SHOWN: usize = 80;

/// Substrings (lowercase) of an `env` entry's name that make its value secret.
const SECRET_ENV_WORDS: [&str; 4] = ["password", "token", "secret", "key"];

/// Substrings (lowercase) of a helm value's key that make its value secret.
const SECRET_VALUE_WORDS: [&str; 3] = ["password", "token", "secret"];

/// The objects that differ between the deployed release (`helm get manifest`) and the target
/// (`helm template`), sorted by kind, namespace and name. Objects are matched by apiVersion
/// group (without version), kind, namespace and name, so an apiVersion moving from `v1beta1`
/// to `v1` is a change of field `apiVersion`, not a removal plus an addition. Empty and `null`
/// documents are skipped; `status`, `metadata.creationTimestamp` and `metadata.managedFields`
/// are ignored.
pub fn diff_manifests(deployed: &str, target: &str) -> Result<Vec<ObjectChange>, String> {
    let old = objects(deployed, "deployed")?;
    let new = objects(target, "target")?;
    let mut changes = Vec::new();
    for o in &old {
        match new.iter().find(|n| n.id == o.id) {
            None => changes.push(o.change(Change::Removed)),
            Some(n) => {
                let mut walk = Walk {
                    rule: Rule::Manifest {
                        secret: o.id.kind == "Secret",
                    },
                    out: Vec::new(),
                };
                walk.walk(&mut Vec::new(), Some(&o.body), Some(&n.body), false);
                if !walk.out.is_empty() {
                    changes.push(n.change(Change::Changed(walk.out)));
                }
            }
        }
    }
    for n in &new {
        if !old.iter().any(|o| o.id == n.id) {
            changes.push(n.change(Change::Added));
        }
    }
    changes.sort_by(|a, b| order(a).cmp(&order(b)));
    Ok(changes)
}

/// The values that differ between the deployed helm values (`helm get values -o json`, which
/// is `null` when none were given) and the target values. A value whose key, or the key of a
/// map holding it, contains `password`, `token` or `secret` (any case) is hidden.
pub fn diff_values(deployed: &Value, target: &Value) -> Vec<FieldChange> {
    let mut walk = Walk {
        rule: Rule::Values,
        out: Vec::new(),
    };
    let (old, new) = (or_empty(deployed), or_empty(target));
    walk.walk(&mut Vec::new(), Some(&old), Some(&new), false);
    walk.out
}

/// `null` values are no values: an empty map, so that each new value shows as added.
fn or_empty(values: &Value) -> Value {
    match values {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    }
}

/// The diff as an operator reads it: one header line per object (`+` added, `-` removed, `~`
/// changed, then kind and `namespace/name`), each changed field under it, indented four spaces.
pub fn lines(changes: &[ObjectChange]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        let sign = match c.change {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed(_) => '~',
        };
        let name = match &c.namespace {
            Some(ns) => format!("{ns}/{}", c.name),
            None => c.name.clone(),
        };
        out.push(format!("{sign} {} {name}", c.kind));
        if let Change::Changed(fields) = &c.change {
            out.extend(fields.iter().map(|f| format!("    {}", field_line(f))));
        }
    }
    out
}

/// The values diff as an operator reads it: one line per field, not indented (the caller puts
/// it under its own heading).
pub fn value_lines(changes: &[FieldChange]) -> Vec<String> {
    changes.iter().map(field_line).collect()
}

/// `spec.replicas: 2 → 3`, `data.zoneKek: removed (value hidden)`…
fn field_line(f: &FieldChange) -> String {
    let text = |s: &Shown| match s {
        Shown::Value(v) => v.clone(),
        Shown::Hidden => "(hidden)".to_string(),
    };
    let what = match &f.what {
        FieldWhat::Added(Shown::Hidden) => "added (value hidden)".to_string(),
        FieldWhat::Added(v) => format!("added: {}", text(v)),
        FieldWhat::Removed(Shown::Hidden) => "removed (value hidden)".to_string(),
        FieldWhat::Removed(v) => format!("removed (was {})", text(v)),
        FieldWhat::Changed {
            from: Shown::Hidden,
            to: Shown::Hidden,
        } => "changed (value hidden)".to_string(),
        FieldWhat::Changed { from, to } => format!("{} → {}", text(from), text(to)),
    };
    format!("{}: {what}", f.path)
}

/// What matches an object across the two sides.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Id {
    /// The apiVersion without its version: `apps`, `` for the core group.
    group: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

/// One object of a side, with the ignored fields taken out.
struct Object {
    id: Id,
    api_version: String,
    body: Value,
}

impl Object {
    fn change(&self, change: Change) -> ObjectChange {
        ObjectChange {
            kind: self.id.kind.clone(),
            api_version: self.api_version.clone(),
            namespace: self.id.namespace.clone(),
            name: self.id.name.clone(),
            change,
        }
    }
}

fn order(c: &ObjectChange) -> (&str, Option<&str>, &str, &str) {
    let group = c.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (&c.kind, c.namespace.as_deref(), &c.name, group)
}

/// The objects of one side's YAML stream; `side` names it in errors.
fn objects(text: &str, side: &str) -> Result<Vec<Object>, String> {
    // The parser's first line says where and what; later lines may quote the document, and a
    // quoted Secret would put its data in the error.
    let docs = super::yaml::from_documents(text).map_err(|e| {
        format!(
            "the {side} manifests are not valid YAML: {}",
            e.lines().next().unwrap_or_default()
        )
    })?;
    let mut out: Vec<Object> = Vec::new();
    for (i, mut doc) in docs.into_iter().enumerate() {
        let number = i + 1;
        let Some(map) = doc.as_object_mut() else {
            return Err(format!(
                "the {side} manifests: document {number} is not a map of fields"
            ));
        };
        if map.is_empty() {
            continue;
        }
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("creationTimestamp");
            meta.remove("managedFields");
        }
        let field = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        let (api_version, kind, name) = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        );
        for (value, what) in [
            (api_version, "apiVersion"),
            (kind, "kind"),
            (name, "metadata.name"),
        ] {
            if value.is_empty() {
                return Err(format!(
                    "the {side} manifests: document {number} has no {what}"
                ));
            }
        }
        let namespace = Some(field("/metadata/namespace"))
            .filter(|ns| !ns.is_empty())
            .map(str::to_string);
        let id = Id {
            group: api_version
                .rsplit_once('/')
                .map_or("", |(g, _)| g)
                .to_string(),
            kind: kind.to_string(),
            namespace,
            name: name.to_string(),
        };
        let api_version = api_version.to_string();
        if out.iter().any(|o| o.id == id) {
            return Err(format!(
                "the {side} manifests hold {} {} twice",
                id.kind,
                id.namespace
                    .as_ref()
                    .map_or(id.name.clone(), |ns| format!("{ns}/{}", id.name))
            ));
        }
        out.push(Object {
            id,
            api_version,
            body: doc,
        });
    }
    Ok(out)
}

/// One step into a value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
    /// An item of a list keyed by `name`.
    Named(String),
}

/// `spec.containers[name=api].ports[0]`.
fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Named(n) => out.push_str(&format!("[name={n}]")),
        }
    }
    if out.is_empty() {
        out.push_str("(top level)");
    }
    out
}

/// Which fields are secret.
enum Rule {
    /// A manifest; `secret` for an object of kind Secret.
    Manifest { secret: bool },
    /// Helm values.
    Values,
}

impl Rule {
    /// Whether the field `key` of the map at `path` is secret, with all it holds. The map is
    /// given as it is on each side (None where it is absent).
    fn hides(
        &self,
        path: &[Step],
        key: &str,
        old: Option<&Map<String, Value>>,
        new: Option<&Map<String, Value>>,
    ) -> bool {
        match self {
            Rule::Values => has_word(key, &SECRET_VALUE_WORDS),
            Rule::Manifest { secret } => {
                let top = path.is_empty();
                // kubectl's last-applied annotation on a Secret holds its data too.
                let last_applied = key == "kubectl.kubernetes.io/last-applied-configuration"
                    && matches!(path, [m, a] if is_key(m, "metadata") && is_key(a, "annotations"));
                let secret_object =
                    *secret && ((top && (key == "data" || key == "stringData")) || last_applied);
                let in_env = match path {
                    [.., env, Step::Index(_) | Step::Named(_)] => is_key(env, "env"),
                    _ => false,
                };
                let env_value = key == "value"
                    && in_env
                    && [old, new].into_iter().flatten().any(|item| {
                        item.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| has_word(n, &SECRET_ENV_WORDS))
                    });
                secret_object || env_value
            }
        }
    }
}

fn is_key(step: &Step, name: &str) -> bool {
    matches!(step, Step::Key(k) if k == name)
}

fn has_word(text: &str, words: &[&str]) -> bool {
    let lower = text.to_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// The names of a list's items when every item is a map with a distinct string `name`
/// (vacuously so for an empty list); None otherwise.
fn names(list: &[Value]) -> Option<Vec<&str>> {
    let mut names: Vec<&str> = Vec::with_capacity(list.len());
    for item in list {
        let name = item.get("name")?.as_str()?;
        if names.contains(&name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

fn named<'v>(list: Option<&'v Vec<Value>>, name: &str) -> Option<&'v Value> {
    list?
        .iter()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
}

/// Walks both sides at once, collecting the leaf fields that differ.
struct Walk {
    rule: Rule,
    out: Vec<FieldChange>,
}

impl Walk {
    /// Compares `old` and `new` (either may be absent) at `path`; `hidden` when a field on the
    /// way is secret.
    fn walk(
        &mut self,
        path: &mut Vec<Step>,
        old: Option<&Value>,
        new: Option<&Value>,
        hidden: bool,
    ) {
        if old == new {
            return;
        }
        // Descend while every present side is a map (or a list), unless all are empty.
        let both = |is: fn(&Value) -> bool, empty: fn(&Value) -> bool| {
            [old, new].into_iter().flatten().all(is)
                && [old, new].into_iter().flatten().any(|v| !empty(v))
        };
        let maps = both(Value::is_object, |v| {
            v.as_object().is_some_and(Map::is_empty)
        });
        let lists = both(Value::is_array, |v| v.as_array().is_some_and(Vec::is_empty));
        if maps {
            let (o, n) = (
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
            );
            let mut keys: Vec<&String> = o.into_iter().flat_map(Map::keys).collect();
            for k in n.into_iter().flat_map(Map::keys) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            for k in keys {
                let secret = hidden || self.rule.hides(path, k, o, n);
                path.push(Step::Key(k.clone()));
                self.walk(
                    path,
                    o.and_then(|m| m.get(k)),
                    n.and_then(|m| m.get(k)),
                    secret,
                );
                path.pop();
            }
        } else if lists {
            let (o, n) = (old.and_then(Value::as_array), new.and_then(Value::as_array));
            let keyed = (
                o.map_or(Some(Vec::new()), |l| names(l)),
                n.map_or(Some(Vec::new()), |l| names(l)),
            );
            if let (Some(mut all), Some(added)) = keyed {
                for name in added {
                    if !all.contains(&name) {
                        all.push(name);
                    }
                }
                for name in all {
                    path.push(Step::Named(name.to_string()));
                    self.walk(path, named(o, name), named(n, name), hidden);
                    path.pop();
                }
            } else {
                let len = o.map_or(0, Vec::len).max(n.map_or(0, Vec::len));
                for i in 0..len {
                    path.push(Step::Index(i));
                    self.walk(
                        path,
                        o.and_then(|l| l.get(i)),
                        n.and_then(|l| l.get(i)),
                        hidden,
                    );
                    path.pop();
                }
            }
        } else {
            let what = match (old, new) {
                (Some(o), Some(n)) if leaf(o) && leaf(n) => changed(o, n, hidden),
                // A map or list against a value of another type: all of one out, the other in.
                (Some(_), Some(_)) => {
                    self.walk(path, old, None, hidden);
                    self.walk(path, None, new, hidden);
                    return;
                }
                (Some(o), None) => FieldWhat::Removed(shown(o, hidden)),
                (None, Some(n)) => FieldWhat::Added(shown(n, hidden)),
                (None, None) => return,
            };
            self.out.push(FieldChange {
                path: display(path),
                what,
            });
        }
    }
}

/// A scalar, or an empty map or list: a field with nothing under it.
fn leaf(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

/// The only way a value becomes text in the diff: a hidden one is never read.
fn shown(value: &Value, hidden: bool) -> Shown {
    if hidden {
        return Shown::Hidden;
    }
    Shown::Value(window(&text(value), 0))
}

/// A change of a leaf; when long strings differ past what is kept, both are shown from a little
/// before their first difference.
fn changed(from: &Value, to: &Value, hidden: bool) -> FieldWhat {
    if hidden {
        return FieldWhat::Changed {
            from: Shown::Hidden,
            to: Shown::Hidden,
        };
    }
    let (a, b) = (text(from), text(to));
    let first_difference = a
        .chars()
        .zip(b.chars())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.chars().count().min(b.chars().count()));
    let start = if first_difference + 10 > MAX_SHOWN {
        first_difference - 20
    } else {
        0
    };
    FieldWhat::Changed {
        from: Shown::Value(window(&a, start)),
        to: Shown::Value(window(&b, start)),
    }
}

/// At most [`MAX_SHOWN`] characters of `text` from character `start`, with `…` where cut.
fn window(text: &str, start: usize) -> String {
    let count = text.chars().count();
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(text.chars().skip(start).take(MAX_SHOWN));
    if start + MAX_SHOWN < count {
        out.push('…');
    }
    out
}

/// A leaf as one line: numbers, booleans and null as in JSON, a string as it is unless it would
/// read as something else (a number, empty, spaces at an end, several lines), then quoted.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.trim() == s
                && !s.chars().any(char::is_control)
                && !s.contains('→')
                && !s.starts_with('"')
                && serde_json::from_str::<Value>(s).is_err();
            if plain {
                s.clone()
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only_fields(changes: &[ObjectChange]) -> &[FieldChange] {
        assert_eq!(changes.len(), 1, "{changes:?}");
        match &changes[0].change {
            Change::Changed(fields) => fields,
            other => panic!("not a change: {other:?}"),
        }
    }

    fn field(path: &str, what: FieldWhat) -> FieldChange {
        FieldChange {
            path: path.to_string(),
            what,
        }
    }

    fn value(text: &str) -> Shown {
        Shown::Value(text.to_string())
    }

    const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: caracal-caracal-api
  namespace: caracal
  creationTimestamp: null
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          image: caracal/api:1.0
          args: [serve, --port=8080]
        - name: sidecar
          image: envoy:1.30
";

    #[test]
    fn added_removed_and_changed_objects_sorted_by_kind_namespace_name() {
        let deployed = format!(
            "{DEPLOYMENT}---
apiVersion: v1
kind: Secret
metadata: {{ name: old, namespace: caracal }}
"
        );
        let target = format!(
            "{}---
apiVersion: v1
kind: ConfigMap
metadata: {{ name: caracal-config, namespace: caracal }}
data: {{ a: b }}
",
            DEPLOYMENT
                .replace("replicas: 2", "replicas: 3")
                .replace("caracal/api:1.0", "caracal/api:1.1")
                .replace(
                    "creationTimestamp: null",
                    "creationTimestamp: '2024-01-01T00:00:00Z'"
                )
        );
        let changes = diff_manifests(&deployed, &target).unwrap();
        let heads: Vec<(&str, &Change)> = changes
            .iter()
            .map(|c| (c.kind.as_str(), &c.change))
            .collect();
        assert_eq!(heads.len(), 3, "{changes:?}");
        assert_eq!(heads[0], ("ConfigMap", &Change::Added));
        assert_eq!(heads[2], ("Secret", &Change::Removed));
        assert_eq!(
            heads[1].1,
            &Change::Changed(vec![
                field(
                    "spec.replicas",
                    FieldWhat::Changed {
                        from: value("2"),
                        to: value("3")
                    }
                ),
                field(
                    "spec.template.spec.containers[name=api].image",
                    FieldWhat::Changed {
                        from: value("caracal/api:1.0"),
                        to: value("caracal/api:1.1")
                    }
                ),
            ])
        );
        assert_eq!(
            lines(&changes),
            [
                "+ ConfigMap caracal/caracal-config",
                "~ Deployment caracal/caracal-caracal-api",
                "    spec.replicas: 2 → 3",
                "    spec.template.spec.containers[name=api].image: caracal/api:1.0 → caracal/api:1.1",
                "- Secret caracal/old",
            ]
        );
        assert_eq!(changes[0].api_version, "v1");
        assert_eq!(changes[0].namespace.as_deref(), Some("caracal"));
    }

    #[test]
    fn identical_streams_and_ignored_fields_are_no_change() {
        let target = format!("{DEPLOYMENT}status: {{ readyReplicas: 2 }}\n",).replace(
            "  creationTimestamp: null",
            "  creationTimestamp: '2024-01-01T00:00:00Z'\n  managedFields: [{ manager: helm }]",
        );
        assert_eq!(diff_manifests(DEPLOYMENT, &target).unwrap(), []);
    }

    #[test]
    fn an_api_version_move_is_a_change_not_a_remove_and_add() {
        let old = "apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: { name: api }
spec: { minAvailable: 1 }
";
        let new = old.replace("policy/v1beta1", "policy/v1");
        let changes = diff_manifests(old, &new).unwrap();
        assert_eq!(changes[0].api_version, "policy/v1");
        assert_eq!(changes[0].namespace, None);
        assert_eq!(
            only_fields(&changes),
            [field(
                "apiVersion",
                FieldWhat::Changed {
                    from: value("policy/v1beta1"),
                    to: value("policy/v1")
                }
            )]
        );
        assert_eq!(lines(&changes)[0], "~ PodDisruptionBudget api");
        // Another group is another object.
        let other = old.replace("policy/v1beta1", "example.com/v1");
        let changes = diff_manifests(old, &other).unwrap();
        let kinds: Vec<&Change> = changes.iter().map(|c| &c.change).collect();
        assert_eq!(kinds.len(), 2);
        assert!(kinds.contains(&&Change::Added) && kinds.contains(&&Change::Removed));
    }

    #[test]
    fn a_reordered_named_list_is_not_a_change_but_an_unnamed_one_is() {
        let swapped = "
apiVersion: apps/v1
kind: Deployment
metadata:
  name: caracal-caracal-api
  namespace: caracal
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: sidecar
          image: envoy:1.30
        - image: caracal/api:1.0
          name: api
          args: [serve, --port=8080]
";
        assert_eq!(diff_manifests(DEPLOYMENT, swapped).unwrap(), []);
        let args = DEPLOYMENT.replace("[serve, --port=8080]", "[--port=8080, serve]");
        let changes = diff_manifests(DEPLOYMENT, &args).unwrap();
        let paths: Vec<&str> = only_fields(&changes)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.template.spec.containers[name=api].args[0]",
                "spec.template.spec.containers[name=api].args[1]",
            ]
        );
        let added = DEPLOYMENT.replace(
            "      containers:\n",
            "      containers:\n        - name: init\n          image: busybox\n",
        );
        let changes = diff_manifests(DEPLOYMENT, &added).unwrap();
        assert_eq!(
            lines(&changes)[1..],
            [
                "    spec.template.spec.containers[name=init].name: added: init",
                "    spec.template.spec.containers[name=init].image: added: busybox",
            ]
        );
    }

    #[test]
    fn secret_data_shows_keys_never_values() {
        let old = "
apiVersion: v1
kind: Secret
metadata: { name: caracal-runtime, namespace: caracal }
data:
  zoneKek: T0xELUtFSy1WQUxVRQ==
  dbPassword: T0xELURCLVBBU1M=
  same: U0FNRS1WQUxVRQ==
stringData:
  plain: old-plain-text
";
        let new = "
apiVersion: v1
kind: Secret
metadata: { name: caracal-runtime, namespace: caracal }
data:
  dbPassword: TkVXLURCLVBBU1M=
  same: U0FNRS1WQUxVRQ==
  apiToken: TkVXLVRPS0VO
stringData:
  plain: new-plain-text
";
        let changes = diff_manifests(old, new).unwrap();
        let hidden = Shown::Hidden;
        assert_eq!(
            only_fields(&changes),
            [
                field("data.zoneKek", FieldWhat::Removed(hidden.clone())),
                field(
                    "data.dbPassword",
                    FieldWhat::Changed {
                        from: hidden.clone(),
                        to: hidden.clone()
                    }
                ),
                field("data.apiToken", FieldWhat::Added(hidden.clone())),
                field(
                    "stringData.plain",
                    FieldWhat::Changed {
                        from: hidden.clone(),
                        to: hidden
                    }
                ),
            ]
        );
        let text = lines(&changes).join("\n");
        assert_eq!(
            text,
            "~ Secret caracal/caracal-runtime
    data.zoneKek: removed (value hidden)
    data.dbPassword: changed (value hidden)
    data.apiToken: added (value hidden)
    stringData.plain: changed (value hidden)"
        );
        let debug = format!("{changes:?}");
        for secret in [
            "T0xELUtFSy1WQUxVRQ==",
            "T0xELURCLVBBU1M=",
            "TkVXLURCLVBBU1M=",
            "TkVXLVRPS0VO",
            "U0FNRS1WQUxVRQ==",
            "old-plain-text",
            "new-plain-text",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        // A whole data map appearing or going is still keys only.
        let bare = "apiVersion: v1\nkind: Secret\nmetadata: { name: s }\n";
        let full = format!("{bare}data: {{ k: dmFsdWU= }}\n");
        for (a, b) in [(bare, full.as_str()), (full.as_str(), bare)] {
            let changes = diff_manifests(a, b).unwrap();
            let text = format!("{:?}{}", changes, lines(&changes).join("\n"));
            assert!(
                text.contains("data.k") && !text.contains("dmFsdWU="),
                "{text}"
            );
        }
    }

    #[test]
    fn a_secrets_last_applied_annotation_is_hidden() {
        let secret = |data: &str| {
            format!(
                "apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{\"data\":{{\"k\":\"{data}\"}}}}'
    note: {data}
"
            )
        };
        let changes = diff_manifests(&secret("c2VjcmV0LWE="), &secret("c2VjcmV0LWI=")).unwrap();
        let text = format!("{changes:?}{}", lines(&changes).join("\n"));
        assert!(
            text.contains(
                "kubectl.kubernetes.io/last-applied-configuration: changed (value hidden)"
            ),
            "{text}"
        );
        // Other annotations are not secret.
        assert!(
            text.contains("metadata.annotations.note: c2VjcmV0LWE= → c2VjcmV0LWI="),
            "{text}"
        );
        assert_eq!(text.matches("c2VjcmV0LW").count(), 4, "{text}");
    }

    #[test]
    fn env_values_named_like_secrets_are_hidden() {
        let env = |db: &str, token: &str, level: &str| {
            format!(
                "apiVersion: v1
kind: Pod
metadata: {{ name: p }}
spec:
  containers:
    - name: api
      env:
        - {{ name: DB_PASSWORD, value: {db} }}
        - {{ name: Api_Token, value: {token} }}
        - {{ name: LOG_LEVEL, value: {level} }}
"
            )
        };
        let changes = diff_manifests(
            &env("hunter2-old", "tok-old", "info"),
            &env("hunter2-new", "tok-new", "debug"),
        )
        .unwrap();
        let text = lines(&changes).join("\n");
        assert_eq!(
            text,
            "~ Pod p
    spec.containers[name=api].env[name=DB_PASSWORD].value: changed (value hidden)
    spec.containers[name=api].env[name=Api_Token].value: changed (value hidden)
    spec.containers[name=api].env[name=LOG_LEVEL].value: info → debug"
        );
        let debug = format!("{changes:?}");
        for secret in ["hunter2", "tok-"] {
            assert!(
                !text.contains(secret) && !debug.contains(secret),
                "{secret}"
            );
        }
        // Duplicate names fall back to indexes, and the value is still hidden.
        let dup = |v: &str| {
            format!(
                "apiVersion: v1
kind: Pod
metadata: {{ name: p }}
spec:
  env:
    - {{ name: SECRET_KEY, value: {v} }}
    - {{ name: SECRET_KEY, value: x }}
"
            )
        };
        let changes = diff_manifests(&dup("s3cr3t-a"), &dup("s3cr3t-b")).unwrap();
        assert_eq!(
            lines(&changes)[1],
            "    spec.env[0].value: changed (value hidden)"
        );
    }

    #[test]
    fn values_diff_nested_map_and_list_with_masking() {
        let deployed = json!({
            "api": { "replicas": 2, "resources": { "limits": { "cpu": "500m" } } },
            "ingress": { "hosts": ["a.example.com", "b.example.com"] },
            "database": { "password": "pw-old", "host": "db" },
            "secrets": { "stsAdminToken": { "secretName": "rt-old" } },
            "auth": { "apiToken": { "value": "tk-old" } },
            "gone": true,
        });
        let target = json!({
            "api": { "replicas": 3, "resources": { "limits": { "cpu": "500m", "memory": "1Gi" } } },
            "ingress": { "hosts": ["a.example.com"] },
            "database": { "password": "pw-new", "host": "db" },
            "secrets": { "stsAdminToken": { "secretName": "rt-new" } },
            "auth": { "apiToken": { "value": "tk-new" } },
        });
        let changes = diff_values(&deployed, &target);
        assert_eq!(
            value_lines(&changes),
            [
                "api.replicas: 2 → 3",
                "api.resources.limits.memory: added: 1Gi",
                "ingress.hosts[1]: removed (was b.example.com)",
                "database.password: changed (value hidden)",
                "secrets.stsAdminToken.secretName: changed (value hidden)",
                // Under a secret key, every field is hidden.
                "auth.apiToken.value: changed (value hidden)",
                "gone: removed (was true)",
            ]
        );
        let debug = format!("{changes:?}");
        for secret in ["pw-", "rt-", "tk-"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        // helm prints `null` when no values were given.
        assert_eq!(
            value_lines(&diff_values(&Value::Null, &json!({ "a": { "b": "1" } }))),
            ["a.b: added: \"1\""]
        );
        assert_eq!(diff_values(&Value::Null, &json!({})), []);
    }

    #[test]
    fn empty_and_null_documents_are_skipped() {
        let noisy = format!(
            "---\n---\n# only a comment\n---\nnull\n---\n~\n---\n{{}}\n---{DEPLOYMENT}---\n"
        );
        assert_eq!(diff_manifests(DEPLOYMENT, &noisy).unwrap(), []);
        assert_eq!(diff_manifests("", "").unwrap(), []);
        let all_added = diff_manifests("---\nnull\n", DEPLOYMENT).unwrap();
        assert_eq!(
            lines(&all_added),
            ["+ Deployment caracal/caracal-caracal-api"]
        );
    }

    #[test]
    fn invalid_input_names_the_side() {
        let bad = "kind: Secret\ndata: { k: [unclosed-s3cr3t\n";
        let e = diff_manifests(bad, DEPLOYMENT).unwrap_err();
        assert!(
            e.starts_with("the deployed manifests are not valid YAML"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = diff_manifests(DEPLOYMENT, bad).unwrap_err();
        assert!(
            e.starts_with("the target manifests are not valid YAML"),
            "{e}"
        );
        let e = diff_manifests(DEPLOYMENT, "apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert_eq!(e, "the target manifests: document 1 has no metadata.name");
        let e = diff_manifests("- a list\n", "").unwrap_err();
        assert_eq!(
            e,
            "the deployed manifests: document 1 is not a map of fields"
        );
        let twice = format!("{DEPLOYMENT}---{DEPLOYMENT}");
        let e = diff_manifests(DEPLOYMENT, &twice).unwrap_err();
        assert_eq!(
            e,
            "the target manifests hold Deployment caracal/caracal-caracal-api twice"
        );
    }

    #[test]
    fn long_strings_are_cut_around_their_first_difference() {
        let long = "x".repeat(100);
        assert_eq!(
            shown(&json!(long), false),
            Shown::Value(format!("{}…", "x".repeat(80)))
        );
        let (a, b) = (
            format!("{}A{}", "x".repeat(90), "y".repeat(30)),
            format!("{}B{}", "x".repeat(90), "y".repeat(30)),
        );
        let FieldWhat::Changed {
            from: Shown::Value(from),
            to: Shown::Value(to),
        } = changed(&json!(a), &json!(b), false)
        else {
            panic!("not shown");
        };
        assert!(
            from.starts_with('…') && from.contains('A') && to.contains('B'),
            "{from} {to}"
        );
        assert!(from.chars().count() <= MAX_SHOWN + 2);
        // Strings that would read as something else are quoted; several lines stay on one.
        assert_eq!(text(&json!("3")), "\"3\"");
        assert_eq!(text(&json!("a\nb")), "\"a\\nb\"");
        assert_eq!(text(&json!(3)), "3");
    }
}
