//! The plan as a Terraform user reads it at a glance: drift first, then a legend of the symbols
//! used, one `# address will be …` block per change with its attributes aligned on `=`, the
//! summary line, output changes, what destroys data and the warnings. Storage actions keep
//! their own wording ("will be extended from 10 GiB to 20 GiB"), and multi-line strings are
//! diffed line by line. Colours are plain ANSI codes, written only when asked for.

use similar::{ChangeTag, TextDiff};

use super::wording::{self, DATA_LOSS_HINT, attribute_names, present};
use crate::config::value::{Value, ValueMap};
use crate::model::Address;
use crate::plan::{Action, Change, Drift, OutputChange, Plan, PlanMode, StorageAction};
use crate::state::ResourceState;

/// Width of the rule that closes the drift section.
const RULE_WIDTH: usize = 77;

/// Renders a plan for the terminal; `color` adds ANSI colours (and nothing else changes).
pub fn render_plan(plan: &Plan, color: bool) -> String {
    let mut w = Writer::new(color);
    let refresh_only = plan.mode == PlanMode::RefreshOnly;
    if !plan.drift.is_empty() {
        write_drift(&mut w, &plan.drift, refresh_only);
    }
    if refresh_only {
        if plan.drift.is_empty() {
            let headline = w.no_changes("Your storage still matches the configuration.");
            w.text(&headline);
            w.text(
                "\nblockform has checked that the real storage objects still match the result of your most recent \
                 changes, and found no differences.\n",
            );
        } else {
            w.text(
                "This is a refresh-only plan, so blockform will not take any actions to undo these. If you were \
                 expecting these changes then you can apply this plan to record the updated values in the blockform \
                 state without changing any storage objects.\n",
            );
        }
    } else {
        write_actions(&mut w, plan);
    }
    for warning in &plan.warnings {
        write_warning(&mut w, warning);
    }
    w.out
}

/// Renders only the drift section of a plan (shown before errors that stop a plan, so the user
/// sees what changed outside blockform and led to them).
pub fn render_drift(plan: &Plan, color: bool) -> String {
    let mut w = Writer::new(color);
    if !plan.drift.is_empty() {
        write_drift(&mut w, &plan.drift, plan.mode == PlanMode::RefreshOnly);
    }
    w.out
}

/// Renders one object of state the way `blockform show` prints it.
pub fn render_state_resource(resource: &ResourceState) -> String {
    let mut w = Writer::new(false);
    w.text(&format!(
        "# {} ({}):\n",
        clean(&resource.address),
        clean(&resource.status)
    ));
    match Address::parse(&resource.address) {
        Some(address) => w.text(&format!("resource {:?} {:?} {{\n", address.kind.name(), address.name)),
        None => w.text(&format!("resource {:?} {{\n", resource.address)),
    }
    let values: ValueMap = resource
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect();
    write_all(&mut w, 0, Marker::Same, &values, "");
    w.text("}\n");
    w.out
}

/// The actions of a normal or destroy plan, with outputs and data loss.
fn write_actions(w: &mut Writer, plan: &Plan) {
    let changes: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| !c.is_noop() || plan.import_id(&c.address).is_some())
        .collect();
    let outputs: Vec<&OutputChange> = plan
        .outputs
        .iter()
        .filter(|o| present(o.before.as_ref()) != present(o.after.as_ref()))
        .collect();
    if changes.is_empty() && outputs.is_empty() {
        if plan.mode == PlanMode::Destroy {
            let headline = w.no_changes("No objects need to be destroyed.");
            w.text(&headline);
            w.text(
                "\nEither you have not created any objects yet or the existing objects were already deleted \
                 outside of blockform.\n",
            );
        } else {
            let headline = w.no_changes("Your storage matches the configuration.");
            w.text(&headline);
            w.text(
                "\nblockform has compared your real storage against your configuration and found no differences, \
                 so no changes are needed.\n",
            );
        }
        return;
    }
    if !changes.is_empty() {
        write_legend(w, &changes);
        w.text("blockform will perform the following actions:\n\n");
        for change in &changes {
            match plan.import_id(&change.address) {
                Some(id) if change.is_noop() => {
                    let address = w.style.paint("1", &format!("# {}", clean(&change.address.to_string())));
                    w.text(&format!("  {address} will be imported\n"));
                    w.text(&format!(
                        "    # (from \"{}\"; it matches its configuration)\n",
                        clean(id)
                    ));
                }
                Some(id) => {
                    write_change(w, change);
                    w.text(&format!("    # (imported from \"{}\" first)\n", clean(id)));
                }
                None => write_change(w, change),
            }
            w.text("\n");
        }
        let summary = wording::summary_line(&plan.summary());
        let rest = summary.strip_prefix("Plan:").unwrap_or(&summary);
        let plan_word = w.style.paint("1", "Plan:");
        w.text(&format!("{plan_word}{rest}\n"));
    }
    if !outputs.is_empty() {
        if !changes.is_empty() {
            w.text("\n");
        }
        let title = w.style.paint("1", "Changes to Outputs:");
        w.text(&format!("{title}\n"));
        write_outputs(w, &outputs);
        if changes.is_empty() {
            w.text(
                "\nYou can apply this plan to save these new output values to the blockform state, without \
                 changing any real storage.\n",
            );
        }
    }
    write_data_loss(w, &changes);
}

