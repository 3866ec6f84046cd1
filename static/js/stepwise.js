// Shared page behaviour: render math in model text, safely (trust off, no HTML from LaTeX).
(function () {
  "use strict";
  function renderMath(root) {
    if (!window.renderMathInElement) return;
    window.renderMathInElement(root, {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false },
        { left: "$", right: "$", display: false },
      ],
      throwOnError: false,
      trust: false,
      ignoredClasses: ["no-math"],
    });
  }
  window.stepwiseRenderMath = renderMath;
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".math").forEach(renderMath);
  });
  // Targets marked data-show-errors show a 4xx answer's message instead of dropping it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status >= 400 && event.detail.xhr.status < 500 && target && target.hasAttribute("data-show-errors")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    event.detail.target.querySelectorAll(".math").forEach(renderMath);
    if (event.detail.target.classList && event.detail.target.classList.contains("math")) renderMath(event.detail.target);
  });
})();
