//! A plan summary for pull-request comments: the summary line as a heading, a table of the
//! changes, what destroys data, and the full terminal plan folded away in `<details>`.

use std::fmt::{self, Write as _};

use super::human::{self, clean};
use super::wording::{self, DATA_LOSS_HINT, present};
use crate::plan::{Change, Plan, PlanMode};

/// Renders a Markdown summary of the plan.
pub fn plan_summary(plan: &Plan) -> String {
    let mut out = String::new();
    // Writing into a `String` cannot fail.
    let _ = if plan.mode == PlanMode::RefreshOnly {
        write_refresh_only(&mut out, plan)
    } else {
        write_summary(&mut out, plan)
    };
    out
}

/// A normal or destroy plan.
fn write_summary(out: &mut String, plan: &Plan) -> fmt::Result {
    let changes: Vec<&Change> = plan.changes.iter().filter(|c| !c.is_noop()).collect();
    let outputs: Vec<String> = plan
        .outputs
        .iter()
        .filter(|o| present(o.before.as_ref()) != present(o.after.as_ref()))
        .map(|o| format!("`{}`", o.name))
        .collect();
    if changes.is_empty() && outputs.is_empty() {
        let detail = if plan.mode == PlanMode::Destroy {
            "No objects need to be destroyed."
        } else {
            "Your storage matches the configuration."
        };
        writeln!(out, "### No changes\n\n{detail}")?;
        return write_warnings(out, &plan.warnings);
    }
    let summary = wording::summary_line(&plan.summary());
    writeln!(out, "### {}", summary.trim_end_matches('.'))?;
    if !changes.is_empty() {
        out.push_str("\n| Action | Address | What | Data loss |\n|:---:|---|---|:---:|\n");
        for change in &changes {
            writeln!(
                out,
                "| `{}` | `{}` | {} | {} |",
                change.action.symbol(),
                clean(&change.address.to_string()),
                cell(&what(change)),
                if change.data_loss { "**yes**" } else { "" }
            )?;
        }
    }
    if !outputs.is_empty() {
        writeln!(out, "\nChanges to outputs: {}.", outputs.join(", "))?;
    }
    if !plan.drift.is_empty() {
        writeln!(
            out,
            "\n{} changed outside blockform since the last apply; see the full plan.",
            objects(plan.drift.len())
        )?;
    }
    let losses: Vec<&&Change> = changes.iter().filter(|c| c.data_loss).collect();
    if !losses.is_empty() {
        out.push_str("\n#### Data loss\n\nThe following actions destroy data:\n\n");
        for change in losses {
            writeln!(
                out,
                "- `{}`: {}",
                clean(&change.address.to_string()),
                clean(&wording::data_loss(change))
            )?;
        }
        writeln!(out, "\n{DATA_LOSS_HINT}")?;
    }
    write_warnings(out, &plan.warnings)?;
    write_details(out, plan);
    Ok(())
}

/// A refresh-only plan: the objects that changed outside blockform.
fn write_refresh_only(out: &mut String, plan: &Plan) -> fmt::Result {
    if plan.drift.is_empty() {
        out.push_str("### No changes\n\nYour storage still matches the configuration.\n");
        return write_warnings(out, &plan.warnings);
    }
    writeln!(
        out,
        "### Refresh-only plan: {} changed outside blockform",
        objects(plan.drift.len())
    )?;
    out.push_str("\n| Action | Address | What |\n|:---:|---|---|\n");
    for drift in &plan.drift {
        let (symbol, what) = if drift.after.is_some() {
            ("~", "changed")
        } else {
            ("-", "deleted")
        };
        writeln!(out, "| `{symbol}` | `{}` | {what} |", clean(&drift.address.to_string()))?;
    }
    out.push_str("\nApplying this plan records the new values in state; it changes no storage objects.\n");
    write_warnings(out, &plan.warnings)?;
    write_details(out, plan);
    Ok(())
}

fn write_warnings(out: &mut String, warnings: &[String]) -> fmt::Result {
    for warning in warnings {
        writeln!(out, "\n> **Warning:** {}", clean(warning))?;
    }
    Ok(())
}

