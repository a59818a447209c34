//! Entity-relationship diagrams of a live schema, as Mermaid `erDiagram` text or
//! Graphviz DOT (which `dot` renders to SVG or PNG).

use crate::introspect::{Schema, TableSchema};
use std::fmt::Write;

/// Text formats a diagram is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagramFormat {
    /// Mermaid `erDiagram` (renders on GitHub and in most Markdown viewers).
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Renders `schema` without the tables named in `exclude` (and the keys pointing at them).
pub fn render(schema: &Schema, format: DiagramFormat, exclude: &[String]) -> String {
    let kept = schema
        .iter()
        .filter(|(name, _)| !exclude.iter().any(|excluded| excluded == *name))
        .collect::<Vec<_>>();
    match format {
        DiagramFormat::Mermaid => mermaid(&kept, exclude),
        DiagramFormat::Dot => dot(&kept, exclude),
    }
}

/// Whether a column is part of the primary key, a foreign key, or both.
fn key_markers(table: &TableSchema, column: &str) -> Vec<&'static str> {
    let mut markers = Vec::new();
    if table.primary_key.iter().any(|key| key == column) {
        markers.push("PK");
    }
    if table
        .foreign_keys
        .iter()
        .any(|key| key.columns.iter().any(|key_column| key_column == column))
    {
        markers.push("FK");
    }
    markers
}

fn mermaid(tables: &[(&String, &TableSchema)], exclude: &[String]) -> String {
    let mut text = String::from("erDiagram\n");
    for (name, table) in tables {
        let _ = writeln!(text, "    {name} {{");
        for column in &table.columns {
            // Mermaid attribute types may not contain parentheses or spaces.
            let kind = column
                .family
                .to_string()
                .replace(['(', ' '], "_")
                .replace(')', "");
            let markers = key_markers(table, &column.name).join(",");
            let nullability = if column.nullable { "\"nullable\"" } else { "" };
            let parts = [kind.as_str(), column.name.as_str(), &markers, nullability];
            let line = parts
                .iter()
                .filter(|part| !part.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(text, "        {line}");
        }
        let _ = writeln!(text, "    }}");
    }
    for (name, table) in tables {
        for key in &table.foreign_keys {
            if exclude.contains(&key.referenced_table) {
                continue;
            }
            let nullable = key.columns.iter().any(|column| {
                table
                    .columns
                    .iter()
                    .any(|found| &found.name == column && found.nullable)
            });
            let parent_side = if nullable { "|o" } else { "||" };
            let _ = writeln!(
                text,
                "    {} {parent_side}--o{{ {name} : \"{}\"",
                key.referenced_table,
                key.columns.join(", ")
            );
        }
    }
    text
}

fn dot(tables: &[(&String, &TableSchema)], exclude: &[String]) -> String {
    let mut text = String::from(
        "digraph conda_store {\n    rankdir=LR;\n    node [shape=plaintext, fontname=\"Helvetica\"];\n",
    );
    for (name, table) in tables {
        let _ = write!(
            text,
            "    \"{name}\" [label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\">\
             <TR><TD BGCOLOR=\"lightgrey\" COLSPAN=\"2\"><B>{}</B></TD></TR>",
            escape_html(name)
        );
        for column in &table.columns {
            let markers = key_markers(table, &column.name).join(",");
            let null = if column.nullable { "" } else { " NOT NULL" };
            let _ = write!(
                text,
                "<TR><TD ALIGN=\"LEFT\" PORT=\"{port}\">{name} {markers}</TD><TD ALIGN=\"LEFT\">{kind}{null}</TD></TR>",
                port = escape_html(&column.name),
                name = escape_html(&column.name),
                kind = escape_html(&column.family.to_string()),
            );
        }
        text.push_str("</TABLE>>];\n");
    }
    for (name, table) in tables {
        for key in &table.foreign_keys {
            if exclude.contains(&key.referenced_table) {
                continue;
            }
            let _ = writeln!(
                text,
                "    \"{name}\" -> \"{}\" [label=\"{}\"];",
                key.referenced_table,
                key.columns.join(", ")
            );
        }
    }
    text.push_str("}\n");
    text
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
