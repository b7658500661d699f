#include "human/hype_page.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "report/encoding.h"

namespace trilemma::human {

const std::string& rating_page() {
  static const std::string page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Real or fake? — trilemma</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; margin: 0; padding: 1rem; color: #111; background: #fafafa; }
  main { max-width: 30rem; margin: 0 auto; text-align: center; }
  h1 { font-size: 1.3rem; }
  #image { width: min(80vw, 20rem); height: min(80vw, 20rem); image-rendering: pixelated; background: #000;
           border: 1px solid #ccc; display: block; margin: 0.5rem auto; }
  .buttons { display: flex; gap: 1rem; justify-content: center; margin: 1rem 0; }
  button { font-size: 1.15rem; padding: 0.8rem 1.6rem; border-radius: 0.4rem; border: 1px solid #888; background: #fff;
           min-width: 8rem; cursor: pointer; }
  button:disabled { opacity: 0.4; cursor: default; }
  #real { border-color: #1a7f37; } #fake { border-color: #b42318; }
  .hint, #progress { color: #555; font-size: 0.9rem; }
  #error { color: #b42318; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
  <h1>Real or fake?</h1>
  <section id="intro">
    <p>You will see handwritten digits one at a time. Some are real (from MNIST's test set), the others
       were drawn by generative models: about half of each. Say which you think each one is; take as long
       as you like. After every session you see how often you were right.</p>
    <button id="start">Start</button>
  </section>
  <section id="rating" hidden>
    <p id="progress"></p>
    <img id="image" alt="the digit to judge">
    <div class="buttons">
      <button id="real" disabled>Real <span class="hint">(R)</span></button>
      <button id="fake" disabled>Fake <span class="hint">(F)</span></button>
    </div>
  </section>
  <section id="summary" hidden>
    <p id="accuracy"></p>
    <button id="continue">Next session</button>
  </section>
  <section id="done" hidden>
    <p id="final"></p>
  </section>
  <p id="error" role="alert"></p>
  <p class="hint"><a href="/results">Results so far</a></p>
</main>
<script>
"use strict";
const key = "trilemma-hype-rater";
const $ = (id) => document.getElementById(id);
const state = { rater: localStorage.getItem(key), image: null, shownAt: 0, busy: false };
function show(section) {
  for (const id of ["intro", "rating", "summary", "done"]) $(id).hidden = id !== section;
}
function percent(correct, answered) {
  return answered > 0 ? Math.round(100 * correct / answered) + " %" : "—";
}
async function api(method, url, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
async function begin() {
  if (!state.rater) {
    const created = await api("POST", "/api/raters");
    state.rater = created.rater;
    localStorage.setItem(key, state.rater);
  }
  await next();
}
async function next() {
  let data;
  try {
    data = await api("GET", "/api/next?rater=" + encodeURIComponent(state.rater));
  } catch (error) {
    if (error.message === "unknown rater") {  // e.g. a new study in the same browser
      localStorage.removeItem(key);
      state.rater = null;
      return begin();
    }
    throw error;
  }
  if (data.done) {
    $("final").textContent = "You have judged every image of this study. Thank you!";
    show("done");
    return;
  }
  state.image = data.image;
  $("progress").textContent = "Image " + (data.position + 1) + " of " + data.total;
  $("real").disabled = $("fake").disabled = true;
  $("image").src = "/api/image?id=" + encodeURIComponent(data.image);
  show("rating");
}
$("image").addEventListener("load", () => {
  state.shownAt = performance.now();
  state.busy = false;
  $("real").disabled = $("fake").disabled = false;
  $("image").dataset.ready = state.image;
});
async function answer(saidReal) {
  if (state.busy || !state.image || $("rating").hidden || $("real").disabled) return;
  state.busy = true;
  $("real").disabled = $("fake").disabled = true;
  const receipt = await api("POST", "/api/answers", {
    rater: state.rater, image: state.image, answer: saidReal ? "real" : "fake",
    ms: Math.round(performance.now() - state.shownAt) });
  state.image = null;
  if (receipt.session_complete) {
    $("accuracy").textContent = "This session you were right on " + receipt.session_correct + " of " +
      receipt.session_answered + " (" + percent(receipt.session_correct, receipt.session_answered) +
      "). In all: " + receipt.correct + " of " + receipt.answered + " (" +
      percent(receipt.correct, receipt.answered) + ").";
    show("summary");
    state.busy = false;
  } else {
    await next();
  }
}
function report(promise) {
  promise.then(() => { $("error").textContent = ""; })
         .catch((error) => { state.busy = false; $("error").textContent = "Error: " + error.message; });
}
$("start").addEventListener("click", () => report(begin()));
$("continue").addEventListener("click", () => report(next()));
$("real").addEventListener("click", () => report(answer(true)));
$("fake").addEventListener("click", () => report(answer(false)));
document.addEventListener("keydown", (event) => {
  if (event.key === "r" || event.key === "R") report(answer(true));
  else if (event.key === "f" || event.key === "F") report(answer(false));
});
if (state.rater) $("start").textContent = "Continue";
</script>
</body>
</html>
)html";
  return page;
}

namespace {

std::string percent(const nlohmann::json& value) {
  if (!value.is_number()) return "—";
  char text[16];
  std::snprintf(text, sizeof text, "%.1f %%", 100.0 * value.get<double>());
  return text;
}

std::string interval(const nlohmann::json& ci) {
  if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number() || !ci[1].is_number()) return "—";
  return percent(ci[0]) + " – " + percent(ci[1]);
}

}  // namespace

std::string results_table(const nlohmann::json& results) {
  std::ostringstream out;
  out << "| model | HYPE∞ | 95 % interval | fakes judged real | reals judged fake | judgements (fake / real) | raters |\n"
      << "|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& model : results["models"])
    out << "| " << model["name"].get<std::string>() << " (" << model["sampler"].get<std::string>() << ") | "
        << percent(model["hype"]) << " | " << interval(model["ci95"]) << " | " << percent(model["fakes_judged_real"])
        << " | " << percent(model["reals_judged_fake"]) << " | " << model["fake_judgements"] << " / "
        << model["real_judgements"] << " | " << model["raters"] << " |\n";
  return out.str();
}

std::string results_page(const nlohmann::json& results) {
  using report::html_escape;
  std::ostringstream out;
  out << R"(<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>HYPE results — trilemma</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:1rem;color:#111}table{border-collapse:collapse;margin:0.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}td:first-child,th:first-child{text-align:left}
.note{color:#555;max-width:48rem}</style></head><body>
<h1>Human evaluation: HYPE∞</h1>
<p class="note">The raters' error rate on each model's fakes and the real images, weighted equally
(Zhou et al. 2019). 50 % means the fakes could not be told from real images; lower is easier to spot.
The interval is a bootstrap over raters and images.</p>)";
  out << "<p>" << results["raters"] << " raters, " << results["answers"] << " answers, " << results["images"]
      << " images (" << results["reals"]["images"] << " real).</p>\n";
  out << "<table id=\"scores\"><tr><th>model</th><th>sampler</th><th>HYPE∞</th><th>95 % interval</th><th>fakes "
         "judged real</th><th>reals judged fake</th><th>judgements (fake / real)</th><th>raters</th></tr>\n";
  for (const auto& model : results["models"])
    out << "<tr><td>" << html_escape(model["name"].get<std::string>()) << "</td><td>"
        << html_escape(model["sampler"].get<std::string>()) << "</td><td>" << percent(model["hype"]) << "</td><td>"
        << interval(model["ci95"]) << "</td><td>" << percent(model["fakes_judged_real"]) << "</td><td>"
        << percent(model["reals_judged_fake"]) << "</td><td>" << model["fake_judgements"] << " / "
        << model["real_judgements"] << "</td><td>" << model["raters"] << "</td></tr>\n";
  out << "</table>\n<h2>By class (the evaluator's reading of each fake; a real image's label)</h2>\n";
  auto class_table = [&out](const std::string& title, const nlohmann::json& classes) {
    out << "<h3>" << html_escape(title) << "</h3><table><tr><th>class</th><th>judgements</th><th>judged "
                                           "real</th></tr>\n";
    for (const auto& row : classes)
      out << "<tr><td>" << row["class"] << "</td><td>" << row["judgements"] << "</td><td>"
          << percent(row["judged_real"]) << "</td></tr>\n";
    out << "</table>\n";
  };
  for (const auto& model : results["models"]) class_table(model["name"].get<std::string>(), model["per_class"]);
  class_table("real images", results["reals"]["per_class"]);
  out << "<p><a href=\"/\">Back to rating</a></p></body></html>\n";
  return out.str();
}

}  // namespace trilemma::human
