// The embed page's player (/embed/{id}): vodflow's player on the URLs its page names. The page
// carries no API token; a signed video's URLs are signed and expire like every playback URL.
"use strict";
(() => {
  const slot = document.getElementById("player-slot");
  const d = slot.dataset;
  window.vodflowMountPlayer(slot, {
    master: d.master,
    poster: d.poster,
    storyboard: d.storyboard,
    chapters: d.chapters,
    title: d.title,
  });
})();
