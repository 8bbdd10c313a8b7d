#include "tokenbucket.h"

#include <algorithm>

namespace Sluice {

TokenBucket::TokenBucket(const Clock *clock, double ratePerSecond, double capacity)
    : m_clock(clock)
    , m_rate(std::max(0.0, ratePerSecond))
    , m_capacity(std::max(1.0, capacity))
    , m_tokens(m_capacity)
    , m_lastMs(clock->nowMs())
{
}

void TokenBucket::reconfigure(double ratePerSecond, double capacity)
{
    refill();
    const bool wasUnlimited = isUnlimited();
    m_rate = std::max(0.0, ratePerSecond);
    m_capacity = std::max(1.0, capacity);
    // A bucket that starts limiting starts full (of its small, smoothing-sized capacity).
    m_tokens = wasUnlimited ? m_capacity : std::min(m_tokens, m_capacity);
}

void TokenBucket::refill() const
{
    const double now = m_clock->nowMs();
    if (now > m_lastMs) {
        m_tokens = std::min(m_capacity, m_tokens + (now - m_lastMs) * m_rate / 1000.0);
    }
    m_lastMs = now;
}

double TokenBucket::available() const
{
    if (isUnlimited()) {
        return m_capacity;
    }
    refill();
    return m_tokens;
}

bool TokenBucket::tryTake(double n)
{
    if (isUnlimited()) {
        return true;
    }
    refill();
    // A request larger than the whole bucket may go once the bucket is full, leaving a debt.
    const double need = std::min(n, m_capacity);
    if (m_tokens + 1e-9 < need) {
        return false;
    }
    m_tokens -= n;
    return true;
}

void TokenBucket::take(double n)
{
    if (isUnlimited()) {
        return;
    }
    refill();
    m_tokens -= n;
}

void TokenBucket::refund(double n)
{
    if (isUnlimited()) {
        return;
    }
    refill();
    m_tokens = std::min(m_capacity, m_tokens + n);
}

void TokenBucket::setLevel(double tokens)
{
    refill();
    m_tokens = std::min(m_capacity, tokens);
}

void TokenBucket::settle(double reserved, double used)
{
    if (reserved > used) {
        refund(reserved - used);
    } else if (used > reserved) {
        take(used - reserved);
    }
}

double TokenBucket::msUntil(double n) const
{
    if (isUnlimited()) {
        return 0;
    }
    refill();
    const double need = std::min(n, m_capacity);
    if (m_tokens + 1e-9 >= need) {
        return 0;
    }
    return (need - m_tokens) * 1000.0 / m_rate;
}

} // namespace Sluice
