// run_differential(): applies operations to a backend and checks it against poll(2) after each.

#include "tests/differential/differential.hpp"
#include "tests/differential/socket_pool.hpp"
#include "tests/differential/wait_watchdog.hpp"

#include <poll.h>

#include <array>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace sockaction::differential {
namespace {

// The engine's bookkeeping for one slot.
struct SlotState {
  std::optional<Interest> interest;
  bool stale = false;
};

// Whether the local end a slot starts with is announced with Backend::opened().
bool starts_announced(std::size_t slot) { return slot != resolver_slot && slot != handover_slot; }

// What poll(2) allows the backend to report for one slot after a step.
struct Expectation {
  short revents = 0;
  int required = 0;  // read and write bits the backend must report
  int allowed = 0;   // every bit it may report; a superset of `required`
};

std::string bits_text(int bits) {
  if (bits == 0) return "none";
  std::string text;
  const auto append = [&text](const char* name) {
    if (!text.empty()) text += '|';
    text += name;
  };
  if (bits & ready_read) append("read");
  if (bits & ready_write) append("write");
  if (bits & ready_error) append("error");
  if (bits & ~(ready_read | ready_write | ready_error)) append(("0x" + std::to_string(bits)).c_str());
  return text;
}

std::string revents_text(short revents) {
  if (revents == 0) return "0";
  std::string text;
  const std::pair<short, const char*> flags[] = {
      {POLLIN, "POLLIN"}, {POLLOUT, "POLLOUT"}, {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLNVAL, "POLLNVAL"}};
  for (const auto& [flag, name] : flags) {
    if (!(revents & flag)) continue;
    if (!text.empty()) text += '|';
    text += name;
  }
  return text;
}

std::string interest_text(Interest interest) {
  switch (interest) {
    case Interest::read:
      return "read";
    case Interest::write:
      return "write";
    case Interest::read_write:
      return "read_write";
  }
  return "invalid";
}

// Applies the rules listed at run_differential() to poll(2)'s revents for one fd.
Expectation expect_from_revents(Interest interest, short revents, bool stale) {
  Expectation expectation;
  expectation.revents = revents;
  int truth = 0;
  if (wants_read(interest) && (revents & (POLLIN | POLLHUP))) truth |= ready_read;
  if (wants_write(interest) && (revents & POLLOUT)) truth |= ready_write;

  expectation.allowed = truth;
  if (revents & (POLLERR | POLLNVAL | POLLHUP)) {
    expectation.allowed |= ready_error;
    if (wants_read(interest)) expectation.allowed |= ready_read;
    if (wants_write(interest)) expectation.allowed |= ready_write;
  }
  expectation.required = stale ? 0 : truth;
  return expectation;
}

class DifferentialRun {
 public:
  DifferentialRun(const BackendInfo& info, std::span<const Operation> ops,
                  std::vector<StepObservation>* observations)
      : info_(info), ops_(ops), observations_(observations) {
    if (info.loop != LoopKind::socket_action) {
      throw std::invalid_argument("backend " + info.name + " has no Backend object to test");
    }
    for (const Operation& op : ops) {
      if (op.slot >= pool_size) {
        throw std::invalid_argument("operation slot " + std::to_string(op.slot) + " is not below the pool size " +
                                    std::to_string(pool_size));
      }
    }
    backend_ = info.create();
    if (!backend_) throw std::invalid_argument("backend " + info.name + " create() returned null");
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      announced_[slot] = starts_announced(slot);
      if (announced_[slot]) backend_->opened(pool_.local(slot));
    }
  }

  std::optional<Mismatch> run() {
    for (step_ = 0; step_ < ops_.size(); ++step_) {
      if (auto mismatch = apply(ops_[step_])) return mismatch;
      const bool last = step_ + 1 == ops_.size();
      const bool same_turn = ops_[step_].kind == OpKind::same_turn ||
                             (step_ > 0 && ops_[step_ - 1].kind == OpKind::same_turn);
      if (same_turn && !last) {
        if (observations_) record(false, {}, {});
        continue;
      }
      if (auto mismatch = check()) return mismatch;
    }
    return std::nullopt;
  }

 private:
  // A mismatch at the current step, its description prefixed with backend, step and operation.
  Mismatch mismatch(const std::string& detail) const {
    const Operation& op = ops_[step_];
    std::string text = info_.name + ", step " + std::to_string(step_) + " (" + std::string(op_kind_name(op.kind)) +
                       " " + std::to_string(op.slot);
    if (op.value != 0) text += " " + std::to_string(op.value);
    return {step_, text + "): " + detail};
  }

