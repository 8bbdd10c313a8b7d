#pragma once

#include "util/clock.h"

namespace Sluice {

/// Continuously refilled token bucket. `rate` is in tokens per second; `capacity` is the most that can
/// accumulate, i.e. the largest burst. A small capacity smooths the flow: with capacity = rate × 10 ms,
/// a limit of 600/min releases ~10 requests each second, never 600 at once. A rate of 0 means unlimited.
/// Starts full (a full bucket of a small capacity is a small burst by construction).
/// Not thread-safe; time comes from the injected clock, which must outlive the bucket.
class TokenBucket
{
public:
    TokenBucket(const Clock *clock, double ratePerSecond, double capacity);

    /// Changes rate and capacity, keeping the tokens already earned (clamped to the new capacity).
    void reconfigure(double ratePerSecond, double capacity);
    double rate() const { return m_rate; }
    double capacity() const { return m_capacity; }
    bool isUnlimited() const { return m_rate <= 0; }

    /// Tokens available now.
    double available() const;
    /// Takes `n` tokens when they are all available; otherwise takes nothing and returns false.
    bool tryTake(double n = 1.0);
    /// Takes `n` tokens unconditionally; the level may go negative (a debt repaid by later refill).
    void take(double n);
    /// Gives back tokens taken (clamped to capacity).
    void refund(double n);
    /// Sets the level outright (clamped to capacity; may be negative), e.g. from what a server reports.
    void setLevel(double tokens);
    /// Settles a reservation: gives back what was reserved but not used, or takes what was used beyond it.
    void settle(double reserved, double used);

    /// The smoothing capacity Sluice's limiters use: one request (or one request's tokens) plus
    /// `windowMs` worth at `perSecond`, so a wake-up a few ms late can still catch up while any 1 s
    /// window sees at most the rate plus this allowance.
    static constexpr double smoothedCapacity(double perSecond, double windowMs = 10.0)
    {
        return 1.0 + perSecond * windowMs / 1000.0;
    }
    /// Milliseconds until `n` tokens are available (0 when available now).
    double msUntil(double n = 1.0) const;

private:
    void refill() const;

    const Clock *m_clock;
    double m_rate;
    double m_capacity;
    mutable double m_tokens;
    mutable double m_lastMs;
};

} // namespace Sluice