/// Terraform's legend, listing only the symbols this plan uses, in Terraform's order.
fn write_legend(w: &mut Writer, changes: &[&Change]) {
    w.text(
        "blockform used the selected providers to generate the following execution plan. Resource actions are \
         indicated with the following symbols:\n",
    );
    let legend = [
        (Action::Create, "create"),
        (Action::Delete, "destroy"),
        (Action::Update, "update in-place"),
        (Action::CreateThenDelete, "create replacement and then destroy"),
        (Action::DeleteThenCreate, "destroy and then create replacement"),
    ];
    for (action, meaning) in legend {
        if changes.iter().any(|c| c.action == action) {
            let symbol = w.style.symbol(&format!("{:>3}", action.symbol()));
            w.text(&format!("{symbol} {meaning}\n"));
        }
    }
    w.text("\n");
}

/// One change: the `# address will be …` lines, then its resource block.
fn write_change(w: &mut Writer, change: &Change) {
    let address = w.style.paint("1", &format!("# {}", clean(&change.address.to_string())));
    w.text(&format!("  {address} {}\n", clean(&wording::heading(change))));
    if let Some(reason) = wording::reason(change) {
        w.text(&format!("  # ({})\n", clean(&reason)));
    }
    if change.data_loss {
        let mark = w.style.paint("1;31", "# DATA LOSS:");
        w.text(&format!("  {mark} {}\n", clean(&wording::data_loss(change))));
    }
    for note in &change.notes {
        w.text(&format!("  # Note: {}\n", clean(note)));
    }
    let extend = match change.storage {
        Some(StorageAction::Extend { from_gib, to_gib }) => Some((from_gib, to_gib)),
        _ => None,
    };
    let options = EntryOptions {
        context: &["id", "name"],
        noun: "attribute",
        forces: &change.replace_paths,
        extend,
    };
    write_resource(
        w,
        change.action.symbol(),
        &change.address,
        change.before.as_ref(),
        change.after.as_ref(),
        &options,
    );
}

/// `Note: Objects have changed outside of blockform` and one block per drifted object.
fn write_drift(w: &mut Writer, drift: &[Drift], refresh_only: bool) {
    let title = w.style.paint("1", "Note: Objects have changed outside of blockform");
    w.text(&format!("{title}\n\n"));
    w.text(&format!(
        "blockform detected the following changes made outside of blockform since the last \"blockform apply\"{}:\n\n",
        if refresh_only {
            ""
        } else {
            " which may have affected this plan"
        }
    ));
    let options = EntryOptions {
        context: &["id", "name"],
        noun: "attribute",
        forces: &[],
        extend: None,
    };
    for object in drift {
        let address = w.style.paint("1", &format!("# {}", clean(&object.address.to_string())));
        if let Some(after) = &object.after {
            w.text(&format!("  {address} has changed\n"));
            write_resource(w, "~", &object.address, Some(&object.before), Some(after), &options);
        } else {
            w.text(&format!("  {address} has been deleted\n"));
            write_resource(w, "-", &object.address, Some(&object.before), None, &options);
        }
        w.text("\n");
    }
    if !refresh_only {
        w.text(
            "Unless you have made equivalent changes to your configuration, or ignored the relevant attributes \
             using ignore_changes, the following plan may include actions to undo or respond to these changes.\n\n",
        );
        w.text(&format!("{}\n\n", "─".repeat(RULE_WIDTH)));
    }
}

/// `  + db_id = (known after apply)`, aligned on `=`.
fn write_outputs(w: &mut Writer, outputs: &[&OutputChange]) {
    let width = align_width(outputs.iter().map(|o| o.name.as_str()));
    for output in outputs {
        let head = format!("{} = ", padded(&output.name, width));
        let before = present(output.before.as_ref());
        let after = present(output.after.as_ref());
        if output.sensitive {
            let marker = match (before, after) {
                (None, _) => Marker::Add,
                (_, None) => Marker::Remove,
                _ => Marker::Change,
            };
            w.line(0, marker, &format!("{head}(sensitive value)"));
            continue;
        }
        match (before, after) {
            (Some(before), Some(after)) => write_diff(w, 0, &head, before, after, ""),
            (None, Some(after)) => write_value(w, 0, Marker::Add, &head, after, ""),
            (Some(before), None) => write_value(w, 0, Marker::Remove, &head, before, " -> null"),
            (None, None) => {}
        }
    }
}

/// The list of changes that destroy data, with what each one loses.
fn write_data_loss(w: &mut Writer, changes: &[&Change]) {
    let losses: Vec<&&Change> = changes.iter().filter(|c| c.data_loss).collect();
    if losses.is_empty() {
        return;
    }
    let addresses: Vec<String> = losses
        .iter()
        .map(|c| clean(&c.address.to_string()).into_owned())
        .collect();
    let width = align_width(addresses.iter().map(String::as_str));
    let title = w.style.paint("1;31", "Warning:");
    let rest = w.style.paint("1", "This plan destroys data");
    w.text(&format!(
        "\n╷\n│ {title} {rest}\n│\n│ The following actions destroy data:\n"
    ));
    for (change, address) in losses.iter().zip(&addresses) {
        w.text(&format!(
            "│   {}  {}\n",
            padded(address, width),
            clean(&wording::data_loss(change))
        ));
    }
    w.text(&format!("│\n│ {DATA_LOSS_HINT}\n╵\n"));
}

