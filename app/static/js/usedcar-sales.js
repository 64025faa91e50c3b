// Used-car sales entry form (seed 001 §2.4.1): the price in Chinese capitals while typing
// (the server derives the same text with cn2an, app/services/money.py), the agent section
// shown only with an agent, the code field's label following "enterprise" / "has a unified
// code". Confirmations are forms.js's. No inline script (CSP).
(function () {
  "use strict";

  var DIGITS = "零壹贰叁肆伍陆柒捌玖";
  var UNITS = ["", "拾", "佰", "仟"];
  var GROUPS = ["", "万", "亿"];

  // "12345.67" -> "壹万贰仟叁佰肆拾伍元陆角柒分"; "" for anything that is not an amount
  // with at most 2 decimals below 1,000,000,000,000.
  function capitals(value) {
    var text = String(value === undefined || value === null ? "" : value)
      .replace(/[,，\s]/g, "").replace(/^[¥￥]/, "");
    if (!/^\d+(\.\d{1,2})?$/.test(text)) { return ""; }
    var parts = text.split(".");
    var whole = parts[0].replace(/^0+/, "");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    if (whole.length > 12) { return ""; }
    var jiao = +cents.charAt(0);
    var fen = +cents.charAt(1);
    if (!whole && !jiao && !fen) { return "零元整"; }
    var out = "";
    if (whole) {
      var groups = [];
      for (var end = whole.length; end > 0; end -= 4) {
        groups.unshift(whole.slice(Math.max(0, end - 4), end));
      }
      var zeroPending = false;
      for (var g = 0; g < groups.length; g++) {
        var group = parseInt(groups[g], 10);
        var unit = GROUPS[groups.length - 1 - g];
        if (group === 0) { zeroPending = out !== ""; continue; }
        if (out && (zeroPending || group < 1000)) { out += "零"; }
        zeroPending = false;
        var digits = ("0000" + group).slice(-4);
        var inner = "";
        var zero = false;
        for (var i = 0; i < 4; i++) {
          var d = +digits.charAt(i);
          if (d === 0) { zero = inner !== ""; continue; }
          if (zero) { inner += "零"; zero = false; }
          inner += DIGITS.charAt(d) + UNITS[3 - i];
        }
        out += inner + unit;
      }
      out += "元";
    }
    if (!jiao && !fen) { return out + "整"; }
    if (jiao) { out += DIGITS.charAt(jiao) + "角"; } else if (whole) { out += "零"; }
    if (fen) { out += DIGITS.charAt(fen) + "分"; }
    return out;
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { capitals: capitals };
  }
  if (typeof document === "undefined") { return; }

  function setDisabled(box, off) {
    Array.prototype.forEach.call(box.querySelectorAll("input, select"), function (el) {
      el.disabled = off;
    });
  }

  // Price in capitals.
  var price = document.getElementById("price");
  var words = document.getElementById("price-words");
  if (price && words) {
    var update = function () { words.textContent = capitals(price.value); };
    price.addEventListener("input", update);
    update();
  }

  // Code label and "has a unified code" per party: a person gives a resident ID number, an
  // enterprise its USCC or, without one, its organisation code.
  function syncParty(prefix) {
    var ent = document.querySelector("[data-party-enterprise='" + prefix + "']");
    var uscc = document.querySelector("[data-party-uscc='" + prefix + "']");
    var code = document.querySelector("[data-party-code='" + prefix + "']");
    var label = code ? document.querySelector("label[for='" + code.id + "']") : null;
    if (!ent || !uscc || !label) { return; }
    var isEnt = ent.value === "1";
    if (!isEnt) { uscc.value = "0"; }
    uscc.disabled = ent.disabled || !isEnt;
    var kind = !isEnt ? "ric" : (uscc.value === "1" ? "uscc" : "org");
    var text = label.firstChild;
    if (text && text.nodeType === 3) {
      text.nodeValue = code.getAttribute("data-label-" + kind) + " ";
    }
  }
  ["buyer", "seller", "agent"].forEach(function (prefix) {
    var ent = document.querySelector("[data-party-enterprise='" + prefix + "']");
    var uscc = document.querySelector("[data-party-uscc='" + prefix + "']");
    if (ent) { ent.addEventListener("change", function () { syncParty(prefix); }); }
    if (uscc) { uscc.addEventListener("change", function () { syncParty(prefix); }); }
  });

  // The agent section: shown (and posted) only with an agent.
  var toggle = document.querySelector("[data-agent-toggle]");
  var agent = document.getElementById("agent-fields");
  if (toggle && agent) {
    var syncAgent = function () {
      var on = toggle.value === "1";
      agent.classList.toggle("hidden", !on);
      setDisabled(agent, !on);
      syncParty("agent");
    };
    toggle.addEventListener("change", syncAgent);
    syncAgent();
  }

  // Import page: follow the job's progress, then show the outcome (the server renders it).
  var waiting = document.getElementById("import-waiting");
  if (waiting) {
    var statusUrl = waiting.getAttribute("data-status-url");
    var bar = document.getElementById("import-progress");
    var percent = document.getElementById("import-percent");
    var count = document.getElementById("import-count");
    var message = document.getElementById("import-message");
    var poll = function () {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", statusUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.onload = function () {
        if (xhr.status !== 200) { return; }
        var data;
        try { data = JSON.parse(xhr.responseText); } catch (e) { return; }
        if (data.finished) { window.location.reload(); return; }
        if (bar) { bar.value = data.progress; bar.textContent = data.progress + "%"; }
        if (percent) { percent.textContent = data.progress + "%"; }
        if (count) { count.textContent = data.total ? data.done + " / " + data.total : ""; }
        if (message && data.message) { message.textContent = data.message; }
        window.setTimeout(poll, 1000);
      };
      xhr.onerror = function () { window.setTimeout(poll, 4000); };
      xhr.send();
    };
    window.setTimeout(poll, 500);
  }

})();
