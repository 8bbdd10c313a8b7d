#pragma once

#include <QPointer>
#include <QTimer>
#include <QtGlobal>

#include <functional>
#include <limits>

namespace Sluice {

class ClockTimer;

/// Runs the ClockTimers of a clock that is not the real one (a test's manual clock fires them as it
/// is advanced). Engine-thread only.
class TimerDriver
{
public:
    virtual ~TimerDriver() = default;
    /// `timer` is due at clock time `atMs` (replaces an earlier arming of the same timer).
    virtual void arm(ClockTimer *timer, double atMs) = 0;
    virtual void disarm(ClockTimer *timer) = 0;
};

/// Monotonic time source, injected everywhere the engine measures or waits, so that
/// limiter and backoff logic can be tested by advancing time by hand.
class Clock
{
public:
    virtual ~Clock() = default;
    /// Monotonic milliseconds since an arbitrary epoch (fractional: sub-millisecond precision).
    virtual double nowMs() const = 0;
    /// What fires ClockTimers on this clock; nullptr (the real clock): Qt timers on the event loop.
    virtual TimerDriver *timerDriver() const { return nullptr; }
};

/// The real monotonic clock (std::chrono::steady_clock).
class SteadyClock final : public Clock
{
public:
    double nowMs() const override;
    /// A process-wide instance; it holds no state.
    static SteadyClock *instance();
};

/// A one-shot timer in a clock's time: calls its handler once the clock has reached the moment it was
/// set for. On the real clock it is a precise QTimer (so it needs the event loop of the thread that
/// made it); on a test's manual clock it fires while the test advances the clock, in time order, so
/// scheduling logic runs without sleeping. Setting it again replaces the earlier moment.
class ClockTimer
{
public:
    /// `context` is the object the timer belongs to (its QTimer is a child of it, so it follows the
    /// context to another thread); the handler runs on the context's thread.
    ClockTimer(const Clock *clock, QObject *context, std::function<void()> handler);
    ~ClockTimer();
    ClockTimer(const ClockTimer &) = delete;
    ClockTimer &operator=(const ClockTimer &) = delete;

    /// Fires at clock time `atMs` (at once, from the event loop, when that has passed).
    void startAt(double atMs);
    void start(double inMs);
    void stop();
    bool isActive() const { return m_dueMs < std::numeric_limits<double>::infinity(); }
    /// When it fires; +infinity when not active.
    double dueMs() const { return m_dueMs; }

    /// For a TimerDriver: the moment has come.
    void fire();

private:
    const Clock *m_clock;
    std::function<void()> m_handler;
    QPointer<QTimer> m_qtimer; ///< real clock only; a child of the context
    double m_dueMs = std::numeric_limits<double>::infinity();
};

} // namespace Sluice
