// FP32 vs INT8, live: this build's two ONNX models, run in the reader's browser by ONNX Runtime Web.
// Every file (this module, ONNX Runtime's WebAssembly, the tokenizer, the models) comes from the
// book's own _static/live/ folder; nothing is fetched from anywhere else.
import * as ort from "./ort.wasm.min.mjs";
import { Tokenizer } from "./tokenizers.min.mjs";

const HERE = new URL("./", import.meta.url);
const TIMED_RUNS = 5; // after one untimed warm-up run
const MIB = 1024 * 1024;
// The smallest module that uses a SIMD instruction (as in wasm-feature-detect).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10,
  10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

const $ = (selector) => document.querySelector(selector);

function say(text) {
  $("#live-status").textContent = text;
}

function capabilities() {
  const simd = typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  const threads = self.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
  return { simd, threads };
}

async function fetchBytes(url, expected, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received / expected);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

async function fetchJson(name) {
  const response = await fetch(new URL(name, HERE));
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.json();
}

function encode(tokenizer, text, maxLength) {
  const encoded = tokenizer.encode(text, { return_token_type_ids: true });
  let ids = encoded.ids;
  const truncated = ids.length > maxLength;
  if (truncated) ids = ids.slice(0, maxLength - 1).concat(ids.slice(-1)); // keep the final [SEP]
  const tensor = (values) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [1, ids.length]);
  return {
    truncated,
    n_tokens: ids.length,
    feeds: {
      input_ids: tensor(ids),
      attention_mask: tensor(ids.map(() => 1)),
      token_type_ids: tensor(ids.map(() => 0)), // one sentence: segment 0 throughout
    },
  };
}

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / sum);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

class LiveModel {
  constructor(variant, card) {
    this.variant = variant;
    this.card = card;
    this.session = null;
  }

  async load() {
    if (this.session) return this.session;
    const bar = this.card.querySelector("progress");
    bar.hidden = false;
    const bytes = await fetchBytes(new URL(this.variant.file, HERE), this.variant.bytes, (f) => {
      bar.value = f;
    });
    this.session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    bar.hidden = true;
    return this.session;
  }

  async classify(encoded, manifest) {
    const session = await this.load();
    const feeds = Object.fromEntries(session.inputNames.map((name) => [name, encoded.feeds[name]]));
    let output = await session.run(feeds); // warm-up, untimed
    const times = [];
    for (let i = 0; i < TIMED_RUNS; i++) {
      const start = performance.now();
      output = await session.run(feeds);
      times.push(performance.now() - start);
    }
    const probabilities = softmax(Array.from(output.logits.data, Number));
    const best = probabilities.indexOf(Math.max(...probabilities));
    return {
      label: manifest.label_names[best],
      p_positive: probabilities[manifest.positive_index],
      ms: median(times),
    };
  }
}

function showResult(card, sentence, result) {
  Object.assign(card.dataset, {
    label: result.label,
    pPositive: result.p_positive.toFixed(6),
    ms: result.ms.toFixed(3),
    sentence,
    state: "done",
  });
  card.querySelector(".live-answer").textContent =
    `${result.label} · P(positive) ${result.p_positive.toFixed(4)} · ` +
    `${result.ms.toFixed(2)} ms (median of ${TIMED_RUNS} runs in this browser)`;
}

function describeCard(card, variant) {
  card.querySelector(".live-name").textContent = variant.label;
  card.querySelector(".live-size").textContent =
    `download ${(variant.bytes / MIB).toFixed(1)} MiB (${variant.file.split("/").pop()})`;
}

async function main() {
  const root = $("#live");
  if (!root) return;
  const { simd, threads } = capabilities();
  if (!simd) {
    say("This browser's WebAssembly lacks SIMD, which ONNX Runtime Web needs: the models cannot run " +
        "here. A current Chrome, Firefox, Safari or Edge has it.");
    $("#live-run").disabled = true;
    return;
  }
  ort.env.wasm.wasmPaths = HERE.href;
  ort.env.wasm.numThreads = threads ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  $("#live-threads").textContent = threads
    ? `WebAssembly SIMD and ${ort.env.wasm.numThreads} threads.`
    : "WebAssembly SIMD, one thread: this page is not cross-origin isolated, so the browser " +
      "allows no WebAssembly threads (GitHub Pages cannot send the headers that would).";

  let manifest;
  try {
    manifest = await fetchJson("manifest.json");
  } catch (err) {
    say(`This build has no live models (${err.message}).`);
    $("#live-run").disabled = true;
    return;
  }
  const [tokenizerJson, tokenizerConfig] = await Promise.all(
    [manifest.tokenizer, manifest.tokenizer_config].map(fetchJson));
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  $("#live-model").textContent = manifest.model;
  const models = manifest.variants.map((variant) => {
    const card = root.querySelector(`[data-variant="${variant.name}"]`);
    describeCard(card, variant);
    return new LiveModel(variant, card);
  });

  $("#live-run").addEventListener("click", async () => {
    const sentence = $("#live-sentence").value.trim();
    if (!sentence) {
      say("Type a sentence first: an empty one has no sentiment to classify.");
      return;
    }
    $("#live-run").disabled = true;
    try {
      const encoded = encode(tokenizer, sentence, manifest.max_length);
      say(encoded.truncated
        ? `The sentence is longer than ${manifest.max_length} tokens: both models see its first ` +
          `${manifest.max_length} (truncated).`
        : `${encoded.n_tokens} tokens.`);
      for (const model of models) {
        model.card.dataset.state = "running";
        showResult(model.card, sentence, await model.classify(encoded, manifest));
      }
    } catch (err) {
      say(`Failed: ${err.message}`);
      throw err;
    } finally {
      $("#live-run").disabled = false;
    }
  });
  $("#live-run").disabled = false;
  say("Ready: type a sentence and press Classify. Each model downloads on first use.");
}

main();
