//! The console's server-rendered pages: the runs list (filter by state, search, runs that
//! need the operator first) and one page per run (next action, actions, the DAG as SVG, step
//! details, history). The embedded script updates a run page live from its event stream.

use super::svg::dag_svg;
use crate::commands::control::{created, teardown_steps};
use crate::daemon::page::escape;
use crate::render::next::{guidance, Guidance};
use crate::render::{event_text, fmt_utc, status_label};
use crate::service::types::{RunList, RunStatus};
use failback_state::{EventRecord, RunState, RunSummary, StepRecord, StepStatus};
use std::fmt::Write as _;

/// The page around a body: styles, script, the header.
pub fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · failback</title><link rel=\"stylesheet\" href=\"/ui/assets/ui.css\">\
         <script src=\"/ui/assets/ui.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/ui/runs\">failback</a> <nav><a href=\"/ui/runs\">Runs</a></nav></header>\
         <main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// Why a run needs the operator, if it does.
pub fn attention(state: RunState, awaiting: bool) -> Option<&'static str> {
    match state {
        RunState::Failed => Some("failed: fix the cause, then retry"),
        RunState::Paused => Some("paused: unpause to drive it"),
        _ if awaiting && !state.is_terminal() => {
            Some("waiting for failback: signal when it is complete")
        }
        _ => None,
    }
}

/// One row of the runs list.
pub struct ListRow {
    pub run: RunSummary,
    pub attention: Option<&'static str>,
}

/// What the list shows: the filter and the search.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
}

fn state_filter(q: &ListQuery) -> String {
    let mut out = String::from("<option value=\"\">any state</option>");
    for s in RunState::ALL {
        let sel = if q.state.as_deref() == Some(s.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{sel}>{}</option>", s.as_str());
    }
    out
}

/// `/ui/runs`: rows already filtered and ordered (needs attention first).
pub fn runs_page(list: &RunList, rows: &[ListRow], q: &ListQuery) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"/ui/runs\" role=\"search\">\
         <label>State <select name=\"state\">{}</select></label> \
         <label>Search <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"run id, spec, error\"></label> \
         <button type=\"submit\">Filter</button></form>",
        state_filter(q),
        escape(q.q.as_deref().unwrap_or(""))
    );
    for w in &list.warnings {
        let _ = write!(b, "<p class=\"warning\">{}</p>", escape(w));
    }
    let _ = write!(
        b,
        "<p class=\"muted\">{} run(s) shown at {} · <span id=\"live\">live updates off</span></p>\
         <p id=\"runs-note\" role=\"status\" aria-live=\"polite\"></p><div class=\"scroll\"><table id=\"runs\" data-events=\"/ui/runs/events\">\
         <thead><tr><th>run</th><th>state</th><th>needs you</th><th>updated</th><th>spec</th></tr></thead><tbody>",
        rows.len(),
        fmt_utc(list.now)
    );
    for row in rows {
        let r = &row.run;
        let _ = write!(
            b,
            "<tr data-run=\"{id}\" data-state=\"{st}\"{cls}><td><a href=\"/ui/runs/{id}\">{id}</a></td>\
             <td><span class=\"badge {st}\">{st}</span></td><td>{att}</td><td>{}</td><td>{}</td></tr>",
            fmt_utc(r.updated_at),
            escape(r.labels.get("spec").map_or("", String::as_str)),
            id = escape(&r.id),
            st = r.state.as_str(),
            cls = if row.attention.is_some() { " class=\"attention\"" } else { "" },
            att = escape(row.attention.unwrap_or("")),
        );
    }
    b.push_str("</tbody></table></div>");
    shell("Runs", &b)
}

/// Does a run's row match the search text (id, spec, error; case-insensitive)?
pub fn matches(r: &RunSummary, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty()
        || [
            Some(r.id.as_str()),
            r.labels.get("spec").map(String::as_str),
            r.error.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|f| f.to_lowercase().contains(&q))
}

fn next_box(b: &mut String, s: &RunStatus) {
    let g = guidance(&s.run, &s.steps, s.now);
    let _ = write!(
        b,
        "<section class=\"next\" aria-labelledby=\"next-h\"><h2 id=\"next-h\">Next action</h2>\
         <p id=\"next\">{}</p><div id=\"guidance\">{}</div></section>",
        escape(&g.next),
        guidance_html(&g, s.run.error.as_deref())
    );
}

