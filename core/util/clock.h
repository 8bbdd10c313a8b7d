#pragma once

#include <QtGlobal>

namespace Sluice {

/// Monotonic time source, injected everywhere the engine measures or waits, so that
/// limiter and backoff logic can be tested by advancing time by hand.
class Clock
{
public:
    virtual ~Clock() = default;
    /// Monotonic milliseconds since an arbitrary epoch (fractional: sub-millisecond precision).
    virtual double nowMs() const = 0;
};

/// The real monotonic clock (std::chrono::steady_clock).
class SteadyClock final : public Clock
{
public:
    double nowMs() const override;
    /// A process-wide instance; it holds no state.
    static SteadyClock *instance();
};

} // namespace Sluice
