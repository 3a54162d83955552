#include "sluice/msg/heartbeat.h"

#include <algorithm>

namespace sluice::msg {

void SilenceWatch::start(TimerWheel& wheel, std::int64_t timeout_ms) noexcept {
  wheel_ = &wheel;
  timeout_ms_ = timeout_ms;
  last_seen_ms_ = wheel.now_ms();
  wheel.schedule_at(*this, last_seen_ms_ + timeout_ms_);
}

void SilenceWatch::stop() noexcept {
  if (wheel_ != nullptr && scheduled()) wheel_->cancel(*this);
}

void SilenceWatch::on_timer() {
  const std::int64_t due = last_seen_ms_ + timeout_ms_;
  if (due > wheel_->now_ms()) {
    ++rearms_;
    wheel_->schedule_at(*this, due);
    return;
  }
  listener_->on_silence();
}

void PingSchedule::start(TimerWheel& wheel, std::int64_t interval_ms) noexcept {
  wheel_ = &wheel;
  interval_ms_ = interval_ms;
  last_sent_ms_ = last_received_ms_ = wheel.now_ms();
  wheel.schedule_at(*this, last_sent_ms_ + interval_ms_);
}

void PingSchedule::stop() noexcept {
  if (wheel_ != nullptr && scheduled()) wheel_->cancel(*this);
}

void PingSchedule::on_timer() {
  const std::int64_t now = wheel_->now_ms();
  const std::int64_t due = std::min(last_sent_ms_, last_received_ms_) + interval_ms_;
  if (due > now) {
    ++rearms_;
    wheel_->schedule_at(*this, due);
    return;
  }
  ++pings_;
  // Rescheduled before the callback, which may stop the schedule.
  wheel_->schedule_at(*this, now + interval_ms_);
  listener_->on_ping_due();
}

}  // namespace sluice::msg