/// What the run waits on, the manual steps and the error (the live stream sends it again).
pub(crate) fn guidance_html(g: &Guidance, error: Option<&str>) -> String {
    let mut b = String::new();
    if let Some(a) = &g.awaiting {
        let _ = write!(b, "<p>Awaiting: {}</p>", escape(a));
    }
    for (step, what) in &g.manual {
        let _ = write!(b, "<p>Manual ({}): {}</p>", escape(step), escape(what));
    }
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\">Error: {}</p>", escape(e));
    }
    b
}

/// What `cancel --teardown` would delete, deepest first (as the CLI's preview).
fn teardown_list(s: &RunStatus) -> String {
    let done = teardown_steps(s);
    if done.is_empty() {
        return "<p>The run has created nothing that teardown would delete.</p>".into();
    }
    let mut out = String::from(
        "<p>Cancelling with teardown deletes what the run created:</p><ul class=\"deletes\">",
    );
    for step in done {
        for what in created(step) {
            let _ = write!(
                out,
                "<li><code>{}</code> <span class=\"muted\">(undo {})</span></li>",
                escape(&what),
                escape(&step.step_id)
            );
        }
    }
    out.push_str("</ul>");
    out
}

/// One action's form: a POST with the session's CSRF token, confirmed in the page.
fn action_form(
    id: &str,
    csrf: &str,
    action: &str,
    label: &str,
    confirm: &str,
    extra: &str,
) -> String {
    format!(
        "<form class=\"action\" method=\"post\" action=\"/ui/runs/{id}/{action}\" data-confirm=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{extra}\
         <button type=\"submit\" data-action=\"{action}\">{}</button></form>",
        escape(confirm),
        escape(label),
        id = escape(id),
    )
}

fn actions(b: &mut String, s: &RunStatus, csrf: &str) {
    let id = s.run.id.as_str();
    let signal = crate::service::local::KNOWN_SIGNALS[0];
    b.push_str(
        "<section aria-labelledby=\"act-h\"><h2 id=\"act-h\">Actions</h2><div class=\"actions\">",
    );
    b.push_str(&action_form(
        id,
        csrf,
        "signal",
        &format!("Signal {signal}"),
        &format!("Signal {signal} to run {id}? The wait for failback ends and teardown starts."),
        &format!("<input type=\"hidden\" name=\"signal\" value=\"{signal}\">"),
    ));
    let mut from = String::from(
        "<label>from <select name=\"from\"><option value=\"\">the failed steps</option>",
    );
    for st in &s.steps {
        let _ = write!(from, "<option>{}</option>", escape(&st.step_id));
    }
    from.push_str("</select></label>");
    b.push_str(&action_form(
        id,
        csrf,
        "retry",
        "Retry",
        &format!("Retry run {id}?"),
        &from,
    ));
    b.push_str(&action_form(
        id,
        csrf,
        "pause",
        "Pause",
        &format!("Pause run {id}?"),
        "",
    ));
    b.push_str(&action_form(
        id,
        csrf,
        "resume",
        "Unpause",
        &format!("Unpause run {id}?"),
        "",
    ));
    b.push_str(&action_form(
        id,
        csrf,
        "cancel",
        "Cancel",
        &format!("Cancel run {id}? What it created is kept."),
        "",
    ));
    let _ = write!(
        b,
        "</div><details class=\"teardown\"><summary>Cancel with teardown…</summary>{}{}</details>\
         <p id=\"action-result\" role=\"status\" aria-live=\"polite\"></p></section>",
        teardown_list(s),
        action_form(
            id,
            csrf,
            "cancel",
            "Cancel and delete these",
            &format!("Cancel run {id} and delete what it created?"),
            "<input type=\"hidden\" name=\"teardown\" value=\"true\">",
        )
    );
}

fn last_error(s: &StepRecord) -> String {
    match &s.status {
        StepStatus::Failed { error } => format!("{}: {}", error.code, error.message),
        _ => String::new(),
    }
}

