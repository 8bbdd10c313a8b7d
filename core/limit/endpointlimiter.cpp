#include "endpointlimiter.h"

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {

void setRate(TokenBucket &bucket, double perSecond)
{
    if (std::isfinite(perSecond) && perSecond > 0) {
        bucket.reconfigure(perSecond, TokenBucket::smoothedCapacity(perSecond));
    } else {
        bucket.reconfigure(0, 1); // unlimited
    }
}

} // namespace

EndpointLimiter::EndpointLimiter(const Clock *clock)
    : m_clock(clock)
    , m_requests(clock, 0, 1)
    , m_tokens(clock, 0, 1)
    , m_serverRequests(clock, 0, 1)
    , m_serverTokens(clock, 0, 1)
{
}

void EndpointLimiter::configure(double rpm, double tpm)
{
    m_rpm = std::max(0.0, rpm);
    m_tpm = std::max(0.0, tpm);
    // A new operator limit is a fresh start for discovery: forget the old cut.
    m_discoveredRps = Unlimited;
    m_cutRps = 0;
    refresh();
}

double EndpointLimiter::rampFactor() const
{
    const double now = m_clock->nowMs();
    if (!std::isfinite(m_rampStartMs)) {
        return RampStart;
    }
    return std::min(1.0, RampStart + RampPerSecond * std::max(0.0, now - m_rampStartMs) / 1000.0);
}

double EndpointLimiter::requestBase() const
{
    const double configured = m_rpm > 0 ? m_rpm / 60.0 : Unlimited;
    return std::min({configured, m_headerRps, m_discoveredRps});
}

double EndpointLimiter::tokenBase() const
{
    const double configured = m_tpm > 0 ? m_tpm / 60.0 : Unlimited;
    return std::min(configured, m_headerTps);
}

void EndpointLimiter::refresh()
{
    const double now = m_clock->nowMs();
    if (!std::isfinite(m_rampStartMs) ||
        (m_state == State::Open && std::isfinite(m_lastSendMs) && now - m_lastSendMs > IdleResetMs)) {
        m_rampStartMs = now; // start, or back after a long idle: ramp again
    }
    if (m_state == State::CoolingDown && now >= m_pauseUntilMs) {
        if (m_pauseKind == PauseKind::Overloaded) {
            m_state = State::Open; // overload: a short fixed pause, no probe, no ramp
        } else {
            m_state = State::Probing;
            m_probeInFlight = false;
        }
    }
    if (m_state == State::Probing && m_probeInFlight && now - m_probeSentMs >= ProbeTimeoutMs) {
        // A probe that hangs says nothing yet; it must not keep the endpoint shut: let another go.
        m_probeInFlight = false;
    }
    if (m_state == State::Open && std::isfinite(m_discoveredRps) && m_cutRps > 0) {
        const double seconds = std::max(0.0, now - m_lastGrowthMs) / 1000.0;
        const double growth = m_discoveredRps < 0.95 * m_cutRps ? FastGrowth : SlowGrowth;
        m_discoveredRps += growth * m_cutRps * seconds;
        const double ceiling = std::min(m_rpm > 0 ? m_rpm / 60.0 : Unlimited, m_headerRps);
        if (m_discoveredRps >= ceiling) {
            m_discoveredRps = Unlimited; // grown back to the known limit: discovery no longer binds
        }
    }
    m_lastGrowthMs = now;
    setRate(m_requests, requestBase() * rampFactor());
    setRate(m_tokens, tokenBase() * rampFactor());
}

EndpointLimiter::Block EndpointLimiter::check(double tokens)
{
    refresh();
    switch (m_state) {
    case State::Quota:
        return Block::Quota;
    case State::CoolingDown:
        return Block::CoolingDown;
    case State::Probing:
        if (m_probeInFlight) {
            return Block::Probing;
        }
        break;
    case State::Open:
        break;
    }
    if (m_requests.msUntil(1) > 0) {
        return Block::Requests;
    }
    if (m_tokens.msUntil(tokens) > 0) {
        return Block::Tokens;
    }
    if (m_serverRequestsKnown && m_serverRequests.msUntil(1) > 0) {
        return Block::ServerRequests;
    }
    if (m_serverTokensKnown && tokens > 0 && m_serverTokens.msUntil(tokens) > 0) {
        return Block::ServerTokens;
    }
    return Block::None;
}

