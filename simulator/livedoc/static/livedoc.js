// Draws every <pre class="mermaid"> with the vendored mermaid, offline, then tells the page
// (and the browser test) how it went: <body data-diagrams="rendered" | "failed">.
"use strict";
(async () => {
  const body = document.body;
  try {
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict", // labels are text: no HTML, no script, no click handlers
      maxTextSize: 2000000, // the longest scenarios make large diagrams
      theme: "default",
      sequence: { useMaxWidth: false, wrap: false, width: 140, actorMargin: 30, messageFontSize: 13 },
    });
    await mermaid.run({ querySelector: "pre.mermaid" });
    body.dataset.diagrams = "rendered";
  } catch (error) {
    body.dataset.diagrams = "failed";
    body.dataset.diagramError = String(error && error.message ? error.message : error);
    console.error(error);
  }
})();
