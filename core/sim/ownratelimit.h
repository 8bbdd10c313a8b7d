#pragma once

#include "limit/tokenbucket.h"

namespace Sluice::Sim {

/// The simulator's own request-rate limit: a TokenBucket at `rps` whose capacity is `burst`, or
/// max(1, rps / 10) when burst is 0. Reconfiguring keeps the tokens already earned; a limit switched
/// on starts full. Time comes from the clock given at construction, which must outlive this object.
class OwnRateLimit
{
public:
    /// What the rate-limit headers report.
    struct State
    {
        qint64 limitPerMinute = 0; ///< rps × 60, at least 1
        qint64 remaining = 0;      ///< whole requests allowed now
        double untilFullMs = 0;    ///< until the bucket is full again
    };

    explicit OwnRateLimit(const Clock *clock);

    void configure(double rps, int burst);
    bool isOn() const { return !m_bucket.isUnlimited(); }
    /// Takes one request's token; false when none is available, with `waitMs` until one is.
    bool tryTake(double &waitMs);
    State state() const;

private:
    TokenBucket m_bucket;
};

} // namespace Sluice::Sim