/// The full terminal plan, without colours, folded away.
fn write_details(out: &mut String, plan: &Plan) {
    let text = human::render_plan(plan, false);
    // A fence longer than any run of backticks in the plan (a value can hold "```"), so no
    // value can close it and write Markdown of its own.
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = write!(out, "\n<details><summary>Full plan</summary>\n\n{fence}\n");
    out.push_str(&text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let _ = write!(out, "{fence}\n\n</details>\n");
}

/// The heading of the change without its `will be`/`must be`: `created`, `extended from …`.
fn what(change: &Change) -> String {
    let heading = wording::heading(change);
    ["will be ", "must be "]
        .iter()
        .find_map(|prefix| heading.strip_prefix(prefix))
        .map_or_else(|| heading.clone(), str::to_owned)
}

/// Text safe inside a table cell: no control characters, pipes escaped.
fn cell(text: &str) -> String {
    let text = clean(text).into_owned();
    if text.contains('|') {
        text.replace('|', "\\|")
    } else {
        text
    }
}

/// `1 object`, `3 objects`.
fn objects(count: usize) -> String {
    if count == 1 {
        "1 object".to_owned()
    } else {
        format!("{count} objects")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::*;

    #[test]
    fn a_summary_with_data_loss() {
        let mut plan = plan(vec![
            create_volume(),
            extend_volume(),
            replace_volume(),
            delete_qos(),
            attach(),
            prune(),
            unchanged_type(),
        ]);
        plan.outputs = outputs()[..1].to_vec();
        insta::assert_snapshot!(plan_summary(&plan), @r#"
        ### Plan: 3 to add, 1 to change, 3 to destroy; 1 to extend, 1 to attach, 1 to prune

        | Action | Address | What | Data loss |
        |:---:|---|---|:---:|
        | `+` | `volume.db` | created |  |
        | `~` | `volume.logs` | extended from 10 GiB to 20 GiB and updated in-place |  |
        | `-/+` | `volume.db` | replaced | **yes** |
        | `-` | `qos.silver` | destroyed |  |
        | `+` | `attachment.db` | attached |  |
        | `-` | `backup.nightly[0]` | pruned | **yes** |

        Changes to outputs: `db_id`.

        #### Data loss

        The following actions destroy data:

        - `volume.db`: the volume is destroyed and a new one takes its place; its data is not carried over
        - `backup.nightly[0]`: retention deletes this backup; it can no longer be restored

        `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.

        <details><summary>Full plan</summary>

        ```
        blockform used the selected providers to generate the following execution plan. Resource actions are indicated with the following symbols:
          + create
          - destroy
          ~ update in-place
        -/+ destroy and then create replacement

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

          # attachment.db will be attached
          + resource "attachment" "db" {
              + volume   = (known after apply)
              + instance = "web-1"
              + host     = "kvm"
              + device   = "vdb"
              + id       = (known after apply)
            }

          # backup.nightly[0] will be pruned
          # DATA LOSS: retention deletes this backup; it can no longer be restored
          - resource "backup" "nightly" {
              - volume = "volume-5c0e" -> null
              - store  = "nas" -> null
              - mode   = "incremental" -> null
              - id     = "backup-a0" -> null
            }

        Plan: 3 to add, 1 to change, 3 to destroy; 1 to extend, 1 to attach, 1 to prune.

        Changes to Outputs:
          + db_id = (known after apply)

        ╷
        │ Warning: This plan destroys data
        │
        │ The following actions destroy data:
        │   volume.db          the volume is destroyed and a new one takes its place; its data is not carried over
        │   backup.nightly[0]  retention deletes this backup; it can no longer be restored
        │
        │ `blockform apply --auto-approve` refuses this plan unless `--allow-data-loss` is also given.
        ╵
        ```

        </details>
        "#);
    }

    #[test]
    fn a_summary_without_changes() {
        insta::assert_snapshot!(plan_summary(&plan(vec![unchanged_type()])), @r#"
        ### No changes

        Your storage matches the configuration.
        "#);
    }

    #[test]
    fn a_refresh_only_summary() {
        let plan = Plan {
            mode: PlanMode::RefreshOnly,
            drift: drift(),
            ..plan(Vec::new())
        };
        insta::assert_snapshot!(plan_summary(&plan), @r#"
        ### Refresh-only plan: 2 objects changed outside blockform

        | Action | Address | What |
        |:---:|---|---|
        | `~` | `volume.logs` | changed |
        | `-` | `volume.tmp` | deleted |

        Applying this plan records the new values in state; it changes no storage objects.

        <details><summary>Full plan</summary>

        ```
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
        ```

        </details>
        "#);
    }

    #[test]
    fn user_text_cannot_reach_the_terminal_raw_or_close_the_code_fence() {
        let mut change = crate::render::fixtures::update_description();
        if let Some(after) = change.after.as_mut() {
            after.insert(
                "description".into(),
                crate::render::fixtures::s("```\n</details>\n# pwned \u{1b}[2J\r\n"),
            );
        }
        let mut plan = crate::render::fixtures::plan(vec![change]);
        plan.warnings.push("Careful: \u{1b}]0;title\u{7}".to_owned());
        let text = plan_summary(&plan);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text}");
        assert!(text.contains("\n````\n"), "a four-backtick fence: {text}");
        assert!(text.ends_with("````\n\n</details>\n"), "{text}");
        assert_eq!(text.matches("</details>").count(), 2, "{text}");
    }

    #[test]
    fn table_cells_escape_pipes() {
        assert_eq!(cell("a | b"), "a \\| b");
    }

    #[test]
    fn the_details_hold_the_plan_without_colours() {
        let text = plan_summary(&plan(vec![replace_volume()]));
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains(&human::render_plan(&plan(vec![replace_volume()]), false)));
    }
}