/// Terraform's warning box; the text up to its first `: ` is the title, the rest the detail.
fn write_warning(w: &mut Writer, warning: &str) {
    let label = w.style.paint("1;33", "Warning:");
    let warning = clean_lines(warning);
    let (title, detail) = warning
        .split_once(": ")
        .map_or((&*warning, None), |(t, d)| (t, Some(d)));
    let title = w.style.paint("1", title);
    w.text(&format!("\n╷\n│ {label} {title}\n"));
    if let Some(detail) = detail {
        w.text(&format!("│\n│ {detail}\n"));
    }
    w.text("╵\n");
}

/// `  ~ resource "volume" "db" {` … `    }`.
fn write_resource(
    w: &mut Writer,
    symbol: &str,
    address: &Address,
    before: Option<&ValueMap>,
    after: Option<&ValueMap>,
    options: &EntryOptions<'_>,
) {
    let symbol = w.style.symbol(&format!("{symbol:>3}"));
    w.text(&format!(
        "{symbol} resource {:?} {:?} {{\n",
        address.kind.name(),
        address.name
    ));
    match (before, after) {
        (None, Some(after)) => write_all(w, 4, Marker::Add, after, ""),
        (Some(before), None) => write_all(w, 4, Marker::Remove, before, " -> null"),
        (Some(before), Some(after)) => write_entries(w, 4, before, after, options),
        (None, None) => {}
    }
    w.text("    }\n");
}

/// How the entries of a block or map are shown when both sides exist.
struct EntryOptions<'a> {
    /// Names shown even when unchanged, so the object can be recognised (Terraform: `id`, `name`).
    context: &'a [&'a str],
    /// What an entry is called in the `# (N unchanged … hidden)` line.
    noun: &'a str,
    /// Names whose change forces the replacement.
    forces: &'a [String],
    /// The volume's sizes when it is extended, in GiB.
    extend: Option<(u64, u64)>,
}

/// Every present entry with one marker: all `+` for a create, all `-` for a delete.
fn write_all(w: &mut Writer, indent: usize, marker: Marker, values: &ValueMap, tail: &str) {
    let shown: Vec<(&String, &Value)> = values.iter().filter(|(_, v)| !matches!(v, Value::Null)).collect();
    let keys: Vec<String> = shown.iter().map(|(k, _)| key_text(k)).collect();
    let width = align_width(keys.iter().map(String::as_str));
    for ((_, value), key) in shown.into_iter().zip(&keys) {
        let head = format!("{} = ", padded(key, width));
        write_value(w, indent, marker, &head, value, tail);
    }
}

/// The changed entries of a map (and the context ones), then how many are hidden.
fn write_entries(w: &mut Writer, indent: usize, before: &ValueMap, after: &ValueMap, options: &EntryOptions<'_>) {
    let mut shown = Vec::new();
    let mut hidden = 0;
    for name in attribute_names(before, after) {
        let old = present(before.get(name));
        let new = present(after.get(name));
        if old != new || (new.is_some() && options.context.contains(&name)) {
            shown.push((name, old, new));
        } else if new.is_some() {
            hidden += 1;
        }
    }
    let keys: Vec<String> = shown.iter().map(|(name, _, _)| key_text(name)).collect();
    let width = align_width(keys.iter().map(String::as_str));
    for ((name, old, new), key) in shown.into_iter().zip(&keys) {
        let head = format!("{} = ", padded(key, width));
        let tail = if options.forces.iter().any(|p| p == name) {
            " # forces replacement"
        } else {
            ""
        };
        match (old, new) {
            (Some(old), Some(new)) => match options.extend {
                Some((from, to)) if name == "size" && old != new => {
                    w.line(
                        indent,
                        Marker::Change,
                        &format!("{head}{from} -> {to} GiB (extend){tail}"),
                    );
                }
                _ => write_diff(w, indent, &head, old, new, tail),
            },
            (None, Some(new)) => write_value(w, indent, Marker::Add, &head, new, tail),
            (Some(old), None) => write_value(w, indent, Marker::Remove, &head, old, &format!(" -> null{tail}")),
            (None, None) => {}
        }
    }
    if hidden > 0 {
        let plural = if hidden == 1 { "" } else { "s" };
        w.line(
            indent,
            Marker::Same,
            &format!("# ({hidden} unchanged {}{plural} hidden)", options.noun),
        );
    }
}

/// A value that changed from `before` to `after`: maps and lists entry by entry, multi-line
/// strings line by line, everything else as `before -> after`.
fn write_diff(w: &mut Writer, indent: usize, head: &str, before: &Value, after: &Value, tail: &str) {
    if before == after {
        write_value(w, indent, Marker::Same, head, after, tail);
        return;
    }
    match (before, after) {
        (Value::Map(old), Value::Map(new)) => {
            w.line(indent, Marker::Change, &format!("{head}{{"));
            let options = EntryOptions {
                context: &[],
                noun: "element",
                forces: &[],
                extend: None,
            };
            write_entries(w, indent + 4, old, new, &options);
            w.close(indent, &format!("}}{tail}"));
        }
        (Value::List(old), Value::List(new)) => {
            w.line(indent, Marker::Change, &format!("{head}["));
            let old: Vec<String> = old.iter().map(ToString::to_string).collect();
            let new: Vec<String> = new.iter().map(ToString::to_string).collect();
            let old: Vec<&str> = old.iter().map(String::as_str).collect();
            let new: Vec<&str> = new.iter().map(String::as_str).collect();
            let diff = TextDiff::from_slices(&old, &new);
            for item in diff.iter_all_changes() {
                w.line(indent + 4, Marker::from(item.tag()), &format!("{},", item.value()));
            }
            w.close(indent, &format!("]{tail}"));
        }
        (Value::String(old), Value::String(new)) if old.contains('\n') || new.contains('\n') => {
            w.line(indent, Marker::Change, &format!("{head}<<-EOT"));
            // Line breaks are `\n` or `\r\n`; any other control character (a lone `\r`
            // included) is escaped before diffing, so it shows where it is.
            let old = clean_lines(&old.replace("\r\n", "\n")).into_owned();
            let new = clean_lines(&new.replace("\r\n", "\n")).into_owned();
            let diff = TextDiff::from_lines(old.as_str(), new.as_str());
            for line in diff.iter_all_changes() {
                let text = line.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                w.line(
                    indent + 4,
                    Marker::from(line.tag()),
                    text.strip_suffix('\r').unwrap_or(text),
                );
            }
            w.close(indent, &format!("EOT{tail}"));
        }
        _ => w.line(indent, Marker::Change, &format!("{head}{before} -> {after}{tail}")),
    }
}

