// Timer: a callback object on the loop's timer wheel.
#include <utility>

#include "sluice/loop/event_loop.h"

namespace sluice {
namespace {

// The first whole millisecond at or after t: the wheel never fires early.
std::int64_t ceil_millis(TimePoint t) noexcept {
  return std::chrono::ceil<Millis>(t.time_since_epoch()).count();
}

}  // namespace

Timer::Timer(EventLoop& loop, Callback cb) : loop_(&loop), cb_(std::move(cb)), entry_(*this) {}

Timer::~Timer() { cancel(); }

void Timer::start(Duration after, Duration repeat) {
  repeat_ = repeat;
  loop_->timers().schedule_at(entry_, ceil_millis(Clock::now() + after));
}

void Timer::cancel() noexcept { loop_->timers().cancel(entry_); }

bool Timer::active() const noexcept { return entry_.scheduled(); }

void Timer::fire() {
  if (repeat_ > Duration::zero()) {
    loop_->timers().schedule_at(entry_, ceil_millis(Clock::now() + repeat_));
  }
  cb_();  // last: it may destroy *this
}

}  // namespace sluice
