// sockaction_report: turns sockaction_bench's Google Benchmark JSON into a readable comparison
// (Markdown), and with --check validates the JSON the way CI needs: every benchmark either ran
// with sane counters or was skipped with a reason.

#include <boost/json/src.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace json = boost::json;

namespace {

struct Row {
  std::string backend, scenario;
  int concurrency = 0;
  std::string error;  // error_message for skipped or failed benchmarks
  std::map<std::string, double> counters;
  // Coefficient of variation of each counter over the repetitions; empty without repetitions.
  std::map<std::string, double> variation;
  double real_time_ms = 0;
};

struct Report {
  json::object context;
  std::vector<Row> rows;
  int repetitions = 1;
};

struct Options {
  std::string input, output;
  bool check = false;
};

double number(const json::value& value) {
  if (value.is_double()) return value.as_double();
  if (value.is_int64()) return static_cast<double>(value.as_int64());
  if (value.is_uint64()) return static_cast<double>(value.as_uint64());
  return std::nan("");
}

std::string text(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

// Splits "backend/scenario/concurrency:C", with or without Google Benchmark's "/real_time"
// suffix; returns false for any other name.
bool split_name(std::string name, Row& row) {
  const std::string suffix = "/real_time";
  if (name.ends_with(suffix)) name.resize(name.size() - suffix.size());
  const auto first = name.find('/');
  const auto second = name.find('/', first + 1);
  const std::string prefix = "concurrency:";
  if (first == std::string::npos || second == std::string::npos ||
      name.compare(second + 1, prefix.size(), prefix) != 0) {
    return false;
  }
  row.backend = name.substr(0, first);
  row.scenario = name.substr(first + 1, second - first - 1);
  const std::string digits = name.substr(second + 1 + prefix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  row.concurrency = std::stoi(digits);
  return true;
}

// Returns `text` with the bare NaN, nan, inf and Infinity that Google Benchmark 1.7 writes for
// undefined statistics (the coefficient of variation of an all-zero counter) turned into null,
// so a standard JSON parser accepts it.
std::string replace_non_finite(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* token : {"-nan", "nan", "-NaN", "NaN", "-inf", "inf", "-Infinity", "Infinity"}) {
      const std::size_t length = std::strlen(token);
      if (text.compare(i, length, token) == 0) {
        out += "null";
        i += length - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// Copies each "cv" aggregate's counters into the variation of its row.
void read_variation(const json::array& benchmarks, Report& report) {
  for (const auto& entry : benchmarks) {
    const auto& benchmark = entry.as_object();
    if (text(benchmark, "aggregate_name") != "cv") continue;
    Row key;
    if (!split_name(text(benchmark, "run_name"), key)) continue;
    for (Row& row : report.rows) {
      if (row.backend != key.backend || row.scenario != key.scenario ||
          row.concurrency != key.concurrency) {
        continue;
      }
      for (const auto& [name, value] : benchmark) {
        if (value.is_number()) row.variation[std::string(name)] = number(value);
      }
    }
  }
}

// Reads the benchmarks, keeping median aggregates when there are repetitions and plain
// iteration rows otherwise. Throws std::runtime_error naming the problem.
Report read_report(const std::string& path) {
  std::error_code folder_error;
  if (std::filesystem::is_directory(path, folder_error)) {
    throw std::runtime_error(path + " is a folder; give sockaction_bench's JSON output file");
  }
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::stringstream content;
  content << file.rdbuf();
  boost::system::error_code error;
  json::value document = json::parse(replace_non_finite(content.str()), error);
  if (error) throw std::runtime_error(path + " is not valid JSON: " + error.message());
  if (!document.is_object() || !document.as_object().contains("benchmarks")) {
    throw std::runtime_error(path + " has no \"benchmarks\" array; is it --benchmark_format=json output?");
  }

  Report report;
  if (auto* context = document.as_object().if_contains("context"); context && context->is_object()) {
    report.context = context->as_object();
  }
  const auto& benchmarks = document.as_object().at("benchmarks").as_array();
  const bool has_medians = std::any_of(benchmarks.begin(), benchmarks.end(), [](const auto& b) {
    return b.is_object() && text(b.as_object(), "aggregate_name") == "median";
  });
  for (const auto& entry : benchmarks) {
    const auto& benchmark = entry.as_object();
    const std::string run_type = text(benchmark, "run_type");
    const bool errored = benchmark.contains("error_occurred") && benchmark.at("error_occurred").as_bool();
    if (has_medians && !errored && text(benchmark, "aggregate_name") != "median") continue;
    if (has_medians && errored && text(benchmark, "aggregate_name") != "" ) continue;
    if (!has_medians && run_type == "aggregate") continue;

    Row row;
    const std::string name = text(benchmark, "run_name").empty() ? text(benchmark, "name")
                                                                   : text(benchmark, "run_name");
    if (!split_name(name, row)) throw std::runtime_error("unexpected benchmark name \"" + name + "\"");
    if (std::any_of(report.rows.begin(), report.rows.end(), [&](const Row& seen) {
          return seen.backend == row.backend && seen.scenario == row.scenario &&
                 seen.concurrency == row.concurrency;
        })) {
      continue;  // an errored benchmark repeated once per repetition
    }
    if (errored) row.error = text(benchmark, "error_message");
    if (auto* repetitions = benchmark.if_contains("repetitions")) {
      report.repetitions = std::max(report.repetitions, static_cast<int>(number(*repetitions)));
    }
    for (const auto& [key, value] : benchmark) {
      if (value.is_number()) row.counters[std::string(key)] = number(value);
    }
    row.real_time_ms = row.counters["real_time"];
    report.rows.push_back(std::move(row));
  }
  read_variation(benchmarks, report);
  // Registration order (backend, then scenario, then concurrency), whatever order the runs had:
  // --benchmark_enable_random_interleaving shuffles them.
  std::stable_sort(report.rows.begin(), report.rows.end(), [](const Row& a, const Row& b) {
    const auto key = [](const Row& row) {
      const auto it = row.counters.find("family_index");
      return it == row.counters.end() ? 0.0 : it->second;
    };
    return key(a) < key(b);
  });
  return report;
}

double counter(const Row& row, const std::string& key) {
  auto it = row.counters.find(key);
  return it == row.counters.end() ? std::nan("") : it->second;
}

bool is_skip(const Row& row) {
  return row.error.find("not available here") != std::string::npos ||
         row.error.find(" skipped: ") != std::string::npos;
}

// Validation problems, one sentence each; empty when the report is sound.
std::vector<std::string> check_report(const Report& report) {
  std::vector<std::string> problems;
  for (const char* key : {"libcurl_version", "libcurl_features", "kernel", "sockaction_commit"}) {
    if (!report.context.contains(key)) problems.push_back(std::string("context lacks ") + key);
  }
  if (report.rows.empty()) problems.push_back("no benchmark rows");
  std::size_t ran = 0;
  for (const Row& row : report.rows) {
    const std::string name = row.backend + "/" + row.scenario + "/concurrency:" + std::to_string(row.concurrency);
    if (!row.error.empty()) {
      if (!is_skip(row)) problems.push_back(name + " failed: " + row.error);
      continue;
    }
    ++ran;
    const double requests = counter(row, "requests");
    if (!(requests > 0)) problems.push_back(name + " has no completed requests");
    if (counter(row, "failed") != 0) problems.push_back(name + " has failed transfers");
    const double p[] = {counter(row, "p50_us"), counter(row, "p90_us"), counter(row, "p99_us"),
                        counter(row, "p999_us"), counter(row, "max_us")};
    for (int i = 0; i < 5; ++i) {
      if (!(p[i] > 0)) problems.push_back(name + " has a latency percentile that is not positive");
      if (i > 0 && p[i] < p[i - 1]) problems.push_back(name + " has latency percentiles out of order");
    }
    if (!(counter(row, "wakeups_per_req") > 0)) problems.push_back(name + " counted no wakeups");
  }
  if (ran == 0 && !report.rows.empty() &&
      std::all_of(report.rows.begin(), report.rows.end(), is_skip)) {
    problems.push_back("every benchmark was skipped");
  }
  return problems;
}

std::string format_rate(double value) {
  char buffer[32];
  if (std::isnan(value)) return "-";
  if (value >= 1e6) std::snprintf(buffer, sizeof buffer, "%.2fM", value / 1e6);
  else if (value >= 1e3) std::snprintf(buffer, sizeof buffer, "%.1fk", value / 1e3);
  else std::snprintf(buffer, sizeof buffer, "%.1f", value);
  return buffer;
}

std::string format_fixed(double value, int digits) {
  if (std::isnan(value)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

const Row* find_row(const Report& report, const std::string& backend, const std::string& scenario,
                    int concurrency) {
  for (const Row& row : report.rows) {
    if (row.backend == backend && row.scenario == scenario && row.concurrency == concurrency) return &row;
  }
  return nullptr;
}

// The ordered unique values of `field` over the rows, in first-seen order.
template <class Field>
std::vector<Field> unique(const Report& report, Field Row::*field) {
  std::vector<Field> values;
  for (const Row& row : report.rows) {
    if (std::find(values.begin(), values.end(), row.*field) == values.end()) values.push_back(row.*field);
  }
  return values;
}

void write_context(std::ostream& out, const Report& report) {
  out << "| context | value |\n|---|---|\n";
  for (const char* key : {"date", "host_name", "num_cpus", "mhz_per_cpu", "kernel", "libcurl_version",
                          "libcurl_compiled_version", "libcurl_features", "libcurl_ssl", "compiler",
                          "library_build_type", "sockaction_commit", "target", "event_mask",
                          "connection_reuse"}) {
    if (const auto* value = report.context.if_contains(key)) {
      out << "| " << key << " | " << (value->is_string() ? std::string(value->as_string()) : json::serialize(*value))
          << " |\n";
    }
  }
  out << "| repetitions (medians shown) | " << report.repetitions << " |\n\n";
}

// One table with a row per scenario and concurrency and a column per backend, showing `key`.
void write_matrix(std::ostream& out, const Report& report, const std::string& title,
                  const std::string& key, std::string (*format)(double)) {
  const auto backends = unique(report, &Row::backend);
  out << "## " << title << "\n\n| scenario | concurrency |";
  for (const auto& backend : backends) out << ' ' << backend << " |";
  out << "\n|---|---:|";
  for (std::size_t i = 0; i < backends.size(); ++i) out << "---:|";
  out << '\n';
  for (const auto& scenario : unique(report, &Row::scenario)) {
    for (int concurrency : unique(report, &Row::concurrency)) {
      out << "| " << scenario << " | " << concurrency << " |";
      for (const auto& backend : backends) {
        const Row* row = find_row(report, backend, scenario, concurrency);
        const char* status = !row ? "" : is_skip(*row) ? "skip" : "failed";
        out << ' ' << (row && row->error.empty() ? format(counter(*row, key)) : status) << " |";
      }
      out << '\n';
    }
  }
  out << '\n';
}

std::string format_ms(double microseconds) { return format_fixed(microseconds / 1000.0, 2); }

std::string format_two_digits(double value) { return format_fixed(value, 2); }

void write_detail_table(std::ostream& out, const Report& report) {
  out << "## Details\n\nLatencies in ms; costs per request. `syscalls` counts the backend's kernel "
         "entries (waits plus interest changes); the multi_poll baseline's happen inside libcurl and "
         "are not counted. `connects` counts the connections libcurl opened; with keep-alive it is "
         "the concurrency divided by the transfers of one iteration.\n\n"
         "| benchmark | req/s | MiB/s | p50 | p90 | p99 | p99.9 | max | CPU µs | loop CPU µs | actions | socket cbs | "
         "timer cbs | wakeups | idle wakeups | timer expirations | syscalls | connects |\n"
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Row& row : report.rows) {
    if (!row.error.empty()) continue;
    const auto ms = [&](const char* key) { return format_fixed(counter(row, key) / 1000.0, 2); };
    out << "| " << row.backend << '/' << row.scenario << "/concurrency:" << row.concurrency << " | "
        << format_rate(counter(row, "requests")) << " | " << format_fixed(counter(row, "bytes") / 1048576.0, 1)
        << " | " << ms("p50_us") << " | " << ms("p90_us") << " | " << ms("p99_us") << " | " << ms("p999_us")
        << " | " << ms("max_us") << " | " << format_fixed(counter(row, "cpu_us_per_req"), 1) << " | "
        << format_fixed(counter(row, "driver_cpu_us_per_req"), 1) << " | "
        << format_fixed(counter(row, "actions_per_req"), 2) << " | "
        << format_fixed(counter(row, "socket_cbs_per_req"), 2) << " | "
        << format_fixed(counter(row, "timer_cbs_per_req"), 2) << " | "
        << format_fixed(counter(row, "wakeups_per_req"), 2) << " | "
        << format_fixed(counter(row, "idle_wakeups_per_req"), 2) << " | "
        << format_fixed(counter(row, "timer_expirations_per_req"), 2) << " | "
        << format_fixed(counter(row, "syscalls_per_req"), 2) << " | "
        << format_fixed(counter(row, "connects_per_req"), 3) << " |\n";
  }
  out << '\n';
}

// One line comparing `left` with `right` on `key`, or nothing when either did not run.
// Adds to an expectation line whether the two medians differ by less than the repetitions
// vary, in which case the run cannot tell the two apart. Nothing without repetitions.
void write_spread_note(std::ostream& out, const Row& a, const Row& b, const std::string& key) {
  const auto spread = [&key](const Row& row) {
    const auto it = row.variation.find(key);
    return it == row.variation.end() ? std::nan("") : it->second;
  };
  const double larger_spread = std::max(spread(a), spread(b));
  const double x = counter(a, key), y = counter(b, key);
  if (!std::isfinite(larger_spread) || y == 0) return;
  const double difference = std::abs(x - y) / std::abs(y);
  if (difference >= larger_spread) return;
  out << ", but the medians differ by " << format_fixed(100 * difference, 1)
      << " %, less than the repetitions vary (coefficient of variation up to "
      << format_fixed(100 * larger_spread, 1) << " %), so this run cannot tell them apart";
}

void write_expectation(std::ostream& out, const Report& report, const std::string& left,
                       const std::string& right, const std::string& scenario, int concurrency,
                       const std::string& key, bool left_should_be_lower, const std::string& label) {
  const Row* a = find_row(report, left, scenario, concurrency);
  const Row* b = find_row(report, right, scenario, concurrency);
  if (!a || !b || !a->error.empty() || !b->error.empty()) return;
  const double x = counter(*a, key), y = counter(*b, key);
  const bool holds = left_should_be_lower ? x < y : x >= y;
  out << "- " << label << ": " << left << ' ' << format_fixed(x, 2) << " vs " << right << ' '
      << format_fixed(y, 2) << " (" << scenario << ", concurrency " << concurrency << "): "
      << (holds ? "holds" : "does NOT hold in this run");
  write_spread_note(out, *a, *b, key);
  out << '\n';
}

// The benchmarks that reported an error, either the skipped ones or the failed ones.
void write_error_list(std::ostream& out, const Report& report, const char* title, bool skipped) {
  bool any = false;
  for (const Row& row : report.rows) {
    if (row.error.empty() || is_skip(row) != skipped) continue;
    if (!any) out << "## " << title << "\n\n";
    any = true;
    out << "- " << row.backend << '/' << row.scenario << "/concurrency:" << row.concurrency << ": "
        << row.error << '\n';
  }
  if (any) out << '\n';
}

void write_expectations(std::ostream& out, const Report& report) {
  out << "## Expectations\n\n";
  write_expectation(out, report, "epoll", "multi_poll", "small", 64, "requests", false,
                    "epoll's requests/s at least the curl_multi_poll baseline's");
  write_expectation(out, report, "io_uring", "epoll", "small", 256, "syscalls_per_req", true,
                    "io_uring kernel entries per request below epoll's system calls per request");
  out << '\n';
  write_error_list(out, report, "Failed", false);
  write_error_list(out, report, "Skipped", true);
}

// Writes `text` to a temporary file beside `path` and renames it into place, so a failed write
// never leaves a partial table. Returns an error sentence on failure.
std::optional<std::string> write_atomically(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (fs::is_directory(path, error)) {
    return "cannot write the table to " + path + ": it is a folder; give a file name";
  }
  const fs::path folder = fs::path(path).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, error)) {
    return "cannot write the table to " + path + ": folder " + folder.string() +
           " does not exist; create it first";
  }
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial);
    out << text;
    if (!out.flush()) {
      fs::remove(partial, error);
      return "cannot write the table to " + path + ": writing " + partial + " failed";
    }
  }
  fs::rename(partial, path, error);
  if (error) {
    fs::remove(partial, error);
    return "cannot write the table to " + path + ": " + error.message();
  }
  return std::nullopt;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--help") {
      std::cout << "usage: sockaction_report --input BENCH.json [--output TABLE.md] [--check]\n"
                   "Prints the comparison tables of sockaction_bench's JSON (--benchmark_out) and, with\n"
                   "--output, also writes them to that file. --check first validates the JSON and exits 1\n"
                   "on a failed benchmark or implausible counters. Exit status: 0 done, 1 invalid input\n"
                   "file or failed check, 2 invalid arguments.\n";
      std::exit(0);
    }
    if (argument == "--check") {
      options.check = true;
    } else if (argument == "--input" || argument == "--output") {
      if (i + 1 >= argc) {
        std::cerr << "sockaction_report: " << argument << " needs a file name\n";
        return std::nullopt;
      }
      (argument == "--input" ? options.input : options.output) = argv[++i];
    } else {
      std::cerr << "sockaction_report: unknown argument \"" << argument
                << "\"; usage: sockaction_report --input BENCH.json [--output TABLE.md] [--check]\n";
      return std::nullopt;
    }
  }
  if (options.input.empty()) {
    std::cerr << "sockaction_report: missing --input BENCH.json (sockaction_bench's --benchmark_out)\n";
    return std::nullopt;
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) return 2;
  Report report;
  try {
    report = read_report(options->input);
  } catch (const std::runtime_error& error) {
    std::cerr << "sockaction_report: " << error.what() << '\n';
    return 1;
  } catch (const std::exception& error) {
    // Boost.JSON's accessors throw with terse texts such as "array required".
    std::cerr << "sockaction_report: " << options->input
              << " does not have the shape of sockaction_bench's JSON output: " << error.what() << '\n';
    return 1;
  }
  if (options->check) {
    const auto problems = check_report(report);
    for (const auto& problem : problems) std::cerr << "sockaction_report: " << problem << '\n';
    if (!problems.empty()) return 1;
  }

  std::ostringstream table;
  table << "# sockaction comparison\n\n";
  write_context(table, report);
  write_matrix(table, report, "Requests per second", "requests", format_rate);
  write_expectations(table, report);
  write_matrix(table, report, "p99 latency (ms)", "p99_us", format_ms);
  write_matrix(table, report, "Backend system calls per request", "syscalls_per_req", format_two_digits);
  write_matrix(table, report, "Loop CPU time per request (µs)", "driver_cpu_us_per_req", format_two_digits);
  write_detail_table(table, report);
  if (options->output.empty()) {
    std::cout << table.str();
    return 0;
  }
  if (auto problem = write_atomically(options->output, table.str())) {
    std::cerr << "sockaction_report: " << *problem << '\n';
    return 1;
  }
  std::cout << table.str();
  return 0;
}