/// A whole value with one marker, over several lines when it is a non-empty collection or a
/// multi-line string.
fn write_value(w: &mut Writer, indent: usize, marker: Marker, head: &str, value: &Value, tail: &str) {
    match value {
        Value::Map(map) if !map.is_empty() => {
            w.line(indent, marker, &format!("{head}{{"));
            write_all(w, indent + 4, marker, map, "");
            w.close(indent, &format!("}}{tail}"));
        }
        Value::List(items) if !items.is_empty() => {
            w.line(indent, marker, &format!("{head}["));
            for item in items {
                write_value(w, indent + 4, marker, "", item, ",");
            }
            w.close(indent, &format!("]{tail}"));
        }
        Value::String(text) if text.contains('\n') => {
            w.line(indent, marker, &format!("{head}<<-EOT"));
            for line in text.lines() {
                w.line(indent + 4, Marker::Same, line);
            }
            w.close(indent, &format!("EOT{tail}"));
        }
        other => w.line(indent, marker, &format!("{head}{other}{tail}")),
    }
}

/// Keys longer than this are left out of the alignment on `=` (and not padded): one very long
/// key would push every other line far to the right.
const MAX_ALIGNED: usize = 64;

/// The column to align `=` at for these names: the longest one up to [`MAX_ALIGNED`].
fn align_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names
        .map(|name| name.chars().count())
        .filter(|&n| n <= MAX_ALIGNED)
        .max()
        .unwrap_or(0)
}

/// `text` padded with spaces to `width` characters. (Not `{:width$}`: a width above 65,535
/// panics in `format!`.)
fn padded(text: &str, width: usize) -> String {
    let missing = width.saturating_sub(text.chars().count());
    let mut out = String::with_capacity(text.len() + missing);
    out.push_str(text);
    out.extend(std::iter::repeat_n(' ', missing));
    out
}

/// Whether a character must not reach the terminal as it is: control characters (ESC, CR,
/// NUL, line breaks, …; tabs are harmless) and the bidirectional overrides that reorder what is
/// shown.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// User text as it may be printed on one line: unsafe characters escaped as in a string
/// literal (`\u{1b}`, `\r`, `\n`).
pub(crate) fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            // As `{:?}` writes them in quoted strings, so a value reads the same everywhere.
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Like [`clean`], keeping line breaks (for multi-paragraph messages).
fn clean_lines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(|c| c != '\n' && is_unsafe(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.split('\n').map(clean).collect::<Vec<_>>().join("\n"))
}

/// A map key as written in HCL: bare when it is an identifier, quoted otherwise.
fn key_text(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if identifier { key.to_owned() } else { format!("{key:?}") }
}

/// The mark in front of an attribute line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Add,
    Remove,
    Change,
    Same,
}

impl From<ChangeTag> for Marker {
    fn from(tag: ChangeTag) -> Marker {
        match tag {
            ChangeTag::Insert => Marker::Add,
            ChangeTag::Delete => Marker::Remove,
            ChangeTag::Equal => Marker::Same,
        }
    }
}

/// Colours, or none.
#[derive(Debug, Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    /// `text` in the SGR style `code` (`1` bold, `32` green, …) when colours are on.
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    /// An action symbol with Terraform's colours: `+` green, `~` yellow, `-` red.
    fn symbol(self, symbol: &str) -> String {
        symbol
            .chars()
            .map(|c| match c {
                '+' => self.paint("32", "+"),
                '~' => self.paint("33", "~"),
                '-' => self.paint("31", "-"),
                other => other.to_string(),
            })
            .collect()
    }
}

/// Accumulates the rendered text.
struct Writer {
    out: String,
    style: Style,
}

impl Writer {
    fn new(color: bool) -> Writer {
        Writer {
            out: String::new(),
            style: Style { color },
        }
    }

