#pragma once

#include "util/clock.h"

#include <algorithm>

namespace Sluice {

/// Caps retries sent to one endpoint at a share of its traffic (after Envoy's retry budget), so a
/// failing endpoint cannot multiply load: every first attempt earns `ratio` of a retry, and time earns
/// `minPerSecond` so that the last retries of a run are never stuck. At most `burst` retries can be
/// banked. A retry goes to an endpoint that has credit; when none has, the engine holds retries back
/// (fresh requests go first) until credit returns; the request's max_attempts still bounds it. 429 retries
/// are governed by the rate limiter and do not draw on this.
class RetryBudget
{
public:
    static constexpr double DefaultRatio = 0.2;

    explicit RetryBudget(const Clock *clock, double ratio = DefaultRatio, double minPerSecond = 1.0,
                         double burst = 10.0)
        : m_clock(clock)
        , m_ratio(ratio)
        , m_minPerSecond(minPerSecond)
        , m_burst(burst)
        , m_credit(burst)
        , m_lastMs(clock->nowMs())
    {
    }

    void onFirstAttempt() { m_credit = std::min(m_burst, credit() + m_ratio); }
    bool canRetry() const { return credit() >= 1.0; }
    void onRetry() { m_credit = credit() - 1.0; }
    /// Milliseconds until a retry is allowed by time alone.
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
    mutable double m_credit;
    mutable double m_lastMs;
};

} // namespace Sluice
