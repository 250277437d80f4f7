#include "servers/pattern_body.hpp"

#include <string>

namespace sockaction::detail {
namespace {

class PatternBodyCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sockaction.pattern_body"; }

  std::string message(int value) const override {
    switch (static_cast<pattern_body_error>(value)) {
      case pattern_body_error::aborted:
        return "response body stopped at abort_after as requested";
    }
    return "unknown pattern body error";
  }
};

}  // namespace

const boost::system::error_category& pattern_body_category() noexcept {
  static const PatternBodyCategory category;
  return category;
}

}  // namespace sockaction::detail
