//! The shape of src/, checked: no import cycle between its files, no file
//! over 600 lines, and every file opening with a `//!` paragraph.
//!
//! A file depends on another when its code names a module there: `use
//! crate::…` items (grouped forms too), inline `crate::a::b(…)` paths,
//! `super::` paths (resolved from the file's module, inline `mod x { … }`
//! blocks included) and `self::` paths. A path resolves to the longest
//! existing file: `crate::http::head::Head` to src/http/head.rs, else to
//! src/http.rs or src/http/mod.rs. Only edges leaving a file's own subtree
//! count: `mod child;` and a parent's `pub use child::X` do not, so a
//! folder's mod.rs re-exporting its children is no cycle by itself, while
//! a file importing a sibling or its parent is an edge. (The price: a
//! cycle that runs through such a re-export is not seen.) Code under
//! `#[cfg(test)]` may import anything and is skipped; so are comments and
//! string and char literals. lib.rs and main.rs (and src/bin/*) are roots:
//! their lines are printed but their edges take no part in cycles.
//!
//! `make layout` runs this with `--nocapture`, printing one line per file,
//! `src/x.rs -> src/a.rs, src/b/c.rs`, then every problem found. Std only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The longest a file under src/ may be.
const MAX_LINES: usize = 600;

// ------------------------------------------------------------ lexing

