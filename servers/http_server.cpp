#include "servers/http_server.hpp"

#include "servers/http_session.hpp"
#include "servers/shared_state.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace sockaction {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Pause before accepting again after accept() failed, for example with EMFILE, so the loop does
// not spin while the condition lasts.
constexpr std::chrono::milliseconds accept_retry_delay{50};

[[noreturn]] void throw_system_error(const boost::system::error_code& ec, const std::string& what) {
  throw std::system_error(static_cast<std::error_code>(ec), what);
}

std::string endpoint_text(const std::string& address, std::uint16_t port) {
  const bool ipv6 = address.find(':') != std::string::npos;
  return (ipv6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace

namespace detail {

bool SharedState::register_session(HttpSession* session) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  sessions_.insert(session);
  return true;
}

void SharedState::unregister_session(HttpSession* session) {
  std::lock_guard lock(mutex_);
  sessions_.erase(session);
}

std::vector<std::shared_ptr<HttpSession>> SharedState::begin_stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  std::vector<std::shared_ptr<HttpSession>> open;
  open.reserve(sessions_.size());
  for (HttpSession* session : sessions_) {
    // lock() is empty for a session whose destructor waits for mutex_ to unregister.
    if (auto owner = session->weak_from_this().lock()) open.push_back(std::move(owner));
  }
  return open;
}

}  // namespace detail

struct HttpServer::State {
  explicit State(HttpServerOptions server_options)
      : options(std::move(server_options)), shared(options.on_connection_error) {}

  void start();
  void stop();

  // Connections get their own strand when several threads run the io_context.
  asio::any_io_executor make_connection_executor() {
    if (options.threads == 1) return io_context->get_executor();
    return asio::make_strand(*io_context);
  }

  void do_accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
  void on_accept_retry(const boost::system::error_code& ec);

  const HttpServerOptions options;
  std::uint16_t port = 0;
  detail::SharedState shared;

  // Destroyed in stop(), in this order, after the threads have been joined.
  std::optional<asio::io_context> io_context;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry_timer;
  std::vector<std::thread> threads;

  std::mutex stop_mutex;
  bool stopped = false;  // guarded by stop_mutex
};

void HttpServer::State::start() {
  if (options.threads < 1) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "HttpServer: threads must be at least 1, got " +
                                std::to_string(options.threads));
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) {
    throw_system_error(ec, "HttpServer: invalid address '" + options.address + "'");
  }
  const tcp::endpoint endpoint(address, options.port);
  const std::string where = endpoint_text(options.address, options.port);

  io_context.emplace(options.threads);
  // One strand for the acceptor and its retry timer, so stop() can post their closing.
  const auto acceptor_executor = make_connection_executor();
  acceptor.emplace(acceptor_executor);
  accept_retry_timer.emplace(acceptor_executor);

  acceptor->open(endpoint.protocol(), ec);
  if (ec) throw_system_error(ec, "HttpServer: failed to open a socket for " + where);
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) throw_system_error(ec, "HttpServer: failed to set SO_REUSEADDR for " + where);
  acceptor->bind(endpoint, ec);
  if (ec) throw_system_error(ec, "HttpServer: failed to bind " + where);
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw_system_error(ec, "HttpServer: failed to listen on " + where);
  port = acceptor->local_endpoint().port();

  do_accept();
  try {
    threads.reserve(static_cast<std::size_t>(options.threads));
    for (int i = 0; i < options.threads; ++i) {
      threads.emplace_back([this] { io_context->run(); });
    }
  } catch (...) {
    stop();
    throw;
  }
}

void HttpServer::State::stop() {
  std::lock_guard lock(stop_mutex);
  if (stopped) return;
  stopped = true;
  if (!io_context) return;

  asio::post(acceptor->get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
    accept_retry_timer->cancel();
  });
  for (auto& session : shared.begin_stop()) {
    const auto executor = session->executor();
    asio::post(executor, [session = std::move(session)] { session->close_now(); });
  }

  for (auto& thread : threads) thread.join();
  threads.clear();
  accept_retry_timer.reset();
  acceptor.reset();
  io_context.reset();
}

void HttpServer::State::do_accept() {
  acceptor->async_accept(make_connection_executor(),
                         [this](const boost::system::error_code& ec, tcp::socket socket) {
                           on_accept(ec, std::move(socket));
                         });
}

void HttpServer::State::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (!acceptor->is_open()) return;  // closed by stop()
  if (ec) {
    shared.report_error("accept failed: " + ec.message() + "; retrying in " +
                        std::to_string(accept_retry_delay.count()) + " ms");
    accept_retry_timer->expires_after(accept_retry_delay);
    accept_retry_timer->async_wait(
        [this](const boost::system::error_code& wait_ec) { on_accept_retry(wait_ec); });
    return;
  }

  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<detail::HttpSession>(std::move(socket), shared)->start();
  do_accept();
}

void HttpServer::State::on_accept_retry(const boost::system::error_code& ec) {
  if (ec || !acceptor->is_open()) return;
  do_accept();
}

HttpServer::HttpServer(HttpServerOptions options)
    : state_(std::make_unique<State>(std::move(options))) {
  state_->start();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() { state_->stop(); }

std::uint16_t HttpServer::port() const { return state_->port; }

std::string HttpServer::url(std::string_view target) const {
  std::string result = "http://" + endpoint_text(state_->options.address, state_->port);
  result += target;
  return result;
}

std::uint64_t HttpServer::responses_sent() const { return state_->shared.responses_sent(); }

}  // namespace sockaction