  std::string slot_text(std::size_t slot) const {
    std::string text = "fd " + std::to_string(pool_.local(slot)) + " (slot " + std::to_string(slot) + ", ";
    if (!slots_[slot].interest) return text + "unwatched)";
    text += "interest " + interest_text(*slots_[slot].interest);
    if (slots_[slot].stale) text += ", stale after close without unwatch";
    return text + ")";
  }

  std::optional<Mismatch> watch(std::size_t slot, Interest interest) {
    if (const std::error_code error = backend_->watch(pool_.local(slot), interest)) {
      return mismatch("watch(" + slot_text(slot) + ", " + interest_text(interest) + ") failed: " + error.message());
    }
    // A stale fd stays stale: only unwatch() clears it (see run_differential() in the header).
    slots_[slot].interest = interest;
    return std::nullopt;
  }

  // Closes the slot's local end, with closing() first when it was announced as the driver's
  // close-socket callback does, and gives its number to a new socketpair.
  void replace(std::size_t slot) {
    if (announced_[slot]) backend_->closing(pool_.local(slot));
    pool_.replace_keeping_number(slot);
    if (slot == handover_slot) announced_[slot] = !announced_[slot];
    if (announced_[slot]) backend_->opened(pool_.local(slot));
  }

  std::optional<Mismatch> unwatch(std::size_t slot) {
    if (const std::error_code error = backend_->unwatch(pool_.local(slot))) {
      return mismatch("unwatch(" + slot_text(slot) + ") failed: " + error.message());
    }
    slots_[slot] = {};
    return std::nullopt;
  }

  std::optional<Mismatch> apply(const Operation& op) {
    const std::size_t slot = op.slot;
    switch (op.kind) {
      case OpKind::watch_read:
        return watch(slot, Interest::read);
      case OpKind::watch_write:
        return watch(slot, Interest::write);
      case OpKind::watch_read_write:
        return watch(slot, Interest::read_write);
      case OpKind::unwatch:
        return unwatch(slot);
      case OpKind::peer_write:
        pool_.peer_write(slot, op.value);
        return std::nullopt;
      case OpKind::peer_read_all:
        pool_.peer_read_all(slot);
        return std::nullopt;
      case OpKind::local_write_fill:
        pool_.local_write_fill(slot);
        return std::nullopt;
      case OpKind::local_read_all:
        pool_.local_read_all(slot);
        return std::nullopt;
      case OpKind::peer_shutdown_write:
        pool_.peer_shutdown_write(slot);
        return std::nullopt;
      case OpKind::peer_close:
        pool_.peer_close(slot);
        return std::nullopt;
      case OpKind::local_shutdown_write:
        pool_.local_shutdown_write(slot);
        return std::nullopt;
      case OpKind::close_and_reuse:
        if (auto failure = unwatch(slot)) return failure;
        replace(slot);
        return std::nullopt;
      case OpKind::close_unwatched_and_reuse:
        if (slot == resolver_slot) {
          if (auto failure = unwatch(slot)) return failure;
        }
        replace(slot);
        if (slots_[slot].interest) slots_[slot].stale = true;
        return std::nullopt;
      case OpKind::same_turn:
        return std::nullopt;
    }
    return mismatch("unknown operation kind " + std::to_string(static_cast<int>(op.kind)));
  }

  // Polls every watched local end once with its interest.
  std::array<Expectation, pool_size> poll_watched() const {
    std::array<pollfd, pool_size> entries{};
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      // A negative fd makes poll(2) skip the entry, which is what unwatched slots need.
      entries[slot].fd = slots_[slot].interest ? pool_.local(slot) : -1;
      if (slots_[slot].interest) {
        entries[slot].events = static_cast<short>((wants_read(*slots_[slot].interest) ? POLLIN : 0) |
                                                  (wants_write(*slots_[slot].interest) ? POLLOUT : 0));
      }
    }
    int count;
    do {
      count = poll(entries.data(), entries.size(), 0);
    } while (count < 0 && errno == EINTR);
    if (count < 0) throw std::system_error(errno, std::generic_category(), "poll");