/// `src` with every comment and every string, byte-string, raw-string and
/// char literal blanked to spaces (newlines kept, so lines still count).
fn blank_comments_and_literals(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let mut i = 0;
    while i < b.len() {
        let at_word_start = i == 0 || !ident(b[i - 1]);
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(end) = at_word_start.then(|| raw_string_end(b, i)).flatten() {
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' || (at_word_start && matches!(b[i..], [b'b' | b'c', b'"', ..])) {
            let mut j = i + if b[i] == b'"' { 1 } else { 2 };
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if b[i] == b'\'' {
            i = match char_literal_end(src, i) {
                Some(end) => {
                    blank(&mut out, i, end);
                    end
                }
                None => i + 1, // a lifetime or a label
            };
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("only whole characters are blanked")
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br…`, `cr…`) starting at `i`
/// ends, if one starts there.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(b.get(j), Some(b'b' | b'c')) {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let rest = b[j + 1..].windows(close.len()).position(|w| w == close)?;
    Some(j + 1 + rest + close.len())
}

/// Where a char literal starting at byte `i` (a `'`) ends; `None` when the
/// quote starts a lifetime or a label instead.
fn char_literal_end(src: &str, i: usize) -> Option<usize> {
    let mut chars = src[i + 1..].char_indices();
    let (_, first) = chars.next()?;
    if first == '\\' {
        // An escape: `'\n'`, `'\''`, `'\u{1F600}'`: skip the escaped
        // character, then up to the closing quote.
        chars.next()?;
        let (n, _) = chars.find(|&(_, c)| c == '\'')?;
        return Some(i + 1 + n + 1);
    }
    match chars.next() {
        Some((n, '\'')) => Some(i + 1 + n + 1),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

fn tokens(code: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = code.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = it.peek() {
                if !(d.is_alphanumeric() || d == '_') {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
            let word = &code[i..end];
            // A raw identifier, `r#type`, is the identifier `type`.
            if word == "r" && code[end..].starts_with('#') {
                it.next();
                continue;
            }
            if !word.starts_with(|d: char| d.is_ascii_digit()) {
                out.push(Tok::Ident(word.to_string()));
            }
        } else if c == ':' && it.peek().is_some_and(|&(_, d)| d == ':') {
            it.next();
            out.push(Tok::Sep);
        } else {
            out.push(Tok::Punct(c));
        }
    }
    out
}

// ------------------------------------------------------------ paths

fn is(t: Option<&Tok>, c: char) -> bool {
    t == Some(&Tok::Punct(c))
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The index just past the bracketed group opening at `i`.
fn skip_group(t: &[Tok], i: usize) -> usize {
    let mut depth = 0i32;
    let mut j = i;
    while j < t.len() {
        match t[j] {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

/// The index just past the item starting at `i`: its `;` or its `{…}`
/// block, whichever closes it first; or the `}` that closes what holds it.
fn skip_item(t: &[Tok], mut i: usize) -> usize {
    while t.get(i) == Some(&Tok::Punct('#')) {
        i = skip_group(t, i + 1 + usize::from(is(t.get(i + 1), '!')));
    }
    while i < t.len() {
        match t[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return skip_group(t, i),
            Tok::Punct('(' | '[') => i = skip_group(t, i),
            Tok::Punct(')' | ']' | '}') => return i,
            _ => i += 1,
        }
    }
    i
}

/// Whether the attribute opening at `i` (its `#`) is `#[cfg(test)]`
/// (or `#![cfg(test)]`); returns the index past it.
fn attribute(t: &[Tok], i: usize) -> (bool, usize) {
    let open = i + 1 + usize::from(is(t.get(i + 1), '!'));
    let end = skip_group(t, open);
    let inner = &t[open + 1..end.saturating_sub(1).max(open + 1)];
    let cfg_test = inner
        == [
            Tok::Ident("cfg".into()),
            Tok::Punct('('),
            Tok::Ident("test".into()),
            Tok::Punct(')'),
        ];
    (cfg_test, end)
}

/// The paths of a use tree starting at `i`, each appended to `prefix`;
/// returns the index past the tree.
fn use_tree(t: &[Tok], mut i: usize, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    loop {
        match t.get(i) {
            Some(Tok::Sep) => i += 1,
            Some(Tok::Ident(name)) => {
                path.push(name.clone());
                i += 1;
                if t.get(i) == Some(&Tok::Sep) {
                    i += 1;
                    continue;
                }
                if ident(t.get(i)) == Some("as") {
                    i += 2;
                }
                out.push(path);
                return i;
            }
            Some(Tok::Punct('*')) => {
                out.push(path);
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while i < t.len() && !is(t.get(i), '}') {
                    i = use_tree(t, i, &path, out);
                    if is(t.get(i), ',') {
                        i += 1;
                    }
                }
                return i + 1;
            }
            _ => return i,
        }
    }
}

/// The crate-relative module paths named in `src`, the code of module
/// `module` (crate-relative), outside `#[cfg(test)]` code, in the order
/// they appear. `lib` is the library's crate name, which the binary's
/// paths start with. A `use` path that starts with a plain name is taken
/// as relative to the module: it names a child there, or else an item or
/// another crate, which resolves to the file itself and adds no edge.
/// Also returns the children declared `#[cfg(test)] mod x;`.
fn referenced_paths(src: &str, module: &[String], lib: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let t = tokens(&blank_comments_and_literals(src));
    let mut found = Vec::new();
    let mut test_children = Vec::new();
    // Inline modules we are in: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        let here = || {
            let mut m = module.to_vec();
            m.extend(inline.iter().map(|(n, _)| n.clone()));
            m
        };
        match &t[i] {
            Tok::Punct('#') if is(t.get(i + 1), '[') || is(t.get(i + 1), '!') => {
                let (cfg_test, end) = attribute(&t, i);
                if !cfg_test {
                    i = end;
                } else if is(t.get(i + 1), '!') && depth == 0 && inline.is_empty() {
                    // `#![cfg(test)]`: the whole file is test code.
                    return (Vec::new(), test_children);
                } else {
                    let item_end = skip_item(&t, end);
                    let item = &t[end..item_end];
                    if let [.., Tok::Ident(m), Tok::Ident(name), Tok::Punct(';')] = item
                        && m == "mod"
                    {
                        test_children.push(name.clone());
                    }
                    i = item_end;
                }
            }
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(name), true) = (ident(t.get(i + 1)), is(t.get(i + 2), '{')) {
                    inline.push((name.to_string(), depth + 1));
                }
                i += 1;
            }
            Tok::Ident(w) if w == "use" => {
                let mut raw = Vec::new();
                i = use_tree(&t, i + 1, &[], &mut raw);
                for p in raw {
                    found.extend(absolute(&p, &here(), lib, true));
                }
            }
            Tok::Ident(w)
                if t.get(i + 1) == Some(&Tok::Sep)
                    && (w == "crate" || w == "super" || w == "self" || w == lib)
                    && ident(i.checked_sub(1).and_then(|k| t.get(k))) != Some("in") =>
            {
                // An inline path: words joined by `::`.
                let mut p = vec![w.clone()];
                let mut j = i + 1;
                while t.get(j) == Some(&Tok::Sep) {
                    match ident(t.get(j + 1)) {
                        Some(s) => p.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                found.extend(absolute(&p, &here(), lib, false));
                i = j;
            }
            _ => i += 1,
        }
    }
    (found, test_children)
}

/// `path` as written in module `here`, made crate-relative; `None` for a
/// path that does not lead into this crate.
fn absolute(path: &[String], here: &[String], lib: &str, in_use: bool) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest) = if first == "crate" || first == lib {
        (Vec::new(), &path[1..])
    } else if first == "super" {
        let ups = path.iter().take_while(|s| *s == "super").count();
        let mut m = here.to_vec();
        for _ in 0..ups {
            m.pop()?;
        }
        (m, &path[ups..])
    } else if first == "self" {
        (here.to_vec(), &path[1..])
    } else if in_use {
        (here.to_vec(), path)
    } else {
        return None;
    };
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

// ------------------------------------------------------------ the tree

struct File {
    /// Relative to src/, with `/` separators.
    name: String,
    module: Vec<String>,
    root: bool,
    text: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file under src/ holds, and whether it is a crate root.
fn module_of(name: &str) -> (Vec<String>, bool) {
    let stem = name.strip_suffix(".rs").unwrap_or(name);
    if stem == "lib" || stem == "main" || stem.starts_with("bin/") {
        return (Vec::new(), true);
    }
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    (stem.split('/').map(String::from).collect(), false)
}

fn load(src: &Path) -> Vec<File> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let (module, root) = module_of(&name);
            let text = std::fs::read_to_string(&p).unwrap();
            File {
                name,
                module,
                root,
                text,
            }
        })
        .collect()
}

/// For each file, the files it depends on (see the top of this file).
fn dependencies(files: &[File], lib: &str) -> BTreeMap<String, BTreeSet<String>> {
    let by_module: BTreeMap<&[String], &str> = files
        .iter()
        .filter(|f| !f.root || f.name == "lib.rs")
        .map(|f| (f.module.as_slice(), f.name.as_str()))
        .collect();
    let resolve = |p: &[String]| {
        (0..=p.len())
            .rev()
            .find_map(|k| by_module.get(&p[..k]).copied())
    };
    let mut test_only: Vec<Vec<String>> = Vec::new();
    let mut deps = BTreeMap::new();
    for f in files {
        let (paths, test_children) = referenced_paths(&f.text, &f.module, lib);
        test_only.extend(test_children.into_iter().map(|c| {
            let mut m = f.module.clone();
            m.push(c);
            m
        }));
        let mut to = BTreeSet::new();
        for p in paths {
            let Some(target) = resolve(&p) else { continue };
            let (target_module, _) = module_of(target);
            let inside = target_module.starts_with(&f.module);
            // A root's own names (and other crates') land on the crate
            // root; everything else it names is listed.
            let skip = if f.root {
                target_module.is_empty()
            } else {
                inside
            };
            if target != f.name && !skip {
                to.insert(target.to_string());
            }
        }
        deps.insert(f.name.clone(), to);
    }
    // Files of `#[cfg(test)] mod x;` children are test code throughout.
    deps.retain(|name, _| {
        let (m, _) = module_of(name);
        !test_only.iter().any(|t| m.starts_with(t))
    });
    deps
}

// ------------------------------------------------------------ cycles

/// Tarjan's strongly connected components of `g`.
fn components(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.g.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut c = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                c.push(w.to_string());
                if w == v {
                    break;
                }
            }
            c.sort();
            s.out.push(c);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// Every elementary cycle inside `component`, each starting at its
/// smallest file and ending where it started (at most `limit`).
fn cycles_in(
    g: &BTreeMap<String, BTreeSet<String>>,
    component: &[String],
    limit: usize,
) -> Vec<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        allowed: &BTreeSet<&str>,
        path: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
        limit: usize,
    ) {
        let start = path[0].clone();
        let last = path.last().unwrap().clone();
        for w in g.get(&last).into_iter().flatten() {
            if out.len() >= limit {
                return;
            }
            if *w == start {
                let mut c = path.clone();
                c.push(start.clone());
                out.push(c);
            } else if allowed.contains(w.as_str()) && !path.contains(w) {
                path.push(w.clone());
                walk(g, allowed, path, out, limit);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for (k, start) in component.iter().enumerate() {
        // Cycles through `start` and files after it only: each cycle is
        // found once, from its smallest file.
        let allowed: BTreeSet<&str> = component[k + 1..].iter().map(String::as_str).collect();
        walk(g, &allowed, &mut vec![start.clone()], &mut out, limit);
    }
    out
}

// ------------------------------------------------------------ the check

#[test]
fn src_layout() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = env!("CARGO_PKG_NAME").replace('-', "_");
    let files = load(&src);
    let deps = dependencies(&files, &lib);
    let mut problems = Vec::new();
    let roots: Vec<String> = files
        .iter()
        .filter(|f| f.root)
        .map(|f| format!("src/{}", f.name))
        .collect();
    println!(
        "\nroots (their edges take no part in cycles): {}",
        roots.join(", ")
    );
    for f in &files {
        match deps.get(&f.name) {
            None => println!("src/{} -> (test code only)", f.name),
            Some(to) if to.is_empty() => println!("src/{} -> (none)", f.name),
            Some(to) => {
                let list: Vec<String> = to.iter().map(|t| format!("src/{t}")).collect();
                println!("src/{} -> {}", f.name, list.join(", "));
            }
        }
        let lines = f.text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "src/{} has {lines} lines (at most {MAX_LINES})",
                f.name
            ));
        }
        if !f.text.starts_with("//!") {
            problems.push(format!(
                "src/{} does not open with a `//!` paragraph",
                f.name
            ));
        }
    }
    // Roots may name everything: their edges take no part in cycles.
    let graph: BTreeMap<String, BTreeSet<String>> = deps
        .iter()
        .filter(|(name, _)| !module_of(name).1)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    const MAX_CYCLES: usize = 50;
    for c in components(&graph).into_iter().filter(|c| c.len() > 1) {
        let cycles = cycles_in(&graph, &c, MAX_CYCLES);
        if cycles.len() == MAX_CYCLES {
            problems.push(format!(
                "import cycle: the first {MAX_CYCLES} only, among {}",
                c.join(", ")
            ));
        }
        for cycle in cycles {
            problems.push(format!("import cycle: {}", cycle.join(" -> ")));
        }
    }
    problems.sort_by_key(|p| !p.starts_with("import cycle"));
    let mut report = String::new();
    for p in &problems {
        let _ = writeln!(report, "  {p}");
    }
    println!();
    assert!(
        problems.is_empty(),
        "src/ layout: {} problems:\n{report}",
        problems.len()
    );
}

// ------------------------------------------------------------ the parts

fn paths(src: &str, module: &[&str]) -> Vec<String> {
    let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
    referenced_paths(src, &module, "smolproxy")
        .0
        .into_iter()
        .map(|p| p.join("::"))
        .collect()
}

#[test]
fn path_extraction() {
    let cases: &[(&str, &[&str], &str, &[&str])] = &[
        (
            "a plain use",
            &["conn"],
            "use crate::server::Shared;",
            &["server::Shared"],
        ),
        (
            "grouped, nested, self and renames",
            &["conn"],
            "pub(crate) use crate::{http::{self, Head as H}, logger::{self, Access}, auth};",
            &["http", "http::Head", "logger", "logger::Access", "auth"],
        ),
        (
            "an inline path, a turbofish and a macro's $crate",
            &["forward"],
            "let x = crate::upstream::resolve::<u8>(a); $crate::tunnel::relay!()",
            &["upstream::resolve", "tunnel::relay"],
        ),
        (
            "super:: and super::super:: from a nested file",
            &["http", "head", "fields"],
            "use super::Head; fn f() { super::super::parse(); }",
            &["http::head::Head", "http::parse"],
        ),
        (
            "super:: inside an inline module",
            &["tunnel"],
            "mod zero_copy { use super::Relay; fn g() {} } use std::io;",
            &["tunnel::Relay", "tunnel::std::io"],
        ),
        (
            "relative use paths stay under the module; self:: too",
            &["http"],
            "pub use head::Head; mod head; self::head::parse();",
            &["http::head::Head", "http::head::parse"],
        ),
        (
            "comments, doc comments and literals are not code",
            &["conn"],
            "// use crate::a::b;\n/* crate::c::d /* nested crate::e */ crate::f */\n\
             /// [crate::g]\nlet s = \"crate::h::i\"; let r = r#\"crate::j\"#; \
             let c = '\"'; let b = b\"crate::k\"; fn l<'a>(x: &'a str) {} crate::m::n();",
            &["m::n"],
        ),
        (
            "cfg(test) items are skipped, other attributes are not",
            &["conn"],
            "#[cfg(test)]\nmod tests { use crate::a::B; }\n#[cfg(test)] use crate::c;\n\
             #[cfg(test)] static S: [u8; 2] = [1, 2];\n#[cfg(unix)] use crate::d::E;\n\
             fn f() { #[cfg(test)] crate::g::h(); crate::i::j(); }",
            &["d::E", "i::j"],
        ),
        (
            "visibility paths are not imports",
            &["conn"],
            "pub(crate) fn a() {} pub(super) fn b() {} pub(in crate::x) fn c() {}",
            &[],
        ),
        (
            "the library's own name, as main.rs writes it",
            &[],
            "use smolproxy::config::{self, Command}; smolproxy::logger::init(l);",
            &["config", "config::Command", "logger::init"],
        ),
    ];
    for (what, module, src, want) in cases {
        assert_eq!(paths(src, module), *want, "{what}: {src}");
    }
}

#[test]
fn cfg_test_children_and_test_only_files() {
    let m = vec!["http".to_string()];
    let (_, children) = referenced_paths(
        "#[cfg(test)]\nmod tests;\nmod head;\n#[cfg(test)] pub(crate) mod fixtures;",
        &m,
        "x",
    );
    assert_eq!(children, ["tests", "fixtures"]);
    let (paths, _) = referenced_paths("#![cfg(test)]\nuse crate::a::B;", &m, "x");
    assert!(paths.is_empty());
}

#[test]
fn cycles_are_listed_once_from_their_smallest_file() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["a", "c"]),
        ("c", &["a"]),
        ("d", &["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    let comps = components(&g);
    assert_eq!(comps, [vec!["a", "b", "c"], vec!["d"]]);
    let cycles: Vec<String> = cycles_in(&g, &comps[0], 50)
        .iter()
        .map(|c| c.join(" -> "))
        .collect();
    assert_eq!(cycles, ["a -> b -> a", "a -> b -> c -> a"]);
}

#[test]
fn dependencies_in_a_small_tree() {
    let file = |name: &str, text: &str| {
        let (module, root) = module_of(name);
        File {
            name: name.to_string(),
            module,
            root,
            text: text.to_string(),
        }
    };
    let files = [
        file(
            "lib.rs",
            "pub mod conn;\npub mod http;\npub use http::Head;",
        ),
        file("main.rs", "use smolproxy::conn;\nuse std::io;"),
        file(
            "conn.rs",
            "use crate::http::head::Head;\n#[cfg(test)]\nmod tests;",
        ),
        file("conn/tests.rs", "use crate::logger::Log;"),
        file(
            "http/mod.rs",
            "mod head;\npub use head::Head;\npub fn parse() {}",
        ),
        file(
            "http/head.rs",
            "use super::parse;\nuse crate::logger::Log;\npub struct Head;",
        ),
        file("logger.rs", "use crate::http::Head;"),
    ];
    let deps = dependencies(&files, "smolproxy");
    let got: Vec<String> = deps
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} -> {}",
                v.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // conn/tests.rs is test code: not in the graph at all.
            "conn.rs -> http/head.rs",
            // A child names its parent: an edge. The parent's re-export of
            // its child is none.
            "http/head.rs -> http/mod.rs, logger.rs",
            "http/mod.rs -> ",
            "lib.rs -> http/mod.rs",
            "logger.rs -> http/mod.rs",
            "main.rs -> conn.rs",
        ]
    );
}
