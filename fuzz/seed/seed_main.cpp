// sockaction_fuzz_seed: turns the readable scenario files of one fuzz target into its binary
// seed corpus. Each scenario is encoded, decoded again and compared, so every seed decodes to
// the scenario its text describes.
//
//   sockaction_fuzz_seed TARGET SCENARIO_DIR OUTPUT_DIR
//
// TARGET is event_sequence, deadline or (when built with tests/differential)
// backend_differential. Every SCENARIO_DIR/*.txt becomes OUTPUT_DIR/<name> without the .txt.
// The tool exits 1 naming the first invalid scenario file, and for event_sequence and deadline
// also the line.
#include "backends/registry.hpp"
#include "fuzz/deadline/deadline_ops.hpp"
#include "fuzz/event_sequence/scenario.hpp"
#if SOCKACTION_FUZZ_HAVE_DIFFERENTIAL
#include "tests/differential/differential.hpp"
#endif

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// The index of backend `name` among the registry's socket_action entries, as
// decode_scenario() counts them.
std::optional<std::uint8_t> socket_action_backend_index(std::string_view name) {
  std::uint8_t index = 0;
  for (const sockaction::BackendInfo& info : sockaction::all_backends()) {
    if (info.loop != sockaction::LoopKind::socket_action) continue;
    if (info.name == name) return index;
    ++index;
  }
  return std::nullopt;
}

std::optional<Bytes> encode_event_sequence(const std::string& text, std::string& error) {
  using namespace sockaction::fuzz::event_sequence;
  auto scenario = parse_scenario_text(text, &socket_action_backend_index, error);
  if (!scenario) return std::nullopt;
  auto bytes = encode_scenario(*scenario);
  if (!bytes) {
    error = "a field is outside the range the binary format can hold";
    return std::nullopt;
  }
  if (decode_scenario(*bytes) != scenario) {
    error = "the encoded scenario decodes to something else (encoder and decoder disagree)";
    return std::nullopt;
  }
  return bytes;
}

std::optional<Bytes> encode_deadline(const std::string& text, std::string& error) {
  using namespace sockaction::fuzz::deadline;
  auto ops = parse_deadline_text(text, error);
  if (!ops) return std::nullopt;
  auto bytes = encode_deadline_ops(*ops);
  if (!bytes) {
    error = "an argument is outside the range the binary format can hold";
    return std::nullopt;
  }
  if (decode_deadline_ops(*bytes) != *ops) {
    error = "the encoded operations decode to something else (encoder and decoder disagree)";
    return std::nullopt;
  }
  return bytes;
}

#if SOCKACTION_FUZZ_HAVE_DIFFERENTIAL
// Writes operations in the byte layout decode_operations() reads: kind and slot bytes, and for
// peer_write the byte count minus one, little-endian. The decode check below catches any drift
// between this encoder and that decoder.
std::optional<Bytes> encode_backend_differential(const std::string& text, std::string& error) {
  namespace differential = sockaction::differential;
  auto ops = differential::parse_operations(text);
  if (!ops) {
    error = "invalid operation line; the format is described at parse_operations() in "
            "tests/differential/differential.hpp";
    return std::nullopt;
  }
  Bytes bytes;
  for (const differential::Operation& op : *ops) {
    bytes.push_back(static_cast<std::uint8_t>(op.kind));
    bytes.push_back(op.slot);
    if (op.kind != differential::OpKind::peer_write) continue;
    const unsigned raw = op.value == 0 ? 0 : op.value - 1u;
    bytes.push_back(static_cast<std::uint8_t>(raw & 0xff));
    bytes.push_back(static_cast<std::uint8_t>(raw >> 8));
  }
  if (differential::decode_operations(bytes) != *ops) {
    error = "the encoded operations decode to something else (a peer_write byte count outside "
            "1 to 16384, or the decoder changed)";
    return std::nullopt;
  }
  return bytes;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s event_sequence|deadline|backend_differential SCENARIO_DIR OUTPUT_DIR\n",
                 argv[0]);
    return 2;
  }
  const std::string target = argv[1];
  std::optional<Bytes> (*encode)(const std::string&, std::string&) = nullptr;
  if (target == "event_sequence") encode = &encode_event_sequence;
  if (target == "deadline") encode = &encode_deadline;
#if SOCKACTION_FUZZ_HAVE_DIFFERENTIAL
  if (target == "backend_differential") encode = &encode_backend_differential;
#endif
  if (!encode) {
    std::fprintf(stderr, "sockaction_fuzz_seed: unknown target \"%s\"; use event_sequence, deadline "
                 "or backend_differential (only in builds with tests/differential)\n", target.c_str());
    return 2;
  }

  std::vector<fs::path> scenarios;
  std::error_code error_code;
  for (const auto& entry : fs::directory_iterator(argv[2], error_code)) {
    if (entry.path().extension() == ".txt") scenarios.push_back(entry.path());
  }
  if (error_code) {
    std::fprintf(stderr, "sockaction_fuzz_seed: failed to list %s: %s\n", argv[2], error_code.message().c_str());
    return 1;
  }
  std::sort(scenarios.begin(), scenarios.end());
  fs::create_directories(argv[3]);

  for (const fs::path& path : scenarios) {
    std::ifstream file(path);
    const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::string error;
    const std::optional<Bytes> bytes = encode(text, error);
    if (!bytes) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), error.c_str());
      return 1;
    }
    const fs::path output = fs::path(argv[3]) / path.stem();
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
    if (!out) {
      std::fprintf(stderr, "sockaction_fuzz_seed: failed to write %s\n", output.c_str());
      return 1;
    }
  }
  std::printf("sockaction_fuzz_seed: wrote %zu %s seeds to %s\n", scenarios.size(), target.c_str(), argv[3]);
  return 0;
}
