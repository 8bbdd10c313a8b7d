#include "ratelimiter.h"

#include <algorithm>

namespace Sluice {

RateLimiter::RateLimiter(const Clock *clock)
    : m_clock(clock)
    , m_global(clock, 0, 1)
{
}

double RateLimiter::capacityFor(double perSecond)
{
    // One request, plus what the window earns: a wake-up that comes a few ms late can still catch up,
    // so the long-run rate is reached, while any 1 s window sees at most rate + capacity.
    return 1.0 + perSecond * SmoothingWindowMs / 1000.0;
}

void RateLimiter::setGlobalRate(double perSecond)
{
    m_global.reconfigure(perSecond, capacityFor(perSecond));
}

void RateLimiter::setEndpointCount(int count)
{
    while (int(m_endpoints.size()) > count) {
        m_endpoints.pop_back();
    }
    while (int(m_endpoints.size()) < count) {
        m_endpoints.push_back(EndpointState{TokenBucket(m_clock, 0, 1), 0});
    }
}

void RateLimiter::setEndpointRate(int endpoint, double perMinute)
{
    const double perSecond = std::max(0.0, perMinute) / 60.0;
    m_endpoints.at(endpoint).bucket.reconfigure(perSecond, capacityFor(perSecond));
}

RateLimiter::Block RateLimiter::check(int endpoint) const
{
    const EndpointState &e = m_endpoints.at(endpoint);
    if (e.cooldownUntilMs > m_clock->nowMs()) {
        return Block::CoolingDown;
    }
    if (e.bucket.msUntil(1) > 0) {
        return Block::Endpoint;
    }
    if (!globalHasRoom()) {
        return Block::Global;
    }
    return Block::None;
}

bool RateLimiter::globalHasRoom() const
{
    return m_global.msUntil(1) <= 0;
}

void RateLimiter::acquire(int endpoint)
{
    m_endpoints.at(endpoint).bucket.take(1);
    m_global.take(1);
}

void RateLimiter::coolDown(int endpoint, double untilMs)
{
    EndpointState &e = m_endpoints.at(endpoint);
    e.cooldownUntilMs = std::max(e.cooldownUntilMs, untilMs);
}

bool RateLimiter::isCoolingDown(int endpoint) const
{
    return m_endpoints.at(endpoint).cooldownUntilMs > m_clock->nowMs();
}

double RateLimiter::cooldownUntilMs(int endpoint) const
{
    return m_endpoints.at(endpoint).cooldownUntilMs;
}

double RateLimiter::endpointReadyAtMs(int endpoint) const
{
    const EndpointState &e = m_endpoints.at(endpoint);
    const double now = m_clock->nowMs();
    return std::max({now, e.cooldownUntilMs, now + e.bucket.msUntil(1)});
}

double RateLimiter::globalReadyAtMs() const
{
    return m_clock->nowMs() + m_global.msUntil(1);
}

double RateLimiter::effectiveRate(int endpoint) const
{
    const EndpointState &e = m_endpoints.at(endpoint);
    if (isCoolingDown(endpoint)) {
        return 0;
    }
    const double own = e.bucket.rate();
    const double global = m_global.rate();
    if (own <= 0) {
        return global;
    }
    return global <= 0 ? own : std::min(own, global);
}

QString RateLimiter::limitReason(int endpoint) const
{
    const EndpointState &e = m_endpoints.at(endpoint);
    if (isCoolingDown(endpoint)) {
        return QStringLiteral("429 cooldown");
    }
    if (e.bucket.isUnlimited() && m_global.isUnlimited()) {
        return QStringLiteral("unlimited");
    }
    if (!m_global.isUnlimited() && (e.bucket.isUnlimited() || m_global.rate() < e.bucket.rate())) {
        return QStringLiteral("global rps");
    }
    return QStringLiteral("configured rpm");
}

} // namespace Sluice
