#pragma once

#include "util/clock.h"
#include "util/randomsource.h"

#include <QList>

#include <functional>
#include <map>

namespace Sluice::Test {

/// A clock that only moves when the test says so. ClockTimers made on it fire while advance() moves
/// time past them, in time order, each with the clock set to its own moment (simulated time: a
/// handler that arms another timer within the advance sees it fire too).
class ManualClock final : public Clock, public TimerDriver
{
public:
    double nowMs() const override { return m_now; }
    TimerDriver *timerDriver() const override { return const_cast<ManualClock *>(this); }

    /// Moves time forward by `ms`, firing every timer that comes due on the way.
    void advance(double ms) { advanceTo(m_now + ms); }
    void advanceTo(double target)
    {
        while (!m_armed.empty() && m_armed.begin()->first <= target) {
            const auto it = m_armed.begin();
            m_now = std::max(m_now, it->first);
            ClockTimer *timer = it->second;
            m_armed.erase(it);
            timer->fire();
        }
        m_now = std::max(m_now, target);
    }
    /// Fires the timers due now (zero-delay work), without moving time.
    void settle() { advance(0); }
    /// Advances in steps until `done()` holds or `limitMs` of clock time has passed; true when done.
    bool runUntil(const std::function<bool()> &done, double limitMs, double stepMs = 1)
    {
        const double end = m_now + limitMs;
        settle();
        while (!done() && m_now < end) {
            advance(stepMs);
        }
        return done();
    }
    void set(double ms) { m_now = ms; }
    /// Timers armed now.
    int armedTimers() const { return int(m_armed.size()); }

    void arm(ClockTimer *timer, double atMs) override
    {
        disarm(timer);
        m_armed.emplace(atMs, timer);
    }
    void disarm(ClockTimer *timer) override
    {
        for (auto it = m_armed.begin(); it != m_armed.end(); ++it) {
            if (it->second == timer) {
                m_armed.erase(it);
                return;
            }
        }
    }

private:
    double m_now = 1000.0;
    std::multimap<double, ClockTimer *> m_armed; ///< by due time; equal times fire in arming order
};

/// Returns the given values in turn (cycling), for predictable jitter.
class ScriptedRandom final : public RandomSource
{
public:
    explicit ScriptedRandom(QList<double> values)
        : m_values(std::move(values))
    {
    }
    double uniform() override
    {
        const double v = m_values.at(m_next % m_values.size());
        ++m_next;
        return v;
    }

private:
    QList<double> m_values;
    qsizetype m_next = 0;
};

} // namespace Sluice::Test
