#include "common/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include "common/log.hpp"

namespace satunet {
namespace {
constexpr auto kTerminalRedraw = std::chrono::milliseconds(200);
constexpr auto kLogInterval = std::chrono::seconds(10);
}  // namespace

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(std::max<std::int64_t>(total, 1)),
      enabled_(log::rank() == 0 && log::level() >= log::Level::info),
      on_terminal_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_report_(start_),
      exceptions_at_start_(std::uncaught_exceptions()) {}

Progress::~Progress() {
  if (std::uncaught_exceptions() == exceptions_at_start_) {
    finish();
  } else if (enabled_ && on_terminal_) {
    // Unwinding from an error: no "done", and the error's line starts a line of its own.
    std::fputc('\n', stderr);
  }
}

void Progress::advance(std::int64_t amount) {
  set(done_ + amount);
}

void Progress::set(std::int64_t done) {
  done_ = std::min(done, total_);
  if (!enabled_)
    return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_report_ >= (on_terminal_ ? kTerminalRedraw : kLogInterval)) {
    last_report_ = now;
    report(false);
  }
}

void Progress::finish() {
  if (finished_)
    return;
  finished_ = true;
  if (enabled_)
    report(true);
}

void Progress::report(bool final_line) {
  using seconds = std::chrono::duration<double>;
  const double elapsed = seconds(std::chrono::steady_clock::now() - start_).count();
  const double fraction = static_cast<double>(done_) / static_cast<double>(total_);
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  const std::string unit = unit_.empty() ? "" : " " + unit_;
  if (on_terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    const std::string eta_text =
        final_line || fraction <= 0
            ? ""
            : ", " + std::to_string(static_cast<long long>(eta)) + " s left";
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld%s %.1f s%s%s", label_.c_str(), bar.c_str(),
                 fraction * 100, static_cast<long long>(done_), static_cast<long long>(total_),
                 unit.c_str(), elapsed, eta_text.c_str(), final_line ? "\n" : "      ");
    std::fflush(stderr);
  } else if (final_line) {
    log::info(label_, ": done, ", done_, unit, " in ", elapsed, " s");
  } else {
    log::info(label_, ": ", static_cast<int>(fraction * 100), "% (", done_, "/", total_, unit,
              "), ", static_cast<int>(elapsed), " s elapsed, about ", static_cast<int>(eta),
              " s left");
  }
}

}  // namespace satunet