double EndpointLimiter::readyAtMs(double tokens)
{
    refresh();
    const double now = m_clock->nowMs();
    switch (m_state) {
    case State::Quota:
        return Unlimited;
    case State::CoolingDown:
        return m_pauseUntilMs;
    case State::Probing:
        if (m_probeInFlight) {
            return m_probeSentMs + ProbeTimeoutMs;
        }
        break;
    case State::Open:
        break;
    }
    double wait = std::max(m_requests.msUntil(1), m_tokens.msUntil(tokens));
    if (m_serverRequestsKnown) {
        wait = std::max(wait, m_serverRequests.msUntil(1));
    }
    if (m_serverTokensKnown && tokens > 0) {
        wait = std::max(wait, m_serverTokens.msUntil(tokens));
    }
    return now + wait;
}

EndpointLimiter::SendTicket EndpointLimiter::onSend(double tokens)
{
    refresh();
    const double now = m_clock->nowMs();
    m_requests.take(1);
    m_tokens.take(tokens);
    if (m_serverRequestsKnown) {
        m_serverRequests.take(1);
    }
    if (m_serverTokensKnown) {
        m_serverTokens.take(tokens);
    }
    if (now - m_windowStartMs >= 1000) {
        // Too few sends say nothing about the rate the server tolerates.
        m_lastWindowRps =
            m_windowSends >= 10 ? m_windowSends * 1000.0 / std::max(1000.0, now - m_windowStartMs) : 0;
        m_windowStartMs = now;
        m_windowSends = 0;
    }
    ++m_windowSends;
    m_lastSendMs = now;
    SendTicket ticket{++m_sendSeq, now, tokens, m_tokensSent};
    m_tokensSent += tokens;
    if (m_state == State::Probing) {
        m_probeInFlight = true;
        m_probeSeq = ticket.seq;
        m_probeSentMs = now;
    }
    return ticket;
}

double EndpointLimiter::measuredRps() const
{
    const double now = m_clock->nowMs();
    const double current = now - m_windowStartMs > 100 && m_windowSends >= 10
                               ? m_windowSends * 1000.0 / (now - m_windowStartMs)
                               : 0;
    return std::max(m_lastWindowRps, current);
}

void EndpointLimiter::pause(double ms)
{
    const double now = m_clock->nowMs();
    if (m_state != State::CoolingDown) {
        m_pauseStartMs = now;
    }
    m_state = State::CoolingDown;
    m_pauseUntilMs = std::max(m_pauseUntilMs, now + ms);
    m_probeInFlight = false;
}

void EndpointLimiter::cut()
{
    const double now = m_clock->nowMs();
    double rate = requestBase() * rampFactor();
    const double measured = measuredRps();
    if (measured > 0) {
        rate = std::min(rate, measured);
    }
    // A server that announces its limit, and was sent no more than that, answered 429 to a burst (say,
    // the first window of requests before any reply), not to a wrong rate: pause, but keep the rate.
    const bool withinAnnounced = std::isfinite(m_headerRps) && !(rate > m_headerRps * 1.01);
    if (m_discovery && std::isfinite(rate) && rate > 0 && !withinAnnounced) {
        m_cutRps = rate;
        // Never to nothing: 429s that do not depend on the rate (a provider's own trouble) would
        // otherwise cut it towards zero, and growth back is relative to the cut rate.
        m_discoveredRps = std::max(CutFactor * rate, MinDiscoveredRps);
    }
    m_lastCutMs = now;
}

void EndpointLimiter::readServerBudget(const Feedback &f)
{
    const double now = m_clock->nowMs();
    const quint64 sentSince = m_sendSeq - f.ticket.seq;
    if (f.info.requestLimit > 0) {
        m_headerRps = f.info.requestLimit / 60.0;
    }
    if (f.info.requestRemaining >= 0 && std::isfinite(m_headerRps)) {
        const double capacity = std::max({1.0, f.info.requestRemaining, m_serverRequests.capacity()});
        m_serverRequests.reconfigure(m_headerRps, capacity);
        // The server counted `remaining` when the request arrived (about when it was sent); since then
        // its bucket refilled, and we sent `sentSince` more that it had not counted yet.
        const double refilled = m_headerRps * std::max(0.0, now - f.ticket.atMs) / 1000.0;
        m_serverRequests.setLevel(f.info.requestRemaining + refilled - double(sentSince));
        m_serverRequestsKnown = true;
    }
    if (f.info.tokenLimit > 0) {
        m_headerTps = f.info.tokenLimit / 60.0;
    }
    if (f.info.tokenRemaining >= 0 && std::isfinite(m_headerTps)) {
        const double capacity = std::max({1.0, f.info.tokenRemaining, m_serverTokens.capacity()});
        m_serverTokens.reconfigure(m_headerTps, capacity);
        const double refilled = m_headerTps * std::max(0.0, now - f.ticket.atMs) / 1000.0;
        m_serverTokens.setLevel(f.info.tokenRemaining + refilled -
                                (m_tokensSent - f.ticket.tokensSentBefore - f.ticket.tokens));
        m_serverTokensKnown = true;
    }
}

