// vodflow's player, for the watch page and the embed page: media-chrome's controls (vendored,
// MIT) around hls-video-element (hls.js), fed from a video's `playback` URLs. The seek bar shows
// the buffered range, the storyboard tile under the pointer and the chapters as its segments; the
// settings menu has speed, quality, captions and audio (when there are several tracks); there are
// volume, Picture-in-Picture, fullscreen and media-chrome's keyboard shortcuts (space/k, j/l and
// the arrows, f, m, c, p, < and >). Playable (still growing) videos play from their start, seekable
// as far as they are encoded.
"use strict";
(() => {
  const CONTROLS = `
    <hls-video slot="media" crossorigin playsinline preload="metadata"></hls-video>
    <media-poster-image slot="poster"></media-poster-image>
    <media-loading-indicator slot="centered-chrome" noautohide></media-loading-indicator>
    <media-time-range>
      <media-preview-thumbnail slot="preview"></media-preview-thumbnail>
      <media-preview-chapter-display slot="preview"></media-preview-chapter-display>
      <media-preview-time-display slot="preview"></media-preview-time-display>
    </media-time-range>
    <media-control-bar>
      <media-play-button></media-play-button>
      <media-seek-backward-button seekoffset="10"></media-seek-backward-button>
      <media-seek-forward-button seekoffset="10"></media-seek-forward-button>
      <media-mute-button></media-mute-button>
      <media-volume-range></media-volume-range>
      <media-time-display showduration></media-time-display>
      <span class="spacer"></span>
      <media-captions-button></media-captions-button>
      <media-settings-menu-button></media-settings-menu-button>
      <media-pip-button></media-pip-button>
      <media-fullscreen-button></media-fullscreen-button>
    </media-control-bar>
    <!-- After the bars, so the open menu is above the seek bar. -->
    <media-settings-menu hidden anchor="auto">
      <media-settings-menu-item>Speed
        <media-playback-rate-menu slot="submenu" hidden rates="0.5 0.75 1 1.25 1.5 2"><div slot="title">Speed</div></media-playback-rate-menu>
      </media-settings-menu-item>
      <media-settings-menu-item>Quality
        <media-rendition-menu slot="submenu" hidden><div slot="title">Quality</div></media-rendition-menu>
      </media-settings-menu-item>
      <media-settings-menu-item>Captions
        <media-captions-menu slot="submenu" hidden><div slot="title">Captions</div></media-captions-menu>
      </media-settings-menu-item>
      <media-settings-menu-item class="audio-tracks">Audio
        <media-audio-track-menu slot="submenu" hidden><div slot="title">Audio</div></media-audio-track-menu>
      </media-settings-menu-item>
    </media-settings-menu>`;

  function track(kind, label, src) {
    const t = document.createElement("track");
    t.kind = kind;
    t.label = label;
    t.src = src;
    t.default = true;
    return t;
  }

  // Mounts a player into `slot` (replacing what is there) for `p` = {master, poster, storyboard?,
  // chapters?, title}; returns the media element (`currentTime`, `play()`, `playbackRate`...).
  function mount(slot, p) {
    const controller = document.createElement("media-controller");
    controller.className = "vodflow-player";
    // A growing (EVENT) playlist is not a live stream: a seek bar from 0, not a live edge.
    controller.setAttribute("defaultstreamtype", "on-demand");
    controller.innerHTML = CONTROLS;
    const media = controller.querySelector("hls-video");
    media.id = "player";
    media.setAttribute("aria-label", p.title || "video");
    // From the start, also while the playlists still grow; a playlist without ENDLIST has the
    // duration encoded so far, not Infinity.
    media.config = { startPosition: 0, liveDurationInfinity: false };
    if (p.poster) {
      media.setAttribute("poster", p.poster);
      controller.querySelector("media-poster-image").setAttribute("src", p.poster);
    }
    // media-chrome reads seek-bar previews from a `thumbnails` metadata track.
    if (p.storyboard) media.append(track("metadata", "thumbnails", p.storyboard));
    if (p.chapters) media.append(track("chapters", "Chapters", p.chapters));
    const audioItem = controller.querySelector(".audio-tracks");
    const audioMenu = () => {
      audioItem.hidden = !(media.audioTracks && media.audioTracks.length > 1);
    };
    audioMenu();
    if (media.audioTracks && media.audioTracks.addEventListener) {
      media.audioTracks.addEventListener("addtrack", audioMenu);
      media.audioTracks.addEventListener("removetrack", audioMenu);
    }
    media.src = p.master;
    slot.replaceChildren(controller);
    // The hls.js instance behind it, for the tests and for the curious (`vodflowPlayer.levels`).
    Object.defineProperty(window, "vodflowPlayer", {
      configurable: true,
      get: () => media.api,
    });
    return media;
  }

  window.vodflowMountPlayer = mount;
})();
