// dreamlite serve: the page. Everything it loads comes from this server.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { model: null, source: null, job: null, events: null, history: [] };

function say(text, isError) {
  $("message").textContent = text || "";
  $("message").className = isError ? "error" : "";
}

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || data.detail || `HTTP ${response.status}`);
  return data;
}

function fileToDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("could not read the file"));
    reader.readAsDataURL(blob);
  });
}

function setSource(dataUrl, label) {
  state.source = dataUrl ? { dataUrl, label } : null;
  $("source-preview").hidden = !dataUrl;
  if (dataUrl) $("source-img").src = dataUrl;
  else $("source-file").value = "";
  $("run").textContent = dataUrl ? "Edit" : "Generate";
  $("image-guidance-label").hidden = !dataUrl || state.model.image_guidance === null;
}

async function loadModel() {
  const m = await api("/api/model");
  state.model = m;
  $("model-name").textContent = `${m.model} (${m.variant}, ${m.size}px)`;
  $("steps").value = m.steps;
  $("steps").max = m.max_steps;
  $("num-images").max = m.max_images;
  $("guidance").value = m.guidance ?? "";
  $("image-guidance").value = m.image_guidance ?? "";
  $("guidance").disabled = m.guidance === null;
  setSource(null);
}

function number(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

async function run() {
  const body = { prompt: $("prompt").value, steps: number("steps"), guidance: number("guidance"),
                 num_images: number("num-images") ?? 1 };
  if (!$("randomize").checked) body.seed = number("seed");
  const task = state.source ? "edit" : "generate";
  if (task === "edit") { body.image = state.source.dataUrl; body.image_guidance = number("image-guidance"); }
  say("");
  let queued;
  try { queued = await api(`/api/${task}`, body); } catch (err) { say(err.message, true); return; }
  $("seed").value = queued.seed;
  follow(queued.id, task, state.source);
}

function follow(id, task, source) {
  state.job = id;
  $("run").disabled = true;
  $("cancel").disabled = false;
  $("progress").value = 0;
  $("progress-text").textContent = "queued";
  const events = new EventSource(`/api/jobs/${id}/events`);
  state.events = events;
  const end = () => { events.close(); $("run").disabled = false; $("cancel").disabled = true; state.job = null; };
  events.addEventListener("running", () => { $("progress-text").textContent = "running"; });
  events.addEventListener("progress", (e) => {
    const d = JSON.parse(e.data);
    $("progress").max = d.total;
    $("progress").value = d.step;
    $("progress-text").textContent = `step ${d.step} / ${d.total}`;
    if (d.preview) { $("preview").src = d.preview; $("preview").hidden = false; }
  });
  events.addEventListener("done", (e) => { end(); finished(JSON.parse(e.data), source); });
  events.addEventListener("failed", (e) => { end(); say(`failed: ${JSON.parse(e.data).error}`, true); });
  events.addEventListener("cancelled", (e) => {
    end(); const d = JSON.parse(e.data); say(`cancelled at step ${d.step} of ${d.total}`);
    $("progress-text").textContent = "cancelled";
  });
  events.onerror = () => { if (state.job === id) { end(); say("lost the connection to the server", true); } };
}

function finished(job, source) {
  $("preview").hidden = true;
  $("progress-text").textContent = `done: ${job.images.length} image(s), seed ${job.params.seed}`;
  const results = $("results");
  results.replaceChildren();
  job.images.forEach((url, n) => {
    const entry = { id: job.id, n, url, task: job.task, params: job.params, sha256: job.sha256[n],
                    parent: job.parent_sha256, number: state.history.length + 1 };
    state.history.push(entry);
    const figure = document.createElement("figure");
    figure.innerHTML = `<img class="result" alt="result ${entry.number}"><figcaption></figcaption>`;
    figure.querySelector("img").src = url;
    figure.querySelector("figcaption").textContent = `#${entry.number} ${job.task}: ${job.params.prompt}`;
    results.append(figure);
  });
  const compare = job.task === "edit" && source;
  $("compare").hidden = !compare;
  if (compare) {
    $("compare-before").src = source.dataUrl;
    $("compare-after").src = job.images[0];
    slide();
  }
  renderHistory();
}

function slide() {
  $("compare-after").style.clipPath = `inset(0 0 0 ${$("compare-slider").value}%)`;
}

function renderHistory() {
  const box = $("history");
  box.replaceChildren();
  for (const entry of [...state.history].reverse()) {
    const parent = state.history.find((h) => h.sha256 === entry.parent);
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.task = entry.task;
    card.innerHTML = `<img alt="history ${entry.number}"><div class="meta"></div>` +
                     `<button type="button" class="edit-this">Edit this</button>`;
    card.querySelector("img").src = entry.url;
    card.querySelector(".meta").textContent = `#${entry.number} ${entry.task}` +
      (parent ? ` of #${parent.number}` : "") + ` · seed ${entry.params.seed}: ${entry.params.prompt}`;
    card.querySelector("img").onclick = () => { $("results").replaceChildren(card.querySelector("img").cloneNode()); };
    card.querySelector(".edit-this").onclick = () => editThis(entry);
    box.append(card);
  }
}

async function editThis(entry) {
  const blob = await (await fetch(entry.url)).blob();
  setSource(await fileToDataUrl(blob), `#${entry.number}`);
  $("prompt").value = "";
  $("prompt").placeholder = `instruction for #${entry.number}, e.g. make the circle blue`;
  $("prompt").focus();
  say(`editing #${entry.number}`);
}

async function restoreFrom(file) {
  try {
    const { params } = await api("/api/inspect", { image: await fileToDataUrl(file) });
    if (!params) { say("that image carries no dreamlite parameters", true); return; }
    $("prompt").value = params.prompt ?? "";
    $("steps").value = params.steps ?? "";
    $("guidance").value = params.guidance ?? state.model.guidance ?? "";
    $("image-guidance").value = params.image_guidance ?? state.model.image_guidance ?? "";
    $("num-images").value = params.num_images ?? 1;
    $("seed").value = params.seed ?? "";
    $("randomize").checked = false;
    say(`restored the parameters of a ${params.task} (model ${params.model})`);
  } catch (err) { say(err.message, true); }
}

$("run").onclick = run;
$("cancel").onclick = async () => { if (state.job) { try { await api(`/api/jobs/${state.job}/cancel`, {}); } catch (err) { say(err.message, true); } } };
$("source-file").onchange = async () => {
  const file = $("source-file").files[0];
  if (file) setSource(await fileToDataUrl(file), file.name);
};
$("clear-source").onclick = () => setSource(null);
$("compare-slider").oninput = slide;
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (file) restoreFrom(file);
});
loadModel().catch((err) => say(`could not reach the server: ${err.message}`, true));
