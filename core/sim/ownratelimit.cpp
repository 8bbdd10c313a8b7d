#include "ownratelimit.h"

#include <algorithm>
#include <cmath>

namespace Sluice::Sim {

OwnRateLimit::OwnRateLimit(const Clock *clock)
    : m_bucket(clock, 0, 1)
{
}

void OwnRateLimit::configure(double rps, int burst)
{
    if (rps <= 0) {
        m_bucket.reconfigure(0, m_bucket.capacity());
        return;
    }
    m_bucket.reconfigure(rps, burst > 0 ? double(burst) : std::max(1.0, std::floor(rps / 10.0)));
}

bool OwnRateLimit::tryTake(double &waitMs)
{
    if (m_bucket.tryTake(1.0)) {
        waitMs = 0;
        return true;
    }
    waitMs = m_bucket.msUntil(1.0);
    return false;
}

OwnRateLimit::State OwnRateLimit::state() const
{
    const double rps = m_bucket.rate();
    const double tokens = m_bucket.available();
    State state;
    state.limitPerMinute = std::max<qint64>(1, std::llround(rps * 60.0));
    state.remaining = qint64(std::floor(tokens));
    state.untilFullMs = rps > 0 ? (m_bucket.capacity() - tokens) * 1000.0 / rps : 0;
    return state;
}

} // namespace Sluice::Sim
