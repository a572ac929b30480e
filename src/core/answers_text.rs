//! Saving answers over an existing file without losing what the operator wrote.
//!
//! An answers file is hand-edited: comments explain choices, fields are grouped, flow
//! mappings keep related values on one line. Re-serialising would lose all of that, so the
//! saver edits the text: it parses the subset of YAML answers files use (block mappings,
//! flow mappings and lists, possibly spanning lines, plain and quoted scalars, comments) with
//! the byte position of every value, and rewrites only the values that changed. New keys go at
//! the end of their mapping, vanished keys are removed, and every full-line comment stays.
//! The result is parsed again and must equal the intended document, or nothing is returned.

use std::ops::Range;

use serde_json::{Map, Value};

use super::answers::Answers;
use super::problem::Problem;
use super::schema;

/// Why a text could not be edited in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditError {
    /// The original is not YAML, or not one mapping.
    Unreadable(String),
    /// The original uses YAML this editor does not rewrite (anchors, tags, multi-line plain
    /// or quoted scalars, block scalars being edited, tabs, CRLF line ends).
    Unsupported(String),
    /// The edited text would not read back as the intended document (a defect here).
    Mismatch,
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Unreadable(why) => write!(f, "the file cannot be read: {why}"),
            EditError::Unsupported(why) => {
                write!(
                    f,
                    "the file uses YAML that cannot be edited in place: {why}"
                )
            }
            EditError::Mismatch => f.write_str("editing the file in place failed"),
        }
    }
}

/// Why saving over an existing answers file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveError {
    /// The file on disk does not validate. It is never rewritten silently: the operator
    /// decides (another path, or [`edit_answers_text`] after confirming).
    InvalidOriginal(Vec<Problem>),
    /// The file could not be edited in place; it is left as it is.
    Edit(EditError),
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveError::InvalidOriginal(problems) => write!(
                f,
                "the existing file has {} problem(s) and is not overwritten: {}",
                problems.len(),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            SaveError::Edit(e) => e.fmt(f),
        }
    }
}

/// The text to write for `answers`: a new file when there is none, else the existing file
/// with only the changed answers edited. A field whose answer did not change keeps exactly
/// what the file said (or left out), so saving unchanged answers returns the file as it is.
pub fn save_text(original: Option<&str>, answers: &Answers) -> Result<String, SaveError> {
    let Some(original) = original else {
        return Ok(answers.to_yaml());
    };
    let before = Answers::from_yaml(original).map_err(SaveError::InvalidOriginal)?;
    if before == *answers {
        return Ok(original.to_string());
    }
    let old_doc: Value = serde_saphyr::from_str(original)
        .map_err(|e| SaveError::Edit(EditError::Unreadable(e.to_string())))?;
    let (old_values, new_values) = (before.to_value(), answers.to_value());
    let mut doc = old_doc.clone();
    for f in schema::FIELDS {
        let (old, new) = (
            schema::get_at(&old_values, f.path),
            schema::get_at(&new_values, f.path),
        );
        if old == new {
            continue;
        }
        let Value::Object(root) = &mut doc else {
            unreachable!("a valid answers file is a mapping")
        };
        match new {
            Some(v) => schema::insert_at(root, f.path, v.clone()),
            None => remove_at(root, f.path),
        }
    }
    edit_answers_text(original, &doc).map_err(SaveError::Edit)
}

/// Removes a dotted path, and the mappings it leaves empty.
fn remove_at(doc: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            doc.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Value::Object(child)) = doc.get_mut(head) {
                remove_at(child, rest);
                if child.is_empty() {
                    doc.remove(head);
                }
            }
        }
    }
}

