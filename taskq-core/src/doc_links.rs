//! Rustdoc link syntax out of text shown to API users.
//!
//! schemars copies a params type's doc comment into its JSON schema's
//! `description` (and `title`), so ``Params of [`resize`].`` reached the
//! dashboard's form and API clients with its brackets. The links point at
//! Rust items those readers cannot follow; the link text is what they need.

use schemars::Schema;
use schemars::transform::transform_subschemas;
use serde_json::Value;

/// The keywords holding prose a doc comment fills.
const TEXT_KEYWORDS: [&str; 2] = ["title", "description"];

/// Strips link syntax from every `title` and `description` of `schema` and
/// its subschemas (properties, `$defs`, variants, …).
pub(crate) fn strip_schema_links(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut() {
        for keyword in TEXT_KEYWORDS {
            if let Some(Value::String(text)) = object.get_mut(keyword) {
                *text = strip_doc_links(text);
            }
        }
    }
    transform_subschemas(&mut strip_schema_links, schema);
}

/// `text` with rustdoc's link forms replaced by their link text:
/// ``[`Foo`]`` → `` `Foo` ``, `[Foo](crate::Foo)` → `Foo`,
/// `[the foo][Foo]` → `the foo`, and reference definitions
/// (`[Foo]: crate::Foo` lines) dropped. Web links (`[site](https://…)`)
/// stay, as do brackets that are no link (`[1, 2]`, `[^note]`), code spans
/// and escaped brackets.
pub fn strip_doc_links(text: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !is_reference_definition(line))
        .collect();
    let text = kept.join("\n");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(['[', '`', '\\']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let consumed = match rest.as_bytes()[0] {
            // An escape or a code span is copied whole: brackets in it are text.
            b'\\' => rest.chars().nth(1).map_or(1, |c| 1 + c.len_utf8()),
            b'`' => code_span_len(rest),
            _ => match link(rest) {
                Some((link_text, len)) => {
                    out.push_str(link_text);
                    rest = &rest[len..];
                    continue;
                }
                None => 1,
            },
        };
        out.push_str(&rest[..consumed]);
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

/// `[label]: target`, rustdoc's (and markdown's) link reference definition.
fn is_reference_definition(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('[')
        && line
            .find("]:")
            .is_some_and(|end| end > 1 && !line[1..end].contains(['[', ']']))
}

/// The length of the code span opening `text` (which starts with a
/// backtick), or of its backticks alone when it never closes.
fn code_span_len(text: &str) -> usize {
    let ticks = text.len() - text.trim_start_matches('`').len();
    let fence = &text[..ticks];
    text[ticks..]
        .find(fence)
        .map_or(ticks, |end| ticks + end + ticks)
}

/// A link opening `text` (which starts with `[`): its text and the length
/// of the whole link syntax.
fn link(text: &str) -> Option<(&str, usize)> {
    let close = closing_bracket(text)?;
    let link_text = &text[1..close];
    let after = &text[close + 1..];
    if let Some(target) = after.strip_prefix('(') {
        let end = target.find(')')?;
        let url = target[..end].trim();
        if url.contains("://") || url.starts_with("mailto:") {
            return None;
        }
        return Some((link_text, close + 2 + end + 1));
    }
    if let Some(target) = after.strip_prefix('[') {
        let end = target.find(']')?;
        return Some((link_text, close + 2 + end + 1));
    }
    is_item_path(link_text).then_some((link_text, close + 1))
}

/// The index of the `]` matching the `[` at the start of `text`, skipping
/// code spans (``[`a[0]`]``).
fn closing_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text.as_bytes()[i] {
            b'`' => {
                i += code_span_len(&text[i..]);
                continue;
            }
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'\n' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether a shortcut link's text names a Rust item the way rustdoc
/// resolves it: anything in backticks (`` `Foo` ``, `` `a[0]` ``), or a
/// bare path (`Foo`, `crate::foo()`, `vec!`, `struct@Foo`). Prose in
/// brackets (`[1, 2]`, `[^note]`, a `[x]` checkbox) is not.
fn is_item_path(text: &str) -> bool {
    if text.len() > 2 && text.starts_with('`') && text.ends_with('`') {
        return true;
    }
    let starts_like_a_name = text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    let path_chars = text
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '<' | '>' | '(' | ')' | '!' | '@'));
    starts_like_a_name && path_chars && text.chars().count() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_their_text() {
        for (doc, shown) in [
            ("Params of [`resize`].", "Params of `resize`."),
            (
                "See [Image] and [`Image::scale()`].",
                "See Image and `Image::scale()`.",
            ),
            ("The [size](crate::Size) to fit.", "The size to fit."),
            ("The [size][`Size`] to fit.", "The size to fit."),
            (
                "Calls [`vec!`] or [struct@Foo].",
                "Calls `vec!` or struct@Foo.",
            ),
            ("Nested [`a[0]`] index.", "Nested `a[0]` index."),
        ] {
            assert_eq!(strip_doc_links(doc), shown, "{doc}");
        }
    }

    #[test]
    fn other_brackets_stay() {
        for doc in [
            "A list [1, 2] of two.",
            "Footnote[^1] here.",
            "Done: [x] checked.",
            "Code `[Foo]` is text.",
            r"Escaped \[Foo] bracket.",
            "Web [docs](https://example.com/a) link.",
            "Unclosed [Foo bracket.",
            "Ends with [",
        ] {
            assert_eq!(strip_doc_links(doc), doc, "{doc}");
        }
    }

    #[test]
    fn reference_definitions_are_dropped() {
        let doc = "Uses [the size][size].\n\n[size]: crate::Size";
        assert_eq!(strip_doc_links(doc), "Uses the size.\n");
    }

    #[test]
    fn schema_titles_and_descriptions_everywhere() {
        /// Params of [`resize`].
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)] // only its schema is used
        struct ResizeParams {
            /// Fit into [`Size`], see [docs](https://example.com).
            size: Size,
        }
        /// A [`Size`] in pixels.
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Size {
            /// Width, as [`u32`].
            width: u32,
        }
        let mut schema =
            schemars::SchemaGenerator::default().into_root_schema_for::<ResizeParams>();
        strip_schema_links(&mut schema);
        let value = schema.to_value();
        assert_eq!(value["description"], "Params of `resize`.");
        assert_eq!(
            value["properties"]["size"]["description"],
            "Fit into `Size`, see [docs](https://example.com)."
        );
        assert_eq!(value["$defs"]["Size"]["description"], "A `Size` in pixels.");
        assert_eq!(
            value["$defs"]["Size"]["properties"]["width"]["description"],
            "Width, as `u32`."
        );
    }
}
