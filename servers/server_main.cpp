// Standalone HTTP server for manual tests and for comparing the in-process server with others.
// Serves the routes of HttpServer until SIGINT or SIGTERM.

#include "servers/http_server.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include <atomic>
#include <charconv>
#include <signal.h>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace {

constexpr int exit_usage = 2;
constexpr int exit_bind_failure = 1;
constexpr int max_threads = 1024;

// Number of connection errors printed one by one. Later ones are only counted.
constexpr std::uint64_t max_printed_errors = 20;

constexpr std::string_view usage = R"(Usage: sockaction_server [OPTIONS]

Serves GET /bytes/N (query parameters delay_ms, close, chunked, abort_after) until SIGINT or
SIGTERM, then stops cleanly and exits 0.

Options:
  --address ADDR   IPv4 or IPv6 address to listen on (default 127.0.0.1)
  --port N         TCP port, 0 to 65535; 0 picks a free port (default 8080)
  --threads N      threads serving connections, 1 to 1024 (default 1)
  --help           print this help and exit

Prints "listening on http://ADDR:PORT" on standard output once the port is open.
Exit status: 0 after a signal, 1 when the address cannot be bound, 2 for invalid options.
)";

struct Arguments {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  int threads = 1;
  bool help = false;
};

struct UsageError {
  std::string message;
};

template <class Integer>
std::optional<Integer> parse_integer(std::string_view text, Integer min, Integer max) {
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    std::string_view option = argv[i];
    std::optional<std::string_view> value;
    // Accept both "--port 8080" and "--port=8080".
    if (const auto equals = option.find('='); option.starts_with("--") && equals != option.npos) {
      value = option.substr(equals + 1);
      option = option.substr(0, equals);
    }

    if (option == "--help" || option == "-h") {
      arguments.help = true;
      continue;
    }
    if (!option.starts_with("-")) {
      throw UsageError{"unexpected argument '" + std::string(option) +
                       "': sockaction_server takes only options; run sockaction_server --help"};
    }
    if (option != "--address" && option != "--port" && option != "--threads") {
      throw UsageError{"unknown option '" + std::string(argv[i]) +
                       "': run sockaction_server --help to list the options"};
    }
    if (!value) {
      if (i + 1 == argc) {
        throw UsageError{"missing value for option " + std::string(option) +
                         ": run sockaction_server --help for its format"};
      }
      value = argv[++i];
    }

    if (option == "--address") {
      boost::system::error_code ec;
      boost::asio::ip::make_address(std::string(*value), ec);
      if (ec) {
        throw UsageError{"invalid --address value '" + std::string(*value) +
                         "': expected an IPv4 or IPv6 address such as 127.0.0.1"};
      }
      arguments.address = std::string(*value);
    } else if (option == "--port") {
      const auto port = parse_integer<std::uint16_t>(*value, 0, 65535);
      if (!port) {
        throw UsageError{"invalid --port value '" + std::string(*value) +
                         "': expected an integer from 0 to 65535 (0 picks a free port)"};
      }
      arguments.port = *port;
    } else {
      const auto threads = parse_integer<int>(*value, 1, max_threads);
      if (!threads) {
        throw UsageError{"invalid --threads value '" + std::string(*value) +
                         "': expected an integer from 1 to " + std::to_string(max_threads)};
      }
      arguments.threads = *threads;
    }
  }
  return arguments;
}

std::string bind_failure_hint(const std::error_code& ec) {
  if (ec == std::errc::address_in_use) {
    return "Choose another --port, or stop the process that listens on it.";
  }
  if (ec == std::errc::permission_denied) {
    return "Choose a --port of 1024 or above, or run with the capability to bind it.";
  }
  return "Check that --address is an address of this machine.";
}

}  // namespace

int main(int argc, char** argv) {
  Arguments arguments;
  try {
    arguments = parse_arguments(argc, argv);
  } catch (const UsageError& error) {
    std::cerr << "sockaction_server: " << error.message << '\n';
    return exit_usage;
  }
  if (arguments.help) {
    std::cout << usage;
    return 0;
  }

  // Block the stop signals before the server starts its threads, which inherit the mask, so
  // only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::atomic<std::uint64_t> connection_errors{0};
  sockaction::HttpServerOptions options;
  options.address = arguments.address;
  options.port = arguments.port;
  options.threads = arguments.threads;
  options.on_connection_error = [&connection_errors](std::string_view message) {
    const auto count = connection_errors.fetch_add(1) + 1;
    if (count <= max_printed_errors) {
      std::fprintf(stderr, "sockaction_server: %.*s\n", static_cast<int>(message.size()),
                   message.data());
    }
    if (count == max_printed_errors) {
      std::fprintf(stderr, "sockaction_server: further connection errors are only counted\n");
    }
  };

  std::optional<sockaction::HttpServer> server;
  try {
    server.emplace(options);
  } catch (const std::system_error& error) {
    std::cerr << "sockaction_server: " << error.what() << ". " << bind_failure_hint(error.code())
              << '\n';
    return exit_bind_failure;
  }

  std::string base_url = server->url("/");
  base_url.pop_back();
  std::cout << "listening on " << base_url << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cerr << "sockaction_server: received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", stopping\n";
  server->stop();
  std::cerr << "sockaction_server: stopped after " << server->responses_sent() << " responses and "
            << connection_errors.load() << " connection errors\n";
  return 0;
}
