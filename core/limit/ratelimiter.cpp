#include "ratelimiter.h"

#include <algorithm>

namespace Sluice {

RateLimiter::RateLimiter(const Clock *clock)
    : m_clock(clock)
    , m_global(clock, 0, 1)
    , m_globalTokens(clock, 0, 1)
{
}

void RateLimiter::setGlobalRate(double perSecond)
{
    m_global.reconfigure(perSecond, TokenBucket::smoothedCapacity(perSecond, SmoothingWindowMs));
}

void RateLimiter::setGlobalTpm(double perMinute)
{
    const double perSecond = std::max(0.0, perMinute) / 60.0;
    m_globalTokens.reconfigure(perSecond, TokenBucket::smoothedCapacity(perSecond, SmoothingWindowMs));
}

void RateLimiter::setEndpointCount(int count)
{
    m_endpoints.resize(std::size_t(std::max(0, count)));
    for (auto &e : m_endpoints) {
        if (!e) {
            e = std::make_unique<EndpointLimiter>(m_clock);
        }
    }
}

void RateLimiter::configureEndpoint(int endpoint, double rpm, double tpm)
{
    this->endpoint(endpoint).configure(rpm, tpm);
}

bool RateLimiter::globalHasRoom(double tokens) const
{
    return m_global.msUntil(1) <= 0 && m_globalTokens.msUntil(tokens) <= 0;
}

RateLimiter::Block RateLimiter::check(int endpoint, double tokens)
{
    if (m_global.msUntil(1) > 0) {
        return Block::Global;
    }
    if (m_globalTokens.msUntil(tokens) > 0) {
        return Block::GlobalTokens;
    }
    return this->endpoint(endpoint).check(tokens) == EndpointLimiter::Block::None ? Block::None
                                                                                  : Block::Endpoint;
}

EndpointLimiter::SendTicket RateLimiter::acquire(int endpoint, double tokens)
{
    m_global.take(1);
    m_globalTokens.take(tokens);
    return this->endpoint(endpoint).onSend(tokens);
}

void RateLimiter::onReply(int endpoint, const EndpointLimiter::Feedback &feedback)
{
    m_globalTokens.settle(feedback.ticket.tokens, feedback.chargedTokens());
    this->endpoint(endpoint).onReply(feedback);
}

double RateLimiter::endpointReadyAtMs(int endpoint, double tokens)
{
    return this->endpoint(endpoint).readyAtMs(tokens);
}

double RateLimiter::globalReadyAtMs(double tokens) const
{
    return m_clock->nowMs() + std::max(m_global.msUntil(1), m_globalTokens.msUntil(tokens));
}

} // namespace Sluice