/// What a succeeded step created: Azure resource ids link to the Azure portal.
fn created_html(st: &StepRecord) -> String {
    created(st)
        .iter()
        .map(|what| {
            if what.starts_with("/subscriptions/") {
                format!(
                    "<a href=\"https://portal.azure.com/#resource{id}\" rel=\"noreferrer\" target=\"_blank\"><code>{id}</code></a>",
                    id = escape(what)
                )
            } else {
                escape(what)
            }
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn steps_table(b: &mut String, s: &RunStatus) {
    b.push_str(
        "<section aria-labelledby=\"steps-h\"><h2 id=\"steps-h\">Steps</h2><div class=\"scroll\"><table id=\"steps\">\
         <thead><tr><th>step</th><th>state</th><th>attempts</th><th>retries</th><th>polls</th>\
         <th>last poll</th><th>last error</th><th>created</th></tr></thead><tbody>",
    );
    for st in &s.steps {
        let _ = write!(
            b,
            "<tr id=\"step-{id}\" data-step=\"{id}\"><td>{id}</td><td class=\"status\" data-status=\"{n}\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td><td>{}</td></tr>",
            escape(&status_label(st)),
            st.attempt,
            st.retries,
            st.polls,
            st.last_poll_at.map(fmt_utc).unwrap_or_default(),
            escape(&last_error(st)),
            created_html(st),
            id = escape(&st.step_id),
            n = st.status.name(),
        );
    }
    b.push_str("</tbody></table></div></section>");
}

/// One history row (also the live stream's `history` event's HTML).
pub fn history_row(e: &EventRecord) -> String {
    format!(
        "<tr data-seq=\"{}\" data-step=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
        e.seq,
        escape(e.step_id.as_deref().unwrap_or("")),
        e.seq,
        fmt_utc(e.at),
        escape(&event_text(e))
    )
}

fn history(b: &mut String, events: &[EventRecord], next: u64) {
    let _ = write!(
        b,
        "<section aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">History</h2>\
         <label>Filter <input type=\"search\" id=\"history-filter\" placeholder=\"step or text\"></label>\
         <div class=\"scroll\"><table id=\"history\" data-next=\"{next}\"><thead><tr><th>#</th><th>at</th><th>event</th></tr></thead><tbody>"
    );
    for e in events {
        b.push_str(&history_row(e));
    }
    b.push_str("</tbody></table></div></section>");
}

/// `/ui/runs/{id}`.
pub fn run_page(s: &RunStatus, events: &[EventRecord], next: u64, csrf: &str) -> String {
    let id = escape(&s.run.id);
    let st = s.run.state.as_str();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1 id=\"run\" data-run=\"{id}\" data-events=\"/ui/runs/{id}/events\">Run {id} \
         <span id=\"run-state\" class=\"badge {st}\">{st}</span></h1>\
         <p class=\"muted\">spec {} · created {} · <span id=\"live\">live updates off</span></p>",
        escape(s.run.labels.get("spec").map_or("", String::as_str)),
        fmt_utc(s.run.created_at)
    );
    next_box(&mut b, s);
    actions(&mut b, s, csrf);
    let _ = write!(
        b,
        "<section aria-labelledby=\"dag-h\"><h2 id=\"dag-h\">Steps and dependencies</h2><div class=\"scroll\">{}</div></section>",
        dag_svg(&s.steps, &s.edges)
    );
    steps_table(&mut b, s);
    history(&mut b, events, next);
    shell(&format!("Run {}", s.run.id), &b)
}

/// The page for a browser without a session.
pub fn login_needed() -> String {
    shell(
        "Log in",
        "<h1>Log in</h1><p>Open the one-time login link that <code>failback ui</code> prints \
         (or <code>failback daemon --ui</code> at start). Each link works once.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn summary(id: &str, state: RunState, spec: &str, error: Option<&str>) -> RunSummary {
        RunSummary {
            id: id.into(),
            workflow: "failback".into(),
            definition_version: 1,
            state,
            created_at: 0,
            updated_at: 0,
            error: error.map(str::to_owned),
            labels: BTreeMap::from([("spec".to_owned(), spec.to_owned())]),
            wake_at: None,
        }
    }

    #[test]
    fn the_operator_is_needed_by_failed_paused_and_awaiting_runs_only() {
        assert!(attention(RunState::Failed, false).is_some());
        assert!(attention(RunState::Paused, false).is_some());
        assert!(attention(RunState::Waiting, true).is_some());
        assert!(attention(RunState::Running, false).is_none());
        assert!(attention(RunState::Succeeded, true).is_none());
        assert!(attention(RunState::Cancelled, false).is_none());
    }

    #[test]
    fn search_matches_id_spec_and_error_ignoring_case() {
        let r = summary(
            "fb-1",
            RunState::Failed,
            "/etc/prod.toml",
            Some("QuotaExceeded"),
        );
        for q in ["", "FB-1", "prod", "quotaexceeded"] {
            assert!(matches(&r, q), "{q}");
        }
        assert!(!matches(&r, "staging"));
    }
}
