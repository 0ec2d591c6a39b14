// RapidJSON against nlohmann-json and simdjson on what io/json.h must do
// fastest: parse a large safetensors-style header and walk its entries. Why
// io/json.h uses RapidJSON (with what untrusted input needs; see there).
// Built when Debian's nlohmann-json3-dev and libsimdjson-dev are installed
// beside rapidjson-dev:
//
//   build/release/bench/actgrad_json_libraries --benchmark_repetitions=5

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <string>

#include "io/json.h"

namespace {

// About `bytes` of {"__metadata__": ..., "layers.<i>.weight": {"dtype": ...,
// "shape": [a, b], "data_offsets": [x, y]}, ...}.
const std::string& Header(size_t bytes) {
  static std::string* text = [bytes] {
    auto* s = new std::string("{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; s->size() < bytes; ++i) {
      *s += ",\"layers." + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[" +
            std::to_string(64 + i % 7) + "," + std::to_string(32 + i % 5) + "],\"data_offsets\":[" +
            std::to_string(i * 8192) + "," + std::to_string(i * 8192 + 8192) + "]}";
    }
    *s += "}";
    return s;
  }();
  return *text;
}

constexpr size_t kBytes = 100 << 20;

void Report(benchmark::State& state, int64_t sum) {
  benchmark::DoNotOptimize(sum);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(Header(kBytes).size()));
}

void BM_RapidJson(benchmark::State& state) {
  const std::string& text = Header(kBytes);
  int64_t sum = 0;
  for (auto _ : state) {
    absl::StatusOr<actgrad::io::JsonDocument> doc = actgrad::io::ParseJson(text, "bench");
    for (const auto& m : doc->GetObject()) {
      if (m.value.HasMember("shape")) sum += m.value["shape"][0].GetInt64();
    }
  }
  Report(state, sum);
}

void BM_NlohmannJson(benchmark::State& state) {
  const std::string& text = Header(kBytes);
  int64_t sum = 0;
  for (auto _ : state) {
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    for (const auto& [key, value] : doc.items()) {
      if (value.contains("shape")) sum += value["shape"][0].get<int64_t>();
    }
  }
  Report(state, sum);
}

void BM_Simdjson(benchmark::State& state) {
  const simdjson::padded_string text(Header(kBytes));
  simdjson::dom::parser parser;
  int64_t sum = 0;
  for (auto _ : state) {
    simdjson::dom::element doc;
    if (parser.parse(text).get(doc)) state.SkipWithError("simdjson refused the header");
    for (auto [key, value] : doc.get_object()) {
      simdjson::dom::array shape;
      int64_t first = 0;
      if (!value["shape"].get_array().get(shape) && !shape.at(0).get_int64().get(first)) {
        sum += first;
      }
    }
  }
  Report(state, sum);
}

BENCHMARK(BM_RapidJson)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NlohmannJson)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Simdjson)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
