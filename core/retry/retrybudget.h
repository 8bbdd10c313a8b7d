#pragma once

#include "util/clock.h"

#include <algorithm>

namespace Sluice {

/// Caps retries sent to one endpoint at a share of its traffic (after Envoy's retry budget), so a
/// failing endpoint cannot multiply load: every first attempt earns `ratio` of a retry, and time earns
/// `minPerSecond`; at most `burst` retries can be banked. Whatever the credit, `minConcurrency` retries
/// may always be in flight at once (Envoy's min_retry_concurrency): an endpoint with nothing in flight
/// always takes its retries, so the tail of a run, where no first attempts earn credit any more, goes
/// as fast as its middle. A retry goes to an endpoint that allows it; when none does, the engine holds
/// retries back (fresh requests go first) until one does; max_attempts still bounds each request. 429
/// retries are governed by the rate limiter and do not draw on this.
class RetryBudget
{
public:
    static constexpr double DefaultRatio = 0.2;
    static constexpr int DefaultMinConcurrency = 3;

    explicit RetryBudget(const Clock *clock, double ratio = DefaultRatio, double minPerSecond = 1.0,
                         double burst = 10.0, int minConcurrency = DefaultMinConcurrency)
        : m_clock(clock)
        , m_ratio(ratio)
        , m_minPerSecond(minPerSecond)
        , m_burst(burst)
        , m_minConcurrency(minConcurrency)
        , m_credit(burst)
        , m_lastMs(clock->nowMs())
    {
    }

    void onFirstAttempt() { m_credit = std::min(m_burst, credit() + m_ratio); }
    bool canRetry() const { return m_retriesInFlight < m_minConcurrency || credit() >= 1.0; }
    /// A retry was sent: within the minimum concurrency it is free, above it it spends credit.
    void onRetry()
    {
        if (m_retriesInFlight >= m_minConcurrency) {
            m_credit = std::max(0.0, credit() - 1.0);
        }
        ++m_retriesInFlight;
    }
    /// A retry sent through onRetry() came back.
    void onRetryDone() { m_retriesInFlight = std::max(0, m_retriesInFlight - 1); }
    int retriesInFlight() const { return m_retriesInFlight; }
    /// Milliseconds until a retry is allowed by time alone (infinite never: time always earns credit).
    double msUntilRetry() const { return canRetry() ? 0 : (1.0 - credit()) * 1000.0 / m_minPerSecond; }

private:
    double credit() const
    {
        const double now = m_clock->nowMs();
        m_credit = std::min(m_burst, m_credit + std::max(0.0, now - m_lastMs) * m_minPerSecond / 1000.0);
        m_lastMs = now;
        return m_credit;
    }

    const Clock *m_clock;
    double m_ratio;
    double m_minPerSecond;
    double m_burst;
    int m_minConcurrency;
    int m_retriesInFlight = 0;
    mutable double m_credit;
    mutable double m_lastMs;
};

} // namespace Sluice