void EndpointLimiter::onReply(const Feedback &f)
{
    readServerBudget(f);
    // Settle the token reservation against what was really used (nothing, for a failure).
    m_tokens.settle(f.ticket.tokens, f.chargedTokens());

    const bool isProbe = m_state == State::Probing && f.ticket.seq == m_probeSeq;
    const bool failure =
        f.cls == ErrorClass::Transport || f.cls == ErrorClass::Timeout || f.cls == ErrorClass::Server;
    if (!failure && f.cls != ErrorClass::Cancelled) {
        // The server answered something that is not a failure of its own: it is up.
        m_streakCount = 0;
        m_streakAnswered = false;
        m_streakKeys.clear();
    }
    switch (f.cls) {
    case ErrorClass::None:
        // Any success while probing (the probe, or one that hung past ProbeTimeoutMs) re-opens.
        if (m_state == State::Probing) {
            onProbeSuccess();
        }
        break;
    case ErrorClass::RateLimited:
        onRateLimited(f, isProbe);
        break;
    case ErrorClass::Overloaded:
        if (m_state != State::CoolingDown) {
            m_pauseKind = PauseKind::Overloaded;
        }
        pause(std::max(OverloadPauseMs, f.info.retryAfterMs));
        break;
    case ErrorClass::Quota:
        if (!m_quotaProbe) {
            m_state = State::Quota;
            m_probeInFlight = false;
            break;
        }
        if (m_state == State::Open || isProbe) {
            m_quotaProbeMs =
                m_quotaProbeMs <= 0 ? QuotaFirstProbeMs : std::min(QuotaMaxProbeMs, 2 * m_quotaProbeMs);
            m_pauseKind = PauseKind::Quota;
            pause(m_quotaProbeMs);
        }
        break;
    case ErrorClass::Transport:
    case ErrorClass::Timeout:
    case ErrorClass::Server:
        onFailure(f, isProbe);
        break;
    default:
        if (isProbe) {
            m_probeInFlight = false; // inconclusive (a 4xx, a cancel): probe again
        }
        break;
    }
}

void EndpointLimiter::onProbeSuccess()
{
    const double now = m_clock->nowMs();
    m_downMs = 0;
    m_quotaProbeMs = 0;
    m_state = State::Open;
    if (now - m_pauseStartMs >= LongPauseMs) {
        m_rampStartMs = now; // back after a long pause: re-open gradually
    }
    m_pauseMs = 0;
    m_probeInFlight = false;
}

void EndpointLimiter::onRateLimited(const Feedback &f, bool isProbe)
{
    const double now = m_clock->nowMs();
    const bool newEvent = f.ticket.atMs >= m_lastCutMs;
    if (newEvent || isProbe) {
        if (newEvent && !isProbe) {
            cut(); // a failed probe says "not yet", not "slower"
        }
        m_pauseMs = m_pauseMs <= 0 ? FirstPauseMs : std::min(MaxPauseMs, m_pauseMs * 2);
        m_pauseKind = PauseKind::RateLimited;
        pause(f.info.retryAfterMs >= 0 ? std::min(f.info.retryAfterMs, MaxPauseMs * 10) : m_pauseMs);
    } else if (m_state == State::CoolingDown && f.info.retryAfterMs >= 0) {
        m_pauseUntilMs = std::max(m_pauseUntilMs, now + std::min(f.info.retryAfterMs, MaxPauseMs * 10));
    }
}

