// The rater page of `rdpbench study serve` (mode "server": answers go to the server's API) and of
// `rdpbench study export-static` (mode "static": answers stay in the browser's localStorage and end in
// a downloadable results file). Keys: ArrowLeft/1, ArrowRight/2 choose; F flips; Z zooms.
"use strict";
(function () {
  const body = document.body, mode = body.dataset.mode;
  const $ = id => document.getElementById(id);
  const ZOOMS = [1, 2, 4];
  const MIN_DISPLAY_MS = Number(body.dataset.minDisplayMs);  // answers sooner are ignored (the server refuses them)
  let current = null, shownAt = null, ready = false, busy = false, zoom = 0, flipped = false;

  function serverBackend() {
    const rater = location.pathname.split("/").filter(Boolean).pop();
    async function call(path, init) {
      const response = await fetch(`/api/${rater}/${path}`, init);
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
      if (next) return Object.assign(base, {done: false, trial: next});
      const file = JSON.stringify({format: "rdpbench-study-answers/1", study_id: data.study_id, rater, answers});
      return Object.assign(base, {done: true, code: assignment.code,
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

  function sizeImages() {
    for (const id of ["left", "right", "original"]) {
      const image = $(id);
      if (!image.naturalWidth) continue;
      const scale = ZOOMS[zoom] / (window.devicePixelRatio || 1);  // 1 image pixel = ZOOMS[zoom] screen pixels
      image.style.width = `${image.naturalWidth * scale}px`;
      image.style.height = `${image.naturalHeight * scale}px`;
    }
    $("zoom").textContent = `Zoom ${ZOOMS[zoom]}:1 (Z)`;
  }

  function setFlip(on, images = true) {
    flipped = on;
    body.classList.toggle("flipped", on);
    $("flip").setAttribute("aria-pressed", String(on));
    if (!current || !images) return;
    $("left").src = on ? current.original : current.left;
    $("right").src = on ? current.original : current.right;
  }

  function show(state) {
    $("progress").textContent = state.done ? `Completed ${state.total} of ${state.total}`
                                           : `Picture pair ${state.answered + 1} of ${state.total}`;
    body.dataset.answered = String(state.answered);
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
      return;
    }
    current = state.trial;
    $("trial").hidden = false;
    setFlip(false, false);
    shownAt = null;
    ready = false;
    enableChoices(false);
    body.dataset.state = "loading";
    const token = current;
    Promise.all(["left", "right", "original"].map(id => load($(id), current[id]))).then(() => {
      if (token !== current) return;
      sizeImages();
      // the response time starts when the pictures are on screen: after the next frame is painted
      requestAnimationFrame(() => requestAnimationFrame(() => {
        if (token !== current) return;
        shownAt = performance.now();
        busy = false;
        body.dataset.state = "viewing";
        setTimeout(() => { if (token === current) { ready = true; body.dataset.state = "trial"; enableChoices(true); } },
                   MIN_DISPLAY_MS);
      }));
    }, () => fail(new Error("a picture could not be loaded; reload the page")));
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

  function fail(error) {
    $("error").textContent = error.message;
    $("error").hidden = false;
    body.dataset.state = "error";
  }

  function enableChoices(on) {
    for (const id of ["choose-left", "choose-right"]) $(id).disabled = !on;
  }

  async function choose(choice) {
    if (busy || !current || !ready) return;  // not before MIN_DISPLAY_MS on screen
    busy = true;
    const ms = Math.round(performance.now() - shownAt);
    try { show(await backend.answer(current.key, choice, ms)); } catch (error) { busy = false; fail(error); }
  }

  let backend = null;
  if (mode === "welcome") {
    body.dataset.state = "welcome";
    return;
  }
  $("start").hidden = true;
  try { backend = mode === "static" ? staticBackend() : serverBackend(); } catch (error) { fail(error); return; }
  document.addEventListener("keydown", event => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.repeat) { event.preventDefault(); return; }  // a held key answers nothing
    if (event.key === "ArrowLeft" || event.key === "1") { event.preventDefault(); choose("left"); }
    else if (event.key === "ArrowRight" || event.key === "2") { event.preventDefault(); choose("right"); }
    else if (event.key === "f" || event.key === "F") setFlip(!flipped);
    else if (event.key === "z" || event.key === "Z") { zoom = (zoom + 1) % ZOOMS.length; sizeImages(); }
  });
  $("choose-left").onclick = () => choose("left");
  $("choose-right").onclick = () => choose("right");
  $("flip").onclick = () => setFlip(!flipped);
  $("zoom").onclick = () => { zoom = (zoom + 1) % ZOOMS.length; sizeImages(); };
  window.addEventListener("resize", sizeImages);
  busy = true;
  backend.next().then(show, fail);
})();
