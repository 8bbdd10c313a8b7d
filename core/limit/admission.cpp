#include "admission.h"

#include "net/transport.h"

#include <algorithm>
#include <limits>

namespace Sluice {

namespace {
constexpr double Never = std::numeric_limits<double>::infinity();
} // namespace

Admission::Admission(const ProjectConfig &project, const Clock *clock, const Transport *transport)
    : m_clock(clock)
    , m_transport(transport)
    , m_limiter(clock)
{
    const int n = int(project.endpoints.size());
    m_balancer.setCount(n);
    m_limiter.setEndpointCount(n);
    m_limiter.setGlobalRate(project.limits.rps);
    m_limiter.setGlobalTpm(project.limits.tpm);
    m_endpoints.resize(std::size_t(n));
    m_told.assign(std::size_t(n), EndpointState::Active);
    m_retryBudgets.reserve(std::size_t(n));
    for (int i = 0; i < n; ++i) {
        const EndpointConfig &e = project.endpoints.at(i);
        m_balancer.setWeight(i, e.weight);
        m_endpoints[std::size_t(i)] = {e.rpm, e.tpm};
        m_retryBudgets.emplace_back(clock);
        configureEndpoint(i);
    }
}

void Admission::setSharedBudget(SharedBudget *shared)
{
    m_shared = shared;
    for (int i = 0; i < int(m_endpoints.size()); ++i) {
        configureEndpoint(i);
    }
}

void Admission::setQuotaProbe(bool on)
{
    for (int i = 0; i < m_limiter.endpointCount(); ++i) {
        m_limiter.endpoint(i).setQuotaProbe(on);
    }
}

void Admission::start()
{
    if (m_shared) {
        m_shared->start();
    }
}

void Admission::stop()
{
    if (m_shared) {
        m_shared->stop();
    }
}

void Admission::configureEndpoint(int endpoint)
{
    const Endpoint &e = m_endpoints[std::size_t(endpoint)];
    if (m_shared) {
        // The shared budgets pace these sends (evenly spaced slots across all processes); a local
        // copy of the same rate would only drop slots to its own jitter. The local limiter keeps
        // what is per process: headers, cooldowns, probes, quota, ejection.
        m_shared->configure(endpoint, e.rpm, e.tpm);
        const bool shared = m_shared->isShared(endpoint);
        m_limiter.configureEndpoint(endpoint, shared ? 0 : e.rpm, shared ? 0 : e.tpm);
        // A 429 pauses every process (shared cooldown) instead of cutting this one's rate: a
        // per-process cut would strand the slots this process leased.
        m_limiter.endpoint(endpoint).setDiscovery(!shared);
        return;
    }
    m_limiter.configureEndpoint(endpoint, e.rpm, e.tpm);
}

Admission::Pick Admission::pick(const Ask &ask)
{
    if (!m_limiter.globalHasRoom(ask.tokens)) {
        return {Answer::Wait, -1};
    }
    const int endpoint = m_balancer.pick([&](int i) {
        if (m_limiter.check(i, ask.tokens) != RateLimiter::Block::None ||
            (m_shared && !m_shared->mayAcquire(i, ask.tokens)) ||
            (ask.budgetedRetry && !m_retryBudgets[std::size_t(i)].canRetry())) {
            return Availability::Unavailable;
        }
        return m_transport->hasCapacity(i) ? Availability::Ready : Availability::Busy;
    });
    if (endpoint >= 0) {
        return {Answer::Go, endpoint};
    }
    // Every endpoint has spent its retry budget (retries are capped at a share of each endpoint's
    // traffic, so failing endpoints are not hammered): retries wait for credit, fresh requests go.
    if (ask.budgetedRetry && !anyRetryCredit()) {
        return {Answer::RetriesHeld, -1};
    }
    return {Answer::Wait, -1};
}

Admission::Grant Admission::acquire(int endpoint, const Ask &ask)
{
    Grant grant;
    grant.ticket = m_limiter.acquire(endpoint, ask.tokens);
    if (m_shared) {
        m_shared->onSend(endpoint, grant.ticket.tokens);
    }
    RetryBudget &budget = m_retryBudgets[std::size_t(endpoint)];
    if (ask.budgetedRetry) {
        budget.onRetry();
        grant.retry = true;
    }
    return grant;
}

void Admission::settle(int endpoint, const Grant &grant, EndpointLimiter::Feedback feedback)
{
    feedback.ticket = grant.ticket;
    m_limiter.onReply(endpoint, feedback);
    if (grant.retry) {
        m_retryBudgets[std::size_t(endpoint)].onRetryDone();
    } else if (feedback.cls != ErrorClass::Cancelled) {
        m_retryBudgets[std::size_t(endpoint)].onFirstAttempt();
    }
    if (m_shared) {
        m_shared->onSettle(endpoint, feedback.ticket.tokens, feedback.chargedTokens());
        if (feedback.cls == ErrorClass::RateLimited) {
            m_shared->onRateLimited(endpoint, feedback.info.retryAfterMs >= 0
                                                  ? feedback.info.retryAfterMs
                                                  : EndpointLimiter::FirstPauseMs);
        }
    }
}

double Admission::nextChanceMs(const Ask &ask, double nowMs)
{
    double wakeAt = Never;
    bool anyReadyNow = false;
    for (int i = 0; i < m_balancer.count(); ++i) {
        if (m_balancer.weight(i) <= 0 || !m_transport->hasCapacity(i)) {
            continue; // a reply (not a timer) will wake us for these
        }
        double at = m_limiter.endpointReadyAtMs(i, ask.tokens);
        if (m_shared) {
            at = std::max(at, m_shared->readyAtMs(i, ask.tokens));
        }
        if (ask.budgetedRetry) {
            at = std::max(at, nowMs + m_retryBudgets[std::size_t(i)].msUntilRetry());
        }
        anyReadyNow = anyReadyNow || at <= nowMs;
        wakeAt = std::min(wakeAt, at);
    }
    if (anyReadyNow) {
        // An endpoint could take it now: what holds it back is the global budget, or the balancer
        // keeping the turn of an endpoint whose connections are all taken (its reply wakes the
        // scheduler; look again soon anyway rather than spin).
        const double global = m_limiter.globalReadyAtMs(ask.tokens);
        wakeAt = global > nowMs ? global : nowMs + 1;
    }
    return wakeAt;
}

void Admission::setWeight(int endpoint, double weight)
{
    m_balancer.setWeight(endpoint, weight);
}

void Admission::setRates(int endpoint, double rpm, double tpm)
{
    m_endpoints[std::size_t(endpoint)] = {std::max(0.0, rpm), std::max(0.0, tpm)};
    configureEndpoint(endpoint);
}

void Admission::setGlobalRps(double rps)
{
    m_limiter.setGlobalRate(std::max(0.0, rps));
}

void Admission::setGlobalTpm(double tpm)
{
    m_limiter.setGlobalTpm(std::max(0.0, tpm));
}

bool Admission::anyRetryCredit() const
{
    for (int i = 0; i < m_balancer.count(); ++i) {
        if (m_balancer.weight(i) > 0 && !m_limiter.endpoint(i).isOutOfQuota() &&
            m_retryBudgets[std::size_t(i)].canRetry()) {
            return true;
        }
    }
    return false;
}

bool Admission::anyUsable() const
{
    for (int i = 0; i < m_balancer.count(); ++i) {
        if (m_balancer.weight(i) > 0 && !m_limiter.endpoint(i).isOutOfQuota()) {
            return true;
        }
    }
    return false;
}

bool Admission::quotaEndedTheRun() const
{
    // Only quota ends a run: endpoints the operator disabled (weight 0) can be enabled again, so with
    // all of them off the run just waits.
    bool anyQuota = false;
    for (int i = 0; i < m_balancer.count(); ++i) {
        anyQuota = anyQuota || m_limiter.endpoint(i).isOutOfQuota();
    }
    return anyQuota && !anyUsable();
}

bool Admission::allEjected() const
{
    bool any = false;
    for (int i = 0; i < m_balancer.count(); ++i) {
        const EndpointLimiter &limiter = m_limiter.endpoint(i);
        if (m_balancer.weight(i) <= 0 || limiter.isOutOfQuota()) {
            continue;
        }
        if (!limiter.isEjected()) {
            return false;
        }
        any = true;
    }
    return any;
}

namespace {
bool isOut(EndpointState state)
{
    return state == EndpointState::Unreachable || state == EndpointState::Failing ||
           state == EndpointState::Quota;
}
} // namespace

std::vector<Admission::StateChange> Admission::stateChanges(int only)
{
    std::vector<StateChange> changes;
    const int first = only >= 0 ? only : 0;
    const int last = only >= 0 ? only : int(m_told.size()) - 1;
    for (int i = first; i <= last; ++i) {
        const EndpointState state = endpointState(i);
        EndpointState &told = m_told[std::size_t(i)];
        if (state == told || (!isOut(state) && (state != EndpointState::Active || !isOut(told)))) {
            continue;
        }
        changes.push_back({i, told, state, ejectedAfter(i)});
        told = state;
    }
    return changes;
}

QString Admission::StateChange::describe(const QString &name, const QString &lastError,
                                         bool quotaProbed) const
{
    if (to == EndpointState::Quota) {
        return QStringLiteral("endpoint \"%1\" is out of quota (%2); %3")
            .arg(name, lastError,
                 quotaProbed ? QStringLiteral("it is probed again now and then")
                             : QStringLiteral("no more requests go to it"));
    }
    if (isOut(to)) {
        EndpointStats stats;
        stats.state = to;
        stats.ejectedAfter = ejectedAfter;
        return QStringLiteral(
                   "endpoint \"%1\" is %2 (last error: %3); nothing is sent to it until a probe succeeds")
            .arg(name, stats.stateText(), lastError);
    }
    return QStringLiteral("endpoint \"%1\" is back").arg(name);
}

EndpointState Admission::endpointState(int endpoint) const
{
    return m_balancer.weight(endpoint) > 0 ? m_limiter.endpoint(endpoint).publicState()
                                           : EndpointState::Disabled;
}

void Admission::fillStats(int endpoint, EndpointStats &e)
{
    EndpointLimiter &limiter = m_limiter.endpoint(endpoint);
    const bool enabled = m_balancer.weight(endpoint) > 0;
    e.state = enabled ? limiter.publicState() : EndpointState::Disabled;
    e.ejectedAfter = limiter.ejectedAfter();
    e.limitRps = limiter.effectiveRps();
    e.limitTps = limiter.effectiveTps();
    e.limitReason = enabled ? limiter.limitReason() : LimitReason::Disabled;
    const bool paused = limiter.state() == EndpointLimiter::State::CoolingDown;
    const double global = m_limiter.globalRate();
    if (global > 0 && (e.limitRps <= 0 || global < e.limitRps) && !paused) {
        e.limitRps = global;
        e.limitReason = LimitReason::GlobalRps;
    }
    if (!m_shared || !m_shared->isShared(endpoint) || !enabled || paused) {
        return;
    }
    if (m_shared->cooldownMs(endpoint) > 0) {
        e.state = EndpointState::SharedCooldown;
        e.limitRps = 0;
        e.limitReason = LimitReason::SharedCooldown;
    } else if (limiter.state() == EndpointLimiter::State::Open) {
        const double rps = m_endpoints[std::size_t(endpoint)].rpm / 60.0;
        if (rps > 0 && (e.limitRps <= 0 || rps < e.limitRps)) {
            e.limitRps = rps;
            e.limitReason = LimitReason::SharedRpm;
        }
        const double tps = m_endpoints[std::size_t(endpoint)].tpm / 60.0;
        if (tps > 0 && (e.limitTps <= 0 || tps < e.limitTps)) {
            e.limitTps = tps;
        }
    }
}

SharedLimitsStats Admission::sharedStats() const
{
    return m_shared ? m_shared->stats() : SharedLimitsStats{};
}

} // namespace Sluice