void EndpointLimiter::onFailure(const Feedback &f, bool isProbe)
{
    // One request that always fails (a poison body) must not eject a server that answers: answered
    // failures count once per request. An attempt that got no answer at all always counts.
    const bool counts =
        !f.answered || f.requestKey == 0 ||
        std::find(m_streakKeys.begin(), m_streakKeys.end(), f.requestKey) == m_streakKeys.end();
    if (counts) {
        ++m_streakCount;
        if (f.answered && f.requestKey != 0) {
            m_streakKeys.push_back(f.requestKey);
        }
    }
    m_streakAnswered = m_streakAnswered || f.answered;
    // Only attempts sent while the endpoint was open count: those already on the wire when it was
    // ejected fail too, and say nothing new.
    const bool ejectedProbe =
        isProbe && (m_pauseKind == PauseKind::Unreachable || m_pauseKind == PauseKind::Failing);
    if (ejectedProbe || (m_state == State::Open && m_streakCount >= FailuresToEject)) {
        m_downMs = m_downMs <= 0 ? FirstDownMs : std::min(MaxDownMs, m_downMs * 2);
        if (!ejectedProbe) {
            m_ejectedAfter = m_streakCount; // what ejected it; a failed probe keeps it
        }
        m_pauseKind = m_streakAnswered ? PauseKind::Failing : PauseKind::Unreachable;
        pause(m_downMs);
    } else if (isProbe) {
        m_probeInFlight = false; // a 429 or quota probe that met an error: inconclusive, probe again
    }
}

EndpointState EndpointLimiter::publicState() const
{
    switch (m_state) {
    case State::Open:
        return EndpointState::Active;
    case State::Quota:
        return EndpointState::Quota;
    case State::Probing:
        return m_pauseKind == PauseKind::Quota ? EndpointState::Quota : EndpointState::Probing;
    case State::CoolingDown:
        break;
    }
    switch (m_pauseKind) {
    case PauseKind::Overloaded:
        return EndpointState::Overloaded;
    case PauseKind::Unreachable:
        return EndpointState::Unreachable;
    case PauseKind::Failing:
        return EndpointState::Failing;
    case PauseKind::Quota:
        return EndpointState::Quota;
    case PauseKind::RateLimited:
        break;
    }
    return EndpointState::CoolingDown;
}

double EndpointLimiter::effectiveRps()
{
    refresh();
    if (m_state == State::CoolingDown || m_state == State::Quota) {
        return 0;
    }
    const double rate = requestBase() * rampFactor();
    return std::isfinite(rate) ? rate : 0;
}

double EndpointLimiter::effectiveTps()
{
    refresh();
    if (m_state == State::CoolingDown || m_state == State::Quota) {
        return 0;
    }
    const double rate = tokenBase() * rampFactor();
    return std::isfinite(rate) ? rate : 0;
}

LimitReason EndpointLimiter::limitReason()
{
    refresh();
    if (isOutOfQuota()) {
        return LimitReason::Quota;
    }
    switch (m_state) {
    case State::Quota:
        return LimitReason::Quota;
    case State::CoolingDown:
        switch (m_pauseKind) {
        case PauseKind::Overloaded:
            return LimitReason::OverloadPause;
        case PauseKind::Unreachable:
        case PauseKind::Failing:
            return LimitReason::Ejected;
        case PauseKind::Quota:
            return LimitReason::Quota;
        case PauseKind::RateLimited:
            break;
        }
        return LimitReason::Backoff429;
    case State::Probing:
        return LimitReason::Probing;
    case State::Open:
        break;
    }
    if (m_serverRequestsKnown && m_serverRequests.msUntil(1) > 0) {
        return LimitReason::HeaderRemaining;
    }
    const double configured = m_rpm > 0 ? m_rpm / 60.0 : Unlimited;
    const double base = requestBase();
    if (!std::isfinite(base) && !std::isfinite(tokenBase())) {
        return LimitReason::Unlimited;
    }
    if (rampFactor() < 1.0) {
        return LimitReason::RampUp;
    }
    if (std::isfinite(base)) {
        if (base == m_discoveredRps) {
            return LimitReason::Discovered;
        }
        if (base == m_headerRps && m_headerRps < configured) {
            return LimitReason::HeaderLimit;
        }
        return LimitReason::ConfiguredRpm;
    }
    return tokenBase() == m_headerTps ? LimitReason::HeaderTokens : LimitReason::ConfiguredTpm;
}

} // namespace Sluice
