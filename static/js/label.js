// Keyboard-first labeling: a cursor over the shown steps; every key is one htmx POST
// that answers with the re-rendered task panel. Requests run one at a time, in order.
(function () {
  "use strict";
  var keymap = {};
  var cursor = null;          // node id under the cursor
  var shownAt = {};           // node id -> time first under the cursor, for time_spent_ms
  var chain = Promise.resolve();

  function panel() { return document.getElementById("task"); }
  function items() { return Array.prototype.slice.call(panel().querySelectorAll(".item[data-node]")); }
  function flash(msg, kind) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = msg || "";
    el.className = "flash" + (msg ? " " + (kind || "error") : "");
  }
  // What the message bar shows for a failed request: the server's own message when it is
  // short plain text (our 4xx) or JSON {"detail": ...}; never an HTML error page.
  function errorMessage(xhr) {
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    var text = "";
    if (type.indexOf("text/plain") === 0) {
      text = xhr.responseText || "";
    } else if (type.indexOf("application/json") === 0) {
      try { text = JSON.parse(xhr.responseText).detail || ""; } catch (e) { text = ""; }
    }
    text = typeof text === "string" ? text.trim() : "";
    if (text && text.length <= 300 && !/<[a-z!\/]/i.test(text)) return text;
    return "The server could not save this (error " + xhr.status + "); try again.";
  }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function setCursor(id) {
    var all = items();
    if (!all.length) { cursor = null; return; }
    var el = all.find(function (x) { return x.dataset.node === String(id); }) || all[all.length - 1];
    all.forEach(function (x) { x.classList.remove("cursor"); x.removeAttribute("aria-current"); });
    el.classList.add("cursor");
    el.setAttribute("aria-current", "step");
    cursor = el.dataset.node;
    if (!(cursor in shownAt)) shownAt[cursor] = Date.now();
    el.scrollIntoView({ block: "nearest" });
  }

  function afterSwap() {
    var p = panel();
    if (!p) return;
    var form = document.getElementById("own-step");
    if (form) {
      form.hidden = p.dataset.canWrite !== "1";
      form.elements.position.value = p.dataset.position;
    }
    var focus = p.dataset.focus;
    var keep = cursor && items().some(function (x) { return x.dataset.node === cursor; });
    setCursor(focus || (keep ? cursor : null));
  }

  function post(url, values) {
    chain = chain.then(function () {
      flash("");
      return htmx.ajax("POST", url, {
        target: "#task", swap: "outerHTML", values: values,
        headers: { "X-CSRFToken": csrf() }, source: panel(),
      });
    }).catch(function () {});
    return chain;
  }

  function cursorItem() { return items().find(function (x) { return x.dataset.node === cursor; }); }

  function rate(value) {
    if (!cursor) return;
    var ms = shownAt[cursor] ? Date.now() - shownAt[cursor] : 0;
    post(panel().dataset.rateUrl, { node: cursor, rating: value, ms: ms });
  }

  function move(delta) {
    var all = items();
    var i = all.findIndex(function (x) { return x.dataset.node === cursor; });
    var j = Math.max(0, Math.min(all.length - 1, i + delta));
    if (all[j]) setCursor(all[j].dataset.node);
  }

  function submit() {
    var p = panel();
    if (p.dataset.status !== "active") return;
    if (p.dataset.walkDone === "1") {
      post(p.dataset.finishUrl, { reason: p.dataset.reason });
      return;
    }
    var el = cursorItem();
    var pos = el && el.closest(".position");
    if (p.dataset.mode === "branch" && p.dataset.settled !== "1" && pos &&
        pos.dataset.position === p.dataset.position) {
      post(p.dataset.chooseUrl, { position: p.dataset.position, index: el.dataset.index });
      return;
    }
    flash("Rate every shown step first; then Enter submits.");
  }

  function toggleInstructions() {
    var d = document.getElementById("instructions");
    if (!d) return;
    if (d.open) d.close(); else d.showModal();
  }

  function isTyping(t) {
    return t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
  }

  function onKey(e) {
    if (!panel()) return;
    var t = e.target;
    if (isTyping(t)) {
      if (t.id === "own-step-text" && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        htmx.trigger(t.form, "submit");
      } else if (e.key === "Escape") { t.blur(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var d = document.getElementById("instructions");
    if (d && d.open && e.key !== keymap.instructions) return;
    var action = null;
    Object.keys(keymap).forEach(function (a) { if (keymap[a] === e.key) action = a; });
    if (!action && e.key === "w" && !document.getElementById("own-step").hidden) {
      e.preventDefault();
      document.getElementById("own-step-text").focus();
      return;
    }
    if (!action) return;
    if (action === "submit" && t && (t.tagName === "BUTTON" || t.tagName === "A" || t.tagName === "SUMMARY")) return;
    e.preventDefault();
    switch (action) {
      case "great": rate(1); break;
      case "okay": rate(0); break;
      case "bad": rate(-1); break;
      case "flag": if (cursor) post(panel().dataset.flagUrl, { node: cursor }); break;
      case "next": move(1); break;
      case "prev": move(-1); break;
      case "undo": post(panel().dataset.undoUrl, {}); break;
      case "submit": submit(); break;
      case "instructions": toggleInstructions(); break;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var km = document.getElementById("keymap");
    if (!km || !panel()) return;
    keymap = JSON.parse(km.textContent);
    afterSwap();
    document.addEventListener("keydown", onKey);
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.detail.target && (e.detail.target.id === "task" || panel())) afterSwap();
    });
    document.body.addEventListener("htmx:afterRequest", function (e) {
      if (e.detail.elt && e.detail.elt.id === "own-step" && e.detail.successful) {
        e.detail.elt.reset();
        document.activeElement.blur();
      }
    });
    document.body.addEventListener("htmx:responseError", function (e) {
      flash(errorMessage(e.detail.xhr));
    });
    document.body.addEventListener("htmx:sendError", function () {
      flash("Could not reach the server; what was saved is kept. Try again.");
    });
    document.body.addEventListener("htmx:beforeSwap", function (e) {
      if (e.detail.xhr.status >= 400) e.detail.shouldSwap = false;
    });
  });
})();
