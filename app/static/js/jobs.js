// My downloads: poll the status of unfinished jobs and update their progress bars
// (no inline script: the CSP forbids it).
(function () {
  "use strict";
  var INTERVAL = 1500;

  function update(row, data) {
    var bar = row.querySelector(".job-bar");
    var percent = row.querySelector(".job-percent");
    var count = row.querySelector(".job-count");
    var state = row.querySelector(".job-state");
    var message = row.querySelector(".job-message");
    var download = row.querySelector(".job-download");
    if (bar) { bar.value = data.progress; bar.textContent = data.progress + "%"; }
    if (percent) { percent.textContent = data.progress + "%"; }
    if (count) { count.textContent = data.total ? data.done + " / " + data.total : ""; }
    if (state) { state.textContent = data.state_label; }
    if (message) { message.textContent = data.message || ""; }
    row.className = "job-row job-" + data.state;
    if (download && data.download_url) {
      download.href = data.download_url;
      download.classList.remove("hidden");
    }
  }

  function poll(row) {
    var url = row.getAttribute("data-status-url");
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status !== 200) { return; }  // signed out or removed: stop quietly
      var data;
      try { data = JSON.parse(xhr.responseText); } catch (e) { return; }
      update(row, data);
      if (data.finished) {
        row.removeAttribute("data-status-url");
      } else {
        window.setTimeout(function () { poll(row); }, INTERVAL);
      }
    };
    xhr.onerror = function () { window.setTimeout(function () { poll(row); }, INTERVAL * 4); };
    xhr.send();
  }

  var rows = document.querySelectorAll("tr[data-status-url]");
  for (var i = 0; i < rows.length; i++) { poll(rows[i]); }
})();
