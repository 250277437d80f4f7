// Runs a scenario: the input's steps first, then faithful delivery until every transfer has
// finished, then cleanup and the leak checks.
#pragma once

#include "fuzz/event_sequence/scenario.hpp"

namespace sockaction::fuzz::event_sequence {

// Steps of the input run at most; the rest of a longer input is ignored.
inline constexpr std::size_t max_input_steps = 2000;
// Steps the faithful phase may take before the finish-budget rule fails.
inline constexpr std::size_t faithful_step_budget = 300;
// Faithful wakeups that deliver events or fire the timer yet move nothing, before the
// busy-loop rule fails.
inline constexpr std::size_t max_progress_free_wakeups = 16;
// Milliseconds the deliver steps of one input may wait on the backend in total.
inline constexpr int input_wait_budget_ms = 16;
// Maximum timeout of one backend wait in the faithful phase, in milliseconds.
inline constexpr int faithful_wait_cap_ms = 10;

// Runs `scenario`; a broken rule aborts the process with a message (see run_state.hpp).
void run_scenario(const Scenario& scenario);

}  // namespace sockaction::fuzz::event_sequence
