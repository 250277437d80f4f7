#include "fuzz/event_sequence/step_runner.hpp"

#include "backends/registry.hpp"
#include "core/descriptors.hpp"
#include "fuzz/common/feedback.hpp"
#include "fuzz/event_sequence/event_loop.hpp"
#include "fuzz/event_sequence/fake_server.hpp"
#include "fuzz/event_sequence/transfers.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>

namespace sockaction::fuzz::event_sequence {
namespace {

// Events a delay delivery keeps back at most; later ones are dropped.
constexpr std::size_t max_delayed_events = 64;
// Faithful steps in a row with nothing watched, no deadline and transfers unfinished, before
// the stall rule fails.
constexpr std::size_t max_stalled_steps = 3;

struct AvailableBackends {
  std::vector<const BackendInfo*> all;  // every socket_action entry of the registry, in order
  std::vector<bool> available;
};

// Whether SOCKACTION_FUZZ_SKIP_BACKENDS (a comma-separated list of names) names `name`.
bool skipped_by_environment(std::string_view name) {
  const char* list = std::getenv("SOCKACTION_FUZZ_SKIP_BACKENDS");
  if (!list) return false;
  std::string_view names(list);
  while (!names.empty()) {
    const auto comma = names.find(',');
    if (names.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    names.remove_prefix(comma + 1);
  }
  return false;
}

// The backends an input can choose. A backend named in SOCKACTION_FUZZ_SKIP_BACKENDS counts as
// unavailable, so a known fault in one backend does not stop the fuzzing of the others. Inputs
// keep their meaning, because the skipped entry stays in the list.
const AvailableBackends& socket_action_backends() {
  static const AvailableBackends backends = [] {
    AvailableBackends result;
    for (const BackendInfo& info : all_backends()) {
      if (info.loop != LoopKind::socket_action) continue;
      result.all.push_back(&info);
      result.available.push_back(!skipped_by_environment(info.name) && info.probe().available);
    }
    return result;
  }();
  return backends;
}

// The entry at `choice` modulo the socket_action backends, or the next available one after it,
// so that a corpus keeps its meaning when a backend is missing from a build.
const BackendInfo& choose_backend(std::uint8_t choice, const RunState& state) {
  const AvailableBackends& backends = socket_action_backends();
  const std::size_t count = backends.all.size();
  for (std::size_t offset = 0; offset < count; ++offset) {
    const std::size_t index = (choice + offset) % count;
    if (backends.available[index]) return *backends.all[index];
  }
  state.fail("harness-setup", "no socket_action backend is available in this build");
}

class StepRunner {
 public:
  StepRunner(RunState& state, EventLoop& loop, FakeServer& server, TransferSet& transfers)
      : state_(state), loop_(loop), server_(server), transfers_(transfers) {}

  void start();
  void run_input(const std::vector<Step>& steps);
  void run_faithful_phase();

 private:
  void run_step(const Step& step);
  void deliver(const Step& step);
  void deliver_one(const PendingEvent& pending, const Step& step);
  void flush_delayed();
  void inject(const Step& step);
  void fire_timeout(const Step& step);
  void serve(const Step& step);
  void enter_faithful_phase();
  void run_faithful_step();

  RunState& state_;
  EventLoop& loop_;
  FakeServer& server_;
  TransferSet& transfers_;
  std::vector<ReadyEvent> delayed_;
  int wait_budget_ms_ = input_wait_budget_ms;
  unsigned hold_steps_ = 0;
  std::size_t progress_free_wakeups_ = 0;
  std::size_t stalled_steps_ = 0;
};

void StepRunner::start() {
  transfers_.add_undeferred();
  // The callback contract starts the loop with a timeout action once transfers are added.
  loop_.act(CURL_SOCKET_TIMEOUT, 0);
}

void StepRunner::run_input(const std::vector<Step>& steps) {
  const std::size_t count = std::min(steps.size(), max_input_steps);
  for (std::size_t i = 0; i < count; ++i) {
    run_step(steps[i]);
    server_.pump();
    ++state_.step;
  }
}

void StepRunner::run_step(const Step& step) {
  switch (step.kind) {
    case StepKind::deliver: return deliver(step);
    case StepKind::flush_delayed: return flush_delayed();
    case StepKind::inject: return inject(step);
    case StepKind::fire_timeout: return fire_timeout(step);
    case StepKind::hold_timer:
      hold_steps_ = step.count;
      return;
    case StepKind::server_write:
    case StepKind::server_respond:
    case StepKind::server_half_close:
    case StepKind::server_close:
    case StepKind::server_stall:
      return serve(step);
    case StepKind::pause: return transfers_.pause(step.pick, step.direction);
    case StepKind::unpause: return transfers_.unpause(step.pick);
    case StepKind::abort_transfer: return transfers_.abort(step.pick);
    case StepKind::add_transfer: return transfers_.add(step.pick);
  }
}

void StepRunner::deliver(const Step& step) {
  const int wait_ms = std::min<int>(step.wait_ms, wait_budget_ms_);
  wait_budget_ms_ -= wait_ms;
  const std::vector<PendingEvent> pending = loop_.wait(wait_ms);
  if (step.mode == DeliveryMode::faithful) {
    loop_.deliver_faithfully(pending);
  } else {
    for (const PendingEvent& item : pending) deliver_one(item, step);
  }
  if (hold_steps_ > 0) {
    --hold_steps_;  // the deadline fires late, on a later deliver step
  } else {
    loop_.fire_passed_deadline();
  }
}

void StepRunner::deliver_one(const PendingEvent& pending, const Step& step) {
  const int fd = pending.event.fd;
  const int events = pending.event.events;
  const int read_write = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  switch (step.mode) {
    case DeliveryMode::faithful:
      return;  // handled by deliver()
    case DeliveryMode::mask_zero:
      return loop_.act(fd, 0);
    case DeliveryMode::drop_bits:
      return loop_.act(fd, events & ~step.bits & (read_write | CURL_CSELECT_ERR));
    case DeliveryMode::add_bits:
      return loop_.act(fd, events | (step.bits & read_write));
    case DeliveryMode::error:
      return loop_.act(fd, events | CURL_CSELECT_ERR);
    case DeliveryMode::duplicate:
      loop_.act(fd, events);
      return loop_.act(fd, events);
    case DeliveryMode::delay:
      if (delayed_.size() < max_delayed_events) delayed_.push_back(pending.event);
      return;
    case DeliveryMode::skip:
      return;
    case DeliveryMode::unchecked:
      return loop_.act(fd, events);
  }
}

void StepRunner::flush_delayed() {
  const std::vector<ReadyEvent> events = std::move(delayed_);
  delayed_.clear();
  for (const ReadyEvent& event : events) loop_.act(event.fd, event.events);
}

void StepRunner::inject(const Step& step) {
  int fd = -1;
  switch (step.target) {
    case InjectTarget::removed: fd = loop_.pick_removed(step.pick); break;
    case InjectTarget::unannounced: fd = server_.pick_server_end(step.pick); break;
    case InjectTarget::closed: fd = server_.pick_closed_client_number(step.pick); break;
  }
  if (fd < 0) return;
  loop_.act(fd, step.bits & (CURL_CSELECT_IN | CURL_CSELECT_OUT | CURL_CSELECT_ERR));
}

void StepRunner::fire_timeout(const Step& step) {
  // Early, spurious or repeated: libcurl must cope with a timeout action at any time.
  for (unsigned i = 0; i < step.count; ++i) loop_.act(CURL_SOCKET_TIMEOUT, 0);
}

void StepRunner::serve(const Step& step) {
  Connection* connection = server_.pick_open(step.pick);
  if (!connection) return;
  switch (step.kind) {
    case StepKind::server_write: return server_.queue_output(*connection, step.data);
    case StepKind::server_respond:
      return server_.queue_output(*connection, response_template_bytes(step.response));
    case StepKind::server_half_close: return server_.half_close(*connection);
    case StepKind::server_close: return server_.close(*connection);
    case StepKind::server_stall: return server_.toggle_stall(*connection);
    default: return;
  }
}

void StepRunner::enter_faithful_phase() {
  SOCKACTION_FUZZ_TRACE(state_, "input used up: faithful delivery from here on");
  state_.faithful = true;
  delayed_.clear();
  hold_steps_ = 0;
  transfers_.unpause_all();
  transfers_.add_all_deferred();
  server_.end_all_responses();
}

void StepRunner::run_faithful_phase() {
  enter_faithful_phase();
  std::size_t steps = 0;
  while (!transfers_.all_finished()) {
    if (steps == faithful_step_budget) {
      state_.fail("finish-budget", "faithful delivery ran " + std::to_string(steps) +
                                       " steps and these transfers have not finished: " +
                                       transfers_.describe_unfinished());
    }
    run_faithful_step();
    ++steps;
    ++state_.step;
  }
  note_feature(FeatureKind::progress_free_wakeups, static_cast<std::uint32_t>(progress_free_wakeups_));
}

void StepRunner::run_faithful_step() {
  const std::uint64_t progress_before = state_.progress;
  const std::size_t waiting_before = server_.bytes_waiting_for_client();

  const int timeout = loop_.deadline().wait_ms(TimerDeadline::Clock::now(), faithful_wait_cap_ms);
  const std::vector<PendingEvent> pending = loop_.wait(timeout);
  loop_.deliver_faithfully(pending);
  const bool fired = loop_.fire_passed_deadline();
  server_.pump();

  const bool moved = state_.progress != progress_before ||
                     server_.bytes_waiting_for_client() != waiting_before;
  const bool woke = !pending.empty() || fired;
  if (woke && !moved && ++progress_free_wakeups_ > max_progress_free_wakeups) {
    state_.fail("busy-loop", std::to_string(progress_free_wakeups_) +
                                 " faithful wakeups delivered events or fired the timer without "
                                 "any progress; unfinished: " + transfers_.describe_unfinished());
  }
  const bool idle = !loop_.watching_any() && !loop_.deadline().at().has_value();
  stalled_steps_ = idle && !moved ? stalled_steps_ + 1 : 0;
  if (stalled_steps_ > max_stalled_steps) {
    state_.fail("stall", "transfers are unfinished but libcurl watches no socket and set no "
                         "deadline: " + transfers_.describe_unfinished());
  }
}

// The final checks once every handle is cleaned up (rule leak-descriptor).
void check_descriptors(const RunState& state, std::size_t before, std::size_t client_sockets_open) {
  if (client_sockets_open != 0) {
    state.fail("leak-descriptor", std::to_string(client_sockets_open) +
                                      " sockets that libcurl opened were not closed through "
                                      "CURLOPT_CLOSESOCKETFUNCTION after curl_multi_cleanup");
  }
  const std::size_t after = count_open_descriptors();
  if (after != before) {
    state.fail("leak-descriptor", "the process had " + std::to_string(before) +
                                      " open descriptors before the run and " +
                                      std::to_string(after) + " after cleanup");
  }
}

}  // namespace

void run_scenario(const Scenario& scenario) {
  RunState state;
  // Chosen first, because probing a backend the first time may open descriptors a library keeps
  // for the whole process (libuv's signal pipe), which are no leak of this run.
  const BackendInfo& info = choose_backend(scenario.backend, state);
  const std::size_t descriptors_before = count_open_descriptors();
  SOCKACTION_FUZZ_TRACE(state, "backend %s, %zu transfers, %zu steps", info.name.c_str(),
                        scenario.transfers.size(), scenario.steps.size());
  std::size_t client_sockets_open = 0;
  {
    std::unique_ptr<Backend> backend = info.create();
    FakeServer server(state);
    EventLoop loop(state, *backend, server);
    {
      TransferSet transfers(state, server, loop.multi(), scenario.transfers);
      loop.attach(transfers);
      StepRunner runner(state, loop, server, transfers);
      runner.start();
      runner.run_input(scenario.steps);
      runner.run_faithful_phase();
    }  // removes and cleans up every easy handle
    loop.cleanup();
    client_sockets_open = server.open_client_sockets();
  }  // closes the server ends and the backend
  check_descriptors(state, descriptors_before, client_sockets_open);
}

}  // namespace sockaction::fuzz::event_sequence
