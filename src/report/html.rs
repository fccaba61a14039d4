//! The HTML access report: one self-contained page (inline CSS and a small inline script,
//! nothing loaded from elsewhere) with a recipients-by-files matrix whose rows and
//! columns can be sorted by clicking, and a table of the files. Every string is escaped.

use crate::report::Access;
use crate::report::Reach;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #bbb;padding:.3em .5em;font-size:.85em;text-align:left;vertical-align:top}\
thead th,tbody th{background:#f0f0f0;cursor:pointer}\
thead th.corner{cursor:default}\
td.alone{background:#f8c9c4}td.partial{background:#fbe7b5}td.none{color:#999}\
.id{font-family:monospace;word-break:break-all;min-width:16em;max-width:28em}\
.drift{color:#a00}.note{color:#555;font-size:.85em}";

// Column sort: click a file (column) header to order the recipients by that column;
// row sort: click a recipient (row) header to order the files by that row. Cells are
// compared by their data-rank (alone < with others < none), then by text.
const SCRIPT: &str = r#"(function(){
var t=document.getElementById('matrix');if(!t)return;
function rank(c){return c?(c.getAttribute('data-rank')||'9')+c.textContent:'';}
var asc={};
t.tHead.rows[0].addEventListener('click',function(e){
 var th=e.target.closest('th');if(!th||th.classList.contains('corner'))return;
 var i=th.cellIndex,b=t.tBodies[0],rows=[].slice.call(b.rows),k='c'+i;asc[k]=!asc[k];
 rows.sort(function(x,y){var a=rank(x.cells[i]),c=rank(y.cells[i]);return (a<c?-1:a>c?1:0)*(asc[k]?1:-1);});
 rows.forEach(function(r){b.appendChild(r);});});
t.tBodies[0].addEventListener('click',function(e){
 var th=e.target.closest('th');if(!th)return;
 var row=th.parentNode,k='r'+row.getAttribute('data-key');asc[k]=!asc[k];
 var n=row.cells.length,idx=[];for(var j=1;j<n;j++)idx.push(j);
 idx.sort(function(x,y){var a=rank(row.cells[x]),c=rank(row.cells[y]);return (a<c?-1:a>c?1:0)*(asc[k]?1:-1);});
 [].slice.call(t.rows).forEach(function(r){var cells=[].slice.call(r.cells);idx.forEach(function(j){r.appendChild(cells[j]);});});});
})();"#;

/// The whole page.
pub fn page(a: &Access, title: &str) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    s.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
    );
    s.push_str(&format!(
        "<title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    ));
    s.push_str(&format!("<h1>{}</h1>\n", escape(title)));
    let recipients = a.recipients();
    s.push_str(&format!(
        "<p class=\"note\">{} encrypted file(s), {} recipient(s). A cell says how the recipient opens the file's data key: <b>alone</b>, or only together with keys of other key groups (Shamir). Click a file header to sort the recipients by it, a recipient to sort the files.</p>\n",
        a.files.len(),
        recipients.len()
    ));
    s.push_str("<h2>Recipients by files</h2>\n<table id=\"matrix\"><thead><tr><th class=\"corner\">recipient</th>");
    for f in &a.files {
        s.push_str(&format!("<th class=\"file\">{}</th>", escape(&f.path)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (n, r) in recipients.iter().enumerate() {
        s.push_str(&format!(
            "<tr data-key=\"{n}\"><th class=\"id\">{}</th>",
            escape(&r.key.label())
        ));
        for i in 0..a.files.len() {
            match r.files.iter().find(|(j, _)| *j == i).map(|(_, x)| x) {
                Some(Reach::Alone) => s.push_str("<td class=\"alone\" data-rank=\"0\">alone</td>"),
                Some(x) => s.push_str(&format!(
                    "<td class=\"partial\" data-rank=\"1\">{}</td>",
                    escape(&x.short())
                )),
                None => s.push_str("<td class=\"none\" data-rank=\"2\"></td>"),
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s.push_str("<h2>Files</h2>\n<table id=\"files\"><thead><tr><th>file</th><th>opens with</th><th>key groups</th><th>data key since</th><th>last rotation in git</th><th>drift from .sops.yaml</th></tr></thead><tbody>\n");
    for f in &a.files {
        let groups: Vec<String> = f
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let keys: Vec<String> = g.iter().map(|k| escape(&k.label())).collect();
                format!("{}: {}", i + 1, keys.join("<br>"))
            })
            .collect();
        let since = f
            .key_born
            .as_ref()
            .map(|(t, _)| escape(t))
            .unwrap_or_default();
        let git = f
            .git_rotation
            .as_ref()
            .map(|g| {
                escape(&format!(
                    "{} {} {}: {}",
                    g.commit.short, g.commit.date, g.commit.author, g.commit.subject
                ))
            })
            .unwrap_or_default();
        let drift = match (&f.drift, f.has_rule) {
            (Some(d), _) => format!("<span class=\"drift\">{}</span>", escape(d)),
            (None, false) => "no rule".to_owned(),
            (None, true) => "none".to_owned(),
        };
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"id\">{}</td><td>{since}</td><td>{git}</td><td>{drift}</td></tr>\n",
            escape(&f.path),
            escape(&f.combinations()),
            groups.join("<br>"),
        ));
    }
    s.push_str("</tbody></table>\n");
    s.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
