// The rater page of `rdpbench study serve` (mode "server": answers go to the server's API) and of
// `rdpbench study export-static` (mode "static": answers stay in the browser's localStorage and end in
// a downloadable results file). Keys: ArrowLeft/1, ArrowRight/2 choose; F flips; Z zooms; in triplet
// studies B flickers and ArrowDown/N answers "not sure" where the study offers them (state.viewer).
//
// The viewer: three panels (left, original, right) of one identical size, each a window onto its
// picture at 1, 2 or 4 screen pixels per picture pixel (device-pixel-ratio aware, never resampled
// smoothly). One view (zoom, x, y: the picture pixel at the windows' top-left corner, shown rounded to
// whole pixels) drives all three, so they always show the same region: a click zooms in at the clicked point, Z
// about the centre, a wheel or drag over any panel moves all of them. Each trial starts at 1:1 with
// the centre in view. Panels are as large as the picture at 1:1 but no larger than the window allows
// (each a third of its width, its height less the controls): a picture wider than its panel is cut,
// identically in all three, and panned, never scaled.
"use strict";
(function () {
  const body = document.body, mode = body.dataset.mode;
  const $ = id => document.getElementById(id);
  const ZOOMS = [1, 2, 4];
  const MIN_DISPLAY_MS = Number(body.dataset.minDisplayMs);  // answers sooner are ignored (the server refuses them)
  let current = null, shownAt = null, ready = false, busy = false, flipped = false;
  let viewer = {not_sure: false, flicker_hz: 0}, flickerTimer = null;  // triplet studies (setViewer)
  const view = {zoom: 0, x: 0, y: 0};

  function serverBackend() {
    const rater = location.pathname.split("/").filter(Boolean).pop();
    async function call(path, init) {
      const response = await fetch(`/api/${rater}/${path}${location.search}`, init);  // + a platform's hand-off
      const document_ = await response.json();
      if (!response.ok) throw new Error(document_.error || response.statusText);
      return document_;
    }
    return {
      next: () => call("next"),
      answer: (key, choice, ms) => call("answer", {method: "POST", headers: {"Content-Type": "application/json"},
                                                   body: JSON.stringify({key, choice, response_ms: ms})}),
    };
  }

  // SHA-256 (FIPS 180-4) of a Uint8Array, as a Uint8Array of 32 bytes: the static page has no server
  // and may run from file:// or plain http, where crypto.subtle is missing.
  function sha256(data) {
    const K = [], H = [];
    for (let n = 2; K.length < 64; n++) {
      let prime = true;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (!prime) continue;
      if (H.length < 8) H.push((Math.sqrt(n) % 1) * 2 ** 32 | 0);  // fractional bits of square roots
      K.push((Math.cbrt(n) % 1) * 2 ** 32 | 0);                     // ... and of cube roots of primes
    }
    const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
    padded.set(data);
    padded[data.length] = 0x80;
    const view = new DataView(padded.buffer), w = new Int32Array(64);
    view.setUint32(padded.length - 8, Math.floor(data.length / 2 ** 29));
    view.setUint32(padded.length - 4, (data.length * 8) >>> 0);
    const rotate = (x, n) => x >>> n | x << (32 - n);
    for (let offset = 0; offset < padded.length; offset += 64) {
      for (let i = 0; i < 16; i++) w[i] = view.getInt32(offset + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1 | 0;
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = h + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + (e & f ^ ~e & g) + K[i] + w[i] | 0;
        const t2 = (rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + (a & b ^ a & c ^ b & c) | 0;
        [h, g, f, e, d, c, b, a] = [g, f, e, d + t1 | 0, c, b, a, t1 + t2 | 0];
      }
      [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = H[i] + v | 0; });
    }
    const out = new DataView(new ArrayBuffer(32));
    H.forEach((v, i) => out.setInt32(4 * i, v));
    return new Uint8Array(out.buffer);
  }

  // HMAC-SHA256 (RFC 2104) of two strings (UTF-8), as lower-case hex.
  function hmacSha256(key, message) {
    const encode = text => new TextEncoder().encode(text);
    let k = encode(key);
    if (k.length > 64) k = sha256(k);
    const pad = value => { const p = new Uint8Array(64).fill(value); k.forEach((b, i) => { p[i] ^= b; }); return p; };
    const join = (x, y) => { const z = new Uint8Array(x.length + y.length); z.set(x); z.set(y, x.length); return z; };
    const digest = sha256(join(pad(0x5c), sha256(join(pad(0x36), encode(message)))));
    return Array.from(digest, b => b.toString(16).padStart(2, "0")).join("");
  }
  window.rdpbenchHmacSha256 = hmacSha256;  // for the tests

  function staticBackend() {
    const data = window.STUDY_DATA, rater = new URLSearchParams(location.search).get("rater");
    const assignment = data.raters[rater];
    if (!assignment) throw new Error("This link has no valid rater id: ask the experimenter for your link.");
    const storageKey = `rdpbench-study-${data.study_id}-${rater}`;
    const answers = JSON.parse(localStorage.getItem(storageKey) || "[]");
    function state() {
      const done = new Set(answers.map(a => a.key));
      const next = assignment.trials.find(t => !done.has(t.key));
      const base = {answered: answers.length, total: assignment.trials.length};
      if (next) return Object.assign(base, {done: false, trial: next, viewer: data.viewer});
      const file = JSON.stringify({format: "rdpbench-study-answers/1", study_id: data.study_id, rater, answers});
      // the code comes from the answers (rdpbench.study.session.Session.static_code), so it cannot be read early
      const message = `${data.study_id}/${rater}/` + answers.map(a => `${a.key}=${a.choice}`).join(",");
      const code = hmacSha256(assignment.code_key, message).slice(0, 10).toUpperCase();
      return Object.assign(base, {done: true, code,
                                  file: URL.createObjectURL(new Blob([file], {type: "application/json"})),
                                  filename: `answers-${data.study_id}-${rater}.json`});
    }
    return {
      next: async () => state(),
      answer: async (key, choice, ms) => {
        if (!answers.some(a => a.key === key)) {
          answers.push({key, choice, response_ms: ms, answered_at: new Date().toISOString()});
          localStorage.setItem(storageKey, JSON.stringify(answers));
        }
        return state();
      },
    };
  }

  const IMAGES = ["left", "original", "right"];
  const ratio = () => window.devicePixelRatio || 1;
  const scale = () => ZOOMS[view.zoom] / ratio();  // CSS px per picture pixel

  // Size the three panels alike: the picture at 1:1, cut to what fits the window. Each frame's size and
  // place are whole device pixels that CSS can also hold exactly (layout rounds to 1/64 CSS px: at a
  // device-pixel ratio of 1.5 only multiples of 3 device pixels are both), so every picture pixel lands
  // on whole screen pixels, cut identically in all three frames: each frame is nudged onto that grid.
  let frameSize = [0, 0], frameRatio = 0;  // CSS px of each frame, at this device-pixel ratio
  function layout() {
    const picture = $("original");
    if (!picture.naturalWidth) return;
    const r = frameRatio = ratio(), panels = $("panels"), figure = panels.querySelector("figure");
    const frames = document.querySelectorAll(".frame"), frame = frames[0];
    // the grid: the fewest device px that are a whole number of 1/64 CSS px (1 at ratios 1 and 2, 3 at 1.5,
    // 5 at 1.25); none within 8 (a browser zoom of 110 %): 1, whole device px as near as layout allows
    let grid = 1;
    while (grid <= 8 && Math.abs(grid / r * 64 - Math.round(grid / r * 64)) > 1e-3) grid++;
    if (grid > 8) grid = 1;
    const snap = (device, round) => round(device / grid) * grid / r;  // device px to CSS px on the grid
    const gap = parseFloat(getComputedStyle(panels).columnGap) || 0;
    const chrome = figure.offsetHeight - frame.offsetHeight;  // caption and button under each panel
    frameSize = [snap(Math.min(picture.naturalWidth, (panels.clientWidth - 2 * gap) / 3 * r), Math.floor),
                 snap(Math.min(picture.naturalHeight, (panels.clientHeight - chrome) * r), Math.floor)]
      .map(size => Math.max(size, 16));
    for (const element of frames) {
      element.style.width = `${frameSize[0]}px`;
      element.style.height = `${frameSize[1]}px`;
      element.style.left = element.style.top = "0px";
    }
    for (const element of frames) {
      const box = element.getBoundingClientRect();
      element.style.left = `${snap(box.left * r, Math.round) - box.left}px`;
      element.style.top = `${snap(box.top * r, Math.round) - box.top}px`;
    }
    body.dataset.ratio = String(r);  // the device-pixel ratio laid out for
    applyView();
  }

  // The largest top-left picture pixel that still fills the panel: the pan range.
  function limits() {
    const picture = $("original"), s = scale();
    return [Math.max(0, Math.ceil(picture.naturalWidth - frameSize[0] / s - 1e-9)),
            Math.max(0, Math.ceil(picture.naturalHeight - frameSize[1] / s - 1e-9))];
  }

  // The picture pixel shown at the panels' top-left corner: the view rounded to whole picture pixels.
  const shown = () => [Math.round(view.x), Math.round(view.y)];

  function applyView() {
    const [maxX, maxY] = limits();
    view.x = Math.min(Math.max(view.x, 0), maxX);  // kept exact, so slow drags add up
    view.y = Math.min(Math.max(view.y, 0), maxY);
    const [x, y] = shown();
    const s = scale();
    for (const id of IMAGES) {
      const image = $(id);
      if (!image.naturalWidth) continue;
      image.style.width = `${image.naturalWidth * s}px`;
      image.style.height = `${image.naturalHeight * s}px`;
      image.style.transform = `translate(${-x * s}px, ${-y * s}px)`;  // whole device pixels
    }
    body.dataset.zoom = String(ZOOMS[view.zoom]);
    body.dataset.view = `${x},${y}`;
    $("zoom").textContent = `Zoom ${ZOOMS[view.zoom]}:1 (Z)`;
  }

  // Each trial: 1:1, centred.
  function resetView() {
    view.zoom = 0;
    const picture = $("original");
    view.x = (picture.naturalWidth - frameSize[0] / scale()) / 2;
    view.y = (picture.naturalHeight - frameSize[1] / scale()) / 2;
    applyView();
  }

  // Next zoom level, keeping the picture pixel under (px, py) (CSS px inside a panel) in place.
  function zoomAt(px, py) {
    const before = scale();
    const [x, y] = shown(), u = x + px / before, v = y + py / before;
    view.zoom = (view.zoom + 1) % ZOOMS.length;
    view.x = u - px / scale();
    view.y = v - py / scale();
    applyView();
  }

  function zoomCentre() {
    zoomAt(frameSize[0] / 2, frameSize[1] / 2);
  }

  function panBy(dx, dy) {  // CSS px
    view.x += dx / scale();
    view.y += dy / scale();
    applyView();
  }

  // What a triplet study adds (rdpbench.study.session.Session.viewer): the "not sure" answer and flicker.
  function setViewer(options) {
    viewer = options || {not_sure: false, flicker_hz: 0};
    $("choose-not-sure").hidden = !viewer.not_sure;
    $("not-sure-space").hidden = viewer.not_sure;
    $("flicker").hidden = !viewer.flicker_hz;
    $("triplet-keys").hidden = !viewer.not_sure && !viewer.flicker_hz;
  }

  // Flicker: each side alternates between its reconstruction and the original, each picture shown for
  // 1/(2 f) s (f = viewer.flicker_hz full cycles per second). The same <img> swaps between two pictures of
  // one size (already loaded: the original is the middle panel), so nothing moves or is resampled.
  function setFlicker(on) {
    clearInterval(flickerTimer);
    flickerTimer = null;
    body.dataset.flicker = on ? "on" : "off";
    $("flicker").setAttribute("aria-pressed", String(on));
    if (current && !flipped) {
      $("left").src = current.left;
      $("right").src = current.right;
    }
    if (!on) return;
    let original = false;
    flickerTimer = setInterval(() => {
      original = !original;
      $("left").src = original ? current.original : current.left;
      $("right").src = original ? current.original : current.right;
    }, 500 / viewer.flicker_hz);
  }

  function toggleFlicker() {
    if (current && viewer.flicker_hz && !flipped) setFlicker(!flickerTimer);
  }

  function setFlip(on, images = true) {
    flipped = on;
    body.classList.toggle("flipped", on);
    $("flip").setAttribute("aria-pressed", String(on));
    $("flip-state").hidden = !on;
    enableChoices(ready && !on);
    if (!current || !images) return;
    $("left").src = on ? current.original : current.left;
    $("right").src = on ? current.original : current.right;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  function show(state) {
    clearError();  // a successful reply: whatever failed before has recovered
    setFlicker(false);  // every trial starts still
    $("progress").textContent = state.done ? `Completed ${state.total} of ${state.total}`
      : state.practice ? `Practice ${state.answered + 1} of ${state.total} (not counted)`
      : `Picture pair ${state.answered + 1} of ${state.total}`;
    body.dataset.answered = String(state.answered);
    body.dataset.practice = String(Boolean(state.practice));
    if (document.activeElement && document.activeElement !== body) document.activeElement.blur();
    if (state.done) {
      current = null;
      $("trial").hidden = true;
      $("done").hidden = false;
      $("code").textContent = state.code;
      if (state.file) {
        $("download").href = state.file;
        $("download").download = state.filename;
        $("download-note").hidden = false;
      }
      body.dataset.state = "done";
      if (state.completion) handOff(state.completion);
      return;
    }
    setViewer(state.viewer);
    current = state.trial;
    windowFits();
    $("trial").hidden = false;
    shownAt = null;
    ready = false;
    setFlip(false, false);
    body.dataset.state = "loading";
    const token = current;
    Promise.all(IMAGES.map(id => load($(id), current[id]))).then(() => {
      if (token !== current) return;
      layout();
      resetView();
      // the response time starts when the pictures are on screen: after the next frame is painted
      requestAnimationFrame(() => requestAnimationFrame(() => {
        if (token !== current) return;
        shownAt = performance.now();
        busy = false;
        body.dataset.state = "viewing";
        setTimeout(() => {
          if (token !== current) return;
          ready = true;
          body.dataset.state = "trial";
          enableChoices(!flipped);
        }, MIN_DISPLAY_MS);
      }));
    }, () => fail(new Error("A picture could not be loaded")));
  }

  // Resolve once `image` shows `url` (at once when it already does: no load event fires then).
  function load(image, url) {
    return new Promise((resolve, reject) => {
      if (image.src === new URL(url, location.href).href && image.complete && image.naturalWidth) return resolve();
      image.onload = () => resolve();
      image.onerror = reject;
      image.src = url;
    });
  }

  // Show an error in the bar at the top; `hint` says what to do (cleared by the next successful reply).
  function fail(error, hint = "reload the page") {
    const failed = error.message === "Failed to fetch" ? "The server could not be reached" : error.message;
    $("error").textContent = `${failed}${hint ? ` — ${hint}` : ""}`;
    $("error").hidden = false;
  }

  // Back to the crowd platform after the last answer (rdpbench.study.platform.Platform.completion):
  // a redirect (Prolific, --completion-url) or a form POST (MTurk's externalSubmit).
  function handOff(completion) {
    $("handoff").hidden = false;
    if (completion.redirect) {
      $("code").textContent = completion.code;  // the code the platform expects, should the redirect fail
      $("handoff-link").href = completion.redirect;
      location.assign(completion.redirect);
      return;
    }
    const form = document.createElement("form");
    form.method = "post";
    form.action = completion.post;
    for (const [name, value] of Object.entries(completion.fields)) {
      const field = document.createElement("input");
      field.type = "hidden";
      field.name = name;
      field.value = value;
      form.appendChild(field);
    }
    document.body.appendChild(form);
    $("handoff-link").onclick = () => form.submit();
    form.submit();
  }

  // The window must hold three panels at 1:1 (rdpbench.study.consent.MIN_WINDOW): below that a notice
  // covers the page and answers are refused until it fits (checked again on every resize).
  function windowFits() {
    const width = Number(body.dataset.minWidth), height = Number(body.dataset.minHeight);
    const fits = innerWidth >= width && innerHeight >= height;
    $("too-small").textContent = fits ? "" : `This window is ${innerWidth}×${innerHeight}; the study needs at least `
      + `${width}×${height}. Please enlarge the window (or maximise it) and leave the browser's zoom at 100% `
      + "(Ctrl+0 resets it).";
    $("too-small").hidden = fits || !current;  // over the trials only: the instructions stay readable
    return fits;
  }

  function enableChoices(on) {
    for (const id of ["choose-left", "choose-right", "choose-not-sure"]) $(id).disabled = !on;
  }

  function flash(message) {
    $("flip-state").textContent = message;
  }

  async function choose(choice) {
    if (busy || !current || !ready) return;  // not before MIN_DISPLAY_MS on screen
    if (!windowFits()) return;
    if (flipped) {  // both sides show the original: an answer now would compare nothing
      flash("Flipped: both sides show the original. Press F to flip back, then answer.");
      return;
    }
    busy = true;
    const ms = Math.round(performance.now() - shownAt);
    try { show(await backend.answer(current.key, choice, ms)); } catch (error) {
      busy = false;
      fail(error, "your earlier answers are saved; answer again (same key or button) to retry");
    }
  }

  function toggleFlip() {
    if (current) { flash("FLIPPED: both sides show the original (F flips back; no answers while flipped)"); }
    if (flickerTimer) setFlicker(false);
    setFlip(!flipped);
  }

  let backend = null;
  // The instructions' Start button only begins the trials here: it never posts.
  $("start").onsubmit = event => event.preventDefault();
  $("instructions").hidden = mode !== "static";
  try { backend = mode === "static" ? staticBackend() : serverBackend(); } catch (error) { fail(error, ""); return; }
  document.addEventListener("keydown", event => {
    if (event.altKey || event.ctrlKey || event.metaKey || !current) return;
    if (event.repeat) { event.preventDefault(); return; }  // a held key answers nothing
    if (event.key === " " || event.key === "Enter") { event.preventDefault(); return; }  // never an answer
    if (event.key === "ArrowLeft" || event.key === "1") { event.preventDefault(); choose("left"); }
    else if (event.key === "ArrowRight" || event.key === "2") { event.preventDefault(); choose("right"); }
    else if (event.key === "f" || event.key === "F") toggleFlip();
    else if (event.key === "z" || event.key === "Z") zoomCentre();
    else if (event.key === "b" || event.key === "B") toggleFlicker();
    else if ((event.key === "ArrowDown" || event.key === "n" || event.key === "N") && viewer.not_sure) {
      event.preventDefault();
      choose("not_sure");
    }
  });
  // Buttons act on click but never keep the focus, so Space or Enter cannot press them again later.
  for (const button of document.querySelectorAll("#trial button")) {
    button.addEventListener("mousedown", event => event.preventDefault());
    button.addEventListener("click", () => button.blur());
  }
  $("choose-left").onclick = () => choose("left");
  $("choose-right").onclick = () => choose("right");
  $("choose-not-sure").onclick = () => choose("not_sure");
  $("flicker").onclick = toggleFlicker;
  $("flip").onclick = toggleFlip;
  $("zoom").onclick = zoomCentre;
  for (const frame of document.querySelectorAll(".frame")) {
    frame.addEventListener("wheel", event => {
      event.preventDefault();
      const lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? frame.clientHeight : 1;
      panBy(event.deltaX * lines, event.deltaY * lines);
    }, {passive: false});
    let press = null;  // a press that moves over 4 CSS px is a drag (pan); otherwise a click (zoom there)
    frame.addEventListener("pointerdown", event => {
      if (event.button !== 0) return;
      event.preventDefault();
      frame.setPointerCapture(event.pointerId);
      press = {x: event.clientX, y: event.clientY, lastX: event.clientX, lastY: event.clientY, dragged: false};
    });
    frame.addEventListener("pointermove", event => {
      if (!press) return;
      if (!press.dragged && Math.hypot(event.clientX - press.x, event.clientY - press.y) > 4) {
        press.dragged = true;  // a drag from where the press began: the pictures follow the pointer
        press.lastX = press.x;
        press.lastY = press.y;
      }
      if (press.dragged) panBy(press.lastX - event.clientX, press.lastY - event.clientY);
      press.lastX = event.clientX;
      press.lastY = event.clientY;
    });
    frame.addEventListener("pointerup", event => {
      if (press && !press.dragged) {
        const box = frame.getBoundingClientRect();
        zoomAt(event.clientX - box.left, event.clientY - box.top);
      }
      press = null;
    });
    frame.addEventListener("pointercancel", () => { press = null; });
  }
  window.addEventListener("resize", () => { windowFits(); layout(); });
  // a new device-pixel ratio (the window moved to another screen) may come without a resize event
  setInterval(() => { if (ratio() !== frameRatio) layout(); }, 250);
  windowFits();
  busy = true;
  backend.next().then(state => {
    if ((mode === "static" ? state.answered === 0 : state.fresh) && !state.done) {  // a first visit: read first
      body.dataset.answered = "0";
      body.dataset.state = "instructions";
      $("instructions").hidden = false;
      $("start").onsubmit = event => { event.preventDefault(); $("instructions").hidden = true; show(state); };
      $("start-button").focus();
      return;
    }
    $("instructions").hidden = true;
    show(state);
  }, fail);
})();
