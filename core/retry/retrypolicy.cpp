#include "retrypolicy.h"

#include <algorithm>
#include <cmath>

namespace Sluice {

RetryPolicy::RetryPolicy(RetryConfig config, RandomSource *random)
    : m_config(config)
    , m_random(random)
{
}

double RetryPolicy::backoffMs(int attempts)
{
    const int exponent = std::clamp(attempts - 1, 0, 30);
    const double ceiling = std::min(m_config.maxDelayMs, m_config.baseDelayMs * std::ldexp(1.0, exponent));
    return m_random->uniform() * ceiling;
}

double RetryPolicy::delayMs(int attempts, double retryAfterMs)
{
    double delay = backoffMs(attempts);
    if (retryAfterMs >= 0) {
        const double told = std::min(retryAfterMs, m_config.maxRetryAfterMs);
        delay = std::max(delay, told + m_random->uniform() * 0.1 * told);
    }
    return delay;
}

} // namespace Sluice