    fn text(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// An attribute line: `indent` spaces, the marker in a two-column gutter, the text.
    fn line(&mut self, indent: usize, marker: Marker, text: &str) {
        let symbol = match marker {
            Marker::Add => "+",
            Marker::Remove => "-",
            Marker::Change => "~",
            Marker::Same => " ",
        };
        // User text is printed with its control characters escaped: a value must not move the
        // cursor or rewrite the lines an approver reads.
        let line = [
            " ".repeat(indent),
            format!("  {} {}", self.style.symbol(symbol), clean(text)),
        ]
        .concat();
        self.out.push_str(line.trim_end());
        self.out.push('\n');
    }

    /// The line that closes a multi-line value opened at `indent`.
    fn close(&mut self, indent: usize, text: &str) {
        self.out.extend(std::iter::repeat_n(' ', indent + 4));
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// `No changes. {rest}` in Terraform's bold green.
    fn no_changes(&self, rest: &str) -> String {
        format!(
            "{} {}\n",
            self.style.paint("1;32", "No changes."),
            self.style.paint("1", rest)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Reason;
    use crate::render::fixtures::*;

    fn render(plan: &Plan) -> String {
        render_plan(plan, false)
    }

    #[test]
    fn create_shows_every_attribute_and_what_is_known_after_apply() {
        let mut plan = plan(vec![create_volume(), unchanged_type()]);
        plan.outputs = outputs()[..1].to_vec();
        insta::assert_snapshot!(render(&plan), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create

        blockform will perform the following actions:

          # volume.db will be created
          + resource "volume" "db" {
              + name     = "db-data"
              + type     = (known after apply)
              + size     = 100
              + bootable = false
              + tags     = [
                  + "db",
                  + "prod",
                ]
              + metadata = {
                  + owner         = "dba"
                  + "cost centre" = "42"
                }
              + id       = (known after apply)
              + status   = (known after apply)
            }

        Plan: 1 to add, 0 to change, 0 to destroy.

        Changes to Outputs:
          + db_id = (known after apply)
        "#);
    }

    #[test]
    fn control_characters_in_user_text_are_escaped_everywhere() {
        let hostile = "ok\u{1b}[2J\u{1b}[H\rfake line\u{0}\u{202e}end";
        let mut create = create_volume();
        if let Some(after) = create.after.as_mut() {
            after.insert("description".into(), s(&format!("first\n{hostile}\nlast\n")));
            after.insert("metadata".into(), object([(hostile, s(hostile))]));
        }
        create.notes.push(format!("note {hostile}"));
        let mut update = update_description();
        if let Some(after) = update.after.as_mut() {
            after.insert("description".into(), s(&format!("SSD pool\n{hostile}\n")));
        }
        let mut plan = plan(vec![create, update]);
        plan.outputs = vec![OutputChange {
            name: "o".to_owned(),
            before: None,
            after: Some(s(&format!("a\n{hostile}"))),
            sensitive: false,
        }];
        plan.warnings.push(format!("Careful: {hostile}"));
        let text = render_plan(&plan, false);
        for raw in ['\u{1b}', '\r', '\u{0}', '\u{202e}'] {
            assert!(!text.contains(raw), "{raw:?} reached the output:\n{text}");
        }
        let escaped = "ok\\u{1b}[2J\\u{1b}[H\\rfake line\\0\\u{202e}end";
        // In the heredoc of a create, of a diff, of an output; in a map key and value; in a note
        // and a warning.
        assert!(text.matches(escaped).count() >= 7, "{text}");
        assert!(text.contains(&format!("          {escaped}\n")), "heredoc line: {text}");
        // With colours, the only escape sequences are the renderer's own.
        let coloured = render_plan(&plan, true);
        assert!(
            !coloured.contains("\u{1b}[2J") && !coloured.contains('\r'),
            "{coloured}"
        );
    }

    #[test]
    fn keys_and_output_names_of_any_length_render_without_overflowing_a_width() {
        let long = "k".repeat(70_000);
        let mut create = create_volume();
        if let Some(after) = create.after.as_mut() {
            after.insert("metadata".into(), object([(long.as_str(), s("v")), ("short", s("w"))]));
        }
        let mut plan = plan(vec![create]);
        plan.outputs = vec![
            OutputChange {
                name: long.clone(),
                before: None,
                after: Some(s("x")),
                sensitive: false,
            },
            OutputChange {
                name: "b".to_owned(),
                before: None,
                after: Some(s("y")),
                sensitive: false,
            },
        ];
        let text = render_plan(&plan, false);
        assert!(text.contains(&format!("{long} = \"v\"")), "the long key is shown whole");
        // The long key is left out of the alignment: the short ones stay aligned among themselves.
        assert!(text.contains("  + short = \"w\""), "{}", &text[text.len() - 600..]);
        assert!(text.contains("+ b = \"y\""), "{}", &text[text.len() - 600..]);
        let mut loss = delete_volume();
        loss.address = address(&format!("volume.x[\"{long}\"]"));
        assert!(render_plan(&crate::render::fixtures::plan(vec![loss]), false).contains(&long));
    }

    #[test]
    fn update_diffs_a_multi_line_description_line_by_line() {
        insta::assert_snapshot!(render(&plan(vec![update_description()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          ~ update in-place

        blockform will perform the following actions:

          # volume_type.ssd will be updated in-place
          ~ resource "volume_type" "ssd" {
                name        = "ssd"
              ~ description = <<-EOT
                    SSD pool
                  - for databases
                  + for databases and queues
                    not replicated
                  + backed up nightly
                EOT
                id          = "type-1"
                # (2 unchanged attributes hidden)
            }

        Plan: 0 to add, 1 to change, 0 to destroy.
        "#);
    }

    #[test]
    fn extend_says_from_and_to_and_shows_other_changes() {
        insta::assert_snapshot!(render(&plan(vec![extend_volume()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          ~ update in-place

        blockform will perform the following actions:

          # volume.logs will be extended from 10 GiB to 20 GiB and updated in-place
          # Note: `volume.logs` is attached: grow the file system inside the guest to use the new space
          ~ resource "volume" "logs" {
                name     = "logs"
              ~ size     = 10 -> 20 GiB (extend)
              ~ tags     = [
                    "logs",
                  + "prod",
                ]
              ~ metadata = {
                  ~ tier = "warm" -> "hot"
                  + team = "sre"
                    # (1 unchanged element hidden)
                }
                id       = "volume-7a1d"
                # (1 unchanged attribute hidden)
            }

        Plan: 0 to add, 1 to change, 0 to destroy; 1 to extend.
        "#);
    }

    #[test]
    fn retype_is_an_in_place_change_of_the_type() {
        insta::assert_snapshot!(render(&plan(vec![retype_volume()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          ~ update in-place

        blockform will perform the following actions:

          # volume.cache will be retyped from volume_type.std to volume_type.fast
          ~ resource "volume" "cache" {
                name = "cache"
              ~ type = "type-std" -> "type-fast"
                id   = "volume-c4c4"
                # (1 unchanged attribute hidden)
            }

        Plan: 0 to add, 1 to change, 0 to destroy; 1 to retype.
        "#);
    }

    #[test]
    fn replace_marks_the_attribute_that_forces_it_and_the_data_loss() {
        insta::assert_snapshot!(render(&plan(vec![replace_volume()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
        -/+ destroy and then create replacement

        blockform will perform the following actions:

          # volume.db must be replaced
          # (because the new type moves it to another back end)
          # DATA LOSS: the volume is destroyed and a new one takes its place; its data is not carried over
          # Note: the new type lives on back end `other`, the volume on `ssd`: its data does not move
        -/+ resource "volume" "db" {
                name   = "db-data"
              ~ type   = "type-ssd" -> (known after apply) # forces replacement
              ~ id     = "volume-5c0e" -> (known after apply)
              ~ status = "available" -> (known after apply)
                # (2 unchanged attributes hidden)
            }

        Plan: 1 to add, 0 to change, 1 to destroy.

        ╷
        │ Warning: This plan destroys data
        │
        │ The following actions destroy data:
        │   volume.db  the volume is destroyed and a new one takes its place; its data is not carried over
        │
        │ `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.
        ╵
        "#);
    }

    #[test]
    fn replace_on_request_with_create_before_destroy() {
        insta::assert_snapshot!(render(&plan(vec![replace_snapshot()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
        +/- create replacement and then destroy

        blockform will perform the following actions:

          # snapshot.before_upgrade will be replaced, as requested
          # DATA LOSS: the snapshot is destroyed and taken again; its point-in-time data is lost
        +/- resource "snapshot" "before_upgrade" {
                name = "before-upgrade"
              ~ id   = "snapshot-11" -> (known after apply)
                # (3 unchanged attributes hidden)
            }

        Plan: 1 to add, 0 to change, 1 to destroy.

        ╷
        │ Warning: This plan destroys data
        │
        │ The following actions destroy data:
        │   snapshot.before_upgrade  the snapshot is destroyed and taken again; its point-in-time data is lost
        │
        │ `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.
        ╵
        "#);
    }

    #[test]
    fn delete_says_why() {
        let mut count_index = delete_volume();
        count_index.address = address("volume.disk[3]");
        count_index.reason = Some(Reason::DeleteBecauseCountIndex);
        count_index.before = Some(map([("name", s("disk-3")), ("size", n(1.0))]));
        insta::assert_snapshot!(render(&plan(vec![delete_volume(), count_index, delete_qos()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          - destroy

        blockform will perform the following actions:

          # volume.scratch["c"] will be destroyed
          # (because key ["c"] is not in for_each map)
          # DATA LOSS: the volume is destroyed with all of its data
          - resource "volume" "scratch" {
              - name     = "scratch-c" -> null
              - type     = "type-1" -> null
              - size     = 10 -> null
              - metadata = {
                  - purpose = "ci"
                } -> null
              - id       = "volume-3e3e" -> null
            }

          # volume.disk[3] will be destroyed
          # (because index [3] is out of range for count)
          # DATA LOSS: the volume is destroyed with all of its data
          - resource "volume" "disk" {
              - name = "disk-3" -> null
              - size = 1 -> null
            }

          # qos.silver will be destroyed
          # (because qos.silver is not in configuration)
          - resource "qos" "silver" {
              - name     = "silver" -> null
              - consumer = "back-end" -> null
              - specs    = {
                  - total_iops_sec = 500
                } -> null
              - id       = "qos-2" -> null
            }

        Plan: 0 to add, 0 to change, 3 to destroy.

        ╷
        │ Warning: This plan destroys data
        │
        │ The following actions destroy data:
        │   volume.scratch["c"]  the volume is destroyed with all of its data
        │   volume.disk[3]       the volume is destroyed with all of its data
        │
        │ `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.
        ╵
        "#);
    }

    #[test]
    fn update_adds_and_removes_attributes_and_recreates_what_vanished() {
        let mut update = retype_volume();
        update.storage = None;
        if let (Some(before), Some(after)) = (update.before.as_mut(), update.after.as_mut()) {
            before.insert("description".into(), s("cache for the build farm"));
            after.insert("description".into(), Value::Null);
            after.insert("type".into(), s("type-std"));
            after.insert("bootable".into(), Value::Bool(true));
        }
        let recreate = Change {
            reason: Some(Reason::CreateBecauseMissing),
            ..restore()
        };
        insta::assert_snapshot!(render(&plan(vec![update, recreate])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create
          ~ update in-place

        blockform will perform the following actions:

          # volume.cache will be updated in-place
          ~ resource "volume" "cache" {
                name        = "cache"
                id          = "volume-c4c4"
              - description = "cache for the build farm" -> null
              + bootable    = true
                # (2 unchanged attributes hidden)
            }

          # volume.restored will be created from a backup
          # (because it was deleted outside blockform)
          + resource "volume" "restored" {
              + name   = "restored"
              + type   = "type-1"
              + size   = 100
              + source = {
                  + backup = "backup-b7"
                }
              + id     = (known after apply)
            }

        Plan: 1 to add, 1 to change, 0 to destroy; 1 to restore.
        "#);
    }

    #[test]
    fn attach_and_detach() {
        insta::assert_snapshot!(render(&plan(vec![detach(), attach()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create
          - destroy

        blockform will perform the following actions:

          # attachment.old will be detached
          # (because attachment.old is not in configuration)
          - resource "attachment" "old" {
              - volume   = "volume-7a1d" -> null
              - instance = "web-0" -> null
              - host     = "kvm" -> null
              - device   = "vdc" -> null
              - id       = "attachment-0f" -> null
            }

          # attachment.db will be attached
          + resource "attachment" "db" {
              + volume   = (known after apply)
              + instance = "web-1"
              + host     = "kvm"
              + device   = "vdb"
              + id       = (known after apply)
            }

        Plan: 1 to add, 0 to change, 1 to destroy; 1 to attach, 1 to detach.
        "#);
    }

    #[test]
    fn backup_prune_and_restore() {
        insta::assert_snapshot!(render(&plan(vec![backup(), prune(), restore()])), @r#"
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create
          - destroy

        blockform will perform the following actions:

          # backup.weekly will be taken (full backup)
          + resource "backup" "weekly" {
              + volume = "volume-5c0e"
              + store  = "nas"
              + mode   = "full"
              + force  = false
              + id     = (known after apply)
            }

          # backup.nightly[0] will be pruned
          # DATA LOSS: retention deletes this backup; it can no longer be restored
          - resource "backup" "nightly" {
              - volume = "volume-5c0e" -> null
              - store  = "nas" -> null
              - mode   = "incremental" -> null
              - id     = "backup-a0" -> null
            }

          # volume.restored will be created from a backup
          + resource "volume" "restored" {
              + name   = "restored"
              + type   = "type-1"
              + size   = 100
              + source = {
                  + backup = "backup-b7"
                }
              + id     = (known after apply)
            }

        Plan: 2 to add, 0 to change, 1 to destroy; 1 to back up, 1 to prune, 1 to restore.

        ╷
        │ Warning: This plan destroys data
        │
        │ The following actions destroy data:
        │   backup.nightly[0]  retention deletes this backup; it can no longer be restored
        │
        │ `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.
        ╵
        "#);
    }

    #[test]
    fn summary_counts_storage_actions() {
        let plan = plan(vec![
            create_volume(),
            extend_volume(),
            retype_volume(),
            replace_volume(),
            delete_qos(),
            attach(),
            backup(),
            prune(),
        ]);
        let text = render(&plan);
        let summary: Vec<&str> = text.lines().filter(|l| l.starts_with("Plan:")).collect();
        insta::assert_snapshot!(summary.join("\n"), @r#"Plan: 4 to add, 2 to change, 3 to destroy; 1 to extend, 1 to retype, 1 to attach, 1 to back up, 1 to prune."#);
    }

    #[test]
    fn no_changes() {
        insta::assert_snapshot!(render(&plan(vec![unchanged_type()])), @r#"
        No changes. Your storage matches the configuration.

        blockform has compared your real storage against your configuration and found no differences, so no changes are needed.
        "#);
    }

    #[test]
    fn no_changes_to_destroy() {
        let plan = Plan {
            mode: PlanMode::Destroy,
            ..plan(Vec::new())
        };
        insta::assert_snapshot!(render(&plan), @r#"
        No changes. No objects need to be destroyed.

        Either you have not created any objects yet or the existing objects were already deleted outside of blockform.
        "#);
    }

    #[test]
    fn refresh_only_with_drift() {
        let plan = Plan {
            mode: PlanMode::RefreshOnly,
            drift: drift(),
            ..plan(Vec::new())
        };
        insta::assert_snapshot!(render(&plan), @r#"
        Note: Objects have changed outside of blockform

        blockform detected the following changes made outside of blockform since the last "blockform apply":

          # volume.logs has changed
          ~ resource "volume" "logs" {
              ~ name = "logs" -> "logs-old"
              ~ size = 10 -> 15
                id   = "volume-7a1d"
                # (1 unchanged attribute hidden)
            }

          # volume.tmp has been deleted
          - resource "volume" "tmp" {
              - name = "tmp" -> null
              - size = 5 -> null
              - id   = "volume-0b0b" -> null
            }

        This is a refresh-only plan, so blockform will not take any actions to undo these. If you were expecting these changes then you can apply this plan to record the updated values in the blockform state without changing any storage objects.
        "#);
    }

    #[test]
    fn refresh_only_without_drift() {
        let plan = Plan {
            mode: PlanMode::RefreshOnly,
            ..plan(Vec::new())
        };
        insta::assert_snapshot!(render(&plan), @r#"
        No changes. Your storage still matches the configuration.

        blockform has checked that the real storage objects still match the result of your most recent changes, and found no differences.
        "#);
    }

    #[test]
    fn drift_comes_before_the_actions() {
        let mut extend = extend_volume();
        extend.notes.clear();
        let plan = Plan {
            drift: drift(),
            ..plan(vec![extend])
        };
        insta::assert_snapshot!(render(&plan), @r#"
        Note: Objects have changed outside of blockform

        blockform detected the following changes made outside of blockform since the last "blockform apply" which may have affected this plan:

          # volume.logs has changed
          ~ resource "volume" "logs" {
              ~ name = "logs" -> "logs-old"
              ~ size = 10 -> 15
                id   = "volume-7a1d"
                # (1 unchanged attribute hidden)
            }

          # volume.tmp has been deleted
          - resource "volume" "tmp" {
              - name = "tmp" -> null
              - size = 5 -> null
              - id   = "volume-0b0b" -> null
            }

        Unless you have made equivalent changes to your configuration, or ignored the relevant attributes using ignore_changes, the following plan may include actions to undo or respond to these changes.

        ─────────────────────────────────────────────────────────────────────────────

        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          ~ update in-place

        blockform will perform the following actions:

          # volume.logs will be extended from 10 GiB to 20 GiB and updated in-place
          ~ resource "volume" "logs" {
                name     = "logs"
              ~ size     = 10 -> 20 GiB (extend)
              ~ tags     = [
                    "logs",
                  + "prod",
                ]
              ~ metadata = {
                  ~ tier = "warm" -> "hot"
                  + team = "sre"
                    # (1 unchanged element hidden)
                }
                id       = "volume-7a1d"
                # (1 unchanged attribute hidden)
            }

        Plan: 0 to add, 1 to change, 0 to destroy; 1 to extend.
        "#);
    }

    #[test]
    fn output_changes_hide_sensitive_values() {
        let plan = Plan {
            outputs: outputs(),
            ..plan(vec![unchanged_type()])
        };
        insta::assert_snapshot!(render(&plan), @r#"
        Changes to Outputs:
          + db_id       = (known after apply)
          + admin_token = (sensitive value)
          ~ sizes       = [
              - 10,
              + 20,
                50,
            ]
          - old_id      = "volume-0b0b" -> null

        You can apply this plan to save these new output values to the blockform state, without changing any real storage.
        "#);
    }

    #[test]
    fn warnings_come_last() {
        let plan = Plan {
            warnings: vec![
                "resource targeting is in effect: the plan may be incomplete; use --target only to recover from \
                 mistakes, not routinely"
                    .to_owned(),
            ],
            targets: vec!["volume.db".to_owned()],
            ..plan(vec![create_volume()])
        };
        let text = render(&plan);
        let tail = &text[text.find("Plan:").unwrap_or(0)..];
        insta::assert_snapshot!(tail, @r#"
        Plan: 1 to add, 0 to change, 0 to destroy.

        ╷
        │ Warning: resource targeting is in effect
        │
        │ the plan may be incomplete; use --target only to recover from mistakes, not routinely
        ╵
        "#);
    }

    #[test]
    fn colours_only_when_asked() {
        let mut plan = plan(vec![
            create_volume(),
            update_description(),
            extend_volume(),
            replace_volume(),
            replace_snapshot(),
            delete_volume(),
            attach(),
        ]);
        plan.drift = drift();
        plan.outputs = outputs();
        plan.warnings = vec!["a warning".to_owned()];
        let without = render_plan(&plan, false);
        let coloured = render_plan(&plan, true);
        assert!(!without.contains('\u{1b}'), "{without}");
        assert!(coloured.contains("\u{1b}[32m+\u{1b}[0m"), "{coloured}");
        assert!(
            coloured.contains("\u{1b}[31m-\u{1b}[0m/\u{1b}[32m+\u{1b}[0m resource"),
            "{coloured}"
        );
        assert!(coloured.contains("\u{1b}[1;31m# DATA LOSS:\u{1b}[0m"), "{coloured}");
        let stripped = strip_ansi(&coloured);
        assert_eq!(stripped, without);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('\u{1b}') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('m').map_or(rest.len(), |m| start + m + 1);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn a_state_object_as_show_prints_it() {
        let mut attributes = serde_json::Map::new();
        // In key order: serde_json may or may not keep insertion order.
        attributes.insert("id".into(), serde_json::json!("volume-5c0e"));
        attributes.insert("name".into(), serde_json::json!("db-data"));
        attributes.insert("size".into(), serde_json::json!(100));
        attributes.insert("tags".into(), serde_json::json!(["db", "prod"]));
        let resource = ResourceState {
            address: "volume.db".to_owned(),
            backend_id: "volume-5c0e".to_owned(),
            provider: Some("ssd".to_owned()),
            attributes,
            dependencies: Vec::new(),
            status: "available".to_owned(),
        };
        insta::assert_snapshot!(render_state_resource(&resource), @r#"
        # volume.db (available):
        resource "volume" "db" {
            id   = "volume-5c0e"
            name = "db-data"
            size = 100
            tags = [
                "db",
                "prod",
            ]
        }
        "#);
    }

    #[test]
    fn noop_changes_are_left_out() {
        let text = render(&plan(vec![unchanged_type(), create_volume()]));
        assert!(!text.contains("volume_type.std"), "{text}");
    }
}