/// `original` edited so that it reads as `doc`: comments, blank lines, order and the
/// spelling of unchanged values kept; changed scalars replaced where they stand; a changed
/// list rewritten in flow style; new keys appended to their mapping; vanished keys removed.
pub fn edit_answers_text(original: &str, doc: &Value) -> Result<String, EditError> {
    if original.contains('\r') {
        return Err(EditError::Unsupported("CRLF line ends".into()));
    }
    let old: Value = serde_saphyr::from_str(original)
        .map_err(|e| EditError::Unreadable(first_line(&e.to_string()).to_string()))?;
    let mut text = original.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let parsed = Parser::new(&text).document()?;
    let mut edits = Vec::new();
    let step = parsed.step;
    match (&parsed.root, &old, doc) {
        (_, _, Value::Object(new)) if old.is_null() => {
            // Comments only: the answers go after them.
            edits.push(Edit::insert(text.len(), render_block(new, 0, step)));
        }
        (Some(root), Value::Object(old), Value::Object(new)) => {
            let mut ed = Editor {
                text: &text,
                lines: &parsed.lines,
                step,
                edits: &mut edits,
            };
            ed.block_map(root, old, new)?;
        }
        _ => {
            return Err(EditError::Unreadable(
                "expected one mapping of fields".into(),
            ));
        }
    }
    let out = apply(&text, edits)?;
    let again: Value = serde_saphyr::from_str(&out).map_err(|_| EditError::Mismatch)?;
    if again != *doc {
        return Err(EditError::Mismatch);
    }
    Ok(out)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

// ---------------------------------------------------------------- the parsed text

#[derive(Debug)]
enum Node {
    /// A plain or quoted scalar on one line.
    Scalar(Range<usize>),
    FlowMap {
        span: Range<usize>,
        entries: Vec<FlowEntry>,
    },
    FlowSeq(Range<usize>),
    Block(BlockMap),
    /// `key:` and nothing after it.
    Empty,
    /// A block sequence or a block scalar: rewritten whole when it changes. `header` is the
    /// block scalar's indicator on the key line (empty for a sequence).
    Opaque {
        header: Range<usize>,
    },
}

#[derive(Debug)]
struct FlowEntry {
    key: String,
    span: Range<usize>,
    value: Node,
    value_span: Range<usize>,
}

#[derive(Debug)]
struct BlockMap {
    indent: usize,
    entries: Vec<BlockEntry>,
}

#[derive(Debug)]
struct BlockEntry {
    key: String,
    /// Line of the key.
    line: usize,
    /// Byte offset just after the key's colon.
    after_colon: usize,
    value: Node,
    /// The entry's last line holding content (not a comment).
    last_line: usize,
}

struct Document {
    root: Option<BlockMap>,
    lines: Vec<Range<usize>>,
    /// Indentation step of nested mappings (2 unless the file uses another).
    step: usize,
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    /// Each line without its `\n`.
    lines: Vec<Range<usize>>,
    step: Option<usize>,
}

fn unsupported<T>(why: impl Into<String>) -> Result<T, EditError> {
    Err(EditError::Unsupported(why.into()))
}

impl<'t> Parser<'t> {
    fn new(text: &'t str) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                lines.push(start..i);
                start = i + 1;
            }
        }
        Parser {
            text,
            bytes: text.as_bytes(),
            lines,
            step: None,
        }
    }

    fn line(&self, i: usize) -> &'t str {
        &self.text[self.lines[i].clone()]
    }

    fn indent(&self, i: usize) -> usize {
        self.line(i).len() - self.line(i).trim_start_matches(' ').len()
    }

    /// Blank or a full-line comment.
    fn is_filler(&self, i: usize) -> bool {
        let t = self.line(i).trim_start();
        t.is_empty() || t.starts_with('#')
    }

    fn next_content(&self, from: usize) -> Option<usize> {
        (from..self.lines.len()).find(|&i| !self.is_filler(i))
    }

    fn line_of(&self, pos: usize) -> usize {
        self.lines.partition_point(|l| l.end < pos)
    }

    fn document(mut self) -> Result<Document, EditError> {
        let mut first = self.next_content(0);
        if let Some(i) = first {
            let t = self.line(i).trim_end();
            if t == "---" || t.starts_with('%') {
                first = self.next_content(i + 1);
            }
        }
        if let Some(i) = first {
            let t = self.line(i).trim_end();
            if t.starts_with('%') || t == "---" {
                return unsupported("directives");
            }
        }
        let root = match first {
            None => None,
            Some(i) => {
                let indent = self.indent(i);
                let (map, next) = self.block_map(i, indent)?;
                if let Some(j) = self.next_content(next) {
                    let t = self.line(j).trim_end();
                    if t != "..." || self.next_content(j + 1).is_some() {
                        return unsupported(format!("content after the mapping, line {}", j + 1));
                    }
                }
                Some(map)
            }
        };
        Ok(Document {
            root,
            step: self.step.unwrap_or(2),
            lines: self.lines,
        })
    }

    /// Parses the block mapping whose keys start at column `indent`, from line `i`; returns
    /// it and the first line after it.
    fn block_map(&mut self, mut i: usize, indent: usize) -> Result<(BlockMap, usize), EditError> {
        let mut entries = Vec::new();
        loop {
            let Some(j) = self.next_content(i) else {
                i = self.lines.len();
                break;
            };
            let line = self.line(j);
            if line.starts_with('\t') || line[..self.indent(j)].contains('\t') {
                return unsupported(format!("tab indentation, line {}", j + 1));
            }
            let ind = self.indent(j);
            if ind < indent {
                i = j;
                break;
            }
            if ind > indent {
                return unsupported(format!("unexpected indentation, line {}", j + 1));
            }
            let entry = self.block_entry(j, indent)?;
            i = entry.last_line + 1;
            entries.push(entry);
        }
        if entries.is_empty() {
            return unsupported("an empty mapping");
        }
        Ok((BlockMap { indent, entries }, i))
    }

    fn block_entry(&mut self, i: usize, indent: usize) -> Result<BlockEntry, EditError> {
        let start = self.lines[i].start + indent;
        let (key, colon) = self.key(start, self.lines[i].end, false)?;
        let after_colon = colon + 1;
        let rest_start = self.skip_spaces(after_colon);
        let line_end = self.lines[i].end;
        let first = self.bytes.get(rest_start).copied();
        let at_end = rest_start >= line_end || first == Some(b'#');
        if at_end {
            // The value, if any, is on the following lines.
            let Some(j) = self.next_content(i + 1) else {
                return Ok(BlockEntry {
                    key,
                    line: i,
                    after_colon,
                    value: Node::Empty,
                    last_line: i,
                });
            };
            let ind = self.indent(j);
            let t = self.line(j).trim_start();
            let is_item = t == "-" || t.starts_with("- ");
            if is_item && ind >= indent {
                let mut last = j;
                let mut k = j + 1;
                while k < self.lines.len() {
                    if self.is_filler(k) {
                        k += 1;
                        continue;
                    }
                    let ik = self.indent(k);
                    let tk = self.line(k).trim_start();
                    if ik > indent || (ik == indent && (tk == "-" || tk.starts_with("- "))) {
                        last = k;
                        k += 1;
                    } else {
                        break;
                    }
                }
                return Ok(BlockEntry {
                    key,
                    line: i,
                    after_colon,
                    value: Node::Opaque {
                        header: after_colon..after_colon,
                    },
                    last_line: last,
                });
            }
            if ind > indent {
                if self.step.is_none() {
                    self.step = Some(ind - indent);
                }
                let (map, next) = self.block_map(j, ind)?;
                let last_line = map.entries.last().map_or(next - 1, |e| e.last_line);
                return Ok(BlockEntry {
                    key,
                    line: i,
                    after_colon,
                    value: Node::Block(map),
                    last_line,
                });
            }
            return Ok(BlockEntry {
                key,
                line: i,
                after_colon,
                value: Node::Empty,
                last_line: i,
            });
        }
        let (value, end) = match first {
            Some(b'{' | b'[') => self.flow(rest_start)?,
            Some(b'|' | b'>') => {
                let mut last = i;
                let mut k = i + 1;
                while k < self.lines.len() && (self.is_filler(k) || self.indent(k) > indent) {
                    if !self.line(k).trim().is_empty() && self.indent(k) > indent {
                        last = k;
                    }
                    k += 1;
                }
                let header_end = self.scalar_end(rest_start, false)?;
                return Ok(BlockEntry {
                    key,
                    line: i,
                    after_colon,
                    value: Node::Opaque {
                        header: rest_start..header_end,
                    },
                    last_line: last,
                });
            }
            Some(b'&' | b'*' | b'!') => {
                return unsupported(format!("anchors, aliases or tags, line {}", i + 1));
            }
            _ => {
                let end = self.scalar_end(rest_start, false)?;
                (Node::Scalar(rest_start..end), end)
            }
        };
        let last_line = self.line_of(end);
        let after = self.skip_spaces(end);
        let line_end = self.lines[last_line].end;
        if after < line_end && self.bytes[after] != b'#' {
            return unsupported(format!("text after a value, line {}", last_line + 1));
        }
        if let Some(j) = self.next_content(last_line + 1)
            && self.indent(j) > indent
        {
            return unsupported(format!("a value continued on line {}", j + 1));
        }
        Ok(BlockEntry {
            key,
            line: i,
            after_colon,
            value,
            last_line,
        })
    }

    fn skip_spaces(&self, mut pos: usize) -> usize {
        while pos < self.bytes.len() && self.bytes[pos] == b' ' {
            pos += 1;
        }
        pos
    }

    /// Skips spaces, line breaks and comments inside a flow collection.
    fn skip_flow_space(&self, mut pos: usize) -> usize {
        loop {
            match self.bytes.get(pos) {
                Some(b' ' | b'\n' | b'\t') => pos += 1,
                Some(b'#') if pos == 0 || matches!(self.bytes[pos - 1], b' ' | b'\n' | b'\t') => {
                    while pos < self.bytes.len() && self.bytes[pos] != b'\n' {
                        pos += 1;
                    }
                }
                _ => return pos,
            }
        }
    }

    /// A mapping key from `start`: its text and the offset of its colon.
    fn key(&self, start: usize, limit: usize, flow: bool) -> Result<(String, usize), EditError> {
        let line = self.line_of(start) + 1;
        match self.bytes.get(start) {
            Some(b'"' | b'\'') => {
                let end = self.quoted_end(start)?;
                let key = self.unquote(start..end)?;
                let colon = self.skip_spaces(end);
                if self.bytes.get(colon) != Some(&b':') {
                    return unsupported(format!("a quoted key without a colon, line {line}"));
                }
                Ok((key, colon))
            }
            Some(b'?' | b'-' | b'[' | b'{' | b'&' | b'*' | b'!' | b'|' | b'>') => {
                unsupported(format!("a complex key, line {line}"))
            }
            _ => {
                let mut pos = start;
                while pos < limit {
                    let b = self.bytes[pos];
                    let next = self.bytes.get(pos + 1).copied();
                    if b == b':' && matches!(next, None | Some(b' ' | b'\n' | b'\t'))
                        || (flow && b == b':' && matches!(next, Some(b',' | b'}' | b']')))
                    {
                        let key = self.text[start..pos].trim_end().to_string();
                        if key == "<<" {
                            return unsupported(format!("a merge key, line {line}"));
                        }
                        return Ok((key, pos));
                    }
                    if b == b'#' && pos > start && self.bytes[pos - 1] == b' ' {
                        break;
                    }
                    if flow && matches!(b, b',' | b'}' | b']' | b'{' | b'[') {
                        break;
                    }
                    pos += 1;
                }
                unsupported(format!("a line that is not `key: value`, line {line}"))
            }
        }
    }

    /// The end (exclusive) of a quoted scalar starting at `start`, on one line.
    fn quoted_end(&self, start: usize) -> Result<usize, EditError> {
        let quote = self.bytes[start];
        let mut pos = start + 1;
        while pos < self.bytes.len() && self.bytes[pos] != b'\n' {
            let b = self.bytes[pos];
            if quote == b'"' && b == b'\\' {
                pos += 2;
                continue;
            }
            if b == quote {
                if quote == b'\'' && self.bytes.get(pos + 1) == Some(&b'\'') {
                    pos += 2;
                    continue;
                }
                return Ok(pos + 1);
            }
            pos += 1;
        }
        unsupported(format!(
            "a quoted value spanning lines, line {}",
            self.line_of(start) + 1
        ))
    }

    fn unquote(&self, span: Range<usize>) -> Result<String, EditError> {
        let s = &self.text[span];
        let v: Value = serde_saphyr::from_str(&format!("k: {s}\n"))
            .map_err(|e| EditError::Unreadable(e.to_string()))?;
        match v.get("k") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => unsupported(format!("the key {s}")),
        }
    }

    /// The end (exclusive) of a scalar value starting at `start`.
    fn scalar_end(&self, start: usize, flow: bool) -> Result<usize, EditError> {
        if matches!(self.bytes.get(start), Some(b'"' | b'\'')) {
            return self.quoted_end(start);
        }
        let mut pos = start;
        while pos < self.bytes.len() {
            let b = self.bytes[pos];
            let next = self.bytes.get(pos + 1).copied();
            if b == b'\n' || (b == b'#' && pos > start && self.bytes[pos - 1] == b' ') {
                break;
            }
            if flow
                && (matches!(b, b',' | b'}' | b']' | b'{' | b'[')
                    || (b == b':'
                        && matches!(next, None | Some(b' ' | b'\n' | b',' | b'}' | b']'))))
            {
                break;
            }
            pos += 1;
        }
        let end = start + self.text[start..pos].trim_end().len();
        if end == start {
            return unsupported(format!("an empty value, line {}", self.line_of(start) + 1));
        }
        Ok(end)
    }

    /// A flow mapping or list at `start`; the node and its end (exclusive).
    fn flow(&self, start: usize) -> Result<(Node, usize), EditError> {
        let open = self.bytes[start];
        let close = if open == b'{' { b'}' } else { b']' };
        let mut pos = self.skip_flow_space(start + 1);
        let mut entries = Vec::new();
        loop {
            match self.bytes.get(pos) {
                None => return unsupported("an unclosed flow collection"),
                Some(&b) if b == close => break,
                _ => {}
            }
            let entry_start = pos;
            let (key, value_start) = if open == b'{' {
                let (key, colon) = self.key(pos, self.bytes.len(), true)?;
                (Some(key), self.skip_flow_space(colon + 1))
            } else {
                (None, pos)
            };
            let (value, end) = match self.bytes.get(value_start) {
                Some(b'{' | b'[') => self.flow(value_start)?,
                Some(b'&' | b'*' | b'!' | b'|' | b'>') => {
                    return unsupported("anchors, tags or block scalars in a flow collection");
                }
                _ => {
                    let end = self.scalar_end(value_start, true)?;
                    (Node::Scalar(value_start..end), end)
                }
            };
            if let Some(key) = key {
                entries.push(FlowEntry {
                    key,
                    span: entry_start..end,
                    value,
                    value_span: value_start..end,
                });
            }
            pos = self.skip_flow_space(end);
            match self.bytes.get(pos) {
                Some(b',') => pos = self.skip_flow_space(pos + 1),
                Some(&b) if b == close => break,
                _ => {
                    return unsupported(format!(
                        "unexpected text in a flow collection, line {}",
                        self.line_of(pos) + 1
                    ));
                }
            }
        }
        let span = start..pos + 1;
        let node = if open == b'{' {
            Node::FlowMap {
                span: span.clone(),
                entries,
            }
        } else {
            Node::FlowSeq(span.clone())
        };
        Ok((node, span.end))
    }
}

