//! `/`: a plain HTML page with the leader, the servers and the machines.
//! It refreshes itself, and on a follower it points to the leader's page.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use crate::context::MasterCtx;
use crate::view;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn index(State(ctx): State<Arc<MasterCtx>>) -> Html<String> {
    let c = view::cluster(&ctx);
    let me = ctx.cfg.api_addr();
    let (refresh, banner) = match &c.leader {
        Some(l) if l.api_addr != me => (
            format!(
                r#"<meta http-equiv="refresh" content="3; url=http://{0}/">"#,
                esc(&l.api_addr)
            ),
            format!(
                r#"<p class="note">This server follows the leader; going to <a href="http://{0}/">{0}</a>…</p>"#,
                esc(&l.api_addr)
            ),
        ),
        Some(_) => (
            r#"<meta http-equiv="refresh" content="5">"#.to_string(),
            String::new(),
        ),
        None => (
            r#"<meta http-equiv="refresh" content="2">"#.to_string(),
            r#"<p class="note">No leader elected yet.</p>"#.to_string(),
        ),
    };
    let mut servers = String::new();
    for s in &c.servers {
        servers.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"http://{1}/\">{1}</a></td><td>{2}</td><td>{3}</td></tr>",
            s.id,
            esc(&s.api_addr),
            if s.voter { "voter" } else { "learner" },
            if s.leader { "<b>leader</b>" } else { "" }
        ));
    }
    let mut machines = String::new();
    for m in &c.machines {
        let meta: Vec<String> = m.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
        machines.push_str(&format!(
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} cpus, {} MB mem, {} MB disk, ports {}</td><td>{}</td></tr>",
            esc(&m.id),
            esc(&m.id[..8.min(m.id.len())]),
            esc(&m.hostname),
            esc(&m.ip),
            esc(&meta.join(",")),
            esc(&m.status),
            m.resources.cpus,
            m.resources.mem_mb,
            m.resources.disk_mb,
            esc(&m.resources.ports),
            match (m.server_id, m.leader) {
                (Some(_), true) => "server (leader)",
                (Some(_), false) => "server",
                (None, _) => "agent",
            }
        ));
    }
    let leader = c
        .leader
        .as_ref()
        .map(|l| format!("server {} at {}", l.id, esc(&l.api_addr)))
        .unwrap_or_else(|| "none".into());
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8">{refresh}<title>corral</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.note{{background:#ffd;padding:6px}}</style>
</head><body><h1>corral</h1>{banner}
<p>Answered by server {answered} ({me}). Leader: {leader}. Term {term}, revision {rev}.</p>
<h2>Servers</h2><table><tr><th>id</th><th>master</th><th>role</th><th></th></tr>{servers}</table>
<h2>Machines</h2><table><tr><th>machine</th><th>name</th><th>ip</th><th>metadata</th><th>status</th><th>resources</th><th>role</th></tr>{machines}</table>
</body></html>"#,
        answered = c.answered_by,
        me = esc(&me),
        term = c.term,
        rev = c.revision,
    ))
}
