/** The console's one stylesheet, served same-origin at /admin/console.css (no inline style: the CSP forbids it). */
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b57d0; --bad: #a40e26; --ok: #116329; }
* { box-sizing: border-box; }
body { margin: 0; font: 1rem/1.5 system-ui, sans-serif; color: var(--fg); background: #fff; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus { outline: 3px solid #f6b73c; outline-offset: 2px; }
.skip { position: absolute; left: -999em; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
header { border-bottom: 1px solid var(--line); padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: baseline; }
header .who { color: var(--muted); margin-left: auto; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
nav a[aria-current="page"] { font-weight: bold; text-decoration: none; color: var(--fg); }
main { padding: 1rem; max-width: 80rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { white-space: nowrap; }
td.mono, td.wrap { overflow-wrap: anywhere; min-width: 10rem; }
th { background: #f6f8fa; }
.table-wrap { overflow-x: auto; }
.table-wrap table { min-width: 44rem; }
form.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .25rem 0; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin: .5rem 0 1rem; }
.field { display: flex; flex-direction: column; }
label { font-size: .9rem; color: var(--muted); }
input, select, button { font: inherit; padding: .3rem .5rem; }
button { border: 1px solid var(--line); background: #f6f8fa; border-radius: 4px; cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
.flash { border-left: 4px solid var(--ok); padding: .5rem 1rem; background: #eef8f0; }
.problem { border-left: 4px solid var(--bad); padding: .5rem 1rem; background: #fdf0f1; }
.status-ok { color: var(--ok); font-weight: bold; }
.status-bad { color: var(--bad); font-weight: bold; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; }
code, .mono { font-family: ui-monospace, monospace; font-size: .9em; }
`;
