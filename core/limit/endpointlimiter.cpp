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
            return Unlimited;
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
        m_discoveredRps = CutFactor * rate;
    }
    m_lastCutMs = now;
}

void EndpointLimiter::onReply(const Feedback &f)
{
    const double now = m_clock->nowMs();
    const quint64 sentSince = m_sendSeq - f.ticket.seq;

    // What the server says about its own budget.
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

    // Settle the token reservation against what was really used (nothing, for a failure).
    m_tokens.settle(f.ticket.tokens, f.chargedTokens());

    const bool isProbe = m_state == State::Probing && m_probeInFlight && f.ticket.seq == m_probeSeq;
    if (f.cls != ErrorClass::Transport && f.cls != ErrorClass::Timeout && f.cls != ErrorClass::Server) {
        m_consecutiveFailures = 0; // the server answered: it is up
    }
    switch (f.cls) {
    case ErrorClass::None:
        if (isProbe) {
            m_downMs = 0;
            m_state = State::Open;
            if (now - m_pauseStartMs >= LongPauseMs) {
                m_rampStartMs = now; // back after a long pause: re-open gradually
            }
            m_pauseMs = 0;
            m_probeInFlight = false;
        }
        break;
    case ErrorClass::RateLimited: {
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
        break;
    }
    case ErrorClass::Overloaded:
        if (m_state != State::CoolingDown) {
            m_pauseKind = PauseKind::Overloaded;
        }
        pause(std::max(OverloadPauseMs, f.info.retryAfterMs));
        break;
    case ErrorClass::Quota:
        m_state = State::Quota;
        m_probeInFlight = false;
        break;
    case ErrorClass::Transport:
    case ErrorClass::Timeout:
    case ErrorClass::Server:
        // Only attempts sent while the endpoint was open count: those already on the wire when it was
        // ejected fail too, and say nothing new.
        ++m_consecutiveFailures;
        if ((isProbe && m_pauseKind == PauseKind::Unreachable) ||
            (m_state == State::Open && m_consecutiveFailures >= FailuresToEject)) {
            m_downMs = m_downMs <= 0 ? FirstDownMs : std::min(MaxDownMs, m_downMs * 2);
            m_pauseKind = PauseKind::Unreachable;
            pause(m_downMs);
        } else if (isProbe) {
            m_probeInFlight = false; // a 429 probe that met an error: inconclusive, probe again
        }
        break;
    default:
        if (isProbe) {
            m_probeInFlight = false; // inconclusive: probe again
        }
        break;
    }
}

QString EndpointLimiter::stateName() const
{
    switch (m_state) {
    case State::Open:
        return QStringLiteral("active");
    case State::CoolingDown:
        switch (m_pauseKind) {
        case PauseKind::Overloaded:
            return QStringLiteral("overloaded");
        case PauseKind::Unreachable:
            return QStringLiteral("unreachable");
        case PauseKind::RateLimited:
            break;
        }
        return QStringLiteral("cooling down");
    case State::Probing:
        return QStringLiteral("probing");
    case State::Quota:
        return QStringLiteral("quota exhausted");
    }
    return QString();
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

QString EndpointLimiter::reason()
{
    refresh();
    switch (m_state) {
    case State::Quota:
        return QStringLiteral("quota exhausted");
    case State::CoolingDown:
        switch (m_pauseKind) {
        case PauseKind::Overloaded:
            return QStringLiteral("overloaded cooldown");
        case PauseKind::Unreachable:
            return QStringLiteral("unreachable: %1 failures in a row").arg(m_consecutiveFailures);
        case PauseKind::RateLimited:
            break;
        }
        return QStringLiteral("429 backoff");
    case State::Probing:
        return QStringLiteral("probing");
    case State::Open:
        break;
    }
    if (m_serverRequestsKnown && m_serverRequests.msUntil(1) > 0) {
        return QStringLiteral("header remaining");
    }
    const double configured = m_rpm > 0 ? m_rpm / 60.0 : Unlimited;
    const double base = requestBase();
    if (!std::isfinite(base) && !std::isfinite(tokenBase())) {
        return QStringLiteral("unlimited");
    }
    if (rampFactor() < 1.0) {
        return QStringLiteral("ramp-up");
    }
    if (std::isfinite(base)) {
        if (base == m_discoveredRps) {
            return QStringLiteral("429 discovery");
        }
        if (base == m_headerRps && m_headerRps < configured) {
            return QStringLiteral("header limit");
        }
        return QStringLiteral("configured rpm");
    }
    return tokenBase() == m_headerTps ? QStringLiteral("header tokens") : QStringLiteral("configured tpm");
}

} // namespace Sluice