// ---------------------------------------------------------------- edits

#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    text: String,
}

impl Edit {
    fn insert(at: usize, text: String) -> Edit {
        Edit {
            range: at..at,
            text,
        }
    }
}

fn apply(text: &str, mut edits: Vec<Edit>) -> Result<String, EditError> {
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    for pair in edits.windows(2) {
        if pair[1].range.start < pair[0].range.end {
            return Err(EditError::Mismatch);
        }
    }
    // Back to front, so that earlier offsets stay valid; at one offset a removal goes before
    // an insertion there, so the insertion is not removed with it.
    let mut out = text.to_string();
    for e in edits.iter().rev() {
        out.replace_range(e.range.clone(), &e.text);
    }
    Ok(out)
}

struct Editor<'a> {
    text: &'a str,
    lines: &'a [Range<usize>],
    step: usize,
    edits: &'a mut Vec<Edit>,
}

fn same_keys(
    found: impl Iterator<Item = String>,
    old: &Map<String, Value>,
) -> Result<(), EditError> {
    let mut found: Vec<String> = found.collect();
    let mut expected: Vec<String> = old.keys().cloned().collect();
    found.sort();
    expected.sort();
    if found != expected {
        return unsupported("keys the editor could not match (duplicates, merges or aliases)");
    }
    Ok(())
}

