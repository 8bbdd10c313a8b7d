#pragma once

#include "config/projectconfig.h"
#include "util/randomsource.h"

namespace Sluice {

/// Exponential backoff with full jitter: before attempt n+1 wait uniform[0, min(cap, base·2^(n-1))].
/// A server's Retry-After wins when it asks for longer (plus up to 10 % jitter, so that requests told
/// the same time do not return as one burst). Randomness is injected; must outlive the policy.
class RetryPolicy
{
public:
    RetryPolicy(RetryConfig config, RandomSource *random);

    const RetryConfig &config() const { return m_config; }
    void setConfig(const RetryConfig &config) { m_config = config; }

    /// The wait before the next attempt after the `attempts`-th failed send; `retryAfterMs` < 0 when
    /// the server sent none.
    double delayMs(int attempts, double retryAfterMs = -1);
    /// The jittered backoff alone, for the wait after the `attempts`-th failed send.
    double backoffMs(int attempts);

private:
    RetryConfig m_config;
    RandomSource *m_random;
};

} // namespace Sluice
