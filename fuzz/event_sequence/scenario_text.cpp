// The text form of a scenario, for the readable seed files in fuzz/scenarios/event_sequence/.
#include "fuzz/event_sequence/scenario.hpp"

#include <array>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace sockaction::fuzz::event_sequence {
namespace {

constexpr std::array<std::string_view, delivery_mode_count> mode_names = {
    "faithful", "mask0", "drop-bits", "add-bits", "error",
    "duplicate", "delay", "skip", "unchecked"};
constexpr std::array<std::string_view, inject_target_count> target_names = {
    "removed", "unannounced", "closed"};
constexpr std::array<std::string_view, pause_direction_count> direction_names = {
    "recv", "send", "all"};
constexpr std::array<std::string_view, 4> upload_names = {"none", "put", "put-chunked", "post"};

// Thrown by the helpers below and turned into the `error` sentence by parse_scenario_text().
struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a double-quoted string with the escapes \r \n \t \\ \" and \xHH, starting at `line[at]`
// (the opening quote). Leaves `at` after the closing quote.
std::string read_quoted(std::string_view line, std::size_t& at) {
  std::string out;
  ++at;
  while (at < line.size() && line[at] != '"') {
    char c = line[at++];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (at >= line.size()) break;
    const char escape = line[at++];
    switch (escape) {
      case 'r': out.push_back('\r'); break;
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case '\\': out.push_back('\\'); break;
      case '"': out.push_back('"'); break;
      case 'x': {
        const int high = at < line.size() ? hex_digit(line[at]) : -1;
        const int low = at + 1 < line.size() ? hex_digit(line[at + 1]) : -1;
        if (high < 0 || low < 0) throw ParseError("invalid \\x escape, expected two hex digits");
        out.push_back(static_cast<char>(high * 16 + low));
        at += 2;
        break;
      }
      default:
        throw ParseError(std::string("unknown escape \\") + escape);
    }
  }
  if (at >= line.size()) throw ParseError("missing closing quote");
  ++at;
  return out;
}

// Splits a line into words; a double-quoted string is one word (with its escapes decoded) and
// '#' outside quotes starts a comment.
std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t at = 0;
  while (at < line.size()) {
    if (line[at] == ' ' || line[at] == '\t' || line[at] == '\r') {
      ++at;
    } else if (line[at] == '#') {
      break;
    } else if (line[at] == '"') {
      words.push_back(read_quoted(line, at));
    } else {
      const std::size_t start = at;
      while (at < line.size() && line[at] != ' ' && line[at] != '\t' && line[at] != '\r') ++at;
      words.emplace_back(line.substr(start, at - start));
    }
  }
  return words;
}

unsigned parse_number(std::string_view word, unsigned max, std::string_view what) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (error != std::errc() || end != word.data() + word.size() || value > max) {
    throw ParseError(std::string(what) + " must be a number from 0 to " + std::to_string(max) +
                     ", got \"" + std::string(word) + "\"");
  }
  return value;
}

template <std::size_t N>
std::uint8_t parse_name(std::string_view word, const std::array<std::string_view, N>& names,
                        std::string_view what) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == word) return static_cast<std::uint8_t>(i);
  }
  std::string known;
  for (std::string_view name : names) known += (known.empty() ? "" : ", ") + std::string(name);
  throw ParseError("unknown " + std::string(what) + " \"" + std::string(word) + "\"; known: " + known);
}

// Splits "key=value"; a word without '=' has an empty value.
std::pair<std::string_view, std::string_view> split_option(std::string_view word) {
  const auto equals = word.find('=');
  if (equals == std::string_view::npos) return {word, {}};
  return {word.substr(0, equals), word.substr(equals + 1)};
}