impl Editor<'_> {
    fn line_text(&self, i: usize) -> &str {
        &self.text[self.lines[i].clone()]
    }

    fn is_filler(&self, i: usize) -> bool {
        let t = self.line_text(i).trim_start();
        t.is_empty() || t.starts_with('#')
    }

    fn whole_line(&self, i: usize) -> Range<usize> {
        self.lines[i].start..self.lines[i].end + 1
    }

    fn block_map(
        &mut self,
        map: &BlockMap,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<(), EditError> {
        same_keys(map.entries.iter().map(|e| e.key.clone()), old)?;
        for entry in &map.entries {
            match new.get(&entry.key) {
                None => {
                    // The entry's lines go; comments among them stay.
                    for i in entry.line..=entry.last_line {
                        if i == entry.line || !self.is_filler(i) {
                            self.edits.push(Edit {
                                range: self.whole_line(i),
                                text: String::new(),
                            });
                        }
                    }
                }
                Some(value) => self.block_value(entry, map.indent, &old[&entry.key], value)?,
            }
        }
        let added: Vec<(&String, &Value)> =
            new.iter().filter(|(k, _)| !old.contains_key(*k)).collect();
        if !added.is_empty() {
            let last = map.entries.last().expect("a parsed mapping has entries");
            let at = self.lines[last.last_line].end + 1;
            let mut text = String::new();
            for (k, v) in added {
                text.push_str(&block_entry_text(k, v, map.indent, self.step));
            }
            self.edits.push(Edit::insert(at, text));
        }
        Ok(())
    }

    fn block_value(
        &mut self,
        entry: &BlockEntry,
        indent: usize,
        old: &Value,
        new: &Value,
    ) -> Result<(), EditError> {
        if old == new {
            return Ok(());
        }
        match (&entry.value, old, new) {
            (Node::Block(map), Value::Object(o), Value::Object(n)) if !n.is_empty() => {
                self.block_map(map, o, n)
            }
            (Node::FlowMap { span, entries }, Value::Object(o), Value::Object(n)) => {
                self.flow_map(span, entries, o, n)
            }
            (Node::Scalar(span), _, n) if is_scalar(n) => {
                self.replace_scalar(span.clone(), &scalar_text(n, false));
                Ok(())
            }
            (Node::Scalar(span) | Node::FlowSeq(span) | Node::FlowMap { span, .. }, _, n) => {
                self.edits.push(Edit {
                    range: span.clone(),
                    text: inline_text(n),
                });
                Ok(())
            }
            (Node::Block(_) | Node::Opaque { .. } | Node::Empty, _, n) => {
                // The value's lines go (comment lines among them stay); the new value takes
                // the key line, before its comment, or the lines after it.
                for i in entry.line + 1..=entry.last_line {
                    if !self.is_filler(i) {
                        self.edits.push(Edit {
                            range: self.whole_line(i),
                            text: String::new(),
                        });
                    }
                }
                match n {
                    Value::Object(m) if !m.is_empty() => {
                        let body = render_block(m, indent + self.step, self.step);
                        let at = self.lines[entry.line].end;
                        self.edits.push(Edit::insert(
                            at,
                            format!("\n{}", body.trim_end_matches('\n')),
                        ));
                        if let Node::Opaque { header } = &entry.value
                            && !header.is_empty()
                        {
                            self.edits.push(Edit {
                                range: header.clone(),
                                text: String::new(),
                            });
                        }
                    }
                    n => match &entry.value {
                        Node::Opaque { header } if !header.is_empty() => {
                            self.edits.push(Edit {
                                range: header.clone(),
                                text: inline_text(n),
                            });
                        }
                        _ => self.edits.push(Edit::insert(
                            entry.after_colon,
                            format!(" {}", inline_text(n)),
                        )),
                    },
                }
                Ok(())
            }
        }
    }

    /// Replaces a scalar in place; a trailing comment keeps its column where it can.
    fn replace_scalar(&mut self, span: Range<usize>, text: &str) {
        let bytes = self.text.as_bytes();
        let mut gap_end = span.end;
        while gap_end < bytes.len() && bytes[gap_end] == b' ' {
            gap_end += 1;
        }
        if gap_end > span.end && bytes.get(gap_end) == Some(&b'#') {
            let old_width = self.text[span.start..gap_end].chars().count();
            let pad = old_width.saturating_sub(text.chars().count()).max(1);
            self.edits.push(Edit {
                range: span.start..gap_end,
                text: format!("{text}{}", " ".repeat(pad)),
            });
        } else {
            self.edits.push(Edit {
                range: span,
                text: text.to_string(),
            });
        }
    }

    fn flow_map(
        &mut self,
        span: &Range<usize>,
        entries: &[FlowEntry],
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<(), EditError> {
        same_keys(entries.iter().map(|e| e.key.clone()), old)?;
        let kept: Vec<usize> = (0..entries.len())
            .filter(|&i| new.contains_key(&entries[i].key))
            .collect();
        if kept.is_empty() {
            self.edits.push(Edit {
                range: span.clone(),
                text: inline_text(&Value::Object(new.clone())),
            });
            return Ok(());
        }
        // Runs of removed entries: up to the next kept entry, or from the last kept one.
        let mut i = 0;
        while i < entries.len() {
            if new.contains_key(&entries[i].key) {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < entries.len() && !new.contains_key(&entries[i].key) {
                i += 1;
            }
            let range = if i < entries.len() {
                entries[run_start].span.start..entries[i].span.start
            } else {
                entries[run_start - 1].span.end..entries[i - 1].span.end
            };
            self.edits.push(Edit {
                range,
                text: String::new(),
            });
        }
        for &k in &kept {
            let e = &entries[k];
            let (o, n) = (&old[&e.key], &new[&e.key]);
            if o == n {
                continue;
            }
            match (&e.value, o, n) {
                (Node::FlowMap { span, entries }, Value::Object(o), Value::Object(n)) => {
                    self.flow_map(span, entries, o, n)?
                }
                _ => self.edits.push(Edit {
                    range: e.value_span.clone(),
                    text: inline_text(n),
                }),
            }
        }
        let added: Vec<String> = new
            .iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .map(|(k, v)| {
                format!(
                    ", {}: {}",
                    scalar_text(&Value::String(k.clone()), true),
                    inline_text(v)
                )
            })
            .collect();
        if !added.is_empty() {
            let last = &entries[*kept.last().expect("not empty")];
            self.edits.push(Edit::insert(last.span.end, added.concat()));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- rendering values

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A value on one line: scalars as themselves, collections in flow style.
fn inline_text(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(inline_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    scalar_text(&Value::String(k.clone()), true),
                    inline_text(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar_text(scalar, true),
    }
}

/// `key: value` lines of a mapping at `indent`, each ending in a line break.
fn render_block(m: &Map<String, Value>, indent: usize, step: usize) -> String {
    m.iter()
        .map(|(k, v)| block_entry_text(k, v, indent, step))
        .collect()
}

fn block_entry_text(key: &str, v: &Value, indent: usize, step: usize) -> String {
    let pad = " ".repeat(indent);
    let key = scalar_text(&Value::String(key.to_string()), false);
    match v {
        Value::Object(m) if !m.is_empty() => {
            format!("{pad}{key}:\n{}", render_block(m, indent + step, step))
        }
        Value::Array(_) | Value::Object(_) => format!("{pad}{key}: {}\n", inline_text(v)),
        scalar => format!("{pad}{key}: {}\n", scalar_text(scalar, false)),
    }
}

/// A scalar as YAML: plain when it reads back as the same string, else double-quoted.
fn scalar_text(v: &Value, flow: bool) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_is_safe(s, flow) => s.clone(),
        Value::String(s) => serde_json::to_string(s).expect("a string serializes"),
        Value::Array(_) | Value::Object(_) => inline_text(v),
    }
}

fn plain_is_safe(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s
        || s.chars().any(|c| c.is_control())
        || "-?:,[]{}#&*!|>'\"%@`~".contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || (flow && s.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    // What YAML would make of it (a number, a boolean, null) is the parser's call.
    let probe = if flow {
        format!("{{k: {s}}}\n")
    } else {
        format!("k: {s}\n")
    };
    matches!(
        serde_saphyr::from_str::<Value>(&probe),
        Ok(Value::Object(m)) if m.get("k") == Some(&Value::String(s.to_string()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(original: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut doc: Value = serde_saphyr::from_str(original).unwrap();
        change(&mut doc);
        edit_answers_text(original, &doc).unwrap_or_else(|e| panic!("{e}: {original}"))
    }

    #[test]
    fn a_changed_scalar_keeps_the_comment_column() {
        let text = "a: 1\nprefix: caracal              # remote names\nb: x\n";
        let out = edit(text, |d| d["prefix"] = json!("prod"));
        assert_eq!(
            out,
            "a: 1\nprefix: prod                 # remote names\nb: x\n"
        );
    }

    #[test]
    fn scalars_in_a_two_line_flow_mapping_are_edited_in_place() {
        let text = "postgres: { host: db, port: 5432,\n            username: caracal, password: generate }  # pg\nx: 1\n";
        let out = edit(text, |d| {
            d["postgres"]["password"] = json!("env:PG");
            d["postgres"]["port"] = json!(6432);
        });
        assert_eq!(
            out,
            "postgres: { host: db, port: 6432,\n            username: caracal, password: env:PG }  # pg\nx: 1\n"
        );
    }

    #[test]
    fn flow_entries_are_added_and_removed() {
        let text = "hosts: { sts: a.b, gateway: g.b, api: c.d,\n         web: w.b }\n";
        let out = edit(text, |d| {
            d["hosts"].as_object_mut().unwrap().remove("api");
            d["hosts"].as_object_mut().unwrap().remove("web");
            d["hosts"]["new"] = json!("n.b");
        });
        assert_eq!(out, "hosts: { sts: a.b, gateway: g.b, new: n.b }\n");
    }

    #[test]
    fn new_keys_go_at_the_end_of_their_mapping_with_its_indentation() {
        let text = "# head\nsecretManager:\n    region: us-east-1\n    prefix: caracal   # p\n# between\npostgres: {host: x}\n";
        let out = edit(text, |d| {
            d["secretManager"]["endpoint"] = json!("https://e.example");
            d["extra"] = json!({ "a": { "b": [1, 2] } });
        });
        assert_eq!(
            out,
            "# head\nsecretManager:\n    region: us-east-1\n    prefix: caracal   # p\n    endpoint: https://e.example\n# between\npostgres: {host: x}\nextra:\n    a:\n        b: [1, 2]\n"
        );
    }

    #[test]
    fn removed_keys_go_and_their_comment_lines_stay() {
        let text = "a: 1\nsection:\n  # about x\n  x: 1  # trailing\n  y: 2\nb: 2\n";
        let out = edit(text, |d| {
            d.as_object_mut().unwrap().remove("section");
        });
        assert_eq!(out, "a: 1\n  # about x\nb: 2\n");
    }

    #[test]
    fn values_that_need_quotes_get_them() {
        for s in [
            "yes",
            "true",
            "123",
            "1.0",
            "null",
            "~",
            "a: b",
            "x #y",
            "#c",
            "- d",
            "{e}",
            "",
            " pad",
            "multi\nline",
            "it's",
            "@at",
            "f,g",
        ] {
            let text = "k: plain\nf: {k: plain}\n";
            let out = edit(text, |d| {
                d["k"] = json!(s);
                d["f"]["k"] = json!(s);
            });
            let back: Value = serde_saphyr::from_str(&out).unwrap();
            assert_eq!(back["k"], json!(s), "{out}");
            assert_eq!(back["f"]["k"], json!(s), "{out}");
        }
    }

    #[test]
    fn a_changed_list_is_rewritten_in_flow_style_with_its_comment() {
        let text = "dnsEgress: [10.0.0.10/32]     # dns\nlist:\n  - a\n  # c\n  - b\nz: 1\n";
        let out = edit(text, |d| {
            d["dnsEgress"] = json!(["10.0.0.10/32", "10.0.0.11/32"]);
            d["list"] = json!(["a"]);
        });
        assert_eq!(
            out,
            "dnsEgress: [10.0.0.10/32, 10.0.0.11/32]     # dns\nlist: [a]\n  # c\nz: 1\n"
        );
    }

    #[test]
    fn unsupported_yaml_is_refused_not_mangled() {
        let doc = json!({ "a": "x" });
        for text in [
            "a: &x 1\n",
            "a: \"x\n  y\"\n",
            "a: x\n  continued\n",
            "- a\n",
        ] {
            assert!(edit_answers_text(text, &doc).is_err(), "{text}");
        }
        // A block scalar is left alone while it does not change, and replaced when it does.
        let text = "a: x\nb: |  # note\n  keep\n";
        let mut doc: Value = serde_saphyr::from_str(text).unwrap();
        doc["a"] = json!("z");
        assert_eq!(
            edit_answers_text(text, &doc).unwrap(),
            "a: z\nb: |  # note\n  keep\n"
        );
        doc["b"] = json!("new");
        assert_eq!(
            edit_answers_text(text, &doc).unwrap(),
            "a: z\nb: new  # note\n"
        );
    }
}
