// Markdown to HTML exactly as JupyterLab renders a trusted Markdown output, without a browser:
// @jupyterlab/rendermime's renderMarkdown cuts the math out (removeMath), hands the rest to the
// Markdown parser that @jupyterlab/markedparser-extension sets up (marked with the gfm-heading-id
// and mangle plugins, { async: true, gfm: true }), and pastes the math back (replaceMath). Trusted
// HTML is not sanitised, so this HTML is what reaches the page. (Lab's custom code renderer only
// differs for mermaid blocks and highlighted code, which the tests do not produce.)
//
// stdin: a JSON array of Markdown strings; stdout: a JSON array of their HTML.
globalThis.navigator ??= { appName: "Netscape" }; // removeMath asks whether the browser is IE; node 20 has no navigator

const { removeMath, replaceMath } = await import("@jupyterlab/rendermime/lib/latex.js");
const { marked } = await import("marked");
const { gfmHeadingId } = await import("marked-gfm-heading-id");
const { mangle } = await import("marked-mangle");

marked.use(gfmHeadingId(), mangle());

async function render(source) {
  if (!source) return "";
  const parts = removeMath(source);
  const html = await marked(parts.text, { async: true, gfm: true });
  return replaceMath(html, parts.math);
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const sources = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const rendered = [];
for (const source of sources) rendered.push(await render(source));
process.stdout.write(JSON.stringify(rendered));
