// Live updates of a run's page, the view's only script: the pages work without it.
// The server sends the run's live region again each time it changes (server-sent events), until the run ends.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var live = document.getElementById("live");
  if (!live || !live.dataset.events || !window.EventSource) return;
  var source = new EventSource(live.dataset.events);
  source.addEventListener("update", function (event) {
    live.innerHTML = event.data;
    live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
  });
  source.addEventListener("end", function () {
    source.close();
    live.dataset.ended = "true";
    // The log and the actions change at the end too: show the finished page.
    window.location.reload();
  });
});
