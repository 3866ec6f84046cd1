// Shared page behaviour: render math in model text, safely (trust off, no HTML from LaTeX).
(function () {
  "use strict";
  // Bare environments (no $ around them), as in PRM800K steps; the same list as _ENVS in
  // annotate/templatetags/labeling_tags.py, which keeps Markdown off them.
  var ENVS = [];
  ["equation", "align", "alignat", "gather", "CD"].forEach(function (env) {
    [env, env + "*"].forEach(function (name) {
      ENVS.push({ left: "\\begin{" + name + "}", right: "\\end{" + name + "}", display: true });
    });
  });
  function renderMath(root) {
    if (!window.renderMathInElement) return;
    window.renderMathInElement(root, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false },
      ].concat(ENVS),
      throwOnError: false,
      trust: false,
      ignoredClasses: ["no-math"],
    });
  }
  // Every .math element in (or being) root. Rendering twice is harmless: rendered text
  // has no delimiters left.
  function renderIn(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.classList && root.classList.contains("math")) renderMath(root);
    root.querySelectorAll(".math").forEach(renderMath);
  }
  window.stepwiseRenderMath = renderMath;
  // htmx:load fires on the page at start-up and on every element a swap puts in. Not
  // htmx:afterSwap: after an outerHTML swap its target is the old, detached element, so
  // new content (the whole task panel after each key press) stayed raw LaTeX.
  document.addEventListener("htmx:load", function (event) { renderIn(event.detail.elt); });
  // An innerHTML swap into a .math target puts in text, which htmx:load does not report.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.isConnected) renderIn(event.detail.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) renderIn(document.body);
  });
  // Targets marked data-show-errors show a 4xx answer's message instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status >= 400 && event.detail.xhr.status < 500 && target && target.hasAttribute("data-show-errors")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
