#include "admission.h"

#include "net/transport.h"

#include <algorithm>
#include <limits>

namespace Sluice {

namespace {
constexpr double Never = std::numeric_limits<double>::infinity();
} // namespace

Admission::Admission(const ProjectConfig &project, const Clock *clock, const Transport *transport,
                     const QString &modelOverride)
    : m_clock(clock)
    , m_transport(transport)
    , m_limiter(clock)
    , m_costBook(project, modelOverride)
    , m_allowUnpriced(project.limits.allowUnpriced)
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
    std::vector<double> endpointBudgets;
    for (const EndpointConfig &e : project.endpoints) {
        endpointBudgets.push_back(e.maxCostUsd);
    }
    m_costBudget.configure(project.limits.maxCostUsd, std::move(endpointBudgets));
}

void Admission::setTeamBudget(TeamBudget *team)
{
    m_costBudget.setTeam(team);
}

Result<void> Admission::checkPrices(const ProjectConfig &project) const
{
    if (!m_costBudget.isLimited() || m_allowUnpriced) {
        return {};
    }
    const QStringList unpriced = m_costBook.unpricedEndpoints(project);
    if (unpriced.isEmpty()) {
        return {};
    }
    return Error{
        Error::Code::InvalidConfig,
        QStringLiteral("a run with a cost budget needs prices, and these endpoints have none for what "
                       "they send: %1. Give them a \"price\" block (or a model the price table "
                       "knows), or set limits.allow_unpriced to run them uncounted")
            .arg(unpriced.join(QStringLiteral(", "))),
        0};
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

QString Admission::refusal(Answer why, const Request &request)
{
    if (why == Answer::Unpriced) {
        const std::string_view model = request.model();
        return QStringLiteral("model \"%1\" has no price, and the run has a cost budget: give it a price (an "
                              "endpoint's \"price\" block) or set limits.allow_unpriced")
            .arg(QString::fromUtf8(model.data(), qsizetype(model.size())));
    }
    return QStringLiteral("the cost budget is spent; the request was not sent");
}

void Admission::start()
{
    if (m_shared) {
        m_shared->start();
    }
    if (m_costBudget.team()) {
        m_costBudget.team()->start();
    }
}

void Admission::stop()
{
    if (m_shared) {
        m_shared->stop();
    }
    if (m_costBudget.team()) {
        m_costBudget.team()->stop();
    }
}

CostFit Admission::costFit(int endpoint, const Ask &ask)
{
    if (!m_costBudget.isLimited()) {
        return CostFit::Yes;
    }
    if (!m_allowUnpriced && !m_costBook.isPriced(endpoint, ask.cost.model)) {
        return CostFit::Never;
    }
    return m_costBudget.fit(endpoint, m_costBook.worstUsd(endpoint, ask.cost));
}

Admission::Answer Admission::whyNot(const Ask &ask)
{
    if (!m_costBudget.isLimited()) {
        return Answer::Wait;
    }
    // For good only when every endpoint that could ever take it refuses it for good.
    bool anyUsable = false;
    bool anyPriced = false;
    for (int i = 0; i < m_balancer.count(); ++i) {
        if (m_balancer.weight(i) <= 0 || m_limiter.endpoint(i).isOutOfQuota()) {
            continue;
        }
        anyUsable = true;
        anyPriced = anyPriced || m_allowUnpriced || m_costBook.isPriced(i, ask.cost.model);
        if (costFit(i, ask) != CostFit::Never) {
            return Answer::Wait;
        }
    }
    if (!anyUsable) {
        return Answer::Wait;
    }
    return anyPriced ? Answer::BudgetSpent : Answer::Unpriced;
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
        if (costFit(i, ask) != CostFit::Yes || m_limiter.check(i, ask.tokens) != RateLimiter::Block::None ||
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
    return {whyNot(ask), -1};
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
    grant.model = ask.cost.model;
    grant.worstUsd =
        m_costBook.isPriced(endpoint, ask.cost.model) ? m_costBook.worstUsd(endpoint, ask.cost) : -1;
    if (m_costBudget.isLimited()) {
        grant.reservedUsd = std::max(0.0, grant.worstUsd);
        m_costBudget.reserve(endpoint, grant.reservedUsd);
    }
    return grant;
}

double Admission::settle(int endpoint, const Grant &grant, EndpointLimiter::Feedback feedback,
                         const Usage &charged, bool chargedUnknown)
{
    // A 2xx that was cut short reported no usage, yet the provider billed it: count its worst case.
    const double cost = chargedUnknown && charged.isEmpty()
                            ? grant.worstUsd
                            : m_costBook.costUsd(endpoint, grant.model, charged);
    if (m_costBudget.isLimited()) {
        m_costBudget.settle(endpoint, grant.reservedUsd, std::max(0.0, cost));
    }
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
    return cost;
}

double Admission::settleReply(int endpoint, const Grant &grant, const Outcome &outcome,
                              const AttemptResult &result, quint64 requestKey)
{
    // A failed stream's reported tokens are spent all the same.
    const Usage used = outcome.isSuccess() || result.stream.streamed ? result.usage : Usage{};
    EndpointLimiter::Feedback feedback;
    feedback.cls = outcome.cls;
    feedback.info = result.rateLimit;
    feedback.answered = result.report.httpStatus > 0;
    feedback.requestKey = requestKey;
    feedback.usedTokens =
        used.inputTokens + used.outputTokens > 0 ? double(used.inputTokens + used.outputTokens) : -1;
    const bool cutShort = result.report.httpStatus / 100 == 2 && !outcome.isSuccess();
    return settle(endpoint, grant, feedback, result.usage, cutShort);
}

double Admission::nextChanceMs(const Ask &ask, double nowMs)
{
    double wakeAt = Never;
    bool anyReadyNow = false;
    for (int i = 0; i < m_balancer.count(); ++i) {
        if (m_balancer.weight(i) <= 0 || !m_transport->hasCapacity(i) || costFit(i, ask) != CostFit::Yes) {
            continue; // a reply (or the team budget's answer), not a timer, will wake us for these
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
    if (m_costBudget.isLimited()) {
        e.costReservedUsd = m_costBudget.reservedUsd(endpoint);
        e.costBudgetUsd = m_costBudget.endpointBudgetUsd(endpoint);
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

void Admission::addEarlierSpend(double runUsd, const std::vector<double> &endpointUsd)
{
    m_costBudget.addEarlierSpend(runUsd, endpointUsd);
}

void Admission::fillCostStats(CostStats &stats) const
{
    stats.earlierUsd = m_costBudget.earlierUsd();
    stats.budgetUsd = m_costBudget.runBudgetUsd();
    stats.limited = m_costBudget.isLimited();
    stats.reservedUsd = m_costBudget.reservedUsd();
    if (TeamBudget *team = m_costBudget.team()) {
        stats.team = true;
        stats.teamCommittedUsd = team->teamCommittedUsd();
        stats.teamState = team->state();
    }
}

} // namespace Sluice
