// Keyboard-first labeling: a cursor over the shown steps; every key is one htmx POST.
// A rating, flag or undo answers with only what changed (out-of-band swaps of the changed
// positions, rail cells and lines, and #task-state with the panel's new data-* values);
// other actions answer with the re-rendered task panel. Requests run one at a time, in order.
(function () {
  "use strict";
  var keymap = {};
  var cursor = null;          // node id under the cursor
  var lastRated = null;       // node id rated by the last key/button; "f" flags it
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

  function markJustRated() {
    items().forEach(function (x) {
      x.classList.toggle("just-rated", lastRated !== null && x.dataset.node === lastRated && x.dataset.node !== cursor);
    });
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
    markJustRated();
  }

  // An answer in parts brings the panel's state in #task-state: copy it onto the panel, and
  // render math and JSON in the parts that changed.
  function syncState(p) {
    var st = document.getElementById("task-state");
    if (!st || !st.hasAttribute("data-focus")) return;
    Object.keys(st.dataset).forEach(function (k) { if (k !== "changed") p.dataset[k] = st.dataset[k]; });
    (st.dataset.changed || "").split(" ").forEach(function (id) {
      var el = id && document.getElementById(id);
      if (!el) return;
      if (window.stepwiseRenderMath) el.querySelectorAll(".math").forEach(window.stepwiseRenderMath);
      highlightJson(el);
    });
    st.removeAttribute("data-focus");
  }

  // Tool calls and results: JSON with its keys, strings, numbers and literals coloured.
  // Built from the text as DOM nodes, so nothing in it is ever read as HTML.
  var JSON_TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  function highlightJson(root) {
    root.querySelectorAll("pre.json:not(.hl)").forEach(function (pre) {
      var text = pre.textContent, at = 0, m, frag = document.createDocumentFragment();
      JSON_TOKEN.lastIndex = 0;
      while ((m = JSON_TOKEN.exec(text)) !== null) {
        if (m.index > at) frag.appendChild(document.createTextNode(text.slice(at, m.index)));
        var span = document.createElement("span");
        span.className = m[1] ? (m[2] ? "j-key" : "j-str") : (m[3] ? "j-lit" : "j-num");
        span.textContent = m[1] || m[0];
        frag.appendChild(span);
        if (m[2]) frag.appendChild(document.createTextNode(m[2]));
        at = JSON_TOKEN.lastIndex;
      }
      if (at < text.length) frag.appendChild(document.createTextNode(text.slice(at)));
      pre.textContent = "";
      pre.appendChild(frag);
      pre.classList.add("hl");
    });
  }

  function afterSwap() {
    var p = panel();
    if (!p) return;
    syncState(p);
    highlightJson(p);
    var form = document.getElementById("own-step");
    if (form) {
      form.hidden = p.dataset.canWrite !== "1";
      form.elements.position.value = p.dataset.position;
    }
    var focus = p.dataset.focus;
    var keep = cursor && items().some(function (x) { return x.dataset.node === cursor; });
    if (lastRated && !items().some(function (x) { return x.dataset.node === lastRated; })) lastRated = null;
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

  function rate(value, node) {
    node = node || cursor;
    if (!node) return;
    var ms = shownAt[node] ? Date.now() - shownAt[node] : 0;
    lastRated = node;
    post(panel().dataset.rateUrl, { node: node, rating: value, ms: ms });
  }

  // "f" right after a rating marks the step just rated (the cursor has moved on by then);
  // after a move or a click it marks the highlighted step.
  function flag(node) {
    node = node || lastRated || cursor;
    if (node) post(panel().dataset.flagUrl, { node: node });
  }

  function choose(el) {
    var p = panel();
    lastRated = null;
    post(p.dataset.chooseUrl, { position: p.dataset.position, index: el.dataset.index });
  }

  function move(delta) {
    var all = items();
    var i = all.findIndex(function (x) { return x.dataset.node === cursor; });
    var j = Math.max(0, Math.min(all.length - 1, i + delta));
    lastRated = null;
    if (all[j]) setCursor(all[j].dataset.node);
  }

  // The next item after the cursor that matches (wrapping round), e.g. unrated or flagged.
  function jumpTo(match, none) {
    var all = items();
    var i = all.findIndex(function (x) { return x.dataset.node === cursor; });
    for (var k = 1; k <= all.length; k++) {
      var el = all[(i + k) % all.length];
      if (match(el)) { lastRated = null; setCursor(el.dataset.node); return; }
    }
    flash(none, "info");
  }

  // Verify mode: the highlighted step takes the machine's verdict shown on it.
  function confirmVerdict() {
    var el = cursorItem();
    if (!el || !el.hasAttribute("data-verdict") || el.dataset.verdict === "") {
      flash("The highlighted step has no machine verdict to confirm; rate it yourself.", "info");
      return;
    }
    rate(Number(el.dataset.verdict), el.dataset.node);
  }

  // Accept takes the highlighted step's verdict and the preview's; when that rates the
  // whole walk, the submit question opens at once (Enter confirms, Esc stays).
  function acceptVerdicts() {
    if (!panel().dataset.shownSource) { flash("This task shows no machine verdicts to accept.", "info"); return; }
    lastRated = null;
    post(panel().dataset.acceptUrl, {}).then(function () {
      if (lastStatus < 400 && panel().dataset.walkDone === "1") submit();
    });
  }

  // The critique box (outside the panel, so a swap never wipes what is typed): opened on
  // the highlighted step with its critique, or in verify mode with the machine's reason.
  function openCritique(el) {
    el = el || cursorItem();
    var form = document.getElementById("critique-form");
    if (!el || !form) return;
    var own = el.querySelector(".critique");
    var verdict = el.querySelector(".verdict");
    var reason = verdict ? verdict.dataset.reason || "" : "";
    var pos = el.closest(".position");
    form.elements.node.value = el.dataset.node;
    form.elements.origin.value = "";
    form.elements.offered.value = !own && reason ? "1" : "";
    form.elements.text.value = own ? own.dataset.text : reason;
    form.elements.correction.value = own ? own.dataset.correction : "";
    document.getElementById("critique-offered").hidden = !(!own && reason);
    document.getElementById("critique-delete").hidden = !own;
    // Replace is for a machine's reason: offered now, or the one a critique was made from.
    form.dataset.machine = (own ? own.dataset.origin !== "written" : !!reason) ? "1" : "";
    document.getElementById("critique-replace").hidden = form.dataset.machine !== "1";
    document.getElementById("critique-step").textContent = pos ? "step " + (Number(pos.dataset.position) + 1) : "the step";
    form.hidden = false;
    form.elements.text.focus();
  }

  function closeCritique() {
    var form = document.getElementById("critique-form");
    if (!form) return;
    form.hidden = true;
    form.reset();
    if (document.activeElement) document.activeElement.blur();
    if (cursor) setCursor(cursor);
  }

  var lastStatus = 0;
  function critiquePost(url, values) {
    return post(url, values).then(function () { if (lastStatus < 400) closeCritique(); });
  }

  function saveCritique() {
    var f = document.getElementById("critique-form").elements;
    critiquePost(panel().dataset.critiqueUrl, {
      node: f.node.value, text: f.text.value, correction: f.correction.value,
      origin: f.origin.value, offered: f.offered.value,
    });
  }

  function rateGroup(value, groupId) {
    var el = cursorItem();
    groupId = groupId || (el && el.dataset.group);
    if (!groupId) { flash("The highlighted step is not in a section."); return; }
    lastRated = null;
    post(panel().dataset.groupUrl, { group: groupId, rating: value });
  }

  // A rail cell: jump to its step when shown; say so when the walk has not reached it.
  function railJump(cell) {
    cell.blur();  // keys go back to the page (Enter submits, not this button)
    var el = items().find(function (x) { return x.dataset.node === cell.dataset.node; });
    if (!el) { flash("Step " + (Number(cell.dataset.pos) + 1) + " is not shown yet: rate the steps before it.", "info"); return; }
    lastRated = null;
    setCursor(el.dataset.node);
    el.scrollIntoView({ block: "center" });
  }

  function submit() {
    var p = panel();
    if (p.dataset.status !== "active") return;
    if (p.dataset.walkDone === "1") {
      confirmThen("Submit this task as “" + p.dataset.reasonWords + "”? It can no longer be changed.",
                  "Submit", function () { post(p.dataset.finishUrl, { reason: p.dataset.reason }); });
      return;
    }
    var el = cursorItem();
    var pos = el && el.closest(".position");
    if (p.dataset.mode === "branch" && p.dataset.settled !== "1" && pos &&
        pos.dataset.position === p.dataset.position) {
      choose(el);
      return;
    }
    // Say what is missing now, in the page's own words for this state.
    var hint = document.getElementById("next-hint");
    flash("Not ready to submit. " + (hint ? hint.textContent.trim() : ""));
  }

  // A yes/no <dialog>: Enter on the focused yes button confirms, Esc cancels.
  function confirmThen(text, yes, action) {
    var d = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    var ok = document.getElementById("confirm-yes");
    ok.textContent = yes;
    d._action = action;
    d.showModal();
    ok.focus();
  }

  function giveUp() {
    var btn = document.getElementById("give-up");
    confirmThen("Give up on this task? It is submitted as “gave up” and cannot be changed.",
                "Give up", function () {
                  chain = chain.then(function () {
                    flash("");
                    return htmx.ajax("POST", btn.dataset.url, {
                      swap: "none", values: { reason: "give_up" },
                      headers: { "X-CSRFToken": csrf() }, source: btn,
                    });
                  }).catch(function () {});
                });
  }

  function toggleInstructions() {
    var d = document.getElementById("instructions");
    if (!d) return;
    if (d.open) d.close(); else d.showModal();
  }

  // The mouse path: every key has a button, and clicking a step selects it.
  function onClick(e) {
    var t = e.target;
    if (!t.closest) return;
    if (t.closest("#give-up")) { giveUp(); return; }
    if (t.closest("#show-instructions") || t.closest("#close-instructions")) { toggleInstructions(); return; }
    if (t.closest("#critique-cancel")) { closeCritique(); return; }
    if (t.closest("#critique-replace")) {
      var cf = document.getElementById("critique-form");
      if (cf.dataset.machine === "1") cf.elements.origin.value = "replaced";
      cf.elements.text.value = "";
      cf.elements.text.focus();
      return;
    }
    if (t.closest("#critique-delete")) {
      critiquePost(panel().dataset.critiqueDeleteUrl, { node: document.getElementById("critique-form").elements.node.value });
      return;
    }
    if (!panel() || !panel().contains(t)) return;
    var cell = t.closest(".rail-cell");
    if (cell) { railJump(cell); return; }
    var gbtn = t.closest(".group-rate-btn");
    if (gbtn) { rateGroup(Number(gbtn.dataset.rating), gbtn.dataset.group); return; }
    if (t.closest("#undo-btn")) { lastRated = null; post(panel().dataset.undoUrl, {}); return; }
    if (t.closest("#submit-btn")) { submit(); return; }
    var item = t.closest(".item[data-node]");
    if (!item) return;
    var btn = t.closest("button");
    if (!btn) {
      lastRated = null;
      setCursor(item.dataset.node);
      return;
    }
    if (btn.classList.contains("rate-btn")) {
      setCursor(item.dataset.node);
      rate(Number(btn.dataset.rating), item.dataset.node);
    } else if (btn.classList.contains("flag-btn")) {
      flag(item.dataset.node);
    } else if (btn.classList.contains("critique-btn")) {
      setCursor(item.dataset.node);
      openCritique(item);
    } else if (btn.classList.contains("choose-btn")) {
      setCursor(item.dataset.node);
      choose(item);
    }
  }

  function isTyping(t) {
    return t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
  }

  function onKey(e) {
    if (!panel()) return;
    var t = e.target;
    if (isTyping(t)) {
      var inCritique = t.form && t.form.id === "critique-form";
      if (t.id === "own-step-text" && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        htmx.trigger(t.form, "submit");
      } else if (inCritique && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        saveCritique();
      } else if (inCritique && e.key === "Escape") {
        closeCritique();
      } else if (e.key === "Escape") { t.blur(); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var d = document.getElementById("instructions");
    if (d && d.open && e.key !== keymap.instructions) return;
    var c = document.getElementById("confirm");
    if (c && c.open) return;  // the dialog's own buttons take Enter and Esc
    // Focus can stay on a button of the dialog just closed (Esc) until the browser moves it:
    // a key then belongs to the page, never to that hidden button.
    if (c && t && c.contains(t)) { t.blur(); t = null; }
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
      case "flag": flag(); break;
      case "next": move(1); break;
      case "prev": move(-1); break;
      case "undo": lastRated = null; post(panel().dataset.undoUrl, {}); break;
      case "submit": submit(); break;
      case "instructions": toggleInstructions(); break;
      case "next_unrated":
        jumpTo(function (x) { return x.dataset.rating === ""; }, "Every shown step is rated."); break;
      case "next_flagged":
        jumpTo(function (x) { return x.classList.contains("machine-flag"); }, "No shown step is flagged by a machine source."); break;
      case "confirm": confirmVerdict(); break;
      case "accept": acceptVerdicts(); break;
      case "next_unsure":
        jumpTo(function (x) { return x.classList.contains("machine-unsure"); }, "The machine is sure of every shown step."); break;
      case "critique": openCritique(); break;
      case "group_great": rateGroup(1); break;
      case "group_okay": rateGroup(0); break;
      case "group_bad": rateGroup(-1); break;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var km = document.getElementById("keymap");
    if (!km || !panel()) return;
    keymap = JSON.parse(km.textContent);
    afterSwap();
    document.addEventListener("keydown", onKey);
    document.addEventListener("click", onClick);
    var c = document.getElementById("confirm");
    document.getElementById("confirm-yes").addEventListener("click", function () {
      if (!c.open) return;  // only a question on screen can be answered yes
      var action = c._action;
      c._action = null;
      c.close();
      if (action) action();
    });
    document.getElementById("confirm-no").addEventListener("click", function () { c.close(); });
    c.addEventListener("close", function () { c._action = null; });  // Esc, no, or yes: answered
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (!e.detail.target || !(e.detail.target.id === "task" || panel())) return;
      // A saved action: the page now shows the new state, so an earlier message is stale.
      if (e.detail.xhr && e.detail.xhr.status < 400) flash("");
      afterSwap();
    });
    var cform = document.getElementById("critique-form");
    if (cform) cform.addEventListener("submit", function (e) { e.preventDefault(); saveCritique(); });
    document.body.addEventListener("htmx:afterRequest", function (e) {
      if (e.detail.xhr) lastStatus = e.detail.xhr.status;
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