TransferOptions parse_transfer(const std::vector<std::string>& words) {
  TransferOptions options;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto [key, value] = split_option(words[i]);
    if (key == "reuse") {
      options.reuse = value != "no";
    } else if (key == "upload") {
      options.upload = static_cast<UploadKind>(parse_name(value, upload_names, "upload kind"));
    } else if (key == "upload-bytes") {
      const unsigned bytes = parse_number(value, 255 * 64, "upload-bytes");
      if (bytes % 64 != 0) throw ParseError("upload-bytes must be a multiple of 64");
      options.upload_size_code = static_cast<std::uint8_t>(bytes / 64);
    } else if (key == "timeout-ms") {
      const unsigned ms = parse_number(value, 5 + 4 * 255, "timeout-ms");
      if (ms < 5 || (ms - 5) % 4 != 0) throw ParseError("timeout-ms must be 5 + 4 * N");
      options.timeout = true;
      options.timeout_code = static_cast<std::uint8_t>((ms - 5) / 4);
    } else if (key == "pause-in-write") {
      options.pause_in_write = true;
    } else if (key == "pause-in-read") {
      options.pause_in_read = true;
    } else if (key == "head") {
      options.head = true;
    } else if (key == "deferred") {
      options.deferred = true;
    } else if (key == "small-buffer") {
      options.small_buffer = true;
    } else if (key == "accept-encoding") {
      options.accept_encoding = true;
    } else if (key == "fail-on-error") {
      options.fail_on_error = true;
    } else if (key == "http1.0") {
      options.http10 = true;
    } else if (key == "ignore-content-length") {
      options.ignore_content_length = true;
    } else {
      throw ParseError("unknown transfer option \"" + std::string(key) + "\"");
    }
  }
  return options;
}

void expect_words(const std::vector<std::string>& words, std::size_t min, std::size_t max) {
  if (words.size() < min || words.size() > max) {
    throw ParseError("\"" + words[0] + "\" takes " + std::to_string(min - 1) + " to " +
                     std::to_string(max - 1) + " arguments, got " + std::to_string(words.size() - 1));
  }
}

std::uint8_t parse_pick(const std::string& word) {
  return static_cast<std::uint8_t>(parse_number(word, 255, "a connection or transfer number"));
}

// A step of `kind` with every other field at its default.
Step step_of(StepKind kind) {
  Step step;
  step.kind = kind;
  return step;
}

Step parse_deliver(const std::vector<std::string>& words) {
  expect_words(words, 2, 4);
  Step step = step_of(StepKind::deliver);
  step.mode = static_cast<DeliveryMode>(parse_name(words[1], mode_names, "delivery mode"));
  for (std::size_t i = 2; i < words.size(); ++i) {
    const auto [key, value] = split_option(words[i]);
    if (key == "bits") {
      step.bits = static_cast<std::uint8_t>(parse_number(value, 255, "bits"));
    } else if (key == "wait-ms") {
      step.wait_ms = static_cast<std::uint8_t>(parse_number(value, 15, "wait-ms"));
    } else {
      throw ParseError("unknown deliver option \"" + std::string(key) + "\"");
    }
  }
  return step;
}

Step parse_inject(const std::vector<std::string>& words) {
  expect_words(words, 2, 4);
  Step step = step_of(StepKind::inject);
  step.target = static_cast<InjectTarget>(parse_name(words[1], target_names, "inject target"));
  for (std::size_t i = 2; i < words.size(); ++i) {
    const auto [key, value] = split_option(words[i]);
    if (key == "pick") {
      step.pick = static_cast<std::uint8_t>(parse_number(value, 255, "pick"));
    } else if (key == "bits") {
      step.bits = static_cast<std::uint8_t>(parse_number(value, 255, "bits"));
    } else {
      throw ParseError("unknown inject option \"" + std::string(key) + "\"");
    }
  }
  return step;
}

ResponseTemplate parse_template(std::string_view word) {
  for (std::size_t i = 0; i < response_template_count; ++i) {
    const auto response = static_cast<ResponseTemplate>(i);
    if (response_template_name(response) == word) return response;
  }
  throw ParseError("unknown response template \"" + std::string(word) + "\"");
}

