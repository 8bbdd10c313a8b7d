#pragma once

#include "limit/tokenbucket.h"

#include <QList>
#include <QString>

#include <vector>

namespace Sluice {

/// Request-rate limits for a run: one smoothed bucket per endpoint (configured per minute) and one
/// global bucket (configured per second), plus a per-endpoint cooldown set from Retry-After after a 429.
/// A request may go to endpoint `e` when neither bucket is empty and `e` is not cooling down.
/// Buckets hold one request plus `SmoothingWindowMs` worth of tokens, so no 1-second window ever sees
/// more than the configured rate plus that small allowance (100/s: at most 102 in any second). Not
/// thread-safe; lives on the engine thread.
class RateLimiter
{
public:
    /// Largest burst, as time at the configured rate (the scheduler wakes at ms granularity).
    static constexpr double SmoothingWindowMs = 10.0;

    enum class Block {
        None,        ///< may send now
        Global,      ///< the global rps budget is spent
        Endpoint,    ///< the endpoint's rpm budget is spent
        CoolingDown, ///< the endpoint was told to wait (Retry-After)
    };

    explicit RateLimiter(const Clock *clock);

    /// Global limit in requests per second; 0 = unlimited.
    void setGlobalRate(double perSecond);
    /// Grows or shrinks the endpoint list; new endpoints are unlimited.
    void setEndpointCount(int count);
    /// Endpoint limit in requests per minute; 0 = unlimited.
    void setEndpointRate(int endpoint, double perMinute);

    Block check(int endpoint) const;
    /// True when the global budget has room now (checked before asking per endpoint).
    bool globalHasRoom() const;
    /// Spends one request from the endpoint's and the global budget. Call after check() gave None.
    void acquire(int endpoint);

    /// Keeps `endpoint` from sending until `untilMs` (clock time); a later cooldown wins over an earlier.
    void coolDown(int endpoint, double untilMs);
    bool isCoolingDown(int endpoint) const;
    double cooldownUntilMs(int endpoint) const;

    /// Earliest clock time at which `endpoint` could pass its own checks (ignores the global budget).
    double endpointReadyAtMs(int endpoint) const;
    /// Earliest clock time at which the global budget has a request again.
    double globalReadyAtMs() const;

    /// Current limit of an endpoint in requests/s (0 = unlimited) and why it is what it is.
    double effectiveRate(int endpoint) const;
    QString limitReason(int endpoint) const;

private:
    struct EndpointState
    {
        TokenBucket bucket;
        double cooldownUntilMs = 0;
    };

    static double capacityFor(double perSecond);

    const Clock *m_clock;
    TokenBucket m_global;
    std::vector<EndpointState> m_endpoints;
};

} // namespace Sluice
