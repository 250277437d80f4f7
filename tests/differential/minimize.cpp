// minimize(): delta debugging over an operation sequence.

#include "tests/differential/differential.hpp"

namespace sockaction::differential {
namespace {

bool fails(const BackendInfo& backend, const std::vector<Operation>& ops) {
  return run_differential(backend, ops).has_value();
}

std::vector<Operation> without_range(const std::vector<Operation>& ops, std::size_t begin, std::size_t end) {
  std::vector<Operation> rest(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(begin));
  rest.insert(rest.end(), ops.begin() + static_cast<std::ptrdiff_t>(end), ops.end());
  return rest;
}

// Removes chunks of `ops.size() / chunks` operations, doubling `chunks` each time no chunk can
// go, until chunks are single operations (the complement half of ddmin).
void drop_chunks(const BackendInfo& backend, std::vector<Operation>& ops) {
  std::size_t chunks = 2;
  while (ops.size() >= 2 && chunks <= ops.size()) {
    const std::size_t chunk_size = (ops.size() + chunks - 1) / chunks;
    bool removed = false;
    for (std::size_t begin = 0; begin < ops.size(); begin += chunk_size) {
      std::vector<Operation> candidate = without_range(ops, begin, std::min(begin + chunk_size, ops.size()));
      if (fails(backend, candidate)) {
        ops = std::move(candidate);
        chunks = std::max<std::size_t>(chunks - 1, 2);
        removed = true;
        break;
      }
    }
    if (removed) continue;
    if (chunk_size == 1) break;
    chunks *= 2;
  }
}

// Removes single operations, from the last to the first, until no removal keeps the failure.
void drop_single_operations(const BackendInfo& backend, std::vector<Operation>& ops) {
  bool removed = true;
  while (removed) {
    removed = false;
    for (std::size_t i = ops.size(); i-- > 0;) {
      std::vector<Operation> candidate = without_range(ops, i, i + 1);
      if (fails(backend, candidate)) {
        ops = std::move(candidate);
        removed = true;
      }
    }
  }
}

}  // namespace

std::vector<Operation> minimize(const BackendInfo& backend, std::vector<Operation> ops) {
  if (!fails(backend, ops)) return ops;
  drop_chunks(backend, ops);
  drop_single_operations(backend, ops);
  return ops;
}

}  // namespace sockaction::differential