    std::array<Expectation, pool_size> expectations{};
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      if (!slots_[slot].interest) continue;
      expectations[slot] = expect_from_revents(*slots_[slot].interest, entries[slot].revents, slots_[slot].stale);
    }
    return expectations;
  }

  std::optional<std::size_t> slot_of(int fd) const {
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      if (pool_.local(slot) == fd) return slot;
    }
    return std::nullopt;
  }

  // Checks one wait() call's events and adds them to `reported`.
  std::optional<Mismatch> check_events(const std::vector<ReadyEvent>& events, int call,
                                       const std::array<Expectation, pool_size>& expectations,
                                       std::array<int, pool_size>& reported) const {
    const std::string where = "wait(0) call " + std::to_string(call + 1) + " ";
    std::array<bool, pool_size> seen{};
    for (const ReadyEvent& event : events) {
      const std::optional<std::size_t> slot = slot_of(event.fd);
      if (!slot) {
        return mismatch(where + "reported fd " + std::to_string(event.fd) + ", which the sequence never watched, with " +
                        bits_text(event.events));
      }
      const Expectation& expectation = expectations[*slot];
      if (!slots_[*slot].interest) {
        return mismatch(where + "reported " + slot_text(*slot) + " with " + bits_text(event.events) +
                        ", but it is not watched");
      }
      if (seen[*slot]) return mismatch(where + "reported " + slot_text(*slot) + " twice");
      seen[*slot] = true;
      if (event.events == 0) return mismatch(where + "reported " + slot_text(*slot) + " with no bits");
      if (event.events & ~expectation.allowed) {
        return mismatch(where + "reported " + slot_text(*slot) + " with " + bits_text(event.events) +
                        ", expected " + bits_text(expectation.required) + " (allowed " +
                        bits_text(expectation.allowed) + "), poll(2) revents " + revents_text(expectation.revents));
      }
      reported[*slot] |= event.events;
    }
    return std::nullopt;
  }

  bool all_required_reported(const std::array<Expectation, pool_size>& expectations,
                             const std::array<int, pool_size>& reported) const {
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      if ((reported[slot] & expectations[slot].required) != expectations[slot].required) return false;
    }
    return true;
  }

  std::optional<Mismatch> check() {
    const std::array<Expectation, pool_size> expectations = poll_watched();
    std::array<int, pool_size> reported{};

    for (int call = 0; call < max_waits_per_check; ++call) {
      std::vector<ReadyEvent> events;
      watchdog_.arm({info_.name, ops_, step_, call + 1});
      const std::error_code error = backend_->wait(0, events);
      watchdog_.disarm();
      if (error) {
        return mismatch("wait(0) call " + std::to_string(call + 1) + " failed: " + error.message());
      }
      if (auto failure = check_events(events, call, expectations, reported)) return failure;
      if (all_required_reported(expectations, reported)) break;
    }

    if (observations_) record(true, expectations, reported);
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      const int missing = expectations[slot].required & ~reported[slot];
      if (missing == 0) continue;
      return mismatch(slot_text(slot) + ": expected " + bits_text(expectations[slot].required) + ", reported " +
                      bits_text(reported[slot]) + " in " + std::to_string(max_waits_per_check) +
                      " wait(0) calls, poll(2) revents " + revents_text(expectations[slot].revents));
    }
    return std::nullopt;
  }

  void record(bool checked, const std::array<Expectation, pool_size>& expectations,
              const std::array<int, pool_size>& reported) {
    StepObservation observation;
    observation.checked = checked;
    for (std::size_t slot = 0; slot < pool_size; ++slot) {
      observation.slots.push_back({pool_.local(slot), slots_[slot].interest, slots_[slot].stale,
                                   expectations[slot].revents, expectations[slot].required, reported[slot]});
    }
    observations_->push_back(std::move(observation));
  }

  const BackendInfo& info_;
  std::span<const Operation> ops_;
  std::vector<StepObservation>* observations_;
  // The pool outlives the backend, because members are destroyed in reverse order: the backend
  // is destroyed while the descriptors it may still watch are open.
  SocketPool pool_;
  std::unique_ptr<Backend> backend_;
  std::array<SlotState, pool_size> slots_{};
  std::array<bool, pool_size> announced_{};  // the local end was passed to Backend::opened()
  std::size_t step_ = 0;
  WaitWatchdog& watchdog_ = WaitWatchdog::instance();
};

}  // namespace

std::optional<Mismatch> run_differential(const BackendInfo& backend, std::span<const Operation> ops) {
  return DifferentialRun(backend, ops, nullptr).run();
}

std::optional<Mismatch> run_differential(const BackendInfo& backend, std::span<const Operation> ops,
                                         std::vector<StepObservation>& observations) {
  return DifferentialRun(backend, ops, &observations).run();
}

}  // namespace sockaction::differential