Step parse_step(const std::vector<std::string>& words) {
  const std::string& verb = words[0];
  if (verb == "deliver") return parse_deliver(words);
  if (verb == "inject") return parse_inject(words);

  if (verb == "flush-delayed") {
    expect_words(words, 1, 1);
    return step_of(StepKind::flush_delayed);
  }
  if (verb == "fire-timeout") {
    expect_words(words, 1, 2);
    Step step = step_of(StepKind::fire_timeout);
    step.count = 1;
    if (words.size() == 2) {
      const auto [key, value] = split_option(words[1]);
      if (key != "count") throw ParseError("fire-timeout takes only count=N");
      step.count = static_cast<std::uint8_t>(parse_number(value, 2, "count"));
      if (step.count == 0) throw ParseError("count must be 1 or 2");
    }
    return step;
  }

  if (verb == "hold-timer") {
    expect_words(words, 2, 2);
    Step step = step_of(StepKind::hold_timer);
    step.count = static_cast<std::uint8_t>(parse_number(words[1], 7, "hold-timer steps"));
    return step;
  }

  if (verb == "write") {
    expect_words(words, 3, 3);
    if (words[2].size() > 255) throw ParseError("write takes at most 255 bytes; split it");
    Step step = step_of(StepKind::server_write);
    step.pick = parse_pick(words[1]);
    step.data = words[2];
    return step;
  }
  if (verb == "respond") {
    expect_words(words, 3, 3);
    Step step = step_of(StepKind::server_respond);
    step.pick = parse_pick(words[1]);
    step.response = parse_template(words[2]);
    return step;
  }
  if (verb == "pause") {
    expect_words(words, 3, 3);
    Step step = step_of(StepKind::pause);
    step.pick = parse_pick(words[1]);
    step.direction = static_cast<PauseDirection>(parse_name(words[2], direction_names, "pause direction"));
    return step;
  }

  static const std::array<std::pair<std::string_view, StepKind>, 6> single_argument = {{
      {"half-close", StepKind::server_half_close},
      {"close", StepKind::server_close},
      {"stall", StepKind::server_stall},
      {"unpause", StepKind::unpause},
      {"abort", StepKind::abort_transfer},
      {"add", StepKind::add_transfer},
  }};
  for (const auto& [name, kind] : single_argument) {
    if (verb != name) continue;
    expect_words(words, 2, 2);
    Step step = step_of(kind);
    step.pick = parse_pick(words[1]);
    return step;
  }
  throw ParseError("unknown step \"" + verb + "\"");
}

}  // namespace

std::optional<Scenario> parse_scenario_text(
    std::string_view text, std::optional<std::uint8_t> (*backend_index)(std::string_view name),
    std::string& error) {
  Scenario scenario;
  bool have_backend = false;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    try {
      const std::vector<std::string> words = split_words(line);
      if (words.empty()) continue;
      if (words[0] == "backend") {
        expect_words(words, 2, 2);
        auto index = backend_index(words[1]);
        if (!index) throw ParseError("unknown backend \"" + words[1] + "\"");
        scenario.backend = *index;
        have_backend = true;
      } else if (words[0] == "transfer") {
        if (scenario.transfers.size() == max_transfers) {
          throw ParseError("at most " + std::to_string(max_transfers) + " transfers");
        }
        scenario.transfers.push_back(parse_transfer(words));
      } else {
        scenario.steps.push_back(parse_step(words));
      }
    } catch (const ParseError& problem) {
      error = "line " + std::to_string(line_number) + ": " + problem.what();
      return std::nullopt;
    }
  }
  if (!have_backend) error = "missing \"backend NAME\" line";
  if (scenario.transfers.empty()) error = "missing \"transfer\" line";
  if (!error.empty()) return std::nullopt;
  return scenario;
}

}  // namespace sockaction::fuzz::event_sequence
